"""Configuration from the environment, with a local fallback file for the embedded default.

Every setting is an environment variable (``SHUZHONG_*``). ``shuzhong init`` writes
generated credentials for the embedded SeaweedFS into ``<state>/shuzhong.env`` (an
ignored file); values already in the environment always win, so pointing the hub at
another S3 endpoint (AWS, MinIO, a cloud vendor's) is only a matter of exporting
variables.

The project files (``data_contracts/``, ``dbt_project/``, ``expectations/``) are found in
``$SHUZHONG_PROJECT_DIR``, else in the checkout the package runs from, else in the copy an
installed wheel carries (``pipelines/_data/``, written by ``setup.py``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent  # the checkout's root when the package runs from one
PACKAGED_DIR = PACKAGE_DIR / "_data"  # the project files a built wheel carries (setup.py)
PROJECT_DIR_VAR = "SHUZHONG_PROJECT_DIR"
PROJECT_FOLDERS = ("data_contracts", "dbt_project", "expectations")


def in_checkout() -> bool:
    """True when the package runs from a source checkout (its project folders beside it)."""
    return (REPO_ROOT / "pyproject.toml").is_file() and all((REPO_ROOT / d).is_dir() for d in PROJECT_FOLDERS)


def find_project_dir() -> Path:
    """The folder holding ``data_contracts/``, ``dbt_project/`` and ``expectations/``:
    ``$SHUZHONG_PROJECT_DIR``, else the checkout, else the copy inside the installed wheel."""
    explicit = os.environ.get(PROJECT_DIR_VAR)
    if explicit:
        root = Path(explicit).expanduser().resolve()
        missing = [d for d in PROJECT_FOLDERS if not (root / d).is_dir()]
        if missing:
            raise RuntimeError(f"{PROJECT_DIR_VAR}={root} has no {', '.join(f'{d}/' for d in missing)}")
        return root
    if in_checkout():
        return REPO_ROOT
    if all((PACKAGED_DIR / d).is_dir() for d in PROJECT_FOLDERS):
        return PACKAGED_DIR
    raise RuntimeError(
        f"no project files: set {PROJECT_DIR_VAR} to a folder with {', '.join(f'{d}/' for d in PROJECT_FOLDERS)} "
        "(the package was neither run from its checkout nor installed from a wheel that carries them)"
    )


# Resolved once at import: the modules below read these paths as constants.
PROJECT_DIR = find_project_dir()
CONTRACTS_DIR = PROJECT_DIR / "data_contracts"
EXPECTATIONS_DIR = PROJECT_DIR / "expectations"
DBT_PROJECT_DIR = PROJECT_DIR / "dbt_project"
# Without SHUZHONG_HOME: the checkout's .state, else .state in the directory the process started in.
DEFAULT_STATE_DIR = (REPO_ROOT if in_checkout() else Path.cwd()) / ".state"


def bundled(relative: str) -> Path:
    """A file the project ships (``dagster.yaml``, the vendored ODCS schema): from the project
    folder when it has one, else from the checkout or the installed package."""
    for root in (PROJECT_DIR, REPO_ROOT, PACKAGED_DIR):
        if (root / relative).exists():
            return root / relative
    return PROJECT_DIR / relative


def shown(path: Path) -> str:
    """``path`` as shown to a person: relative to the project folder when inside it."""
    try:
        return path.resolve().relative_to(PROJECT_DIR).as_posix()
    except ValueError:
        return str(path)


# Telemetry of every component stays off (no network beyond the package registries).
for _var, _val in {
    "DAGSTER_DISABLE_TELEMETRY": "true",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    "GX_ANALYTICS_ENABLED": "False",
}.items():
    os.environ.setdefault(_var, _val)


def state_dir() -> Path:
    """Directory for local state: S3 data, credentials, DuckDB files (ignored by git)."""
    return Path(os.environ.get("SHUZHONG_HOME", DEFAULT_STATE_DIR)).resolve()


# dbt writes target/ and logs/ into its project folder; inside the installed package they go
# under the state folder instead (dbt and dagster-dbt read these variables).
if PROJECT_DIR == PACKAGED_DIR:
    os.environ.setdefault("DBT_TARGET_PATH", str(state_dir() / "dbt" / "target"))
    os.environ.setdefault("DBT_LOG_PATH", str(state_dir() / "dbt" / "logs"))
    DBT_TARGET_DIR = Path(os.environ["DBT_TARGET_PATH"])
else:
    DBT_TARGET_DIR = DBT_PROJECT_DIR / "target"


def dbt_executable() -> str:
    """The dbt of this environment (dagster-dbt needs it even when PATH lacks the venv)."""
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


def env_file() -> Path:
    return state_dir() / "shuzhong.env"


_LOADED: dict[Path, tuple[int, int]] = {}  # env file → (mtime_ns, size) when it was last read


def load_env_file(path: Path | None = None) -> None:
    """Put ``KEY=VALUE`` lines of the local env file into ``os.environ`` unless already set.

    Read once per process and again only when the file's modification time or size changes
    (``get`` calls this on every setting: the sensor reads settings per object)."""
    path = path or env_file()
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    stamp = (st.st_mtime_ns, st.st_size)
    if _LOADED.get(path) == stamp:
        return
    _LOADED[path] = stamp
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        os.environ.setdefault(key.strip(), value.strip())


def get(name: str, default: str | None = None) -> str:
    load_env_file()
    value = os.environ.get(name, default)
    if value is None:
        raise RuntimeError(f"{name} is not set. Export it, or run `shuzhong init` for the embedded S3 server.")
    return value


@cache
def bureaus() -> dict[str, str]:
    """Bureau code → Chinese name, from ``data_contracts/bureaus.yaml``."""
    return yaml.safe_load((CONTRACTS_DIR / "bureaus.yaml").read_text())["bureaus"]


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str


def credentials(identity: str) -> Credentials:
    """Keys of an S3 identity: ``pipeline``, ``analyst`` or a bureau code."""
    prefix = "SHUZHONG_" + (f"BUREAU_{identity.upper()}" if identity in bureaus() else identity.upper())
    return Credentials(get(f"{prefix}_ACCESS_KEY"), get(f"{prefix}_SECRET_KEY"))


@dataclass(frozen=True)
class Buckets:
    landing: str
    receipts: str
    lake: str
    published: str


def buckets() -> Buckets:
    return Buckets(
        landing=get("SHUZHONG_LANDING_BUCKET", "landing"),
        receipts=get("SHUZHONG_RECEIPTS_BUCKET", "receipts"),
        lake=get("SHUZHONG_LAKE_BUCKET", "lake"),
        published=get("SHUZHONG_PUBLISHED_BUCKET", "published"),
    )


def s3_endpoint() -> str:
    return get("SHUZHONG_S3_ENDPOINT")


def s3_region() -> str:
    return get("SHUZHONG_S3_REGION", "us-east-1")


def work_db_path() -> Path:
    """The pipeline's working DuckDB file (dbt writes here; analysts never open it)."""
    return Path(get("SHUZHONG_WORK_DB", str(state_dir() / "warehouse" / "work.duckdb")))


