"""Notifications of the on-duty engineers (e-mail over SMTP) and 催报 reminders to late bureaus.

E-mail is configured by environment; without ``SHUZHONG_SMTP_HOST`` an alert is only logged
(quiet by default):

- ``SHUZHONG_SMTP_HOST``, ``SHUZHONG_SMTP_PORT`` (default 25, or 587 with STARTTLS),
  ``SHUZHONG_SMTP_FROM``, ``SHUZHONG_SMTP_TO`` (comma-separated recipients);
- optional ``SHUZHONG_SMTP_USER`` / ``SHUZHONG_SMTP_PASSWORD`` (login) and
  ``SHUZHONG_SMTP_STARTTLS=true``; ``SHUZHONG_SMTP_TIMEOUT`` seconds (default 10).

A reminder (催报通知) is written where the late bureau reads its receipts and cannot write:
``receipts/<bureau>/_reminders/<dataset>/<business date>.txt`` (Chinese, for the clerk) and
``.json`` (the same facts for a bureau system). The key is deterministic, so a (dataset, date)
gets one reminder: the ``.json`` is written last, with a conditional put (``If-None-Match: *``)
where the store honours it, and only the writer that created it sends the e-mail. Reminders
and e-mails carry bureau, dataset, business date and deadline only: never an object key of
the bureau (keys may hold personal data), never a row value.
"""

from __future__ import annotations

import json
import logging
import smtplib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from botocore.exceptions import ClientError

from pipelines import s3, settings
from pipelines.deadlines import Due, Timeliness

LOG = logging.getLogger(__name__)
SUBJECT_PREFIX = "[枣庄市大数据中心]"
REMINDER_DIR = "_reminders"


class AlertError(RuntimeError):
    """An e-mail that could not be sent (server refused or unreachable, or incomplete settings)."""


# -- e-mail ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    to: tuple[str, ...]
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0


def _flag(name: str) -> bool:
    return settings.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def smtp_config() -> SmtpConfig | None:
    """The SMTP settings, or None when ``SHUZHONG_SMTP_HOST`` is unset (alerts are only logged)."""
    host = settings.get("SHUZHONG_SMTP_HOST", "").strip()
    if not host:
        return None
    starttls = _flag("SHUZHONG_SMTP_STARTTLS")
    sender = settings.get("SHUZHONG_SMTP_FROM", "").strip()
    to = tuple(a.strip() for a in settings.get("SHUZHONG_SMTP_TO", "").split(",") if a.strip())
    if not sender or not to:
        raise AlertError("SHUZHONG_SMTP_HOST is set but SHUZHONG_SMTP_FROM or SHUZHONG_SMTP_TO is not")
    return SmtpConfig(
        host=host,
        port=int(settings.get("SHUZHONG_SMTP_PORT", "587" if starttls else "25")),
        sender=sender,
        to=to,
        user=settings.get("SHUZHONG_SMTP_USER", "") or None,
        password=settings.get("SHUZHONG_SMTP_PASSWORD", "") or None,
        starttls=starttls,
        timeout=float(settings.get("SHUZHONG_SMTP_TIMEOUT", "10")),
    )


def send_email(subject: str, body: str, log: Callable[[str], None] | None = None) -> bool:
    """Send one plain-text e-mail to ``SHUZHONG_SMTP_TO``; True when sent, False when SMTP is not
    configured (the alert is logged instead). Raises AlertError when sending fails."""
    log = log or LOG.info
    config = smtp_config()
    subject = f"{SUBJECT_PREFIX} {subject}"
    if config is None:
        log(f"e-mail not sent (SHUZHONG_SMTP_HOST is not set): {subject}\n{body}")
        return False
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = config.sender
    msg["To"] = ", ".join(config.to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=config.sender.rpartition("@")[2] or None)
    msg.set_content(body, charset="utf-8")
    try:
        with smtplib.SMTP(config.host, config.port, timeout=config.timeout) as smtp:
            if config.starttls:
                smtp.starttls()
            if config.user:
                smtp.login(config.user, config.password or "")
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise AlertError(f"e-mail to {config.host}:{config.port} failed: {type(exc).__name__}: {exc}") from exc
    log(f"e-mail sent to {len(config.to)} recipient(s): {subject}")
    return True


# -- reminders (催报) -------------------------------------------------------------------


