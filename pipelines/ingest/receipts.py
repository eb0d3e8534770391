"""The receipt of one landing object, and writing/reading it in the receipts bucket."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime

from botocore.exceptions import ClientError

from pipelines import rules, s3, settings, workdays
from pipelines.faults import crash_point
from pipelines.ingest.keys import log_safe, receipt_key_for


@dataclass
class Receipt:
    object_key: str
    status: str  # accepted | rejected | duplicate | failed (retries ran out)
    bureau: str | None = None
    dataset: str | None = None
    business_date: str | None = None
    deadline: str | None = None  # ISO, Asia/Shanghai (spec §1); None for reference data
    deadline_provisional: bool | None = None  # its year is not in the working-day calendar yet
    etag: str | None = None
    file_sha256: str | None = None
    reason: str | None = None
    rule: str | None = None  # the rule of a whole-file rejection (pipelines/rules.py), e.g. key.unsafe_characters
    contract_id: str | None = None
    contract_version: str | None = None
    file_format: str | None = None
    encoding: str | None = None
    sheet_name: str | None = None  # the workbook sheet read (xls / xlsx)
    rows_received: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    rows_superseded: int = 0
    rule_counts: dict[str, dict] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)
    failures_truncated: bool = False
    unknown_columns: list[str] = field(default_factory=list)
    missing_optional_columns: list[str] = field(default_factory=list)
    replaces_etag: str | None = None
    duplicate_of: str | None = None
    raw_table_version: int | None = None
    ledger_seq: int | None = None
    ledger_hash: str | None = None  # the entry this file produced: a witness of the ledger held by the bureau
    ledger_root: str | None = None
    uploaded_at: str | None = None  # when this version was uploaded (the registry's uploaded_at)
    first_submitted_at: str | None = None  # first upload of the key that was accepted or a duplicate
    processed_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    run_id: str | None = None
    receipt_key: str | None = None
    # Set by a reprocess (pipelines.ingest.reprocess): the archived bytes of this version were
    # re-validated against the contract version above; ``reprocess_of`` keeps the counts of the
    # receipt it replaced (the ledger and the registry keep every earlier one in full).
    reprocessed: bool = False
    reprocess_reason: str | None = None
    reprocess_of: dict | None = None

    def set_deadline(self, cadence: str, deadline: dict | None) -> None:
        """The submission deadline of the business date (pipelines.workdays)."""
        due = workdays.deadline_for(cadence, date.fromisoformat(self.business_date), deadline)
        if due:
            self.deadline, self.deadline_provisional = due[0].isoformat(), due[1]

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)

    def summary_zh(self) -> str:
        """A short human-readable summary in Chinese for the clerk."""
        status = {
            "accepted": "已接收",
            "rejected": "已拒收",
            "duplicate": "重复提交（未重复入库）",
            "failed": "处理失败",
        }[self.status]
        lines = [
            f"数据报送回执  {log_safe(self.object_key)}",
            f"处理结果：{status}",
            f"业务日期：{self.business_date or '-'}    数据规范版本：{self.contract_version or '-'}",
            f"处理时间：{self.processed_at}",
        ]
        if self.deadline:
            note = "（暂定：该年度节假日安排尚未纳入日历，按周一至周五计算）" if self.deadline_provisional else ""
            lines.append(f"报送时限：{self.deadline[:16].replace('T', ' ')}{note}")
        if self.reprocessed:
            before = self.reprocess_of or {}
            lines.append(
                f"重新处理：已按数据规范 {self.contract_version or '-'} 重新校验归档文件"
                f"（原按 {before.get('contract_version') or '-'} 处理："
                f"接收 {before.get('rows_accepted', '-')} 行，"
                f"隔离 {before.get('rows_quarantined', '-')} 行）。原因：{self.reprocess_reason or '-'}"
            )
        if self.reason:
            lines.append(f"说明：{self.reason}")
        if self.rule:
            lines.append(f"规则：{rules.describe(self.rule)}（{self.rule}）")
        if self.sheet_name:
            lines.append(f"读取的工作表：{self.sheet_name}")
        if self.status == "accepted":
            lines.append(
                f"收到 {self.rows_received} 行，接收 {self.rows_accepted} 行，"
                f"隔离 {self.rows_quarantined} 行，被同文件后续行覆盖 {self.rows_superseded} 行。"
            )
            for rule, info in self.rule_counts.items():
                lines.append(f"  - {info['description'] or rules.describe(rule)}：{info['count']} 行（规则 {rule}）")
            if self.failures:
                shown = ", ".join(str(f["row_number"]) for f in self.failures[:30])
                lines.append(f"问题行号（前 30 个）：{shown}")
            if self.unknown_columns:
                lines.append(f"未识别的列（已忽略）：{'、'.join(self.unknown_columns)}")
        return "\n".join(lines) + "\n"


def write_receipt(receipt: Receipt) -> None:
    """Both receipt files (JSON, then the Chinese summary) where the bureau can read them."""
    client = s3.client("pipeline")
    bucket = settings.buckets().receipts
    key = receipt.receipt_key or receipt_key_for(receipt.object_key)
    receipt.receipt_key = key
    client.put_object(Bucket=bucket, Key=key, Body=receipt.to_json().encode(), ContentType="application/json")
    crash_point("between_receipt_files")
    client.put_object(
        Bucket=bucket,
        Key=key.removesuffix(".json") + ".txt",
        Body=receipt.summary_zh().encode(),
        ContentType="text/plain; charset=utf-8",
    )


def read_receipt(object_key: str, identity: str = "pipeline") -> dict | None:
    """The stored JSON receipt of ``object_key`` (None if there is none yet)."""
    try:
        body = (
            s3.client(identity)
            .get_object(Bucket=settings.buckets().receipts, Key=receipt_key_for(object_key))["Body"]
            .read()
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise
    return json.loads(body)
