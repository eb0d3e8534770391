"""Shared reference data of the city and helpers that write values as bureau systems do.

Everything here is deterministic. The city itself (streets, communities, grids,
departments) is fixed — built from a constant seed — so every dataset and every run
refers to the same places; per-run variety (callers, render styles) is derived from the
caller's ``random.Random``.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path

import yaml

from pipelines import settings

CONTRACTS_DIR = settings.CONTRACTS_DIR

CITY_CODE = "370400"
CITY_NAME = "枣庄市"
AREA_CODE = "0632"

# Spec section 2: the six county-level divisions.
DISTRICTS: dict[str, str] = {
    "370402": "市中区",
    "370403": "薛城区",
    "370404": "峄城区",
    "370405": "台儿庄区",
    "370406": "山亭区",
    "370481": "滕州市",
}
DISTRICT_CODES: tuple[str, ...] = tuple(DISTRICTS)
# Share of activity by district (滕州市 is the most populous).
DISTRICT_WEIGHTS: tuple[float, ...] = (0.19, 0.15, 0.10, 0.08, 0.09, 0.39)

# Codes a bureau system may wrongly write in 所属区县: the city itself, abolished or
# neighbouring codes, a truncated code.
BAD_DISTRICT_CODES: tuple[str, ...] = ("370400", "370401", "370407", "370482", "370300", "37040")

_STREETS: dict[str, tuple[str, ...]] = {
    "370402": (
        "中心街街道",
        "垎塔埠街道",
        "矿区街道",
        "文化路街道",
        "龙山路街道",
        "光明路街道",
        "税郭镇",
        "孟庄镇",
        "齐村镇",
        "永安镇",
        "西王庄镇",
    ),
    "370403": ("临城街道", "常庄街道", "巨山街道", "新城街道", "沙沟镇", "周营镇", "邹坞镇", "陶庄镇"),
    "370404": ("坛山街道", "吴林街道", "古邵镇", "阴平镇", "底阁镇", "榴园镇", "峨山镇"),
    "370405": ("运河街道", "邳庄镇", "张山子镇", "泥沟镇", "涧头集镇", "马兰屯镇"),
    "370406": ("山城街道", "店子镇", "西集镇", "桑村镇", "北庄镇", "城头镇", "徐庄镇", "水泉镇", "冯卯镇"),
    "370481": (
        "荆河街道",
        "龙泉街道",
        "北辛街道",
        "善南街道",
        "东沙河街道",
        "洪绪镇",
        "南沙河镇",
        "大坞镇",
        "滨湖镇",
        "级索镇",
        "西岗镇",
        "姜屯镇",
        "鲍沟镇",
        "张汪镇",
        "官桥镇",
        "柴胡店镇",
        "羊庄镇",
        "木石镇",
        "界河镇",
        "龙阳镇",
        "东郭镇",
    ),
}
_COMMUNITY_STEMS = (
    "光明",
    "新华",
    "建设",
    "振兴",
    "和平",
    "幸福",
    "青檀",
    "龙头",
    "运河",
    "文化",
    "东湖",
    "西昌",
    "南马",
    "北辛",
    "荆河",
    "善国",
    "红旗",
    "铁道",
    "胜利",
    "民生",
    "康居",
    "阳光",
    "翠屏",
    "凤鸣",
    "金河",
    "银座",
    "泰山",
    "峄山",
    "君山",
    "抱犊",
    "石榴",
    "枣园",
    "杏花",
    "桃园",
    "梨园",
    "柳营",
    "古城",
    "新城",
    "临山",
    "沙河",
    "薛国",
    "奚仲",
    "墨子",
    "鲁班",
    "微湖",
    "龙泉",
    "凤凰",
    "丰收",
)
_COMMUNITY_SUFFIX = ("社区", "社区", "社区", "村", "居委会")


@dataclass(frozen=True)
class Grid:
    code: str  # 15 digits: district(6) + street(3) + community(3) + grid(3)
    name: str
    district_code: str
    street_name: str
    community_name: str


@dataclass(frozen=True)
class Community:
    code: str  # 12 digits
    name: str
    district_code: str
    street_name: str
    grids: tuple[Grid, ...]


@dataclass(frozen=True)
class Street:
    code: str  # 9 digits
    name: str
    district_code: str
    communities: tuple[Community, ...]

    @property
    def office(self) -> str:
        """The street's government unit as a handling department."""
        suffix = "办事处" if self.name.endswith("街道") else "人民政府"
        return f"{DISTRICTS[self.district_code]}{self.name}{suffix}"


