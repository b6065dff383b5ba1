"""Scheduled triggers of the SMS centre's registry templates (§4.5.4, §4.5.8, §4.5.14.1). Each trigger reads
the registry, decides who is concerned and queues the template with a dedup key per object and period, so
the daily job can run any number of times:

| trigger | reads | template | recipients | dedup (once per …) |
|---|---|---|---|---|
| use_registration | devices in use, commissioned > 30 days ago, without 使用登记证编号 | USE_REGISTRATION_DUE | the unit's three people | device · month |
| licence | unit licences expiring within 90 days | LICENSE_EXPIRY (生产许可) / QUALIFICATION_EXPIRY (others) | the unit | licence · expiry · stage (90 / 30 days) |
| inspector_cert | inspectors' certificates expiring within 90 days | INSPECTOR_CERT_EXPIRY | the agency | certificate · expiry · stage |
| operator_cert | operators' certificates expiring within 90 days | OPERATOR_CERT_EXPIRY | the operator | certificate · expiry · stage |
| design_life_near | pressure vessels within a year of design life | DESIGN_LIFE_NEAR | the unit | device · life end |
| design_life_past | pressure vessels past life, registration not changed, not scrapped | DESIGN_LIFE_PAST | the unit | device · quarter |
| simple_pv | simple vessels past life, neither scrapped nor assessed | SIMPLE_PV_LIFE_UNIT / _BUREAU | the unit; county supervisors | device · quarter |
| directive_deadline | 指令书 with the deadline within 3 days | DIRECTIVE_DEADLINE_3D | the unit | letter |
| nonconforming | failing latest reports of the last 30 days (imports too) | INSPECTION_NONCONFORMING | the unit | report |

Event templates are sent where the event happens: DIRECTIVE_ISSUED when a letter is issued, DIRECTIVE_OVERDUE
when its deadline passes (app/overdue/services.py), INSPECTION_NONCONFORMING when a report is recorded.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Callable

from sqlalchemy import select

from ..core.clock import today_local
from ..core.models import Equipment, Organization
from ..extensions import db
from .catalogue import category_name
from .life import add_years

BATCH = 500
EXPIRY_STAGES = (90, 30)          # days before expiry: one reminder at each


@dataclass(frozen=True)
class Trigger:
    key: str
    label: str
    fn: Callable[[date], int]


_TRIGGERS: dict[str, Trigger] = {}


def trigger(key: str, label: str):
    def register(fn):
        _TRIGGERS[key] = Trigger(key, label, fn)
        return fn
    return register


def run_all(today: date | None = None) -> dict[str, int]:
    """Run every trigger; commits after each. Returns messages queued per trigger."""
    today = today or today_local()
    done = {}
    for key, t in _TRIGGERS.items():
        done[key] = t.fn(today)
        db.session.commit()
    return done


def triggers() -> list[Trigger]:
    return list(_TRIGGERS.values())


# ---------------------------------------------------------------- helpers

class _Recipients:
    """Per-run cache of each unit's SMS contacts (one unit holds many devices)."""

    def __init__(self, duties: tuple[str, ...] | None = None):
        self.duties, self.cache = duties, {}

    def __call__(self, org_id: int):
        from ..sms import services as sms
        if org_id not in self.cache:
            self.cache[org_id] = sms.recipients_for_org(org_id, self.duties)
        return self.cache[org_id]


RESPONSIBLE = ("principal", "safety_director", "safety_officer")     # 主要负责人、安全总监、安全员


def _batches(query, key_column):
    last = 0
    while True:
        rows = db.session.execute(query.where(key_column > last).order_by(key_column).limit(BATCH)).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0].id if hasattr(rows[-1][0], "id") else rows[-1][0]


def _stage(expiry: date, today: date) -> int | None:
    left = (expiry - today).days
    if left < 0:
        return None
    return min((s for s in EXPIRY_STAGES if left <= s), default=None)


def _quarter(today: date) -> str:
    return f"{today.year}Q{(today.month - 1) // 3 + 1}"


def _device_rows(conditions):
    return (select(Equipment, Organization.name).join(Organization, Equipment.use_org_id == Organization.id)
            .where(*conditions))


def _send_devices(today, conditions, template, params, dedup, recipients=None) -> int:
    from ..sms import services as sms
    recipients = recipients or _Recipients(RESPONSIBLE)
    queued = 0
    for rows in _batches(_device_rows(conditions), Equipment.id):
        for e, unit in rows:
            people = recipients(e.use_org_id)
            if people:
                queued += len(sms.enqueue(template, params(e, unit), people, region_code=e.region_code,
                                          dedup_key=dedup(e), equipment_id=e.id))
        db.session.flush()
    return queued


