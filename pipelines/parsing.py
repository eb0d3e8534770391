"""Read what bureaus really send into a typed frame, driven by the dataset's contract.

Decoding (UTF-8, UTF-8 BOM, GBK, GB18030, detected not declared), table reading (CSV,
``.xlsx`` with title rows / blank rows / 合计 footers, JSON Lines), header matching and
value normalisation (Chinese dates, full-width digits, thousands separators, missing
tokens). A file that cannot be read raises :class:`UnreadableFile` with a reason a
clerk can act on; a value that cannot be typed becomes a ``<column>.type`` failure of
its row, never a crash.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime

import polars as pl

from pipelines import pii, rules, xlsx_guard
from pipelines.contracts import Contract, normalize_header

ROW_NUMBER = "_row_number"
FOOTER_PREFIXES = ("合计", "总计", "小计", "制表人", "制表", "审核人", "填报人", "负责人")
MAX_HEADER_SCAN_ROWS = 30
NO_HEADER = "未找到表头：列名与数据规范不符 / no header row matching the contract's column names"
MIN_YEAR, MAX_YEAR = 1900, 2100
# Rule id of a record that cannot be split into fields: a CSV row with the wrong number of
# fields, a JSON Lines line that is not a JSON object (or names one column twice).
MALFORMED_RULE = {
    "csv": rules.ROW_FIELD_COUNT.id,
    "xlsx": rules.ROW_FIELD_COUNT.id,
    "xls": rules.ROW_FIELD_COUNT.id,
    "jsonl": rules.ROW_JSON.id,
}
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls (BIFF8 in a compound file)
ZIP_MAGIC = b"PK\x03\x04"  # .xlsx
MAX_XLSX_UNCOMPRESSED = 512 * 1024 * 1024  # all parts of an .xlsx, unpacked
MAX_XLSX_RATIO = 200  # unpacked / packed size, of the whole file and of each part
POLARS_TYPES = {
    "string": pl.String,
    "integer": pl.Int64,
    "number": pl.Float64,
    "date": pl.Date,
    "timestamp": pl.Datetime("us"),
}


# --- the accepted spellings of values (spec §1): ONE table, used by the parser and the README --


@dataclass(frozen=True)
class Spelling:
    """One accepted way of writing a value.

    ``kind``: ``number``, ``date``, ``time`` (the time part of a timestamp, after its date),
    ``offset`` (an optional UTC offset after a timestamp) or ``missing``. ``pattern`` is a
    regular expression on the value after full-width forms became ASCII (NFKC) and
    surrounding spaces were trimmed; date and time patterns name their parts ``y m d`` /
    ``H M S``. For ``missing`` it is the token itself (compared case-insensitively).
    """

    kind: str
    pattern: str
    examples: tuple[str, ...]
    note: str = ""


SPELLINGS: tuple[Spelling, ...] = (
    Spelling("number", r"[+-]?\d+(?:\.\d*)?", ("123", "-4.5", "１２３", "12."), "digits, full-width digits too"),
    Spelling(
        "number",
        r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?",
        ("1,234,567.5", "１，２３４"),
        "thousands separators: commas between groups of three digits only "
        "(`1,2,3`, `1,5`, `12,34`, `1 234` are type errors)",
    ),
    Spelling("number", r"[+-]?\.\d+", (".5",), "no digit before the decimal point"),
    Spelling(
        "number",
        r"[+-]?(?:\d+\.?\d*|\.\d+)[eE][+-]?\d+",
        ("1e3", "2.5E-3"),
        "exponent (machine feeds); not for integers",
    ),
    Spelling("date", r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})", ("2026-03-05", "2026-3-5")),
    Spelling("date", r"(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})", ("2026/3/5",)),
    Spelling("date", r"(?P<y>\d{4})\.(?P<m>\d{1,2})\.(?P<d>\d{1,2})", ("2026.3.5",)),
    Spelling("date", r"(?P<y>\d{4})年(?P<m>\d{1,2})月(?P<d>\d{1,2})日", ("2026年3月5日",)),
    Spelling("date", r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})", ("20260305",)),
    Spelling(
        "time",
        r"(?P<H>\d{1,2}):(?P<M>\d{1,2})(?::(?P<S>\d{1,2})(?:\.\d+)?)?",
        ("14:07", "14:07:30", "14:07:30.250"),
        "after the date and a space or `T`; fractions of a second dropped",
    ),
    Spelling(
        "time",
        r"(?P<H>\d{1,2})时(?:(?P<M>\d{1,2})分(?:(?P<S>\d{1,2})秒)?)?",
        ("14时07分", "14时07分30秒", "14时"),
        "after the date (a space is optional after `日`)",
    ),
    Spelling(
        "offset", r"Z|[+-]\d{2}:?\d{2}", ("Z", "+08:00", "+0800"), "UTC offset (JSON feeds); converted to Beijing time"
    ),
    *(Spelling("missing", token, (token,)) for token in ("", "—", "——", "-", "－", "/", "／", "无")),
    Spelling("missing", "NULL", ("NULL", "null"), "any letter case"),
    Spelling("missing", "None", ("None",), "any letter case"),
    Spelling("missing", "N/A", ("N/A",), "any letter case"),
)
MISSING_TOKENS = frozenset(s.pattern.lower() for s in SPELLINGS if s.kind == "missing")
_NUMBER_RE = "^(?:" + "|".join(s.pattern for s in SPELLINGS if s.kind == "number") + ")$"
_INTEGER_DIGITS_RE = r"^[+-]?\d+(?:\.0*)?$"  # an accepted number, separators removed, that is whole
_OFFSET_RE = "|".join(s.pattern for s in SPELLINGS if s.kind == "offset")


def _temporal_patterns(logical_type: str) -> list[str]:
    """Full-value regexes of every date spelling (timestamps: date [+ time] [+ offset])."""
    dates = [s.pattern for s in SPELLINGS if s.kind == "date"]
    if logical_type == "date":
        return [f"^{d}$" for d in dates]
    times = [s.pattern for s in SPELLINGS if s.kind == "time"]
    out = []
    for d in dates:
        sep = r"\s*" if d.endswith("日") else r"(?:\s+|T)"
        out += [rf"^{d}(?:{sep}{t})?\s*(?P<tz>{_OFFSET_RE})?$" for t in times]
    return out


def spellings_markdown() -> str:
    """The README section listing every accepted spelling (generated from :data:`SPELLINGS`)."""
    titles = {
        "number": "Numbers (integer and decimal columns)",
        "date": "Dates",
        "time": "Times of day in timestamps (a timestamp is a date, optionally followed by a time)",
        "offset": "UTC offsets after a timestamp",
        "missing": "Missing values",
    }
    lines = [
        "Accepted spellings of values (generated from `pipelines/parsing.py: SPELLINGS`; "
        "a test keeps this section equal to it). Values are first trimmed and full-width "
        "forms made half-width (`１２３` = `123`, `（` = `(`).",
        "",
    ]
    for kind, title in titles.items():
        lines += [f"**{title}**", "", "| examples | pattern | note |", "|---|---|---|"]
        for s in (s for s in SPELLINGS if s.kind == kind):
            examples = ", ".join(f"`{e}`" if e else "(empty)" for e in s.examples)
            pattern = f"`{s.pattern}`" if s.pattern else "(empty)"
            lines.append(f"| {examples} | {pattern.replace('|', chr(92) + '|')} | {s.note} |")
        lines.append("")
    return "\n".join(lines)


SPELLINGS_START, SPELLINGS_END = "<!-- spellings:start -->", "<!-- spellings:end -->"


def with_spellings_section(readme: str) -> str:
    """``readme`` with the text between the spellings markers replaced by :func:`spellings_markdown`."""
    head, start, rest = readme.partition(SPELLINGS_START)
    _, end, tail = rest.partition(SPELLINGS_END)
    if not start or not end:
        raise ValueError(f"README lacks the {SPELLINGS_START} / {SPELLINGS_END} markers")
    return f"{head}{SPELLINGS_START}\n{spellings_markdown()}\n{SPELLINGS_END}{tail}"


class UnreadableFile(Exception):
    """The file as a whole cannot be read; the message is shown in the receipt, ``rule`` is the
    rejection's rule id (:data:`pipelines.rules.FILE_READABLE`)."""

    rule = rules.FILE_READABLE.id


