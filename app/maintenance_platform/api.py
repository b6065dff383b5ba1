"""Signed API for maintenance units' own platforms (/api/v1/maintenance-platform): who am I, and the
batch upload of maintenance records. No session, no bearer token: every request carries the HMAC-SM3
signature headers (docs/维保数据接入规范.md)."""
from __future__ import annotations

import json

from flask import Blueprint, current_app, jsonify, request

from ..core.clock import local_iso, utcnow
from ..errors import DomainError, ValidationFailed
from ..extensions import db
from . import RAW_BODY, services

bp = Blueprint("maintenance_platform_api", __name__, url_prefix="/api/v1/maintenance-platform")


def _signed_path() -> str:
    query = request.query_string.decode("latin-1")
    return request.path + ("?" + query if query else "")


def _credential():
    body = request.environ.get(RAW_BODY, b"")
    return services.authenticate(request.headers, request.method, _signed_path(), body)


def _records() -> list:
    """The records: a JSON body {"records": [...]}, or the multipart part `records` (a JSON array)."""
    if request.mimetype == "multipart/form-data":
        raw = request.form.get("records")
        if raw is None and request.files.get("records") is not None:
            raw = request.files["records"].read().decode("utf-8", "replace")
        if raw is None:
            raise ValidationFailed({"records": "multipart 请求须含名为 records 的部分（JSON 数组）"})
        try:
            records = json.loads(raw)
        except ValueError:
            raise ValidationFailed({"records": "records 部分不是有效的 JSON"}) from None
        return records
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise DomainError("请求体必须是 JSON 对象或 multipart/form-data", code="bad_json")
    return body.get("records")


@bp.get("/whoami")
def whoami():
    cred = _credential()
    return jsonify({"key_id": cred.key_id, "org_id": cred.org_id, "org_name": cred.org.name,
                    "platform_name": cred.platform_name, "max_batch": services.MAX_BATCH,
                    "server_time": local_iso(utcnow())})


@bp.post("/records")
def upload_records():
    cred = _credential()
    records = _records()
    parts = services.Parts(request.files, int(current_app.config["MAX_UPLOAD_BYTES"]))
    result = services.ingest(cred, records, parts)
    db.session.commit()
    return jsonify(result)
