"""One error hierarchy and one handler: JSON for the API, a Chinese page for people."""
from __future__ import annotations

from flask import jsonify, render_template, request

from .extensions import db


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, fields: dict | None = None,
                 status: int | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.fields = fields or {}

    def to_dict(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        return {"error": body}


class ValidationFailed(DomainError):
    status = 422
    code = "validation_failed"

    def __init__(self, fields: dict, message: str = "提交的数据有误，请按提示修改"):
        super().__init__(message, fields=fields)


class NotFound(DomainError):
    status = 404
    code = "not_found"

    def __init__(self, message: str = "记录不存在或无权查看"):
        super().__init__(message)


class Forbidden(DomainError):
    status = 403
    code = "forbidden"

    def __init__(self, message: str = "无权执行此操作", *, code: str | None = None):
        super().__init__(message, code=code)


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"

    def __init__(self, message: str = "请先登录"):
        super().__init__(message)


def wants_json() -> bool:
    return request.path.startswith("/api/")


_HTTP_MESSAGES = {
    400: ("bad_request", "请求格式不正确"),
    401: ("unauthorized", "请先登录"),
    403: ("forbidden", "无权执行此操作"),
    404: ("not_found", "页面或记录不存在"),
    405: ("method_not_allowed", "不支持的请求方法"),
    413: ("payload_too_large", "上传内容过大"),
    500: ("internal_error", "系统内部错误，请稍后重试"),
}


def register_error_handlers(app) -> None:
    from flask_wtf.csrf import CSRFError
    from werkzeug.exceptions import HTTPException

    def _audit_refusal(event_type: str, summary: str) -> None:
        from .security.audit import audit_now
        try:
            audit_now(event_type, summary, outcome="denied", object_type="route",
                      object_id=f"{request.method} {request.path}"[:64])
        except Exception:  # never let the audit of a refusal turn it into a 500
            db.session.rollback()
            app.logger.exception("audit of a refused request failed")

    @app.errorhandler(DomainError)
    def handle_domain_error(err: DomainError):
        db.session.rollback()
        if err.status == 403:
            _audit_refusal("security.denied", f"越权访问被拒绝：{err.message}")
        if wants_json():
            return jsonify(err.to_dict()), err.status
        return render_template("error.html", status=err.status, message=err.message), err.status

    @app.errorhandler(CSRFError)
    def handle_csrf(err):
        db.session.rollback()
        _audit_refusal("security.csrf", "CSRF 校验失败")
        if wants_json():
            return jsonify({"error": {"code": "csrf_failed", "message": "CSRF 校验失败，请刷新页面后重试"}}), 400
        return render_template("error.html", status=400, message="页面已过期或请求来源无效，请刷新后重试"), 400

    @app.errorhandler(HTTPException)
    def handle_http(err: HTTPException):
        db.session.rollback()
        if err.code == 403:
            _audit_refusal("security.denied", "越权访问被拒绝")
        code, message = _HTTP_MESSAGES.get(err.code or 500, ("http_error", err.description or "请求失败"))
        if wants_json():
            return jsonify({"error": {"code": code, "message": message}}), err.code
        return render_template("error.html", status=err.code, message=message), err.code

    @app.errorhandler(Exception)
    def handle_unexpected(err: Exception):
        db.session.rollback()
        app.logger.exception("unhandled error")
        if app.config.get("TESTING") and app.config.get("PROPAGATE_TEST_ERRORS", True):
            raise err
        if wants_json():
            return jsonify({"error": {"code": "internal_error", "message": "系统内部错误，请稍后重试"}}), 500
        return render_template("error.html", status=500, message="系统内部错误，请稍后重试"), 500