@dataclass(frozen=True)
class City:
    streets: dict[str, tuple[Street, ...]]  # district code → streets
    grids: tuple[Grid, ...]
    grids_by_district: dict[str, tuple[Grid, ...]]
    communities: tuple[Community, ...]

    def street_of(self, grid: Grid) -> Street:
        return next(s for s in self.streets[grid.district_code] if s.name == grid.street_name)


@cache
def city() -> City:
    """The fixed administrative tree of Zaozhuang (same for every seed)."""
    rng = random.Random(370400)
    streets: dict[str, tuple[Street, ...]] = {}
    all_grids: list[Grid] = []
    all_comms: list[Community] = []
    for dcode, names in _STREETS.items():
        used: set[str] = set()
        dstreets = []
        for si, sname in enumerate(names, start=1):
            scode = f"{dcode}{si:03d}"
            comms = []
            for ci in range(1, rng.randint(4, 8) + 1):
                while True:
                    stem = rng.choice(_COMMUNITY_STEMS)
                    cname = stem + rng.choice(_COMMUNITY_SUFFIX)
                    if sname.endswith("镇") and rng.random() < 0.6:
                        cname = stem + "村"
                    if cname not in used:
                        used.add(cname)
                        break
                    # fall back to a numbered name when stems run out
                    cname = f"{stem}{rng.choice('东西南北')}{rng.choice(_COMMUNITY_SUFFIX)}"
                    if cname not in used:
                        used.add(cname)
                        break
                ccode = f"{scode}{ci:03d}"
                grids = tuple(
                    Grid(f"{ccode}{gi:03d}", f"{cname}第{gi}网格", dcode, sname, cname)
                    for gi in range(1, rng.randint(2, 6) + 1)
                )
                comms.append(Community(ccode, cname, dcode, sname, grids))
                all_grids.extend(grids)
            dstreets.append(Street(scode, sname, dcode, tuple(comms)))
            all_comms.extend(comms)
        streets[dcode] = tuple(dstreets)
    by_district = {d: tuple(g for g in all_grids if g.district_code == d) for d in DISTRICTS}
    return City(streets, tuple(all_grids), by_district, tuple(all_comms))


# Main roads by district, for free-text addresses.
ROADS: dict[str, tuple[str, ...]] = {
    "370402": ("光明大道", "君山路", "文化路", "青檀路", "建设路", "振兴路", "解放路", "龙头路"),
    "370403": ("泰山路", "长江路", "黄河路", "珠江路", "燕山路", "武夷山路", "临山路"),
    "370404": ("坛山路", "承水路", "峨山路", "榴园路", "金山路"),
    "370405": ("运河大道", "华兴路", "箭道街", "兰祺路", "长安路"),
    "370406": ("府前路", "翼云路", "东方红路", "汉诺路", "山城大道"),
    "370481": ("善国路", "荆河路", "学院路", "平行路", "杏坛路", "龙泉路", "塔寺路", "北辛路"),
}


def pick_grid(rng: random.Random) -> Grid:
    dcode = rng.choices(DISTRICT_CODES, DISTRICT_WEIGHTS)[0]
    return rng.choice(city().grids_by_district[dcode])


# --- departments -----------------------------------------------------------------