# ---------------------------------------------------------------- the triggers

@trigger("use_registration", "使用登记办理预警")
def use_registration(today: date) -> int:
    month = today.strftime("%Y-%m")
    return _send_devices(
        today, [Equipment.status == "in_use", Equipment.registration_no.is_(None),
                Equipment.commissioning_date.is_not(None), Equipment.commissioning_date <= today - timedelta(days=30)],
        "USE_REGISTRATION_DUE",
        lambda e, unit: {"unitName": unit, "equipType": category_name(e.category_code), "deviceCode": e.code,
                         "acceptDate": e.commissioning_date.isoformat()},
        lambda e: f"use-reg:{e.id}:{month}")


@trigger("design_life_near", "临近设计使用年限提醒")
def design_life_near(today: date) -> int:
    return _send_devices(
        today, [Equipment.kind_code == "2000", Equipment.class_code != "2300", Equipment.status.in_(("in_use", "stopped")),
                Equipment.simple_pressure_vessel.is_(False), Equipment.design_life_end > today,
                Equipment.design_life_end <= add_years(today, 1)],
        "DESIGN_LIFE_NEAR",
        lambda e, unit: {"unitName": unit, "equipType": category_name(e.category_code), "deviceCode": e.code,
                         "lifeEnd": e.design_life_end.isoformat(), "lifeYears": str(e.design_life_years)},
        lambda e: f"life-near:{e.id}:{e.design_life_end}")


@trigger("design_life_past", "超设计使用年限提醒")
def design_life_past(today: date) -> int:
    quarter = _quarter(today)
    return _send_devices(
        today, [Equipment.kind_code == "2000", Equipment.class_code != "2300", Equipment.status.in_(("in_use", "stopped")),
                Equipment.simple_pressure_vessel.is_(False), Equipment.design_life_end <= today,
                Equipment.life_registration_changed_on.is_(None)],
        "DESIGN_LIFE_PAST",
        lambda e, unit: {"unitName": unit, "equipType": category_name(e.category_code), "deviceCode": e.code,
                         "lifeEnd": e.design_life_end.isoformat()},
        lambda e: f"life-past:{e.id}:{quarter}")


@trigger("simple_pv", "简单压力容器达到设计使用年限提醒")
def simple_pv(today: date) -> int:
    """§4.5.14.1: the unit's three responsible people and the local bureau (county supervisors)."""
    from ..cases.escalation import regulators_at
    from ..sms import services as sms
    from .simple_vessels import past_life_unhandled
    quarter = _quarter(today)
    recipients = _Recipients(RESPONSIBLE)
    queued = 0
    for rows in _batches(past_life_unhandled().with_only_columns(Equipment), Equipment.id):
        for (e,) in rows:
            facts = {"unitName": e.use_org.name, "equipName": e.name, "deviceCode": e.code,
                     "lifeEnd": e.design_life_end.isoformat()}
            people = recipients(e.use_org_id)
            if people:
                queued += len(sms.enqueue("SIMPLE_PV_LIFE_UNIT", facts, people, region_code=e.region_code,
                                          dedup_key=f"spv-unit:{e.id}:{quarter}", equipment_id=e.id))
            for user in regulators_at("county_supervisor", e.region_code):
                queued += len(sms.enqueue("SIMPLE_PV_LIFE_BUREAU", {**facts, "name": user.display_name},
                                          sms.recipients_for_users([user]), region_code=e.region_code,
                                          dedup_key=f"spv-bureau:{e.id}:{quarter}:{user.id}", equipment_id=e.id))
        db.session.flush()
    return queued


def _expiring(query, expiry_column, today: date):
    """Rows of `query` whose `expiry_column` falls within the widest reminder stage, with their stage."""
    rows = db.session.execute(query.where(expiry_column >= today,
                                          expiry_column <= today + timedelta(days=max(EXPIRY_STAGES))))
    for row in rows:
        stage = _stage(getattr(row[0], expiry_column.key), today)
        if stage is not None:
            yield row, stage


@trigger("licence", "生产许可/单位资质到期提醒")
def licence(today: date) -> int:
    from ..sms import services as sms
    from .models import UnitLicence
    queued, recipients = 0, _Recipients()
    for (row,), stage in _expiring(select(UnitLicence).order_by(UnitLicence.id), UnitLicence.expiry_date, today):
        people = recipients(row.org_id)
        if not people:
            continue
        if row.kind == "production":
            template, params = "LICENSE_EXPIRY", {"unitName": row.org.name, "licenseNo": row.cert_no,
                                                  "item": row.item or row.kind_label, "expiry": row.expiry_date.isoformat()}
        else:
            template, params = "QUALIFICATION_EXPIRY", {"unitName": row.org.name, "qualName": row.kind_label,
                                                        "certNo": row.cert_no, "expiry": row.expiry_date.isoformat()}
        queued += len(sms.enqueue(template, params, people, region_code=row.org.region_code,
                                  dedup_key=f"licence:{row.id}:{row.expiry_date}:{stage}"))
    return queued


