"""The people's pages in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

One hub: the oracle's seeded scenario (every bureau, two months, late and missing dates) is
submitted with each bureau's own keys, ingested, built with dbt, published, and the duty code
writes its reminders (:func:`tests.oracle.hub.build`, shared with the oracle tests); the web app
(``pipelines.web``) runs in uvicorn on a free loopback port. Then, as people would:

- a hotline clerk signs in, downloads the templates, uploads a file and watches its receipt appear
  once the real ingestion has run; sees the on-time calendar, reminders and monthly score; and is
  refused (by the S3 server, or for scores by the page) every other bureau's files, receipts,
  reminders and scores, tried by URL and by form;
- a leader's cockpit shows exactly the numbers of ``kpi_scorecard_monthly``;
- the catalogue lists every published table with its row count;
- forms without a valid CSRF token, bad input, cookies, secrets and the access log are checked.

Screenshots go to ``tests/artifacts/screenshots/`` (ignored by git)."""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import openpyxl
import pytest

from pipelines import alerts, contracts, deadlines, ingest, lake, publish, s3, settings, workdays
from pipelines.tools import s3server
from pipelines.web import app as web_app
from tests.helpers import csv_bytes, ticket

SEED = 20261201
SHOTS = settings.REPO_ROOT / "tests" / "artifacts" / "screenshots"
CLERK = "hotline"
OTHER = "grid"
DENIED = "无权访问"
TZ = workdays.TZ


def chromium_path() -> str:
    """Debian's Chromium; its absence fails the suite (never a skip)."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        "Chromium is not installed: the browser tests need Debian's `chromium` and `fonts-noto-cjk` "
        "(`make browser`, run by `make setup`, installs them with apt-get).",
        pytrace=False,
    )


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def hub(scenario_hub) -> Iterator[dict[str, Any]]:
    built = scenario_hub(SEED)
    with pytest.MonkeyPatch.context() as mp:
        for name, value in built.env.items():
            mp.setenv(name, value)
        sc, tmp, manifest, reminders = built.scenario, built.tmp, built.manifest, built.reminders

        records = _Records()
        log = logging.getLogger("shuzhong.web")
        log.addHandler(records)
        log.setLevel(logging.INFO)
        port = s3server.free_port()
        server = web_app.server("127.0.0.1", port)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started, "the web app did not start"
        try:
            yield {
                "base": f"http://127.0.0.1:{port}",
                "scenario": sc,
                "reminders": reminders,
                "published": settings.published_db_path(),
                "manifest": manifest,
                "log": records,
                "tmp": tmp,
                "mp": mp,
            }
        finally:
            server.should_exit = True
            thread.join(timeout=15)
            log.removeHandler(records)


@pytest.fixture(scope="module")
def browser(hub: dict[str, Any]):
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


def _new_page(browser, hub):
    context = browser.new_context(base_url=hub["base"], locale="zh-CN", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.outside: list[str] = []  # requests that left the app (there must be none: no CDN, no network)
    page.on(
        "request", lambda r: None if r.url.startswith((hub["base"], "data:", "blob:")) else page.outside.append(r.url)
    )
    page.errors: list[str] = []  # script errors and console errors of the page
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    return page


def _sign_in(page, bureau: str = CLERK) -> None:
    creds = settings.credentials(bureau)
    page.goto("/portal/login")
    page.select_option("#bureau", bureau)
    page.fill("#access_key", creds.access_key)
    page.fill("#secret_key", creds.secret_key)
    page.click("#login")
    page.wait_for_url("**/portal")


@pytest.fixture(scope="module")
def clerk(browser, hub):
    page = _new_page(browser, hub)
    _sign_in(page)
    yield page
    page.context.close()


@pytest.fixture(scope="module")
def uploaded(clerk, hub) -> dict[str, Any]:
    """One file uploaded through the browser's form and ingested by the real ingestion."""
    rows = [ticket(901), ticket(902, 所属区县="999999"), ticket(903)]
    path = hub["tmp"] / "工单导出.csv"
    path.write_bytes(csv_bytes(rows))
    clerk.goto(f"/portal/datasets/{CLERK}/tickets")
    clerk.fill("#business_date", "2026-11-30")
    clerk.set_input_files("#file", str(path))
    clerk.click("#upload")
    clerk.wait_for_url("**/portal/receipt/**")
    key = f"{CLERK}/tickets/2026-11-30/{path.name}"
    assert clerk.url.endswith("/portal/receipt/" + quote(key))
    pending = clerk.content()
    head = s3.client("pipeline").head_object(Bucket=settings.buckets().landing, Key=key)
    obj = ingest.LandingObject(key, head["ETag"].strip('"'), head["ContentLength"], head["LastModified"])
    ingest.process_batch([obj], run_id="web-test")  # what the ingestion run does with the sensor's batch
    clerk.wait_for_selector("#status", timeout=20_000)  # the pending page refreshes itself
    return {"key": key, "rows": rows, "pending": pending}


