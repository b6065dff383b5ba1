"""电子维保工单 (§4.6.2.6): A4 PDF with the elevator, the visit (check-in/out times and positions), the
items table with results, the photos (watermarked copies) and the signatures of the maintainer, the
co-worker, the use unit's safety manager and, where required, the quality manager. reportlab with the
CJK font the shared documents service registers (core/documents.register_cjk_font)."""
from __future__ import annotations

import io
from xml.sax.saxutils import escape

from ..core.clock import to_local
from ..core.documents import register_cjk_font
from ..core.models import Attachment
from ..core.storage import open_attachment
from ..extensions import db
from ..review.dossier import _on_white
from .models import KEY_POSITIONS, RESULTS, ElevatorFacts, MaintenanceItem, WorkOrder


PRINT_PX = 640


def _when(value) -> str:
    return f"{to_local(value):%Y-%m-%d %H:%M:%S}" if value else "—"


def _image(att_id: int | None, width_mm: float, max_h_mm: float, flatten: bool = False):
    from reportlab.lib.units import mm
    from reportlab.platypus import Image
    att = db.session.get(Attachment, att_id) if att_id else None
    if att is None:
        return None
    with open_attachment(att) as fh:
        data = fh.read()
    from PIL import Image as PILImage
    if flatten:
        src = _on_white(data)
        with PILImage.open(io.BytesIO(data)) as probe:
            w, h = probe.size
    else:       # a print-size copy (about 150 dpi at the width shown): a small, fast PDF
        with PILImage.open(io.BytesIO(data)) as probe:
            probe.draft("RGB", (PRINT_PX, PRINT_PX))
            copy = probe.convert("RGB")
        copy.thumbnail((PRINT_PX, PRINT_PX))
        w, h = copy.size
        src = io.BytesIO()
        copy.save(src, "JPEG", quality=80)
        src.seek(0)
    width = width_mm * mm
    height = width * h / w
    if height > max_h_mm * mm:
        height = max_h_mm * mm
        width = height * w / h
    return Image(src, width=width, height=height)


