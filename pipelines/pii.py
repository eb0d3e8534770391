"""Personal-data protection (spec sections 2 and 3): normalise, validate, hash, scrub, mask.

Pure functions only. Identifiers of people are replaced by a keyed hash (HMAC-SHA256)
whose key comes from ``SHUZHONG_PII_KEY``; the key is read in Python and never put into
SQL, logs or docs. Error messages never include the offending value.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from datetime import date

PII_KEY_ENV = "SHUZHONG_PII_KEY"

PHONE_PLACEHOLDER = "[电话]"
RESIDENT_ID_PLACEHOLDER = "[身份证号]"

_MOBILE_RE = re.compile(r"1\d{10}")
_LANDLINE_RE = re.compile(r"0\d{2,3}\d{7,8}")
_DASHES = r"\-‐‑‒–—―"  # hyphen-minus, hyphens, figure dash, en dash, em dash, horizontal bar
_PHONE_JUNK_RE = re.compile(rf"[\s{_DASHES}()\[\].]")

# Characters bureaus write in full width, mapped 1:1 to ASCII (keeps string offsets).
_FULLWIDTH = str.maketrans(
    {
        **{chr(0xFF10 + i): str(i) for i in range(10)},
        "＋": "+",
        "－": "-",
        "﹣": "-",
        "．": ".",
        "（": "(",
        "）": ")",
        "　": " ",
        "Ｘ": "X",
        "ｘ": "x",
    }
)

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"\d{17}[\dX]")

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_RE = re.compile(f"[{USCC_ALPHABET}]{{18}}")

# fmt: off
COMPOUND_SURNAMES = frozenset({
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒",
    "夏侯", "轩辕", "令狐", "钟离", "端木", "西门", "南宫", "独孤", "申屠", "万俟", "闻人", "赫连",
    "澹台", "公冶", "太叔", "仲孙", "濮阳", "淳于", "单于", "呼延", "百里", "东郭", "拓跋", "第五",
    "左丘", "梁丘", "司空", "宗政", "羊舌", "微生", "公羊", "乐正", "颛孙", "段干", "鲜于", "锺离",
})
# fmt: on


# --- phones -------------------------------------------------------------------------


def normalize_phone(value: str | None) -> str | None:
    """Canonical digits of a phone number: mobile ``1XXXXXXXXXX`` or landline ``0AAAXXXXXXX``.

    Full-width characters become ASCII; spaces, dashes, parentheses and dots are removed;
    a ``+86``/``0086``/``86`` prefix is dropped when a mobile or 0-prefixed landline
    follows (``+86 632 …`` gets its trunk ``0`` back). Returns the cleaned string even
    when it is not a valid number (see :func:`is_valid_phone`); ``None`` for empty input.
    """
    if value is None:
        return None
    s = _PHONE_JUNK_RE.sub("", unicodedata.normalize("NFKC", str(value)))
    if not s:
        return None
    for prefix in ("+86", "0086", "86"):
        if s.startswith(prefix):
            rest = s[len(prefix) :]
            if _MOBILE_RE.fullmatch(rest) or _LANDLINE_RE.fullmatch(rest):
                return rest
            # International landline form drops the trunk 0: +86 632 1234567.
            if prefix != "86" and re.fullmatch(r"[2-9]\d{8,10}", rest):
                return "0" + rest
    return s


def is_valid_phone(canonical: str | None) -> bool:
    """Whether a normalised phone is a mobile (``1`` + 10 digits) or landline number."""
    if not canonical:
        return False
    return bool(_MOBILE_RE.fullmatch(canonical) or _LANDLINE_RE.fullmatch(canonical))


# --- keyed hashing --------------------------------------------------------------------


def hmac_hex(value: str, key: bytes) -> str:
    """HMAC-SHA256 of the UTF-8 value, as 64 lower-case hex characters."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def pii_key() -> bytes:
    """The HMAC key from ``SHUZHONG_PII_KEY`` (environment or the local env file)."""
    from pipelines import settings

    try:
        key = settings.get(PII_KEY_ENV)
    except RuntimeError:
        key = ""
    if not key.strip():
        raise RuntimeError(
            f"{PII_KEY_ENV} is not set: personal identifiers cannot be hashed. Export a "
            "long random secret (kept outside the repository) or run `shuzhong init`."
        )
    return key.encode("utf-8")


def hash_phone(value: str | None, key: bytes) -> str | None:
    """HMAC of the normalised phone, so every spelling of a number hashes alike."""
    canonical = normalize_phone(value)
    return None if canonical is None else hmac_hex(canonical, key)


def normalize_resident_id(value: str | None) -> str | None:
    """Resident ID with full-width characters and spaces removed and ``x`` upper-cased."""
    if value is None:
        return None
    s = re.sub(r"\s", "", unicodedata.normalize("NFKC", str(value))).upper()
    return s or None


