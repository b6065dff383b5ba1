"""POST /api/v1/sms/receipts — delivery reports pushed by the gateway (Alibaba Cloud HTTP batch push).

Authenticated by the shared SMS_RECEIPT_TOKEN (header X-Receipt-Token or query ?token=), compared
in constant time; with no token configured the endpoint does not exist (404)."""
from __future__ import annotations

import hmac

from flask import Blueprint, current_app, jsonify, request

from ..errors import DomainError, NotFound, Unauthorized
from ..extensions import db
from .services import apply_receipts

bp = Blueprint("sms_api", __name__, url_prefix="/api/v1/sms")


@bp.post("/receipts")
def receipts():
    expected = current_app.config.get("SMS_RECEIPT_TOKEN") or ""
    if not expected:
        raise NotFound("接口不存在")
    given = request.headers.get("X-Receipt-Token") or request.args.get("token") or ""
    if not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        raise Unauthorized("回执令牌无效")
    body = request.get_json(silent=True)
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        raise DomainError("请求体必须是状态报告的 JSON 数组", code="bad_json")
    if len(body) > 1000:
        raise DomainError("单次最多推送 1000 条状态报告", code="too_many")
    result = apply_receipts(body)
    db.session.commit()
    # Alibaba Cloud treats code 0 as "received"; anything else is pushed again.
    return jsonify({"code": 0, "msg": "接收成功", **result})