MUNICIPAL_DEPTS: dict[str, str] = {
    "housing": "市住房城乡建设局",
    "urban": "市城市管理局",
    "ecology": "市生态环境局",
    "transport": "市交通运输局",
    "market": "市市场监督管理局",
    "police": "市公安局",
    "hrss": "市人力资源社会保障局",
    "education": "市教育局",
    "health": "市卫生健康委员会",
    "nature": "市自然资源和规划局",
    "water": "市水务局",
    "emergency": "市应急管理局",
    "medinsure": "市医疗保障局",
    "civil": "市民政局",
    "agri": "市农业农村局",
    "heating": "枣庄市热力有限公司",
    "power": "国网枣庄供电公司",
    "watersupply": "枣庄市自来水有限公司",
    "gas": "枣庄中裕燃气有限公司",
    "bus": "枣庄市公共汽车公司",
    "approval": "市行政审批服务局",
    "provident": "枣庄市住房公积金管理中心",
    "tax": "国家税务总局枣庄市税务局",
    "civilaffairs_reg": "市民政局婚姻登记处",
}
_DISTRICT_DEPT_PATTERNS: dict[str, str] = {
    "enforcement": "{d}综合行政执法局",
    "housing": "{d}住房和城乡建设局",
    "market": "{d}市场监督管理局",
    "police": "枣庄市公安局{d}分局",
    "ecology": "枣庄市生态环境局{d}分局",
    "hrss": "{d}人力资源和社会保障局",
    "education": "{d}教育和体育局",
    "health": "{d}卫生健康局",
    "gov": "{d}人民政府",
    "emergency": "{d}应急管理局",
    "approval": "{d}行政审批服务局",
    "medinsure": "{d}医疗保障局",
    "civil": "{d}民政局",
}


def district_dept(kind: str, district_code: str) -> str:
    return _DISTRICT_DEPT_PATTERNS[kind].format(d=DISTRICTS[district_code])


def all_departments() -> list[str]:
    """Every department name the generators may write (for reference tables)."""
    names = list(MUNICIPAL_DEPTS.values())
    for d in DISTRICTS:
        names += [district_dept(k, d) for k in _DISTRICT_DEPT_PATTERNS]
        names += [s.office for s in city().streets[d]]
    return names


# --- people ------------------------------------------------------------------------

SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
    "苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史"
    "顾侯邵孟龙万段褚颜殷"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "令狐", "公孙", "慕容", "尉迟")
GIVEN_CHARS = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰建国志红梅文斌辉鹏飞宇浩然子涵"
    "欣怡梓轩一诺雨桐嘉豪俊熙思远海燕春生秋菊冬梅振东德胜书香晓峰立新庆云凤英金凤淑珍"
)
# Characters outside GBK (CJK Ext A / B): real names that a GBK-only system cannot store.
RARE_GIVEN_CHARS = ("䶮", "𠮷", "㛃", "䘵", "㵘")

MOBILE_PREFIXES = (
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "186",
    "187",
    "188",
    "189",
    "191",
    "195",
    "198",
    "199",
)


def person_name(rng: random.Random, rare_share: float = 0.0) -> str:
    surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.02 else rng.choice(SURNAMES)
    if rare_share and rng.random() < rare_share:
        return surname + rng.choice(RARE_GIVEN_CHARS)
    n = 1 if rng.random() < 0.35 else 2
    return surname + "".join(rng.choice(GIVEN_CHARS) for _ in range(n))


def mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def landline(rng: random.Random) -> str:
    """A Zaozhuang landline, canonical digits only (``0632`` + 7 digits)."""
    return AREA_CODE + str(rng.choice("2345678")) + f"{rng.randrange(10**6):06d}"