def _shot(page, name: str) -> None:
    page.screenshot(path=str((SHOTS / name).with_suffix(".png")), full_page=True)


def _message(page) -> str:
    return page.inner_text("#message")


# --- portal ----------------------------------------------------------------------------------


def test_sign_in_shows_own_datasets(clerk, hub):
    clerk.goto("/portal")
    assert "12345" in clerk.inner_text("#who") or settings.bureaus()[CLERK] in clerk.inner_text("#who")
    shown = set(clerk.eval_on_selector_all("#datasets code", "els => els.map(e => e.textContent)"))
    assert shown == {c.key for c in contracts.all_contracts().values() if c.bureau == CLERK}
    _shot(clerk, "portal_home")


def test_sign_in_with_wrong_or_other_bureaus_keys_fails(browser, hub):
    page = _new_page(browser, hub)
    try:
        for bureau, creds in [(CLERK, settings.Credentials(settings.credentials(CLERK).access_key, "wrong")),
                              (CLERK, settings.credentials(OTHER))]:  # fmt: skip
            page.goto("/portal/login")
            page.select_option("#bureau", bureau)
            page.fill("#access_key", creds.access_key)
            page.fill("#secret_key", creds.secret_key)
            page.click("#login")
            assert "登录失败" in _message(page)
            assert page.url.endswith("/portal/login")
        assert page.goto("/portal").status == 401
    finally:
        page.context.close()


def test_templates_download_with_the_contract_header(clerk, hub):
    contract = contracts.get_contract(CLERK, "tickets")
    header = [f.business_name for f in contract.fields]
    clerk.goto(f"/portal/datasets/{CLERK}/tickets")
    with clerk.expect_download() as d:
        clerk.click("#tpl-xlsx")
    ws = openpyxl.load_workbook(io.BytesIO(Path(d.value.path()).read_bytes())).active
    assert [c.value for c in ws[1]] == header
    for link, codec in (("#tpl-csv", "utf-8-sig"), ("#tpl-csv-gbk", "gbk")):
        with clerk.expect_download() as d:
            clerk.click(link)
        assert Path(d.value.path()).read_bytes().decode(codec).strip().split(",") == header
    # the template is the header the parser reads: rules and field names shown are the contract's
    names = clerk.eval_on_selector_all("#fields tbody tr td:nth-child(2)", "els => els.map(e => e.textContent)")
    assert names == [f.name for f in contract.fields]
    assert "工单编号(ticket_id) 必填" in clerk.inner_text("#fields")


def test_upload_then_receipt_appears(clerk, uploaded):
    assert "正在处理" in uploaded["pending"]
    assert clerk.inner_text("#status") == "已接收"
    assert clerk.inner_text("#rows-received") == "3"
    assert clerk.inner_text("#rows-accepted") == "2"
    assert clerk.inner_text("#rows-quarantined") == "1"
    assert clerk.inner_text("#contract-version") == contracts.get_contract(CLERK, "tickets").version
    # the bad row is the second data row: spreadsheet row 3 (header is row 1), with its rule; no values
    assert clerk.eval_on_selector_all("#failures .row-number", "els => els.map(e => e.textContent)") == ["3"]
    assert "district_code.enum" in clerk.inner_text("#rules")
    html = clerk.content()
    for value in ("999999", "13800001234", "张三", "夜间施工噪音扰民"):
        assert value not in html
    receipt = ingest.read_receipt(uploaded["key"])
    assert receipt["status"] == "accepted" and receipt["uploaded_at"]
    _shot(clerk, "portal_receipt")


