"""Process-admin pages (/process-admin/…). Only the process_admin role; everyone else gets 403."""
from __future__ import annotations

import json

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from jinja2.utils import htmlsafe_json_dumps

from ..core.params import int_arg, text_arg
from ..engine.services import registered_services
from ..core.roles import ROLES
from ..errors import DomainError, NotFound
from ..extensions import db
from . import services as svc

bp = Blueprint("procadmin", __name__, url_prefix="/process-admin")


@bp.before_request
@login_required
def _only_process_admins():
    svc.require_process_admin(current_user)


def _flash_issues(issues) -> None:
    if issues:
        flash(f"已保存为草稿，校验未通过（{len(issues)} 项问题），见“校验结果”", "error")
    else:
        flash("已保存，校验通过，可以部署", "success")


@bp.route("/")
def index():
    q = text_arg(request.args, "q")
    return render_template("procadmin/index.html", processes=svc.process_overview(q), q=q or "",
                           decisions=svc.decision_overview())


@bp.route("/processes/<key>")
def process(key: str):
    entry = next((p for p in svc.process_overview() if p["key"] == key), None)
    if entry is None:
        raise NotFound("流程不存在")
    changes, _ = svc.changes(key=key, per_page=10)
    return render_template("procadmin/process.html", p=entry, changes=changes)


@bp.post("/processes/<key>/draft")
def new_draft(key: str):
    number = int_arg(request.form, "from_version", 0, 0, 100000) or None
    draft = svc.start_draft("process", key, current_user, number)
    db.session.commit()
    return redirect(url_for(".draft", draft_id=draft.id))


@bp.post("/upload")
def upload_new():
    try:
        draft = svc.upload_new_process(request.files.get("file"), current_user)
    except DomainError as err:
        db.session.rollback()
        flash(f"上传失败：{err.fields.get('file') or err.message}", "error")
        return redirect(url_for(".index"))
    db.session.commit()
    _flash_issues(svc.draft_issues(draft))
    return redirect(url_for(".draft", draft_id=draft.id))


@bp.route("/drafts/<int:draft_id>")
def draft(draft_id: int):
    d = svc.get_draft(draft_id)
    if d.kind == "decision":
        (filename, _), = json.loads(d.dmn_json).items()
        return redirect(url_for(".dmn_editor", draft_id=d.id, filename=filename))
    forms = json.loads(d.forms_json)
    editor = {
        "draft_id": d.id, "status": d.status, "editable": d.status in ("unchecked", "valid", "invalid"),
        "bpmn_xml": d.bpmn_xml, "forms": forms, "issues": svc.draft_issues(d),
        "roles": [{"key": r.key, "label": r.label} for r in ROLES.values()],
        "services": sorted(registered_services()),
        "urls": {"bpmn": url_for("procadmin_api.save_bpmn", draft_id=d.id),
                 "form": url_for("procadmin_api.save_form", draft_id=d.id, form_key="__KEY__"),
                 "preview": url_for("procadmin_api.form_preview")},
    }
    # Not |tojson: it sorts keys, and a form's field order is its property order.
    editor_json = htmlsafe_json_dumps(editor, dumps=json.dumps, ensure_ascii=False)
    return render_template("procadmin/draft.html", d=d, editor=editor, editor_json=editor_json, forms=forms,
                           dmn_files=sorted(json.loads(d.dmn_json)), issues=svc.draft_issues(d))


@bp.route("/drafts/<int:draft_id>/dmn/<path:filename>")
def dmn_editor(draft_id: int, filename: str):
    d = svc.get_draft(draft_id)
    dmn = json.loads(d.dmn_json)
    if filename not in dmn:
        raise NotFound("决策表文件不存在")
    editor = {"draft_id": d.id, "filename": filename, "xml": dmn[filename],
              "editable": d.status in ("unchecked", "valid", "invalid"),
              "save_url": url_for("procadmin_api.save_dmn", draft_id=d.id, filename=filename)}
    return render_template("procadmin/dmn.html", d=d, editor=editor, filename=filename,
                           issues=svc.draft_issues(d))