def phone(rng: random.Random, landline_share: float = 0.12) -> str:
    return landline(rng) if rng.random() < landline_share else mobile(rng)


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_check_char(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def resident_id(rng: random.Random, born_from: int = 1940, born_to: int = 2008) -> str:
    """A valid 18-character 身份证号 (GB 11643) registered in Zaozhuang."""
    area = rng.choice(DISTRICT_CODES)
    born = date(rng.randint(born_from, born_to), 1, 1).toordinal() + rng.randrange(365)
    first17 = f"{area}{date.fromordinal(born):%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + id_check_char(first17)


_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check_char(first17: str) -> str:
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31]


def uscc(rng: random.Random, district_code: str | None = None, kind: str = "91") -> str:
    """A valid 统一社会信用代码 (GB 32100) registered in Zaozhuang; ``kind`` is the
    registering authority + entity type (91 enterprise, 92 个体工商户, 93 合作社)."""
    area = district_code or rng.choice(DISTRICT_CODES)
    body = kind + area + "".join(rng.choice(_USCC_CHARS) for _ in range(9))
    return body + uscc_check_char(body)


def wrong_check(value: str, alphabet: str, right: str, rng: random.Random) -> str:
    """``value`` with its last character replaced by a wrong check character."""
    return value[:-1] + rng.choice([ch for ch in alphabet if ch != right])


def bad_resident_id(rng: random.Random) -> str:
    """An 18-character 身份证号 that fails GB 11643 (wrong check character or impossible birth date)."""
    good = resident_id(rng)
    if rng.random() < 0.75:
        return wrong_check(good, "0123456789X", good[17], rng)
    first17 = good[:10] + rng.choice(("1331", "0230", "0001", "1200")) + good[14:17]
    return first17 + id_check_char(first17)


def bad_uscc(rng: random.Random, district_code: str | None = None) -> str:
    good = uscc(rng, district_code)
    return wrong_check(good, _USCC_CHARS, good[17], rng)


# --- grids: population, households, grid workers (grid.grids) --------------------------


@dataclass(frozen=True)
class GridStats:
    population: int
    households: int
    gridworker_id: str


@cache
def _grid_index() -> dict[str, int]:
    return {g.code: i for i, g in enumerate(city().grids)}


@cache
def grid_stats(code: str) -> GridStats:
    """Fixed base population and households of a grid (a snapshot may drift a little)."""
    rng = random.Random(deterministic_seed(int(code), 0x6121D))
    households = rng.randint(280, 1500)
    population = int(households * rng.uniform(2.3, 3.2))
    return GridStats(population, households, f"WGY{code[:6]}{_grid_index()[code] + 1:05d}")


# --- enterprises (market.enterprises; 法人 applicants of govservice) -----------------

ENTERPRISE_CORE = 2000  # enterprises 0..CORE-1 existed before any business date; others are new
_BRAND = "鲁南华泰恒通宏达鑫源金泰万邦盛世兴业德信润丰嘉和瑞祥永安中联天宇远航荣昌汇通博远"
_INDUSTRIES = (
    ("C", "3130", "新材料科技", 8),
    ("C", "3311", "机械制造", 8),
    ("C", "2614", "化工", 5),
    ("C", "1391", "食品", 4),
    ("C", "3912", "电子科技", 4),
    ("B", "0610", "煤业", 2),
    ("E", "4701", "建筑工程", 8),
    ("E", "4991", "建设工程", 4),
    ("F", "5212", "商贸", 14),
    ("F", "5171", "百货", 6),
    ("G", "5430", "物流", 6),
    ("H", "6210", "餐饮", 9),
    ("H", "6110", "酒店管理", 2),
    ("I", "6513", "软件科技", 4),
    ("K", "7020", "物业管理", 4),
    ("L", "7212", "企业管理咨询", 3),
    ("M", "7484", "工程设计", 2),
    ("O", "8010", "家政服务", 3),
    ("P", "8391", "教育咨询", 2),
    ("R", "8870", "文化传媒", 2),
    ("A", "0141", "农业发展", 4),
    ("D", "4411", "新能源", 2),
)
_SUFFIXES = ("有限公司", "有限公司", "有限责任公司", "股份有限公司")
ENTITY_TYPES = (
    "有限责任公司(自然人投资或控股)",
    "有限责任公司(自然人独资)",
    "股份有限公司(非上市)",
    "个体工商户",
    "农民专业合作社",
    "有限责任公司(国有独资)",
    "外商投资企业",
)
_ENTITY_WEIGHTS = (45, 18, 4, 25, 4, 2, 2)


