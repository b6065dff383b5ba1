"""整改通知书 as a document type of the shared documents service (app/core/documents.py): print view,
Word and PDF from one description."""
from __future__ import annotations

from sqlalchemy import select

from ..core.documents import OfficialDocument, document_type
from ..errors import NotFound
from ..extensions import db
from .models import Hazard


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
    from .services import hazard_scope
    hazard = db.session.scalar(select(Hazard).where(Hazard.id == hazard_id, hazard_scope(user)))
    if hazard is None:
        raise NotFound("隐患记录不存在或不在您的查看范围内")
    if not hazard.notice_no:
        raise NotFound("该隐患尚未下达整改通知书")
    return hazard


@document_type("hazard_notice", "重大事故隐患整改通知书")
def notice_document(user, hazard_id: int) -> OfficialDocument:
    from .services import notice_context
    ctx = notice_context(visible_notice(user, hazard_id))
    h = ctx["hazard"]
    return OfficialDocument(title="特种设备重大事故隐患整改通知书", issuer=ctx["issuer_name"], doc_no=h.notice_no,
                            salutation=f"{ctx['org'].name}：", paragraphs=notice_paragraphs(ctx),
                            issued_on=ctx["issued_on"], filename=f"整改通知书-{h.hazard_no}")
