"""特种设备安全监察指令书 of an overdue disposal, on the shared documents service (print, Word, PDF).

Wording follows the 指令书 template recorded in the reference data (order57_supervision.json: number
（XX）市监特令〔年〕第N号, the problem, the violated rule, the order with its deadline, the remedy clause,
the signatures and the two-copies note)."""
from __future__ import annotations

from sqlalchemy import select

from ..core.clock import DISPLAY_TZ, utcnow
from ..core.documents import OfficialDocument, document_type
from ..core.regions import office_name, region_full_name
from ..errors import NotFound
from ..extensions import db
from ..registry.catalogue import category_name
from .models import ORDER_KINDS, OverdueDisposal


def visible_disposal(user, disposal_id: int) -> OverdueDisposal:
    from .ledger import disposal_scope
    row = db.session.scalar(select(OverdueDisposal).where(OverdueDisposal.id == disposal_id, disposal_scope(user)))
    if row is None:
        raise NotFound("处置记录不存在或不在您的查看范围内")
    return row


@document_type("overdue_letter", "特种设备安全监察指令书（超期未检）")
def letter_document(user, disposal_id: int) -> OfficialDocument:
    d = visible_disposal(user, disposal_id)
    if not d.letter_no:
        raise NotFound("该处置未下达指令书")
    e, org = d.equipment, d.use_org
    issuer = office_name(d.letter_issuer_region or d.region_code)
    deadline = d.letter_deadline.strftime("%Y年%m月%d日")
    paragraphs = [
        f"经检查，你（单位）在特种设备安全方面存在下列问题：你单位使用的{category_name(e.category_code)}“{e.name}”"
        f"（设备代码 {e.code}，使用登记证编号 {e.registration_no or '—'}，使用地点 {e.address or '—'}）下次检验日期为"
        f"{d.overdue_since.strftime('%Y年%m月%d日') if d.overdue_since else '—'}，已超过定期检验有效期，未按规定申报定期检验（超期未检）。",
        "上述问题违反了《中华人民共和国特种设备安全法》第四十条“未经定期检验或者检验不合格的特种设备，不得继续使用”的规定。"
        f"根据《特种设备安全监督检查办法》的规定，责令你（单位）于{deadline}前采取以下措施予以改正或者消除事故隐患：",
        d.letter_requirements or "立即停止使用该设备，向特种设备检验机构申报定期检验，检验合格后方可继续使用。",
        "请于期限届满前通过系统报送检验报告。",
    ]
    if d.order_kind == "investigation":
        paragraphs.append("你（单位）的上述行为涉嫌违法，本局已依法立案查处。")
    closing = [f"如对本指令书不服，可以自收到本指令书之日起六十日内向{region_full_name(d.region_code)}人民政府申请行政复议，"
               f"或者六个月内向{region_full_name(d.region_code)}人民法院提起行政诉讼。复议或者诉讼期间，不得停止改正或者停止消除事故隐患。"]
    issued = (d.letter_issued_at or utcnow()).astimezone(DISPLAY_TZ).date()
    return OfficialDocument(
        title="特种设备安全监察指令书", issuer=issuer, doc_no=d.letter_no, salutation=f"{org.name}：",
        facts=[("被检查单位", org.name), ("统一社会信用代码", org.uscc), ("指令类别", ORDER_KINDS.get(d.order_kind, "")),
               ("整改期限", deadline)],
        paragraphs=paragraphs, closing=closing, issued_on=issued, seal_text="（特种设备安全监察专用章）",
        receipt="检查人员：＿＿＿＿＿＿　　被检查单位（负责人）：＿＿＿＿＿＿　　签收日期：＿＿＿＿年＿＿月＿＿日",
        note="本指令书一式两份，发出部门、被检查单位各一份。", filename=f"指令书-{d.disposal_no}")
