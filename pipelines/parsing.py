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
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime

import polars as pl

from pipelines import pii
from pipelines.contracts import Contract, normalize_header

ROW_NUMBER = "_row_number"
MISSING_TOKENS = {"", "—", "——", "-", "－", "/", "／", "无", "null", "none", "n/a"}
FOOTER_PREFIXES = ("合计", "总计", "小计", "制表人", "制表", "审核人", "填报人", "负责人")
MAX_HEADER_SCAN_ROWS = 30
MIN_YEAR, MAX_YEAR = 1900, 2100
# Rule id of a record that cannot be split into fields: a CSV row with the wrong number of
# fields, a JSON Lines line that is not a JSON object (or names one column twice).
MALFORMED_RULE = {"csv": "row.field_count", "xlsx": "row.field_count", "jsonl": "row.json"}
MAX_XLSX_UNCOMPRESSED = 512 * 1024 * 1024
MAX_XLSX_RATIO = 200
POLARS_TYPES = {
    "string": pl.String,
    "integer": pl.Int64,
    "number": pl.Float64,
    "date": pl.Date,
    "timestamp": pl.Datetime("us"),
}


class UnreadableFile(Exception):
    """The file as a whole cannot be read; the message is shown in the receipt."""


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
        (pl.col("n_cells") > width)
        & (pl.col("cells").list.slice(width).list.join("").str.replace_all(r"\s", "") == "")
    )["n"]
    bad_width = odd.filter(~pl.col("n").is_in(extra_blank))["n"].cast(pl.Int64).to_list()
    frame = body.select(
        [pl.col("cells").list.get(i, null_on_oob=True).alias(m) for i, m in enumerate(mapped) if m]
        + [pl.col("n").cast(pl.Int64).alias(ROW_NUMBER)]
    )
    return frame, unknown, bad_width


def _xlsx_rows(data: bytes) -> list[tuple[int, list]]:
    import openpyxl

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            total = sum(i.file_size for i in zf.infolist())
            packed = sum(i.compress_size for i in zf.infolist()) or 1
            if total > MAX_XLSX_UNCOMPRESSED or total / packed > MAX_XLSX_RATIO * 10:
                raise UnreadableFile("Excel 文件解压后过大（疑似压缩炸弹） / xlsx expands too much")
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except UnreadableFile:
        raise
    except Exception as exc:  # noqa: BLE001 — any reader failure means the file is unreadable
        raise UnreadableFile(f"无法读取 Excel 文件 / cannot read xlsx: {type(exc).__name__}") from None
    try:
        ws = wb.worksheets[0]
        return [
            (i, [_cell_text(v) for v in row])
            for i, row in enumerate(ws.iter_rows(values_only=True), start=1)
        ]
    finally:
        wb.close()


def _jsonl_rows(data: bytes, contract: Contract) -> tuple[list[dict], list[int], list[int], list[str], str]:
    """Records keyed by canonical column (each line's keys mapped on its own), line numbers,
    malformed lines (not a JSON object, or one column given twice), unknown keys, encoding."""
    encoding = detect_encoding(data)
    known = contract.header_map()
    records, line_numbers, bad, unknown = [], [], [], []
    for n, line in enumerate(data.decode(encoding).splitlines(), start=1):
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


_LINE_BREAKS = re.compile(r"[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]|\n\s*\n|^\s*\n")


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
    encoding = detect_encoding(data)
    text = data.decode(encoding).replace("\r\n", "\n").rstrip("\n")
    if _LINE_BREAKS.search(text):
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
    raise UnreadableFile(
        "未找到表头：列名与数据规范不符 / no header row matching the contract's column names"
    )


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


def read_records(data: bytes, filename: str, contract: Contract) -> tuple[pl.DataFrame, str, str, list[str], list[int]]:
    """Raw string records with canonical column names and ``_row_number``; plus the row numbers
    of malformed records (wrong field count, broken JSON line), which are in the frame too
    (cells as far as they could be read) so they can be quarantined with their row."""
    lower = filename.lower()
    if not data.strip():
        raise UnreadableFile("文件为空 / empty file")
    if lower.endswith(".jsonl") or lower.endswith(".ndjson") or lower.endswith(".json"):
        fast = _jsonl_frame_fast(data, contract)
        if fast is not None:
            return fast[0], fast[2], "jsonl", fast[1], []
        records, line_numbers, bad, unknown, encoding = _jsonl_rows(data, contract)
        names = [f.name for f in contract.fields if any(f.name in r for r in records)]
        frame = pl.DataFrame(
            {m: [r.get(m) for r in records] for m in names}, schema={m: pl.String for m in names}
        )
        frame = frame.with_columns(pl.Series(ROW_NUMBER, line_numbers, dtype=pl.Int64))
        return frame, encoding, "jsonl", unknown, bad
    if lower.endswith(".xlsx"):
        rows, encoding, fmt = _xlsx_rows(data), "xlsx", "xlsx"
    elif lower.endswith((".csv", ".txt")):
        text, encoding = _csv_text(data)
        fast = _csv_frame_fast(text, contract)
        if fast is not None:
            return fast[0], encoding, "csv", fast[1], fast[2]
        rows, fmt = _csv_rows(text), "csv"
    else:
        raise UnreadableFile("不支持的文件格式（仅 CSV、XLSX、JSONL） / unsupported file type")
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
    return frame, encoding, fmt, unknown, bad_width


