"""A streaming pass over an ``.xlsx`` workbook's sheets before any reader loads them.

calamine (through fastexcel) reads a sheet into a dense grid as large as its used range: a
4.8 KB workbook with one cell in A1 and one at row 200,000, column 2,000 makes it allocate 12 GiB
and spend over a minute. The zip checks in :mod:`pipelines.parsing` do not catch that (the file
barely compresses). So every worksheet part is first streamed through the zip decompressor in
1 MiB pieces (constant memory, no XML tree) to find its used range from the ``<row>`` and ``<c>``
tags; a sheet whose last row passes the row cap, or whose used range passes the cell cap, is
refused before it is read. The ``<dimension>`` tag is not trusted (calamine does not size its
grid from it, and a bureau's tool may write anything there)."""

from __future__ import annotations

import io
import os
import re
import zipfile

CHUNK = 1 << 20
MAX_TAG = 1 << 20  # a single tag longer than this is not a sheet any tool writes

_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(row|c)(?=[\s/>])([^<>]*)>")
_REF = re.compile(rb"""\br\s*=\s*["']([A-Za-z]*)(\d*)["']""")


class SheetTooLarge(ValueError):
    """A worksheet whose used range passes the row or cell cap (message in Chinese and English)."""


def max_sheet_cells() -> int:
    """Cells of a sheet's used range at most (``SHUZHONG_MAX_SHEET_CELLS``; default 30 million,
    e.g. 1 million rows × 30 columns): the grid calamine allocates is bounded by it."""
    return int(os.environ.get("SHUZHONG_MAX_SHEET_CELLS", str(30_000_000)))


def _column_index(letters: bytes) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ch - 64)
    return n


def used_range(stream: io.RawIOBase | io.BufferedIOBase, max_rows: int, max_cells: int) -> tuple[int, int]:
    """(last row, last column) of one worksheet's XML read from ``stream`` piece by piece;
    raises :class:`SheetTooLarge` as soon as either cap is passed."""
    last_row = last_col = 0
    row = col = 0
    carry = b""
    while True:
        piece = stream.read(CHUNK)
        buf = carry + piece
        end = len(buf) if not piece else buf.rfind(b"<")
        if end < 0:
            end = len(buf)
        for match in _TAG.finditer(buf, 0, end):
            ref = _REF.search(match.group(2))
            if match.group(1) == b"row":
                row = int(ref.group(2)) if ref and ref.group(2) else row + 1
                col = 0
                last_row = max(last_row, row)
                if last_row > max_rows:
                    raise SheetTooLarge(f"row {last_row}")
            else:
                col = _column_index(ref.group(1)) if ref and ref.group(1) else col + 1
                if ref and ref.group(2):
                    last_row = max(last_row, int(ref.group(2)))
                last_col = max(last_col, col)
            if last_row * last_col > max_cells:
                raise SheetTooLarge(f"{last_row} rows × {last_col} columns")
        if not piece:
            return last_row, last_col
        carry = buf[end:]
        if len(carry) > MAX_TAG:
            raise SheetTooLarge("a tag longer than 1 MiB")


def check_sheets(data: bytes, max_rows: int, max_cells: int | None = None) -> dict[str, tuple[int, int]]:
    """The used range of every worksheet of an ``.xlsx`` (part name → (rows, columns)), streamed;
    raises :class:`SheetTooLarge` naming the part when a sheet passes ``max_rows`` rows or
    ``max_cells`` cells (default :func:`max_sheet_cells`)."""
    cells = max_sheet_cells() if max_cells is None else max_cells
    out: dict[str, tuple[int, int]] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            name = info.filename
            if "worksheets/" not in name or not name.endswith(".xml"):
                continue
            with zf.open(info) as stream:
                try:
                    out[name] = used_range(stream, max_rows, cells)
                except SheetTooLarge as exc:
                    raise SheetTooLarge(
                        f"工作表 {name} 的数据区域过大（{exc}；上限 {max_rows} 行、{cells} 个单元格） "
                        f"/ sheet part {name} is too large ({exc}; caps {max_rows} rows, {cells} cells)"
                    ) from None
    return out
