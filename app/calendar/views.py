"""/admin/calendar — the working-day calendar, maintained by the system administrator (sys_admin)."""
from __future__ import annotations

import calendar as std_calendar
from datetime import date

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..core.excel import stream_xlsx
from ..errors import ValidationFailed
from ..extensions import db
from . import services as svc
from .models import KIND_LABELS, YEAR_STATUS_LABELS

bp = Blueprint("calendar", __name__, url_prefix="/admin/calendar")


@bp.before_request
@login_required
def _only_sys_admin():
    if current_user.role != "sys_admin":
        abort(403)


def _year_arg(source) -> int:
    try:
        year = int(source.get("year") or date.today().year)
    except (TypeError, ValueError):
        year = date.today().year
    return year if 2000 <= year <= 2100 else date.today().year


def _months(year: int) -> list[dict]:
    cal = std_calendar.Calendar(firstweekday=0)
    months = []
    for month in range(1, 13):
        weeks = []
        for week in cal.monthdatescalendar(year, month):
            weeks.append([dict(day=d, in_month=d.month == month, **svc.day_info(d)) for d in week])
        months.append({"month": month, "weeks": weeks})
    return months


def _page(year: int, *, errors: dict | None = None, form: dict | None = None, edit_id: int | None = None,
          year_errors: dict | None = None, import_errors: dict | None = None, status: int = 200):
    days = svc.days_of_year(year)
    edit = next((d for d in days if d.id == edit_id), None)
    return render_template("calendar/admin.html", year=year, months=_months(year), days=days,
                           overview=svc.years_overview(), record=svc.year_record(year),
                           status_label=svc.year_status_label(year), kind_labels=KIND_LABELS,
                           year_status_labels=YEAR_STATUS_LABELS, errors=errors or {}, form=form or {},
                           edit=edit, year_errors=year_errors or {}, import_errors=import_errors or {},
                           working_count=sum(1 for m in range(1, 13)
                                             for d in std_calendar.Calendar().itermonthdates(year, m)
                                             if d.month == m and svc.is_working_day(d))), status


@bp.route("/")
def index():
    return _page(_year_arg(request.args), edit_id=request.args.get("edit", type=int))


def _back(year: int):
    return redirect(url_for(".index", year=year) + "#days")


@bp.post("/days")
def add_day():
    form = request.form.to_dict()
    year = _year_arg(form)
    try:
        row = svc.save_day(form, current_user)
    except ValidationFailed as err:
        db.session.rollback()
        return _page(year, errors=err.fields, form=form, status=422)
    db.session.commit()
    flash(f"已新增 {row.day.isoformat()} {row.kind_label}（{row.name}）")
    return _back(row.day.year)


@bp.post("/days/<int:day_id>")
def edit_day(day_id: int):
    form = request.form.to_dict()
    year = _year_arg(form)
    try:
        row = svc.save_day(form, current_user, day_id)
    except ValidationFailed as err:
        db.session.rollback()
        return _page(year, errors=err.fields, form=form, edit_id=day_id, status=422)
    db.session.commit()
    flash(f"已修改 {row.day.isoformat()} {row.kind_label}（{row.name}）")
    return _back(row.day.year)


@bp.post("/days/<int:day_id>/delete")
def delete_day(day_id: int):
    day = svc.delete_day(day_id, current_user)
    db.session.commit()
    flash(f"已删除 {day.isoformat()} 的特殊日期登记")
    return _back(day.year)


@bp.post("/years/<int:year>")
def save_year(year: int):
    try:
        record = svc.save_year(year, request.form.to_dict(), current_user)
    except ValidationFailed as err:
        db.session.rollback()
        return _page(_year_arg({"year": year}), year_errors=err.fields, status=422)
    db.session.commit()
    flash(f"{year} 年状态已设为：{record.status_label}")
    return redirect(url_for(".index", year=year))


@bp.post("/import")
def import_year():
    form = request.form.to_dict()
    year = _year_arg(form)
    upload = request.files.get("file")
    content = upload.read(1024 * 1024 + 1) if upload else b""
    try:
        n = svc.import_year(year, upload.filename if upload else "", content, form.get("source", ""),
                            form.get("source_url"), current_user)
    except ValidationFailed as err:
        db.session.rollback()
        return _page(year, import_errors=err.fields, status=422)
    db.session.commit()
    flash(f"已导入 {year} 年节假日安排，共 {n} 个特殊日期")
    return redirect(url_for(".index", year=year))


@bp.route("/template.txt")
def template():
    return Response(svc.TEMPLATE_TEXT.encode("utf-8"), mimetype="text/plain; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=work_calendar_template.txt"})


@bp.route("/export.xlsx")
def export():
    year = _year_arg(request.args)
    rows = ([d.day.isoformat(), "周" + "一二三四五六日"[d.day.weekday()], d.kind_label, d.name, d.source or "",
             d.updated_at.strftime("%Y-%m-%d %H:%M") if d.updated_at else ""] for d in svc.days_of_year(year))
    return stream_xlsx(f"{year}年工作日历", ["日期", "星期", "类型", "名称", "依据", "更新时间"], rows,
                       f"work_calendar_{year}.xlsx", criteria={"year": year})