def _nfkc(expr: pl.Expr) -> pl.Expr:
    return expr.str.normalize("NFKC")


def _missing_to_null(expr: pl.Expr) -> pl.Expr:
    stripped = expr.str.strip_chars()
    return pl.when(stripped.str.to_lowercase().is_in(list(MISSING_TOKENS))).then(None).otherwise(stripped)


_DATE_RE = r"^(\d{4})-(\d{1,2})-(\d{1,2})$"
_TS_RE = (
    r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.\d+)?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)
LOCAL_UTC_OFFSET_MINUTES = 8 * 60  # Asia/Shanghai (no DST): timestamps are stored as naive local time


def _canonical_datetime_text(expr: pl.Expr) -> pl.Expr:
    """``2026年3月5日 14时07分`` / ``2026/3/5 14:07`` / ``20260305`` → ``2026-3-5 14:07``."""
    return (
        expr.str.replace(r"^(\d{4})(\d{2})(\d{2})($|[ T])", "$1-$2-$3$4")
        .str.replace(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})", "$1-$2-$3")  # 2026.3.5, not 14:07:30.5
        .str.replace_all(r"[年/]", "-")
        .str.replace(r"月", "-")
        .str.replace(r"日", " ")
        .str.replace(r"时$", ":00")  # 2026年3月5日 14时 (hourly feeds)
        .str.replace(r"时", ":")
        .str.replace(r"分", ":")
        .str.replace(r"秒", "")
        .str.replace(r":$", "")
        .str.replace(r"(\d{1,2}:\d{1,2}):$", "$1")
        .str.strip_chars()
    )


def _parse_temporal(expr: pl.Expr, logical_type: str) -> pl.Expr:
    text = _canonical_datetime_text(expr)
    pattern = _DATE_RE if logical_type == "date" else _TS_RE
    parts = text.str.extract_groups(pattern)
    pad = lambda i, w: parts.struct.field(str(i)).fill_null("0").str.zfill(w)  # noqa: E731
    iso = pl.concat_str(
        [pad(1, 4), pl.lit("-"), pad(2, 2), pl.lit("-"), pad(3, 2)]
        + (
            []
            if logical_type == "date"
            else [pl.lit(" "), pad(4, 2), pl.lit(":"), pad(5, 2), pl.lit(":"), pad(6, 2)]
        )
    )
    year = parts.struct.field("1").cast(pl.Int64, strict=False)
    ok = year.is_between(MIN_YEAR, MAX_YEAR)  # a year outside is a typo, not a date (e.g. 1899, 9999)
    if logical_type == "date":
        return pl.when(ok).then(iso.str.strptime(pl.Date, "%Y-%m-%d", strict=False))
    local = iso.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False)
    # An explicit UTC offset (JSON feeds: ``2026-03-05T14:00:00+08:00`` or ``...Z``) → local time.
    offset = parts.struct.field("7").str.replace("Z", "+00:00").str.replace(":", "")
    sign = pl.when(offset.str.slice(0, 1) == "-").then(-1).otherwise(1)
    minutes = sign * (offset.str.slice(1, 2).cast(pl.Int64) * 60 + offset.str.slice(3, 2).cast(pl.Int64))
    shift = pl.duration(minutes=pl.lit(LOCAL_UTC_OFFSET_MINUTES, dtype=pl.Int64) - minutes)
    return pl.when(ok).then(pl.when(offset.is_null()).then(local).otherwise(local + shift))


def _parse_number(expr: pl.Expr, logical_type: str) -> pl.Expr:
    # Spec v1.3: commas only between groups of three digits (full-width ones are NFKC'd to ","); any
    # other comma or space inside a number is a type error.
    grouped = expr.str.contains(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")
    text = pl.when(grouped | ~expr.str.contains(r"[,\s]")).then(expr.str.replace_all(",", ""))
    if logical_type == "integer":
        return pl.when(text.str.contains(r"^[+-]?\d+(\.0+)?$")).then(
            text.str.replace(r"\.0+$", "").cast(pl.Int64, strict=False)
        )
    number = pl.when(text.str.contains(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")).then(
        text.cast(pl.Float64, strict=False)
    )
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
        if (f.logical_type != "string" or f.pattern or f.valid_values or f.format or f.identifier_kinds) \
                and raw[f.name].str.contains(r"[^\x00-\x7f]").any():  # NFKC changes nothing in ASCII
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
            failures[f"{f.name}.type"] = bad[ROW_NUMBER].to_list()
    return out, failures


def parse_file(data: bytes, filename: str, contract: Contract) -> ParsedFile:
    """Read, map headers and type one submitted file."""
    raw, encoding, fmt, unknown, malformed = read_records(data, filename, contract)
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
    )
