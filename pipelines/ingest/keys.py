"""Landing-key grammar: ``<bureau>/<dataset>/<YYYY-MM-DD>/<file>``, and the receipt key mirroring it."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date
from pathlib import PurePosixPath

from pipelines import rules, settings

_DATE_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SLASHES = re.compile(r"/{2,}")
# control (C0, C1, DEL), format (bidi overrides, zero-width), line/paragraph separators,
# surrogates, private use, unassigned
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_UNSAFE_CHARS = frozenset('\\"<>|*?')


class InvalidKey(Exception):
    """A landing key outside the grammar; ``rule`` names the check that failed."""

    def __init__(self, reason: str, rule: str = rules.KEY_LAYOUT.id) -> None:
        super().__init__(reason)
        self.rule = rule


def unsafe_characters(key: str) -> list[str]:
    """The code points of ``key`` that a key may not hold (``U+000A`` style), in order, once each."""
    bad = [c for c in key if c in _UNSAFE_CHARS or unicodedata.category(c) in _UNSAFE_CATEGORIES]
    return list(dict.fromkeys(f"U+{ord(c):04X}" for c in bad))


def log_safe(key: str) -> str:
    """``key`` as it may appear in a log line: unchanged when safe, else repr-escaped."""
    return ascii(key) if unsafe_characters(key) else key


def canonical_key(key: str) -> str:
    """The key as the S3 store keeps it: runs of ``/`` collapse into one (``a//b`` → ``a/b``)."""
    return _SLASHES.sub("/", key)


def parse_key(key: str) -> tuple[str, str, date, str]:
    """``<bureau>/<dataset>/<YYYY-MM-DD>/<file>`` → parts; raises InvalidKey with a reason."""
    bad = unsafe_characters(key)
    if bad:
        raise InvalidKey(
            f"对象路径含有控制字符或不安全字符 / unsafe characters in object key: {', '.join(bad[:10])}",
            rules.KEY_UNSAFE_CHARACTERS.id,
        )
    parts = key.split("/")
    if len(parts) != 4 or not all(parts):
        raise InvalidKey(f"{rules.KEY_LAYOUT.zh} / {rules.KEY_LAYOUT.en}")
    if any(p in (".", "..") for p in parts) or "\\" in key or "\x00" in key:
        raise InvalidKey("对象路径含有非法的路径片段 / path traversal in object key", rules.KEY_PATH_TRAVERSAL.id)
    bureau, dataset, day, filename = parts
    if not _DATE_KEY.match(day):
        raise InvalidKey(f"业务日期应为 YYYY-MM-DD / bad business date {day[:20]!r}", rules.KEY_BUSINESS_DATE.id)
    try:
        business_date = date.fromisoformat(day)
    except ValueError:
        raise InvalidKey(f"业务日期不存在 / no such date {day!r}", rules.KEY_BUSINESS_DATE.id) from None
    return bureau, dataset, business_date, filename


def receipt_key_for(key: str) -> str:
    """Receipts mirror the landing key (as the store keeps it, see ``canonical_key``) under the
    receipts bucket; keys outside the grammar or with unsafe characters get a hashed name."""
    parts = canonical_key(key).split("/")
    if len(parts) == 4 and parts[0] in settings.bureaus() and ".." not in parts and not unsafe_characters(key):
        return f"{'/'.join(parts)}.receipt.json"
    bureau = parts[0] if parts and parts[0] in settings.bureaus() else "_unroutable"
    safe = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{bureau}/_rejected/{safe}.receipt.json"


def object_name(key: str) -> str:
    return PurePosixPath(key).name


def source_file_id(key: str) -> str:
    """The stable id that published tables use for a source file instead of its key (spec §1):
    the first 16 hex digits of sha256 of the UTF-8 key; in DuckDB ``left(sha256(source_key), 16)``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
