"""Every route of the application is classified here, and the classification is tested.

ROUTES below names every endpoint of `app.url_map` (except `static`) as one of:

- Public      — no login (login page, public operator lookup, health check …);
- LoginOnly   — any signed-in user, no object in the URL (inbox, lists filtered by scope, own password …);
- Roles(...)  — only the listed roles; everybody else gets 403 (or 404);
- Obj(...)    — the URL names an object owned by a region / organisation / person: a factory builds one
                (owned by 兴宁区 / unit_xn, by unit_lz, or by op_lan), the owner gets 200, and users outside
                its scope (another county, another enterprise, an operator, a platform administrator)
                get 403/404 — for POST endpoints with a valid CSRF token and plausible data — and the
                object does not change.

A route missing from ROUTES fails `test_every_route_is_classified`: adding a route forces a decision
about who may use it. Anonymous users are sent to /login (pages) or get 401 JSON (API) everywhere
except on Public routes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

import pytest
from sqlalchemy import func, select

from app.cases.models import Case, CaseEvent, Task
from app.core.clock import today_local
from app.core.models import Attachment
from app.extensions import db

from .conftest import JPEG, PDF, csrf_from, make_case, open_task, upload, user

# Users outside the scope of objects owned by 兴宁区 (450102) / unit_xn.
XN_OUTSIDERS = ("qx_supervisor", "lz_supervisor", "unit_qx", "unit_lz", "agency_gx", "op_wei", "sys_admin",
                "process_admin")
DEVICE_OUTSIDERS = ("qx_supervisor", "lz_supervisor", "unit_qx", "unit_lz", "op_wei", "sys_admin", "process_admin")
# Outsiders of a transfer from 柳州城中区 (unit_lz) to 兴宁区: another county, other units, operator, admin.
TRANSFER_OUTSIDERS = ("qx_supervisor", "unit_xn", "unit_qx", "op_wei", "sys_admin")
# Outsiders of op_lan's certificate: another operator, an unrelated unit, a regulator, administrators.
CERT_OUTSIDERS = ("op_wei", "unit_xn", "xn_supervisor", "sys_admin", "sec_admin")
# One user of each kind, to find the roles outside a Roles(...) set.
EVERY_KIND = ("xn_supervisor", "nn_city", "gx_province", "unit_xn", "agency_gx", "op_wei", "process_admin",
              "sys_admin", "sec_admin", "audit_admin")
ROLE_OF = {"xn_supervisor": "county_supervisor", "nn_city": "city_supervisor", "gx_province": "province_supervisor",
           "unit_xn": "use_unit", "agency_gx": "inspection_agency", "op_wei": "operator",
           "process_admin": "process_admin", "sys_admin": "sys_admin", "sec_admin": "sec_admin",
           "audit_admin": "audit_admin"}
REGULATORS = {"province_supervisor", "city_supervisor", "county_supervisor", "approver"}
CASE_WORKERS = REGULATORS | {"use_unit", "inspection_agency"}   # the kinds in EVERY_KIND who work cases


def _deputy_rows():
    from app.taskops.models import UserDeputy
    return db.session.scalar(select(func.count(UserDeputy.id)))


HAZARD_STARTERS = {"province_supervisor", "city_supervisor", "county_supervisor", "use_unit", "inspection_agency"}


# ------------------------------------------------------------------ object factories

def _case_in_xn() -> dict:
    """A hazard case in 兴宁区 reported by xn_supervisor on unit_xn's lift, with a photo attached."""
    photo = upload("xn_supervisor", JPEG, "现场.jpg")
    case = make_case(photos=[photo])
    task = open_task(case)
    return {"case": case.id, "task": task.id, "att": photo}


def _rectify_task_in_xn() -> dict:
    """The 兴宁区 case dispatched: its 整改反馈 task (unit_xn's) may be returned to 派单督办."""
    from app.engine import runtime
    ids = _case_in_xn()
    runtime.complete_task(ids["task"], user("xn_supervisor"), _dispatch_form(ids))
    db.session.commit()
    return {**ids, "task": open_task(db.session.get(Case, ids["case"])).id}


def _dispatched_in_xn() -> dict:
    """The 兴宁区 case after xn_supervisor completed 派单督办 (task = that completed task)."""
    from app.engine import runtime
    ids = _case_in_xn()
    runtime.complete_task(ids["task"], user("xn_supervisor"), _dispatch_form(ids))
    db.session.commit()
    return ids


def _claimed_task_in_xn() -> dict:
    from app.engine import runtime
    ids = _case_in_xn()
    runtime.claim_task(ids["task"], user("xn_supervisor"))
    db.session.commit()
    return ids


def _dispatched_hazard() -> dict:
    """A hazard with a 整改通知书 (dispatched by 兴宁区)."""
    from .conftest import complete, hazard_of
    case = make_case()
    complete(case, "xn_supervisor", {"dispatch_decision": "dispatch", "requirements": "立即停用并整改门锁回路。",
                                     "rectify_deadline": (today_local() + timedelta(days=10)).isoformat(),
                                     "opinion": "情况属实"})
    hazard = hazard_of(case)
    assert hazard.notice_no
    return {"hazard": hazard.id, "case": case.id}


def _transfer_lz_to_xn() -> dict:
    from app.core.models import Equipment
    from app.engine import runtime
    from app.transfers.models import EquipmentTransfer
    forklift = db.session.scalar(select(Equipment).where(Equipment.use_org_id == user("unit_lz").org_id,
                                                         Equipment.category_code == "5110").order_by(Equipment.id))
    case = runtime.start_case("equipment_transfer", user("unit_lz"),
                              {"equipment_codes": [forklift.code], "to_region": "450102",
                               "reason": "叉车随项目调往南宁仓储基地作业，预计一年。"})
    db.session.commit()
    transfer = db.session.scalar(select(EquipmentTransfer).where(EquipmentTransfer.case_id == case.id))
    return {"transfer": transfer.id, "case": case.id, "code": forklift.code}


def _lan_certificate() -> dict:
    """A new certificate of op_lan with a photo (a row the cleanup removes)."""
    from app.operators.models import Operator, OperatorCertificate
    operator = db.session.scalar(select(Operator).where(Operator.user_id == user("op_lan").id))
    cert = OperatorCertificate(operator_id=operator.id, cert_no="GX2099SCOPE01", work_item="T",
                               issue_date=today_local() - timedelta(days=30),
                               expiry_date=today_local() + timedelta(days=1400),
                               issuing_authority="南宁市市场监督管理局", photo_attachment_id=upload("op_lan"))
    db.session.add(cert)
    db.session.commit()
    return {"cert": cert.id}


def _delegated_task_in_xn() -> dict:
    """xn_supervisor delegated the case's task to xn_colleague (委派, pending)."""
    from app.taskops import services as taskops
    ids = _case_in_xn()
    taskops.delegate_task(ids["task"], user("xn_supervisor"), user("xn_colleague").id, "请协助核实")
    db.session.commit()
    return ids


def _signing_task_in_xn() -> dict:
    """xn_supervisor asked nn_city to sign first (前加签, pending)."""
    from app.taskops import services as taskops
    ids = _case_in_xn()
    row = taskops.add_signer(ids["task"], user("xn_supervisor"), user("nn_city").id, "before")
    db.session.commit()
    return {**ids, "sign": row.id}


def _deputy_of_xn() -> dict:
    """xn_supervisor named xn_colleague as deputy for the coming week."""
    from app.taskops import deputies
    row = deputies.set_deputy(user("xn_supervisor"), user("xn_colleague").id, today_local(),
                              today_local() + timedelta(days=6), "年休假")
    db.session.commit()
    return {"deputy": row.id}


def _deputy_state(ids) -> tuple:
    from app.taskops.models import UserDeputy
    db.session.expire_all()
    row = db.session.get(UserDeputy, ids["deputy"])
    return row.deputy_id, row.starts_on, row.ends_on, row.revoked_at


def _filter_of_xn() -> dict:
    """A saved inbox filter of xn_supervisor shared with 兴宁区 (xn_colleague sees it, may not delete it)."""
    from app.inbox import services as inbox
    row = inbox.create_filter(user("xn_supervisor"), "本辖区红色预警(路由)", {"warning": "red"}, "region")
    db.session.commit()
    return {"filter": row.id}


def _filter_state(ids) -> bool:
    from app.inbox.models import SavedFilter
    db.session.expire_all()
    return db.session.get(SavedFilter, ids["filter"]) is not None


def _copy_to_qx() -> dict:
    """A 兴宁区 case copied (抄送) by xn_supervisor to qx_supervisor of another county."""
    from app.taskops import services as taskops
    ids = _case_in_xn()
    [copy] = taskops.copy_case(ids["case"], user("xn_supervisor"), [user("qx_supervisor").id], [], "请知悉")
    db.session.commit()
    return {**ids, "copy": copy.id}


def _copy_state(ids) -> tuple:
    from app.taskops.models import CaseCopy, Notification
    db.session.expire_all()
    copies = db.session.scalar(select(func.count(CaseCopy.id)).where(CaseCopy.case_id == ids["case"]))
    notes = db.session.scalar(select(func.count(Notification.id)).where(Notification.case_id == ids["case"]))
    return copies, notes, _case_state(ids)


def _target_xn_colleague(ids) -> dict:
    return {"target": str(user("xn_colleague").id), "opinion": "越权转办或委派", "note": "越权"}


def _device_in_xn() -> dict:
    """A lift of unit_xn (兴宁区) and its use unit; a report with a PDF."""
    from app.core.models import Equipment
    from app.inspections.models import InspectionReport
    lift = db.session.scalar(select(Equipment).where(Equipment.use_org_id == user("unit_xn").org_id)
                             .order_by(Equipment.id))
    report = db.session.scalar(select(InspectionReport).where(InspectionReport.equipment_id == lift.id))
    report.pdf_attachment_id = upload("agency_gx", PDF, "报告.pdf")
    db.session.commit()
    return {"device": lift.id, "org": lift.use_org_id, "report": report.id}


def _device_state(ids) -> tuple:
    from app.core.models import Equipment, EquipmentChange
    db.session.expire_all()
    e = db.session.get(Equipment, ids["device"])
    changes = db.session.scalar(select(func.count(EquipmentChange.id)).where(EquipmentChange.equipment_id == e.id))
    return e.status, e.design_life_years, e.commissioning_date, changes


def _import_of_xn() -> dict:
    """xn_supervisor imported a units file with one bad row (an error report exists)."""
    import io

    from werkzeug.datastructures import FileStorage

    from app.core import importer
    from .registry_helpers import xlsx
    body = xlsx(["统一社会信用代码*", "单位名称*", "单位类型*", "属地*"], [["91450102X00000000A", "越权测试单位", "使用单位", "450102"]])
    job = importer.start_import("units", user("xn_supervisor"), FileStorage(io.BytesIO(body), filename="units.xlsx"))
    importer.run_job(job.id)
    return {"job": job.id}



def _sv_draft_in_xn() -> dict:
    """xn_supervisor's supervision-inspection draft on unit_xn: an equipment check whose first item failed."""
    from app.supervision import services as sv
    from app.supervision.models import ChecklistTemplate
    from .conftest import equipment_of
    tpl = db.session.scalar(select(ChecklistTemplate).where(ChecklistTemplate.code == "equipment_check",
                                                            ChecklistTemplate.is_current.is_(True)))
    row = sv.create_draft(user("xn_supervisor"), {"org_id": user("unit_xn").org_id, "category": "常规监督检查",
                                                  "unit_categories": ["使用"], "inspected_on": today_local().isoformat(),
                                                  "inspectors": "黄兴宁、陆兴宁"})
    section = sv.add_section(user("xn_supervisor"), row, tpl.id, equipment_of("unit_xn").id)
    first = tpl.items[0]
    sv.save_findings(user("xn_supervisor"), section, {str(first.id): {"result": "不符合", "note": "已报废仍使用",
                                                                      "photos": [upload("xn_supervisor")]}})
    db.session.commit()
    return {"insp": row.id, "section": section.id, "finding": section.findings[0].id, "tpl": tpl.id,
            "item": first.id}


def _sv_state(ids) -> tuple:
    from app.supervision.models import Finding, InspectionSection, SupervisionInspection
    db.session.expire_all()
    row = db.session.get(SupervisionInspection, ids["insp"])
    sections = db.session.scalar(select(func.count(InspectionSection.id)).where(InspectionSection.inspection_id == row.id))
    findings = [(f.result, f.note, f.hazard_case_id) for f in db.session.scalars(
        select(Finding).join(InspectionSection).where(InspectionSection.inspection_id == row.id).order_by(Finding.id))]
    return row.category, row.inspectors, row.other_problems, sections, findings


def _pl_expert() -> dict:
    from app.supervision import campaigns as pl
    e = pl.save_expert(user("nn_city"), {"name": "范围测试专家", "kind": "inspector", "region_code": "450100"})
    db.session.commit()
    return {"expert": e.id}


def _pl_expert_state(ids) -> tuple:
    from app.supervision.models import Expert
    db.session.expire_all()
    e = db.session.get(Expert, ids["expert"])
    return e.name, e.kind, e.active, e.region_code


def _pl_draft() -> dict:
    """nn_city's campaign draft: 2 units drawn in 南宁市 and a supervisor drawn."""
    from app.supervision import campaigns as pl
    from app.supervision.models import ChecklistTemplate
    from app.core.models import Organization
    tpl = db.session.scalar(select(ChecklistTemplate).where(ChecklistTemplate.code == "unit_check",
                                                            ChecklistTemplate.is_current.is_(True)))
    org = db.session.scalar(select(Organization).where(Organization.kind == "undertaking_unit"))
    c = pl.create_campaign(user("nn_city"), {"name": "范围测试任务", "undertaking_org_id": org.id, "template_id": tpl.id})
    pl.random_draw(user("nn_city"), c, {"count": 2, "region": "450100", "seed": "scope"})
    pl.draw_supervisor(user("nn_city"), c, "scope")
    db.session.commit()
    return {"campaign": c.id, "unit": c.units[0].id, "org": user("unit_qx").org_id}