def test_upload_over_the_size_limit_is_refused(clerk, hub):
    hub["mp"].setenv("SHUZHONG_MAX_OBJECT_MB", "1")  # the contract sets no maxObjectMB: the hub's cap applies
    try:
        big = hub["tmp"] / "big.csv"
        big.write_bytes(b"x" * (2 * 2**20))
        clerk.goto(f"/portal/datasets/{CLERK}/tickets")
        clerk.fill("#business_date", "2026-11-29")
        clerk.set_input_files("#file", str(big))
        assert clerk.get_attribute("#upload-form", "data-max-bytes") == str(2**20)
        clerk.click("#upload")
        assert "文件过大" in clerk.inner_text("#progress-text"), clerk.errors  # checked before sending
        csrf = clerk.input_value("#upload-form input[name=csrf]")
        resp = clerk.request.post(
            "/portal/upload",
            multipart={"csrf": csrf, "dataset": f"{CLERK}.tickets", "business_date": "2026-11-29",
                       "file": {"name": "big.csv", "mimeType": "text/csv", "buffer": big.read_bytes()}},
        )  # fmt: skip
        assert resp.status == 413 and "文件过大" in resp.text() and "1 MB" in resp.text()
        listed = s3.client("pipeline").list_objects_v2(
            Bucket=settings.buckets().landing, Prefix=f"{CLERK}/tickets/2026-11-29/"
        )
        assert not listed.get("Contents")
    finally:
        hub["mp"].delenv("SHUZHONG_MAX_OBJECT_MB")


def test_calendar_equals_the_pipelines_view(clerk, hub):
    """Each day's status from the clerk's receipts equals the one from the pipeline's file registry,
    and the month's on-time / late counts equal the data-quality KPI's."""
    contract = contracts.get_contract(CLERK, "tickets")
    month = hub["scenario"].months[0]
    clerk.goto(f"/portal/datasets/{CLERK}/tickets?month={month:%Y-%m}")
    shown = dict(
        clerk.eval_on_selector_all("#calendar .day", "els => els.map(e => [e.dataset.date, e.dataset.status])")
    )
    t = deadlines.evaluate(contract, lake.registry(), datetime.now(TZ))
    want = {d: t.status_of(date.fromisoformat(d)) for d in shown}
    assert shown == want
    assert len(shown) >= 28
    with duckdb.connect(str(hub["published"]), read_only=True) as con:
        on_time, late = con.execute(
            "SELECT dates_on_time, dates_late FROM kpi_bureau_data_quality_monthly "
            "WHERE kpi_month = ? AND bureau = ? AND dataset = 'tickets' AND kpi_code = 'dq_on_time_rate'",
            [month, CLERK],
        ).fetchone()
    statuses = list(shown.values())
    assert statuses.count("on_time") == on_time
    assert statuses.count("late") == late
    _shot(clerk, "portal_dataset")


