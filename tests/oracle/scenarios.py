"""Seeded scenario generator: bureau submissions (bytes, keys, upload times) and the records they carry.

The same :class:`Scenario` feeds the real pipeline (the bytes) and the oracle (the typed records and
upload times). Edge cases: zero counts, days with no file, header-only days resubmitted as identical
bytes, empty (0-byte) files, corrections of a key (one to zero rows), late and missing files,
deadlines that cross a month or a holiday, tickets still open past their deadline, bureaus that start
on different dates, records updated in a later day's file, quarantined rows, a grid code outside the
six districts. Phone numbers are generated, never written as literals.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

DISTRICTS = ["370402", "370403", "370404", "370405", "370406", "370481"]
OUTSIDE_DISTRICT = "370499"  # a 15-digit grid code whose prefix is none of the six districts
DEPTS = ["市住建局", "市城管局", "市生态环境局", "市12345热线", "市公安局", "市交通运输局"]
TOPICS = ["市政设施", "噪音扰民", "物业管理", "交通出行"]
INCIDENT_TYPES = ["火灾", "交通事故", "电动车充电事故", "管网事故"]
SAT = ["非常满意", "满意", "基本满意", "不满意", "非常不满意", "未评价"]
NETWORKS = ["供水", "排水", "燃气", "供热"]
SHANGHAI = timedelta(hours=8)

# Machine feeds are due at 02:00 on D+1; the other deadline datasets at 09:00 on the next working day.
FEEDS = {"ecology.air_quality_hourly", "transport.traffic_flow", "utilities.pipe_pressure"}
DAILY = {
    "hotline.tickets",
    "govservice.cases",
    "emergency.incidents",
    "emergency.risk_warnings",
    "grid.events",
    "community.service_requests",
}
COLUMNS: dict[str, list[str]] = {
    "hotline.tickets": [
        "ticket_id", "received_at", "channel", "request_type", "topic", "district_code", "grid_code", "caller_name",
        "caller_phone", "content", "first_receiver_dept", "handling_dept", "transfer_count", "closed_at",
        "deadline_hours", "satisfaction"],
    "govservice.cases": [
        "case_id", "item_code", "item_name", "channel", "applied_at", "completed_at", "promised_days", "dept",
        "district_code", "applicant_type", "applicant_id", "visits", "rating"],
    "emergency.incidents": [
        "incident_id", "incident_type", "occurred_at", "reported_at", "district_code", "grid_code", "severity",
        "deaths", "injuries", "loss_10k_cny"],
    "emergency.risk_warnings": [
        "warning_id", "risk_type", "issued_at", "district_code", "grid_code", "level", "window_hours", "source"],
    "grid.grids": [
        "grid_code", "grid_name", "street_name", "community_name", "district_code", "population", "households",
        "gridworker_id"],
    "grid.events": [
        "event_id", "grid_code", "reporter_id", "reported_at", "category", "description", "handling_dept",
        "resolved_at", "status"],
    "community.service_requests": [
        "request_id", "community_name", "grid_code", "service_type", "channel", "submitted_at", "completed_at",
        "resident_phone", "rating"],
    "ecology.air_quality_hourly": [
        "station_code", "station_name", "observed_at", "district_code", "pm25", "pm10", "so2", "no2", "o3", "co",
        "aqi"],
    "transport.traffic_flow": [
        "checkpoint_id", "road_name", "district_code", "interval_start", "vehicle_count", "avg_speed_kmh",
        "congestion_index"],
    "utilities.pipe_pressure": [
        "sensor_id", "network_type", "district_code", "measured_at", "pressure_mpa", "threshold_low",
        "threshold_high"],
}  # fmt: skip
PK = {
    "hotline.tickets": ("ticket_id",), "govservice.cases": ("case_id",), "emergency.incidents": ("incident_id",),
    "emergency.risk_warnings": ("warning_id",), "grid.grids": ("grid_code",), "grid.events": ("event_id",),
    "community.service_requests": ("request_id",), "ecology.air_quality_hourly": ("station_code", "observed_at"),
    "transport.traffic_flow": ("checkpoint_id", "interval_start"),
    "utilities.pipe_pressure": ("sensor_id", "measured_at"),
}  # fmt: skip

Record = dict[str, object]


@dataclass
class Submission:
    """One uploaded object version. ``records`` are the valid rows (typed), ``bad_rows`` the rows that
    break a rule (quarantined), ``uploaded_at`` the upload time (UTC)."""

    key: str
    data: bytes
    uploaded_at: datetime
    records: list[Record] = field(default_factory=list)
    bad_rows: int = 0

    @property
    def dataset(self) -> str:
        bureau, name = self.key.split("/")[:2]
        return f"{bureau}.{name}"

    @property
    def business_date(self) -> date:
        return date.fromisoformat(self.key.split("/")[2])


@dataclass
class Scenario:
    """Submissions in upload order; ``report_at`` is naive Asia/Shanghai wall time."""

    seed: int
    months: list[date]
    report_at: datetime
    submissions: list[Submission]
    prefix: str


def _fmt(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return str(v)


def encode(dataset: str, rows: list[Record], encoding: str = "utf-8", jsonl: bool = False) -> bytes:
    """Bytes of a file with English canonical headers (CSV) or JSON Lines."""
    cols = COLUMNS[dataset]
    if jsonl:
        lines = [json.dumps({c: (_fmt(r.get(c)) or None) for c in cols}, ensure_ascii=False) for r in rows]
        return ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(cols)
    for r in rows:
        w.writerow([_fmt(r.get(c)) for c in cols])
    return buf.getvalue().encode(encoding)


def local_to_utc(t: datetime) -> datetime:
    return (t - SHANGHAI).replace(tzinfo=UTC)


USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def uscc(n: int) -> str:
    """A valid 统一社会信用代码 (GB 32100-2015 check character) for organisation ``n``."""
    body = f"91370400MA{n:07d}"
    check = (31 - sum(USCC_CHARS.index(c) * w for c, w in zip(body, USCC_WEIGHTS, strict=True)) % 31) % 31
    return body + USCC_CHARS[check]


class _Gen:
    def __init__(self, seed: int, prefix: str) -> None:
        self.rng = random.Random(seed)
        self.prefix = prefix
        self.seq = 0

    def n(self) -> int:
        self.seq += 1
        return self.seq

    def phone(self) -> str:
        return "1" + self.rng.choice("3589") + "".join(self.rng.choice("0123456789") for _ in range(9))

    def ts(self, d: date, h0: int = 0, h1: int = 23) -> datetime:
        return datetime(
            d.year, d.month, d.day, self.rng.randint(h0, h1), self.rng.randint(0, 59), self.rng.randint(1, 58)
        )


def generate(seed: int, prefix: str, *, workday) -> Scenario:  # noqa: C901 - one linear recipe
    """Build a scenario. ``workday(d)`` says whether ``d`` is a working day (oracle's calendar)."""
    g = _Gen(seed, prefix)
    rng = g.rng
    m1 = rng.choice([1, 4, 5, 9])  # months with holidays and make-up days in 2026
    months = [date(2026, m1, 1), date(2026, m1 + 1, 1)]
    start = months[0] + timedelta(days=rng.randint(12, 18))
    rep = months[1] + timedelta(days=rng.randint(8, 14))
    while not workday(rep):
        rep += timedelta(days=1)
    report_at = datetime(rep.year, rep.month, rep.day, 8, 0)
    subs: list[Submission] = []
    households: dict[str, int] = {}

    def deadline(dataset: str, d: date) -> datetime:
        if dataset in FEEDS:
            return datetime(d.year, d.month, d.day, 2) + timedelta(days=1)
        n = d + timedelta(days=1)
        while not workday(n):
            n += timedelta(days=1)
        return datetime(n.year, n.month, n.day, 9)

    def upload_time(dataset: str, d: date, fate: str) -> datetime | None:
        """Local upload time for a date's file: on time, late, or None (no file)."""
        due = deadline(dataset, d)
        first = (
            datetime(d.year, d.month, d.day, 23, 30)
            if dataset not in FEEDS
            else datetime(d.year, d.month, d.day, 23, 50)
        )
        if fate == "late":
            t = due + timedelta(minutes=rng.randint(1, 600))
            return t if t <= report_at else None
        t = min(due, report_at) - timedelta(minutes=rng.randint(1, 20))
        return t if t > first - timedelta(hours=1) else None

    def put(
        dataset: str, d: date, name: str, data: bytes, local_up: datetime, records: list[Record], bad: int = 0
    ) -> Submission:
        bureau, ds = dataset.split(".")
        records = [
            {k: (v.replace(microsecond=0) if isinstance(v, datetime) else v) for k, v in r.items()} for r in records
        ]
        s = Submission(f"{bureau}/{ds}/{d.isoformat()}/{prefix}-{name}", data, local_to_utc(local_up), records, bad)
        subs.append(s)
        return s

    # --- grids (reference data): a snapshot, then a change to some households ------------------
    grids: list[Record] = []
    for dist in DISTRICTS:
        for street in (1, 2):
            code = f"{dist}{street:03d}{street:03d}001"
            hh = 0 if dist == "370406" else rng.randint(800, 4000)
            grids.append(
                {
                    "grid_code": code,
                    "grid_name": f"网格{code[-6:]}",
                    "street_name": f"街道{street}",
                    "community_name": f"社区{dist[-2:]}{street}",
                    "district_code": dist,
                    "population": hh * 3,
                    "households": hh,
                    "gridworker_id": f"GW{code[-4:]}",
                }
            )
    put(
        "grid.grids",
        start - timedelta(days=3),
        "grids.csv",
        encode("grid.grids", grids, "gbk"),
        datetime.combine(start - timedelta(days=3), datetime.min.time()) + timedelta(hours=10),
        grids,
    )
    changed = [dict(r, households=int(r["households"]) + 500) if r["district_code"] == "370402" else r for r in grids]
    put(
        "grid.grids",
        months[1] + timedelta(days=2),
        "grids.csv",
        encode("grid.grids", changed),
        datetime.combine(months[1] + timedelta(days=2), datetime.min.time()) + timedelta(hours=10),
        changed,
    )
    for r in changed:
        households[str(r["district_code"])] = households.get(str(r["district_code"]), 0) + int(r["households"])
    grid_codes = [str(r["grid_code"]) for r in grids]

    # --- per-dataset daily builders: rows of business date d (records updated later re-sent) -------
    pending: dict[str, list[tuple[date, Record]]] = {k: [] for k in COLUMNS}  # updates due on a later day
    phones = [g.phone() for _ in range(5)]
    items = [f"ITEM{i:03d}" for i in range(1, 101)]

    def hotline(d: date) -> list[Record]:
        out = []
        for _ in range(rng.choice([0, 1, 2, 3, 4])):
            rec_at = g.ts(d, 7, 21)
            hours = rng.choice([24, 48, 72, 120])
            due = rec_at + timedelta(hours=hours)
            fate = rng.choice(["ontime", "late", "open", "later"])
            closed = None
            if fate == "ontime":
                closed = rec_at + timedelta(hours=rng.uniform(1, hours - 1))
            elif fate == "late":
                closed = due + timedelta(hours=rng.uniform(1, 30))
            phone = rng.choice(phones)
            if rng.random() < 0.2:
                phone = f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}"
            first = rng.choice(DEPTS)
            transfers = rng.choice([0, 0, 1, 2])
            r: Record = {
                "ticket_id": f"ZZ12345-{rec_at:%Y%m%d}-{g.n():06d}",
                "received_at": rec_at,
                "channel": rng.choice(["电话", "微信", "网站"]),
                "request_type": "投诉",
                "topic": rng.choice(TOPICS),
                "district_code": rng.choice(DISTRICTS),
                "grid_code": rng.choice(grid_codes),
                "caller_name": "张某",
                "caller_phone": phone,
                "content": "诉求内容",
                "first_receiver_dept": first,
                "handling_dept": first if transfers == 0 or rng.random() < 0.4 else rng.choice(DEPTS),
                "transfer_count": transfers,
                "closed_at": None,
                "deadline_hours": hours,
                "satisfaction": None,
            }
            if closed is not None and closed.date() == d and closed <= report_at:
                r.update(closed_at=closed, satisfaction=rng.choice(SAT))
                out.append(r)
            else:
                out.append(r)
                if closed is not None:
                    pending["hotline.tickets"].append(
                        (closed.date(), dict(r, closed_at=closed, satisfaction=rng.choice(SAT)))
                    )
        return out

    def cases(d: date) -> list[Record]:
        out = []
        for _ in range(rng.choice([0, 2, 3])):
            app = g.ts(d, 8, 17)
            r: Record = {
                "case_id": f"GS-{g.n()}",
                "item_code": rng.choice(items[:3] + [f"RARE{g.n()}"]),
                "item_name": "事项",
                "channel": rng.choice(["窗口", "网上", "掌上", "掌上"]),
                "applied_at": app,
                "completed_at": None,
                "promised_days": 5,
                "dept": rng.choice(DEPTS[:3]),
                "district_code": rng.choice(DISTRICTS),
                "applicant_type": "法人",
                "applicant_id": uscc(rng.randrange(10**7)),
                "visits": 0,
                "rating": None,
            }
            done = app + timedelta(hours=rng.uniform(2, 70))
            out.append(r)
            if done <= report_at:
                pending["govservice.cases"].append((done.date(), dict(r, completed_at=done, rating=rng.choice(SAT))))
        return out

    def incidents(d: date) -> list[Record]:
        out = []
        for _ in range(rng.choice([0, 1, 2])):
            occ = g.ts(d)
            out.append(
                {
                    "incident_id": f"INC-{g.n()}",
                    "incident_type": rng.choice(INCIDENT_TYPES),
                    "occurred_at": occ,
                    "reported_at": occ + timedelta(minutes=rng.randint(1, 50)),
                    "district_code": rng.choice(DISTRICTS[:4]),
                    "grid_code": None,
                    "severity": "一般",
                    "deaths": 0,
                    "injuries": rng.randint(0, 2),
                    "loss_10k_cny": 1.5,
                }
            )
        return out

    def warnings(d: date) -> list[Record]:
        out = []
        for _ in range(rng.choice([0, 1, 2])):
            out.append(
                {
                    "warning_id": f"W-{g.n()}",
                    "risk_type": rng.choice(INCIDENT_TYPES),
                    "issued_at": g.ts(d),
                    "district_code": rng.choice(DISTRICTS[:4]),
                    "grid_code": None,
                    "level": "蓝色",
                    "window_hours": rng.choice([6, 24, 72]),
                    "source": "模型研判",
                }
            )
        return out

    def events(d: date) -> list[Record]:
        out = []
        for _ in range(rng.choice([0, 1, 2, 3])):
            rep_at = g.ts(d)
            code = rng.choice(grid_codes)
            r: Record = {
                "event_id": f"E-{g.n()}",
                "grid_code": code,
                "reporter_id": "GW1",
                "reported_at": rep_at,
                "category": rng.choice(["电动车充电隐患", "环境卫生", "市政设施"]),
                "description": "描述",
                "handling_dept": rng.choice(DEPTS[:3] + [None]),
                "resolved_at": None,
                "status": "待处置",
            }
            out.append(r)
            res = rep_at + timedelta(hours=rng.uniform(0.5, 60))
            if rng.random() < 0.8 and res <= report_at:
                pending["grid.events"].append((res.date(), dict(r, resolved_at=res, status="已办结")))
        return out

    def requests(d: date) -> list[Record]:
        out = []
        for _ in range(rng.choice([0, 1, 2, 3])):
            sub = g.ts(d, 6, 20)
            code = rng.choice(grid_codes)
            done = sub + timedelta(hours=rng.uniform(1, 40))
            rated = rng.random() < 0.8
            r: Record = {
                "request_id": f"R-{g.n()}",
                "community_name": f"社区{code[4:6]}",
                "grid_code": code,
                "service_type": "一键报修",
                "channel": "电话",
                "submitted_at": sub,
                "completed_at": done if done <= report_at else None,
                "resident_phone": g.phone(),
                "rating": rng.randint(1, 5) if rated and done <= report_at else None,
            }
            out.append(r)
        return out

    def air(d: date) -> list[list[Record]]:
        groups: list[list[Record]] = [[], []]
        for i, dist in enumerate(DISTRICTS):
            missing = set(rng.sample(range(24), rng.choice([0, 0, 2, 5])))
            base = rng.uniform(20, 110)
            for h in range(24):
                if h in missing:
                    continue
                o3 = None if rng.random() < 0.1 else round(rng.uniform(40, 220), 1)
                groups[i % 2].append(
                    {
                        "station_code": f"ST{dist}",
                        "station_name": f"站{dist}",
                        "observed_at": datetime(d.year, d.month, d.day, h),
                        "district_code": dist,
                        "pm25": round(base * rng.uniform(0.7, 1.3), 1),
                        "pm10": round(base * 1.5, 1),
                        "so2": round(rng.uniform(3, 30), 1),
                        "no2": round(rng.uniform(10, 80), 1),
                        "o3": o3,
                        "co": round(rng.uniform(0.3, 2.0), 2),
                        "aqi": None,
                    }
                )
        return groups

    def traffic(d: date) -> list[Record]:
        out = []
        for cp, dist in (("CP1", "370402"), ("CP2", "370402"), ("CP3", "370481")):
            for h0, h1 in ((6, 9), (16, 19)):
                t = datetime(d.year, d.month, d.day, h0, 50)
                while t <= datetime(d.year, d.month, d.day, h1, 5):
                    idx = None if rng.random() < 0.05 else round(rng.uniform(0, 10), 1)
                    out.append(
                        {
                            "checkpoint_id": cp,
                            "road_name": "路",
                            "district_code": dist,
                            "interval_start": t,
                            "vehicle_count": rng.randint(0, 300),
                            "avg_speed_kmh": 35.5,
                            "congestion_index": idx,
                        }
                    )
                    t += timedelta(minutes=5)
        return out

    def pipes(d: date) -> list[Record]:
        out = []
        for sid, net, dist in (("P1", "供水", "370402"), ("P2", "燃气", "370402"), ("P3", "排水", "370403")):
            for h in rng.sample(range(24), 3):
                for mnt in (0, 20, 40):
                    p = round(rng.uniform(0.1, 0.75), 3)
                    out.append(
                        {
                            "sensor_id": sid,
                            "network_type": net,
                            "district_code": dist,
                            "measured_at": datetime(d.year, d.month, d.day, h, mnt),
                            "pressure_mpa": p,
                            "threshold_low": 0.2,
                            "threshold_high": 0.7,
                        }
                    )
        return out

    builders = {
        "hotline.tickets": hotline,
        "govservice.cases": cases,
        "emergency.incidents": incidents,
        "emergency.risk_warnings": warnings,
        "grid.events": events,
        "community.service_requests": requests,
        "transport.traffic_flow": traffic,
        "utilities.pipe_pressure": pipes,
    }

    # Mobile handling: 100 items with 3 cases each on one day (they are the top 100 of the trailing
    # 12 months); one-off RARE items have at most 2 and fall outside.
    bulk = [
        {
            "case_id": f"GSB-{i}-{j}",
            "item_code": it,
            "item_name": "事项",
            "channel": "掌上" if j == 0 else "窗口",
            "applied_at": datetime(start.year, start.month, start.day, 10, j),
            "completed_at": None,
            "promised_days": 5,
            "dept": DEPTS[j],
            "district_code": DISTRICTS[i % 6],
            "applicant_type": "法人",
            "applicant_id": uscc(rng.randrange(10**7)),
            "visits": 0,
            "rating": None,
        }
        for i, it in enumerate(items)
        for j in range(3)
    ]

    header_only: dict[str, bytes] = {}
    day = start
    starts = {ds: start + timedelta(days=rng.randint(0, 6)) for ds in sorted(DAILY | FEEDS)}
    while day < rep:
        for ds in sorted(DAILY | FEEDS):
            if day < starts[ds]:
                continue
            fate = rng.choices(["ontime", "late", "missing", "empty"], [70, 12, 10, 8])[0]
            up = upload_time(ds, day, "late" if fate == "late" else "ontime")
            if fate == "missing" or up is None:
                # nothing on time; pending updates of the day move to the next day's file
                for k, (dd, r) in enumerate(pending.get(ds, [])):
                    if dd == day:
                        pending[ds][k] = (day + timedelta(days=1), r)
                continue
            if ds == "ecology.air_quality_hourly":
                for gi, rows in enumerate(air(day)):
                    put(ds, day, f"group{gi}.jsonl", encode(ds, rows, jsonl=True), up + timedelta(minutes=gi), rows)
                continue
            rows = builders[ds](day) if fate != "empty" else []
            by_pk = {tuple(r[c] for c in PK[ds]): r for r in rows}
            for dd, r in pending.get(ds, []):
                if dd == day:
                    by_pk[tuple(r[c] for c in PK[ds])] = r  # one row per key: the latest state of the day
            rows = list(by_pk.values())
            pending[ds] = [(dd, r) for dd, r in pending.get(ds, []) if dd != day]
            bad = 0
            if rows and ds in ("hotline.tickets", "community.service_requests", "grid.events") and rng.random() < 0.3:
                bad = 1  # a row that breaks an enum / range rule: quarantined
            data_rows = list(rows)
            if bad:
                broken = dict(rows[0])
                if ds == "hotline.tickets":
                    broken.update(ticket_id=f"ZZ12345-{day:%Y%m%d}-{g.n():06d}", channel="传真")
                elif ds == "grid.events":  # a grid code outside the six districts (§2)
                    broken.update(event_id=f"E-{g.n()}", grid_code=f"{OUTSIDE_DISTRICT}001001001")
                else:
                    broken.update(request_id=f"R-{g.n()}", rating=9)
                data_rows.append(broken)
            if not data_rows:
                if ds not in header_only:
                    header_only[ds] = encode(ds, [], "utf-8", jsonl=ds == "utilities.pipe_pressure")
                data = header_only[ds]  # identical bytes every empty day: a no-op that still counts
            else:
                data = encode(
                    ds,
                    data_rows,
                    rng.choice(["utf-8", "gbk"]) if ds != "utilities.pipe_pressure" else "utf-8",
                    jsonl=ds == "utilities.pipe_pressure",
                )
            if ds == "utilities.pipe_pressure" and not data_rows:
                continue  # an empty JSON Lines file is not a header-only file: no file that day
            put(ds, day, "daily." + ("jsonl" if ds == "utilities.pipe_pressure" else "csv"), data, up, rows, bad)
        day += timedelta(days=1)

    # --- extra edge cases after the daily flow ----------------------------------------------
    put(
        "govservice.cases",
        start,
        "bulk.csv",
        encode("govservice.cases", bulk, "gbk"),
        datetime(start.year, start.month, start.day, 23, 0),
        bulk,
    )
    late_up = report_at - timedelta(minutes=30)
    # a 0-byte file (rejected; no submission for timeliness) for a date that has no other file
    put("hotline.tickets", rep - timedelta(days=1), "empty.csv", b"", late_up, [])
    # corrections: one daily hotline file replaced by zero rows, one cases file re-sent with one row
    hot = [s for s in subs if s.dataset == "hotline.tickets" and s.records]
    if hot:
        victim = rng.choice(hot[: max(1, len(hot) // 2)])
        put(
            "hotline.tickets",
            victim.business_date,
            victim.key.rsplit("-", 1)[1],
            encode("hotline.tickets", [], "utf-8-sig"),
            late_up + timedelta(minutes=1),
            [],
        )
    cs = [s for s in subs if s.dataset == "govservice.cases" and 0 < len(s.records) < 20]
    if cs:
        victim = rng.choice(cs)
        keep = victim.records[:1]
        put(
            "govservice.cases",
            victim.business_date,
            victim.key.rsplit("-", 1)[1],
            encode("govservice.cases", keep, "gbk"),
            late_up + timedelta(minutes=2),
            keep,
        )
    # a risk warning with its incident (hit) and one whose window is still open at the report time
    d_hit = rep - timedelta(days=2)
    w_at = datetime(d_hit.year, d_hit.month, d_hit.day, 9, 10)
    wrow = {
        "warning_id": f"W-{g.n()}",
        "risk_type": "火灾",
        "issued_at": w_at,
        "district_code": "370403",
        "grid_code": None,
        "level": "橙色",
        "window_hours": 24,
        "source": "物联感知",
    }
    wopen = dict(
        wrow, warning_id=f"W-{g.n()}", issued_at=report_at - timedelta(hours=2), window_hours=72, risk_type="管网事故"
    )
    irow = {
        "incident_id": f"INC-{g.n()}",
        "incident_type": "火灾",
        "occurred_at": w_at + timedelta(hours=5),
        "reported_at": w_at + timedelta(hours=5, minutes=9),
        "district_code": "370403",
        "grid_code": None,
        "severity": "较大",
        "deaths": 0,
        "injuries": 1,
        "loss_10k_cny": 3.0,
    }
    put(
        "emergency.risk_warnings",
        d_hit,
        "extra.csv",
        encode("emergency.risk_warnings", [wrow, wopen], "gbk"),
        late_up + timedelta(minutes=3),
        [wrow, wopen],
    )
    put(
        "emergency.incidents",
        d_hit,
        "extra.csv",
        encode("emergency.incidents", [irow], "gbk"),
        late_up + timedelta(minutes=4),
        [irow],
    )
    subs.sort(key=lambda s: s.uploaded_at)
    return Scenario(seed=seed, months=months, report_at=report_at, submissions=subs, prefix=prefix)
