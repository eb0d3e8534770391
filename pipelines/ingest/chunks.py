"""Chunk planning: which files of a batch land together (one Delta commit per table per chunk)."""

from __future__ import annotations

from collections.abc import Iterator

from pipelines import settings
from pipelines.ingest.batch import LandingObject


def max_bytes_per_commit() -> int:
    """Bytes of files landed together (one commit per table); bounds a run's memory."""
    return int(settings.get("SHUZHONG_MAX_MB_PER_COMMIT", "16")) * 2**20


def plan_chunks(objs: list[LandingObject], data: dict[str, bytes]) -> Iterator[list[LandingObject]]:
    """Consecutive chunks of up to ``max_bytes_per_commit`` bytes (a single larger file is a
    chunk of its own); a key twice in one batch: the later version goes in a later chunk."""
    chunk: list[LandingObject] = []
    size, limit = 0, max_bytes_per_commit()
    for obj in objs:
        obj_size = obj.size or len(data.get(obj.key, b""))
        if chunk and (any(o.key == obj.key for o in chunk) or size + obj_size > limit):
            yield chunk
            chunk, size = [], 0
        chunk.append(obj)
        size += obj_size
    if chunk:
        yield chunk