def test_reminders_and_score_are_the_bureaus(clerk, hub):
    mine = sorted(r.key for r in hub["reminders"] if r.bureau == CLERK)
    assert mine, "the scenario should leave the hotline a missed date"
    clerk.goto("/portal")
    links = clerk.eval_on_selector_all("#reminders a", "els => els.map(e => e.getAttribute('href'))")
    assert sorted(link.removeprefix("/portal/reminders/") for link in links) == mine
    clerk.click("#reminders a >> nth=0")
    assert "催报通知" in clerk.inner_text("h1")
    assert clerk.inner_text("#reminder").count(CLERK) >= 1
    clerk.goto("/portal")
    clerk.click("#score-link")
    rows = clerk.eval_on_selector_all(
        "#scores tbody tr", "els => els.map(e => [e.dataset.dataset, e.dataset.kpi, e.cells[2].textContent])"
    )
    month = hub["scenario"].months[-1]
    with duckdb.connect(str(hub["published"]), read_only=True) as con:
        want = con.execute(
            "SELECT dataset, kpi_code, kpi_value FROM kpi_bureau_data_quality_monthly "
            "WHERE bureau = ? AND kpi_month = ? ORDER BY dataset, kpi_code",
            [CLERK, month],
        ).fetchall()
    assert [(d, k) for d, k, _ in rows] == [(d, k) for d, k, _ in want]
    for (_, _, text), (_, _, value) in zip(rows, want, strict=True):
        assert (text == "—") if value is None else abs(float(text) - value) < 5e-5
    _shot(clerk, "portal_score")


def _other_keys() -> dict[str, str]:
    """A landing key, its receipt and a reminder of another bureau, which exist (read as the pipeline)."""
    c = s3.client("pipeline")
    b = settings.buckets()
    landed = c.list_objects_v2(Bucket=b.landing, Prefix=f"{OTHER}/events/")["Contents"][0]["Key"]
    assert ingest.read_receipt(landed) is not None
    reminder = c.list_objects_v2(Bucket=b.receipts, Prefix=f"{OTHER}/{alerts.REMINDER_DIR}/")["Contents"]
    return {"landed": landed, "reminder": next(o["Key"] for o in reminder if o["Key"].endswith(".json"))}


def _assert_denied(page, response=None) -> None:
    if response is not None:
        assert response.status == 403
    text = page.inner_text("main")
    assert DENIED in text
    for leak in ("收到行数", "业务日期：", "应上传至", "数据集：", "工单", "dq_"):
        assert leak not in text


def test_other_bureaus_data_refused_by_url(clerk, hub):
    other = _other_keys()
    for url in (
        f"/portal/datasets/{OTHER}/events",
        "/portal/receipt/" + quote(other["landed"]),
        "/portal/reminders/" + other["reminder"],
        f"/portal/scores/{OTHER}",
    ):
        _assert_denied(clerk, clerk.goto(url))
    _shot(clerk, "portal_denied")


def test_other_bureaus_data_refused_by_form(clerk, hub):
    other = _other_keys()
    # upload: the form's dataset changed to another bureau's → the S3 server refuses the PUT
    path = hub["tmp"] / "other.csv"
    path.write_bytes(b"a,b\r\n1,2\r\n")
    clerk.goto(f"/portal/datasets/{CLERK}/tickets")
    clerk.eval_on_selector("#upload-form input[name=dataset]", f"e => e.value = '{OTHER}.events'")
    clerk.fill("#business_date", "2026-11-28")
    clerk.set_input_files("#file", str(path))
    clerk.click("#upload")
    clerk.wait_for_selector("#message")
    _assert_denied(clerk)
    listed = s3.client("pipeline").list_objects_v2(
        Bucket=settings.buckets().landing, Prefix=f"{OTHER}/events/2026-11-28/"
    )
    assert not listed.get("Contents")
    # the receipt lookup form with another bureau's key
    clerk.goto("/portal")
    clerk.fill("#receipt-form input[name=key]", other["landed"])
    clerk.click("#receipt-form button")
    _assert_denied(clerk)
    # the score form with another bureau
    clerk.goto(f"/portal/scores/{CLERK}")
    clerk.eval_on_selector("#score-form input[name=bureau]", f"e => e.value = '{OTHER}'")
    clerk.click("#score-form button")
    _assert_denied(clerk)


# --- security ----------------------------------------------------------------------------------


