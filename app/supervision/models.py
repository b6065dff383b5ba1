"""Supervision inspections (监督检查, Order 57) and post-license inspection campaigns (证后监督检查):
checklist templates as versioned data, inspection sheets with findings per item, the inspection
record with its instruction letter, and the campaign with its expert pool, draw, units and declarations."""
from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..cases.models import Case
from ..core.clock import utcnow
from ..core.models import Equipment, Organization, User
from ..extensions import db

TEMPLATE_KINDS = {"unit": "单位检查", "equipment": "设备检查", "exam_institution": "考试机构检查",
                  "post_license": "证后监督检查"}
INSPECTION_CATEGORIES = ["常规监督检查", "专项监督检查", "证后监督检查", "其他情形"]
UNIT_CATEGORIES = ["设计", "制造", "安装", "改造", "修理", "维保", "使用", "充装", "经营", "检验", "检测", "其他"]
PHOTO_RULES = {"none": "无需照片", "optional": "可附照片", "on_problem": "有问题时须附照片"}
NOTE_RULES = {"optional": "可填说明", "on_problem": "有问题时须填说明"}


def _json_list(text: str | None) -> list:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


class ChecklistTemplate(db.Model):
    """One version of a checklist (检查项目表). Editing a template writes a new version; a running
    inspection keeps the version it started with (its sections point at the version row)."""
    __tablename__ = "sv_template"
    __table_args__ = (UniqueConstraint("code", "version", name="uq_sv_template_code_version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), index=True)            # stable across versions
    version: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20), index=True)            # TEMPLATE_KINDS
    scope: Mapped[str | None] = mapped_column(String(40))                # equipment class digit / licence kind
    source: Mapped[str | None] = mapped_column(Text)                     # where the items come from
    note: Mapped[str | None] = mapped_column(String(500))                # change note of this version
    is_current: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    items: Mapped[list["ChecklistItem"]] = relationship(order_by="ChecklistItem.seq", back_populates="template")
    created_by: Mapped[User | None] = relationship()

    @property
    def kind_label(self) -> str:
        return TEMPLATE_KINDS.get(self.kind, self.kind)


class ChecklistItem(db.Model):
    __tablename__ = "sv_template_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("sv_template.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    group_name: Mapped[str | None] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    basis: Mapped[str | None] = mapped_column(Text)                      # legal basis (citation)
    options: Mapped[str] = mapped_column(String(200), default="符合,不符合,不适用")
    problem_options: Mapped[str] = mapped_column(String(200), default="不符合")
    photo_rule: Mapped[str] = mapped_column(String(16), default="optional")
    note_rule: Mapped[str] = mapped_column(String(16), default="on_problem")
    hazard_hint: Mapped[bool] = mapped_column(Boolean, default=False)    # the item names a 严重事故隐患 situation

    template: Mapped[ChecklistTemplate] = relationship(back_populates="items")

    @property
    def option_list(self) -> list[str]:
        return [o for o in self.options.split(",") if o]

    @property
    def problem_list(self) -> list[str]:
        return [o for o in self.problem_options.split(",") if o]


