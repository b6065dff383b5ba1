"""案卷 (case dossier) PDF: the case facts, every step (actor, time, opinion, handwritten signature,
form data), the attachment list with SM3 digests and the timeline with its chain's last value.
reportlab with its built-in CID font STSong-Light (Adobe-GB1): no font file is shipped."""
from __future__ import annotations

import io
import json
from xml.sax.saxutils import escape

from sqlalchemy import select

from ..cases.models import Case, CaseEvent, Task
from ..core.clock import DISPLAY_TZ, as_utc
from ..core.documents import CJK_FONT, register_cjk_font
from ..core.models import Attachment
from ..core.regions import region_name
from ..engine.registry import version_forms, version_info
from ..security.audit import GENESIS
from ..engine.runtime import verify_case_chain
from ..extensions import db

FONT = CJK_FONT
SIGNATURE_NAME = "手写签名.png"


def _when(value) -> str:
    return as_utc(value).astimezone(DISPLAY_TZ).strftime("%Y-%m-%d %H:%M") if value else ""


def _value_text(spec: dict, value, atts: dict) -> str:
    if value is None or value == "" or value == []:
        return ""
    if spec.get("ui:widget") == "files":
        return "、".join(atts[int(i)].filename if str(i).isdigit() and int(i) in atts else f"附件{i}"
                        for i in value)
    if spec.get("enum") and spec.get("ui:enumNames"):
        names = dict(zip(spec["enum"], spec["ui:enumNames"]))
        if isinstance(value, list):
            return "、".join(str(names.get(v, v)) for v in value)
        return str(names.get(value, value))
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


def _on_white(png: bytes) -> io.BytesIO:
    """The signature pad draws ink on a transparent background: flatten it onto white, or the PDF
    would show the transparent (black, alpha 0) pixels as a black box."""
    from PIL import Image as PILImage
    with PILImage.open(io.BytesIO(png)) as src:
        rgba = src.convert("RGBA")
        flat = PILImage.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
    out = io.BytesIO()
    flat.save(out, format="PNG")
    out.seek(0)
    return out


def _form_rows(schema: dict, data: dict, atts: dict) -> list[tuple[str, str]]:
    props = schema.get("properties", {})
    order = schema.get("ui", {}).get("order") or list(props)
    rows = []
    for name in order + [k for k in props if k not in order]:
        if name in props and name != "opinion":
            text = _value_text(props[name], data.get(name), atts)
            if text:
                rows.append((props[name].get("title", name), text))
    return rows


