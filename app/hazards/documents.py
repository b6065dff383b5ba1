"""整改通知书 as a document type of the shared documents service (app/core/documents.py): print view,
Word and PDF from one description."""
from __future__ import annotations

from sqlalchemy import select

from ..core.documents import OfficialDocument, document_type
from ..errors import NotFound
from ..extensions import db
from .models import Hazard
from .services import escalation_of, hazard_scope, notice_context


def notice_paragraphs(ctx: dict) -> list[str]:
    """The body text of the notice."""
    h, org, eq, crit = ctx["hazard"], ctx["org"], ctx["equipment"], ctx["criterion"]
    deadline = h.rectify_deadline.strftime("%Y年%m月%d日")
    return [
        f"经查，你单位使用的{eq.name}（设备代码：{eq.code}，使用地点：{eq.address or '—'}）存在以下情形："
        f"{h.description}",
        f"依据《特种设备重大事故隐患判定准则》（GB 45067-2024）第{crit.clause}条{crit.item})项"
        f"“{crit.text.rstrip('。；;')}”，该情形判定为特种设备重大事故隐患。",
        f"整改要求：{h.notice_requirements or '按判定准则要求消除隐患。'}",
        f"请你单位于{deadline}前完成整改，并通过系统提交整改情况及证明材料。整改完成前应采取有效措施确保安全；"
        f"确需延期的，应在期限届满前提出延期申请。",
    ]


def visible_notice(user, hazard_id: int) -> Hazard:
    hazard = db.session.scalar(select(Hazard).where(Hazard.id == hazard_id, hazard_scope(user)))
    if hazard is None:
        raise NotFound("隐患记录不存在或不在您的查看范围内")
    if not hazard.notice_no:
        raise NotFound("该隐患尚未下达整改通知书")
    return hazard


@document_type("hazard_notice", "重大事故隐患整改通知书")
def notice_document(user, hazard_id: int) -> OfficialDocument:
    ctx = notice_context(visible_notice(user, hazard_id))
    h = ctx["hazard"]
    return OfficialDocument(title="特种设备重大事故隐患整改通知书", issuer=ctx["issuer_name"], doc_no=h.notice_no,
                            salutation=f"{ctx['org'].name}：", paragraphs=notice_paragraphs(ctx),
                            issued_on=ctx["issued_on"], filename=f"整改通知书-{h.hazard_no}")


# The 提醒单 names the hazard's source in the vocabulary of §4.3.1 (检验、投诉、自查、监督检查).
REMINDER_SOURCES = {"supervisor": "监督检查", "agency": "检验检测", "maintenance": "维保检查", "use_unit": "企业自查",
                    "complaint": "投诉举报"}


def reminder_source(hazard: Hazard) -> str:
    """The hazard's source in the 提醒单's words (a hazard the complaint loop confirmed is 投诉举报)."""
    return REMINDER_SOURCES.get(hazard.source, hazard.source_label)


def _visible(user, hazard_id: int) -> Hazard:
    hazard = db.session.scalar(select(Hazard).where(Hazard.id == hazard_id, hazard_scope(user)))
    if hazard is None:
        raise NotFound("隐患记录不存在或不在您的查看范围内")
    return hazard


def _issuer(user, hazard: Hazard) -> str:
    """Each level's supervisors issue their own: a regulator's office, otherwise the device's county bureau."""
    from ..core.regions import office_name
    return office_name(user.region_code if user.is_regulator else hazard.region_code)


