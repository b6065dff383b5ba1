"""SMS templates and the outbox, which is also the permanent record of every warning."""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..cases.models import Case
from ..core.clock import utcnow
from ..core.models import Organization, User
from ..core.pii import EncryptedPhone
from ..extensions import db

# The kinds of warning §4.5.4 lists, in the order it lists them.
CATEGORIES: dict[str, str] = {
    "start_notice": "开工告知短信预警",
    "use_registration": "使用登记短信预警",
    "inspection": "检验检测短信预警",
    "hazard_rectify": "隐患整改短信预警",
    "qualification": "单位资质短信预警",
    "verification": "验证短信预警通知",
    "key_period": "重点时段预警通知",
    "periodic_briefing": "基本情况定期通报",
    "todo": "待办事项提醒",
    "new_start_notice": "新增开工告知提醒",
    "periodic_inspection": "定期检验提醒",
    "overdue_inspection": "超期未检提醒",
    "major_hazard_rectify": "重大事故隐患整改提醒",
    "major_hazard_overdue": "重大事故隐患整改超期提醒",
    "directive_issued": "指令书签发提醒",
    "directive_overdue": "指令书超期提醒",
    "case_closed": "事项办结提醒",
    "main_responsibility": "主体责任落实提醒",
    "license_expiry": "生产许可超期提醒",
    "inspector_cert_expiry": "检验员证书超期提醒",
    "operator_cert_expiry": "作业人员证书超期提醒",
    "design_life": "超设计使用年限预警",          # §4.5.8, §4.5.14.1
    "elevator_maintenance": "电梯维保异常预警",   # §4.6.9 (app/elevator_supervision)
    "complaint": "投诉举报办理通知",              # §4.3.4, §4.3.8: to the complainant
}

AUDIENCES: dict[str, str] = {"enterprise": "企业", "regulator": "监察", "public": "公众"}
# A template may be meant for either side (待办事项提醒); a message always has one audience.
TEMPLATE_AUDIENCES: dict[str, str] = {**AUDIENCES, "all": "企业/监察"}


class SmsTemplate(db.Model):
    __tablename__ = "sms_template"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32), index=True)
    audience: Mapped[str] = mapped_column(String(12))
    text: Mapped[str] = mapped_column(Text)
    # The variables callers pass, with sample values for the preview (JSON object, from templates.json).
    sample_params: Mapped[str] = mapped_column(Text, default="{}")
    provider_template_code: Mapped[str | None] = mapped_column(String(40))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    reviewed: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    updated_by: Mapped[User | None] = relationship()

    @property
    def samples(self) -> dict[str, str]:
        return json.loads(self.sample_params or "{}")

    @property
    def param_names(self) -> list[str]:
        return list(self.samples)

    @property
    def category_label(self) -> str:
        return CATEGORIES.get(self.category, self.category)

    @property
    def audience_label(self) -> str:
        return TEMPLATE_AUDIENCES.get(self.audience, self.audience)


class SmsMessage(EncryptedPhone, db.Model):
    """One SMS to one phone: queued, sent, delivered — or suppressed, deferred, failed."""
    __tablename__ = "sms_message"
    __table_args__ = (
        # Re-running a job never queues the same reminder twice (NULL dedup_key: no effect).
        UniqueConstraint("dedup_key", "phone_bidx"),
        Index("ix_sms_message_audience_created", "audience", "created_at"),
        Index("ix_sms_message_due", "status", "next_try_at"),
        # Content dedup and the per-phone hourly limit look at one phone's recent messages.
        Index("ix_sms_message_phone_created", "phone_bidx", "created_at"),
    )
    STATUSES = {"pending": "待发送", "sending": "发送中", "sent": "已提交网关", "delivered": "已送达",
                "undelivered": "未送达", "failed": "发送失败", "suppressed": "重复未发", "deferred": "限频顺延"}
    SOURCES = {"system": "系统", "manual": "人工"}

    id: Mapped[int] = mapped_column(primary_key=True)
    template_code: Mapped[str] = mapped_column(ForeignKey("sms_template.code"), index=True)
    params: Mapped[str] = mapped_column(Text)             # JSON object of the template variables
    content: Mapped[str] = mapped_column(Text)            # 【签名】 + rendered text, as the recipient reads it
    audience: Mapped[str] = mapped_column(String(12))
    recipient_name: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    region_code: Mapped[str | None] = mapped_column(String(6), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_record.id", ondelete="SET NULL"), index=True)
    # The device a warning is about (the device profile lists the messages sent about it).
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id", ondelete="SET NULL"), index=True)
    dedup_key: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # pending/deferred: when to try; sending: when the claim expires (a crashed sender's lease).
    next_try_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))   # in ix_sms_message_due
    provider: Mapped[str | None] = mapped_column(String(16))
    provider_msg_id: Mapped[str | None] = mapped_column(String(64), index=True)
    error: Mapped[str | None] = mapped_column(String(500))
    # Indexed together with audience (lists) and with phone_bidx (dedup, rate limit) — a lone
    # created_at index tempts the planner into scanning every recent message.
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Overrides the mixin's single-column index: (phone_bidx, created_at) serves every lookup.
    phone_bidx: Mapped[str | None] = mapped_column(String(32))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(8), default="system")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    template: Mapped[SmsTemplate] = relationship()
    org: Mapped[Organization | None] = relationship()
    case: Mapped[Case | None] = relationship(viewonly=True)
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    @property
    def status_label(self) -> str:
        return self.STATUSES.get(self.status, self.status)

    @property
    def source_label(self) -> str:
        return self.SOURCES.get(self.source, self.source)

    @property
    def audience_label(self) -> str:
        return AUDIENCES.get(self.audience, self.audience)

    @property
    def param_values(self) -> dict:
        return json.loads(self.params or "{}")
