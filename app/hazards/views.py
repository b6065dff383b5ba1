"""重大事故隐患台账, 整改通知书 (print + .docx), Excel export."""
from __future__ import annotations

from flask import render_template, request
from flask_login import current_user, login_required
from sqlalchemy import select

from ..cases.services import paginate
from ..core.excel import stream_xlsx
from ..extensions import db
from .blueprint import bp
from .ledger import LedgerFilter, ledger_query, warning_counts_statement
from .models import Hazard, HazardCriterion


@bp.route("")
@login_required
def ledger():
    f = LedgerFilter.from_args(request.args)
    items, total = paginate(ledger_query(current_user, f), f.page, f.per_page)
    by_warning = dict(db.session.execute(warning_counts_statement(current_user)).all())
    clauses = db.session.execute(select(HazardCriterion.clause, HazardCriterion.equipment_type)
                                 .distinct().order_by(HazardCriterion.clause)).all()
    return render_template("hazards/ledger.html", f=f, items=items, total=total, by_warning=by_warning,
                           pages=max(1, -(-total // f.per_page)), clauses=clauses,
                           statuses=Hazard.STATUS_LABELS, sources=Hazard.SOURCE_LABELS)


EXPORT_HEADERS = ["隐患编号", "状态", "预警", "来源", "设备代码", "设备名称", "使用单位", "属地", "判定依据",
                  "隐患描述", "发现日期", "整改期限", "整改通知书编号", "延期次数", "销号时间"]


@bp.route("/export.xlsx")
@login_required
def export():
    f = LedgerFilter.from_args(request.args)
    from ..cases.models import WARNING_LABELS
    from ..core.clock import to_local

    def rows():
        for h in db.session.scalars(ledger_query(current_user, f).execution_options(yield_per=500)):  # many-to-one joins only
            yield [h.hazard_no, h.status_label, WARNING_LABELS.get(h.warning_level, ""), h.source_label,
                   h.equipment.code, h.equipment.name, h.use_org.name, h.region.name, h.criterion.citation,
                   h.description, h.found_on, h.rectify_deadline, h.notice_no or "", h.extension_count,
                   to_local(h.closed_at).strftime("%Y-%m-%d %H:%M") if h.closed_at else ""]
    return stream_xlsx("重大事故隐患台账", EXPORT_HEADERS, rows(), filename="重大事故隐患台账.xlsx",
                       criteria=request.args.to_dict())


@bp.route("/<int:hazard_id>/notice")
@login_required
def notice(hazard_id: int):
    """The notice's print view (the shared documents service's)."""
    from ..core.documents import view
    return view("hazard_notice", hazard_id)


@bp.route("/<int:hazard_id>/notice.docx")
@login_required
def notice_download(hazard_id: int):
    from ..core.documents import docx
    return docx("hazard_notice", hazard_id)
from . import criteria as _criteria  # noqa: E402,F401 - 判定标准配置 routes on this blueprint
from . import pages  # noqa: E402,F401 - 隐患管理 routes on this blueprint