def _pl_state(ids) -> tuple:
    from app.supervision.models import Campaign, CampaignUnit
    db.session.expire_all()
    c = db.session.get(Campaign, ids["campaign"])
    units = [(u.org_id, u.expert_ids, u.status, u.summary, u.rectify_measures, u.eval_score, u.review_note)
             for u in db.session.scalars(select(CampaignUnit).where(CampaignUnit.campaign_id == c.id)
                                         .order_by(CampaignUnit.id))]
    from app.supervision.models import Finding, InspectionSection
    findings = [(f.result, f.forwarded_region, f.forward_outcome, f.hazard_case_id) for f in db.session.scalars(
        select(Finding).join(InspectionSection).join(CampaignUnit).where(CampaignUnit.campaign_id == c.id))]
    return c.status, c.draw_seed, c.draw_result, c.supervisor_expert_id, units, findings


def _pl_approved() -> dict:
    """The draft submitted and approved by nn_head: the undertaking unit assigns."""
    from app.engine import runtime
    ids = _pl_draft()
    case = runtime.start_case("post_license_inspection", user("nn_city"), {"campaign_id": str(ids["campaign"])})
    db.session.commit()
    runtime.complete_task(open_task(case).id, user("nn_head"), {"review_decision": "approve", "opinion": "同意"})
    db.session.commit()
    from app.supervision.models import Expert
    li = db.session.scalar(select(Expert).where(Expert.user_id == user("expert_li").id))
    return {**ids, "case": case.id, "expert": li.id}


def _pl_inspecting() -> dict:
    """Units assigned to expert_li, the inspection under way; the first unit has a problem finding."""
    from app.engine import runtime
    from app.supervision import campaigns as pl
    from app.supervision import services as sv
    from app.supervision.models import Campaign
    ids = _pl_approved()
    c = db.session.get(Campaign, ids["campaign"])
    for u in c.units:
        pl.assign(user("undertaker_gx"), c, u.id, [ids["expert"]])
    runtime.complete_task(open_task(db.session.get(Case, ids["case"])).id, user("undertaker_gx"), {"opinion": "已分配"})
    unit = c.units[0]
    section = pl.ensure_section(user("undertaker_gx"), unit)
    item = section.template.items[0]
    sv.save_findings(user("undertaker_gx"), section, {str(item.id): {"result": "不符合", "note": "无证生产"}})
    db.session.commit()
    return {**ids, "unit": unit.id, "finding": section.findings[0].id, "item": item.id}


def _pl_forwarded() -> dict:
    from app.supervision import campaigns as pl
    from app.supervision.models import CampaignUnit
    ids = _pl_inspecting()
    pl.forward_finding(user("undertaker_gx"), db.session.get(CampaignUnit, ids["unit"]), ids["finding"])
    db.session.commit()
    return ids


PL_OUTSIDERS = ("qx_supervisor", "lz_supervisor", "xn_supervisor", "unit_xn", "unit_lz", "agency_gx", "op_wei",
                "sys_admin", "undertaker_gx")
PL_UNIT_OUTSIDERS = ("lz_supervisor", "xn_supervisor", "unit_lz", "agency_gx", "op_wei", "sys_admin")
PL_FORWARD_OUTSIDERS = ("lz_supervisor", "xn_supervisor", "unit_xn", "undertaker_gx", "agency_gx", "op_wei", "sys_admin")


SV_REFUSED = ("xn_colleague", "nn_city")    # see the draft, may not change it

# ------------------------------------------------------------------ state snapshots (must not change)

def _case_state(ids) -> tuple:
    db.session.expire_all()
    case = db.session.get(Case, ids["case"])
    events = db.session.scalar(select(func.count(CaseEvent.id)).where(CaseEvent.case_id == ids["case"]))
    tasks = [(t.id, t.status, t.assignee_id) for t in
             db.session.scalars(select(Task).where(Task.case_id == ids["case"]).order_by(Task.id))]
    return case.status, case.current_step, events, tasks


def _transfer_state(ids) -> tuple:
    from app.transfers.models import EquipmentTransfer, TransferItem
    db.session.expire_all()
    t = db.session.get(EquipmentTransfer, ids["transfer"])
    items = [(i.equipment_id, i.to_region) for i in
             db.session.scalars(select(TransferItem).where(TransferItem.transfer_id == t.id))]
    return t.status, t.deleted_at, t.to_region, t.reason, items, _case_state(ids)


def _cert_state(ids) -> tuple:
    from app.operators.models import OperatorCertificate
    db.session.expire_all()
    c = db.session.get(OperatorCertificate, ids["cert"])
    return (c.cert_no, c.work_item, c.issue_date, c.issuing_authority, c.photo_attachment_id) if c else None


def _user_state(username: str) -> Callable:
    def snapshot(_ids=None) -> tuple:
        db.session.expire_all()
        u = user(username)
        return u.role, u.region_code, u.org_id, u.is_active_flag, u.password_hash, u.locked_until
    return snapshot


def _template_state(_ids=None):
    from app.sms.models import SmsTemplate
    db.session.expire_all()
    return [(t.code, t.name, t.text, t.enabled, t.reviewed) for t in
            db.session.scalars(select(SmsTemplate).order_by(SmsTemplate.code))]


def _job_runs(_ids=None):
    from app.scheduler.models import JobRun
    return db.session.scalar(select(func.count(JobRun.id)))


def _calendar_state(_ids=None):
    from app.calendar.models import WorkCalendarDay, WorkCalendarYear
    db.session.expire_all()
    return ([(d.day, d.kind, d.name) for d in db.session.scalars(select(WorkCalendarDay).order_by(WorkCalendarDay.day))],
            [(y.year, y.status, y.source) for y in db.session.scalars(select(WorkCalendarYear).order_by(WorkCalendarYear.year))])


def _national_day():
    from datetime import date

    from app.calendar.models import WorkCalendarDay
    return {"day": db.session.scalar(select(WorkCalendarDay.id).where(WorkCalendarDay.day == date(2026, 10, 1)))}


def _paused_case_in_xn() -> dict:
    from app.cases import clock
    ids = _case_in_xn()
    clock.pause_case(ids["case"], user("xn_supervisor"), "补正材料")
    db.session.commit()
    return ids


def _clock_state(ids) -> tuple:
    db.session.expire_all()
    case = db.session.get(Case, ids["case"])
    return case.paused_at, case.pause_reason, _case_state(ids)


def _elevator_order() -> dict:
    """wb_qin checked in at unit_xn's first lift (a work order in progress) and the lift's next plan."""
    from app.core.models import Equipment
    from app.elevators import services as elevators
    from app.elevators.models import ElevatorFacts, MaintenancePlan
    from .test_elevators import checkin_body
    lift = db.session.scalar(select(Equipment).join(ElevatorFacts, ElevatorFacts.equipment_id == Equipment.id)
                             .where(Equipment.use_org_id == user("unit_xn").org_id).order_by(Equipment.id))
    order = elevators.check_in(user("wb_qin"), checkin_body(lift, 10, client_id="route-scope-0001")).order
    db.session.commit()
    plan = db.session.scalar(select(MaintenancePlan).where(MaintenancePlan.equipment_id == lift.id,
                                                           MaintenancePlan.status == "planned")
                             .order_by(MaintenancePlan.due_on.desc()))
    return {"device": lift.id, "order": order.id, "plan": plan.id, "due": plan.due_on.isoformat()}


def _elevator_state(ids) -> tuple:
    from app.elevators.models import MaintenancePlan, WorkOrder
    db.session.expire_all()
    o = db.session.get(WorkOrder, ids["order"])
    return o.status, len(o.results), len(o.photos), o.checkout_at, db.session.get(MaintenancePlan, ids["plan"]).due_on


ELEVATOR_OUTSIDERS = ("qx_supervisor", "lz_supervisor", "unit_qx", "unit_lz", "op_wei", "sys_admin", "wy_qx")


def _platform_credential() -> dict:
    """A credential 兴宁区 issued to the demo maintenance unit (revoke: 兴宁区 and above only)."""
    from app.maintenance_platform import services as platform
    cred, _secret = platform.issue(user("xn_supervisor"), user("wb_qin").org_id, "路由检查平台")
    db.session.commit()
    return {"credential": cred.id}


def _platform_credential_state(ids) -> tuple:
    from app.maintenance_platform.models import PlatformCredential
    db.session.expire_all()
    revoked = db.session.get(PlatformCredential, ids["credential"]).revoked_at if ids else None
    return revoked, db.session.scalar(select(func.count(PlatformCredential.id)))


def _exemption_in_xn() -> dict:
    """unit_xn's first lift approved by 兴宁区 as exempt from paperless maintenance, with one work order
    the maintenance unit back-filled (a scanned paper record attached)."""
    from app.core.models import Equipment
    from app.elevator_exemptions import services as exemptions
    from app.elevator_exemptions.models import Exemption
    from app.elevators.models import ElevatorFacts
    from app.engine import runtime
    from .test_elevator_exemptions import backfill_body
    lift = db.session.scalar(select(Equipment).join(ElevatorFacts, ElevatorFacts.equipment_id == Equipment.id)
                             .where(Equipment.use_org_id == user("unit_xn").org_id).order_by(Equipment.id))
    case = runtime.start_case("elevator_exemption", user("unit_xn"), {"elevator_codes": [lift.code],
                                                                      "reason": "机房无移动网络信号，无法无纸化维保。"})
    runtime.complete_task(open_task(case).id, user("xn_supervisor"), {
        "review_decision": "approve", "valid_until": (today_local() + timedelta(days=90)).isoformat()})
    att = upload("wb_quality", JPEG, "纸质工单.jpg")
    order, _dup = exemptions.backfill(user("wb_quality"), backfill_body(lift, attachment_ids=[att]))
    if order.plan_id:          # the seeded plan stays as seeded (the cleanup does not restore changed rows)
        from app.elevators.models import MaintenancePlan
        plan = db.session.get(MaintenancePlan, order.plan_id)
        plan.status, plan.done_on, plan.work_order_id, order.plan_id = "planned", None, None, None
    db.session.commit()
    exemption = db.session.scalar(select(Exemption).where(Exemption.case_id == case.id))
    return {"exemption": exemption.id, "order": order.id, "att": att, "case": case.id}


def _unit_hazard_in_xn() -> dict:
    """A major hazard unit_xn reported on its own lift (not yet accepted by 兴宁区)."""
    from .conftest import hazard_of
    case = make_case(reporter="unit_xn")
    return {"hazard": hazard_of(case).id, "case": case.id}


def _unit_hazard_state(ids) -> tuple:
    from app.hazards.models import Hazard
    db.session.expire_all()
    h = db.session.get(Hazard, ids["hazard"])
    return h.description, h.rectify_deadline, h.deleted_at, _case_state(ids)


def _general_in_xn() -> dict:
    from app.engine import runtime
    from app.general_hazards.models import GeneralHazard
    case = runtime.start_case("general_hazard", user("unit_xn"), {
        "category": "other", "hazard_count": 1, "level": "low", "main_problem": "消防通道堆放杂物。",
        "found_at": "地下车库", "found_on": today_local().isoformat(),
        "deadline": (today_local() + timedelta(days=3)).isoformat(), "related_source": "self_check",
        "inspector_name": "李检查", "inspecting_unit": "本单位", "check_kind": "daily"})
    db.session.commit()
    return {"general": db.session.scalar(select(GeneralHazard.id).where(GeneralHazard.case_id == case.id)),
            "case": case.id}


def _check_of_xn() -> dict:
    from app.general_hazards import services
    from app.general_hazards.models import GeneralHazardCheck
    plan = services.create_plan(user("unit_xn"), {"name": "路由测试排查计划", "period": "monthly",
                                                  "starts_on": today_local().replace(day=1).isoformat()})
    db.session.commit()
    return {"check": db.session.scalar(select(GeneralHazardCheck.id).where(GeneralHazardCheck.plan_id == plan.id))}


def _check_state(ids) -> tuple:
    from app.general_hazards.models import GeneralHazardCheck
    db.session.expire_all()
    c = db.session.get(GeneralHazardCheck, ids["check"])
    return c.status, c.done_by_id


def _criterion_state(_ids=None) -> tuple:
    from app.hazards.models import HazardCriterion
    db.session.expire_all()
    c = db.session.get(HazardCriterion, "GB45067-4.6b")
    return c.active, c.version, c.cause_class


def _bulletin_of_nanning() -> dict:
    """A bulletin nn_city generated for 南宁市, waiting for approval."""
    from app.hazards import bulletins
    row = bulletins.create_bulletin(user("nn_city"), {
        "title": "路由测试通报", "kind": "adhoc", "scope_region": "450100",
        "period_from": (today_local() - timedelta(days=30)).isoformat(), "period_to": today_local().isoformat()})
    db.session.commit()
    return {"bulletin": row.id}


def _bulletin_state(ids) -> tuple:
    from app.hazards.models import HazardBulletin
    db.session.expire_all()
    b = db.session.get(HazardBulletin, ids["bulletin"])
    return b.status, b.approved_by_id, len(b.receipts)


def _plan_count(_ids=None) -> int:
    from app.general_hazards.models import GeneralHazardPlan
    return db.session.scalar(select(func.count(GeneralHazardPlan.id)))


# ------------------------------------------------------------------ the table

@dataclass
class Public:
    url: str
    method: str = "GET"


@dataclass
class LoginOnly:
    url: str
    method: str = "GET"


@dataclass
class Roles:
    allowed: set
    url: str
    method: str = "GET"
    data: dict = field(default_factory=dict)
    state: Callable | None = None
    url_args: Callable[[], dict] | None = None
    insider: bool = True           # GET: check one allowed user gets 200 (False: the URL names no real object)


@dataclass
class Obj:
    factory: Callable[[], dict]
    url: str
    owner: str
    outsiders: tuple
    method: str = "GET"
    data: Callable[[dict], dict] | None = None
    state: Callable[[dict], object] | None = None
    view: str | None = None        # for POST endpoints: a GET page of the object the owner may read
    also_refused: tuple = ()       # users who see the object but may not do this (expect 403/404/409)


def _dispatch_form(_ids) -> dict:
    return {"dispatch_decision": "dispatch", "requirements": "立即停用并整改门锁回路。",
            "rectify_deadline": (today_local() + timedelta(days=10)).isoformat(), "opinion": "情况属实"}


