"""Plain-Python oracle of ``kpi_scorecard_monthly``, written from spec v1.3 §1, §2, §5 (not from the SQL).

Input: a :class:`~tests.oracle.scenarios.Scenario` (what each bureau uploaded, when). Output: the
facts' current records and one :class:`Expected` per scorecard row key
``(kpi_month, district_code, dimension_type, dimension_code, kpi_code)``. A field left ``None`` in
``numerator``/``denominator`` is not defined by the spec for that KPI and is not compared.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from tests.oracle.scenarios import DAILY, DISTRICTS, FEEDS, PK, SHANGHAI, Record, Scenario

CITY = "370400"
SCORE = {"非常满意": 100, "满意": 80, "基本满意": 60, "不满意": 20, "非常不满意": 0}
# HJ 633-2012 breakpoints: IAQI levels and the 24-hour concentration limits (O3: 8-hour).
IAQI = [0, 50, 100, 150, 200, 300, 400, 500]
BP24 = {
    "so2": [0, 50, 150, 475, 800, 1600, 2100, 2620], "no2": [0, 40, 80, 180, 280, 565, 750, 940],
    "pm10": [0, 50, 150, 250, 350, 420, 500, 600], "co": [0, 2, 4, 14, 24, 36, 48, 60],
    "pm25": [0, 35, 75, 115, 150, 250, 350, 500], "o3_8h": [0, 100, 160, 215, 265, 800],
}  # fmt: skip


def is_workday(d: date) -> bool:
    """The State Council calendar (chinese_calendar); a year it does not hold: Monday–Friday."""
    try:
        import chinese_calendar

        return bool(chinese_calendar.is_workday(d))
    except (ImportError, NotImplementedError):
        return d.weekday() < 5


def deadline(dataset: str, d: date) -> datetime:
    """§1: machine feeds 02:00 on D+1; daily datasets 09:00 on the first working day after D."""
    if dataset in FEEDS:
        return datetime(d.year, d.month, d.day, 2) + timedelta(days=1)
    n = d + timedelta(days=1)
    while not is_workday(n):
        n += timedelta(days=1)
    return datetime(n.year, n.month, n.day, 9)


def month(t: date | datetime) -> date:
    return date(t.year, t.month, 1)


def dept_id(name: str) -> str:
    return hashlib.md5(name.strip().encode()).hexdigest()


def phone_key(p: object) -> str | None:
    if not p:
        return None
    s = "".join(ch for ch in str(p) if ch.isdigit())
    return s[2:] if s.startswith("86") and len(s) == 13 else s


POLLUTANTS = ("pm25", "pm10", "so2", "no2", "o3", "co")


@dataclass
class Expected:
    kpi_value: float | None
    numerator: float | None = None
    denominator: float | None = None


Key = tuple[date, str, str, str, str]


@dataclass
class FileOutcome:
    dataset: str
    business_date: date
    status: str  # accepted | duplicate | rejected
    uploaded_local: datetime
    rows_received: int
    rows_accepted: int


class Oracle:
    """Everything the published scorecard should hold for one scenario."""

    def __init__(self, sc: Scenario) -> None:
        self.sc = sc
        self.report = sc.report_at
        self.files: list[FileOutcome] = []
        self.records: dict[str, list[Record]] = {}
        self.rows: dict[Key, Expected] = {}
        self._ingest()
        self._kpis()

    # --- §1: submissions, duplicates, corrections, latest version wins -----------------------
    def _ingest(self) -> None:
        accepted_sha: set[str] = set()
        latest: dict[str, tuple[date, datetime, list[Record]]] = {}
        for s in self.sc.submissions:
            sha = hashlib.sha256(s.data).hexdigest()
            local = s.uploaded_at.replace(tzinfo=None) + SHANGHAI
            if not s.data:
                status = "rejected"
            elif sha in accepted_sha:
                status = "duplicate"
            else:
                status = "accepted"
                accepted_sha.add(sha)
                latest[s.key] = (s.business_date, local, s.records)  # a correction replaces the key's rows
            n = 0 if status == "duplicate" else len(s.records) + s.bad_rows
            acc = len(s.records) if status == "accepted" else 0
            self.files.append(FileOutcome(s.dataset, s.business_date, status, local, n, acc))
        best: dict[str, dict[tuple, tuple[tuple, Record]]] = defaultdict(dict)
        for key, (bd, up, recs) in latest.items():
            ds = ".".join(key.split("/")[:2])
            for r in recs:
                pk = tuple(r[c] for c in PK[ds])
                rank = (bd, up)
                if pk not in best[ds] or best[ds][pk][0] <= rank:
                    best[ds][pk] = (rank, r)
        self.records = {ds: [r for _, r in v.values()] for ds, v in best.items()}

    def _put(self, m: date, dist: str, dtype: str, dcode: str, code: str, e: Expected) -> None:
        self.rows[(m, dist, dtype, dcode, code)] = e

    def _ratio(
        self, code: str, groups: dict[tuple[date, str, str, str], list[float]], months: set[date], mean: bool = False
    ) -> None:
        """Rows from (month, district, dim type, dim code) → values (0/1 flags or measures); every
        district gets a district row in each month the KPI has data anywhere."""
        for m in months:
            for d in DISTRICTS:
                groups.setdefault((m, d, "district", d), [])
        for (m, d, t, c), vals in groups.items():
            n = len(vals)
            self._put(m, d, t, c, code, Expected(sum(vals) / n if n else None, sum(vals), n))

    def _kpis(self) -> None:  # noqa: C901 - one KPI after another, as §5 lists them
        R = self.report
        rec = self.records
        tickets = [t for t in rec.get("hotline.tickets", []) if t["received_at"] <= R]
        cases = [c for c in rec.get("govservice.cases", []) if c["applied_at"] <= R]

        # hotline on-time closure: deadline month; open past its deadline = late; open before it: not yet
        g: dict = defaultdict(list)
        for t in tickets:
            due = t["received_at"] + timedelta(hours=int(t["deadline_hours"]))
            closed = t["closed_at"] if t["closed_at"] and t["closed_at"] <= R else None
            if closed is None and due > R:
                continue
            flag = 1.0 if closed is not None and closed <= due else 0.0
            g[(month(due), t["district_code"], "district", t["district_code"])].append(flag)
            if t["handling_dept"]:  # by department: the ticket's handling department
                g[(month(due), t["district_code"], "department", dept_id(str(t["handling_dept"])))].append(flag)
        self._ratio("hotline_on_time_closure_rate", g, {k[0] for k in g})

        # citizen satisfaction: rated tickets (month closed) + rated cases (month completed)
        g = defaultdict(list)
        for t in tickets:
            if t["closed_at"] and t["closed_at"] <= R and t["satisfaction"] in SCORE:
                m, d, v = month(t["closed_at"]), t["district_code"], float(SCORE[t["satisfaction"]])
                g[(m, d, "district", d)].append(v)
                if t["handling_dept"]:  # by department: handling department of tickets, department of cases
                    g[(m, d, "department", dept_id(str(t["handling_dept"])))].append(v)
        for c in cases:
            if c["completed_at"] and c["completed_at"] <= R and c["rating"] in SCORE:
                m, d, v = month(c["completed_at"]), c["district_code"], float(SCORE[c["rating"]])
                g[(m, d, "district", d)].append(v)
                g[(m, d, "department", dept_id(str(c["dept"])))].append(v)
        self._ratio("citizen_satisfaction_score", g, {k[0] for k in g})

        # mobile handling: cases of the month among the 100 highest-volume items of the trailing 12 months
        g = defaultdict(list)
        for m in sorted({month(c["applied_at"]) for c in cases}):
            idx = m.year * 12 + m.month - 1 - 11  # the trailing 12 months: 11 months before m, and m
            lo = date(idx // 12, idx % 12 + 1, 1)
            vol: dict[str, int] = defaultdict(int)
            for c in cases:
                if lo <= month(c["applied_at"]) <= m:
                    vol[c["item_code"]] += 1
            top = {i for i, _ in sorted(vol.items(), key=lambda kv: (-kv[1], kv[0]))[:100]}
            for c in cases:
                if month(c["applied_at"]) == m and c["item_code"] in top:
                    flag = 1.0 if c["channel"] == "掌上" else 0.0
                    g[(m, c["district_code"], "district", c["district_code"])].append(flag)
                    g[(m, c["district_code"], "department", dept_id(c["dept"]))].append(flag)
        self._ratio("mobile_handling_rate", g, {k[0] for k in g})

        # risk warnings: accuracy (warning followed within window_hours by an incident of the same
        # type and district) and recall (incident preceded by such a warning)
        warns = [w for w in rec.get("emergency.risk_warnings", []) if w["issued_at"] <= R]
        incs = [i for i in rec.get("emergency.incidents", []) if i["occurred_at"] <= R]

        def follows(w: Record, i: Record) -> bool:
            return (
                w["risk_type"] == i["incident_type"]
                and w["district_code"] == i["district_code"]
                and w["issued_at"] < i["occurred_at"] <= w["issued_at"] + timedelta(hours=int(w["window_hours"]))
            )

        g = defaultdict(list)
        for w in warns:
            hit = any(follows(w, i) for i in incs)
            if hit or w["issued_at"] + timedelta(hours=int(w["window_hours"])) <= R:
                g[(month(w["issued_at"]), w["district_code"], "district", w["district_code"])].append(float(hit))
        self._ratio("risk_warning_accuracy", g, {k[0] for k in g})
        g = defaultdict(list)
        for i in incs:
            g[(month(i["occurred_at"]), i["district_code"], "district", i["district_code"])].append(
                float(any(follows(w, i) for w in warns))
            )
        self._ratio("risk_warning_recall", g, {k[0] for k in g})

        # grid events resolved in the month: hours reported → resolved (district = grid code prefix)
        events = [
            e for e in rec.get("grid.events", []) if e["reported_at"] <= R and str(e["grid_code"])[:6] in DISTRICTS
        ]
        g = defaultdict(list)
        for e in events:
            if e["resolved_at"] and e["resolved_at"] <= R:
                h = (e["resolved_at"] - e["reported_at"]).total_seconds() / 3600
                d = str(e["grid_code"])[:6]
                dept = dept_id(e["handling_dept"]) if e["handling_dept"] else "unassigned"
                g[(month(e["resolved_at"]), d, "district", d)].append(h)
                g[(month(e["resolved_at"]), d, "department", dept)].append(h)
        months = {k[0] for k in g}
        self._ratio("grid_event_handling_hours_mean", dict(g), months)
        for m in months:
            for d in DISTRICTS:
                g.setdefault((m, d, "district", d), [])
        for (m, d, t, c), vals in g.items():
            self._put(
                m,
                d,
                t,
                c,
                "grid_event_handling_hours_median",
                Expected(statistics.median(vals) if vals else None, None, len(vals)),
            )

        # first-receiver responsibility (by first receiver) and repeat requests, by month received
        g = defaultdict(list)
        rep: dict = defaultdict(list)
        for t in tickets:
            ok = t["transfer_count"] == 0 or (
                t["handling_dept"] is not None
                and str(t["handling_dept"]).strip() == str(t["first_receiver_dept"]).strip()
            )
            m, d = month(t["received_at"]), t["district_code"]
            g[(m, d, "district", d)].append(float(ok))
            g[(m, d, "department", dept_id(t["first_receiver_dept"]))].append(float(ok))
            p = phone_key(t["caller_phone"])
            again = p is not None and any(
                o is not t
                and phone_key(o["caller_phone"]) == p
                and o["topic"] == t["topic"]
                and timedelta(0) < t["received_at"] - o["received_at"] <= timedelta(days=30)
                for o in tickets
            )
            rep[(m, d, "district", d)].append(float(again))
        self._ratio("first_receiver_responsibility_rate", g, {k[0] for k in g})
        self._ratio("repeat_request_rate", rep, {k[0] for k in rep})

        # community requests: rated requests completed in the month, by community (12-digit code)
        share: dict = defaultdict(list)
        mean: dict = defaultdict(list)
        for r in rec.get("community.service_requests", []):
            d = str(r["grid_code"])[:6]
            if r["rating"] is None or not r["completed_at"] or r["completed_at"] > R or d not in DISTRICTS:
                continue
            m = month(r["completed_at"])
            for k in ((m, d, "district", d), (m, d, "community", str(r["grid_code"])[:12])):
                share[k].append(float(int(r["rating"]) >= 4))
                mean[k].append(float(r["rating"]))
        self._ratio("community_request_good_rating_share", share, {k[0] for k in share})
        self._ratio("community_request_mean_rating", mean, {k[0] for k in mean})

        # EV charging: incidents per 10,000 households (current grids), hazards found (grid events)
        hh: dict[str, int] = defaultdict(int)
        for gr in rec.get("grid.grids", []):
            hh[str(gr["district_code"])] += int(gr["households"])
        months = {m for m in self.sc.months if m <= month(R)}
        for m in months:
            for d in DISTRICTS:
                n = sum(
                    1
                    for i in incs
                    if i["incident_type"] == "电动车充电事故"
                    and i["district_code"] == d
                    and month(i["occurred_at"]) == m
                )
                den = hh.get(d, 0) / 10000
                self._put(
                    m,
                    d,
                    "district",
                    d,
                    "ev_charging_incidents_per_10k_households",
                    Expected(n / den if den else None, n, den),
                )
                found = sum(
                    1
                    for e in events
                    if e["category"] == "电动车充电隐患"
                    and str(e["grid_code"])[:6] == d
                    and month(e["reported_at"]) == m
                )
                self._put(m, d, "district", d, "ev_charging_hazards_found", Expected(float(found)))

        self._air()
        self._traffic_pipes()
        self._data_quality()

    def _air(self) -> None:
        """Good-day ratio: days whose daily AQI (§4.4; ≥ 20 valid hours) is ≤ 100, by district."""
        by_day: dict[tuple[str, str, date], dict[int, Record]] = defaultdict(dict)
        for r in self.records.get("ecology.air_quality_hourly", []):
            t = r["observed_at"]
            if t <= self.report:
                by_day[(str(r["district_code"]), str(r["station_code"]), t.date())][t.hour] = r
        g: dict = defaultdict(list)
        for (dist, _station, day), hours in by_day.items():
            # §4.4: "a missing hour and a row with an empty O3 value are the same", so an hour
            # counts towards the 20 only when its row carries every pollutant, O3 included.
            valid = [r for r in hours.values() if all(r[p] is not None for p in POLLUTANTS)]
            if len(valid) < 20:
                continue
            sub = []
            for p in ("pm25", "pm10", "so2", "no2", "co"):
                vals = [float(h[p]) for h in hours.values() if h[p] is not None]
                if vals:
                    sub.append(_iaqi(BP24[p], sum(vals) / len(vals)))
            o3 = {h: float(r["o3"]) for h, r in hours.items() if r["o3"] is not None}
            windows = []
            for end in range(7, 24):
                vals = [o3[h] for h in range(end - 7, end + 1) if h in o3]
                if len(vals) >= 6:
                    windows.append(sum(vals) / len(vals))
            if windows:
                sub.append(_iaqi(BP24["o3_8h"], max(windows)))
            g[(month(day), dist, "district", dist)].append(float(max(sub) <= 100))
        self._ratio("air_quality_good_day_ratio", g, {k[0] for k in g})

    def _traffic_pipes(self) -> None:
        g: dict = defaultdict(list)
        for r in self.records.get("transport.traffic_flow", []):
            t = r["interval_start"]
            if t > self.report or r["congestion_index"] is None:
                continue
            minutes = t.hour * 60 + t.minute
            period = "am" if 420 <= minutes < 540 else "pm" if 1020 <= minutes < 1140 else None
            if period:
                d = str(r["district_code"])
                g[(month(t), d, "district", d)].append(float(r["congestion_index"]))
                g[(month(t), d, "peak_period", period)].append(float(r["congestion_index"]))
        self._ratio("traffic_peak_congestion_index", g, {k[0] for k in g})

        breach: dict = defaultdict(set)
        seen: set = set()
        for r in self.records.get("utilities.pipe_pressure", []):
            t = r["measured_at"]
            if t > self.report:
                continue
            d, hour = str(r["district_code"]), t.replace(minute=0, second=0)
            for k in ((month(t), d, "district", d), (month(t), d, "network_type", str(r["network_type"]))):
                seen.add(k)
                if not float(r["threshold_low"]) <= float(r["pressure_mpa"]) <= float(r["threshold_high"]):
                    breach[k].add((r["sensor_id"], hour))
        for k in seen:
            self._put(*k, "pipe_pressure_breach_sensor_hours", Expected(float(len(breach[k]))))

    def _data_quality(self) -> None:
        """§5 bureau data quality, city-wide (370400), one dimension per bureau.dataset."""
        R = self.report
        by_ds: dict[str, list[FileOutcome]] = defaultdict(list)
        for f in self.files:
            if f.uploaded_local <= R:
                by_ds[f.dataset].append(f)
        for ds, files in by_ds.items():
            for m in {month(f.business_date) for f in files}:
                mf = [f for f in files if month(f.business_date) == m and f.status != "duplicate"]
                rec, acc = sum(f.rows_received for f in mf), sum(f.rows_accepted for f in mf)
                self._put(
                    m,
                    CITY,
                    "bureau_dataset",
                    ds,
                    "dq_rows_accepted_rate",
                    Expected(acc / rec if rec else None, acc, rec),
                )
                self._put(
                    m,
                    CITY,
                    "bureau_dataset",
                    ds,
                    "dq_files_rejected",
                    Expected(float(sum(f.status == "rejected" for f in mf))),
                )
            if ds not in DAILY | FEEDS:
                continue
            d = min(f.business_date for f in files)  # the dataset's calendar starts at its first submission
            g: dict = defaultdict(list)
            while d <= R.date():
                due = deadline(ds, d)
                arrivals = [f.uploaded_local for f in files if f.business_date == d and f.status != "rejected"]
                first = min(arrivals) if arrivals else None
                if due <= R or (first is not None and first <= due):
                    g[month(d)].append(float(first is not None and first <= due))
                d += timedelta(days=1)
            for m, vals in g.items():
                self._put(
                    m,
                    CITY,
                    "bureau_dataset",
                    ds,
                    "dq_on_time_rate",
                    Expected(sum(vals) / len(vals), sum(vals), len(vals)),
                )


def _iaqi(bp: list[float], c: float) -> int:
    if c > bp[-1]:
        return 500
    for i in range(1, len(bp)):
        if c <= bp[i]:
            v = (IAQI[i] - IAQI[i - 1]) / (bp[i] - bp[i - 1]) * (c - bp[i - 1]) + IAQI[i - 1]
            return math.ceil(round(v, 9))
    return 500
