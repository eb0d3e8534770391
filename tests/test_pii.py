"""Tests of pipelines.pii: phone normalisation, keyed hashing, ID checks, scrubbing, masking."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from pipelines import pii

KEY = b"test-key-not-a-secret"


def _id_with_check(first17: str) -> str:
    """Resident ID check character computed independently (ISO 7064 mod 11-2)."""
    weights = [2 ** (17 - i) % 11 for i in range(17)]  # 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, ...
    r = (12 - sum(int(c) * w for c, w in zip(first17, weights, strict=True)) % 11) % 11
    return first17 + ("X" if r == 10 else str(r))


def _uscc_with_check(first17: str) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = [3**i % 31 for i in range(17)]  # 1, 3, 9, 27, 19, 26, ...
    c = 31 - sum(alphabet.index(ch) * w for ch, w in zip(first17, weights, strict=True)) % 31
    return first17 + alphabet[c % 31]


# --- phones ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("13800001234", "13800001234"),
        ("+86 138-0000-1234", "13800001234"),
        ("138 0000 1234", "13800001234"),
        ("１３８００００１２３４", "13800001234"),
        ("＋８６　１３８－００００－１２３４", "13800001234"),
        ("0086 13800001234", "13800001234"),
        ("8613800001234", "13800001234"),
        ("(138)0000.1234", "13800001234"),
        ("0632-1234567", "06321234567"),
        ("（0632）12345678", "063212345678"),
        ("+86 632 1234567", "06321234567"),
        ("+86 0632-1234567", "06321234567"),
        ("12345", "12345"),
    ],
)
def test_normalize_phone(raw: str, canonical: str) -> None:
    assert pii.normalize_phone(raw) == canonical


@pytest.mark.parametrize("raw", [None, "", "  ", "--"])
def test_normalize_phone_empty(raw: str | None) -> None:
    assert pii.normalize_phone(raw) is None


def test_is_valid_phone() -> None:
    assert pii.is_valid_phone("13800001234")
    assert pii.is_valid_phone("06321234567")
    assert pii.is_valid_phone("01012345678")
    assert not pii.is_valid_phone("1380000123")
    assert not pii.is_valid_phone("23800001234")
    assert not pii.is_valid_phone("12345")
    assert not pii.is_valid_phone(None)


def test_hmac_hex_matches_stdlib() -> None:
    expected = hmac.new(KEY, b"13800001234", hashlib.sha256).hexdigest()
    assert pii.hmac_hex("13800001234", KEY) == expected
    assert len(expected) == 64


def test_different_key_gives_different_hash() -> None:
    assert pii.hmac_hex("13800001234", KEY) != pii.hmac_hex("13800001234", b"other-key")


def test_every_spelling_hashes_alike() -> None:
    spellings = ["13800001234", "+86 138-0000-1234", "138 0000 1234", "１３８００００１２３４"]
    hashes = {pii.hash_phone(s, KEY) for s in spellings}
    assert hashes == {hmac.new(KEY, b"13800001234", hashlib.sha256).hexdigest()}
    assert pii.hash_phone(None, KEY) is None
    assert pii.hash_phone("13800001235", KEY) not in hashes


def test_pii_key(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("SHUZHONG_HOME", str(tmp_path))
    monkeypatch.setenv("SHUZHONG_PII_KEY", "k1")
    assert pii.pii_key() == b"k1"
    monkeypatch.delenv("SHUZHONG_PII_KEY")
    with pytest.raises(RuntimeError, match="SHUZHONG_PII_KEY"):
        pii.pii_key()


# --- resident IDs and USCC ------------------------------------------------------------


def test_resident_id_check() -> None:
    valid = _id_with_check("37040219900101123")
    assert pii.is_valid_resident_id(valid)
    assert pii.resident_id_check_char(valid[:17]) == valid[17]
    wrong = valid[:17] + ("0" if valid[17] != "0" else "1")
    assert not pii.is_valid_resident_id(wrong)


def test_resident_id_lowercase_x() -> None:
    # Find a sequence number whose check character is X.
    first17 = next(f"3704811985063000{i}" for i in range(10) if _id_with_check(f"3704811985063000{i}").endswith("X"))
    upper = first17 + "X"
    assert pii.is_valid_resident_id(upper)
    assert pii.is_valid_resident_id(first17 + "x")
    assert pii.hash_resident_id(first17 + "x", KEY) == pii.hash_resident_id(upper, KEY)


@pytest.mark.parametrize(
    "first17",
    [
        "37040219900230123",  # 30 February
        "37040219901301123",  # month 13
        "37040218890101123",  # before 1900
        "37040230000101123",  # in the future
    ],
)
def test_resident_id_needs_real_birth_date(first17: str) -> None:
    assert not pii.is_valid_resident_id(_id_with_check(first17))


@pytest.mark.parametrize("value", [None, "", "3704021990010112", "37040219900101123A", "abc"])
def test_resident_id_malformed(value: str | None) -> None:
    assert not pii.is_valid_resident_id(value)


def test_uscc() -> None:
    # A published real-world code (Alibaba (China) Co.) and ones computed here.
    assert pii.is_valid_uscc("91330100799655058B")
    for first17 in ["91370400MA3C12345", "12370400004123456", "Y1370400MA0000001"]:
        code = _uscc_with_check(first17)
        assert pii.is_valid_uscc(code), code
        assert pii.is_valid_uscc(code.lower())
        wrong_check = "1" if code[-1] != "1" else "2"
        assert not pii.is_valid_uscc(code[:-1] + wrong_check)
    assert not pii.is_valid_uscc("91370400MI3C12345X")  # I is not in the alphabet
    assert not pii.is_valid_uscc("91370400MA3C1234")
    assert not pii.is_valid_uscc(None)


# --- free text ------------------------------------------------------------------------


def test_scrub_text_each_kind() -> None:
    rid = _id_with_check("37040219900101123")
    rid_x = next(
        _id_with_check(f"3704811985063000{i}")
        for i in range(10)
        if _id_with_check(f"3704811985063000{i}").endswith("X")
    ).replace("X", "x")
    text = (
        f"我叫张三，身份证{rid}，另一个证件{rid_x}；老证号370402850101123。"
        "手机13800001234，备用+86 138-0000-1234，或者138 0000 1234，"
        "全角１３８００００１２３４，座机0632-1234567，（0632）12345678。"
        "工单ZZ12345-20260305-000123，网格370402003015002，金额1500元，2026-03-05。"
    )
    out = pii.scrub_text(text)
    assert out == (
        "我叫张三，身份证[身份证号]，另一个证件[身份证号]；老证号[身份证号]。"
        "手机[电话]，备用[电话]，或者[电话]，"
        "全角[电话]，座机[电话]，[电话]。"
        "工单ZZ12345-20260305-000123，网格370402003015002，金额1500元，2026-03-05。"
    )
    for needle in (rid, rid_x, "13800001234", "1234567", "0000"):
        assert needle not in out
    # A 15-digit grid code whose middle reads as YYMMDD cannot be told from an old ID:
    # removal wins.
    assert pii.scrub_text("网格370402001001001") == "网格[身份证号]"


def test_scrub_text_passthrough() -> None:
    assert pii.scrub_text(None) is None
    assert pii.scrub_text("") == ""
    assert pii.scrub_text("路灯不亮，请尽快维修。") == "路灯不亮，请尽快维修。"


# --- names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("李小明", "李**"),
        ("欧阳娜娜", "欧阳**"),
        ("司马光", "司马*"),
        ("诸葛亮", "诸葛*"),
        ("欧阳", "欧*"),
        (" 王五 ", "王*"),
        ("张", "*"),
        (None, None),
        ("", None),
    ],
)
def test_mask_name(name: str | None, masked: str | None) -> None:
    assert pii.mask_name(name) == masked


# --- every spelling normalize_phone accepts is scrubbed (issue 13) -------------------------

_SEPARATORS = (" ", "-", "—", "–", ".", "－", "　", " - ")


def _generated_numbers(seed: int = 20261201) -> tuple[list[str], list[str], list[str]]:
    """Mobiles, Zaozhuang landlines (7 and 8 subscriber digits) and valid resident IDs, made at run time."""
    import random

    from pipelines.tools.generator import common

    rng = random.Random(seed)
    mobiles = [common.mobile(rng) for _ in range(4)]
    landlines = [common.landline(rng) for _ in range(3)] + [common.landline(rng) + str(rng.randrange(10))]
    ids = [common.resident_id(rng) for _ in range(3)]
    ids.append(next(i for i in (common.resident_id(rng) for _ in range(500)) if i.endswith("X")))
    return mobiles, landlines, ids


def _fullwidth(text: str) -> str:
    return text.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789+-()X"})


def _phone_spellings(number: str) -> list[str]:
    if number.startswith("0"):
        area, local = number[:4], number[4:]
        out = [number, f"({area}){local}", f"（{area}）{local}"]
        for s in _SEPARATORS:
            out += [
                f"{area}{s}{local}",
                f"+86{s}{area[1:]}{s}{local}",
                f"+86{s}{area}{s}{local}",
                f"0086{s}{area[1:]}{s}{local}",
                f"{area}{s}{local[:3]}{s}{local[3:]}",
            ]
    else:
        out = [number, f"+86{number}", f"86{number}"]
        for s in _SEPARATORS:
            out += [
                f"{number[:3]}{s}{number[3:7]}{s}{number[7:]}",
                f"+86{s}{number}",
                f"+86{s}{number[:3]}{s}{number[3:7]}{s}{number[7:]}",
                f"0086{s}{number}",
            ]
    return out + [_fullwidth(o) for o in out]


def _id_spellings(rid: str) -> list[str]:
    out = [rid, rid.lower()]
    for s in _SEPARATORS:
        out += [
            f"{rid[:6]}{s}{rid[6:14]}{s}{rid[14:]}",
            f"{rid[:6]}{s}{rid[6:14]}{s}{rid[14:17]}{s}{rid[17]}",
            f"{rid[:6]}{s}{rid[6:14]}{s}{rid[14:]}".lower(),
        ]
    return out + [_fullwidth(o) for o in out]


def test_every_phone_spelling_normalize_phone_accepts_is_scrubbed() -> None:
    mobiles, landlines, _ = _generated_numbers()
    for number in mobiles + landlines:
        for spelling in _phone_spellings(number):
            assert pii.normalize_phone(spelling) == number, spelling
            assert pii.scrub_text(f"请回电{spelling}，谢谢") == "请回电[电话]，谢谢", spelling
            assert pii.scrub_text(f"电话:{spelling}") == "电话:[电话]", spelling


def test_resident_ids_with_spaces_or_dashes_are_scrubbed_whole() -> None:
    _, _, ids = _generated_numbers()
    for rid in ids:
        for spelling in _id_spellings(rid):
            assert pii.scrub_text(f"身份证号{spelling}已核实") == "身份证号[身份证号]已核实", spelling


def test_scrubbing_separated_numbers_spares_ordinary_text() -> None:
    mobiles, _, _ = _generated_numbers()
    kept = (
        "工单ZZ12345-20260305-000123，2026-03-05 14:07:30，2026.3.5，金额1,234.5元，"
        "网格370402003015002，楼号12-3-401，编号A1234567。"
    )
    assert pii.scrub_text(kept) == kept
    assert pii.scrub_text(f"网格370402003015002 {mobiles[0]}") == "网格370402003015002 [电话]"
    assert pii.scrub_text(f"{mobiles[0]}、{mobiles[1]}") == "[电话]、[电话]"