def _complaint_in_xn() -> dict:
    """A complaint registered by xn_supervisor about a 兴宁区 address (waiting for 受理审查)."""
    from app.complaints.models import Complaint
    from app.engine import runtime
    case = runtime.start_case("public_complaint", user("xn_supervisor"), {
        "county_code": "450102", "address": "兴宁区某小区", "description": "电梯困人多次，维保不到位。",
        "complainant_phone": "13907710123"})
    db.session.commit()
    return {"case": case.id, "complaint": db.session.scalar(select(Complaint.id).where(Complaint.case_id == case.id))}


def _user_id(username):
    return lambda: {"uid": user(username).id}


ROUTES: dict[str, object] = {
    # -- public
    "auth.login": Public("/login"),
    "auth.otp": Public("/login/otp"),
    "core.healthz": Public("/healthz"),
    "favicon": Public("/favicon.ico"),
    "operators_public.public_search": Public("/public/operators"),
    "operators_public.public_detail": Public("/public/operators/NO-SUCH-ID"),
    "api.create_session": Public("/api/v1/session", "POST"),
    "api.openapi": Public("/api/v1/openapi.json"),
    "sms_api.receipts": Public("/api/v1/sms/receipts", "POST"),      # the gateway's shared token, tested in test_sms
    # -- any signed-in user; lists are filtered by scope in SQL (see test_scope, test_scan)
    "cases.home": LoginOnly("/"),
    "cases.inbox": LoginOnly("/inbox"),
    "cases.processes": LoginOnly("/processes"),
    "auth.change_password": LoginOnly("/password"),
    "auth.logout": LoginOnly("/logout", "POST"),
    "hazards.ledger": LoginOnly("/hazards"),
    "hazards.export": LoginOnly("/hazards/export.xlsx"),
    "transfers.index": LoginOnly("/transfers"),
    "transfers.export": LoginOnly("/transfers/export.xlsx"),
    "transfers.batch_action": LoginOnly("/transfers/batch", "POST"),   # only own-scope ids act: test_transfers
    "api.me": LoginOnly("/api/v1/me"),
    "api.delete_session": LoginOnly("/api/v1/session", "DELETE"),      # test_security_hardening
    "api.change_password": LoginOnly("/api/v1/me/password", "POST"),   # test_security_hardening
    "api.list_processes": LoginOnly("/api/v1/processes"),
    "api.get_process": LoginOnly("/api/v1/processes/major_hazard"),
    "api.create_case": LoginOnly("/api/v1/cases", "POST"),           # can_start per process: test_api
    "api.list_tasks": LoginOnly("/api/v1/tasks"),
    "api.equipment_search": LoginOnly("/api/v1/equipment"),
    "api.list_lookups": LoginOnly("/api/v1/lookups"),
    "api.get_lookup": LoginOnly("/api/v1/lookups/work_item"),
    "api.upload_attachment": LoginOnly("/api/v1/attachments", "POST"),
    "transfers_api.list_transfers": LoginOnly("/api/v1/transfers"),
    "transfers_api.batch": LoginOnly("/api/v1/transfers/batch", "POST"),
    # -- role-gated
    "cases.start": Roles(HAZARD_STARTERS, "/processes/major_hazard/start"),
    "operators.me": Roles({"operator"}, "/me"),
    "operators.employer": Roles({"operator"}, "/me/employer"),
    "operators.update_profile": Roles({"operator"}, "/me/profile", "POST",
                                      {"education": "本科", "address": "越权测试地址"}),
    "operators.add_certificate": Roles({"operator"}, "/me/certificates", "POST",
                                       {"cert_no": "GX2099ROLE01", "work_item": "T", "issuing_authority": "南宁市市场监督管理局",
                                        "issue_date": "2025-01-01"}),
    "operators.staff": Roles({"use_unit"}, "/operators/staff"),
    "sms.records": Roles(REGULATORS | {"use_unit", "inspection_agency", "sys_admin"}, "/sms/records"),
    "sms.export": Roles(REGULATORS | {"use_unit", "inspection_agency", "sys_admin"}, "/sms/records/export.xlsx"),
    "sms.templates": Roles({"sys_admin"}, "/sms/templates"),
    "sms.edit_template": Roles({"sys_admin"}, "/sms/templates/{code}", "POST",
                               {"name": "越权修改", "text": "越权修改的短信内容", "action": "save"},
                               state=_template_state, url_args=lambda: {"code": _any_template_code()}),
    "scheduler.jobs": Roles({"sys_admin"}, "/admin/jobs"),
    "calendar.index": Roles({"sys_admin"}, "/admin/calendar/"),
    "calendar.export": Roles({"sys_admin"}, "/admin/calendar/export.xlsx?year=2026"),
    "calendar.template": Roles({"sys_admin"}, "/admin/calendar/template.txt"),
    "calendar.add_day": Roles({"sys_admin"}, "/admin/calendar/days", "POST",
                              {"day": "2026-10-11", "kind": "workday", "name": "越权调休"}, state=_calendar_state),
    "calendar.edit_day": Roles({"sys_admin"}, "/admin/calendar/days/{day}", "POST",
                               {"day": "2026-10-01", "kind": "holiday", "name": "越权修改"}, state=_calendar_state,
                               url_args=_national_day),
    "calendar.delete_day": Roles({"sys_admin"}, "/admin/calendar/days/{day}/delete", "POST", state=_calendar_state,
                                 url_args=_national_day),
    "calendar.save_year": Roles({"sys_admin"}, "/admin/calendar/years/2027", "POST",
                                {"status": "loaded", "source": "越权"}, state=_calendar_state),
    "calendar.import_year": Roles({"sys_admin"}, "/admin/calendar/import", "POST",
                                  {"year": "2027", "source": "越权"}, state=_calendar_state),
    "scheduler.run_now": Roles({"sys_admin"}, "/admin/jobs/{name}/run", "POST", state=_job_runs,
                               url_args=lambda: {"name": _any_job()}),
    "security.users": Roles({"sys_admin", "sec_admin"}, "/admin/users"),
    "security.users_export": Roles({"sys_admin"}, "/admin/users/export.xlsx"),
    "security.user_new": Roles({"sys_admin"}, "/admin/users/new", "POST",
                               {"username": "intruder_made", "display_name": "越权创建", "role": "county_supervisor",
                                "region_code": "450102"}, state=lambda _=None: user("intruder_made") is None),
    "security.user_set_active": Roles({"sys_admin"}, "/admin/users/{uid}/active", "POST", {"active": "0"},
                                      state=_user_state("unit_qx"), url_args=_user_id("unit_qx")),
    "security.user_reset_password": Roles({"sys_admin"}, "/admin/users/{uid}/reset-password", "POST",
                                          state=_user_state("unit_qx"), url_args=_user_id("unit_qx")),
    "security.user_edit": Roles({"sec_admin"}, "/security/users/{uid}", "POST",
                                {"role": "province_supervisor", "region_code": "450000"},
                                state=_user_state("unit_qx"), url_args=_user_id("unit_qx")),
    "security.user_unlock": Roles({"sec_admin"}, "/security/users/{uid}/unlock", "POST",
                                  state=_user_state("unit_qx"), url_args=_user_id("unit_qx")),
    "security.user_end_sessions": Roles({"sec_admin"}, "/security/users/{uid}/end-sessions", "POST",
                                        url_args=_user_id("unit_qx")),
    "security.audit_log": Roles({"audit_admin", "sec_admin"}, "/audit"),
    "security.audit_export": Roles({"audit_admin", "sec_admin"}, "/audit/export.xlsx"),
    "security.audit_verify": Roles({"audit_admin"}, "/audit/verify", "POST"),
    # process administration (issue 4): both blueprints gate every request in before_request
    "procadmin.index": Roles({"process_admin"}, "/process-admin/"),
    "procadmin.changes": Roles({"process_admin"}, "/process-admin/changes"),
    "procadmin.process": Roles({"process_admin"}, "/process-admin/processes/major_hazard"),
    "procadmin.diff": Roles({"process_admin"}, "/process-admin/processes/major_hazard/diff", insider=False),
    "procadmin.version_xml": Roles({"process_admin"}, "/process-admin/processes/major_hazard/v1/diagram.bpmn"),
    "procadmin.download_version": Roles({"process_admin"}, "/process-admin/processes/major_hazard/v1/download"),
    "procadmin.migrate": Roles({"process_admin"}, "/process-admin/processes/major_hazard/migrate", insider=False),
    "procadmin.migrate#POST": Roles({"process_admin"}, "/process-admin/processes/major_hazard/migrate", "POST"),
    "procadmin.new_draft": Roles({"process_admin"}, "/process-admin/processes/major_hazard/draft", "POST"),
    "procadmin.upload_new": Roles({"process_admin"}, "/process-admin/upload", "POST"),
    "procadmin.decision": Roles({"process_admin"}, "/process-admin/decisions/x", insider=False),
    "procadmin.download_decision": Roles({"process_admin"}, "/process-admin/decisions/x/v1/download", insider=False),
    "procadmin.new_decision_draft": Roles({"process_admin"}, "/process-admin/decisions/x/draft", "POST"),
    "procadmin.draft": Roles({"process_admin"}, "/process-admin/drafts/1", insider=False),
    "procadmin.download_draft": Roles({"process_admin"}, "/process-admin/drafts/1/download", insider=False),
    "procadmin.dmn_editor": Roles({"process_admin"}, "/process-admin/drafts/1/dmn/x.dmn", insider=False),
    "procadmin.upload": Roles({"process_admin"}, "/process-admin/drafts/1/upload", "POST"),
    "procadmin.validate": Roles({"process_admin"}, "/process-admin/drafts/1/validate", "POST"),
    "procadmin.deploy": Roles({"process_admin"}, "/process-admin/drafts/1/deploy", "POST"),
    "procadmin.discard": Roles({"process_admin"}, "/process-admin/drafts/1/discard", "POST"),
    "procadmin_api.processes": Roles({"process_admin"}, "/api/v1/process-admin/processes"),
    "procadmin_api.version": Roles({"process_admin"}, "/api/v1/process-admin/processes/major_hazard/versions/1"),
    "procadmin_api.diff": Roles({"process_admin"}, "/api/v1/process-admin/processes/major_hazard/diff",
                                insider=False),
    "procadmin_api.create_draft": Roles({"process_admin"}, "/api/v1/process-admin/processes/major_hazard/drafts",
                                        "POST"),
    "procadmin_api.form_preview": Roles({"process_admin"}, "/api/v1/process-admin/form-preview", "POST"),
    "procadmin_api.draft": Roles({"process_admin"}, "/api/v1/process-admin/drafts/1", insider=False),
    "procadmin_api.save_bpmn": Roles({"process_admin"}, "/api/v1/process-admin/drafts/1/bpmn", "POST"),
    "procadmin_api.save_dmn": Roles({"process_admin"}, "/api/v1/process-admin/drafts/1/dmn/x.dmn", "POST"),
    "procadmin_api.save_form": Roles({"process_admin"}, "/api/v1/process-admin/drafts/1/forms/f", "POST"),
    "procadmin_api.delete_form": Roles({"process_admin"}, "/api/v1/process-admin/drafts/1/forms/f", "DELETE"),
    "procadmin_api.validate": Roles({"process_admin"}, "/api/v1/process-admin/drafts/1/validate", "POST"),
    "procadmin_api.deploy": Roles({"process_admin"}, "/api/v1/process-admin/drafts/1/deploy", "POST"),
    # -- the device registry, inspection reports, documents and imports
    "registry.devices": LoginOnly("/registry/devices"),
    "registry.devices_export": LoginOnly("/registry/devices/export.xlsx"),
    "registry.units": LoginOnly("/registry/units"),
    "registry.device": Obj(_device_in_xn, "/registry/devices/{device}", "xn_supervisor", DEVICE_OUTSIDERS),
    "registry.change_status": Obj(_device_in_xn, "/registry/devices/{device}/status", "xn_supervisor",
                                  DEVICE_OUTSIDERS, "POST", lambda ids: {"status": "stopped", "reason": "越权停用"},
                                  _device_state, view="/registry/devices/{device}",
                                  also_refused=("unit_xn", "agency_gx")),
    "registry.edit_life": Obj(_device_in_xn, "/registry/devices/{device}/life", "xn_supervisor", DEVICE_OUTSIDERS,
                              "POST", lambda ids: {"design_life_years": "33", "reason": "越权修正"}, _device_state,
                              view="/registry/devices/{device}", also_refused=("unit_xn",)),
    "registry.unit": Obj(_device_in_xn, "/registry/units/{org}", "xn_supervisor", DEVICE_OUTSIDERS + ("agency_gx",)),
    "registry_api.list_devices": LoginOnly("/api/v1/registry/devices"),
    "registry_api.list_units": LoginOnly("/api/v1/registry/units"),
    "registry_api.categories": LoginOnly("/api/v1/registry/categories"),
    "registry_api.regions": LoginOnly("/api/v1/registry/regions"),
    "registry_api.get_device": Obj(_device_in_xn, "/api/v1/registry/devices/{device}", "xn_supervisor", DEVICE_OUTSIDERS),
    "registry_api.device_changes": Obj(_device_in_xn, "/api/v1/registry/devices/{device}/changes", "xn_supervisor",
                                       DEVICE_OUTSIDERS),
    "registry_api.change_status": Obj(_device_in_xn, "/api/v1/registry/devices/{device}/status", "xn_supervisor",
                                      DEVICE_OUTSIDERS, "POST", lambda ids: {"status": "stopped", "reason": "越权停用"},
                                      _device_state, view="/api/v1/registry/devices/{device}",
                                      also_refused=("unit_xn", "agency_gx")),
    "registry_api.edit_life": Obj(_device_in_xn, "/api/v1/registry/devices/{device}/life", "xn_supervisor",
                                  DEVICE_OUTSIDERS, "POST", lambda ids: {"design_life_years": 33, "reason": "越权修正"},
                                  _device_state, view="/api/v1/registry/devices/{device}", also_refused=("unit_xn",)),
    "registry_api.get_unit": Obj(_device_in_xn, "/api/v1/registry/units/{org}", "xn_supervisor",
                                 DEVICE_OUTSIDERS + ("agency_gx",)),
    "inspections.new_report": Roles(REGULATORS | {"inspection_agency"}, "/inspections/reports/new"),
    "inspections.report_pdf": Obj(_device_in_xn, "/inspections/reports/{report}/pdf", "xn_supervisor", DEVICE_OUTSIDERS),
    "inspections_api.list_reports": LoginOnly("/api/v1/inspections/reports"),
    "inspections_api.get_report": Obj(_device_in_xn, "/api/v1/inspections/reports/{report}", "unit_xn", DEVICE_OUTSIDERS),
    "inspections_api.create_report": Roles(REGULATORS | {"inspection_agency"}, "/api/v1/inspections/reports", "POST"),
    "documents.view": Obj(_dispatched_hazard, "/documents/hazard_notice/{hazard}", "xn_supervisor", XN_OUTSIDERS),
    "documents.docx": Obj(_dispatched_hazard, "/documents/hazard_notice/{hazard}.docx", "unit_xn", XN_OUTSIDERS),
    "documents.pdf": Obj(_dispatched_hazard, "/documents/hazard_notice/{hazard}.pdf", "unit_xn", XN_OUTSIDERS),
    "imports.index": Roles(REGULATORS | {"inspection_agency"}, "/imports"),
    "imports.index#POST": Roles(REGULATORS | {"inspection_agency"}, "/imports", "POST", {"kind": "devices"}),
    "imports.template": Roles(REGULATORS, "/imports/templates/devices.xlsx"),
    "imports.job_page": Obj(_import_of_xn, "/imports/{job}", "xn_supervisor", XN_OUTSIDERS + ("xn_colleague", "nn_city")),
    "imports.job_errors": Obj(_import_of_xn, "/imports/{job}/errors.xlsx", "xn_supervisor",
                              XN_OUTSIDERS + ("xn_colleague", "nn_city")),
    "imports_api.api_kinds": LoginOnly("/api/v1/imports/kinds"),
    "imports_api.api_template": Roles(REGULATORS, "/api/v1/imports/kinds/devices/template"),
    "imports_api.api_start": Roles(REGULATORS | {"inspection_agency"}, "/api/v1/imports", "POST"),
    "imports_api.api_job": Obj(_import_of_xn, "/api/v1/imports/{job}", "xn_supervisor", XN_OUTSIDERS + ("nn_city",)),
    "imports_api.api_job_errors": Obj(_import_of_xn, "/api/v1/imports/{job}/errors", "xn_supervisor",
                                      XN_OUTSIDERS + ("nn_city",)),
    "registry.design_life": LoginOnly("/registry/design-life"),
    "registry.design_life_export": LoginOnly("/registry/design-life/export.xlsx"),
    "registry.simple_vessels": LoginOnly("/registry/simple-vessels"),
    "registry_api.design_life": LoginOnly("/api/v1/registry/design-life"),
    "registry_api.simple_vessel_stats": LoginOnly("/api/v1/registry/simple-vessels/stats"),
    "overdue.index": Roles(REGULATORS, "/overdue"),
    "overdue.export": Roles(REGULATORS, "/overdue/export.xlsx"),
    "overdue.batch_start": Roles(REGULATORS, "/overdue/batch-start", "POST", {"ids": "1"}),
    "overdue.correct": Roles(REGULATORS, "/overdue/correct", "POST", {"ids": "1", "reason": "越权重新计算"}),
    "overdue.records": LoginOnly("/overdue/records"),
    "overdue.records_export": LoginOnly("/overdue/records/export.xlsx"),
    "overdue.announcements": Roles(REGULATORS, "/overdue/announcements"),
    "overdue_public.public_announcements": Public("/public/announcements"),
    "overdue_api.get_ledger": Roles(REGULATORS, "/api/v1/overdue/ledger"),
    "overdue_api.batch_start": Roles(REGULATORS, "/api/v1/overdue/batch-start", "POST", {"ids": [1]}),
    "overdue_api.correct": Roles(REGULATORS, "/api/v1/overdue/correct", "POST", {"ids": [1], "reason": "越权重新计算"}),
    "overdue_api.records": LoginOnly("/api/v1/overdue/records"),
    "complaints_public.new": Public("/public/complaints/new"),
    "complaints_public.done": Public("/public/complaints/done"),
    "complaints_public.lookup": Public("/public/complaints/lookup"),
    "complaints_public.captcha_image": Public("/public/complaints/captcha/NO-SUCH.png"),
    "complaints_api.public_captcha": Public("/api/v1/public/complaints/captcha"),
    "complaints_api.public_captcha_status": Public("/api/v1/public/complaints/captcha-status"),
    "complaints_api.public_sms_code": Public("/api/v1/public/complaints/sms-code", "POST"),
    "complaints_api.public_submit": Public("/api/v1/public/complaints", "POST"),
    "complaints_api.public_lookup": Public("/api/v1/public/complaints/lookup", "POST"),
    "complaints_api.region_lookup": Public("/api/v1/complaints/regions"),
    "complaints_api.criteria_lookup": LoginOnly("/api/v1/complaints/criteria"),
    "complaints_api.list_complaints": Roles(REGULATORS, "/api/v1/complaints"),
    "complaints.index": Roles(REGULATORS, "/complaints"),
    "complaints.export": Roles(REGULATORS, "/complaints/export.xlsx"),
    "complaints.reveal_phone": Obj(_complaint_in_xn, "/complaints/{complaint}/phone", "xn_supervisor",
                                   XN_OUTSIDERS + ("unit_xn",), "POST", view="/cases/{case}"),
    # -- objects in a region / an organisation / a person's scope
    "cases.case_page": Obj(_case_in_xn, "/cases/{case}", "xn_supervisor", XN_OUTSIDERS),
    "cases.case_diagram": Obj(_case_in_xn, "/cases/{case}/diagram.bpmn", "xn_supervisor", XN_OUTSIDERS),
    "cases.add_log": Obj(_case_in_xn, "/cases/{case}/log", "xn_supervisor", XN_OUTSIDERS, "POST",
                         lambda ids: {"text": "越权写入的监察日志"}, _case_state, view="/cases/{case}",
                         also_refused=("unit_xn",)),
    "cases.task_page": Obj(_case_in_xn, "/tasks/{task}", "xn_supervisor", XN_OUTSIDERS),
    "cases.task_page#POST": Obj(_case_in_xn, "/tasks/{task}", "xn_supervisor", XN_OUTSIDERS, "POST",
                                _dispatch_form, _case_state, view="/tasks/{task}",
                                also_refused=("nn_city", "unit_xn")),
    "cases.claim": Obj(_case_in_xn, "/tasks/{task}/claim", "xn_supervisor", XN_OUTSIDERS, "POST",
                       None, _case_state, view="/tasks/{task}", also_refused=("nn_city", "gx_province", "unit_xn")),
    "cases.unclaim": Obj(_claimed_task_in_xn, "/tasks/{task}/unclaim", "xn_supervisor",
                         XN_OUTSIDERS + ("xn_colleague", "nn_city", "unit_xn"), "POST", None, _case_state,
                         view="/tasks/{task}"),
    "cases.download": Obj(_case_in_xn, "/attachments/{att}", "xn_supervisor", XN_OUTSIDERS),
    "hazards.notice": Obj(_dispatched_hazard, "/hazards/{hazard}/notice", "xn_supervisor", XN_OUTSIDERS),
    "hazards.notice_download": Obj(_dispatched_hazard, "/hazards/{hazard}/notice.docx", "unit_xn", XN_OUTSIDERS),
    "sms.send": Obj(_case_in_xn, "/sms/send?case_id={case}", "xn_supervisor", XN_OUTSIDERS,
                    also_refused=("unit_xn",)),
    "sms.send#POST": Obj(_case_in_xn, "/sms/send?case_id={case}", "xn_supervisor", XN_OUTSIDERS, "POST",
                         lambda ids: {"template": "TODO_REMINDER", "recipients": ["user:1"], "action": "send"},
                         _case_state, view="/sms/send?case_id={case}", also_refused=("unit_xn",)),
    "transfers.detail": Obj(_transfer_lz_to_xn, "/transfers/{transfer}", "unit_lz", TRANSFER_OUTSIDERS),
    "transfers.diagram": Obj(_transfer_lz_to_xn, "/transfers/{transfer}/diagram.bpmn", "unit_lz",
                             TRANSFER_OUTSIDERS),
    "transfers.edit": Obj(_transfer_lz_to_xn, "/transfers/{transfer}/edit", "unit_lz", TRANSFER_OUTSIDERS,
                          also_refused=("xn_supervisor", "lz_supervisor")),
    "transfers.edit#POST": Obj(_transfer_lz_to_xn, "/transfers/{transfer}/edit", "unit_lz", TRANSFER_OUTSIDERS,
                               "POST", lambda ids: {"equipment_codes": ids["code"], "to_region": "450103",
                                                    "reason": "越权修改迁移申请的原因说明文字"},
                               _transfer_state, view="/transfers/{transfer}/edit",
                               also_refused=("xn_supervisor", "lz_supervisor")),
    "transfers.delete": Obj(_transfer_lz_to_xn, "/transfers/{transfer}/delete", "unit_lz", TRANSFER_OUTSIDERS,
                            "POST", None, _transfer_state, view="/transfers/{transfer}"),
    "operators.certificate_photo": Obj(_lan_certificate, "/operators/certificates/{cert}/photo", "op_lan",
                                       CERT_OUTSIDERS + ("unit_lz",)),
    "operators.edit_certificate": Obj(_lan_certificate, "/me/certificates/{cert}", "op_lan", CERT_OUTSIDERS),
    "operators.edit_certificate#POST": Obj(_lan_certificate, "/me/certificates/{cert}", "op_lan", CERT_OUTSIDERS,
                                           "POST", lambda ids: {"cert_no": "GX2099SCOPE02", "work_item": "T",
                                                                "issue_date": "2025-01-01",
                                                                "issuing_authority": "越权修改"},
                                           _cert_state, view="/me/certificates/{cert}"),
    "operators.delete_certificate": Obj(_lan_certificate, "/me/certificates/{cert}/delete", "op_lan",
                                        CERT_OUTSIDERS, "POST", None, _cert_state, view="/me/certificates/{cert}"),
    # -- the same objects through the JSON API (bearer tokens)
    "api.get_case": Obj(_case_in_xn, "/api/v1/cases/{case}", "xn_supervisor", XN_OUTSIDERS),
    "api.get_task": Obj(_case_in_xn, "/api/v1/tasks/{task}", "xn_supervisor", XN_OUTSIDERS),
    "api.claim_task": Obj(_case_in_xn, "/api/v1/tasks/{task}/claim", "xn_supervisor", XN_OUTSIDERS, "POST",
                          lambda ids: {}, _case_state, view="/api/v1/tasks/{task}",
                          also_refused=("nn_city", "unit_xn")),
    "api.unclaim_task": Obj(_claimed_task_in_xn, "/api/v1/tasks/{task}/unclaim", "xn_supervisor",
                            XN_OUTSIDERS + ("xn_colleague", "nn_city"), "POST", lambda ids: {}, _case_state,
                            view="/api/v1/tasks/{task}"),
    "api.complete_task": Obj(_case_in_xn, "/api/v1/tasks/{task}/complete", "xn_supervisor", XN_OUTSIDERS, "POST",
                             lambda ids: {"data": _dispatch_form(ids)}, _case_state, view="/api/v1/tasks/{task}",
                             also_refused=("nn_city", "unit_xn")),
    # task operations (app/taskops): the holder / delegate / a regulator of the case acts; others 403/404
    "taskops.transfer": Obj(_case_in_xn, "/tasks/{task}/transfer", "xn_supervisor", XN_OUTSIDERS, "POST",
                            _target_xn_colleague, _case_state, view="/tasks/{task}",
                            also_refused=("nn_city", "unit_xn")),
    "taskops.delegate": Obj(_case_in_xn, "/tasks/{task}/delegate", "xn_supervisor", XN_OUTSIDERS, "POST",
                            _target_xn_colleague, _case_state, view="/tasks/{task}",
                            also_refused=("nn_city", "unit_xn")),
    "taskops.resolve": Obj(_delegated_task_in_xn, "/tasks/{task}/resolve", "xn_colleague", XN_OUTSIDERS, "POST",
                           lambda ids: {"opinion": "越权归还"}, _case_state, view="/tasks/{task}",
                           also_refused=("xn_supervisor", "nn_city", "unit_xn")),
    "taskops.add_signer": Obj(_case_in_xn, "/tasks/{task}/signers", "xn_supervisor", XN_OUTSIDERS, "POST",
                              lambda ids: {"signer": str(user("nn_city").id), "kind": "before"}, _case_state,
                              view="/tasks/{task}", also_refused=("nn_city", "unit_xn")),
    "taskops.sign": Obj(_signing_task_in_xn, "/tasks/{task}/sign", "nn_city", XN_OUTSIDERS, "POST",
                        lambda ids: {"opinion": "越权签署"}, _case_state, view="/tasks/{task}",
                        also_refused=("xn_supervisor", "xn_colleague", "unit_xn")),
    "taskops.remove_signer": Obj(_signing_task_in_xn, "/tasks/{task}/signers/{sign}/remove", "xn_supervisor",
                                 XN_OUTSIDERS, "POST", None, _case_state, view="/tasks/{task}",
                                 also_refused=("nn_city", "xn_colleague", "unit_xn")),
    "taskops.urge": Obj(_case_in_xn, "/cases/{case}/urge", "xn_supervisor", XN_OUTSIDERS, "POST",
                        lambda ids: {"note": "越权催办"}, _copy_state, view="/cases/{case}",
                        also_refused=("unit_xn",)),
    "taskops.copy": Obj(_case_in_xn, "/cases/{case}/copy", "xn_supervisor", XN_OUTSIDERS, "POST",
                        lambda ids: {"users": [str(user("lz_supervisor").id)], "note": "越权抄送"}, _copy_state,
                        view="/cases/{case}", also_refused=("unit_xn",)),
    "taskops.open_copy": Obj(_copy_to_qx, "/copies/{copy}/open", "qx_supervisor",
                             ("xn_supervisor", "lz_supervisor", "unit_xn", "unit_qx", "op_wei", "sys_admin"),
                             view="/cases/{case}"),
    "taskops.deputies": Roles(CASE_WORKERS, "/settings/deputy"),
    "taskops.deputies#POST": Roles(CASE_WORKERS, "/settings/deputy", "POST",
                                   {"deputy": "1", "starts_on": "2099-01-01", "ends_on": "2099-01-02"},
                                   state=lambda _=None: _deputy_rows()),
    "taskops.revoke_deputy": Obj(_deputy_of_xn, "/settings/deputy/{deputy}/revoke", "xn_supervisor",
                                 ("xn_colleague", "qx_supervisor", "nn_city", "unit_xn", "op_wei", "sys_admin"),
                                 "POST", None, _deputy_state, view="/settings/deputy"),
    "taskops_api.list_deputies": LoginOnly("/api/v1/deputies"),
    "taskops_api.create_deputy": LoginOnly("/api/v1/deputies", "POST"),   # only for oneself: test_taskops
    "taskops_api.revoke_deputy": Obj(_deputy_of_xn, "/api/v1/deputies/{deputy}/revoke", "xn_supervisor",
                                     ("xn_colleague", "qx_supervisor", "nn_city", "unit_xn", "op_wei", "sys_admin"),
                                     "POST", lambda ids: {}, _deputy_state, view="/api/v1/deputies"),
    # 退回 (app/review): the holder of the task returns it; who only sees the case may not
    "review.return_task": Obj(_rectify_task_in_xn, "/tasks/{task}/return", "unit_xn", XN_OUTSIDERS, "POST",
                              lambda ids: {"target": "dispatch", "reason": "越权退回"}, _case_state,
                              view="/tasks/{task}", also_refused=("xn_supervisor", "nn_city")),
    "review_api.return_targets": Obj(_rectify_task_in_xn, "/api/v1/tasks/{task}/return-targets", "unit_xn",
                                     XN_OUTSIDERS),
    "review_api.api_return": Obj(_rectify_task_in_xn, "/api/v1/tasks/{task}/return", "unit_xn", XN_OUTSIDERS,
                                 "POST", lambda ids: {"target": "dispatch", "reason": "越权退回"}, _case_state,
                                 view="/api/v1/tasks/{task}", also_refused=("xn_supervisor", "nn_city")),
    # 撤回 (the one who completed the step) and 撤销 (the initiator); refusals of the rules: test_review
    "review.withdraw": Obj(_dispatched_in_xn, "/tasks/{task}/withdraw", "xn_supervisor", XN_OUTSIDERS, "POST",
                           lambda ids: {}, _case_state, view="/tasks/{task}", also_refused=("xn_colleague", "nn_city")),
    "review_api.api_withdraw": Obj(_dispatched_in_xn, "/api/v1/tasks/{task}/withdraw", "xn_supervisor",
                                   XN_OUTSIDERS, "POST", lambda ids: {}, _case_state, view="/api/v1/tasks/{task}",
                                   also_refused=("xn_colleague", "nn_city", "unit_xn")),
    "review.dossier": Obj(_case_in_xn, "/cases/{case}/dossier.pdf", "xn_supervisor", XN_OUTSIDERS),
    "review.cancel": Obj(_case_in_xn, "/cases/{case}/cancel", "xn_supervisor", XN_OUTSIDERS, "POST",
                         lambda ids: {"reason": "越权撤销"}, _case_state, view="/cases/{case}",
                         also_refused=("xn_colleague", "nn_city", "unit_xn")),
    "review_api.api_cancel": Obj(_case_in_xn, "/api/v1/cases/{case}/cancel", "xn_supervisor", XN_OUTSIDERS,
                                 "POST", lambda ids: {"reason": "越权撤销"}, _case_state, view="/api/v1/cases/{case}",
                                 also_refused=("xn_colleague", "nn_city", "unit_xn")),
    # inbox (app/inbox): counts and filters are the caller's own; bulk checks every task in the
    # caller's scope item by item (refused rows named) — test_inbox
    "inbox_api.counts": LoginOnly("/api/v1/inbox/counts"),
    "inbox_api.list_filters": LoginOnly("/api/v1/inbox/filters"),
    "inbox_api.create_filter": LoginOnly("/api/v1/inbox/filters", "POST"),
    "inbox_api.bulk": LoginOnly("/api/v1/tasks/bulk", "POST"),
    "inbox.save_filter": LoginOnly("/inbox/filters", "POST"),
    "inbox.bulk": LoginOnly("/inbox/bulk", "POST"),
    "inbox.delete_filter": Obj(_filter_of_xn, "/inbox/filters/{filter}/delete", "xn_supervisor",
                               ("qx_supervisor", "lz_supervisor", "nn_city", "unit_xn", "op_wei", "sys_admin"),
                               "POST", None, _filter_state, view="/inbox", also_refused=("xn_colleague",)),
    "inbox_api.delete_filter": Obj(_filter_of_xn, "/api/v1/inbox/filters/{filter}", "xn_supervisor",
                                   ("qx_supervisor", "lz_supervisor", "nn_city", "unit_xn", "op_wei", "sys_admin"),
                                   "DELETE", None, _filter_state, view="/api/v1/inbox/filters",
                                   also_refused=("xn_colleague",)),
    "taskops.copies": LoginOnly("/copies"),
    "taskops.notifications": LoginOnly("/notifications"),
    "taskops.read_notifications": LoginOnly("/notifications/read", "POST"),   # the caller's own rows only
    "taskops_api.transfer": Obj(_case_in_xn, "/api/v1/tasks/{task}/transfer", "xn_supervisor", XN_OUTSIDERS,
                                "POST", lambda ids: {"target_user_id": user("xn_colleague").id, "opinion": "越权转办"},
                                _case_state, view="/api/v1/tasks/{task}", also_refused=("nn_city", "unit_xn")),
    "taskops_api.delegate": Obj(_case_in_xn, "/api/v1/tasks/{task}/delegate", "xn_supervisor", XN_OUTSIDERS,
                                "POST", lambda ids: {"target_user_id": user("xn_colleague").id}, _case_state,
                                view="/api/v1/tasks/{task}", also_refused=("nn_city", "unit_xn")),
    "taskops_api.resolve": Obj(_delegated_task_in_xn, "/api/v1/tasks/{task}/resolve", "xn_colleague",
                               XN_OUTSIDERS, "POST", lambda ids: {"opinion": "越权归还"}, _case_state,
                               view="/api/v1/tasks/{task}", also_refused=("xn_supervisor", "nn_city", "unit_xn")),
    "taskops_api.list_signers": Obj(_signing_task_in_xn, "/api/v1/tasks/{task}/signers", "xn_supervisor",
                                    XN_OUTSIDERS),
    "taskops_api.add_signer": Obj(_case_in_xn, "/api/v1/tasks/{task}/signers", "xn_supervisor", XN_OUTSIDERS,
                                  "POST", lambda ids: {"signer_user_id": user("nn_city").id, "kind": "after"},
                                  _case_state, view="/api/v1/tasks/{task}", also_refused=("nn_city", "unit_xn")),
    "taskops_api.sign": Obj(_signing_task_in_xn, "/api/v1/tasks/{task}/sign", "nn_city", XN_OUTSIDERS, "POST",
                            lambda ids: {"opinion": "越权签署"}, _case_state, view="/api/v1/tasks/{task}",
                            also_refused=("xn_supervisor", "xn_colleague", "unit_xn")),
    "taskops_api.remove_signer": Obj(_signing_task_in_xn, "/api/v1/tasks/{task}/signers/{sign}/remove",
                                     "xn_supervisor", XN_OUTSIDERS, "POST", lambda ids: {}, _case_state,
                                     view="/api/v1/tasks/{task}", also_refused=("nn_city", "xn_colleague", "unit_xn")),
    "taskops_api.candidates": Obj(_case_in_xn, "/api/v1/tasks/{task}/candidates", "xn_supervisor", XN_OUTSIDERS),
    "taskops_api.urge": Obj(_case_in_xn, "/api/v1/cases/{case}/urge", "xn_supervisor", XN_OUTSIDERS, "POST",
                            lambda ids: {"note": "越权催办"}, _copy_state, view="/api/v1/cases/{case}",
                            also_refused=("unit_xn",)),
    "taskops_api.copy": Obj(_case_in_xn, "/api/v1/cases/{case}/copies", "xn_supervisor", XN_OUTSIDERS, "POST",
                            lambda ids: {"user_ids": [user("lz_supervisor").id]}, _copy_state,
                            view="/api/v1/cases/{case}", also_refused=("unit_xn",)),
    "taskops_api.list_copies": LoginOnly("/api/v1/copies"),
    "taskops_api.read_copy": Obj(_copy_to_qx, "/api/v1/copies/{copy}/read", "qx_supervisor",
                                 ("xn_supervisor", "lz_supervisor", "unit_xn", "op_wei", "sys_admin"), "POST",
                                 lambda ids: {}, view="/api/v1/cases/{case}"),
    "transfers_api.get_transfer": Obj(_transfer_lz_to_xn, "/api/v1/transfers/{transfer}", "unit_lz",
                                      TRANSFER_OUTSIDERS),
    # -- the case clock (法定时限): the handling office pauses/resumes; the enterprise sees the state only
    "clock.pause": Obj(_case_in_xn, "/cases/{case}/clock/pause", "xn_supervisor", XN_OUTSIDERS, "POST",
                       lambda ids: {"reason": "补正材料"}, _clock_state, view="/cases/{case}",
                       also_refused=("unit_xn", "nn_city")),
    "clock.resume": Obj(_paused_case_in_xn, "/cases/{case}/clock/resume", "xn_supervisor", XN_OUTSIDERS, "POST",
                        lambda ids: {}, _clock_state, view="/cases/{case}", also_refused=("unit_xn", "nn_city")),
    "clock_api.api_get": Obj(_case_in_xn, "/api/v1/cases/{case}/clock", "xn_supervisor", XN_OUTSIDERS),
    "clock_api.api_pause": Obj(_case_in_xn, "/api/v1/cases/{case}/clock/pause", "xn_supervisor", XN_OUTSIDERS,
                               "POST", lambda ids: {"reason": "补正材料"}, _clock_state,
                               view="/api/v1/cases/{case}/clock", also_refused=("unit_xn", "nn_city")),
    # 隐患管理 (app/hazards/pages.py, api.py) and 一般隐患 (app/general_hazards): the reporter changes its
    # hazard until accepted; regulators of the region see it but may not change it
    "hazards.manage_page": Roles(CASE_WORKERS, "/hazards/manage"),
    "hazards.edit": Obj(_unit_hazard_in_xn, "/hazards/{hazard}/edit", "unit_xn", XN_OUTSIDERS,
                        also_refused=("xn_supervisor", "nn_city")),
    "hazards.edit#POST": Obj(_unit_hazard_in_xn, "/hazards/{hazard}/edit", "unit_xn", XN_OUTSIDERS, "POST",
                             lambda ids: {"description": "越权修改隐患描述文字内容", "criterion_id": "GB45067-4.6b",
                                          "found_on": today_local().isoformat(),
                                          "rectify_deadline": (today_local() + timedelta(days=9)).isoformat()},
                             _unit_hazard_state, view="/hazards/{hazard}/edit", also_refused=("xn_supervisor", "nn_city")),
    "hazards.delete": Obj(_unit_hazard_in_xn, "/hazards/{hazard}/delete", "unit_xn", XN_OUTSIDERS, "POST",
                          lambda ids: {"reason": "越权删除"}, _unit_hazard_state, view="/hazards/{hazard}/edit"),
    "hazards_api.list_hazards": LoginOnly("/api/v1/hazards"),
    "hazards_api.get_hazard": Obj(_unit_hazard_in_xn, "/api/v1/hazards/{hazard}", "unit_xn", XN_OUTSIDERS),
    "hazards_api.edit_hazard": Obj(_unit_hazard_in_xn, "/api/v1/hazards/{hazard}", "unit_xn", XN_OUTSIDERS, "PATCH",
                                   lambda ids: {"description": "越权修改隐患描述文字内容"}, _unit_hazard_state,
                                   view="/api/v1/hazards/{hazard}", also_refused=("xn_supervisor", "nn_city")),
    "hazards_api.delete_hazard": Obj(_unit_hazard_in_xn, "/api/v1/hazards/{hazard}?reason=越权删除", "unit_xn",
                                     XN_OUTSIDERS, "DELETE", None, _unit_hazard_state, view="/api/v1/hazards/{hazard}",
                                     also_refused=("xn_supervisor", "nn_city")),
    "hazards.report_from_inspection": Obj(_device_in_xn, "/hazards/report-from/{report}", "xn_supervisor",
                                          ("qx_supervisor", "lz_supervisor", "unit_qx", "unit_lz", "unit_xn", "op_wei",
                                           "sys_admin", "process_admin"), view="/registry/devices/{device}"),
    "hazards.bulletins": Roles(REGULATORS, "/hazards/bulletins"),
    "hazards.new_bulletin": Roles({"city_supervisor", "province_supervisor"}, "/hazards/bulletins/new"),
    "hazards.new_bulletin#POST": Roles({"city_supervisor", "province_supervisor"}, "/hazards/bulletins/new", "POST",
                                       {"title": "越权通报", "kind": "adhoc", "scope_region": "450102",
                                        "period_from": "2026-01-01", "period_to": "2026-01-31"}),
    "hazards.bulletin": Obj(_bulletin_of_nanning, "/hazards/bulletins/{bulletin}", "nn_city",
                            ("xn_supervisor", "lz_supervisor", "unit_xn", "agency_gx", "op_wei", "sys_admin")),
    "hazards.decide_bulletin": Obj(_bulletin_of_nanning, "/hazards/bulletins/{bulletin}/decide", "nn_city",
                                   ("xn_supervisor", "lz_supervisor", "unit_xn", "agency_gx", "op_wei", "sys_admin"),
                                   "POST", lambda ids: {"decision": "approve", "opinion": "越权同意"}, _bulletin_state,
                                   view="/hazards/bulletins/{bulletin}", also_refused=("nn_city",)),
    "hazards.stats": Roles(REGULATORS, "/hazards/stats"),
    "hazards.stats_xlsx": Roles(REGULATORS, "/hazards/stats/region.xlsx"),
    "hazards.nonconforming": Roles(REGULATORS | {"inspection_agency"}, "/hazards/nonconforming"),
    "hazards.nonconforming#POST": Roles(REGULATORS | {"inspection_agency"}, "/hazards/nonconforming", "POST",
                                        {"ids": "1", "criterion_id": "GB45067-4.6b", "rectify_deadline": "2099-01-01"}),
    "hazards_api.nonconforming_reports": Roles(REGULATORS | {"inspection_agency"},
                                               "/api/v1/hazards/nonconforming-reports"),
    "hazards_api.batch_report": Roles(REGULATORS | {"inspection_agency"}, "/api/v1/hazards/batch-report", "POST",
                                      {"report_ids": [1], "criterion_id": "GB45067-4.6b",
                                       "rectify_deadline": "2099-01-01"}),
    "hazards_api.list_bulletins": LoginOnly("/api/v1/hazards/bulletins"),
    "hazards_api.create_bulletin": Roles({"city_supervisor", "province_supervisor"}, "/api/v1/hazards/bulletins", "POST",
                                         {"title": "越权通报", "kind": "adhoc", "scope_region": "450102",
                                          "period_from": "2026-01-01", "period_to": "2026-01-31"}),
    "hazards_api.get_bulletin": Obj(_bulletin_of_nanning, "/api/v1/hazards/bulletins/{bulletin}", "nn_city",
                                    ("xn_supervisor", "lz_supervisor", "unit_xn", "agency_gx", "op_wei", "sys_admin")),
    "hazards_api.decide_bulletin": Obj(_bulletin_of_nanning, "/api/v1/hazards/bulletins/{bulletin}/decide", "nn_city",
                                       ("xn_supervisor", "lz_supervisor", "unit_xn", "agency_gx", "op_wei", "sys_admin"),
                                       "POST", lambda ids: {"decision": "approve", "opinion": "越权同意"}, _bulletin_state,
                                       view="/api/v1/hazards/bulletins/{bulletin}", also_refused=("nn_city",)),
    "hazards.criteria": Roles(REGULATORS | {"process_admin"}, "/hazards/criteria"),
    "hazards.criterion": Roles(REGULATORS | {"process_admin"}, "/hazards/criteria/GB45067-4.6b"),
    "hazards.criterion#POST": Roles({"province_supervisor", "process_admin"}, "/hazards/criteria/GB45067-4.6b", "POST",
                                    {"active": "", "note": "越权停用"}, state=_criterion_state),
    "hazards_api.list_criteria": LoginOnly("/api/v1/hazards/criteria"),
    "general_hazards.new_plan": Roles({"use_unit"}, "/hazards/general/plans/new"),
    "general_hazards.new_plan#POST": Roles({"use_unit"}, "/hazards/general/plans/new", "POST",
                                           {"name": "越权计划", "period": "monthly", "starts_on": "2026-01-01"},
                                           state=_plan_count),
    "general_hazards.finish_check": Obj(_check_of_xn, "/hazards/general/checks/{check}/done", "unit_xn", XN_OUTSIDERS,
                                        "POST", lambda ids: {"notes": "越权"}, _check_state,
                                        view="/hazards/manage?tab=general", also_refused=("xn_supervisor",)),
    "general_hazards_api.api_list": LoginOnly("/api/v1/general-hazards"),
    "general_hazards_api.api_get": Obj(_general_in_xn, "/api/v1/general-hazards/{general}", "unit_xn", XN_OUTSIDERS),
    "general_hazards_api.api_checks": LoginOnly("/api/v1/general-hazards/checks"),
    "general_hazards_api.api_finish_check": Obj(_check_of_xn, "/api/v1/general-hazards/checks/{check}/done", "unit_xn",
                                                XN_OUTSIDERS, "POST", lambda ids: {"notes": "越权"}, _check_state,
                                                view="/api/v1/general-hazards/checks", also_refused=("xn_supervisor",)),
    "general_hazards_api.api_create_plan": Roles({"use_unit"}, "/api/v1/general-hazards/plans", "POST",
                                                 {"name": "越权计划", "period": "monthly", "starts_on": "2026-01-01"},
                                                 state=_plan_count),
    "clock_api.api_resume": Obj(_paused_case_in_xn, "/api/v1/cases/{case}/clock/resume", "xn_supervisor",
                                XN_OUTSIDERS, "POST", lambda ids: {}, _clock_state,
                                view="/api/v1/cases/{case}/clock", also_refused=("unit_xn", "nn_city")),
    "elevators_public.elevator": Public("/p/elevators/311045001201600001"),
    "mobile.manifest": Public("/m/manifest.webmanifest"),
    "mobile.service_worker": Public("/m/sw.js"),
    "mobile.offline": Public("/m/offline"),
    "mobile.home": LoginOnly("/m/"),
    "mobile.identity_check": LoginOnly("/m/identity"),
    "mobile.queue": LoginOnly("/m/queue"),
    "mobile.elevators": Roles({"elevator_maintainer", "property_manager", "maintenance_quality"}, "/m/elevators",
                              insider=False),
    "mobile.scan": Roles({"elevator_maintainer"}, "/m/scan", insider=False),
    "mobile.visit": Roles({"elevator_maintainer"}, "/m/visit", insider=False),
    "mobile.orders": Roles({"elevator_maintainer"}, "/m/orders", insider=False),
    "mobile.elevator": Obj(_elevator_order, "/m/elevators/{device}", "wb_qin", ELEVATOR_OUTSIDERS + ("unit_xn",)),
    "elevators.index": LoginOnly("/elevators"),
    "elevators.records": LoginOnly("/elevators/records"),
    "elevators.repairs": LoginOnly("/elevators/repairs"),
    "elevators.export": LoginOnly("/elevators/records/export.xlsx"),
    "elevators.plans": LoginOnly("/elevators/plans"),
    "elevators.setup": Roles({"maintenance_unit", "maintenance_quality", "elevator_maintainer"}, "/elevators/setup",
                             insider=False),
    "elevators.setup#POST": Roles({"maintenance_unit", "maintenance_quality", "elevator_maintainer"}, "/elevators/setup",
                                  "POST", {"code": "311045001201600001", "elevator_type": "traction"}),
    "elevators.items": Roles({"sys_admin", "process_admin", "province_supervisor"}, "/elevators/items"),
    "elevators.edit_item": Roles({"sys_admin", "process_admin", "province_supervisor"}, "/elevators/items/1", "POST",
                                 {"item": "越权修改", "requirement": "越权修改"}),
    "elevators.order": Obj(_elevator_order, "/elevators/orders/{order}", "xn_supervisor", ELEVATOR_OUTSIDERS),
    "elevators.label": Obj(_elevator_order, "/elevators/{device}/label", "xn_supervisor", DEVICE_OUTSIDERS),
    "elevators.move_plan": Obj(_elevator_order, "/elevators/plans/{plan}/move", "wb_qin", ELEVATOR_OUTSIDERS,
                               "POST", lambda ids: {"due_on": ids["due"]}, _elevator_state, view="/elevators/plans",
                               also_refused=("unit_xn", "xn_supervisor")),
    "maintenance_platform.credentials": Roles(REGULATORS | {"maintenance_unit", "maintenance_quality"},
                                              "/maintenance-platform/credentials"),
    "maintenance_platform.issue": Roles({"province_supervisor", "city_supervisor", "county_supervisor"},
                                        "/maintenance-platform/credentials", "POST",
                                        {"org_id": "1", "platform_name": "越权签发的平台"},
                                        state=lambda: _platform_credential_state(None)[1]),
    "maintenance_platform.revoke": Obj(_platform_credential, "/maintenance-platform/credentials/{credential}/revoke",
                                       "xn_supervisor", ELEVATOR_OUTSIDERS + ("unit_xn",), "POST",
                                       lambda ids: {"reason": "越权吊销"}, _platform_credential_state,
                                       view="/maintenance-platform/credentials", also_refused=("wb_quality",)),
    # signed by the platform's credential, no login (tests/test_maintenance_platform.py): anonymous → 401
    "maintenance_platform_api.whoami": Public("/api/v1/maintenance-platform/whoami"),
    "maintenance_platform_api.upload_records": Public("/api/v1/maintenance-platform/records", "POST"),
    "elevator_exemptions.index": LoginOnly("/elevators/exemptions"),
    "elevator_exemptions.export": LoginOnly("/elevators/exemptions/export.xlsx"),
    "elevator_exemptions.elevators": LoginOnly("/elevators/exemptions/elevators"),
    "elevator_exemptions.export_elevators": LoginOnly("/elevators/exemptions/elevators/export.xlsx"),
    "elevator_exemptions.backfills": LoginOnly("/elevators/exemptions/backfills"),
    "elevator_exemptions.export_backfills": LoginOnly("/elevators/exemptions/backfills/export.xlsx"),
    "elevator_exemptions.new_backfill": Roles({"maintenance_unit", "maintenance_quality", "elevator_maintainer"}, "/elevators/exemptions/backfills/new", insider=False),
    "elevator_exemptions.new_backfill#POST": Roles({"maintenance_unit", "maintenance_quality", "elevator_maintainer"}, "/elevators/exemptions/backfills/new", "POST",
                                                   {"equipment_id": "1", "work_date": "2026-01-01"}),
    "elevator_exemptions.detail": Obj(_exemption_in_xn, "/elevators/exemptions/{exemption}", "xn_supervisor",
                                      XN_OUTSIDERS),
    "elevator_exemptions.backfill_detail": Obj(_exemption_in_xn, "/elevators/exemptions/backfills/{order}",
                                               "xn_supervisor", XN_OUTSIDERS),
    "elevator_exemptions.backfill_file": Obj(_exemption_in_xn, "/elevators/exemptions/backfills/{order}/files/{att}",
                                             "xn_supervisor", XN_OUTSIDERS),
    "elevator_exemptions_api.list_applications": LoginOnly("/api/v1/elevator-exemptions"),
    "elevator_exemptions_api.list_elevators": LoginOnly("/api/v1/elevator-exemptions/elevators"),
    "elevator_exemptions_api.list_backfills": LoginOnly("/api/v1/elevator-exemptions/backfills"),
    "elevator_exemptions_api.get_application": Obj(_exemption_in_xn, "/api/v1/elevator-exemptions/{exemption}",
                                                   "unit_xn", XN_OUTSIDERS),
    "elevator_exemptions_api.get_backfill": Obj(_exemption_in_xn, "/api/v1/elevator-exemptions/backfills/{order}",
                                                "wb_quality", XN_OUTSIDERS),
    "elevator_exemptions_api.backfill_form": Roles({"maintenance_unit", "maintenance_quality", "elevator_maintainer"}, "/api/v1/elevator-exemptions/backfill-form", insider=False),
    "elevator_exemptions_api.create_backfill": Roles({"maintenance_unit", "maintenance_quality", "elevator_maintainer"}, "/api/v1/elevator-exemptions/backfills", "POST",
                                                     {"equipment_id": 1, "work_date": "2026-01-01"}),
    "elevators_api.list_elevators": LoginOnly("/api/v1/elevators"),
    "elevators_api.lookup": LoginOnly("/api/v1/elevators/lookup?code=X"),
    "elevators_api.list_items": LoginOnly("/api/v1/elevators/items"),
    "elevators_api.item_catalogue": LoginOnly("/api/v1/elevators/item-catalogue"),
    "elevators_api.list_plans": LoginOnly("/api/v1/elevators/plans"),
    "elevators_api.today_pack": LoginOnly("/api/v1/elevators/today"),
    "elevators_api.list_orders": LoginOnly("/api/v1/elevators/work-orders"),
    "elevators_api.check_in": LoginOnly("/api/v1/elevators/work-orders", "POST"),   # refusals: test_elevators
    "elevators_api.sync": LoginOnly("/api/v1/elevators/sync", "POST"),              # maintainers only: test_elevators
    "elevators_api.bind_chip": Obj(_elevator_order, "/api/v1/elevators/{device}/chip", "wb_qin", DEVICE_OUTSIDERS,
                                   "POST", lambda ids: {"chip_id": "04A23B1C5D8001"}, _elevator_state,
                                   view="/api/v1/elevators/{device}", also_refused=("unit_xn", "xn_supervisor")),
    "elevators_api.get_elevator": Obj(_elevator_order, "/api/v1/elevators/{device}", "xn_supervisor", DEVICE_OUTSIDERS),
    "elevators_api.move_plan": Obj(_elevator_order, "/api/v1/elevators/plans/{plan}/move", "wb_qin",
                                   ELEVATOR_OUTSIDERS, "POST", lambda ids: {"due_on": ids["due"]}, _elevator_state,
                                   view="/api/v1/elevators/plans", also_refused=("unit_xn", "xn_supervisor")),
    "elevators_api.get_order": Obj(_elevator_order, "/api/v1/elevators/work-orders/{order}", "wb_qin",
                                   ELEVATOR_OUTSIDERS),
    "elevators_api.save_results": Obj(_elevator_order, "/api/v1/elevators/work-orders/{order}/results", "wb_qin",
                                      ELEVATOR_OUTSIDERS, "POST", lambda ids: {"results": []}, _elevator_state,
                                      view="/api/v1/elevators/work-orders/{order}",
                                      also_refused=("unit_xn", "xn_supervisor", "wb_lu")),
    "elevators_api.add_photo": Obj(_elevator_order, "/api/v1/elevators/work-orders/{order}/photos", "wb_qin",
                                   ELEVATOR_OUTSIDERS, "POST", None, _elevator_state,
                                   view="/api/v1/elevators/work-orders/{order}",
                                   also_refused=("unit_xn", "xn_supervisor", "wb_lu")),
    "elevators_api.finish": Obj(_elevator_order, "/api/v1/elevators/work-orders/{order}/finish", "wb_qin",
                                ELEVATOR_OUTSIDERS, "POST", None, _elevator_state,
                                view="/api/v1/elevators/work-orders/{order}",
                                also_refused=("unit_xn", "xn_supervisor", "wb_lu")),
    "elevators_api.resubmit": Obj(_elevator_order, "/api/v1/elevators/work-orders/{order}/resubmit", "wb_qin",
                                  ELEVATOR_OUTSIDERS, "POST", None, _elevator_state,
                                  view="/api/v1/elevators/work-orders/{order}",
                                  also_refused=("unit_xn", "xn_supervisor", "wb_lu")),
    # -- 监督检查 (app/supervision)
    "supervision.inspections": Roles(REGULATORS | {"use_unit", "inspection_agency"}, "/supervision/inspections"),
    "supervision.new_inspection": Roles(REGULATORS, "/supervision/inspections/new"),
    "supervision.inspections_export": Roles(REGULATORS | {"use_unit", "inspection_agency"},
                                            "/supervision/inspections/export.xlsx"),
    "supervision.campaigns_export": Roles(REGULATORS | {"undertaking_unit", "expert"}, "/supervision/campaigns/export.xlsx"),
    "supervision.new_inspection#POST": Roles(REGULATORS, "/supervision/inspections/new", "POST", {"category": "x"}),
    "supervision.templates": Roles(REGULATORS | {"sys_admin"}, "/supervision/templates"),
    "supervision.template_new": Roles({"sys_admin", "province_supervisor"}, "/supervision/templates/new"),
    "supervision.template_new#POST": Roles({"sys_admin", "province_supervisor"}, "/supervision/templates/new", "POST",
                                           {"name": ""}),
    "supervision.template_edit": Roles(REGULATORS | {"sys_admin"}, "/supervision/templates/unit_check"),
    "supervision.template_edit#POST": Roles({"sys_admin", "province_supervisor"}, "/supervision/templates/unit_check",
                                            "POST", {"name": "", "count": "0"}),
    "supervision.inspection": Obj(_sv_draft_in_xn, "/supervision/inspections/{insp}", "xn_supervisor", XN_OUTSIDERS),
    "supervision.save_basic": Obj(_sv_draft_in_xn, "/supervision/inspections/{insp}/basic", "xn_supervisor",
                                  XN_OUTSIDERS, "POST", lambda ids: {"category": "其他情形", "unit_categories": "使用",
                                                                     "inspected_on": today_local().isoformat(),
                                                                     "inspectors": "越权修改、某某"},
                                  _sv_state, view="/supervision/inspections/{insp}", also_refused=SV_REFUSED),
    "supervision.add_section": Obj(_sv_draft_in_xn, "/supervision/inspections/{insp}/sections", "xn_supervisor",
                                   XN_OUTSIDERS, "POST", lambda ids: {"template_id": "1"}, _sv_state,
                                   view="/supervision/inspections/{insp}", also_refused=SV_REFUSED),
    "supervision.save_section": Obj(_sv_draft_in_xn, "/supervision/inspections/{insp}/sections/{section}",
                                    "xn_supervisor", XN_OUTSIDERS, "POST",
                                    lambda ids: {f"result_{ids['item']}": "不符合", f"note_{ids['item']}": "越权改写"},
                                    _sv_state, view="/supervision/inspections/{insp}", also_refused=SV_REFUSED),
    "supervision.delete_section": Obj(_sv_draft_in_xn, "/supervision/inspections/{insp}/sections/{section}/delete",
                                      "xn_supervisor", XN_OUTSIDERS, "POST", None, _sv_state,
                                      view="/supervision/inspections/{insp}", also_refused=SV_REFUSED),
    "supervision.save_other": Obj(_sv_draft_in_xn, "/supervision/inspections/{insp}/other", "xn_supervisor",
                                  XN_OUTSIDERS, "POST", lambda ids: {"other_problems": "越权写入"}, _sv_state,
                                  view="/supervision/inspections/{insp}", also_refused=SV_REFUSED),
    "supervision.raise_hazard": Obj(_sv_draft_in_xn, "/supervision/findings/{finding}/hazard", "xn_supervisor",
                                    XN_OUTSIDERS, "POST", lambda ids: {"criterion_id": "GB45067-4.6b",
                                                                       "rectify_deadline": "2099-01-01"},
                                    _sv_state, view="/supervision/inspections/{insp}", also_refused=SV_REFUSED),
    "supervision_api.units": Roles(REGULATORS, "/api/v1/supervision/units"),
    "supervision_api.add_unit": Roles(REGULATORS, "/api/v1/supervision/units", "POST", {"name": ""}),
    "supervision_api.templates": Roles(REGULATORS | {"sys_admin", "expert", "undertaking_unit"},
                                       "/api/v1/supervision/templates"),
    "supervision_api.template": Roles(REGULATORS | {"sys_admin", "expert", "undertaking_unit"},
                                      "/api/v1/supervision/templates/1"),
    "supervision_api.save_template": Roles({"sys_admin", "province_supervisor"}, "/api/v1/supervision/templates",
                                           "POST", {"name": ""}),
    "supervision_api.inspections": LoginOnly("/api/v1/supervision/inspections"),
    "supervision_api.create_inspection": Roles(REGULATORS, "/api/v1/supervision/inspections", "POST", {}),
    "supervision_api.get_inspection": Obj(_sv_draft_in_xn, "/api/v1/supervision/inspections/{insp}", "xn_supervisor",
                                          XN_OUTSIDERS),
    "supervision_api.add_section": Obj(_sv_draft_in_xn, "/api/v1/supervision/inspections/{insp}/sections",
                                       "xn_supervisor", XN_OUTSIDERS, "POST", lambda ids: {"template_id": 1},
                                       _sv_state, view="/api/v1/supervision/inspections/{insp}", also_refused=SV_REFUSED),
    "supervision_api.save_findings": Obj(_sv_draft_in_xn,
                                         "/api/v1/supervision/inspections/{insp}/sections/{section}/findings",
                                         "xn_supervisor", XN_OUTSIDERS, "POST",
                                         lambda ids: {"results": {str(ids["item"]): {"result": "符合"}}}, _sv_state,
                                         view="/api/v1/supervision/inspections/{insp}", also_refused=SV_REFUSED),
    "supervision_api.save_other": Obj(_sv_draft_in_xn, "/api/v1/supervision/inspections/{insp}/other",
                                      "xn_supervisor", XN_OUTSIDERS, "POST", lambda ids: {"other_problems": "越权"},
                                      _sv_state, view="/api/v1/supervision/inspections/{insp}", also_refused=SV_REFUSED),
    "supervision_api.raise_hazard": Obj(_sv_draft_in_xn, "/api/v1/supervision/findings/{finding}/hazard",
                                        "xn_supervisor", XN_OUTSIDERS, "POST",
                                        lambda ids: {"criterion_id": "GB45067-4.6b", "rectify_deadline": "2099-01-01"},
                                        _sv_state, view="/api/v1/supervision/inspections/{insp}",
                                        also_refused=SV_REFUSED),
    # -- 证后监督检查 (app/supervision)
    "supervision.experts": Roles(REGULATORS | {"sys_admin", "undertaking_unit"}, "/supervision/experts"),
    "supervision.new_expert": Roles({"city_supervisor", "province_supervisor"}, "/supervision/experts/new"),
    "supervision.new_expert#POST": Roles({"city_supervisor", "province_supervisor"},
                                         "/supervision/experts/new", "POST", {"name": ""}),
    "supervision.edit_expert": Obj(_pl_expert, "/supervision/experts/{expert}", "nn_city",
                                   ("lz_supervisor", "unit_xn", "agency_gx", "op_wei", "process_admin")),
    "supervision.edit_expert#POST": Obj(_pl_expert, "/supervision/experts/{expert}", "nn_city",
                                        ("lz_supervisor", "unit_xn", "agency_gx", "op_wei", "process_admin"), "POST",
                                        lambda ids: {"name": "越权改名", "kind": "inspector", "region_code": "450100"},
                                        _pl_expert_state, view="/supervision/experts/{expert}",
                                        also_refused=("xn_supervisor",)),
    "supervision.toggle_expert": Obj(_pl_expert, "/supervision/experts/{expert}/active", "nn_city",
                                     ("lz_supervisor", "unit_xn", "agency_gx", "op_wei", "process_admin"), "POST",
                                     lambda ids: {"active": "0"}, _pl_expert_state, view="/supervision/experts/{expert}",
                                     also_refused=("xn_supervisor",)),
    "supervision.campaign_list": Roles(REGULATORS | {"undertaking_unit", "expert"}, "/supervision/campaigns"),
    "supervision.new_campaign": Roles({"city_supervisor"}, "/supervision/campaigns/new"),
    "supervision.new_campaign#POST": Roles({"city_supervisor"}, "/supervision/campaigns/new", "POST", {"name": ""}),
    "supervision.campaign": Obj(_pl_draft, "/supervision/campaigns/{campaign}", "nn_city", PL_OUTSIDERS),
    "supervision.draw": Obj(_pl_draft, "/supervision/campaigns/{campaign}/draw", "nn_city", PL_OUTSIDERS, "POST",
                            lambda ids: {"count": "1", "seed": "越权"}, _pl_state, view="/supervision/campaigns/{campaign}",
                            also_refused=("gx_province",)),
    "supervision.pick": Obj(_pl_draft, "/supervision/campaigns/{campaign}/pick", "nn_city", PL_OUTSIDERS, "POST",
                            lambda ids: {"org_id": str(ids["org"])}, _pl_state, view="/supervision/campaigns/{campaign}",
                            also_refused=("gx_province",)),
    "supervision.remove_unit": Obj(_pl_draft, "/supervision/campaigns/{campaign}/units/{unit}/remove", "nn_city",
                                   PL_OUTSIDERS, "POST", None, _pl_state, view="/supervision/campaigns/{campaign}",
                                   also_refused=("gx_province",)),
    "supervision.supervisor": Obj(_pl_draft, "/supervision/campaigns/{campaign}/supervisor", "nn_city", PL_OUTSIDERS,
                                  "POST", lambda ids: {"seed": "越权"}, _pl_state,
                                  view="/supervision/campaigns/{campaign}", also_refused=("gx_province",)),
    "supervision.assign": Obj(_pl_approved, "/supervision/campaigns/{campaign}/units/{unit}/assign", "undertaker_gx",
                              ("lz_supervisor", "unit_xn", "agency_gx", "op_wei", "sys_admin"), "POST",
                              lambda ids: {"experts": str(ids["expert"])}, _pl_state,
                              view="/supervision/campaigns/{campaign}", also_refused=("nn_city",)),
    "supervision.campaign_unit": Obj(_pl_inspecting, "/supervision/campaign-units/{unit}", "undertaker_gx",
                                     PL_UNIT_OUTSIDERS),
    "supervision.unit_results": Obj(_pl_inspecting, "/supervision/campaign-units/{unit}/results", "undertaker_gx",
                                    PL_UNIT_OUTSIDERS, "POST", lambda ids: {f"result_{ids['item']}": "符合"}, _pl_state,
                                    view="/supervision/campaign-units/{unit}", also_refused=("nn_city",)),
    "supervision.unit_forward": Obj(_pl_inspecting, "/supervision/campaign-units/{unit}/findings/{finding}/forward",
                                    "undertaker_gx", PL_UNIT_OUTSIDERS, "POST", None, _pl_state,
                                    view="/supervision/campaign-units/{unit}", also_refused=("nn_city",)),
    "supervision.unit_submit": Obj(_pl_inspecting, "/supervision/campaign-units/{unit}/submit", "undertaker_gx",
                                   PL_UNIT_OUTSIDERS, "POST", lambda ids: {"inspected_on": "2026-01-01", "summary": "越权提交检查"},
                                   _pl_state, view="/supervision/campaign-units/{unit}", also_refused=("nn_city",)),
    "supervision.unit_rectify": Obj(_pl_inspecting, "/supervision/campaign-units/{unit}/rectify", "undertaker_gx",
                                    PL_UNIT_OUTSIDERS, "POST", lambda ids: {"measures": "越权整改反馈"}, _pl_state,
                                    view="/supervision/campaign-units/{unit}", also_refused=("nn_city",)),
    "supervision.unit_review": Obj(_pl_inspecting, "/supervision/campaign-units/{unit}/review", "undertaker_gx",
                                   PL_UNIT_OUTSIDERS, "POST", lambda ids: {"decision": "pass", "note": "越权"}, _pl_state,
                                   view="/supervision/campaign-units/{unit}", also_refused=("nn_city",)),
    "supervision.unit_evaluate": Obj(_pl_inspecting, "/supervision/campaign-units/{unit}/evaluate", "undertaker_gx",
                                     PL_UNIT_OUTSIDERS, "POST", lambda ids: {"score": "1", "punctual": "poor",
                                                                            "conduct": "poor"}, _pl_state,
                                     view="/supervision/campaign-units/{unit}", also_refused=("nn_city",)),
    "supervision.declaration": Roles({"expert"}, "/supervision/declaration", insider=False),   # test_supervision_campaign
    "supervision.declaration#POST": Roles({"expert"}, "/supervision/declaration", "POST", {"agree": "1"}),
    "supervision.declaration_print": Roles({"expert"}, "/supervision/declaration/print", insider=False),
    "supervision.my_units": Roles({"expert", "use_unit", "inspection_agency", "undertaking_unit", "property_manager",
                                   "maintenance_unit", "cylinder_maker", "filling_unit"}, "/supervision/my"),
    "supervision.forwarded": Roles(REGULATORS, "/supervision/forwarded"),
    "supervision.forwarded_outcome": Obj(_pl_forwarded, "/supervision/forwarded/{finding}/outcome", "nn_city",
                                         PL_FORWARD_OUTSIDERS, "POST", lambda ids: {"outcome": "越权写入处理结果"},
                                         _pl_state, view="/supervision/forwarded"),
    "supervision.forwarded_hazard": Obj(_pl_forwarded, "/supervision/forwarded/{finding}/hazard", "nn_city",
                                        PL_FORWARD_OUTSIDERS, "POST", lambda ids: {"criterion_id": "GB45067-4.6b"},
                                        _pl_state, view="/supervision/forwarded"),
    "supervision_api.experts": Roles(REGULATORS | {"sys_admin", "undertaking_unit"}, "/api/v1/supervision/experts"),
    "supervision_api.create_expert": Roles({"city_supervisor", "province_supervisor"},
                                           "/api/v1/supervision/experts", "POST", {"name": ""}),
    "supervision_api.campaign_list": LoginOnly("/api/v1/supervision/campaigns"),
    "supervision_api.create_campaign": Roles({"city_supervisor"}, "/api/v1/supervision/campaigns", "POST", {}),
    "supervision_api.get_campaign": Obj(_pl_draft, "/api/v1/supervision/campaigns/{campaign}", "nn_city", PL_OUTSIDERS),
    "supervision_api.draw": Obj(_pl_draft, "/api/v1/supervision/campaigns/{campaign}/draw", "nn_city", PL_OUTSIDERS,
                                "POST", lambda ids: {"count": 1, "seed": "越权"}, _pl_state,
                                view="/api/v1/supervision/campaigns/{campaign}", also_refused=("gx_province",)),
    "supervision_api.pick": Obj(_pl_draft, "/api/v1/supervision/campaigns/{campaign}/pick", "nn_city", PL_OUTSIDERS,
                                "POST", lambda ids: {"org_id": ids["org"]}, _pl_state,
                                view="/api/v1/supervision/campaigns/{campaign}", also_refused=("gx_province",)),
    "supervision_api.draw_supervisor": Obj(_pl_draft, "/api/v1/supervision/campaigns/{campaign}/supervisor", "nn_city",
                                           PL_OUTSIDERS, "POST", lambda ids: {"seed": "越权"}, _pl_state,
                                           view="/api/v1/supervision/campaigns/{campaign}", also_refused=("gx_province",)),
    "supervision_api.assign": Obj(_pl_approved, "/api/v1/supervision/campaigns/{campaign}/units/{unit}/assign",
                                  "undertaker_gx", ("lz_supervisor", "unit_xn", "agency_gx", "op_wei", "sys_admin"),
                                  "POST", lambda ids: {"experts": [ids["expert"]]}, _pl_state,
                                  view="/api/v1/supervision/campaigns/{campaign}", also_refused=("nn_city",)),
    "supervision_api.get_unit": Obj(_pl_inspecting, "/api/v1/supervision/campaign-units/{unit}", "undertaker_gx",
                                    PL_UNIT_OUTSIDERS),
    "supervision_api.unit_results": Obj(_pl_inspecting, "/api/v1/supervision/campaign-units/{unit}/results",
                                        "undertaker_gx", PL_UNIT_OUTSIDERS, "POST",
                                        lambda ids: {"results": {str(ids["item"]): {"result": "符合"}}}, _pl_state,
                                        view="/api/v1/supervision/campaign-units/{unit}", also_refused=("nn_city",)),
    "supervision_api.unit_submit": Obj(_pl_inspecting, "/api/v1/supervision/campaign-units/{unit}/submit",
                                       "undertaker_gx", PL_UNIT_OUTSIDERS, "POST",
                                       lambda ids: {"inspected_on": "2026-01-01", "summary": "越权提交检查"}, _pl_state,
                                       view="/api/v1/supervision/campaign-units/{unit}", also_refused=("nn_city",)),
    "supervision_api.unit_rectify": Obj(_pl_inspecting, "/api/v1/supervision/campaign-units/{unit}/rectify",
                                        "undertaker_gx", PL_UNIT_OUTSIDERS, "POST",
                                        lambda ids: {"measures": "越权整改", "photos": []}, _pl_state,
                                        view="/api/v1/supervision/campaign-units/{unit}", also_refused=("nn_city",)),
    "supervision_api.unit_review": Obj(_pl_inspecting, "/api/v1/supervision/campaign-units/{unit}/review",
                                       "undertaker_gx", PL_UNIT_OUTSIDERS, "POST",
                                       lambda ids: {"decision": "pass", "note": "越权"}, _pl_state,
                                       view="/api/v1/supervision/campaign-units/{unit}", also_refused=("nn_city",)),
    "supervision_api.unit_evaluate": Obj(_pl_inspecting, "/api/v1/supervision/campaign-units/{unit}/evaluate",
                                         "undertaker_gx", PL_UNIT_OUTSIDERS, "POST",
                                         lambda ids: {"score": 1, "punctual": "poor", "conduct": "poor"}, _pl_state,
                                         view="/api/v1/supervision/campaign-units/{unit}", also_refused=("nn_city",)),
}