@dataclass
class ParsedFile:
    """A file read into canonical, typed columns plus ``_row_number`` (row in the file)."""

    frame: pl.DataFrame
    raw: pl.DataFrame
    encoding: str
    file_format: str
    rows_received: int
    type_failures: dict[str, list[int]] = field(default_factory=dict)
    unknown_columns: list[str] = field(default_factory=list)
    missing_optional_columns: list[str] = field(default_factory=list)
    sheet_name: str | None = None  # the workbook sheet read (xls / xlsx), for the receipt


def detect_encoding(data: bytes) -> str:
    """BOM → UTF-8 with BOM; else the first of UTF-8, GBK, GB18030 that decodes strictly."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    for encoding in ("utf-8", "gbk", "gb18030"):
        try:
            data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    raise UnreadableFile("无法识别文件编码（支持 UTF-8、GBK、GB18030） / unknown text encoding")


def _is_blank(cells: list) -> bool:
    return all(c is None or str(c).strip() == "" for c in cells)


def _is_footer(cells: list) -> bool:
    first = next((str(c).strip() for c in cells if c is not None and str(c).strip()), "")
    return first.startswith(FOOTER_PREFIXES)


def _cell_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):  # Excel stores dates as midnight datetimes: keep them dates
        return value.strftime("%Y-%m-%d" if value.time() == datetime.min.time() else "%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _csv_text(data: bytes) -> tuple[str, str]:
    encoding = detect_encoding(data)
    text = data.decode(encoding)
    if "\x00" in text:
        raise UnreadableFile("文件含有二进制内容，不是文本 CSV / binary content in a CSV file")
    return text, encoding


def _csv_rows(text: str) -> list[tuple[int, list]]:
    rows = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:  # row numbers count records, as a spreadsheet shows them (a quoted newline stays in its row)
        for n, row in enumerate(reader, start=1):
            rows.append((n, row))
    except csv.Error as exc:
        raise UnreadableFile(f"CSV 格式错误 / malformed CSV: {exc}") from None
    return rows


_BLANK_CELLS = r"^[,\s]*$"


def _csv_frame_fast(text: str, contract: Contract) -> tuple[pl.DataFrame, list[str], list[int]] | None:
    """The CSV reader of :func:`read_records`, vectorised in polars, for the common file with no
    quoting: same rows, row numbers, header search, footer cut and field-count check as the
    row-by-row path. ``None`` when the file needs the full CSV dialect (quotes, bare CR)."""
    if '"' in text:
        return None
    text = text.replace("\r\n", "\n")
    if "\r" in text:
        return None
    lines = pl.DataFrame({"line": text.split("\n")}).with_row_index("n", offset=1)
    lines = lines.filter(~pl.col("line").str.contains(_BLANK_CELLS))
    head = [(int(n), line.split(",")) for n, line in lines.head(MAX_HEADER_SCAN_ROWS).iter_rows()]
    start = _find_header(head, contract)
    mapped, unknown = _map_headers(head[start][1], contract)
    width = len(mapped)
    body = lines.slice(start + 1)
    rest = pl.col("line").str.replace(r"^[,\s]+", "")
    footer = pl.any_horizontal([rest.str.starts_with(p) for p in FOOTER_PREFIXES])
    cut = body.select(footer.arg_true().first()).item()
    if cut is not None:
        body = body.head(cut)
    body = body.with_columns(cells=pl.col("line").str.split(","))
    body = body.with_columns(n_cells=pl.col("cells").list.len())
    odd = body.filter(pl.col("n_cells") != width)  # rare: checked row by row below
    extra_blank = odd.filter(
        (pl.col("n_cells") > width) & (pl.col("cells").list.slice(width).list.join("").str.replace_all(r"\s", "") == "")
    )["n"]
    bad_width = odd.filter(~pl.col("n").is_in(extra_blank))["n"].cast(pl.Int64).to_list()
    frame = body.select(
        [pl.col("cells").list.get(i, null_on_oob=True).alias(m) for i, m in enumerate(mapped) if m]
        + [pl.col("n").cast(pl.Int64).alias(ROW_NUMBER)]
    )
    return frame, unknown, bad_width


def _workbook_format(data: bytes, filename: str) -> str:
    """``xls`` or ``xlsx`` by content (magic bytes), whatever the name says; a workbook name on
    something else is rejected with what the file really is."""
    if data.startswith(OLE2_MAGIC):
        return "xls"
    if data.startswith(ZIP_MAGIC):
        return "xlsx"
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html", b"<table", b"<meta")) or b"<table" in head:
        raise UnreadableFile(
            "文件扩展名为 Excel，内容却是网页（HTML 表格）；请另存为 .xlsx 或 .csv 后重新报送 "
            "/ named like an Excel file but it is an HTML page: save it as .xlsx or .csv"
        )
    if head.startswith(b"<?xml"):
        raise UnreadableFile(
            "文件是 XML 表格（Excel 2003 XML），不支持；请另存为 .xlsx 或 .csv "
            "/ XML spreadsheet (Excel 2003 XML) is not supported: save it as .xlsx or .csv"
        )
    kind = "文本（可能是 CSV）/ text (CSV?)" if b"\x00" not in data[:4096] else "未知二进制 / unknown binary"
    raise UnreadableFile(
        f"文件扩展名为 {filename.rsplit('.', 1)[-1]}，内容却不是 Excel 工作簿：{kind}；"
        "CSV 请以 .csv 扩展名报送 / not an Excel workbook by content"
    )


def _check_zip(data: bytes) -> None:
    """Refuse an .xlsx that unpacks to more than ``MAX_XLSX_UNCOMPRESSED`` bytes, or to more than
    ``MAX_XLSX_RATIO`` times its packed size (the whole file or any one part), before reading it."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            parts = zf.infolist()
    except zipfile.BadZipFile:
        raise UnreadableFile("Excel 文件已损坏或不完整 / broken or truncated xlsx") from None
    total = sum(i.file_size for i in parts)
    packed = sum(i.compress_size for i in parts) or 1
    worst = max((i.file_size / max(i.compress_size, 1) for i in parts if i.file_size > 1 << 20), default=0)
    if total > MAX_XLSX_UNCOMPRESSED or total / packed > MAX_XLSX_RATIO or worst > MAX_XLSX_RATIO:
        raise UnreadableFile(
            f"Excel 文件解压后过大（疑似压缩炸弹）：解压 {total} 字节，"
            f"为压缩大小的 {max(total / packed, worst):.0f} 倍，"
            f"上限 {MAX_XLSX_UNCOMPRESSED} 字节、{MAX_XLSX_RATIO} 倍 / xlsx expands too much"
        )