@bp.post("/drafts/<int:draft_id>/upload")
def upload(draft_id: int):
    d = svc.get_draft(draft_id)
    try:
        issues = svc.upload_into_draft(d, request.files.get("file"), current_user)
    except DomainError as err:
        db.session.rollback()
        flash(f"上传失败：{err.fields.get('file') or err.fields.get('forms') or err.message}", "error")
        return redirect(url_for(".draft", draft_id=draft_id))
    db.session.commit()
    _flash_issues(issues)
    return redirect(url_for(".draft", draft_id=draft_id))


@bp.post("/drafts/<int:draft_id>/validate")
def validate(draft_id: int):
    d = svc.get_draft(draft_id)
    svc._editable(d)
    issues = svc._validate_into(d)
    db.session.commit()
    flash("校验通过，可以部署" if not issues else f"校验未通过（{len(issues)} 项问题）",
          "success" if not issues else "error")
    return redirect(url_for(".draft", draft_id=draft_id) + "#issues")


@bp.post("/drafts/<int:draft_id>/deploy")
def deploy(draft_id: int):
    d = svc.get_draft(draft_id)
    try:
        version = svc.deploy_draft(d, current_user)
    except DomainError as err:
        db.session.rollback()
        if err.code == "invalid_definition":      # keep the findings on the draft
            d = svc.get_draft(draft_id)
            svc._validate_into(d)
            db.session.commit()
        flash(f"部署失败：{err.message}", "error")
        return redirect(url_for(".draft", draft_id=draft_id) + "#issues")
    db.session.commit()
    if d.kind == "decision":
        flash(f"已部署决策表 {d.key} v{version.version}，立即生效", "success")
        return redirect(url_for(".index") + "#decisions")
    flash(f"已部署 {d.key} v{version.version}：新发起的案件使用新版本，办理中的案件仍按原版本运行", "success")
    return redirect(url_for(".process", key=d.key))


@bp.post("/drafts/<int:draft_id>/discard")
def discard(draft_id: int):
    d = svc.get_draft(draft_id)
    svc.discard_draft(d, current_user)
    db.session.commit()
    flash(f"已放弃草稿 #{d.id}", "success")
    return redirect(url_for(".process", key=d.key) if d.kind == "process" else url_for(".index"))


def _file_response(content: str | bytes, filename: str, mimetype: str) -> Response:
    from urllib.parse import quote
    resp = Response(content, mimetype=mimetype)
    resp.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return resp


def _download(key: str, bpmn_xml: str, dmn: dict, forms: dict, label: str):
    what = request.args.get("file", "zip")
    if what == "bpmn":
        return _file_response(bpmn_xml, f"{key}.bpmn", "application/xml")
    if what.startswith("form:") and what[5:] in forms:
        return _file_response(json.dumps(forms[what[5:]], ensure_ascii=False, indent=2) + "\n",
                              f"{what[5:]}.json", "application/json")
    if what.startswith("dmn:") and what[4:] in dmn:
        return _file_response(dmn[what[4:]], what[4:], "application/xml")
    if what == "zip":
        return _file_response(svc.bundle_zip(key, bpmn_xml, dmn, forms), f"{key}-{label}.zip", "application/zip")
    abort(404)


@bp.route("/processes/<key>/v<int:number>/download")
def download_version(key: str, number: int):
    v = svc.get_version(key, number)
    return _download(key, v.bpmn_xml, json.loads(v.dmn_json), json.loads(v.forms_json), f"v{number}")


@bp.route("/drafts/<int:draft_id>/download")
def download_draft(draft_id: int):
    d = svc.get_draft(draft_id)
    if d.kind == "decision":
        (filename, xml), = json.loads(d.dmn_json).items()
        return _file_response(xml, filename, "application/xml")
    return _download(d.key, d.bpmn_xml, json.loads(d.dmn_json), json.loads(d.forms_json), f"draft{d.id}")


@bp.route("/processes/<key>/v<int:number>/diagram.bpmn")
def version_xml(key: str, number: int):
    return Response(svc.get_version(key, number).bpmn_xml, mimetype="application/xml")