from .cylinder_routes import routes as _cylinder_routes  # noqa: E402 - gas-cylinder traceability (app/cylinders)
ROUTES.update(_cylinder_routes(Public, LoginOnly, Roles, Obj))
from .elevsup_routes import routes as _elevsup_routes  # noqa: E402 - 电梯维保监管 (app/elevator_supervision)
ROUTES.update(_elevsup_routes(Public, LoginOnly, Roles, Obj))

from .rating_routes import routes as _rating_routes  # noqa: E402 - maintenance-unit rating (app/elevator_rating)
ROUTES.update(_rating_routes(Public, LoginOnly, Roles, Obj))


def _any_template_code() -> str:
    from app.sms.models import SmsTemplate
    return db.session.scalar(select(SmsTemplate.code).order_by(SmsTemplate.code))


def _any_job() -> str:
    from app.scheduler.jobs import JOBS
    return next(iter(JOBS))


def _endpoint(key: str) -> str:
    return key.split("#", 1)[0]


def _is_api(url: str) -> bool:
    return url.startswith("/api/")


# ------------------------------------------------------------------ the table matches the application

def test_every_route_is_classified(app):
    routes = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
    named = {_endpoint(k) for k in ROUTES}
    unclassified = sorted(routes - named)
    assert not unclassified, (
        "Routes missing from ROUTES in tests/test_route_scope.py: " + ", ".join(unclassified)
        + " — classify it here and make sure it checks scope (Public / LoginOnly / Roles / Obj)")
    gone = sorted(named - routes)
    assert not gone, "ROUTES names endpoints that no longer exist: " + ", ".join(gone)