@dataclass(frozen=True)
class Enterprise:
    uscc: str
    name: str
    district_code: str
    legal_rep_name: str
    legal_rep_id: str
    entity_type: str
    industry_code: str
    capital_10k: float
    established_on: date  # for enterprises >= ENTERPRISE_CORE a placeholder: set at registration
    address: str


def foreign_document(rng: random.Random) -> str:
    """A non-身份证 document number (never 18 characters): passport or 港澳台 permit."""
    kind = rng.random()
    if kind < 0.4:  # passports (China E/G series or foreign)
        return rng.choice("EGKPM") + f"{rng.randrange(10**8):08d}"
    if kind < 0.75:  # 港澳居民来往内地通行证
        return rng.choice("HM") + f"{rng.randrange(10**8):08d}"
    return f"{rng.randrange(10**8):08d}"  # 台湾居民来往大陆通行证


def foreigner_permanent_id(rng: random.Random) -> str:
    """外国人永久居留身份证 (2023 format): 18 characters, passes the GB 11643 check."""
    born = date(rng.randint(1950, 1995), 1, 1).toordinal() + rng.randrange(365)
    country = rng.choice(("840", "410", "392", "276", "826"))
    first17 = f"937{country}{date.fromordinal(born):%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + id_check_char(first17)


@lru_cache(maxsize=1 << 16)
def enterprise(seed: int, index: int) -> Enterprise:
    rng = random.Random(deterministic_seed(seed, 0xE17, index))
    dcode = rng.choices(DISTRICT_CODES, DISTRICT_WEIGHTS)[0]
    etype = rng.choices(ENTITY_TYPES, _ENTITY_WEIGHTS)[0]
    section, cls, trade, _ = rng.choices(_INDUSTRIES, [w for *_, w in _INDUSTRIES])[0]
    industry = section + cls[: rng.choice((2, 3, 4, 4, 4))]
    brand = "".join(rng.sample(_BRAND, 2))
    dname = DISTRICTS[dcode]
    if etype == "个体工商户":
        code = uscc(rng, dcode, "92")
        name = f"{dname}{brand}{trade.replace('科技', '')}{rng.choice(('店', '商行', '经营部', '工作室'))}"
        capital = round(rng.uniform(0.5, 50), 2)
    elif etype == "农民专业合作社":
        code = uscc(rng, dcode, "93")
        name = f"{dname}{brand}{rng.choice(('种植', '养殖', '农机', '石榴'))}专业合作社"
        capital = round(rng.uniform(10, 500), 2)
    else:
        code = uscc(rng, dcode)
        prefix = rng.choice(("山东", "枣庄", dname.removesuffix("区").removesuffix("市")))
        name = f"{prefix}{brand}{trade}{rng.choice(_SUFFIXES)}"
        capital = round(rng.lognormvariate(5.5, 1.4), 2)
    r = rng.random()
    if r < 0.02:
        rep_id = foreign_document(rng)
    elif r < 0.025:
        rep_id = foreigner_permanent_id(rng)
    else:
        rep_id = resident_id(rng, 1950, 2000)
    established = date(1995, 1, 1) + timedelta(days=rng.randrange(11_000))
    grid = rng.choice(city().grids_by_district[dcode])
    address = f"山东省枣庄市{dname}{grid.street_name}{rng.choice(ROADS[dcode])}{rng.randint(1, 999)}号"
    return Enterprise(code, name, dcode, person_name(rng), rep_id, etype, industry, capital, established, address)


