"""Shared machinery of the dataset generators: choosing a file's format and style,
dirty-row bookkeeping, the open → closed lifecycle of daily records, chunked writing
and progress.

A generator describes its dataset with a :class:`Spec`, yields canonical records
(dicts keyed by canonical column name) and lets :func:`write_records` render, dirty and
write them; very large machine feeds may render rows themselves and call
:func:`write_rows`.
"""

from __future__ import annotations

import random
import zlib
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from . import common as c
from .writers import FORMATS, MULTI_SHEET, VARIANTS, WORKBOOKS, BrokenLine, jsonl_line, write_file

# Roles of a record in a file's stream.
NORMAL, SUPERSEDED, WINNER = 0, 1, 2  # SUPERSEDED: a later row of the file has the same key

MakeDirty = Callable[[dict, str, random.Random], "dict | None"]


@dataclass(frozen=True)
class Spec:
    name: str  # "<bureau>.<dataset>"
    columns: tuple[tuple[str, str], ...]  # (canonical name, 中文列名) as in spec section 4
    title: str  # xlsx title row
    filenames: tuple[str, ...]  # templates: {d} YYYYMMDD, {iso} YYYY-MM-DD, {stamp}, {ext}, {tag}
    dirty_kinds: dict[str, str]
    formats: dict[str, float]  # default format weights (also the formats allowed)
    machine: bool = False  # machine feed: ISO timestamps, no full-width digits
    phone_cols: tuple[str, ...] = ()
    thousands_cols: tuple[str, ...] = ()  # decimals sometimes written with thousands separators

    @property
    def bureau(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def table(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.columns]

    @property
    def salt(self) -> int:
        return zlib.crc32(self.name.encode())


def allowed_formats(spec: Spec) -> list[str]:
    """The dataset's default formats, then the variants of them (never chosen by default)."""
    return list(spec.formats) + [v for f in spec.formats for v in VARIANTS.get(f, ())]


def check_formats(spec: Spec, formats: str | Sequence[str] | None) -> None:
    for f in [formats] if isinstance(formats, str) else formats or ():
        if f not in FORMATS:
            raise ValueError(f"unknown format {f!r}; one of {sorted(FORMATS)}")
    if isinstance(formats, str) and formats not in allowed_formats(spec):
        raise ValueError(f"{spec.name} is not exported as {formats!r}; one of {allowed_formats(spec)}")


@dataclass
class FilePlan:
    """Everything about one file that is decided before its rows: format, style, header, path."""

    spec: Spec
    day: date
    fmt_name: str
    fmt: str
    encoding: str | None
    style: c.RenderStyle
    header: list[str]
    path: Path
    made: datetime
    tabler: str
    thousands: bool
    json_missing: object
    dirty_rng: random.Random
    dup_rng: random.Random
    rng: random.Random  # for generator-specific per-file choices
    names: list[str] = field(default_factory=list)  # canonical columns written (all but omitted ones)

    def omit(self, *columns: str) -> None:
        """Leave optional columns out of this file (header and rows)."""
        keep = [i for i, n in enumerate(self.names) if n not in columns]
        self.names = [self.names[i] for i in keep]
        self.header = [self.header[i] for i in keep]


def plan_file(
    spec: Spec,
    out_dir: Path,
    seed: int,
    day: date,
    formats: str | Sequence[str] | None,
    tag: int = 0,
    tag_text: str = "",
    big: bool = False,
) -> FilePlan:
    rng = random.Random(c.deterministic_seed(seed, spec.salt, day.toordinal(), tag, 0xF11E))
    if isinstance(formats, str):
        fmt_name = formats
    else:
        allowed = [f for f in (formats or spec.formats) if f in allowed_formats(spec)] or list(spec.formats)
        if formats:
            fmt_name = rng.choice(allowed)
        else:
            fmt_name = rng.choices(allowed, [spec.formats[f] for f in allowed])[0]
    if big and FORMATS[fmt_name][0] in WORKBOOKS:
        fmt_name = "csv_gbk"
    fmt, encoding = FORMATS[fmt_name]
    if spec.machine or fmt == "jsonl":
        style = c.RenderStyle(
            timestamp_style=rng.choice(("iso", "iso", "iso_t", "iso_min")) if fmt not in WORKBOOKS else "iso",
            missing_tokens=rng.choice((("",), ("",), ("NULL",), ("-",))),
            rng=random.Random(rng.getrandbits(64)),
        )
    else:
        style = c.RenderStyle.choose(rng, fmt)
    english = rng.random() < (0.5 if fmt == "jsonl" else 0.05)
    if english:
        header = spec.names
    elif fmt == "jsonl":
        header = [h for _, h in spec.columns]
    else:
        header = c.header_variant([h for _, h in spec.columns], rng)
    made = datetime(day.year, day.month, day.day) + timedelta(days=1, seconds=rng.randrange(1800, 7 * 3600))
    ext = {"csv": "csv", "xlsx": "xlsx", "xls": "xls", "jsonl": "jsonl"}[fmt]
    filename = rng.choice(spec.filenames).format(
        d=f"{day:%Y%m%d}", iso=day.isoformat(), stamp=f"{made:%Y%m%d%H%M%S}", ext=ext, tag=tag_text or tag
    )
    path = out_dir / spec.bureau / spec.table / day.isoformat() / filename
    return FilePlan(
        spec,
        day,
        fmt_name,
        fmt,
        encoding,
        style,
        header,
        path,
        made,
        c.person_name(rng),
        rng.random() < 0.3,
        None if rng.random() < 0.8 else "",
        random.Random(rng.getrandbits(64)),
        random.Random(rng.getrandbits(64)),
        random.Random(rng.getrandbits(64)),
        spec.names,
    )


def render(values: dict, plan: FilePlan) -> list:
    """Canonical record → cells as this file's exporting system writes them."""
    spec, style = plan.spec, plan.style
    jsonl = plan.fmt == "jsonl"
    out: list = []
    for name in plan.names:
        v = values[name]
        if v is None:
            out.append(plan.json_missing if jsonl else style.missing())
        elif isinstance(v, datetime):
            out.append(c.fmt_timestamp(v, style.timestamp_style) if jsonl else style.render(v))
        elif jsonl:
            out.append(v.isoformat() if isinstance(v, date) else v)
        elif isinstance(v, float):
            if plan.thousands and name in spec.thousands_cols and abs(v) >= 1000:
                out.append(f"{v:,.2f}")
            else:
                out.append(v if style.native_cells else f"{v:g}" if abs(v) < 1e6 else f"{v:.2f}")
        elif name in spec.phone_cols and isinstance(v, str) and v.isdigit():
            out.append(c.fmt_phone(v, style.rng))
        else:
            out.append(style.render(v))
    return out


class Progress:
    """Counts rows written by one generator run and reports them."""

    def __init__(self, dataset: str, fn: c.ProgressFn | None, total_rows: int) -> None:
        self.dataset = dataset
        self.fn = fn if fn is not None else (c.stderr_progress if total_rows >= 1_000_000 else None)
        self.total = 0

    def add(self, day: date, n: int) -> None:
        self.total += n
        if self.fn:
            self.fn(self.dataset, day, self.total)


def write_rows(
    plan: FilePlan,
    rows: Iterable[tuple[list, str | None, bool]],
    chunk_size: int,
    progress: Progress,
) -> c.GeneratedFile:
    """Write rendered rows ``(cells, dirty kind or None, superseded)`` and book-keep them."""
    dirty_rows: list[tuple[int, str]] = []
    superseded: list[int] = []

    def chunks() -> Iterator[list[list]]:
        buf: list[list] = []
        n = 0
        for cells, kind, sup in rows:
            n += 1
            if kind:
                dirty_rows.append((n, kind))
            if sup:
                superseded.append(n)
            buf.append(cells)
            if len(buf) >= chunk_size:
                yield buf
                progress.add(plan.day, len(buf))
                buf = []
        yield buf
        progress.add(plan.day, len(buf))

    def footer(n: int) -> list[list[str]]:
        return [
            ["合计", f"{n}条"],
            [f"制表人：{plan.tabler}", "", f"制表时间：{c.fmt_timestamp(plan.made, 'cn')}"],
        ]

    if plan.fmt_name == "jsonl_broken":
        rows = broken_lines(plan, rows)
    xlsx = plan.fmt in WORKBOOKS
    before, after = other_sheets(plan) if plan.fmt_name in MULTI_SHEET else ((), ())
    res = write_file(
        chunks(),
        plan.path,
        plan.fmt,
        plan.encoding,
        header=plan.header,
        title=plan.spec.title if xlsx else None,
        footer=footer if xlsx else None,
        created=plan.made,
        sheet_name="明细" if before else "Sheet1",
        sheets_before=before,
        sheets_after=after,
    )
    return c.GeneratedFile(
        plan.path,
        plan.spec.bureau,
        plan.spec.table,
        plan.day,
        res.n_rows,
        res.encoding,
        plan.fmt,
        len(dirty_rows),
        dirty_rows,
        superseded,
    )


BROKEN_LINE = "not_json_object"  # dirty kind of a JSON Lines line that is not a JSON object
_STRAY_LINES = (
    b"2026-03-05 10:00:01 WARN gateway: reconnecting to broker",
    b"[1, 2, 3]",
    b'"heartbeat"',
    b"null",
    b"{bad json",
)


def broken_lines(
    plan: FilePlan, rows: Iterable[tuple[list, str | None, bool]]
) -> Iterator[tuple[list | BrokenLine, str | None, bool]]:
    """JSON Lines as a flaky feed delivers them: now and then a stray line that is not a JSON
    object (a log line, an array, a bare value), and the last line cut off in transfer (inside a
    UTF-8 character when it can). Never next to a superseded row, so keys still resolve alike."""
    rng = random.Random(c.deterministic_seed(plan.spec.salt, plan.day.toordinal(), 0xB40C))
    previous_superseded = False
    pending: tuple[list, str | None, bool] | None = None
    for row in rows:
        if pending is not None:
            yield pending
            previous_superseded = pending[2]
        if not previous_superseded and not row[2] and rng.random() < 0.03:
            yield BrokenLine(rng.choice(_STRAY_LINES)), BROKEN_LINE, False
        pending = row
    if pending is None:
        return
    cells, _, superseded = pending
    if not superseded and not previous_superseded:  # a dirty last row is cut off all the same
        data = jsonl_line(plan.header, cells).encode("utf-8")
        cut = len(data) // 2
        wide = [i for i in range(len(data) // 3, len(data) - 1) if data[i] >= 0xC0]  # a lead byte
        yield BrokenLine(data[: wide[0] + 1] if wide else data[:cut], last=True), BROKEN_LINE, False
    else:
        yield pending


def other_sheets(plan: FilePlan) -> tuple[list, list]:
    """Sheets around the data of a multi-sheet workbook: 填表说明 before; a summary, an empty sheet after."""
    instructions = [
        ["填表说明"],
        ["1. 本表由业务系统导出，请勿修改表头。"],
        ["2. 数据见“明细”工作表。"],
        [f"3. 报送单位：{plan.spec.bureau}"],
    ]
    summary = [[plan.spec.title + "（汇总）"], ["统计项", "数值"], ["记录数", "见明细"], ["制表人", plan.tabler]]
    return [("填表说明", instructions)], [("汇总", summary), ("Sheet3", [])]


def dirty_rows_of(
    plan: FilePlan,
    records: Iterable[tuple[dict, int]],
    make_dirty: MakeDirty,
    dirty_share: float,
) -> Iterator[tuple[list, str | None, bool]]:
    """Render ``(record, role)``; a share of NORMAL records breaks one rule of the spec."""
    kinds = tuple(plan.spec.dirty_kinds)
    rng = plan.dirty_rng
    for values, role in records:
        kind = None
        if role == NORMAL and dirty_share and rng.random() < dirty_share:
            for _ in range(20):
                k = rng.choice(kinds)
                bad = make_dirty(values, k, rng)
                if bad is not None:
                    values, kind = bad, k
                    break
        yield render(values, plan), kind, role == SUPERSEDED


def write_records(
    plan: FilePlan,
    records: Iterable[tuple[dict, int]],
    make_dirty: MakeDirty,
    dirty_share: float,
    chunk_size: int,
    progress: Progress,
) -> c.GeneratedFile:
    return write_rows(plan, dirty_rows_of(plan, records, make_dirty, dirty_share), chunk_size, progress)


@dataclass
class Lifecycle:
    """Daily records that are exported when created and again in their final state.

    ``make(day, seq)`` → (open record, final record, date of the final state or None).
    A record finished on its creation date is exported once, final (a few twice: open
    first, superseded by the final row). Only (final date → creation date → seq) is
    kept between days, 4 bytes a pending record.
    """

    make: Callable[[date, int], tuple[dict, dict, date | None]]
    end: date
    dup_share: float = 0.02
    pending: dict[int, dict[int, array]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(lambda: array("I")))
    )

    def states(self, day: date, n: int, dup_rng: random.Random) -> Iterator[tuple[dict, int]]:
        closures = self.pending.pop(day.toordinal(), {})
        for created in sorted(closures):
            cday = date.fromordinal(created)
            for seq in closures[created]:
                yield self.make(cday, seq)[1], NORMAL
        for seq in range(1, n + 1):
            open_v, final_v, final_day = self.make(day, seq)
            if final_day == day:
                if dup_rng.random() < self.dup_share:
                    yield open_v, SUPERSEDED
                    yield final_v, WINNER
                else:
                    yield final_v, NORMAL
                continue
            if final_day is not None and day < final_day <= self.end:
                self.pending[final_day.toordinal()][day.toordinal()].append(seq)
            yield open_v, NORMAL


def ts_on(day: date, seconds: float) -> datetime:
    return datetime(day.year, day.month, day.day) + timedelta(seconds=int(seconds))


def office_time(rng: random.Random, day: date, weekend_share: float = 1.0) -> datetime:
    """A time on ``day`` following office hours (08:30–12:00, 13:30–18:00, some evenings)."""
    r = rng.random()
    if r < 0.45:
        secs = rng.uniform(8.5, 12) * 3600
    elif r < 0.9:
        secs = rng.uniform(13.5, 18) * 3600
    else:
        secs = rng.uniform(0, 24) * 3600
    return ts_on(day, secs)