def hash_resident_id(value: str | None, key: bytes) -> str | None:
    """HMAC of the normalised resident ID (``x`` and ``X`` hash alike)."""
    canonical = normalize_resident_id(value)
    return None if canonical is None else hmac_hex(canonical, key)


# --- identifier check characters ------------------------------------------------------


def resident_id_check_char(first17: str) -> str:
    """GB 11643-1999 check character (mod 11-2) of the first 17 digits."""
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def _real_date(yyyymmdd: str) -> bool:
    try:
        d = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return date(1900, 1, 1) <= d <= date.today()


def is_valid_resident_id(value: str | None) -> bool:
    """18-character resident ID: 17 digits + mod 11-2 check, real birth date (chars 7–14)."""
    v = normalize_resident_id(value)
    if v is None or not _ID_RE.fullmatch(v):
        return False
    return _real_date(v[6:14]) and resident_id_check_char(v[:17]) == v[17]


def uscc_check_char(first17: str) -> str:
    """GB 32100-2015 check character (mod 31) of the first 17 characters."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(value: str | None) -> bool:
    """Unified social credit code: 18 chars of ``0-9A-HJ-NPQRTUWXY``, mod-31 check char."""
    if value is None:
        return False
    v = unicodedata.normalize("NFKC", str(value)).strip().upper()
    return bool(_USCC_RE.fullmatch(v)) and uscc_check_char(v[:17]) == v[17]


# --- free text ------------------------------------------------------------------------

# Patterns run on a copy where full-width digits/punctuation are ASCII (same offsets). Numbers
# may be written with the separators normalize_phone removes: spaces, any dash, dots.
_SEP = rf"(?:[ \t]*[{_DASHES}.][ \t]*|[ \t]+)"
_S = f"{_SEP}?"
# 18-character IDs, also grouped as written on forms: area (6) · birth date (8) · sequence (3) · check.
_SCRUB_ID18 = re.compile(rf"(?<![0-9A-Za-z])\d{{6}}{_S}\d{{8}}{_S}\d{{3}}{_S}[\dXx](?![0-9A-Za-z])")
# Old 15-digit IDs: area (6) + YYMMDD + sequence (3); the date part must be plausible.
_SCRUB_ID15 = re.compile(
    rf"(?<![0-9A-Za-z])\d{{6}}{_S}\d{{2}}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]){_S}\d{{3}}(?![0-9A-Za-z])"
)
_SCRUB_MOBILE = re.compile(rf"(?<![\d+])(?:(?:\+|00)?86{_S})?1[3-9](?:{_S}\d){{9}}(?!\d)")
_SUBSCRIBER = rf"\d(?:{_S}\d){{6,7}}"
_SCRUB_LANDLINE = re.compile(
    rf"(?<![\d+])(?:"
    rf"(?:\+|00)86{_S}(?:\(0?[1-9]\d{{1,2}}\)|0?[1-9]\d{{1,2}})"  # +86 632 …, +86 (0632) …: trunk 0 optional
    rf"|\(0\d{{2,3}}\)|0\d{{2,3}})"
    rf"{_S}{_SUBSCRIBER}(?!\d)"
)
_SCRUB_RULES = (
    (_SCRUB_ID18, RESIDENT_ID_PLACEHOLDER),
    (_SCRUB_ID15, RESIDENT_ID_PLACEHOLDER),
    (_SCRUB_MOBILE, PHONE_PLACEHOLDER),
    (_SCRUB_LANDLINE, PHONE_PLACEHOLDER),
)


def scrub_text(text: str | None) -> str | None:
    """Replace resident IDs and phone numbers inside free text with placeholders.

    Errs on the side of removal: any 18-character ID-shaped number is scrubbed whether
    or not its check character is right (people mistype), and so is a 15-digit number
    with an old-style birth date (which also catches a 15-digit grid code whose middle
    reads as a date, e.g. ``370402001001001``; losing it from free text is harmless).
    """
    if text is None:
        return None
    for pattern, placeholder in _SCRUB_RULES:
        ascii_view = text.translate(_FULLWIDTH)
        spans = [m.span() for m in pattern.finditer(ascii_view)]
        for start, end in reversed(spans):
            text = text[:start] + placeholder + text[end:]
    return text


# --- names ----------------------------------------------------------------------------


def mask_name(name: str | None) -> str | None:
    """Keep the surname, star the given name: 张三 → 张*, 欧阳娜娜 → 欧阳**."""
    if name is None:
        return None
    n = name.strip()
    if not n:
        return None
    if len(n) == 1:
        return "*"
    surname = n[:2] if len(n) > 2 and n[:2] in COMPOUND_SURNAMES else n[:1]
    return surname + "*" * (len(n) - len(surname))
