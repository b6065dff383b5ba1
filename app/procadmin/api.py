"""JSON API /api/v1/process-admin — used by the modeler pages (session + X-CSRFToken) and by
scripts (bearer token). Only process_admin; errors are {"error": {code, message, fields?}}."""
from __future__ import annotations

import json

from flask import Blueprint, g, jsonify, render_template_string, request

from ..api import _iso, _json_body, api_user
from ..cases.forms_web import field_views
from ..errors import DomainError, NotFound, ValidationFailed
from ..extensions import db
from . import services as svc

bp = Blueprint("procadmin_api", __name__, url_prefix="/api/v1/process-admin")


@bp.before_request
def _only_process_admins():
    g.api_user = api_user()
    svc.require_process_admin(g.api_user)


def _draft_json(d) -> dict:
    return {"id": d.id, "kind": d.kind, "key": d.key, "base_version": d.base_version, "status": d.status,
            "status_label": d.status_label, "content_sm3": d.content_sm3, "issues": svc.draft_issues(d),
            "deployed_version": d.deployed_version, "updated_at": _iso(d.updated_at)}


@bp.get("/processes")
def processes():
    return jsonify({"items": [{
        "key": p["key"], "name": p["name"], "draft": _draft_json(p["draft"]) if p["draft"] else None,
        "versions": [{"version": r.version.version, "deployed_at": _iso(r.version.deployed_at),
                      "deployed_by": r.deployed_by, "content_sha256": r.version.content_sha256,
                      "running": r.running, "finished": r.closed} for r in p["versions"]]}
        for p in svc.process_overview(request.args.get("q") or None)]})


@bp.get("/processes/<key>/versions/<int:number>")
def version(key: str, number: int):
    v = svc.get_version(key, number)
    return jsonify({"key": key, "version": v.version, "name": v.name, "content_sha256": v.content_sha256,
                    "deployed_at": _iso(v.deployed_at), "bpmn_xml": v.bpmn_xml, "dmn": json.loads(v.dmn_json),
                    "forms": json.loads(v.forms_json)})


@bp.get("/processes/<key>/diff")
def diff(key: str):
    try:
        a, b = int(request.args["a"]), int(request.args["b"])
    except (KeyError, ValueError) as err:
        raise ValidationFailed({"a": "请给出两个版本号 a 和 b"}) from err
    result = svc.diff_bundles(svc.version_bundle(svc.get_version(key, a)), svc.version_bundle(svc.get_version(key, b)))
    return jsonify(result)


def _optional_json_body() -> dict:
    """A body that may be left out (read as {}); when given it must be a JSON object (bad_json)."""
    if not request.get_data(cache=True):
        return {}
    return _json_body()


@bp.post("/processes/<key>/drafts")
def create_draft(key: str):
    number = _optional_json_body().get("from_version")
    if number is not None and (type(number) is not int or number < 1):
        raise ValidationFailed({"from_version": "作为底稿的版本号必须是正整数（如 1）；不填则以最新版本为底"})
    d = svc.start_draft("process", key, g.api_user, number)
    db.session.commit()
    return jsonify(_draft_json(d)), 201


@bp.get("/drafts/<int:draft_id>")
def draft(draft_id: int):
    d = svc.get_draft(draft_id)
    body = _draft_json(d)
    body.update({"bpmn_xml": d.bpmn_xml, "dmn": json.loads(d.dmn_json), "forms": json.loads(d.forms_json)})
    return jsonify(body)


@bp.post("/drafts/<int:draft_id>/bpmn")
def save_bpmn(draft_id: int):
    d = svc.get_draft(draft_id)
    xml = _json_body().get("xml")
    if xml is None:
        raise ValidationFailed({"xml": "xml 必填：请提交流程图的 BPMN XML 文本"})
    if not isinstance(xml, str) or not xml.strip():
        raise ValidationFailed({"xml": "流程图内容不能为空" if isinstance(xml, str) else "xml 必须是 BPMN XML 文本（字符串）"})
    svc.save_draft(d, g.api_user, bpmn_xml=xml)
    db.session.commit()
    return jsonify(_draft_json(d))


@bp.post("/drafts/<int:draft_id>/forms/<form_key>")
def save_form(draft_id: int, form_key: str):
    d = svc.get_draft(draft_id)
    body = _json_body()
    svc.save_form(d, g.api_user, form_key, body.get("schema_text") if "schema_text" in body
                  else json.dumps(body.get("schema")))
    db.session.commit()
    return jsonify(_draft_json(d))


@bp.delete("/drafts/<int:draft_id>/forms/<form_key>")
def delete_form(draft_id: int, form_key: str):
    d = svc.get_draft(draft_id)
    svc.delete_form(d, g.api_user, form_key)
    db.session.commit()
    return jsonify(_draft_json(d))


@bp.post("/drafts/<int:draft_id>/dmn/<path:filename>")
def save_dmn(draft_id: int, filename: str):
    d = svc.get_draft(draft_id)
    dmn = json.loads(d.dmn_json)
    if filename not in dmn:
        raise NotFound("决策表文件不存在")
    xml = _json_body().get("xml")
    if not isinstance(xml, str) or not xml.strip():
        raise ValidationFailed({"xml": "决策表内容不能为空"})
    dmn[filename] = xml
    svc.save_draft(d, g.api_user, dmn=dmn, obj=filename)
    db.session.commit()
    return jsonify(_draft_json(d))


@bp.post("/drafts/<int:draft_id>/validate")
def validate(draft_id: int):
    d = svc.get_draft(draft_id)
    svc._editable(d)
    svc._validate_into(d)
    db.session.commit()
    return jsonify(_draft_json(d))


@bp.post("/drafts/<int:draft_id>/deploy")
def deploy(draft_id: int):
    d = svc.get_draft(draft_id)
    try:
        v = svc.deploy_draft(d, g.api_user)
    except DomainError as err:
        db.session.rollback()
        if err.code == "invalid_definition":
            d = svc.get_draft(draft_id)
            svc._validate_into(d)
            db.session.commit()
        raise
    db.session.commit()
    return jsonify({"draft": _draft_json(d), "version": v.version, "content_sha256": v.content_sha256}), 201


_PREVIEW = """{% from "_macros.html" import form_fields %}
<h3 class="preview-title">{{ title }}</h3>{{ form_fields(fields, {}) }}"""


@bp.post("/form-preview")
def form_preview():
    """Render a JSON Schema form exactly as task pages do (same macro), for the live preview."""
    body = _json_body()
    try:
        schema = json.loads(body.get("schema_text") or "")
    except (TypeError, ValueError) as err:
        raise ValidationFailed({"schema": f"不是合法的 JSON：第 {getattr(err, 'lineno', '?')} 行 "
                                          f"第 {getattr(err, 'colno', '?')} 列 {getattr(err, 'msg', err)}"}) from err
    issues = svc._check_form_schema(schema)
    if not isinstance(schema, dict) or not isinstance(schema.get("properties", {}), dict):
        return jsonify({"html": "", "issues": [i.to_dict() for i in issues]})
    try:
        html = render_template_string(_PREVIEW, title=schema.get("title", ""),
                                      fields=field_views(schema, {}, {}, g.api_user))
    except Exception:   # a half-typed schema (e.g. a field that is not an object) has no preview yet
        html = ""
    return jsonify({"html": html, "issues": [i.to_dict() for i in issues]})
