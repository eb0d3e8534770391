"""Step logs (stdout/stderr) in S3, so that any worker machine writes them and the webserver reads them.

Used whenever the instance lives in PostgreSQL (``SHUZHONG_DAGSTER_PG_URL``): then runs and
steps may execute on other machines (Celery workers), and Dagster's default compute-log
manager would write under the path the daemon's ``DAGSTER_HOME`` names. This one uploads each
captured log to ``s3://<lake bucket>/_dagster/compute-logs/`` with the pipeline identity's
keys, staging it first under the writing process's own ``SHUZHONG_HOME``.
"""

from __future__ import annotations

from dagster import Field, StringSource
from dagster_aws.s3.compute_log_manager import S3ComputeLogManager

from pipelines import s3, settings

PREFIX = "_dagster/compute-logs"


class LakeComputeLogManager(S3ComputeLogManager):
    """:class:`S3ComputeLogManager` on the hub's S3 endpoint and lake bucket, as the pipeline."""

    def __init__(self, inst_data=None, prefix: str = PREFIX, local_dir: str | None = None):
        super().__init__(
            bucket=settings.buckets().lake,
            local_dir=local_dir or str(settings.state_dir() / "compute-logs"),
            inst_data=inst_data,
            prefix=prefix,
            endpoint_url=settings.s3_endpoint(),
            region=settings.s3_region(),
            skip_empty_files=True,
        )
        self._s3_session = s3.client("pipeline")  # the hub's keys, not boto3's default chain

    @classmethod
    def config_type(cls):
        return {
            "prefix": Field(StringSource, is_required=False, default_value=PREFIX),
            "local_dir": Field(StringSource, is_required=False),
        }

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)