def max_sheet_rows() -> int:
    """Rows read from a workbook sheet at most (``SHUZHONG_MAX_SHEET_ROWS``; default Excel's
    1,048,576); a sheet with more is rejected rather than read without bound."""
    return int(os.environ.get("SHUZHONG_MAX_SHEET_ROWS", str(1_048_576)))


_MIDNIGHT = re.compile(r"^(\d{4}-\d{2}-\d{2}) 00:00:00$")


def _sheet_cell(value: str | None) -> str | None:
    """A cell as calamine gives it in text: a date cell (midnight datetime) stays a date."""
    if value is None:
        return None
    midnight = _MIDNIGHT.match(value)
    return midnight.group(1) if midnight else value


def _workbook_sheets(data: bytes, fmt: str) -> list[tuple[str, list[tuple[int, list]]]]:
    """Every sheet of an ``.xls`` or ``.xlsx`` workbook (one reader, calamine via fastexcel) as
    (name, [(sheet row number, cells)]): row 1 is the sheet's first row, whatever is empty."""
    import fastexcel

    cap = max_sheet_rows()
    if fmt == "xlsx":
        _check_zip(data)
        try:
            xlsx_guard.check_sheets(data, cap)
        except xlsx_guard.SheetTooLarge as exc:
            raise UnreadableFile(str(exc)) from None
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError):
            raise UnreadableFile("Excel 文件已损坏或不完整 / broken or truncated xlsx") from None
    try:
        reader = fastexcel.read_excel(data)
        sheets = []
        for name in reader.sheet_names:
            sheet = reader.load_sheet(name, header_row=None, skip_rows=0, dtypes="string", n_rows=cap + 1)
            frame = sheet.to_polars()
            if frame.height > cap:
                raise UnreadableFile(f"工作表「{name}」超过 {cap} 行的上限 / sheet {name!r} has more than {cap} rows")
            sheets.append(
                (name, [(i, [_sheet_cell(v) for v in row]) for i, row in enumerate(frame.iter_rows(), start=1)])
            )
    except UnreadableFile:
        raise
    except Exception as exc:  # noqa: BLE001 — any reader failure means the file is unreadable
        raise UnreadableFile(f"无法读取 Excel 文件 / cannot read {fmt}: {type(exc).__name__}") from None
    return sheets


