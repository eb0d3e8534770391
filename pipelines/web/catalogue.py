"""The 数据资源目录: every published table, generated from the dbt manifest, the contracts and the
published files (never written by hand).

For each governed table or mart of the manifest (:func:`pipelines.publish.mart_models`): its
description, owning bureaus (the contracts of the datasets upstream of it), sharing class and the
grants a conditional table needs, update cadence, the latest data date and row count of the
published file, and its columns with descriptions and PII classes (the dbt column meta, else the
upstream contract's field)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from pipelines import contracts, publish, settings
from pipelines.web import warehouse
from pipelines.web.datasets import CADENCE_ZH, CLASSIFICATION_ZH, SHARING_ZH

HUB = "市大数据中心"


def manifest_path() -> Path:
    """The dbt manifest the publish used: ``SHUZHONG_DBT_MANIFEST``, else ``dbt_project/target/manifest.json``."""
    return Path(os.environ.get("SHUZHONG_DBT_MANIFEST") or settings.DBT_PROJECT_DIR / "target" / "manifest.json")


@dataclass
class Column:
    name: str
    description: str
    classification: str
    pii: str


@dataclass
class Entry:
    name: str
    description: str
    owners: list[str]
    sharing: str
    sharing_zh: str
    datasets: list[str]
    cadence: str
    latest: str
    row_count: int | None
    published: bool
    files: list[str]
    columns: list[Column] = field(default_factory=list)
    access: str = ""


def _field(datasets: list[str], column: str) -> contracts.Field | None:
    for key in sorted(datasets):
        c = contracts.all_contracts().get(key)
        if c is not None:
            for f in c.fields:
                if f.name == column:
                    return f
    return None


def _access_text(entry: Entry) -> str:
    if entry.sharing != publish.CONDITIONAL:
        return "无条件共享：所有分析人员可直接读取（warehouse.duckdb；S3 published/unconditional/）。"
    key = publish.conditional_key(entry.datasets) if entry.datasets else ""
    return (
        f"有条件共享：向{HUB}提交共享申请并写明用途，经数据提供单位（{'、'.join(entry.owners)}）同意后，"
        f"数据中心在 data_contracts/grants.yaml 中为申请人的分析身份登记数据集 {', '.join(entry.datasets)} 的授权"
        f"（需全部获批），并提供 conditional/{key}.duckdb 文件（S3：published/conditional/{key}/）。"
    )


def entries(manifest: Path | None = None) -> list[Entry]:
    """The catalogue, one entry per governed table or mart the publish places somewhere."""
    manifest = manifest or manifest_path()
    doc = json.loads(Path(manifest).read_text())
    by_name = {n["name"]: uid for uid, n in doc["nodes"].items() if n.get("resource_type") == "model"}
    try:
        tables = warehouse.published_tables()
    except warehouse.NotPublished:
        tables = {}
    bureaus = settings.bureaus()
    out = []
    for model in publish.mart_models(manifest):
        if model["sharing"] == publish.NONE:
            continue
        upstream = sorted(publish.upstream_datasets(doc, by_name[model["name"]]))
        owners = sorted({bureaus.get(k.split(".")[0], k.split(".")[0]) for k in upstream}) or [HUB]
        aggregate = model["basis"] == "aggregate"
        cadences = sorted({contracts.all_contracts()[k].cadence for k in upstream if k in contracts.all_contracts()})
        cadence = (
            "每月（月度指标，随每次数据更新重算）" if aggregate else "、".join(CADENCE_ZH.get(c, c) for c in cadences)
        )
        info = tables.get(model["name"], {})
        entry = Entry(
            name=model["name"],
            description=" ".join(model["description"].split()),
            owners=owners,
            sharing=model["sharing"],
            sharing_zh=SHARING_ZH[model["sharing"]],
            datasets=model["datasets"],
            cadence=cadence or "随数据更新",
            latest=str(info.get("latest") or "—"),
            row_count=info.get("row_count"),
            published=bool(info),
            files=info.get("files", []),
        )
        for cname, text in model["columns"].items():
            meta = model["column_meta"].get(cname, {})
            if meta.get("sharing") == publish.NONE:
                continue
            f = _field(upstream, cname)
            cls = meta.get("classification") or (f.classification if f else ("public" if aggregate else "internal"))
            pii = (f.pii if f and f.pii else "") or ("无（聚合值）" if aggregate else "无")
            if meta.get("sharing") == publish.CONDITIONAL:
                pii += "；有条件共享列（仅在授权文件中）"
            entry.columns.append(Column(cname, " ".join((text or "").split()), CLASSIFICATION_ZH.get(cls, cls), pii))
        entry.access = _access_text(entry)
        out.append(entry)
    return out
