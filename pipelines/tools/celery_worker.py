"""The Celery app a worker runs: ``celery -A pipelines.tools.celery_worker worker --pool solo -Q dagster``.

It takes the ingestion steps that the Celery executor sends (``SHUZHONG_EXECUTOR=celery``) and
runs them on this machine against the instance (``SHUZHONG_DAGSTER_PG_URL``) and the lake
(S3) named by its own environment: nothing is shared with the daemon's machine but those.
"""

from __future__ import annotations

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from pipelines import settings
from pipelines.defs.ingestion.executor import celery_config

settings.export_defaults()
app = make_app(
    app_args={"broker": settings.celery_broker(), "backend": settings.celery_broker(), "config_source": celery_config()}
)
execute_plan = create_task(app)

import pipelines.definitions  # noqa: E402,F401  the code location, imported once per worker rather than per step