def work_order_pdf(order: WorkOrder, facts: ElevatorFacts | None, items: list[MaintenanceItem]) -> bytes:
    """The signed electronic work order as a PDF: the elevator's facts and the order's maintenance items are
    given by the caller (services), which knows how to find them."""
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = register_cjk_font()
    base = ParagraphStyle("b", fontName=font, fontSize=9.5, leading=13, wordWrap="CJK")
    head = ParagraphStyle("h", parent=base, fontSize=16, leading=24, alignment=TA_CENTER)
    sub = ParagraphStyle("s", parent=base, fontSize=11, leading=16, spaceBefore=6, spaceAfter=3)

    def p(text, style=base):
        return Paragraph(escape(str(text if text is not None else "")).replace("\n", "<br/>"), style)

    grid = TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                       ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f7"))])
    e = order.equipment
    title = f"电梯{'维护保养' if order.kind == 'maintenance' else '维修'}电子工单"
    story = [p(title, head), p(f"工单编号：{order.order_no}", ParagraphStyle("r", parent=base, alignment=TA_CENTER)),
             Spacer(1, 4)]
    rows = [
        ("电梯", f"{e.name}（设备代码 {e.code}）", "96111 救援码", facts.rescue_code if facts else "—"),
        ("电梯类型", facts.type_label if facts else "—", "注册代码", e.reg_code or "—"),
        ("使用单位", order.use_org.name, "维保单位", order.maintenance_org.name),
        ("安装地点", e.address or "—", "作业类型", order.maint_type_label or order.kind_label),
        ("维保人员", order.maintainer.display_name, "协作人", order.coworker.display_name if order.coworker else "—"),
        ("签到", f"{_when(order.checkin_at)}\n{order.checkin_lat:.6f}, {order.checkin_lng:.6f}（距 {order.checkin_distance} 米）",
         "签退", f"{_when(order.checkout_at)}\n" + (f"{order.checkout_lat:.6f}, {order.checkout_lng:.6f}（距 "
                                                   f"{order.checkout_distance} 米）" if order.checkout_lat is not None else "—")),
    ]
    t = Table([[p(a), p(b), p(c), p(d)] for a, b, c, d in rows], colWidths=[22 * mm, 63 * mm, 22 * mm, 63 * mm])
    t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [t]
    if order.kind == "repair":
        story += [p("故障与维修", sub)]
        t = Table([[p("故障描述"), p(order.fault_description or "—")], [p("更换配件"), p(order.parts or "—")]],
                  colWidths=[22 * mm, 148 * mm])
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey)]))
        story.append(t)
    results = {r.item_id: r for r in order.results}
    if items:
        story.append(p(f"维保项目（TSG T5002-2017，共 {len(items)} 项）", sub))
        data = [[p("序号"), p("项目"), p("基本要求"), p("结果"), p("说明")]]
        for n, item in enumerate(items, 1):
            r = results.get(item.id)
            data.append([p(n), p(f"{item.item}" + ("（拍照）" if item.photo_required else "")), p(item.requirement),
                         p(RESULTS.get(r.result, "") if r else "未填"), p(r.note if r and r.note else "")])
        t = Table(data, colWidths=[10 * mm, 45 * mm, 70 * mm, 15 * mm, 30 * mm], repeatRows=1)
        t.setStyle(grid)
        story.append(t)
    photos = [ph for ph in order.photos if ph.purpose != "face"]
    if photos:
        story.append(p(f"现场照片（{len(photos)} 张，水印含单位、人员、电梯、时间、位置；原图 SM3 见说明）", sub))
        cells, row = [], []
        for ph in photos:
            label = ph.item.item if ph.item else "维修现场"
            if ph.item and ph.item.key_position:
                label = f"{KEY_POSITIONS.get(ph.item.key_position, '')}·{label}"
            img = _image(ph.attachment_id, 52, 45)
            row.append([img, p(f"{label}\n{_when(ph.taken_at)}\n{ph.lat:.6f},{ph.lng:.6f}\n原图SM3 {ph.original_sm3[:16]}…",
                               ParagraphStyle("c", parent=base, fontSize=7, leading=9))])
            if len(row) == 3:
                cells.append(row)
                row = []
        if row:
            cells.append(row + [""] * (3 - len(row)))
        t = Table(cells, colWidths=[57 * mm] * 3)
        t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("BOX", (0, 0), (-1, -1), 0.4, colors.grey)]))
        story.append(t)
    story.append(p("签字", sub))
    sigs = [("维保人员", order.maintainer_signature_id, order.maintainer.display_name, order.checkout_at),
            ("协作人", order.coworker_signature_id, order.coworker.display_name if order.coworker else "", order.checkout_at),
            ("使用单位安全管理员", order.safety_signature_id,
             order.safety_signed_by.display_name if order.safety_signed_by else "", order.safety_signed_at),
            ("维保单位质量负责人", order.quality_signature_id,
             order.quality_signed_by.display_name if order.quality_signed_by else "", order.quality_signed_at)]
    sig_rows = [[p(label), _image(att, 40, 16, flatten=True) or p("—"), p(f"{name}\n{_when(at) if att else ''}")]
                for label, att, name, at in sigs if att or label in ("维保人员", "使用单位安全管理员")]
    t = Table(sig_rows, colWidths=[40 * mm, 60 * mm, 70 * mm])
    t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey), ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    story.append(t)
    story.append(Spacer(1, 6))
    story.append(p("本工单由特种设备安全监管平台根据现场签到、拍照与电子签字记录自动生成，照片为加盖水印的副本，"
                   "原始照片的 SM3 摘要与拍摄时间、位置保存在平台中。", ParagraphStyle("n", parent=base, fontSize=8)))
    buf = io.BytesIO()
    SimpleDocTemplate(buf, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm,
                      bottomMargin=18 * mm, title=f"{title} {order.order_no}", author=order.maintenance_org.name
                      ).build(story)
    return buf.getvalue()