def build_dossier(case: Case) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    from ..core.storage import open_attachment
    register_cjk_font()
    base = ParagraphStyle("base", fontName=FONT, fontSize=9.5, leading=14, wordWrap="CJK")
    h1 = ParagraphStyle("h1", parent=base, fontSize=16, leading=22, spaceAfter=6)
    h2 = ParagraphStyle("h2", parent=base, fontSize=12, leading=18, spaceBefore=10, spaceAfter=4)
    small = ParagraphStyle("small", parent=base, fontSize=8, leading=11, textColor=colors.grey)

    def p(text, style=base):
        return Paragraph(escape(str(text or "")).replace("\n", "<br/>"), style)

    def table(rows, widths):
        t = Table([[p(c) if not hasattr(c, "wrap") else c for c in r] for r in rows], colWidths=widths)
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke)]))
        return t

    info = version_info(case.process_version)
    forms = version_forms(case.process_version)
    events = list(db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)))
    atts = {a.id: a for a in db.session.scalars(select(Attachment).where(Attachment.case_id == case.id)
                                                .order_by(Attachment.id))}
    story = [p(f"案卷　{case.case_no}", h1), p(case.title, h2)]
    facts = [("流程", f"{info.name}（v{case.process_version.version}）"), ("案件编号", case.case_no),
             ("状态", case.status_label + (f"（{case.outcome}）" if case.outcome else "")),
             ("属地", region_name(case.region_code)), ("相关单位", case.org.name if case.org else ""),
             ("发起人", case.started_by.display_name), ("发起时间", _when(case.created_at)),
             ("办结时间", _when(case.closed_at)), ("当前环节", case.current_step or "")]
    story += [p("一、案件概况", h2), table([list(r) for r in facts], [30 * mm, 140 * mm])]

    story.append(p("二、办理环节", h2))
    started = next((e for e in events if e.kind == "started"), None)
    if started is not None:
        rows = [["环节", "发起"], ["办理人", started.actor.display_name if started.actor else "系统"],
                ["时间", _when(started.at)]]
        rows += [list(r) for r in _form_rows(forms.get(info.start_form or "", {}),
                                             json.loads(started.data or "{}"), atts)]
        story += [table(rows, [30 * mm, 140 * mm]), Spacer(1, 4)]
    steps = list(db.session.scalars(select(Task).where(Task.case_id == case.id, Task.status == "completed")
                                    .order_by(Task.completed_at, Task.id)))
    for step in steps:
        data = json.loads(step.data or "{}")
        rows = [["环节", step.name], ["办理人", step.completed_by.display_name if step.completed_by else ""],
                ["时间", _when(step.completed_at)]]
        if data.get("opinion"):
            rows.append(["审批意见", data["opinion"]])
        rows += [list(r) for r in _form_rows(forms.get(step.form_key or "", {}), data, atts)]
        event = next((e for e in events if e.kind == "completed" and e.task_def == step.task_def
                      and e.actor_id == step.completed_by_id and abs((as_utc(e.at) - as_utc(step.completed_at))
                                                                     .total_seconds()) < 60), None)
        for att_id in json.loads(event.attachment_ids or "[]") if event else []:
            att = atts.get(att_id)
            if att is not None and att.filename == SIGNATURE_NAME and att.mime == "image/png":
                with open_attachment(att) as fh:
                    img = Image(_on_white(fh.read()), width=50 * mm, height=18 * mm, kind="proportional")
                rows.append(["手写签名", img])
        story += [table(rows, [30 * mm, 140 * mm]), Spacer(1, 4)]

    story.append(p("三、附件清单", h2))
    if atts:
        rows = [["文件名", "上传人", "大小", "SM3"]] + [
            [a.filename, a.uploaded_by.display_name, f"{a.size} 字节", p(a.sm3, small)] for a in atts.values()]
        story.append(table(rows, [45 * mm, 30 * mm, 20 * mm, 75 * mm]))
    else:
        story.append(p("（无附件）"))

    story.append(p("四、流转记录", h2))
    rows = [["#", "时间", "办理人", "事项"]] + [
        [str(e.seq), _when(e.at), e.actor.display_name if e.actor else "系统",
         e.summary + (f"\n意见：{e.comment}" if e.comment and e.comment not in e.summary else "")] for e in events]
    story.append(table(rows, [10 * mm, 30 * mm, 30 * mm, 100 * mm]))
    broken = verify_case_chain(case.id)
    last = events[-1].hash if events else GENESIS
    story += [Spacer(1, 6), p(f"流转记录链末值（HMAC-SM3）：{last}", small),
              p("链校验：" + ("完整" if broken is None else f"第 {broken} 条起不一致"), small)]

    logs = [e for e in events if e.kind == "log"]
    story.append(p("五、监察日志", h2))
    if logs:
        story.append(table([["时间", "监察人员", "内容"]] + [
            [_when(e.at), e.actor.display_name if e.actor else "系统", e.comment or e.summary] for e in logs],
            [30 * mm, 30 * mm, 110 * mm]))
    else:
        story.append(p("（无监察日志）"))

    buf = io.BytesIO()

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont(FONT, 8)
        canvas.drawString(15 * mm, 10 * mm, f"{case.case_no} 案卷　第 {doc.page} 页")
        canvas.restoreState()

    SimpleDocTemplate(buf, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                      bottomMargin=18 * mm, title=f"案卷 {case.case_no}", author="广西特种设备安全监管平台") \
        .build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()