def _data_sheet(sheets: list[tuple[str, list[tuple[int, list]]]], contract: Contract) -> tuple[str, list]:
    """The one sheet whose header row matches the contract (spec §1); others (填表说明, a summary,
    empty sheets) are ignored. None or several → the file is rejected, naming the sheets found."""
    matching = []
    for name, rows in sheets:
        rows = [(n, cells) for n, cells in rows if not _is_blank(cells)]
        try:
            _find_header(rows, contract)
        except UnreadableFile:
            continue
        matching.append((name, rows))
    found = "、".join(name for name, _ in sheets) or "-"
    if not matching:
        raise UnreadableFile(f"{NO_HEADER}（工作表 / sheets: {found}）")
    if len(matching) > 1:
        names = "、".join(name for name, _ in matching)
        raise UnreadableFile(
            f"多个工作表的表头都与数据规范一致，无法确定数据所在工作表：{names}"
            f"（工作表 / sheets: {found}） / several sheets match the contract's header"
        )
    return matching[0]


def _jsonl_text(data: bytes) -> tuple[str, str]:
    """Text and encoding of a JSON Lines file. A UTF-8 file whose last line was cut off inside a
    multi-byte character stays UTF-8 (that line is quarantined), not taken for GBK."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as cut:
        if cut.reason == "unexpected end of data" and cut.end == len(data):
            bom = data.startswith(b"\xef\xbb\xbf")
            return data[3 if bom else 0 : cut.start].decode("utf-8") + "\ufffd", "utf-8-sig" if bom else "utf-8"
    encoding = detect_encoding(data)
    return data.decode(encoding), encoding


def _jsonl_rows(data: bytes, contract: Contract) -> tuple[list[dict], list[int], list[int], list[str], str]:
    """Records keyed by canonical column (each line's keys mapped on its own), line numbers,
    malformed lines (not a JSON object, or one column given twice), unknown keys, encoding."""
    text, encoding = _jsonl_text(data)
    known = contract.header_map()
    records, line_numbers, bad, unknown = [], [], [], []
    # Lines end at "\n" only (a JSON string may hold U+2028, \x1c, ...): row number = line number.
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        record: dict[str, str | None] = {}
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            obj = None
        if isinstance(obj, dict):
            for k, v in obj.items():
                name = known.get(normalize_header(k))
                if name is None:
                    if str(k).strip() and str(k).strip()[:64] not in unknown:
                        unknown.append(str(k).strip()[:64])
                elif name in record:
                    obj = None  # the same column twice in one record
                    break
                else:
                    record[name] = _cell_text(v)
        if not isinstance(obj, dict):
            bad.append(n)
            record = {}
        records.append(record)
        line_numbers.append(n)
    if len(bad) == len(records):
        raise UnreadableFile("JSON Lines 文件没有可读记录 / no readable JSON records")
    return records, line_numbers, bad, unknown, encoding


# Characters other readers take for line breaks, which polars and str.split("\n") do not.
# (A blank or whitespace-only line needs no search: it fails the "{...}" check of every line.)
_LINE_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def _json_text(column: pl.Series) -> pl.Series | None:
    """A JSON column as the text :func:`_cell_text` gives its values; None for nested values."""
    dtype = column.dtype
    if dtype == pl.String:
        return column
    if dtype == pl.Null:
        return column.cast(pl.String)
    if dtype == pl.Boolean:
        return pl.select(pl.when(column).then(pl.lit("True")).otherwise(pl.lit("False"))).to_series()
    if dtype.is_integer():
        return column.cast(pl.String)
    if dtype.is_float():
        whole = column.is_finite() & (column == column.round(0)) & (column.abs() < 2**53)
        return pl.select(
            pl.when(whole).then(column.cast(pl.Int64, strict=False).cast(pl.String)).otherwise(column.cast(pl.String))
        ).to_series()
    return None


def _jsonl_frame_fast(data: bytes, contract: Contract) -> tuple[pl.DataFrame, list[str], str] | None:
    """JSON Lines read by polars when every line is a flat JSON object (no blank lines, no nested
    values, no two keys naming one column): same frame as the line-by-line path. ``None`` otherwise."""
    text, encoding = _jsonl_text(data)
    text = text.replace("\r\n", "\n").rstrip("\n")
    if any(c in text for c in _LINE_BREAKS):  # a substring test per character: ~40x a regex search
        return None
    lines = pl.Series(text.split("\n")).str.strip_chars()
    if not (lines.str.starts_with("{") & lines.str.ends_with("}")).all():
        return None
    try:
        raw = pl.read_ndjson(io.BytesIO(text.encode("utf-8")), infer_schema_length=None)
    except Exception:  # noqa: BLE001 — anything polars can't read goes the line-by-line way
        return None
    if raw.height != len(lines):
        return None
    known = contract.header_map()
    columns: dict[str, pl.Series] = {}
    unknown: list[str] = []
    for key in raw.columns:
        name = known.get(normalize_header(key))
        if name is None:
            if key.strip() and key.strip()[:64] not in unknown:
                unknown.append(key.strip()[:64])
            continue
        values = _json_text(raw[key])
        if values is None or name in columns:
            return None
        columns[name] = values.alias(name)
    names = [f.name for f in contract.fields if f.name in columns]
    frame = pl.DataFrame([columns[m] for m in names], schema={m: pl.String for m in names})
    return frame.with_columns(pl.Series(ROW_NUMBER, range(1, raw.height + 1), dtype=pl.Int64)), unknown, encoding


def _find_header(rows: list[tuple[int, list]], contract: Contract) -> int:
    known = contract.header_map()
    for idx, (_, cells) in enumerate(rows[:MAX_HEADER_SCAN_ROWS]):
        names = [normalize_header(c) for c in cells if c is not None and str(c).strip()]
        if names and sum(n in known for n in names) >= max(2, len(names) // 2):
            return idx
    raise UnreadableFile(NO_HEADER)


def _map_headers(header: list, contract: Contract) -> tuple[list[str | None], list[str]]:
    known = contract.header_map()
    mapped: list[str | None] = []
    unknown: list[str] = []
    for cell in header:
        name = known.get(normalize_header(cell)) if cell is not None else None
        if name is None and cell is not None and str(cell).strip():
            unknown.append(str(cell).strip()[:64])
        mapped.append(name)
    dups = sorted({n for n in mapped if n is not None and mapped.count(n) > 1})
    if dups:
        raise UnreadableFile(f"表头重复 / duplicated columns: {', '.join(dups)}")
    return mapped, unknown


def read_records(
    data: bytes, filename: str, contract: Contract
) -> tuple[pl.DataFrame, str, str, list[str], list[int], str | None]:
    """Raw string records with canonical column names and ``_row_number``, encoding, format,
    unknown columns, the row numbers of malformed records (wrong field count, broken JSON line;
    in the frame too, cells as far as they could be read, so they are quarantined with their
    row) and the workbook sheet read (None for CSV and JSON Lines)."""
    lower = filename.lower()
    if not data.strip():
        raise UnreadableFile("文件为空 / empty file")
    if lower.endswith(".jsonl") or lower.endswith(".ndjson") or lower.endswith(".json"):
        fast = _jsonl_frame_fast(data, contract)
        if fast is not None:
            return fast[0], fast[2], "jsonl", fast[1], [], None
        records, line_numbers, bad, unknown, encoding = _jsonl_rows(data, contract)
        names = [f.name for f in contract.fields if any(f.name in r for r in records)]
        frame = pl.DataFrame({m: [r.get(m) for r in records] for m in names}, schema={m: pl.String for m in names})
        frame = frame.with_columns(pl.Series(ROW_NUMBER, line_numbers, dtype=pl.Int64))
        return frame, encoding, "jsonl", unknown, bad, None
    sheet = None
    if lower.endswith((".xlsx", ".xls")):
        fmt = _workbook_format(data, filename)
        sheet, rows = _data_sheet(_workbook_sheets(data, fmt), contract)
        encoding = fmt
    elif lower.endswith((".csv", ".txt")):
        if data.startswith((OLE2_MAGIC, ZIP_MAGIC)):
            raise UnreadableFile(
                "文件扩展名为 .csv，内容却是 Excel 工作簿；请使用 .xlsx / .xls 扩展名 "
                "/ named .csv but it is an Excel workbook"
            )
        text, encoding = _csv_text(data)
        fast = _csv_frame_fast(text, contract)
        if fast is not None:
            return fast[0], encoding, "csv", fast[1], fast[2], None
        rows, fmt = _csv_rows(text), "csv"
    else:
        raise UnreadableFile("不支持的文件格式（仅 CSV、XLSX、XLS、JSONL） / unsupported file type")
    rows = [(n, cells) for n, cells in rows if not _is_blank(cells)]
    start = _find_header(rows, contract)
    mapped, unknown = _map_headers(rows[start][1], contract)
    width = len(mapped)
    columns: dict[str, list] = {m: [] for m in mapped if m}
    numbers: list[int] = []
    bad_width: list[int] = []
    for n, cells in rows[start + 1 :]:
        if _is_footer(cells):
            break
        if len(cells) != width and not (len(cells) > width and _is_blank(cells[width:])):
            if fmt == "csv":
                bad_width.append(n)
            cells = (list(cells) + [None] * width)[:width]
        for m, value in zip(mapped, cells, strict=False):
            if m:
                columns[m].append(value)
        numbers.append(n)
    frame = pl.DataFrame(columns, schema={m: pl.String for m in columns})
    frame = frame.with_columns(pl.Series(ROW_NUMBER, numbers, dtype=pl.Int64))
    return frame, encoding, fmt, unknown, bad_width, sheet


def _nfkc(expr: pl.Expr) -> pl.Expr:
    return expr.str.normalize("NFKC")


def _missing_to_null(expr: pl.Expr) -> pl.Expr:
    stripped = expr.str.strip_chars()
    return pl.when(stripped.str.to_lowercase().is_in(list(MISSING_TOKENS))).then(None).otherwise(stripped)


LOCAL_UTC_OFFSET_MINUTES = 8 * 60  # Asia/Shanghai (no DST): timestamps are stored as naive local time


def _temporal_text(text: pl.Expr, pattern: str, logical_type: str) -> pl.Expr:
    """``YYYY-MM-DD[ HH:MM:SS]`` of the values matching one spelling's ``pattern`` (else null),
    and the UTC offset text where the value has one."""
    parts = text.str.extract_groups(pattern)
    names = set(re.findall(r"\(\?P<(\w+)>", pattern))

    def pad(name: str, width: int) -> pl.Expr:
        value = parts.struct.field(name) if name in names else pl.lit(None, dtype=pl.String)
        return value.fill_null("0").str.zfill(width)

    pieces = [pad("y", 4), pl.lit("-"), pad("m", 2), pl.lit("-"), pad("d", 2)]
    if logical_type == "timestamp":
        pieces += [pl.lit(" "), pad("H", 2), pl.lit(":"), pad("M", 2), pl.lit(":"), pad("S", 2)]
    year = parts.struct.field("y").cast(pl.Int64, strict=False)
    ok = year.is_between(MIN_YEAR, MAX_YEAR)  # a year outside is a typo, not a date (e.g. 1899, 9999)
    return pl.when(ok).then(pl.concat_str(pieces))


def _parse_temporal(expr: pl.Expr, logical_type: str) -> pl.Expr:
    """A date or timestamp written in any spelling of :data:`SPELLINGS`; null if none reads it
    (also an impossible date or time: ``2026-02-30``, ``24:00``)."""
    patterns = _temporal_patterns(logical_type)
    iso = pl.coalesce([_temporal_text(expr, p, logical_type) for p in patterns])
    if logical_type == "date":
        return iso.str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    local = iso.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False)
    # An explicit UTC offset (JSON feeds: ``2026-03-05T14:00:00+08:00`` or ``...Z``) → local time.
    offset = expr.str.extract(f"(?:{_OFFSET_RE})$", 0).str.replace("Z", "+00:00").str.replace(":", "")
    sign = pl.when(offset.str.slice(0, 1) == "-").then(-1).otherwise(1)
    minutes = sign * (offset.str.slice(1, 2).cast(pl.Int64) * 60 + offset.str.slice(3, 2).cast(pl.Int64))
    shift = pl.duration(minutes=pl.lit(LOCAL_UTC_OFFSET_MINUTES, dtype=pl.Int64) - minutes)
    return pl.when(offset.is_null()).then(local).otherwise(local + shift)


def _parse_number(expr: pl.Expr, logical_type: str) -> pl.Expr:
    """A number in a spelling of :data:`SPELLINGS` (full-width forms are already ASCII); null if none."""
    accepted = expr.str.contains(_NUMBER_RE)
    text = expr.str.replace_all(",", "", literal=True)
    if logical_type == "integer":
        return pl.when(accepted & text.str.contains(_INTEGER_DIGITS_RE)).then(
            text.str.replace(r"\.0*$", "").cast(pl.Int64, strict=False)
        )
    number = pl.when(accepted).then(text.cast(pl.Float64, strict=False))
    return pl.when(number.is_finite()).then(number)  # no nan/inf


def _normalise_phone(expr: pl.Expr) -> pl.Expr:
    return expr.map_elements(pii.normalize_phone, return_dtype=pl.String)


def _normalise_identifier(expr: pl.Expr) -> pl.Expr:
    """Resident ID / USCC: full-width → ASCII, no spaces, upper case (``x`` = ``X``)."""
    return expr.map_elements(pii.normalize_resident_id, return_dtype=pl.String)


def _on_distinct(column: pl.Series, fn) -> pl.Series:
    """``fn`` applied to each distinct value once (machine feeds repeat timestamps across rows)."""
    lookup = pl.DataFrame({"v": column.unique().drop_nulls()}).with_columns(out=fn(pl.col("v")))
    joined = column.to_frame("v").join(lookup, on="v", how="left", maintain_order="left")
    return joined["out"].alias(column.name)


def type_frame(raw: pl.DataFrame, contract: Contract) -> tuple[pl.DataFrame, dict[str, list[int]]]:
    """Normalise and type every contract column; unparseable values become type failures."""
    cleaned, typed, failures = [], [], {}
    for f in contract.fields:
        col = pl.col(f.name)
        if (f.logical_type != "string" or f.pattern or f.valid_values or f.format or f.identifier_kinds) and raw[
            f.name
        ].str.contains(r"[^\x00-\x7f]").any():  # NFKC changes nothing in ASCII
            col = _nfkc(col)
        cleaned.append(_missing_to_null(col).alias(f.name))
    frame = raw.with_columns(cleaned)
    for f in contract.fields:
        col = pl.col(f.name)
        if f.logical_type in ("date", "timestamp"):
            typed.append(_on_distinct(frame[f.name], lambda e, t=f.logical_type: _parse_temporal(e, t)))
        elif f.logical_type in ("integer", "number"):
            typed.append(_parse_number(col, f.logical_type).alias(f.name))
        elif f.format == "phone":
            typed.append(_normalise_phone(col).alias(f.name))
        elif set(f.identifier_kinds) & {"resident_id", "uscc"}:
            typed.append(_normalise_identifier(col).alias(f.name))
        else:
            typed.append(col)
    out = frame.with_columns(typed)
    for f in contract.fields:
        if f.logical_type == "string":
            continue
        bad = frame.filter(pl.col(f.name).is_not_null() & out[f.name].is_null())
        if bad.height:
            failures[rules.FIELD_TYPE.rule_id(f.name)] = bad[ROW_NUMBER].to_list()
    return out, failures


def parse_file(data: bytes, filename: str, contract: Contract) -> ParsedFile:
    """Read, map headers and type one submitted file."""
    raw, encoding, fmt, unknown, malformed, sheet = read_records(data, filename, contract)
    missing_required = [c for c in contract.required_columns if c not in raw.columns]
    if missing_required:
        names = ", ".join(f"{contract.field(c).business_name}({c})" for c in missing_required)
        raise UnreadableFile(f"缺少必填列 / missing required columns: {names}")
    missing_optional = [f.name for f in contract.fields if f.name not in raw.columns]
    if missing_optional:
        raw = raw.with_columns([pl.lit(None, dtype=pl.String).alias(c) for c in missing_optional])
    raw = raw.select([f.name for f in contract.fields] + [ROW_NUMBER])
    # Malformed records stay in ``raw`` (quarantined with their row) but are not typed or validated.
    frame, failures = type_frame(raw.filter(~pl.col(ROW_NUMBER).is_in(malformed)), contract)
    if malformed:
        failures[MALFORMED_RULE[fmt]] = malformed
    return ParsedFile(
        frame=frame.cast({f.name: POLARS_TYPES[f.logical_type] for f in contract.fields}),
        raw=raw,
        encoding=encoding,
        file_format=fmt,
        rows_received=raw.height,
        type_failures=failures,
        unknown_columns=unknown,
        missing_optional_columns=missing_optional,
        sheet_name=sheet,
    )
