"""检验不合格报告与隐患上报 (§4.3.2): the registry's inspection reports with a failing conclusion (不符合要求 /
不合格 / …) in the user's scope, each marked whether a major hazard was reported for it; the unreported
ones listed in one click and hazard reports started for a selection in one more."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, exists, false, or_, select
from sqlalchemy.orm import joinedload

from ..core.models import Equipment, User
from ..core.params import contains, date_arg, int_arg, text_arg
from ..core.scope import in_region
from ..core.tx import savepoint
from ..engine import runtime
from ..errors import DomainError, ValidationFailed
from ..extensions import db
from ..inspections.conclusions import FAILING
from ..inspections.models import InspectionReport
from .models import Hazard

MAX_BATCH = 50


def may_use(user: User) -> bool:
    return user.is_regulator or (user.role == "inspection_agency" and user.org_id is not None)


def report_scope(user: User):
    if user.is_regulator:
        return in_region(InspectionReport.region_code, user.scope_prefix)
    if user.role == "inspection_agency" and user.org_id:
        return InspectionReport.agency_org_id == user.org_id
    return false()


def reported_condition():
    """A hazard (not deleted) names the report, or was found on the same device on or after the inspection."""
    return exists().where(Hazard.deleted_at.is_(None), or_(
        Hazard.inspection_report_id == InspectionReport.id,
        and_(Hazard.equipment_id == InspectionReport.equipment_id, Hazard.found_on >= InspectionReport.inspected_on)))


@dataclass
class ReportFilter:
    q: str | None = None
    unreported: bool = False
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1
    per_page: int = 20

    @classmethod
    def from_args(cls, args) -> "ReportFilter":
        return cls(q=text_arg(args, "q"), unreported=args.get("unreported") in ("1", "true", "on"),
                   date_from=date_arg(args, "date_from"), date_to=date_arg(args, "date_to"),
                   page=int_arg(args, "page", 1, 1, 100000), per_page=int_arg(args, "per_page", 20, 5, 100))


def report_query(user: User, f: ReportFilter):
    flag = reported_condition().label("reported")
    query = (select(InspectionReport, flag).where(InspectionReport.conclusion.in_(FAILING), report_scope(user))
             .options(joinedload(InspectionReport.equipment).joinedload(Equipment.use_org),
                      joinedload(InspectionReport.agency)))
    if f.unreported:
        query = query.where(~reported_condition())
    if f.q:
        query = query.where(or_(contains(InspectionReport.report_no, f.q), InspectionReport.equipment_id.in_(
            select(Equipment.id).where(contains(Equipment.code, f.q)))))
    if f.date_from:
        query = query.where(InspectionReport.inspected_on >= f.date_from)
    if f.date_to:
        query = query.where(InspectionReport.inspected_on <= f.date_to)
    return query.order_by(InspectionReport.inspected_on.desc(), InspectionReport.id.desc())


def page(user: User, f: ReportFilter) -> tuple[list[tuple[InspectionReport, bool]], int]:
    from sqlalchemy import func
    total = db.session.scalar(select(func.count()).select_from(report_query(user, f).order_by(None).subquery()))
    rows = db.session.execute(report_query(user, f).limit(f.per_page).offset((f.page - 1) * f.per_page)).unique().all()
    return [(r[0], bool(r[1])) for r in rows], total


def batch_report(user: User, report_ids, criterion_id, rectify_deadline, rectify_requirements=None) -> list:
    """Start a major-hazard report for each selected report (all or nothing): the device, the inspection
    date as the date found, the conclusion and nonconformities as the description. Returns the cases."""
    errors = {}
    ids: list[int] = []
    if not isinstance(report_ids, list) or not report_ids:
        errors["report_ids"] = "请至少选择一份检验报告"
    else:
        for value in report_ids:
            if isinstance(value, bool) or not str(value).strip().isdigit():
                errors["report_ids"] = "检验报告编号必须是正整数"
                break
            ids.append(int(str(value).strip()))
        if len(set(ids)) > MAX_BATCH:
            errors["report_ids"] = f"一次最多上报 {MAX_BATCH} 份"
    if not criterion_id or not isinstance(criterion_id, str):
        errors["criterion_id"] = "请选择隐患判定项"
    if not rectify_deadline or not isinstance(rectify_deadline, str):
        errors["rectify_deadline"] = "请填写整改期限"
    if rectify_requirements is not None and not isinstance(rectify_requirements, str):
        errors["rectify_requirements"] = "请填写文字"
    if errors:
        raise ValidationFailed(errors)
    reports = {r.id: r for r in db.session.scalars(select(InspectionReport).where(
        InspectionReport.id.in_(ids), InspectionReport.conclusion.in_(FAILING), report_scope(user)))}
    already = set(db.session.scalars(select(InspectionReport.id).where(InspectionReport.id.in_(ids),
                                                                       reported_condition())))
    problems, cases = {}, []
    for report_id in sorted(set(ids)):
        report = reports.get(report_id)
        if report is None:
            problems[str(report_id)] = "检验报告不存在、结论不是不合格或不在您的范围内"
            continue
        if report_id in already:
            problems[str(report_id)] = f"{report.report_no}：已上报过隐患"
            continue
        text = f"检验结论为“{report.conclusion}”（检验报告 {report.report_no}）。{report.nonconformities or ''}".strip()
        data = {"equipment_code": report.equipment.code, "criterion_id": criterion_id, "description": text[:2000],
                "found_on": report.inspected_on.isoformat(), "rectify_deadline": rectify_deadline,
                "inspection_report_no": report.report_no}
        if rectify_requirements:
            data["rectify_requirements"] = rectify_requirements
        try:
            with savepoint():
                cases.append(runtime.start_case("major_hazard", user, data))
        except ValidationFailed as err:
            problems[str(report_id)] = f"{report.report_no}：" + "；".join(err.fields.values())
        except DomainError as err:
            problems[str(report_id)] = f"{report.report_no}：{err.message}"
    if problems:
        raise ValidationFailed(problems, message=f"所选 {len(set(ids))} 份报告中有 {len(problems)} 份不能上报，本次未做任何上报")
    return cases