def pick_enterprise(rng: random.Random, seed: int) -> Enterprise:
    """An existing enterprise, skewed: a few large ones apply for many services."""
    return enterprise(seed, int(ENTERPRISE_CORE * rng.random() ** 2.5))


# --- writing values as bureau systems do ---------------------------------------------

MISSING_TOKENS = ("", "", "", "—", "-", "/", "无", "NULL")
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")

TIMESTAMP_STYLES = (
    "iso",  # 2026-03-05 14:07:00
    "iso_min",  # 2026-03-05 14:07
    "slash",  # 2026/3/5 14:07
    "slash_sec",  # 2026/03/05 14:07:00
    "cn",  # 2026年3月5日 14时07分
)
DATE_STYLES = ("iso", "slash", "cn", "compact")  # 2026-03-05, 2026/3/5, 2026年3月5日, 20260305


def fullwidth(text: str) -> str:
    return text.translate(_FULLWIDTH)


def fmt_timestamp(ts: datetime, style: str) -> str:
    if style == "iso":
        return f"{ts:%Y-%m-%d %H:%M:%S}"
    if style == "iso_min":
        return f"{ts:%Y-%m-%d %H:%M}"
    if style == "slash":
        return f"{ts.year}/{ts.month}/{ts.day} {ts:%H:%M}"
    if style == "slash_sec":
        return f"{ts:%Y/%m/%d %H:%M:%S}"
    if style == "cn":
        return f"{ts.year}年{ts.month}月{ts.day}日 {ts:%H}时{ts:%M}分"
    if style == "iso_t":  # machine feeds
        return f"{ts:%Y-%m-%dT%H:%M:%S}"
    raise ValueError(f"unknown timestamp style {style!r}")


def fmt_date(d: date, style: str) -> str:
    if style == "iso":
        return d.isoformat()
    if style == "slash":
        return f"{d.year}/{d.month}/{d.day}"
    if style == "cn":
        return f"{d.year}年{d.month}月{d.day}日"
    if style == "compact":
        return f"{d:%Y%m%d}"
    raise ValueError(f"unknown date style {style!r}")


def fmt_phone(number: str, rng: random.Random) -> str:
    """One of the spellings bureau systems use for a canonical phone number."""
    if number.startswith("0"):  # landline: 0632 + 7 digits
        area, local = number[:4], number[4:]
        text = rng.choice(
            (
                f"{area}-{local}",
                f"{area}-{local}",
                number,
                f"({area}){local}",
                f"{area} {local}",
                f"+86 {area[1:]} {local}",
            )
        )
    else:
        text = rng.choice(
            (
                number,
                number,
                number,
                f"+86 {number}",
                f"{number[:3]}-{number[3:7]}-{number[7:]}",
                f"{number[:3]} {number[3:7]} {number[7:]}",
                f"+86-{number}",
            )
        )
    if rng.random() < 0.05:
        text = fullwidth(text)
    return text