@document_type("hazard_reminder", "事故隐患提醒单")
def reminder_document(user, hazard_id: int) -> OfficialDocument:
    from ..core.clock import today_local
    from ..core.regions import office_name
    h = _visible(user, hazard_id)
    source = reminder_source(h)
    facts = [("隐患来源", source + (f"（{h.reporter_org.name}）" if h.reporter_org else "")),
             ("隐患类型", f"重大事故隐患 · {h.criterion.equipment_type} · {h.criterion.citation}"),
             ("设备", f"{h.equipment.name}（设备代码 {h.equipment.code}）"), ("隐患描述", h.description),
             ("发现日期", h.found_on.isoformat()), ("处理时限", f"{h.rectify_deadline.isoformat()} 前完成整改"),
             ("使用单位", h.use_org.name), ("管理单位", office_name(h.region_code)),
             ("当前状态", h.status_label)]
    paragraphs = [f"你单位{h.equipment.name}经{source}发现存在上述事故隐患。请立即采取措施，在处理时限前完成整改，"
                  f"并通过系统报送整改情况；整改期间应确保安全，不具备安全使用条件的应停止使用。"]
    if h.reporter_requirements or h.notice_requirements:
        paragraphs.append(f"整改要求：{h.notice_requirements or h.reporter_requirements}")
    return OfficialDocument(title=f"特种设备事故隐患提醒单（{source}）", issuer=_issuer(user, h),
                            doc_no=f"特隐提〔{today_local().year}〕{h.hazard_no}号", salutation=f"{h.use_org.name}：",
                            facts=facts, paragraphs=paragraphs, issued_on=today_local(),
                            filename=f"隐患提醒单-{h.hazard_no}")


@document_type("hazard_supervision_letter", "重大事故隐患整改督办函")
def supervision_letter(user, hazard_id: int) -> OfficialDocument:
    """整改督处函: produced by the 超期督办 step — the escalated office urges the use unit (copied to the
    county bureau) once the rectification deadline passed unmet."""
    import json as _json

    from ..core.clock import to_local, today_local
    from ..core.regions import office_name
    h = _visible(user, hazard_id)
    found = escalation_of(h)
    if found is None:
        raise NotFound("该隐患尚未超期升级督办，没有整改督办函")
    task, event = found
    office_region = task.candidate_region if task is not None and task.candidate_region else h.region_code
    data = _json.loads(task.data or "{}") if task is not None and task.status == "completed" else {}
    methods = {"phone": "电话督促", "interview": "约谈使用单位", "onsite": "现场督办", "investigate": "立案调查"}
    issued = to_local(task.completed_at).date() if task is not None and task.completed_at else \
        to_local(event.at).date()
    facts = [("隐患编号", h.hazard_no), ("设备", f"{h.equipment.name}（设备代码 {h.equipment.code}）"),
             ("判定依据", f"{h.criterion.citation}：{h.criterion.text}"), ("整改通知书", h.notice_no or "—"),
             ("原整改期限", h.rectify_deadline.isoformat()), ("属地监管部门", office_name(h.region_code))]
    if data.get("supervise_method"):
        facts.append(("督办方式", methods.get(data["supervise_method"], data["supervise_method"])))
    paragraphs = [f"你单位{h.equipment.name}存在的重大事故隐患（{h.criterion.citation}），"
                  f"{office_name(h.region_code)}已于{(h.notice_issued_at and to_local(h.notice_issued_at).date().isoformat()) or '—'}"
                  f"下达整改通知书，要求于{h.rectify_deadline.isoformat()}前完成整改。截至督办之日，你单位未按期完成整改。",
                  "现依法对该隐患挂牌督办，请你单位立即停止使用存在隐患的设备，落实整改责任、措施、资金、时限和预案，"
                  "整改完成后通过系统报送整改情况及证明材料，由属地监管部门复核销号。"]
    if data.get("opinion"):
        paragraphs.append(f"督办意见：{data['opinion']}")
    return OfficialDocument(title="特种设备重大事故隐患整改督办函", issuer=office_name(office_region),
                            doc_no=f"特隐督〔{issued.year}〕{h.hazard_no}号", salutation=f"{h.use_org.name}：",
                            facts=facts, paragraphs=paragraphs, issued_on=issued or today_local(),
                            closing=[f"抄送：{office_name(h.region_code)}"], filename=f"整改督办函-{h.hazard_no}")
