"""整改通知书: the .docx download (the print view is templates/hazards/notice.html)."""
from __future__ import annotations

import io

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Pt


def _font(run, size: int, bold: bool = False, name: str = "宋体") -> None:
    run.font.size = Pt(size)
    run.font.bold = bold
    run.font.name = name
    run._element.rPr.rFonts.set(qn("w:eastAsia"), name)


def notice_docx(ctx: dict) -> bytes:
    h, _org, _eq, _crit = ctx["hazard"], ctx["org"], ctx["equipment"], ctx["criterion"]
    doc = Document()
    for text, size in ((ctx["issuer_name"], 16), ("特种设备重大事故隐患整改通知书", 20)):
        p = doc.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _font(p.add_run(text), size, bold=True, name="黑体")
    p = doc.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    _font(p.add_run(h.notice_no or ""), 12)
    for text in notice_paragraphs(ctx):
        p = doc.add_paragraph()
        p.paragraph_format.first_line_indent = Pt(24) if not text.endswith("：") else None
        _font(p.add_run(text), 12)
    doc.add_paragraph()
    for text in (ctx["issuer_name"] + "（印章）", ctx["issued_on"].strftime("%Y年%m月%d日")):
        p = doc.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        _font(p.add_run(text), 12)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def notice_paragraphs(ctx: dict) -> list[str]:
    """The body text, shared by the print view and the .docx so both say the same."""
    h, org, eq, crit = ctx["hazard"], ctx["org"], ctx["equipment"], ctx["criterion"]
    deadline = h.rectify_deadline.strftime("%Y年%m月%d日")
    return [
        f"{org.name}：",
        f"经查，你单位使用的{eq.name}（设备代码：{eq.code}，使用地点：{eq.address or '—'}）存在以下情形："
        f"{h.description}",
        f"依据《特种设备重大事故隐患判定准则》（GB 45067-2024）第{crit.clause}条{crit.item})项"
        f"“{crit.text.rstrip('。；;')}”，该情形判定为特种设备重大事故隐患。",
        f"整改要求：{h.notice_requirements or '按判定准则要求消除隐患。'}",
        f"请你单位于{deadline}前完成整改，并通过系统提交整改情况及证明材料。整改完成前应采取有效措施确保安全；"
        f"确需延期的，应在期限届满前提出延期申请。",
    ]
