"""The package layout shows the architecture, and the direction of imports holds:

- ``pipelines/defs/<area>/`` — Dagster definitions (ingestion, transform, publish, operations),
  gathered by ``pipelines/definitions.py``;
- ``pipelines/tools/`` — the CLI, the S3 server manager, the demo, the benchmark, the generator,
  the leak scanner and the local Dagster home;
- ``pipelines/web/`` — the people's pages (portal, cockpit, catalogue): Dagster-free like the domain
  code, on top of it;
- everything else under ``pipelines/`` — Dagster-free domain code (contracts, parsing,
  validation, ingest, lake, ledger, publish, PII, calendar, rules, settings, S3 client).

Domain code imports neither Dagster nor ``defs`` nor ``tools`` nor ``web``; ``web`` imports neither
Dagster nor ``defs`` nor ``tools``; ``defs`` never imports ``tools`` nor ``web``."""

from __future__ import annotations

import ast
from pathlib import Path

from pipelines import settings

PACKAGE = settings.REPO_ROOT / "pipelines"
DAGSTER = ("dagster", "dagster_dbt", "dagster_webserver", "dagster_postgres")


def _imports(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (lazy imports inside functions included)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def _area(path: Path) -> str:
    rel = path.relative_to(PACKAGE).parts
    if rel[0] in ("defs", "tools", "web"):
        return rel[0]
    return "definitions" if rel == ("definitions.py",) else "domain"


def _files(area: str) -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if _area(p) == area]


def test_domain_code_imports_no_dagster_and_nothing_above_it():
    files = _files("domain")
    assert len(files) >= 20
    bad = {}
    for path in files:
        wrong = {
            m
            for m in _imports(path)
            if m.split(".")[0] in DAGSTER
            or m.startswith(("pipelines.defs", "pipelines.tools", "pipelines.definitions", "pipelines.web"))
        }
        if wrong:
            bad[str(path.relative_to(PACKAGE))] = sorted(wrong)
    assert not bad, bad


def test_web_imports_no_dagster_defs_or_tools():
    files = _files("web")
    assert {p.name for p in files} >= {"app.py", "portal.py", "cockpit.py", "catalogue.py"}
    bad = {}
    for path in files:
        wrong = {
            m
            for m in _imports(path)
            if m.split(".")[0] in DAGSTER
            or m.startswith(("pipelines.defs", "pipelines.tools", "pipelines.definitions"))
        }
        if wrong:
            bad[str(path.relative_to(PACKAGE))] = sorted(wrong)
    assert not bad, bad


def test_definitions_never_import_the_tools():
    bad = {
        str(p.relative_to(PACKAGE)): sorted(
            m for m in _imports(p) if m.startswith(("pipelines.tools", "pipelines.web"))
        )
        for p in _files("defs") + _files("definitions")
    }
    assert not {k: v for k, v in bad.items() if v}


def test_every_area_of_the_definitions_has_its_folder():
    areas = {p.name for p in (PACKAGE / "defs").iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert {"ingestion", "transform", "publish", "operations"} <= areas
    for area in areas:
        assert any(p.name != "__init__.py" for p in (PACKAGE / "defs" / area).glob("*.py")), area
