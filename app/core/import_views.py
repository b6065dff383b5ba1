"""Excel import pages (/imports) and API (/api/v1/imports): templates, upload, progress, error report.
The importer itself is app/core/importer.py; kinds are declared by the domains."""
from __future__ import annotations

import os

from flask import Blueprint, g, jsonify, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from ..extensions import db
from ..errors import Forbidden, NotFound, ValidationFailed
from . import importer
from .models import ImportJob

bp = Blueprint("imports", __name__, url_prefix="/imports")
api_bp = Blueprint("imports_api", __name__, url_prefix="/api/v1/imports")


def _recent_jobs(user, limit: int = 20) -> list[ImportJob]:
    return list(db.session.scalars(select(ImportJob).where(ImportJob.user_id == user.id)
                                   .order_by(ImportJob.id.desc()).limit(limit)))


@bp.route("", methods=["GET", "POST"])
@login_required
def index():
    kinds = importer.kinds_for(current_user)
    if not kinds:
        raise Forbidden("您的角色没有可导入的数据类型")
    errors = {}
    if request.method == "POST":
        try:
            job = importer.start_import(request.form.get("kind", ""), current_user, request.files.get("file"))
        except ValidationFailed as err:
            db.session.rollback()
            errors = err.fields
        else:
            importer.launch(job)
            return redirect(url_for("imports.job_page", job_id=job.id))
    return render_template("imports/index.html", kinds=kinds, jobs=_recent_jobs(current_user), errors=errors,
                           titles={k.key: k.title for k in importer.kinds()},
                           selected=request.values.get("kind", "")), (422 if errors else 200)


@bp.route("/templates/<kind>.xlsx")
@login_required
def template(kind: str):
    found = importer.get_kind(kind)
    found.allowed(current_user)
    return importer.xlsx_response(importer.template_bytes(found), f"{found.title}导入模板.xlsx")


@bp.route("/<int:job_id>")
@login_required
def job_page(job_id: int):
    job = importer.visible_job(current_user, job_id)
    return render_template("imports/job.html", job=job, kind=importer.get_kind(job.kind))


def _error_report(job: ImportJob):
    path = importer.report_path(job)
    if job.status != "done" or not job.failed or not os.path.exists(path):
        raise NotFound("该次导入没有错误报告")
    return send_file(path, mimetype=importer.XLSX_MIME, as_attachment=True,
                     download_name=f"{importer.get_kind(job.kind).title}导入错误报告-{job.id}.xlsx")


@bp.route("/<int:job_id>/errors.xlsx")
@login_required
def job_errors(job_id: int):
    return _error_report(importer.visible_job(current_user, job_id))


# ---------------------------------------------------------------- API

def _kind_json(kind) -> dict:
    return {"key": kind.key, "title": kind.title, "description": kind.description,
            "columns": [{"key": c.key, "header": c.header, "required": c.required, "kind": c.kind,
                         "max_length": c.max_length, "choices": list(c.choices) if c.choices else None,
                         "help": importer._rule_text(c)} for c in kind.columns]}


def _authenticated(fn):
    from ..api import authenticated
    return authenticated(fn)


@api_bp.get("/kinds")
@_authenticated
def api_kinds():
    return jsonify({"items": [_kind_json(k) for k in importer.kinds_for(g.api_user)]})


@api_bp.get("/kinds/<kind>/template")
@_authenticated
def api_template(kind: str):
    found = importer.get_kind(kind)
    found.allowed(g.api_user)
    return importer.xlsx_response(importer.template_bytes(found), f"{found.title}导入模板.xlsx")


@api_bp.post("")
@_authenticated
def api_start():
    job = importer.start_import(request.form.get("kind", ""), g.api_user, request.files.get("file"))
    importer.launch(job)
    db.session.refresh(job)
    return jsonify(importer.job_json(job)), 202


@api_bp.get("/<int:job_id>")
@_authenticated
def api_job(job_id: int):
    return jsonify(importer.job_json(importer.visible_job(g.api_user, job_id)))


@api_bp.get("/<int:job_id>/errors")
@_authenticated
def api_job_errors(job_id: int):
    return _error_report(importer.visible_job(g.api_user, job_id))
