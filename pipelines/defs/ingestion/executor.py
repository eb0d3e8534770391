"""The executor of the ingestion jobs: in the run worker, or on Celery workers (``SHUZHONG_EXECUTOR``).

With Celery the run worker on the daemon's machine only coordinates; the step (download,
parse, GX, Delta, ledger, registry, receipt) runs on whichever worker takes it from the broker.
A worker that dies mid-step never acknowledges the task, so the broker hands it to another
worker once the visibility timeout has passed; the step's crash safety makes the rerun land
each file once.
"""

from __future__ import annotations

from dagster import ExecutorDefinition, in_process_executor

from pipelines import settings

BROKER_VAR = "SHUZHONG_CELERY_BROKER"


def celery_config() -> dict:
    """Celery settings shared by the executor (which sends tasks) and the workers (which run them)."""
    return {
        "task_acks_late": True,  # acknowledged when the step has finished, not when it starts
        "task_reject_on_worker_lost": True,  # a pool process killed mid-task: back to the queue
        "worker_prefetch_multiplier": 1,  # a worker holds no task it is not running
        # Broker connection lost: stop the running step (it is redelivered) rather than finish it twice.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "broker_connection_retry_on_startup": True,
        # Leave sys.stdout/stderr the process's own, so the step's compute-log capture (to S3) sees them.
        "worker_redirect_stdouts": False,
        "result_expires": 7 * 86400,
        "broker_transport_options": {
            "visibility_timeout": settings.celery_visibility_seconds(),
            "unacked_restore_interval": 5,  # look for tasks of dead workers every 5 s
            "unacked_restore_throttle": 1,
        },
    }


def ingest_executor() -> ExecutorDefinition:
    if settings.run_executor() != "celery":
        return in_process_executor
    from dagster_celery import celery_executor

    settings.celery_broker()  # a clear error now rather than a run that never starts
    return celery_executor.configured(
        {"broker": {"env": BROKER_VAR}, "backend": {"env": BROKER_VAR}, "config_source": celery_config()},
        name="celery",
    )
