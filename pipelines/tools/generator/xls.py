"""A minimal writer of legacy Excel 97–2003 ``.xls`` files (BIFF8 in an OLE2 compound file).

No xls writer is installed (xlwt is not a dependency), so the generator writes the format
itself: one ``Workbook`` stream in a version-3 compound file (512-byte sectors, no mini
stream), a workbook globals substream (BOF, CODEPAGE, fonts, XF records with the built-in
date formats, one BOUNDSHEET per sheet, the shared string table) and one worksheet
substream per sheet (DIMENSIONS, NUMBER / LABELSST cells). Strings go through the SST as
office systems write them; dates and timestamps are numbers with a date format, as the
cells hold them. Enough for calamine (fastexcel), openpyxl-free, deterministic bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

XLS_MAX_ROWS = 65_536
XLS_MAX_COLS = 256
_MAX_RECORD = 8224  # BIFF8 record payload limit; longer SST data continues in CONTINUE records
_EPOCH = datetime(1899, 12, 30)
_XF_GENERAL, _XF_DATE, _XF_DATETIME = 15, 16, 17  # 0-14 style XFs, 15 cell XF, then date formats
_FMT_DATE, _FMT_DATETIME = 14, 22  # built-in number formats m/d/yy, m/d/yy h:mm

ENDOFCHAIN, FREESECT, FATSECT, NOSTREAM = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF
SECTOR = 512


def _record(kind: int, payload: bytes = b"") -> bytes:
    return struct.pack("<HH", kind, len(payload)) + payload


def _bof(kind: int) -> bytes:
    return _record(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 0x07CC, 0, 0x06))


def _short_string(text: str) -> bytes:
    """ShortXLUnicodeString (sheet and font names): 1-byte length, UTF-16LE."""
    return struct.pack("<BB", len(text), 1) + text.encode("utf-16-le")


def _font() -> bytes:
    return _record(0x0031, struct.pack("<HHHHHBBBB", 200, 0, 0x7FFF, 400, 0, 0, 0, 0x86, 0) + _short_string("宋体"))


def _xf(fmt: int, style: bool) -> bytes:
    flags = 0xFFF5 if style else 0x0001  # style XF (parent 0xFFF) / cell XF locked, parent style 0
    return _record(0x00E0, struct.pack("<HHHHHIIH", 0, fmt, flags, 0x0020, 0, 0, 0, 0x20C0))


def _sst(strings: list[str]) -> bytes:
    """SST (+ CONTINUE) records. A string is never split: a record is closed before it."""
    out, payload = [], bytearray(struct.pack("<II", len(strings), len(strings)))
    kind = 0x00FC
    for s in strings:
        body = struct.pack("<HB", len(s.encode("utf-16-le")) // 2, 1) + s.encode("utf-16-le")
        if len(body) > _MAX_RECORD:
            raise ValueError("string too long for one xls cell record")
        if len(payload) + len(body) > _MAX_RECORD:
            out.append(_record(kind, bytes(payload)))
            payload, kind = bytearray(), 0x003C
        payload += body
    out.append(_record(kind, bytes(payload)))
    return b"".join(out)


def _excel_serial(value: date | datetime) -> float:
    dt = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
    delta = dt - _EPOCH
    return delta.days + delta.seconds / 86400


def _sheet_stream(rows: Sequence[Sequence[object]], sst: dict[str, int]) -> bytes:
    if len(rows) > XLS_MAX_ROWS:
        raise ValueError(f"an xls sheet holds at most {XLS_MAX_ROWS} rows")
    width = max((len(r) for r in rows), default=0)
    if width > XLS_MAX_COLS:
        raise ValueError(f"an xls sheet holds at most {XLS_MAX_COLS} columns")
    parts = [_bof(0x0010), _record(0x0200, struct.pack("<IIHHH", 0, len(rows), 0, width, 0))]
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is None or value == "":
                continue
            if isinstance(value, bool):
                value = str(value)
            if isinstance(value, (datetime, date)):
                xf = _XF_DATE if not isinstance(value, datetime) else _XF_DATETIME
                parts.append(_record(0x0203, struct.pack("<HHHd", r, c, xf, _excel_serial(value))))
            elif isinstance(value, (int, float)):
                parts.append(_record(0x0203, struct.pack("<HHHd", r, c, _XF_GENERAL, float(value))))
            else:
                text = str(value)
                index = sst.setdefault(text, len(sst))
                parts.append(_record(0x00FD, struct.pack("<HHHI", r, c, _XF_GENERAL, index)))
    parts.append(_record(0x000A))
    return b"".join(parts)


def workbook_stream(sheets: Sequence[tuple[str, Sequence[Sequence[object]]]]) -> bytes:
    """The BIFF8 ``Workbook`` stream of ``sheets`` (name, rows of cells)."""
    if not sheets:
        raise ValueError("a workbook needs a sheet")
    sst: dict[str, int] = {}
    bodies = [_sheet_stream(rows, sst) for _, rows in sheets]
    head = [_bof(0x0005), _record(0x0042, struct.pack("<H", 1200))]
    head += [_font()] * 5  # font index 4 does not exist in BIFF: five records give indices 0-3, 5
    head += [_xf(0, True)] * 15 + [_xf(0, False), _xf(_FMT_DATE, False), _xf(_FMT_DATETIME, False)]
    sheet_records_size = sum(4 + 6 + len(_short_string(name)) for name, _ in sheets)
    tail = _sst(list(sst)) + _record(0x000A)
    offset = len(b"".join(head)) + sheet_records_size + len(tail)
    boundsheets = []
    for (name, _), body in zip(sheets, bodies, strict=True):
        boundsheets.append(_record(0x0085, struct.pack("<IBB", offset, 0, 0) + _short_string(name[:31])))
        offset += len(body)
    return b"".join(head + boundsheets) + tail + b"".join(bodies)


def compound_file(stream: bytes, name: str = "Workbook") -> bytes:
    """An OLE2 compound file (MS-CFB version 3) holding one stream."""
    stream = stream + b"\x00" * max(0, 4096 - len(stream))  # ≥ cutoff: regular sectors, no mini stream
    n_stream = -(-len(stream) // SECTOR)
    n_fat = 1
    while n_fat * (SECTOR // 4) < n_stream + 1 + n_fat:
        n_fat += 1
    if n_fat > 109:
        raise ValueError("xls too large for a compound file without DIFAT sectors")
    dir_sector = n_stream
    fat_start = n_stream + 1
    fat = [i + 1 for i in range(n_stream - 1)] + [ENDOFCHAIN, ENDOFCHAIN] + [FATSECT] * n_fat
    fat += [FREESECT] * (n_fat * SECTOR // 4 - len(fat))
    difat = list(range(fat_start, fat_start + n_fat)) + [FREESECT] * (109 - n_fat)
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\x00" * 16
        + struct.pack("<HHHHH", 0x003E, 0x0003, 0xFFFE, 9, 6)
        + b"\x00" * 6
        + struct.pack("<IIIIIIIII", 0, n_fat, dir_sector, 0, 4096, ENDOFCHAIN, 0, ENDOFCHAIN, 0)
        + struct.pack("<109I", *difat)
    )

    def entry(label: str, kind: int, child: int, start: int, size: int) -> bytes:
        encoded = (label.encode("utf-16-le") + b"\x00\x00") if label else b""
        return (
            encoded.ljust(64, b"\x00")
            + struct.pack("<HBB", len(encoded), kind, 1)
            + struct.pack("<III", NOSTREAM, NOSTREAM, child)
            + b"\x00" * 16
            + b"\x00" * 4
            + b"\x00" * 16
            + struct.pack("<IQ", start, size)
        )

    directory = (
        entry("Root Entry", 5, 1, ENDOFCHAIN, 0)
        + entry(name, 2, NOSTREAM, 0, len(stream))
        + (
            b"\x00" * 64
            + struct.pack("<HBB", 0, 0, 0)
            + struct.pack("<III", NOSTREAM, NOSTREAM, NOSTREAM)
            + b"\x00" * 48
        )
        * 2
    )
    body = stream.ljust(n_stream * SECTOR, b"\x00") + directory + struct.pack(f"<{len(fat)}I", *fat)
    return header + body


def write_xls(path: Path, sheets: Sequence[tuple[str, Sequence[Sequence[object]]]]) -> None:
    """Write ``sheets`` (name, rows) to ``path`` as a BIFF8 ``.xls`` workbook."""
    path.write_bytes(compound_file(workbook_stream(sheets)))
