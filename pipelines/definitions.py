"""The Dagster code location of the data hub: one asset graph from landing to published."""

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

from pipelines import settings
from pipelines.defs.ingestion.assets import ingest_assets, ingest_jobs, reject_unroutable_objects
from pipelines.defs.ingestion.sensors import (
    TRANSFORM_JOB,
    calendar_sensor,
    landing_sensor,
    receipt_reconciler,
    transform_sensor,
)
from pipelines.defs.operations.duty import (
    daily_settlement,
    deadline_sensor,
    run_canceled_alert,
    run_failure_alert,
    settle_previous_business_day,
    submission_freshness_checks,
)
from pipelines.defs.operations.reprocess import reprocess_archive
from pipelines.defs.publish.assets import published_warehouse
from pipelines.defs.transform.dbt_assets import dbt_models, dbt_resource

settings.export_defaults()

transform_and_publish = define_asset_job(
    TRANSFORM_JOB,
    selection=AssetSelection.assets(dbt_models, published_warehouse),
    executor_def=in_process_executor,
    tags={"shuzhong/kind": "transform"},
)

defs = Definitions(
    assets=[*ingest_assets(), dbt_models, published_warehouse],
    asset_checks=[submission_freshness_checks],
    jobs=[
        *ingest_jobs(),
        transform_and_publish,
        reject_unroutable_objects,
        settle_previous_business_day,
        reprocess_archive,
    ],
    sensors=[
        landing_sensor,
        receipt_reconciler,
        transform_sensor,
        calendar_sensor,
        deadline_sensor,
        run_failure_alert,
        run_canceled_alert,
    ],
    schedules=[daily_settlement],
    resources={"dbt": dbt_resource()},
)