def published_db_path() -> Path:
    """The analysts' read-only DuckDB file, replaced atomically on each publish."""
    return Path(get("SHUZHONG_PUBLISHED_DB", str(state_dir() / "published" / "warehouse.duckdb")))


def lake_uri() -> str:
    """Root of the lake zones (raw, quarantine, archive, ledger): ``s3://<lake bucket>``."""
    return get("SHUZHONG_LAKE_URI", f"s3://{buckets().lake}")


def published_uri() -> str:
    return get("SHUZHONG_PUBLISHED_URI", f"s3://{buckets().published}")


def duckdb_memory_limit() -> str:
    """Memory DuckDB may use in dbt and publish before it spills to disk (its default is 80 % of RAM)."""
    return get("SHUZHONG_DUCKDB_MEMORY_LIMIT", "1GB")


def export_defaults() -> None:
    """Export the settings child processes (dbt, the Dagster run workers) need."""
    load_env_file()
    os.environ.setdefault("SHUZHONG_HOME", str(state_dir()))
    os.environ.setdefault("SHUZHONG_WORK_DB", str(work_db_path()))
    os.environ.setdefault("SHUZHONG_PUBLISHED_DB", str(published_db_path()))
    os.environ.setdefault("SHUZHONG_LAKE_URI", lake_uri())
    os.environ.setdefault("SHUZHONG_DUCKDB_MEMORY_LIMIT", duckdb_memory_limit())
    work_db_path().parent.mkdir(parents=True, exist_ok=True)


def delta_write_mode() -> str:
    """How concurrent Delta writers are made safe.

    ``conditional`` (default): the store honours conditional writes (``If-None-Match``,
    as SeaweedFS, MinIO and AWS S3 do), so delta-rs commits from many runs at once and a
    commit that loses the race is retried. ``locked``: for stores that don't, every
    commit to a table takes an exclusive per-table lock (one writer per table at a time;
    the lock files live under ``<state>/locks``, so all runs must share one host).
    """
    mode = get("SHUZHONG_DELTA_WRITE_MODE", "conditional")
    if mode not in ("conditional", "locked"):
        raise RuntimeError(f"SHUZHONG_DELTA_WRITE_MODE must be 'conditional' or 'locked', not {mode!r}")
    return mode


def sensor_loop_seconds() -> float:
    """How often the daemon starts a round of sensor evaluations (Dagster's own loop: 5 s)."""
    return float(get("SHUZHONG_SENSOR_LOOP_SECONDS", "1"))


def max_run_seconds() -> int:
    """Longest an ingest or transform run may take; Dagster's run monitoring fails it beyond."""
    return int(get("SHUZHONG_MAX_RUN_SECONDS", "1800"))


def run_executor() -> str:
    """Where an ingestion run's step executes: ``in_process`` (default: the run worker on the
    daemon's machine) or ``celery`` (a Celery worker on any machine; broker
    ``SHUZHONG_CELERY_BROKER``)."""
    kind = get("SHUZHONG_EXECUTOR", "in_process")
    if kind not in ("in_process", "celery"):
        raise ValueError(f"SHUZHONG_EXECUTOR must be in_process or celery, not {kind!r}")
    return kind


def celery_broker() -> str:
    """The Celery broker, also its result backend (``redis://host:6379/0``)."""
    url = get("SHUZHONG_CELERY_BROKER", "")
    if not url:
        raise RuntimeError("SHUZHONG_EXECUTOR=celery needs SHUZHONG_CELERY_BROKER (redis://host:port/db)")
    return url


def celery_visibility_seconds() -> int:
    """How long the broker waits for a task's acknowledgement before it hands the task to another
    worker: longer than the longest run, or a slow step is started twice."""
    return int(get("SHUZHONG_CELERY_VISIBILITY_SECONDS", str(max_run_seconds() + 60)))


def max_object_bytes(contract_mb: int | None = None) -> int:
    """Largest landing object read (the contract's ``maxObjectMB``, else ``SHUZHONG_MAX_OBJECT_MB``, 200)."""
    return int(contract_mb or get("SHUZHONG_MAX_OBJECT_MB", "200")) * 2**20