@dataclass(frozen=True)
class Reminder:
    bureau: str
    dataset: str
    dataset_name: str
    due: Due
    contract_version: str

    @property
    def key(self) -> str:
        """``<bureau>/_reminders/<dataset>/<YYYY-MM-DD>.json`` in the receipts bucket."""
        return reminder_key(self.bureau, self.dataset, self.due.business_date)

    @property
    def text_key(self) -> str:
        return self.key.removesuffix(".json") + ".txt"

    def text_zh(self) -> str:
        """The clerk's notice (deterministic: the same text whoever writes it)."""
        d = self.due
        lines = [
            "数据报送催报通知",
            f"委办局：{settings.bureaus().get(self.bureau, self.bureau)}（{self.bureau}）",
            f"数据集：{self.dataset_name}（{self.bureau}.{self.dataset}）",
            f"业务日期：{d.business_date.isoformat()}",
            f"报送时限：{d.deadline_text()}（北京时间）",
            f"已超过报送时限，数据中心尚未收到该业务日期的文件。请尽快上传至 "
            f"{self.bureau}/{self.dataset}/{d.business_date.isoformat()}/ 目录。",
            "如当日无业务数据，请照常报送仅含表头的文件。",
        ]
        if d.provisional:
            lines.append("（暂定：该年度节假日安排尚未纳入日历，报送时限按周一至周五计算。）")
        lines.append("本通知由数据中心自动生成，同一数据集、同一业务日期只发送一次；补报后以回执为准。")
        return "\n".join(lines) + "\n"

    def to_json(self, detected_at: datetime) -> str:
        return json.dumps(
            {
                "kind": "reminder",
                "bureau": self.bureau,
                "dataset": self.dataset,
                "dataset_name": self.dataset_name,
                "business_date": self.due.business_date.isoformat(),
                "deadline": self.due.deadline.isoformat(),
                "deadline_provisional": self.due.provisional,
                "contract_version": self.contract_version,
                "expected_prefix": f"{self.bureau}/{self.dataset}/{self.due.business_date.isoformat()}/",
                "detected_at": detected_at.astimezone(UTC).isoformat(timespec="seconds"),
                "message": self.text_zh(),
            },
            ensure_ascii=False,
            indent=2,
        )


def reminder_key(bureau: str, dataset: str, business_date: date) -> str:
    return f"{bureau}/{REMINDER_DIR}/{dataset}/{business_date.isoformat()}.json"


def reminders_for(timeliness: Iterable[Timeliness]) -> list[Reminder]:
    """One reminder per missed (dataset, business date)."""
    return [
        Reminder(t.contract.bureau, t.contract.dataset, t.contract.business_name, due, t.contract.version)
        for t in timeliness
        for due in t.missed
    ]


def _existing(client, bucket: str, prefix: str, start: str) -> set[str]:
    """Keys under ``prefix`` from ``prefix + start`` on (the dates of the lookback window)."""
    keys: set[str] = set()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, StartAfter=prefix + start)
    for page in pages:
        keys.update(o["Key"] for o in page.get("Contents", []))
    return keys


def _put_once(client, bucket: str, key: str, body: bytes) -> bool:
    """Create ``key`` unless it exists (conditional put); False when another writer was first."""
    kwargs = {"Bucket": bucket, "Key": key, "Body": body, "ContentType": "application/json"}
    if settings.delta_write_mode() == "conditional":  # the store honours If-None-Match
        kwargs["IfNoneMatch"] = "*"
    try:
        client.put_object(**kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
            return False
        raise
    return True


def write_reminders(reminders: list[Reminder], detected_at: datetime) -> list[Reminder]:
    """Write the reminders that do not exist yet (``.txt``, then ``.json`` once); returns those this
    call created. One listing per dataset, from the oldest date asked for."""
    client = s3.client("pipeline")
    bucket = settings.buckets().receipts
    by_prefix: dict[str, list[Reminder]] = {}
    for r in reminders:
        by_prefix.setdefault(r.key.rpartition("/")[0] + "/", []).append(r)
    created = []
    for prefix, group in sorted(by_prefix.items()):
        start = min(r.due.business_date for r in group).isoformat()
        existing = _existing(client, bucket, prefix, start)
        for r in sorted(group, key=lambda r: r.due.business_date):
            if r.key in existing:
                continue
            client.put_object(
                Bucket=bucket, Key=r.text_key, Body=r.text_zh().encode(), ContentType="text/plain; charset=utf-8"
            )
            if _put_once(client, bucket, r.key, r.to_json(detected_at).encode()):
                created.append(r)
    return created


def reminder_email(reminders: list[Reminder], as_of: datetime) -> tuple[str, str]:
    """(subject, body) of the on-duty e-mail about new reminders."""
    datasets = sorted({f"{r.bureau}.{r.dataset}" for r in reminders})
    subject = (
        f"催报：{'、'.join(datasets[:3])}{' 等' if len(datasets) > 3 else ''} 共 {len(reminders)} 个业务日期逾期未报送"
    )
    lines = [
        f"截至 {as_of.strftime('%Y-%m-%d %H:%M')}（北京时间），以下数据集的业务日期已超过报送时限，"
        "尚未收到文件（已接收或内容相同的重复提交均视为已报送）。已向相应委办局的回执目录写入催报通知。",
        "",
    ]
    for r in sorted(reminders, key=lambda r: (r.bureau, r.dataset, r.due.business_date)):
        lines.append(
            f"- {settings.bureaus().get(r.bureau, r.bureau)} {r.dataset_name}（{r.bureau}.{r.dataset}）"
            f" 业务日期 {r.due.business_date.isoformat()}，报送时限 {r.due.deadline_text()}；"
            f"催报通知 receipts/{r.text_key}"
        )
    lines += ["", "查看：Dagster 界面 raw 资产的 submission_freshness 检查，或运行 `shuzhong status`。"]
    return subject, "\n".join(lines) + "\n"