@trigger("inspector_cert", "检验员证书到期提醒")
def inspector_cert(today: date) -> int:
    from ..sms import services as sms
    from .models import InspectorCertificate
    queued, recipients = 0, _Recipients()
    for (row,), stage in _expiring(select(InspectorCertificate).order_by(InspectorCertificate.id),
                                   InspectorCertificate.expiry_date, today):
        people = recipients(row.org_id)
        if people:
            queued += len(sms.enqueue("INSPECTOR_CERT_EXPIRY", {
                "unitName": row.org.name, "personName": row.person_name, "certName": row.cert_name,
                "certNo": row.cert_no, "expiry": row.expiry_date.isoformat()}, people, region_code=row.org.region_code,
                dedup_key=f"inspector-cert:{row.id}:{row.expiry_date}:{stage}"))
    return queued


@trigger("operator_cert", "作业人员证书到期提醒")
def operator_cert(today: date) -> int:
    """The operator's own phone (personal account or the operator database)."""
    from ..operators.models import Operator, OperatorCertificate
    from ..sms import services as sms
    from ..sms.services import Recipient, readable_phone
    queued = 0
    query = (select(OperatorCertificate, Operator).join(Operator, OperatorCertificate.operator_id == Operator.id)
             .order_by(OperatorCertificate.id))
    for (cert, operator), stage in _expiring(query, OperatorCertificate.expiry_date, today):
        phone = readable_phone(operator) if operator.phone_enc else None
        if phone:
            queued += len(sms.enqueue("OPERATOR_CERT_EXPIRY", {
                "personName": operator.name, "certNo": cert.cert_no, "item": cert.work_item,
                "expiry": cert.expiry_date.isoformat()}, [Recipient(operator.name, phone, "enterprise")],
                region_code=None, dedup_key=f"operator-cert:{cert.id}:{cert.expiry_date}:{stage}"))
    return queued


@trigger("directive_deadline", "指令书整改期限临近提醒")
def directive_deadline(today: date) -> int:
    from ..overdue.models import OverdueDisposal
    from ..sms import services as sms
    queued = 0
    recipients = _Recipients(RESPONSIBLE)
    for d in db.session.scalars(select(OverdueDisposal).where(
            OverdueDisposal.status == "ordered", OverdueDisposal.letter_deadline >= today,
            OverdueDisposal.letter_deadline <= today + timedelta(days=3)).order_by(OverdueDisposal.id)):
        people = recipients(d.use_org_id)
        if people:
            queued += len(sms.enqueue("DIRECTIVE_DEADLINE_3D", {"unitName": d.use_org.name, "docNo": d.letter_no,
                                                                 "deadline": d.letter_deadline.isoformat()},
                                      people, region_code=d.region_code, case_id=d.case_id,
                                      dedup_key=f"directive-3d:{d.id}:{d.letter_deadline}", equipment_id=d.equipment_id))
    return queued


@trigger("nonconforming", "检验结论不合格预警")
def nonconforming(today: date) -> int:
    """Failing latest reports of the last 30 days, however they arrived (an import sends nothing itself);
    the dedup key is the one record_report uses, so a report is warned about once."""
    from ..inspections.conclusions import FAILING
    from ..inspections.models import InspectionReport
    from ..sms import services as sms
    queued = 0
    recipients = _Recipients(RESPONSIBLE)
    rows = db.session.execute(
        select(InspectionReport, Equipment).join(Equipment, InspectionReport.equipment_id == Equipment.id)
        .where(InspectionReport.inspected_on >= today - timedelta(days=30), InspectionReport.conclusion.in_(FAILING),
               Equipment.last_inspected_on == InspectionReport.inspected_on, Equipment.status == "in_use")
        .order_by(InspectionReport.id))
    for report, e in rows:
        people = recipients(e.use_org_id)
        if people:
            queued += len(sms.enqueue("INSPECTION_NONCONFORMING", {
                "unitName": e.use_org.name, "equipType": category_name(e.category_code), "deviceCode": e.code,
                "inspectDate": report.inspected_on.isoformat(), "conclusion": report.conclusion}, people,
                region_code=e.region_code, dedup_key=f"insp-fail:{report.id}", equipment_id=e.id))
    return queued