def test_every_method_of_an_object_or_role_route_is_covered(app):
    """A GET+POST object route needs both a GET and a '#POST' entry (or a POST-only entry)."""
    missing = []
    for rule in app.url_map.iter_rules():
        spec = ROUTES.get(rule.endpoint)
        if not isinstance(spec, Obj):
            continue
        methods = rule.methods - {"HEAD", "OPTIONS"}
        covered = {s.method for k, s in ROUTES.items() if _endpoint(k) == rule.endpoint}
        missing += [f"{rule.endpoint} {m}" for m in methods - covered]
    assert not missing, "object routes with an untested method: " + ", ".join(missing)


# ------------------------------------------------------------------ clients

class _Clients:
    """Logged-in web sessions and API clients, one per user, made on demand."""

    def __init__(self, web, api):
        self._web, self._api, self.sessions, self.apis = web, api, {}, {}

    def call(self, username: str, method: str, url: str, data: dict | None = None):
        if _is_api(url):
            client = self.apis.get(username) or self.apis.setdefault(username, self._api(username))
            if method == "GET":
                return client.get(url)
            if method == "DELETE":
                with client.client.application.app_context():
                    return client.client.delete(url, headers=client.headers)
            if method == "PATCH":
                with client.client.application.app_context():
                    return client.client.patch(url, headers=client.headers, json=data if data is not None else {})
            return client.post(url, json=data if data is not None else {})
        session = self.sessions.get(username) or self.sessions.setdefault(username, self._web(username))
        if method == "GET":
            return session.get(url)
        return session.post(url, data=data or {})


