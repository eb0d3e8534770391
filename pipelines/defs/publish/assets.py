"""The published warehouse asset: the analysts' read-only files, after the marts it reads."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from pipelines import ledger, publish, settings
from pipelines.defs.transform.dbt_assets import DBT_PROJECT

MART_KEYS = [AssetKey([m["name"]]) for m in publish.mart_models(DBT_PROJECT.manifest_path)]


@asset(
    key=AssetKey(["published_warehouse"]),
    deps=MART_KEYS,
    group_name="published",
    kinds={"duckdb", "delta"},
    description="Read-only DuckDB file for analysts (atomic swap) and Delta copies in the published bucket.",
)
def published_warehouse(context: AssetExecutionContext) -> MaterializeResult:
    counts = publish.publish(DBT_PROJECT.manifest_path)
    for name, n in counts.items():
        context.log.info(f"published {name}: {n} rows" + (" (rewritten)" if name in counts.changed else " (unchanged)"))
    entry = ledger.record_publish(dict(counts), context.run_id)
    return MaterializeResult(
        metadata={
            "ledger_head": f"{entry['seq']}:{entry['hash']}",
            "path": MetadataValue.path(str(settings.published_db_path())),
            "tables": MetadataValue.json(dict(counts)),
            "tables_rewritten": MetadataValue.json(counts.changed),
            "query": MetadataValue.md(f'`shuzhong sql "SELECT * FROM {next(iter(counts), "kpi")} LIMIT 10"`'),
        }
    )
