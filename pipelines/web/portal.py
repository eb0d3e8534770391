"""数据报送门户: the clerk's pages. Every S3 call is made with the clerk's own keys (:mod:`.bureau_s3`),
so another bureau's files, receipts and reminders are refused by the S3 server itself; the monthly
data-quality score comes from the published warehouse and is shown for the clerk's bureau only."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, Response

from pipelines import deadlines, settings, workdays
from pipelines.ingest.keys import InvalidKey, parse_key
from pipelines.web import bureau_s3, datasets, warehouse
from pipelines.web.common import DENIED_MESSAGE, PageError, clerk, render, session_of, store
from pipelines.web.security import SESSION_COOKIE, cookie_kwargs, csrf_ok

router = APIRouter(prefix="/portal")

STATUS_ZH = {
    "accepted": "已接收",
    "rejected": "已拒收",
    "duplicate": "重复提交（未重复入库）",
    "failed": "处理失败",
}
DAY_STATUS_ZH = {
    "on_time": "按时",
    "late": "迟报",
    "missing": "缺报",
    "not_due": "未到时限",
    "before_calendar": "首次报送前（不计）",
    "no_deadline": "无时限",
}
BAD_NAME = "文件名含有不允许的字符（如控制字符、引号、尖括号、问号或星号），请改名后再上传。"
_NAME = re.compile(r"^[^/\\\x00-\x1f]{1,200}$")


def _client(session):
    return bureau_s3.client(session.access_key, session.secret_key)


def _s3(fn, *args, **kwargs):
    """Run a clerk's S3 call; the server's refusal becomes a 403 page."""
    try:
        return fn(*args, **kwargs)
    except bureau_s3.Denied:
        raise PageError(403, DENIED_MESSAGE) from None


def _check_csrf(request: Request, token: str | None) -> None:
    if not csrf_ok(session_of(request), token):
        raise PageError(403, "表单已失效或来源不明（CSRF 校验失败），请刷新页面后重新提交。")


def _contract(dataset_key: str):
    contract = datasets.contract_of(dataset_key)
    if contract is None:
        raise PageError(404, f"没有名为 {dataset_key[:60]} 的数据集。")
    return contract


def _date(text: str, what: str = "业务日期") -> date:
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise PageError(400, f"{what}格式应为 YYYY-MM-DD，例如 2026-03-05。") from None


# --- sign in / out ------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request):
    session = session_of(request)
    if session is None:
        session = store(request).new()
    response = render(request, "login.html", session=session, csrf=session.csrf)
    response.set_cookie(SESSION_COOKIE, session.sid, **cookie_kwargs())
    return response


@router.post("/login")
def login(
    request: Request,
    bureau: str = Form(""),
    access_key: str = Form(""),
    secret_key: str = Form(""),
    csrf: str = Form(""),
):
    _check_csrf(request, csrf)
    session = session_of(request)
    if not bureau_s3.verify(bureau, access_key.strip(), secret_key.strip()):
        return render(request, "login.html", status=401, error="登录失败：委办局或访问密钥不正确。")
    signed = store(request).sign_in(session, bureau, access_key.strip(), secret_key.strip())
    response = RedirectResponse("/portal", status_code=303)
    response.set_cookie(SESSION_COOKIE, signed.sid, **cookie_kwargs())
    return response


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")):
    _check_csrf(request, csrf)
    store(request).drop(session_of(request).sid)
    response = RedirectResponse("/portal/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- pages ---------------------------------------------------------------------------------


@router.get("")
def home(request: Request):
    session = clerk(request)
    c = _client(session)
    rows = []
    for contract in datasets.bureau_contracts(session.bureau):
        files = _s3(bureau_s3.landed_files, c, contract.bureau, contract.dataset)
        rows.append({"contract": contract, "files": len(files), "latest": files[0].business_date if files else "—"})
    reminders = _s3(bureau_s3.reminders, c, session.bureau)
    return render(request, "portal_home.html", rows=rows, reminders=reminders[:20], reminder_count=len(reminders))


def _month_start(text: str | None, files) -> date:
    if text:
        try:
            return date.fromisoformat(f"{text}-01" if len(text) == 7 else text).replace(day=1)
        except ValueError:
            raise PageError(400, "月份格式应为 YYYY-MM，例如 2026-03。") from None
    latest = max((f.business_date for f in files), default=None)
    return (date.fromisoformat(latest) if latest else datetime.now(workdays.TZ).date()).replace(day=1)


def _calendar(contract, files, docs, first: date) -> list[dict]:
    """Each day of the month from ``first``: on time / late / missing, as the data-quality KPI counts
    (:func:`pipelines.deadlines.evaluate` on the clerk's receipts, as of now)."""
    frame = bureau_s3.registry_frame(contract.bureau, contract.dataset, files, docs)
    t = deadlines.evaluate(contract, frame, datetime.now(workdays.TZ))
    days = []
    day = first
    while day.month == first.month:
        status = t.status_of(day)
        due = deadlines.deadline(contract, day)
        days.append(
            {"date": day, "status": status, "zh": DAY_STATUS_ZH[status], "deadline": due.deadline_text() if due else ""}
        )
        day += timedelta(days=1)
    return days


def _shift(first: date, months: int) -> str:
    n = first.year * 12 + first.month - 1 + months
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


@router.get("/datasets/{bureau}/{dataset}")
def dataset_page(request: Request, bureau: str, dataset: str, month: str | None = None):
    session = clerk(request)
    contract = _contract(f"{bureau}.{dataset}")
    c = _client(session)
    files = _s3(bureau_s3.landed_files, c, bureau, dataset)
    docs = _s3(bureau_s3.receipts, c, bureau, dataset)
    first = _month_start(month, files)
    return render(
        request,
        "dataset.html",
        contract=contract,
        fields=datasets.fields(contract),
        files=files,
        docs=docs,
        status_zh=STATUS_ZH,
        calendar=_calendar(contract, files, docs, first),
        month=first,
        prev_month=_shift(first, -1),
        next_month=_shift(first, 1),
        max_mb=datasets.max_bytes(contract) / 2**20,
        max_bytes=datasets.max_bytes(contract),
        cadence=datasets.CADENCE_ZH.get(contract.cadence, contract.cadence),
        quote=quote,
    )


@router.get("/templates/{bureau}/{dataset}.{ext}")
def template(request: Request, bureau: str, dataset: str, ext: str, encoding: str = "utf-8"):
    clerk(request)
    contract = _contract(f"{bureau}.{dataset}")
    name = f"{bureau}_{dataset}_template"
    if ext == "xlsx":
        body = datasets.template_xlsx(contract)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    elif ext == "csv":
        codec = {"utf-8": "utf-8-sig", "gbk": "gbk"}.get(encoding)
        if codec is None:
            raise PageError(400, "模板编码只能是 utf-8 或 gbk。")
        body = datasets.template_csv(contract, codec)
        media = f"text/csv; charset={encoding}"
        name += f"_{encoding}"
    else:
        raise PageError(404, "模板格式只能是 xlsx 或 csv。")
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}.{ext}"'})


