"""The shared documents service: one description, three renderings (print view, Word, PDF with the CJK
font), scope through the type's loader, audit of downloads; the hazard notice is such a document."""
from __future__ import annotations

import io
from datetime import date, timedelta

from docx import Document
from sqlalchemy import func, select

from app.core import documents
from app.core.clock import today_local
from app.extensions import db
from app.security.models import AuditLog

from .conftest import complete, hazard_of, make_case


def _notice():
    case = make_case()
    complete(case, "xn_supervisor", {"dispatch_decision": "dispatch", "requirements": "立即停用并整改门锁回路。",
                                     "rectify_deadline": (today_local() + timedelta(days=10)).isoformat(),
                                     "opinion": "情况属实"})
    return hazard_of(case)


def test_renderings_of_one_document():
    doc = documents.OfficialDocument(title="特种设备安全监察指令书", issuer="南宁市兴宁区市场监督管理局",
                                     paragraphs=["第一段：责令改正。", "第二段：逾期未改正的，依法处理。"],
                                     issued_on=date(2026, 11, 30), filename="指令书", doc_no="桂兴市监特令〔2026〕1号",
                                     salutation="某某公司：", facts=[("设备代码", "311045001202300001")],
                                     closing=["如不服本指令书，可依法申请行政复议或提起行政诉讼。"])
    text = "\n".join(p.text for p in Document(io.BytesIO(documents.to_docx(doc))).paragraphs)
    for part in ("特种设备安全监察指令书", "桂兴市监特令〔2026〕1号", "第二段：逾期未改正的，依法处理。", "2026年11月30日"):
        assert part in text
    pdf = documents.to_pdf(doc)
    assert pdf.startswith(b"%PDF") and b"STSong-Light" in pdf


def test_the_hazard_notice_prints_downloads_and_is_scoped(web):
    hazard = _notice()
    sup, unit, outsider = web("xn_supervisor"), web("unit_xn"), web("qx_supervisor")
    page = sup.get(f"/documents/hazard_notice/{hazard.id}").get_data(as_text=True)
    assert hazard.notice_no in page and "特种设备重大事故隐患整改通知书" in page and "下载 PDF" in page
    assert unit.get(f"/hazards/{hazard.id}/notice").get_data(as_text=True) == unit.get(
        f"/documents/hazard_notice/{hazard.id}").get_data(as_text=True)             # the old address, same view
    audits = db.session.scalar(select(func.count(AuditLog.id)))
    word = unit.get(f"/documents/hazard_notice/{hazard.id}.docx")
    assert word.status_code == 200 and word.headers["Content-Disposition"].endswith(".docx")
    body = "\n".join(p.text for p in Document(io.BytesIO(word.data)).paragraphs)
    assert hazard.notice_no in body and "GB 45067-2024" in body
    assert unit.get(f"/documents/hazard_notice/{hazard.id}.pdf").data.startswith(b"%PDF")
    assert db.session.scalar(select(func.count(AuditLog.id))) == audits + 2       # both downloads audited
    for url in (f"/documents/hazard_notice/{hazard.id}", f"/documents/hazard_notice/{hazard.id}.pdf"):
        assert outsider.get(url).status_code == 404
    assert sup.get("/documents/no_such_kind/1").status_code == 404
