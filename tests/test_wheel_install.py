"""The package built as a wheel runs outside the checkout, on the project files it carries.

The source tree (without tests, state or dbt output) is copied, built offline with
``pip wheel --no-deps --no-build-isolation`` and installed with ``pip install --target`` into a
folder that holds no checkout; every command runs with that folder as ``PYTHONPATH`` and its
working directory elsewhere. The commands need the packaged contracts, GX suites and dbt
project: ``generate --check``, loading (and so ODCS-validating) every contract, ``dbt parse``,
loading the Dagster code location, and one generated hotline export submitted as the bureau and
ingested on the session's S3.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from pipelines import lake, settings
from pipelines.contracts import all_contracts
from pipelines.tools import generator

# What the wheel is built from: the checkout less what is not part of the product.
NOT_SHIPPED_TOP = {".git", ".venv", ".state", "tests", "notebooks", "build", "dist"}
NOT_SHIPPED_DBT = {"target", "logs", "dbt_packages"}


def not_shipped(folder: str, names: list[str]) -> set[str]:
    here = Path(folder).resolve()
    skip = {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}
    if here == settings.REPO_ROOT:
        skip |= NOT_SHIPPED_TOP & set(names)
    if here == settings.DBT_PROJECT_DIR:
        skip |= NOT_SHIPPED_DBT & set(names)
    return skip


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed into a fresh folder (no checkout in it or above it)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(settings.REPO_ROOT, src, ignore=not_shipped, symlinks=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    build = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (wheel,) = (tmp / "dist").glob("zaozhuang_datahub-*.whl")
    target = tmp / "site"
    install = subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(target), str(wheel)], capture_output=True, text=True, timeout=300
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    assert not (target / "data_contracts").exists() and not (target / "pyproject.toml").exists()
    return target


GRAPH = """
import json
from pipelines.definitions import defs
repo = defs.get_repository_def()
print(json.dumps({
    "assets": sorted(k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()),
    "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
    "sensors": sorted(s.name for s in repo.sensor_defs),
}))
"""


def run(target: Path, cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``args`` with the installed package first on the path, in ``cwd``; fails on a non-zero exit."""
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", settings.PROJECT_DIR_VAR)}
    proc = subprocess.run(
        list(args),
        cwd=cwd,
        env={**base, **(env or {}), "PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"{args}: {proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def test_settings_find_the_packaged_project_files_and_a_state_folder_here(installed, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHUZHONG_")}
    code = (
        "import json, pipelines; from pipelines import settings; from pipelines.contracts import all_contracts; "
        "print(json.dumps({'package': pipelines.__file__, 'project': str(settings.PROJECT_DIR), "
        "'state': str(settings.state_dir()), 'contracts': sorted(all_contracts()), "
        "'dbt_target': str(settings.DBT_TARGET_DIR), 'dagster_yaml': str(settings.bundled('dagster.yaml'))}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(installed)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout)
    assert Path(seen["package"]).is_relative_to(installed)
    assert seen["project"] == str(installed / "pipelines" / "_data")
    assert seen["state"] == str(tmp_path.resolve() / ".state")  # no SHUZHONG_HOME: .state where it runs
    assert seen["dbt_target"] == str(tmp_path.resolve() / ".state" / "dbt" / "target")  # not in the package
    assert seen["dagster_yaml"] == str(installed / "pipelines" / "_data" / "dagster.yaml")
    assert seen["contracts"] == sorted(all_contracts())  # every contract, each checked against ODCS on load

    # An explicit project folder wins over the packaged copy; one without the folders is refused clearly.
    proc = subprocess.run(
        [sys.executable, "-c", "import pipelines.settings"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(installed), settings.PROJECT_DIR_VAR: str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and f"{settings.PROJECT_DIR_VAR}={tmp_path.resolve()} has no" in proc.stderr


def test_the_installed_cli_generates_parses_dbt_and_ingests(installed, lake_root, unique, tmp_path):
    shuzhong = str(installed / "bin" / "shuzhong")
    run(installed, tmp_path, shuzhong, "generate", "--check")  # packaged suites, sources, lock match the contracts
    run(installed, tmp_path, shuzhong, "dbt", "parse", "--quiet")
    manifest = json.loads((settings.state_dir() / "dbt" / "target" / "manifest.json").read_text())
    assert manifest["metadata"]["project_name"] == "zaozhuang_hub"
    assert {n["name"] for n in manifest["nodes"].values()} >= {"stg_hotline__tickets", "kpi_hotline_monthly"}
    assert not (installed / "pipelines" / "_data" / "dbt_project" / "target").exists()
    # The code location loads from the installed package: the committed snapshot's graph.
    graph = json.loads(run(installed, tmp_path, sys.executable, "-c", GRAPH).stdout.strip().splitlines()[-1])
    snapshot = json.loads((Path(__file__).parent / "snapshots" / "definitions.json").read_text())
    assert graph == {kind: snapshot[kind] for kind in graph}

    (f,) = generator.generate(
        "hotline.tickets", tmp_path / "out", start=date(2026, 3, 5), days=1, rows_per_day=40, seed=29, formats="csv_gbk"
    )
    name = f"{unique}-{f.path.name}"
    key = f"hotline/tickets/{f.business_date}/{name}"
    submit = [shuzhong, "submit", "--bureau", "hotline", "--dataset", "tickets", "--date", str(f.business_date)]
    run(installed, tmp_path, *submit, "--name", name, str(f.path))
    ingest = (
        "import sys, json; from pipelines import ingest, s3, settings; "
        "head = s3.client('pipeline').head_object(Bucket=settings.buckets().landing, Key=sys.argv[1]); "
        "obj = ingest.LandingObject(key=sys.argv[1], etag=head['ETag'].strip('\"'), size=head['ContentLength']); "
        "print(ingest.process(obj, run_id='wheel').status)"
    )
    assert run(installed, tmp_path, sys.executable, "-c", ingest, key).stdout.split()[-1] == "accepted"
    receipt = json.loads(run(installed, tmp_path, shuzhong, "receipt", "--bureau", "hotline", key).stdout)
    expected = f.n_rows - len(f.dirty_rows) - len(f.superseded_rows)
    assert receipt["status"] == "accepted" and receipt["rows_accepted"] == expected
    raw = lake.read_table(lake.raw_uri(all_contracts()["hotline.tickets"])).filter(pl.col("_source_key") == key)
    assert raw.height == expected