@router.post("/upload")
def upload(
    request: Request,
    dataset: str = Form(""),
    business_date: str = Form(""),
    csrf: str = Form(""),
    file: UploadFile | None = None,
):
    _check_csrf(request, csrf)
    session = clerk(request)
    contract = _contract(dataset)
    day = _date(business_date)
    if file is None or not file.filename:
        raise PageError(400, "请选择要上传的文件。")
    name = file.filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not _NAME.match(name) or name in (".", ".."):
        raise PageError(400, "文件名不能为空，且不能含有斜杠或控制字符。")
    size = file.size if file.size is not None else len(file.file.read())
    file.file.seek(0)
    cap = datasets.max_bytes(contract)
    if size > cap:
        raise PageError(413, f"文件过大：{size / 2**20:.1f} MB，该数据集单个文件上限为 {cap / 2**20:.0f} MB。")
    key = f"{contract.bureau}/{contract.dataset}/{day.isoformat()}/{name}"
    try:
        parse_key(key)
    except InvalidKey:
        raise PageError(400, BAD_NAME) from None
    _s3(bureau_s3.upload, _client(session), key, file.file, size)
    url = "/portal/receipt/" + quote(key)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"receipt_url": url})
    return RedirectResponse(url, status_code=303)


@router.get("/receipt/{key:path}")
def receipt_page(request: Request, key: str):
    session = clerk(request)
    c = _client(session)
    try:
        doc = _s3(bureau_s3.receipt, c, key)
    except bureau_s3.Missing:
        doc = None
    if doc is None:
        parts = key.split("/")
        if len(parts) < 4:
            raise PageError(404, "没有这个文件的回执。")
        files = _s3(bureau_s3.landed_files, c, parts[0], parts[1])
        if not any(f.key == key for f in files):
            raise PageError(404, "没有这个文件，也没有它的回执。")
        return render(request, "receipt_pending.html", key=key)
    contract = datasets.contract_of(f"{doc.get('bureau')}.{doc.get('dataset')}")
    rule_rows = [
        {"rule": rule, "text": info.get("description") or datasets.rule_text(rule, contract), "count": info["count"]}
        for rule, info in (doc.get("rule_counts") or {}).items()
    ]
    failures = [
        {"row": f.get("row_number"), "rules": [datasets.rule_text(r, contract) for r in f.get("rules", [])]}
        for f in doc.get("failures") or []
    ]
    return render(
        request,
        "receipt.html",
        key=key,
        doc=doc,
        status_zh=STATUS_ZH.get(doc.get("status"), doc.get("status")),
        rule_rows=rule_rows,
        failures=failures,
        rule_of_file=datasets.rule_text(doc["rule"], contract) if doc.get("rule") else "",
    )