def test_post_without_or_with_wrong_csrf_token_is_refused(clerk, hub):
    clerk.goto(f"/portal/datasets/{CLERK}/tickets")
    good = clerk.input_value("#upload-form input[name=csrf]")
    form = {"dataset": f"{CLERK}.tickets", "business_date": "2026-11-27"}
    file = {"name": "x.csv", "mimeType": "text/csv", "buffer": csv_bytes([ticket(1)])}
    for token in (None, "wrong", good[:-1] + ("A" if good[-1] != "A" else "B")):
        fields = {**form, "file": file, **({"csrf": token} if token is not None else {})}
        resp = clerk.request.post("/portal/upload", multipart=fields)
        assert resp.status == 403 and "CSRF" in resp.text()
    for path, data in (("/portal/receipt", {"key": "a/b/c/d"}), ("/portal/logout", {}), ("/portal/scores", {})):
        resp = clerk.request.post(path, form=data)
        assert resp.status == 403 and "CSRF" in resp.text()
    listed = s3.client("pipeline").list_objects_v2(
        Bucket=settings.buckets().landing, Prefix=f"{CLERK}/tickets/2026-11-27/"
    )
    assert not listed.get("Contents")
    assert clerk.goto("/portal").status == 200  # still signed in: the logout without a token did nothing


def test_session_cookie_and_no_secret_in_pages_or_urls(clerk, hub, uploaded):
    cookies = clerk.context.cookies()
    assert [c["name"] for c in cookies] == ["shuzhong_session"]
    cookie = cookies[0]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert cookie["secure"] is False  # plain http on loopback; SHUZHONG_WEB_SECURE_COOKIES=1 behind https
    creds = settings.credentials(CLERK)
    assert creds.access_key not in cookie["value"] and creds.secret_key not in cookie["value"]
    for url in ("/portal", f"/portal/datasets/{CLERK}/tickets", "/portal/receipt/" + quote(uploaded["key"])):
        clerk.goto(url)
        html = clerk.content()
        assert creds.secret_key not in html and creds.access_key not in html and creds.secret_key not in clerk.url


def test_secure_flag_is_configurable(hub, monkeypatch):
    from pipelines.web import security

    monkeypatch.setenv("SHUZHONG_WEB_SECURE_COOKIES", "1")
    assert security.cookie_kwargs()["secure"] is True


def test_bad_input_gets_a_clear_chinese_message(clerk, hub):
    cases = [
        ("/cockpit?month=not-a-month", 400, "月份格式"),
        ("/cockpit/kpi/no_such_kpi", 404, "没有指标"),
        (f"/portal/datasets/{CLERK}/tickets?month=2026-13", 400, "月份格式"),
        ("/portal/datasets/hotline/no_such_dataset", 404, "没有名为"),
        (f"/portal/templates/{CLERK}/tickets.csv?encoding=latin-1", 400, "模板编码"),
        ("/portal/receipt/" + quote(f"{CLERK}/tickets/2026-01-01/none.csv"), 404, "没有这个文件"),
        ("/no/such/page", 404, "页面不存在"),
    ]
    for url, status, text in cases:
        resp = clerk.goto(url)
        assert resp.status == status, url
        assert text in _message(clerk), url
        assert "Traceback" not in clerk.content()
    clerk.goto(f"/portal/datasets/{CLERK}/tickets")
    csrf = clerk.input_value("#upload-form input[name=csrf]")
    for fields, text in (
        ({"business_date": "2026-02-30"}, "业务日期格式"),
        ({"business_date": "2026-11-26", "name": "a\x07b.csv"}, "文件名"),
        ({"business_date": "2026-11-26", "name": "a?b.csv"}, "不允许的字符"),
    ):
        name = fields.pop("name", "x.csv")
        resp = clerk.request.post(
            "/portal/upload",
            multipart={"csrf": csrf, "dataset": f"{CLERK}.tickets", **fields,
                       "file": {"name": name, "mimeType": "text/csv", "buffer": b"a\r\n"}},
        )  # fmt: skip
        assert resp.status == 400 and text in resp.text() and "Traceback" not in resp.text()
    resp = clerk.request.post(
        "/portal/upload", headers={"Content-Type": "multipart/form-data; boundary=x"}, data=b"--x\r\nbroken"
    )
    # a body that is not multipart: refused with a Chinese message (no form fields, so no CSRF token either)
    assert resp.status in (400, 403) and "Traceback" not in resp.text() and re.search("[\u4e00-\u9fff]", resp.text())


