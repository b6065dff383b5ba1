"""The shared documents service: one way to produce an official document (公文) — a Word file
(python-docx), a PDF (reportlab, the CJK font STSong-Light the case dossier uses, no font file shipped)
and an A4 print view — from one description of its content.

A domain registers a document type with a loader that finds the object within the user's scope and
says what the document contains:

    from app.core.documents import OfficialDocument, document_type

    @document_type("hazard_notice", "整改通知书")
    def load_notice(user, object_id) -> OfficialDocument:
        hazard = visible_hazard(user, object_id)          # NotFound outside the user's scope
        return OfficialDocument(title="特种设备重大事故隐患整改通知书", issuer=…, doc_no=…, salutation=…,
                                paragraphs=[…], issued_on=…, filename=f"整改通知书-{hazard.hazard_no}")

and links to url_for("documents.view", kind="hazard_notice", object_id=…) (print view),
documents.docx and documents.pdf. Every PDF or Word download is audited as an export.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date
from typing import Callable
from urllib.parse import quote
from xml.sax.saxutils import escape

from flask import Blueprint, Response, render_template
from flask_login import current_user, login_required

from ..errors import NotFound

CJK_FONT = "STSong-Light"      # reportlab's built-in CID font (Adobe-GB1)


@dataclass
class OfficialDocument:
    title: str                               # 特种设备安全监察指令书
    issuer: str                              # 发文机关
    paragraphs: list[str]                    # body, in order
    issued_on: date
    filename: str                            # without extension
    doc_no: str | None = None                # 文号
    salutation: str | None = None            # 被送达单位：
    facts: list[tuple[str, str]] = field(default_factory=list)   # a two-column table after the salutation
    closing: list[str] = field(default_factory=list)             # 告知事项 after the body (smaller print)
    seal_text: str = "（印章）"
    receipt: str | None = "签收人：＿＿＿＿＿＿　　签收日期：＿＿＿＿年＿＿月＿＿日"
    note: str | None = None                  # footnote, e.g. 本文书一式两份…


@dataclass(frozen=True)
class DocumentType:
    key: str
    label: str
    load: Callable[..., OfficialDocument]


_TYPES: dict[str, DocumentType] = {}


def document_type(key: str, label: str):
    def register(fn):
        _TYPES[key] = DocumentType(key, label, fn)
        return fn
    return register


def load(kind: str, user, object_id: int) -> OfficialDocument:
    doc_type = _TYPES.get(kind)
    if doc_type is None:
        raise NotFound("没有这种文书")
    return doc_type.load(user, object_id)


def registered_types() -> list[str]:
    return sorted(_TYPES)


# ---------------------------------------------------------------- Word

def _font(run, size: float, bold: bool = False, name: str = "宋体") -> None:
    from docx.oxml.ns import qn
    from docx.shared import Pt
    run.font.size = Pt(size)
    run.font.bold = bold
    run.font.name = name
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), name)


def to_docx(doc: OfficialDocument) -> bytes:
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt
    word = Document()

    def para(text: str, size: float = 12, *, align=None, bold=False, indent=False, font="宋体"):
        p = word.add_paragraph()
        if align is not None:
            p.alignment = align
        if indent:
            p.paragraph_format.first_line_indent = Pt(size * 2)
        _font(p.add_run(text), size, bold=bold, name=font)
        return p

    para(doc.issuer, 16, align=WD_ALIGN_PARAGRAPH.CENTER, bold=True, font="黑体")
    para(doc.title, 20, align=WD_ALIGN_PARAGRAPH.CENTER, bold=True, font="黑体")
    if doc.doc_no:
        para(doc.doc_no, 12, align=WD_ALIGN_PARAGRAPH.RIGHT)
    if doc.salutation:
        para(doc.salutation)
    if doc.facts:
        table = word.add_table(rows=0, cols=2)
        table.style = "Table Grid"
        for label, value in doc.facts:
            cells = table.add_row().cells
            _font(cells[0].paragraphs[0].add_run(label), 11)
            _font(cells[1].paragraphs[0].add_run(value or ""), 11)
    for text in doc.paragraphs:
        para(text, indent=True)
    for text in doc.closing:
        para(text, 10.5, indent=True)
    word.add_paragraph()
    for text in (doc.issuer + doc.seal_text, doc.issued_on.strftime("%Y年%m月%d日")):
        para(text, align=WD_ALIGN_PARAGRAPH.RIGHT)
    if doc.receipt:
        word.add_paragraph()
        para(doc.receipt, 10.5)
    if doc.note:
        para(doc.note, 9)
    buf = io.BytesIO()
    word.save(buf)
    return buf.getvalue()


# ---------------------------------------------------------------- PDF

def register_cjk_font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    return CJK_FONT


def to_pdf(doc: OfficialDocument) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER, TA_RIGHT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
    font = register_cjk_font()
    base = ParagraphStyle("base", fontName=font, fontSize=12, leading=21, wordWrap="CJK")
    body = ParagraphStyle("body", parent=base, firstLineIndent=24)
    small = ParagraphStyle("small", parent=body, fontSize=10, leading=16)
    issuer = ParagraphStyle("issuer", parent=base, fontSize=16, leading=24, alignment=TA_CENTER)
    title = ParagraphStyle("title", parent=base, fontSize=20, leading=30, alignment=TA_CENTER, spaceAfter=4)
    right = ParagraphStyle("right", parent=base, alignment=TA_RIGHT)

    def p(text, style=base):
        return Paragraph(escape(str(text or "")).replace("\n", "<br/>"), style)

    story = [p(doc.issuer, issuer), p(doc.title, title)]
    if doc.doc_no:
        story.append(p(doc.doc_no, right))
    story.append(Spacer(1, 6))
    if doc.salutation:
        story.append(p(doc.salutation))
    if doc.facts:
        table = Table([[p(k), p(v)] for k, v in doc.facts], colWidths=[35 * mm, 130 * mm])
        table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story += [table, Spacer(1, 6)]
    story += [p(text, body) for text in doc.paragraphs]
    story += [p(text, small) for text in doc.closing]
    story += [Spacer(1, 30), p(doc.issuer + doc.seal_text, right), p(doc.issued_on.strftime("%Y年%m月%d日"), right)]
    if doc.receipt:
        story += [Spacer(1, 24), p(doc.receipt, small)]
    if doc.note:
        story.append(p(doc.note, ParagraphStyle("note", parent=base, fontSize=9, leading=14)))
    buf = io.BytesIO()
    SimpleDocTemplate(buf, pagesize=A4, leftMargin=25 * mm, rightMargin=22 * mm, topMargin=25 * mm,
                      bottomMargin=22 * mm, title=doc.title, author=doc.issuer).build(story)
    return buf.getvalue()


# ---------------------------------------------------------------- pages

bp = Blueprint("documents", __name__, url_prefix="/documents")


def _download(body: bytes, mimetype: str, filename: str) -> Response:
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"})


def _audited(kind: str, object_id: int, doc: OfficialDocument, fmt: str) -> None:
    from ..extensions import db
    from ..security.audit import audit
    audit("data.export", f"下载文书 {doc.title}（{doc.doc_no or object_id}，{fmt}）", object_type=kind,
          object_id=object_id, detail={"format": fmt})
    db.session.commit()


@bp.route("/<kind>/<int:object_id>")
@login_required
def view(kind: str, object_id: int):
    doc = load(kind, current_user, object_id)
    return render_template("documents/print.html", doc=doc, kind=kind, object_id=object_id)


@bp.route("/<kind>/<int:object_id>.docx")
@login_required
def docx(kind: str, object_id: int):
    doc = load(kind, current_user, object_id)
    body = to_docx(doc)
    _audited(kind, object_id, doc, "docx")
    return _download(body, "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                     doc.filename + ".docx")


@bp.route("/<kind>/<int:object_id>.pdf")
@login_required
def pdf(kind: str, object_id: int):
    doc = load(kind, current_user, object_id)
    body = to_pdf(doc)
    _audited(kind, object_id, doc, "pdf")
    return _download(body, "application/pdf", doc.filename + ".pdf")
