"""dbt models in the same asset graph as ingestion (dagster-dbt)."""

import importlib.metadata
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from packaging import version

from pipelines import lake, settings
from pipelines.defs.transform import VISIBLE_THROUGH_TAG

DBT_PROJECT = DbtProject(
    project_dir=settings.DBT_PROJECT_DIR, profiles_dir=settings.DBT_PROJECT_DIR, target_path=settings.DBT_TARGET_DIR
)


dbt_executable = settings.dbt_executable


def ensure_manifest() -> Path:
    """Parse the dbt project when its manifest is missing or older than a project file."""
    settings.export_defaults()
    manifest = DBT_PROJECT.manifest_path
    sources = [
        p
        for p in settings.DBT_PROJECT_DIR.rglob("*")
        if p.suffix in {".sql", ".yml", ".csv"} and "target" not in p.parts and "logs" not in p.parts
    ]
    newest = max((p.stat().st_mtime for p in sources), default=0)
    if not manifest.exists() or manifest.stat().st_mtime < newest:
        subprocess.run(
            [
                dbt_executable(),
                "parse",
                "--quiet",
                "--project-dir",
                str(settings.DBT_PROJECT_DIR),
                "--profiles-dir",
                str(settings.DBT_PROJECT_DIR),
            ],
            check=True,
            env=os.environ.copy(),
        )
    return manifest


class HubTranslator(DagsterDbtTranslator):
    """Raw sources are the ingestion assets; models are grouped by dbt layer."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            bureau, _, dataset = dbt_resource_props["name"].partition("__")
            return AssetKey(["raw", bureau, dataset])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props["resource_type"] == "seed":
            return "reference"
        return fqn[1] if len(fqn) > 2 else "dbt"


@dbt_assets(manifest=ensure_manifest(), dagster_dbt_translator=HubTranslator())
def dbt_models(context: AssetExecutionContext, dbt: DbtCliResource):
    """staging → intermediate → governed marts → KPI marts, built with ``dbt build``: the selected
    models (the transform sensor selects those downstream of new data) and their data tests.
    dbt unit tests check model logic on fixed inputs: they run in the test suite, not on every load."""
    for uri in lake.ensure_raw_tables():
        context.log.info(f"created empty raw table {uri} (no submission yet)")
    args = ["build", "--exclude-resource-type", "unit_test"]
    if context.run.tags.get("shuzhong/transform") == "full":
        # A changed dbt project (a new column, a changed model) rebuilds incremental facts from
        # scratch: their old rows would otherwise keep the old shape or logic (or fail the run).
        args.append("--full-refresh")
    # The incremental facts record the sensor's instant as their build mark (macro
    # record_build_mark); an environment variable, not a dbt var: a changed var voids dbt's
    # partial parsing. dbt's process gets the environment when it starts, in cli().
    with _environment(VISIBLE_THROUGH_ENV, context.run.tags.get(VISIBLE_THROUGH_TAG)):
        invocation = dbt.cli(args, context=context)
    yield from invocation.stream()
    keep_parse_state(Path(invocation.target_path))


VISIBLE_THROUGH_ENV = "SHUZHONG_VISIBLE_THROUGH"


@contextmanager
def _environment(name: str, value: str | None) -> Iterator[None]:
    """``os.environ[name] = value`` for the block (unset when ``value`` is None), then as before."""
    before = os.environ.get(name)
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


KEEP_TARGETS = 20


def keep_parse_state(run_target: Path) -> None:
    """Carry this run's parse state to the next run and prune old run folders.

    dagster-dbt gives each run its own target folder and seeds it with the project's
    ``target/partial_parse.msgpack``; keeping the newest one there lets the next run parse
    only what changed (seconds saved per transform). Run folders beyond the newest
    ``KEEP_TARGETS`` are removed so the disk use stays bounded."""
    state = run_target / "partial_parse.msgpack"
    project_target = settings.DBT_TARGET_DIR
    if state.exists():
        tmp = project_target / f".partial_parse.{os.getpid()}.tmp"
        shutil.copyfile(state, tmp)
        os.replace(tmp, project_target / "partial_parse.msgpack")
    runs = sorted((p for p in project_target.glob("dbt_models-*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for old in runs[:-KEEP_TARGETS]:
        shutil.rmtree(old, ignore_errors=True)


class HubDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without its per-invocation start-up work this project never uses.

    Before each ``dbt build`` dagster-dbt runs ``dbt --version`` in a subprocess and builds a dbt
    adapter in the run worker (profile, project, macros): about 9 s per transform, and the
    adapter only serves ``fetch_column_metadata``/``fetch_row_counts``, which the hub does not call.
    The version comes from the installed dbt-core instead (``dbt_executable`` is this
    environment's ``dbt``), and no adapter is built."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):  # noqa: ANN001, ANN202 — dagster-dbt's private hook
        return None


def dbt_resource() -> DbtCliResource:
    return HubDbtCliResource(
        project_dir=DBT_PROJECT, profiles_dir=str(settings.DBT_PROJECT_DIR), dbt_executable=dbt_executable()
    )
