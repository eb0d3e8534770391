"""The transform: dbt models in the asset graph (dbt_assets)."""

# Run tag of a transform: an ISO instant at which no ingestion or reprocess run was active (the
# transform sensor sets it; the dbt asset hands it to dbt in SHUZHONG_VISIBLE_THROUGH).
VISIBLE_THROUGH_TAG = "shuzhong/visible_through"
