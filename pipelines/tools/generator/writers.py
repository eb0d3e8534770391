"""Write exported files the way bureau systems do: CSV in several encodings, or Excel.

``write_file`` accepts a polars DataFrame, a list of rows, or an iterable of chunks
(each a DataFrame or a list of rows) and writes them incrementally, so a file of
millions of rows never has to be held in memory.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import shutil
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

# Format names accepted by the generators: (file format, encoding).
FORMATS: dict[str, tuple[str, str | None]] = {
    "csv_gbk": ("csv", "gbk"),
    "csv_utf8_bom": ("csv", "utf-8-sig"),
    "csv_utf8": ("csv", "utf-8"),
    "csv_gb18030": ("csv", "gb18030"),
    "xlsx": ("xlsx", None),
    "jsonl": ("jsonl", "utf-8"),  # JSON Lines (IoT feeds): one object a line, keys = header
    # Variants, never chosen by default (ask for them by name):
    "xls": ("xls", None),  # legacy Excel 97-2003 (BIFF8), as xlsx: title, blank row, footer
    "xlsx_sheets": ("xlsx", None),  # a 填表说明 sheet before the data, a summary and an empty sheet after
    "xls_sheets": ("xls", None),
    "jsonl_broken": ("jsonl", "utf-8"),  # stray lines that are not JSON objects, last line cut off
}
# Variants allowed for a dataset exported in the base format (key).
VARIANTS: dict[str, tuple[str, ...]] = {"xlsx": ("xls", "xlsx_sheets", "xls_sheets"), "jsonl": ("jsonl_broken",)}
MULTI_SHEET = ("xlsx_sheets", "xls_sheets")
WORKBOOKS = ("xlsx", "xls")


@dataclass(frozen=True)
class BrokenLine:
    """A JSON Lines line written as these bytes (not a JSON object); ``last``: no newline after it."""

    data: bytes
    last: bool = False


XLSX_MAX_ROWS = 1_048_576


@dataclass
class WriteResult:
    path: Path
    n_rows: int
    encoding: str | None  # actual encoding: a GBK file holding non-GBK text becomes gb18030
    fmt: str


def _chunks(data: Any) -> Iterable[Sequence[Sequence[Any]]]:
    """Normalise the accepted inputs into an iterable of row lists.

    A DataFrame is one chunk; a list whose items are rows (lists/tuples of cells) is one
    chunk; anything else (a generator, a list of DataFrames or of row lists) is chunks.
    """
    if isinstance(data, pl.DataFrame):
        yield data.rows()
        return
    if isinstance(data, (list, tuple)):
        first = data[0] if data else None
        is_rows = first is None or (
            isinstance(first, (list, tuple)) and not (first and isinstance(first[0], (list, tuple)))
        )
        if is_rows:
            yield data
            return
    for chunk in data:
        yield chunk.rows() if isinstance(chunk, pl.DataFrame) else chunk


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def write_file(
    frame_or_rows: Any,
    path: Path,
    fmt: str = "csv",
    encoding: str | None = "gbk",
    *,
    header: Sequence[str] | None = None,
    title: str | None = None,
    footer: Sequence[Sequence[Any]] | Callable[[int], Sequence[Sequence[Any]]] | None = None,
    sheet_name: str = "Sheet1",
    created: datetime = datetime(2026, 1, 1, 8, 0),
    sheets_before: Sequence[tuple[str, Sequence[Sequence[Any]]]] = (),
    sheets_after: Sequence[tuple[str, Sequence[Sequence[Any]]]] = (),
) -> WriteResult:
    """Write rows to ``path`` as ``fmt`` ("csv", "xlsx" or "jsonl").

    ``frame_or_rows``: a polars DataFrame (its column names are the header unless
    ``header`` is given), a list of rows, or an iterable of chunks of rows.
    CSV: ``encoding`` is one of gbk, gb18030, utf-8, utf-8-sig. A GBK file whose text
    needs characters outside GBK is written in GB18030 (a superset: every GBK byte
    sequence decodes the same) and the result says so.
    xlsx: ``title`` goes in the first row above a blank row, then the header and rows;
    ``footer`` rows (e.g. ``[["合计", "123条"], ["制表人：张三"]]``, or a function of the
    number of data rows returning them) follow a blank row; in CSV they follow directly.
    Cells may be strings, numbers, dates or datetimes. The xlsx document properties
    and zip entry times are set to ``created`` so the same input gives the same bytes.
    xls: the same layout in a legacy BIFF8 workbook (:mod:`.xls`). Workbooks may carry other
    sheets (``sheets_before`` / ``sheets_after``: (name, rows)) around the data sheet.
    jsonl: a row that is a :class:`BrokenLine` is written as its bytes.
    """
    if header is None and isinstance(frame_or_rows, pl.DataFrame):
        header = frame_or_rows.columns
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        return _write_csv(frame_or_rows, path, encoding or "utf-8", header, title, footer)
    if fmt == "jsonl":
        return _write_jsonl(frame_or_rows, path, header)
    if fmt == "xlsx":
        res = _write_xlsx(frame_or_rows, path, header, title, footer, sheet_name, sheets_before, sheets_after)
        _pin_xlsx_times(path, created)
        return res
    if fmt == "xls":
        return _write_xls(frame_or_rows, path, header, title, footer, sheet_name, sheets_before, sheets_after)
    raise ValueError(f"unknown format {fmt!r}")


def _write_csv(data, path, encoding, header, title, footer) -> WriteResult:
    encoding = encoding.lower()
    actual = encoding
    n = 0

    def encode(text: str) -> bytes:
        nonlocal actual
        if actual in ("gbk", "gb2312", "cp936"):
            try:
                return text.encode("gbk")
            except UnicodeEncodeError:
                actual = "gb18030"
        if actual == "utf-8-sig":
            return text.encode("utf-8")
        return text.encode(actual)

    with path.open("wb") as fh:
        if encoding == "utf-8-sig":
            fh.write(b"\xef\xbb\xbf")
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        if title:
            w.writerow([title])
        if header:
            w.writerow(header)
        for chunk in _chunks(data):
            for row in chunk:
                w.writerow([_cell_text(v) for v in row])
                n += 1
            fh.write(encode(buf.getvalue()))
            buf.seek(0)
            buf.truncate()
        for row in (footer(n) if callable(footer) else footer) or ():
            w.writerow([_cell_text(v) for v in row])
        fh.write(encode(buf.getvalue()))
    return WriteResult(path, n, actual, "csv")


def _json_cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, date):
        return value.isoformat()
    return value


def _write_jsonl(data, path, header) -> WriteResult:
    """JSON Lines, UTF-8, ``\n`` line ends: line n is data row n (no header line)."""
    if not header:
        raise ValueError("jsonl needs a header (the object keys)")
    keys = list(header)
    n = 0
    with path.open("wb") as fh:
        for chunk in _chunks(data):
            lines = [
                (row.data + (b"" if row.last else b"\n"))
                if isinstance(row, BrokenLine)
                else (jsonl_line(keys, row) + "\n").encode("utf-8")
                for row in chunk
            ]
            n += len(lines)
            fh.write(b"".join(lines))
    return WriteResult(path, n, "utf-8", "jsonl")


_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def jsonl_line(keys: Sequence[str], row: Sequence[Any]) -> str:
    """One JSON Lines record (no newline) as :func:`write_file` writes it."""
    return _DUMPS(dict(zip(keys, map(_json_cell, row), strict=True)))


def _write_xls(data, path, header, title, footer, sheet_name, before, after) -> WriteResult:
    """The xlsx layout (title, blank row, header, rows, blank row, footer) in a BIFF8 ``.xls``."""
    from .xls import XLS_MAX_ROWS, write_xls

    rows: list[list] = ([[title], []] if title else []) + ([list(header)] if header else [])
    n = 0
    for chunk in _chunks(data):
        for row in chunk:
            rows.append(list(row))
            n += 1
            if len(rows) > XLS_MAX_ROWS - 3:
                raise ValueError(f"{path.name}: too many rows for one xls sheet")
    if footer:
        rows.append([])
        rows += [list(r) for r in (footer(n) if callable(footer) else footer)]
    write_xls(path, [*before, (sheet_name, rows), *after])
    return WriteResult(path, n, None, "xls")


def _write_xlsx(data, path, header, title, footer, sheet_name, before=(), after=()) -> WriteResult:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    wb.properties.creator = "openpyxl"
    for name, other in before:
        extra = wb.create_sheet(name)
        for row in other:
            extra.append(list(row))
    ws = wb.create_sheet(sheet_name)
    bold = Font(bold=True)
    used = 0
    if title:
        c = WriteOnlyCell(ws, value=title)
        c.font = Font(bold=True, size=14)
        ws.append([c])
        ws.append([])
        used += 2
    if header:
        cells = []
        for h in header:
            c = WriteOnlyCell(ws, value=h)
            c.font = bold
            cells.append(c)
        ws.append(cells)
        used += 1
    n = 0
    for chunk in _chunks(data):
        for row in chunk:
            if used + n + 1 > XLSX_MAX_ROWS - 3:
                raise ValueError(f"{path.name}: too many rows for one xlsx sheet")
            out = []
            for v in row:
                if isinstance(v, datetime):
                    c = WriteOnlyCell(ws, value=v)
                    c.number_format = "yyyy-mm-dd hh:mm:ss"
                    out.append(c)
                elif isinstance(v, date):
                    c = WriteOnlyCell(ws, value=v)
                    c.number_format = "yyyy-mm-dd"
                    out.append(c)
                else:
                    out.append(v)
            ws.append(out)
            n += 1
    if footer:
        ws.append([])
        for row in footer(n) if callable(footer) else footer:
            ws.append(list(row))
    for name, other in after:
        extra = wb.create_sheet(name)
        for row in other:
            extra.append(list(row))
    wb.save(path)
    return WriteResult(path, n, None, "xlsx")


def _pin_xlsx_times(path: Path, stamp: datetime) -> None:
    """Rewrite the zip with fixed entry times and fixed created/modified properties."""
    iso = f"{stamp:%Y-%m-%dT%H:%M:%S}Z"
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zout:
        for info in zin.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            zi.compress_type = zipfile.ZIP_DEFLATED
            if info.filename == "docProps/core.xml":
                xml = zin.read(info).decode("utf-8")
                xml = re.sub(r"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)", rf"\g<1>{iso}\g<2>", xml)
                zout.writestr(zi, xml.encode("utf-8"))
                continue
            with zin.open(info) as src, zout.open(zi, "w", force_zip64=True) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    os.replace(tmp, path)


def choose_format(rng: random.Random, formats: str | Sequence[str] | None, big: bool = False) -> str:
    """A format name of FORMATS: forced (a string), drawn from a sequence, or by default
    weighted as bureau systems export (mostly GBK CSV; no xlsx when ``big``)."""
    if isinstance(formats, str):
        return formats
    if formats:
        return rng.choice(list(formats))
    names = ("csv_gbk", "csv_utf8_bom", "csv_utf8", "csv_gb18030", "xlsx")
    weights = (58, 12, 8, 6, 0 if big else 16)
    return rng.choices(names, weights)[0]