def _refused(resp, url: str, allowed=(403, 404)) -> str | None:
    """None when the response is a refusal; else a description of what was let through."""
    if resp.status_code not in allowed:
        return f"status {resp.status_code} {resp.location or ''}".strip()
    if _is_api(url):
        body = resp.get_json(silent=True) or {}
        if not (body.get("error", {}).get("code") and body["error"].get("message")):
            return f"API refusal is not a JSON error: {resp.get_data(as_text=True)[:200]}"
    return None


# Holes found by this test and not yet fixed: (route key, username) -> what leaks. Each is an xfail.
KNOWN_HOLES: dict[tuple[str, str], str] = {}


# ------------------------------------------------------------------ object routes

@pytest.mark.parametrize("key", sorted(k for k, s in ROUTES.items() if isinstance(s, Obj)))
def test_objects_are_refused_outside_their_scope(key, web, api, app, monkeypatch):
    monkeypatch.setitem(app.config, "PROPAGATE_TEST_ERRORS", False)
    spec: Obj = ROUTES[key]
    ids = spec.factory()
    url = spec.url.format(**ids)
    clients = _Clients(web, api)
    before = spec.state(ids) if spec.state else None
    leaks, holes = [], []
    for username in spec.outsiders + spec.also_refused:
        data = spec.data(ids) if spec.data else None
        allowed = (403, 404, 409) if username in spec.also_refused else (403, 404)
        problem = _refused(clients.call(username, spec.method, url, data), url, allowed)
        if spec.state and spec.state(ids) != before:
            problem = (problem or "") + " and the object changed"
        if problem:
            (holes if (key, username) in KNOWN_HOLES else leaks).append(f"{username}: {spec.method} {url} → {problem}")
    assert not leaks, f"{key} let users outside its scope through:\n" + "\n".join(leaks)
    # the factory is meaningful: the owner reads the object
    view = (spec.view or spec.url).format(**ids)
    resp = clients.call(spec.owner, "GET", view)
    assert resp.status_code == 200, f"{spec.owner} GET {view} → {resp.status_code}"
    if holes:
        pytest.xfail("HOLE: " + "; ".join(KNOWN_HOLES[(key, u.split(':')[0])] for u in holes))