@router.post("/receipt")
def receipt_lookup(request: Request, key: str = Form(""), csrf: str = Form("")):
    """The 查询回执 form: a landing key (``<bureau>/<dataset>/<date>/<file>``) → its receipt page."""
    _check_csrf(request, csrf)
    clerk(request)
    key = key.strip()
    if key.count("/") < 3:
        raise PageError(400, "请输入完整的文件路径：委办局/数据集/业务日期/文件名。")
    return receipt_page(request, key)


@router.get("/reminders/{key:path}")
def reminder_page(request: Request, key: str):
    session = clerk(request)
    try:
        doc = _s3(bureau_s3.reminder, _client(session), key)
    except bureau_s3.Missing:
        raise PageError(404, "没有这条催报通知。") from None
    return render(request, "reminder.html", doc=doc)


@router.get("/scores/{bureau}")
def score_page(request: Request, bureau: str, month: str | None = None):
    """The bureau's monthly data-quality score (kpi_bureau_data_quality_monthly), own bureau only."""
    session = clerk(request)
    if bureau != session.bureau:
        raise PageError(403, DENIED_MESSAGE)
    try:
        months = warehouse.quality_months(bureau)
    except warehouse.NotPublished:
        return render(request, "score.html", rows=[], months=[], month=None, bureau=bureau)
    chosen = _date(month, "月份") if month else (months[0] if months else None)
    rows = warehouse.bureau_quality(chosen, bureau) if chosen else []
    return render(request, "score.html", rows=rows, months=months, month=chosen, bureau=bureau)


@router.post("/scores")
def score_lookup(request: Request, bureau: str = Form(""), month: str = Form(""), csrf: str = Form("")):
    _check_csrf(request, csrf)
    return score_page(request, bureau, month or None)


def bureau_name(code: str) -> str:
    return settings.bureaus().get(code, code)