@bp.route("/processes/<key>/diff")
def diff(key: str):
    numbers = sorted(v.version.version for p in svc.process_overview() if p["key"] == key for v in p["versions"])
    if len(numbers) < 1:
        raise NotFound("流程不存在")
    b = int_arg(request.args, "b", numbers[-1], 1, 100000)
    a = int_arg(request.args, "a", numbers[-2] if len(numbers) > 1 else numbers[-1], 1, 100000)
    va, vb = svc.get_version(key, a), svc.get_version(key, b)
    result = svc.diff_bundles(svc.version_bundle(va), svc.version_bundle(vb))
    markers = {"old": {"removed": [e["id"] for e in result["removed"]], "changed": [e["id"] for e in result["changed"]]},
               "new": {"added": [e["id"] for e in result["added"]], "changed": [e["id"] for e in result["changed"]]}}
    return render_template("procadmin/diff.html", key=key, name=vb.name, a=va, b=vb, numbers=numbers,
                           d=result, markers=markers)


@bp.route("/processes/<key>/migrate", methods=["GET", "POST"])
def migrate(key: str):
    numbers = sorted(v.version.version for p in svc.process_overview() if p["key"] == key for v in p["versions"])
    if not numbers:
        raise NotFound("流程不存在")
    source_n = int_arg(request.values, "from", numbers[0], 1, 100000)
    target_n = int_arg(request.values, "to", numbers[-1], 1, 100000)
    source, target = svc.get_version(key, source_n), svc.get_version(key, target_n)
    if request.method == "POST":
        ids = [int(v) for v in request.form.getlist("case_ids") if v.isdigit()]
        try:
            result = svc.migrate_cases(source, target, ids, current_user)
        except DomainError as err:
            db.session.rollback()
            flash(err.fields.get("case_ids") or err.message, "error")
            return redirect(url_for(".migrate", key=key, **{"from": source_n, "to": target_n}))
        db.session.commit()
        if result["migrated"]:
            flash(f"已迁移 {len(result['migrated'])} 件到 v{target_n}：{'、'.join(result['migrated'])}", "success")
        for r in result["refused"]:
            flash(f"未迁移 {r['case_no']}：{r['reason']}", "error")
        return redirect(url_for(".migrate", key=key, **{"from": source_n, "to": target_n}))
    rows = svc.migration_candidates(source, target) if source_n != target_n else []
    return render_template("procadmin/migrate.html", key=key, name=target.name, numbers=numbers, source=source,
                           target=target, rows=rows)


@bp.route("/changes")
def changes():
    key = text_arg(request.args, "key")
    action = request.args.get("action") or None
    page = int_arg(request.args, "page", 1, 1, 100000)
    rows, total = svc.changes(key, action, page, 30)
    if request.args.get("export") == "xlsx":
        from ..core.clock import to_local
        from ..core.excel import stream_xlsx
        all_rows, _ = svc.changes(key, action, 1, 10000)
        return stream_xlsx("流程变更记录", ["时间", "操作人", "操作", "对象", "流程/决策表", "版本", "说明", "内容 SM3"],
                             [[to_local(r.at).strftime("%Y-%m-%d %H:%M:%S"), r.actor.display_name if r.actor else "系统", r.action_label, r.object, r.key,
                               r.version or "", r.summary, r.content_sm3 or ""] for r in all_rows],
                             "流程变更记录.xlsx")
    return render_template("procadmin/changes.html", changes=rows, total=total, page=page,
                           pages=max(1, -(-total // 30)), key=key or "", action=action or "",
                           actions=svc.ProcessChange.ACTION_LABELS)


@bp.route("/decisions/<key>")
def decision(key: str):
    entry = next((p for p in svc.decision_overview() if p["key"] == key), None)
    if entry is None:
        raise NotFound("决策表不存在")
    return render_template("procadmin/decision.html", p=entry)


@bp.post("/decisions/<key>/draft")
def new_decision_draft(key: str):
    number = int_arg(request.form, "from_version", 0, 0, 100000) or None
    d = svc.start_draft("decision", key, current_user, number)
    db.session.commit()
    (filename, _), = json.loads(d.dmn_json).items()
    return redirect(url_for(".dmn_editor", draft_id=d.id, filename=filename))


@bp.route("/decisions/<key>/v<int:number>/download")
def download_decision(key: str, number: int):
    v = svc.get_decision_version(key, number)
    return _file_response(v.dmn_xml, v.filename, "application/xml")