def test_owner_post_actions_work(web, api):
    """The POST factories are meaningful: the owner can do what the outsiders could not."""
    ids = _case_in_xn()
    s = web("xn_supervisor")
    assert s.post(f"/cases/{ids['case']}/log", data={"text": "本人写入的监察日志"}).status_code == 302
    assert s.post(f"/tasks/{ids['task']}/claim").status_code == 302
    assert s.post(f"/tasks/{ids['task']}/unclaim").status_code == 302
    a = api("xn_supervisor")
    assert a.post(f"/api/v1/tasks/{ids['task']}/claim", json={}).status_code == 200
    assert a.post(f"/api/v1/tasks/{ids['task']}/unclaim", json={}).status_code == 200
    resp = a.post(f"/api/v1/tasks/{ids['task']}/complete", json={"data": _dispatch_form(ids)})
    assert resp.status_code == 200, resp.get_json()
    cert = _lan_certificate()
    lan = web("op_lan")
    resp = lan.post(f"/me/certificates/{cert['cert']}", data={"cert_no": "GX2099SCOPE02", "work_item": "T",
                                                            "issue_date": "2025-01-01",
                                                            "issuing_authority": "南宁市市场监督管理局"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    assert lan.post(f"/me/certificates/{cert['cert']}/delete").status_code == 302
    assert _cert_state(cert) is None
    t = _transfer_lz_to_xn()
    lz = web("unit_lz")
    resp = lz.post(f"/transfers/{t['transfer']}/edit", data={"equipment_codes": t["code"], "to_region": "450103",
                                                             "reason": "叉车改调青秀区项目，预计一年。"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    assert _transfer_state(t)[2] == "450103"


# ------------------------------------------------------------------ role-gated routes

@pytest.mark.parametrize("key", sorted(k for k, s in ROUTES.items() if isinstance(s, Roles)))
def test_roles_outside_the_set_are_refused(key, web, api, app, monkeypatch):
    monkeypatch.setitem(app.config, "PROPAGATE_TEST_ERRORS", False)
    spec: Roles = ROUTES[key]
    url = spec.url.format(**(spec.url_args() if spec.url_args else {}))
    outsiders = [u for u in EVERY_KIND if ROLE_OF[u] not in spec.allowed]
    assert outsiders, "a role-gated route open to every role is LoginOnly"
    before = spec.state() if spec.state else None
    clients = _Clients(web, api)
    leaks = []
    for username in outsiders:
        problem = _refused(clients.call(username, spec.method, url, dict(spec.data)), url)
        if spec.state and spec.state() != before:
            problem = (problem or "") + " and the state changed"
        if problem:
            leaks.append(f"{username} ({ROLE_OF[username]}): {spec.method} {url} → {problem}")
    assert not leaks, f"{key} let roles outside {sorted(spec.allowed)} through:\n" + "\n".join(leaks)
    if spec.method == "GET" and spec.insider:
        insider = next(u for u in EVERY_KIND if ROLE_OF[u] in spec.allowed)
        resp = clients.call(insider, "GET", url)
        assert resp.status_code == 200, f"{insider} GET {url} → {resp.status_code}"


# ------------------------------------------------------------------ anonymous users

def _anonymous_url(spec) -> str:
    return spec.url.format_map(_Any())


class _Any(dict):
    def __missing__(self, key):
        return "1" if key != "code" and key != "name" else "X"


@pytest.mark.parametrize("key", sorted(k for k, s in ROUTES.items() if not isinstance(s, Public)))
def test_anonymous_is_sent_to_login(key, client):
    spec = ROUTES[key]
    url = _anonymous_url(spec)
    with client.application.app_context():
        token = csrf_from(client.get("/login").get_data(as_text=True))
    with client.application.app_context():
        if spec.method == "GET":
            resp = client.get(url)
        elif spec.method == "DELETE":
            resp = client.delete(url)
        elif spec.method == "PATCH":
            resp = client.patch(url, json={})
        elif _is_api(url):
            resp = client.post(url, json={})
        else:
            resp = client.post(url, data={"csrf_token": token})
    if _is_api(url):
        assert resp.status_code == 401, (key, resp.status_code)
        assert resp.get_json()["error"]["code"] == "unauthorized"
    else:
        assert resp.status_code == 302 and "/login" in resp.location, (key, resp.status_code, resp.location)


@pytest.mark.parametrize("key", sorted(k for k, s in ROUTES.items() if isinstance(s, Public) and s.method == "GET"))
def test_public_pages_open_without_login(key, client):
    url = ROUTES[key].url
    with client.application.app_context():
        resp = client.get(url)
    expected = (404,) if key in ("operators_public.public_detail", "complaints_public.captcha_image") else (200, 302)
    if key == "maintenance_platform_api.whoami":      # a signed API: unsigned calls are refused
        expected = (401,)
    assert resp.status_code in expected, (key, resp.status_code)
    if resp.status_code == 302:       # /login/otp without a pending login goes back to /login
        assert "/login" in resp.location


def test_unattached_upload_belongs_to_its_uploader_only(web):
    """A file uploaded for a form but not yet part of a case: only its uploader may download it."""
    att = upload("unit_xn")
    assert db.session.get(Attachment, att).case_id is None
    assert web("unit_xn").get(f"/attachments/{att}").status_code == 200
    for username in ("unit_qx", "xn_supervisor", "gx_province", "op_wei", "sys_admin"):
        assert web(username).get(f"/attachments/{att}").status_code == 404, username
