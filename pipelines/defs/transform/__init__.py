"""The transform: dbt models in the asset graph (dbt_assets)."""

# Run tag of a transform: an ISO instant at which no ingestion or reprocess run was active (the
# transform sensor sets it; the dbt asset passes it as the var visible_through).
VISIBLE_THROUGH_TAG = "shuzhong/visible_through"