def test_access_log_has_no_values(clerk, hub, uploaded):
    creds = settings.credentials(CLERK)
    lines = hub["log"].lines
    assert any("/portal/receipt/{key:path}" in line for line in lines)
    joined = "\n".join(lines)
    for secret in (creds.access_key, creds.secret_key, "工单导出", "?", "month=", "13800001234", uploaded["key"]):
        assert secret not in joined


# --- cockpit -----------------------------------------------------------------------------------


def _mart(hub) -> dict[tuple, dict]:
    with duckdb.connect(str(hub["published"]), read_only=True) as con:
        cur = con.execute("SELECT * FROM kpi_scorecard_monthly")
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    # the mart's unique key: month, district, dimension, KPI (a department can work in several districts)
    keys = [
        (str(r["kpi_month"]), r["district_code"], r["dimension_type"], r["dimension_code"], r["kpi_code"]) for r in rows
    ]
    assert len(set(keys)) == len(keys)
    return dict(zip(keys, rows, strict=True))


def _cells(page) -> list[dict]:
    return page.eval_on_selector_all(
        "[data-field]",
        "els => els.map(e => ({kpi: e.dataset.kpi, dim: e.dataset.dim, month: e.dataset.month, "
        "district: e.dataset.district, field: e.dataset.field, text: e.textContent.trim(), cls: e.className}))",
    )


def _same(text: str, value) -> bool:
    return text == "—" if value is None else abs(float(text) - float(value)) <= 5e-5 * max(1.0, abs(float(value)))


def test_cockpit_numbers_equal_the_mart(browser, hub):
    mart = _mart(hub)
    page = _new_page(browser, hub)
    try:
        months = sorted({k[0] for k in mart})
        checked = 0
        for month in months:
            page.goto(f"/cockpit?month={month}")
            cells = _cells(page)
            want = {k for k in mart if k[0] == month and k[2] == "district" and not k[4].startswith("dq_")}
            got = {(c["month"], c["district"], *c["dim"].split(":", 1), c["kpi"]) for c in cells}
            assert got == want
            for c in cells:
                row = mart[(c["month"], c["district"], *c["dim"].split(":", 1), c["kpi"])]
                assert _same(c["text"], row[c["field"]]), c
                assert {True: "met", False: "missed", None: "na"}[row["is_target_met"]] in c["cls"].split()
                checked += 1
            ranking = page.eval_on_selector_all(
                "#ranking tbody tr",
                "els => els.map(e => [e.dataset.bureau, "
                "...[...e.querySelectorAll('[data-rank]')].map(x => x.textContent)])",
            )
            sums: dict[str, list[float]] = {}
            for (m, _, dim, code, kpi), r in mart.items():
                if m == month and dim == "bureau_dataset":
                    s = sums.setdefault(code.split(".")[0], [0, 0, 0, 0, 0])
                    if kpi == "dq_on_time_rate":
                        s[0] += r["numerator"] or 0
                        s[1] += r["denominator"] or 0
                    elif kpi == "dq_rows_accepted_rate":
                        s[2] += r["numerator"] or 0
                        s[3] += r["denominator"] or 0
                    elif kpi == "dq_files_rejected":
                        s[4] += r["kpi_value"] or 0
            assert {r[0] for r in ranking} == set(sums)
            for bureau, on_time, accepted, rejected in ranking:
                s = sums[bureau]
                assert _same(on_time, s[0] / s[1] if s[1] else None)
                assert _same(accepted, s[2] / s[3] if s[3] else None)
                assert _same(rejected, s[4])
            rates = [float(r[1]) if r[1] != "—" else -1 for r in ranking]
            assert rates == sorted(rates, reverse=True)
        assert checked > 50
        page.wait_for_function("window.shuzhongChartsReady === true")
        assert page.eval_on_selector("#trend-chart", "c => c.width > 0 && Chart.getChart(c) !== undefined")
        assert not page.outside
        _shot(page, "cockpit")
    finally:
        page.context.close()


