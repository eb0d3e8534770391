"""Landing-key grammar: ``<bureau>/<dataset>/<YYYY-MM-DD>/<file>``, and the receipt key mirroring it."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import PurePosixPath

from pipelines import settings

_DATE_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class InvalidKey(Exception):
    pass


def parse_key(key: str) -> tuple[str, str, date, str]:
    """``<bureau>/<dataset>/<YYYY-MM-DD>/<file>`` → parts; raises InvalidKey with a reason."""
    parts = key.split("/")
    if len(parts) != 4 or not all(parts):
        raise InvalidKey("对象路径应为 <委办局>/<数据集>/<业务日期 YYYY-MM-DD>/<文件名>")
    if any(p in (".", "..") for p in parts) or "\\" in key or "\x00" in key:
        raise InvalidKey("对象路径含有非法的路径片段 / path traversal in object key")
    bureau, dataset, day, filename = parts
    if not _DATE_KEY.match(day):
        raise InvalidKey(f"业务日期应为 YYYY-MM-DD / bad business date {day[:20]!r}")
    try:
        business_date = date.fromisoformat(day)
    except ValueError:
        raise InvalidKey(f"业务日期不存在 / no such date {day!r}") from None
    return bureau, dataset, business_date, filename


def receipt_key_for(key: str) -> str:
    """Receipts mirror the landing key under the receipts bucket."""
    parts = key.split("/")
    if len(parts) == 4 and parts[0] in settings.bureaus() and ".." not in parts:
        return f"{key}.receipt.json"
    bureau = parts[0] if parts and parts[0] in settings.bureaus() else "_unroutable"
    safe = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{bureau}/_rejected/{safe}.receipt.json"


def object_name(key: str) -> str:
    return PurePosixPath(key).name
