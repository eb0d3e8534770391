"""Deterministic generator of realistic bureau exports (spec sections 1, 2 and 4).

``generate("hotline.tickets", out_dir, start, days, rows_per_day)`` writes files laid
out as ``out_dir/<bureau>/<dataset>/<YYYY-MM-DD>/<filename>``, i.e. each file's path
below ``out_dir`` is its landing object key. Each dataset is one function in
``GENERATORS`` with the signature of :func:`generate` minus ``dataset``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from . import community, ecology, emergency, govservice, grid, market, transport, utilities
from .common import GeneratedFile, ProgressFn
from .hotline import DIRTY_KINDS as HOTLINE_DIRTY_KINDS
from .hotline import generate_tickets
from .writers import FORMATS, write_file

GENERATORS: dict[str, Callable[..., list[GeneratedFile]]] = {
    "hotline.tickets": generate_tickets,
    "govservice.cases": govservice.generate_cases,
    "market.enterprises": market.generate_enterprises,
    "ecology.air_quality_hourly": ecology.generate_air_quality,
    "transport.traffic_flow": transport.generate_traffic_flow,
    "utilities.pipe_pressure": utilities.generate_pipe_pressure,
    "emergency.incidents": emergency.generate_incidents,
    "emergency.risk_warnings": emergency.generate_warnings,
    "grid.grids": grid.generate_grids,
    "grid.events": grid.generate_events,
    "community.service_requests": community.generate_requests,
}

DIRTY_KINDS: dict[str, dict[str, str]] = {
    "hotline.tickets": HOTLINE_DIRTY_KINDS,
    "govservice.cases": govservice.DIRTY_KINDS,
    "market.enterprises": market.DIRTY_KINDS,
    "ecology.air_quality_hourly": ecology.DIRTY_KINDS,
    "transport.traffic_flow": transport.DIRTY_KINDS,
    "utilities.pipe_pressure": utilities.DIRTY_KINDS,
    "emergency.incidents": emergency.INCIDENT_DIRTY_KINDS,
    "emergency.risk_warnings": emergency.WARNING_DIRTY_KINDS,
    "grid.grids": grid.GRID_DIRTY_KINDS,
    "grid.events": grid.EVENT_DIRTY_KINDS,
    "community.service_requests": community.DIRTY_KINDS,
}

# (canonical name, 中文列名) of every dataset, as in spec section 4
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "govservice.cases": govservice.SPEC.columns,
    "market.enterprises": market.SPEC.columns,
    "ecology.air_quality_hourly": ecology.SPEC.columns,
    "transport.traffic_flow": transport.SPEC.columns,
    "utilities.pipe_pressure": utilities.SPEC.columns,
    "emergency.incidents": emergency.INCIDENT_SPEC.columns,
    "emergency.risk_warnings": emergency.WARNING_SPEC.columns,
    "grid.grids": grid.GRID_SPEC.columns,
    "grid.events": grid.EVENT_SPEC.columns,
    "community.service_requests": community.SPEC.columns,
}

__all__ = [
    "COLUMNS",
    "DIRTY_KINDS",
    "FORMATS",
    "GENERATORS",
    "GeneratedFile",
    "generate",
    "write_file",
]


def generate(
    dataset: str,
    out_dir: Path,
    start: date,
    days: int,
    rows_per_day: int,
    seed: int = 7,
    dirty_share: float = 0.03,
    formats: str | Sequence[str] | None = None,
    *,
    chunk_size: int = 50_000,
    progress: ProgressFn | None = None,
) -> list[GeneratedFile]:
    """Write ``days`` daily exports of ``dataset`` starting at ``start``.

    ``formats``: None (chosen per file from the seed, mostly GBK CSV), one name of
    ``FORMATS`` (forced), or a sequence of names to choose among.
    ``progress(dataset, business_date, rows_written)`` is called after every chunk;
    large runs report on stderr by default.
    """
    try:
        fn = GENERATORS[dataset]
    except KeyError:
        raise ValueError(f"no generator for {dataset!r}; known: {sorted(GENERATORS)}") from None
    return fn(
        Path(out_dir),
        start,
        days,
        rows_per_day,
        seed=seed,
        dirty_share=dirty_share,
        formats=formats,
        chunk_size=chunk_size,
        progress=progress,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -c 'from pipelines.tools.generator import main; main()' ...``."""
    ap = argparse.ArgumentParser(description="Generate realistic bureau exports.")
    ap.add_argument("dataset", choices=sorted(GENERATORS))
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--start", type=date.fromisoformat, default=date(2026, 3, 1))
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--rows-per-day", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dirty-share", type=float, default=0.03)
    ap.add_argument("--format", action="append", choices=sorted(FORMATS))
    a = ap.parse_args(argv)
    files = generate(a.dataset, a.out_dir, a.start, a.days, a.rows_per_day, a.seed, a.dirty_share, a.format)
    for f in files:
        print(f"{f.key}\t{f.fmt}\t{f.encoding or '-'}\t{f.n_rows} rows\t{f.n_dirty} dirty")