def test_cockpit_drill_down_to_districts_numerator_and_denominator(browser, hub):
    mart = _mart(hub)
    page = _new_page(browser, hub)
    try:
        month = max(k[0] for k in mart)
        page.goto(f"/cockpit?month={month}")
        codes = page.eval_on_selector_all("a.kpi-link", "els => els.map(e => e.getAttribute('href'))")
        assert len(codes) >= 13
        page.click("a.kpi-link >> nth=0")
        page.wait_for_selector("#drill")
        for href in codes:
            page.goto(href)
            code = page.get_attribute("#drill", "data-kpi")
            cells = _cells(page)
            want = {k for k in mart if k[0] == month and k[4] == code}
            assert {(c["month"], c["district"], *c["dim"].split(":", 1), c["kpi"]) for c in cells} == want
            fields = {c["field"] for c in cells}
            assert {"numerator", "denominator", "kpi_value", "target_value", "baseline_value", "gap"} == fields
            for c in cells:
                assert _same(
                    c["text"], mart[(c["month"], c["district"], *c["dim"].split(":", 1), c["kpi"])][c["field"]]
                ), c
        page.goto(codes[0])
        page.wait_for_function("window.shuzhongChartsReady === true")
        assert page.eval_on_selector("#bar-chart", "c => Chart.getChart(c) !== undefined")
        assert not page.outside
        _shot(page, "cockpit_kpi")
    finally:
        page.context.close()


# --- catalogue ---------------------------------------------------------------------------------


def test_catalogue_lists_every_published_table(browser, hub):
    published: dict[str, tuple[int, set[str]]] = {}
    for key, path in publish.published_files(hub["published"]).items():
        with duckdb.connect(str(path), read_only=True) as con:
            for (name,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall():
                n = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                rows, keys = published.setdefault(name, (n, set()))
                keys.add(key)
    page = _new_page(browser, hub)
    try:
        page.goto("/catalogue")
        shown = {
            r[0]: r[1:]
            for r in page.eval_on_selector_all(
                "#catalogue tbody tr", "els => els.map(e => [e.dataset.table, e.dataset.rows, e.cells[3].textContent])"
            )
        }
        missing = sorted(set(published) - set(shown))
        assert not missing, f"published tables missing from the catalogue: {missing}"
        for name, (rows, keys) in published.items():
            assert shown[name][0] == str(rows), name
            want = "有条件共享" if publish.UNCONDITIONAL not in keys else "无条件共享"
            assert shown[name][1] == want, name
        conditional = next(n for n, (_, keys) in published.items() if publish.UNCONDITIONAL not in keys)
        section = page.inner_text(f"#t-{conditional}")
        assert "有条件共享：向" in section and "grants.yaml" in section
        assert "personal" not in section  # classes are shown in Chinese
        assert not page.outside
        _shot(page, "catalogue")
    finally:
        page.context.close()


def test_index_links_the_three_pages(browser, hub):
    page = _new_page(browser, hub)
    try:
        page.goto("/")
        hrefs = page.eval_on_selector_all(".card", "els => els.map(e => e.getAttribute('href'))")
        assert hrefs == ["/portal", "/cockpit", "/catalogue"]
        _shot(page, "index")
    finally:
        page.context.close()


def test_receipt_json_is_what_the_page_shows(clerk, uploaded):
    """The page is a view of the stored receipt (read with the clerk's keys), not a copy."""
    clerk.goto("/portal/receipt/" + quote(uploaded["key"]))
    stored = ingest.read_receipt(uploaded["key"])
    assert clerk.inner_text("#rows-accepted") == str(stored["rows_accepted"])
    assert json.dumps(stored["failures"]).count("row_number") == len(
        clerk.eval_on_selector_all("#failures .row-number", "els => els")
    )
    assert re.search(r"\d{4}-\d{2}-\d{2}", clerk.inner_text("#receipt"))
    assert datetime.fromisoformat(stored["uploaded_at"]) <= datetime.now(UTC)