@dataclass
class RenderStyle:
    """How one exported file writes its values (one bureau system, one export run)."""

    timestamp_style: str = "iso"
    date_style: str = "iso"
    missing_tokens: tuple[str, ...] = ("",)
    fullwidth_numbers: float = 0.0  # share of integer cells written with full-width digits
    mixed_timestamps: bool = False  # some rows in another style (hand-edited files)
    native_cells: bool = False  # xlsx: timestamps as datetime cells, integers as numbers
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    @classmethod
    def choose(cls, rng: random.Random, fmt: str) -> RenderStyle:
        tokens = rng.choice((("",), ("",), ("",), ("—",), ("-",), ("/",), ("无",), ("NULL",), MISSING_TOKENS))
        return cls(
            timestamp_style=rng.choices(TIMESTAMP_STYLES, (40, 20, 20, 10, 10))[0],
            date_style=rng.choices(DATE_STYLES, (50, 20, 15, 15))[0],
            missing_tokens=tokens,
            fullwidth_numbers=0.1 if rng.random() < 0.1 else 0.0,
            mixed_timestamps=rng.random() < 0.1,
            native_cells=fmt in ("xlsx", "xls") and rng.random() < 0.5,
            rng=random.Random(rng.getrandbits(64)),
        )

    def missing(self) -> str:
        return self.missing_tokens[0] if len(self.missing_tokens) == 1 else self.rng.choice(self.missing_tokens)

    def render(self, value: object) -> object:
        """Canonical value → cell (a string, or a native value for xlsx native cells)."""
        if value is None:
            return self.missing()
        if isinstance(value, datetime):
            if self.native_cells:
                return value
            style = self.timestamp_style
            if self.mixed_timestamps and self.rng.random() < 0.2:
                style = self.rng.choice(TIMESTAMP_STYLES)
            return fmt_timestamp(value, style)
        if isinstance(value, date):
            return value if self.native_cells else fmt_date(value, self.date_style)
        if isinstance(value, bool):
            return "是" if value else "否"
        if isinstance(value, int):
            if self.native_cells:
                return value
            text = str(value)
            if self.fullwidth_numbers and self.rng.random() < self.fullwidth_numbers:
                text = fullwidth(text)
            return text
        return value


# --- contracts ----------------------------------------------------------------------


@cache
def contract_columns(dataset: str) -> tuple[tuple[str, str], ...]:
    """(canonical name, Chinese header) of each column of ``bureau.table``, in contract order."""
    bureau, table = dataset.split(".", 1)
    doc = yaml.safe_load((CONTRACTS_DIR / bureau / f"{table}.yaml").read_text(encoding="utf-8"))
    props = doc["schema"][0]["properties"]
    return tuple((p["name"], p.get("businessName") or p["name"]) for p in props)


def header_variant(headers: Sequence[str], rng: random.Random) -> list[str]:
    """Headers as an export system spells them: full-width parentheses, stray spaces."""
    fullwidth_parens = rng.random() < 0.5
    out = []
    for h in headers:
        if fullwidth_parens:
            h = h.replace("(", "（").replace(")", "）")
        if rng.random() < 0.08:
            h = rng.choice((" ", "  ", "\u3000")) + h if rng.random() < 0.5 else h + " "
        out.append(h)
    return out


def deterministic_seed(*parts: int) -> int:
    """Combine integers into one seed without Python's salted ``hash``."""
    acc = 1469598103934665603
    for p in parts:
        acc = ((acc ^ (p & 0xFFFFFFFFFFFFFFFF)) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return acc


# --- generated files ----------------------------------------------------------------


@dataclass
class GeneratedFile:
    """One exported file, with what a test needs to know about its contents.

    Row numbers are 1-based data-row numbers: the n-th record after the header (title,
    blank and footer rows of an xlsx are not counted; a quoted multi-line cell is one row).
    """

    path: Path
    bureau: str
    dataset: str
    business_date: date
    n_rows: int
    encoding: str | None  # gbk, gb18030, utf-8, utf-8-sig; None for xlsx
    fmt: str  # csv or xlsx
    n_dirty: int
    dirty_rows: list[tuple[int, str]] = field(default_factory=list)  # (1-based data row, kind)
    superseded_rows: list[int] = field(default_factory=list)  # rows a later row of the file replaces

    @property
    def key(self) -> str:
        """Object key in the landing bucket: <bureau>/<dataset>/<date>/<filename>."""
        return f"{self.bureau}/{self.dataset}/{self.business_date.isoformat()}/{self.path.name}"

    def dirty_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for _, kind in self.dirty_rows:
            out[kind] = out.get(kind, 0) + 1
        return out


ProgressFn = Callable[[str, date, int], None]


def stderr_progress(dataset: str, day: date, rows: int) -> None:
    """Default progress report for large runs: one overwritten line on stderr."""
    print(f"\r{dataset} {day}: {rows:,} rows written", end="", file=sys.stderr, flush=True)