class SupervisionInspection(db.Model):
    """监督检查记录 (Order 57): drafted on the step guide, submitted as a supervision_inspection case."""
    __tablename__ = "sv_inspection"
    __table_args__ = (Index("ix_sv_inspection_region_created", "region_code", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_no: Mapped[str | None] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    region_code: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    inspector_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    category: Mapped[str] = mapped_column(String(20))                    # INSPECTION_CATEGORIES
    unit_categories: Mapped[str] = mapped_column(String(200), default="")
    inspected_on: Mapped[date] = mapped_column(Date)
    inspectors: Mapped[str] = mapped_column(String(200))                 # 检查人员
    recorder: Mapped[str | None] = mapped_column(String(64))             # 记录员
    unit_contact: Mapped[str | None] = mapped_column(String(64))
    other_problems: Mapped[str | None] = mapped_column(Text)
    letter_kind: Mapped[str | None] = mapped_column(String(12))          # directive | notice
    letter_no: Mapped[str | None] = mapped_column(String(60))
    letter_issued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    violation_desc: Mapped[str | None] = mapped_column(Text)
    basis_rule: Mapped[str | None] = mapped_column(Text)
    requirements: Mapped[str | None] = mapped_column(Text)
    rectify_deadline: Mapped[date | None] = mapped_column(Date)
    review_by: Mapped[str | None] = mapped_column(String(12))            # inspecting | supervising
    # Kept with the findings (services.refresh_counts): problems incl. 其他问题, hazards raised from findings.
    n_problems: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    n_hazards: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_record.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    org: Mapped[Organization] = relationship()
    inspector: Mapped[User] = relationship()
    case: Mapped[Case | None] = relationship(viewonly=True)
    sections: Mapped[list["InspectionSection"]] = relationship(order_by="InspectionSection.id",
                                                               back_populates="inspection")

    STATUS_LABELS = {"draft": "录入中", "submitted": "已提交", "rectifying": "整改中", "reviewing": "整改复核中",
                     "closed": "已办结", "qualified": "检查合格办结"}
    LETTER_KINDS = {"directive": "特种设备安全监察指令书", "notice": "整改通知书"}

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS.get(self.status, self.status)


class CampaignUnit(db.Model):
    """An inspected unit of a post-license campaign (被抽查单位) with its entry, rectification and evaluation."""
    __tablename__ = "sv_campaign_unit"
    __table_args__ = (UniqueConstraint("campaign_id", "org_id", name="uq_sv_campaign_unit"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("sv_campaign.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    picked: Mapped[str] = mapped_column(String(8), default="random")     # random | manual
    expert_ids: Mapped[str] = mapped_column(String(200), default="[]")   # JSON list of sv_expert ids
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    inspected_on: Mapped[date | None] = mapped_column(Date)
    summary: Mapped[str | None] = mapped_column(Text)
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    entered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rectify_measures: Mapped[str | None] = mapped_column(Text)
    rectify_photos: Mapped[str] = mapped_column(String(400), default="[]")
    rectified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    review_note: Mapped[str | None] = mapped_column(Text)
    return_count: Mapped[int] = mapped_column(Integer, default=0)
    eval_score: Mapped[int | None] = mapped_column(Integer)
    eval_punctual: Mapped[str | None] = mapped_column(String(8))
    eval_conduct: Mapped[str | None] = mapped_column(String(8))
    eval_comment: Mapped[str | None] = mapped_column(Text)
    evaluated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    org: Mapped[Organization] = relationship()
    campaign: Mapped["Campaign"] = relationship(back_populates="units")
    sections: Mapped[list["InspectionSection"]] = relationship(order_by="InspectionSection.id",
                                                               back_populates="campaign_unit")

    STATUS_LABELS = {"pending": "待分配", "assigned": "待检查", "rectifying": "整改中", "reviewing": "整改待复核",
                     "done": "已完成"}

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS.get(self.status, self.status)

    @property
    def expert_id_list(self) -> list[int]:
        return [int(i) for i in _json_list(self.expert_ids)]

    @property
    def photo_ids(self) -> list[int]:
        return [int(i) for i in _json_list(self.rectify_photos)]


class InspectionSection(db.Model):
    """One checklist on an inspection sheet: a unit check, or an equipment check of one device. Belongs to a
    supervision inspection or to a campaign's inspected unit, and keeps the template version it started with."""
    __tablename__ = "sv_section"
    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int | None] = mapped_column(ForeignKey("sv_inspection.id", ondelete="CASCADE"), index=True)
    campaign_unit_id: Mapped[int | None] = mapped_column(ForeignKey("sv_campaign_unit.id", ondelete="CASCADE"),
                                                         index=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("sv_template.id"), index=True)
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id"))

    inspection: Mapped[SupervisionInspection | None] = relationship(back_populates="sections")
    campaign_unit: Mapped[CampaignUnit | None] = relationship(back_populates="sections")
    template: Mapped[ChecklistTemplate] = relationship()
    equipment: Mapped[Equipment | None] = relationship()
    findings: Mapped[list["Finding"]] = relationship(order_by="Finding.id", back_populates="section")


class Finding(db.Model):
    """The result of one checklist item (or a free-text 其他问题 when item_id is empty)."""
    __tablename__ = "sv_finding"
    id: Mapped[int] = mapped_column(primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("sv_section.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("sv_template_item.id"))
    result: Mapped[str] = mapped_column(String(20))
    is_problem: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)
    photo_ids: Mapped[str] = mapped_column(String(400), default="[]")
    hazard_case_id: Mapped[int | None] = mapped_column(ForeignKey("case_record.id", ondelete="SET NULL"), index=True)
    forwarded_region: Mapped[str | None] = mapped_column(String(6))      # 上报监察: the department's region
    forward_outcome: Mapped[str | None] = mapped_column(Text)            # the department's handling result
    forward_done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    section: Mapped[InspectionSection] = relationship(back_populates="findings")
    item: Mapped[ChecklistItem | None] = relationship()
    hazard_case: Mapped[Case | None] = relationship(viewonly=True)

    @property
    def photos(self) -> list[int]:
        return [int(i) for i in _json_list(self.photo_ids)]


class Expert(db.Model):
    """评审专家库: 监察人员 (with certificates) and 检查人员."""
    __tablename__ = "sv_expert"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(12), index=True)           # supervisor | inspector
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"), index=True)
    specialty: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(64))
    cert_no: Mapped[str | None] = mapped_column(String(40))
    cert_expiry: Mapped[date | None] = mapped_column(Date)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    org: Mapped[Organization | None] = relationship()
    user: Mapped[User | None] = relationship()

    KINDS = {"supervisor": "监察人员", "inspector": "检查人员"}

    @property
    def kind_label(self) -> str:
        return self.KINDS.get(self.kind, self.kind)


class Campaign(db.Model):
    """证后监督检查任务."""
    __tablename__ = "sv_campaign"
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_no: Mapped[str | None] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    licence_kind: Mapped[str | None] = mapped_column(String(40))
    region_code: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"), index=True)
    creator_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    undertaking_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    supervisor_expert_id: Mapped[int | None] = mapped_column(ForeignKey("sv_expert.id"))
    template_id: Mapped[int | None] = mapped_column(ForeignKey("sv_template.id"))
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    reject_reason: Mapped[str | None] = mapped_column(Text)
    draw_seed: Mapped[str | None] = mapped_column(String(40))
    draw_filters: Mapped[str] = mapped_column(Text, default="{}")
    draw_candidates: Mapped[str] = mapped_column(Text, default="[]")
    draw_count: Mapped[int] = mapped_column(Integer, default=0)
    draw_result: Mapped[str] = mapped_column(Text, default="[]")
    supervisor_seed: Mapped[str | None] = mapped_column(String(40))
    supervisor_candidates: Mapped[str] = mapped_column(Text, default="[]")
    report_generated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closing_info: Mapped[str | None] = mapped_column(Text)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_record.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    undertaking_org: Mapped[Organization] = relationship()
    supervisor_expert: Mapped[Expert | None] = relationship()
    template: Mapped[ChecklistTemplate | None] = relationship()
    creator: Mapped[User] = relationship()
    case: Mapped[Case | None] = relationship(viewonly=True)
    units: Mapped[list[CampaignUnit]] = relationship(order_by="CampaignUnit.id", back_populates="campaign")

    STATUS_LABELS = {"draft": "草稿", "reviewing": "待审核", "rejected": "已驳回", "assigning": "待分配",
                     "inspecting": "检查中", "reporting": "待办结", "closed": "已办结"}

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS.get(self.status, self.status)

    def loads(self, name: str):
        return json.loads(getattr(self, name) or "null")


class Declaration(db.Model):
    """年度公正性、保密及廉洁自律声明 signed by an expert on the signature pad."""
    __tablename__ = "sv_declaration"
    __table_args__ = (UniqueConstraint("user_id", "year", name="uq_sv_declaration_user_year"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    signature_id: Mapped[int] = mapped_column(ForeignKey("attachment.id"))
    text: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship()
