"""Input limits every request passes before a handler sees it (docs/安全设计.md 输入校验).

- Path ids: the `int` URL converter accepts 0 … 2^31-1 only (PostgreSQL `integer`, the type of every
  id column); a larger id matches no route and answers 404 instead of an overflow deep in a query.
- JSON bodies: at most JSON_MAX_BYTES (multipart uploads keep MAX_CONTENT_LENGTH), nested at most
  JSON_MAX_DEPTH levels, no lone UTF-16 surrogates (they cannot be stored) — 413 / 400 as JSON errors.
- /api/v1 calls are checked against the served OpenAPI document: query parameters declared with an
  `enum`, `integer` or `date` schema must hold such a value, and the top-level fields of a JSON body
  must have the declared JSON type (a list where text is expected is refused) — 422 with per-field
  messages, the same shape as every other validation error.

app/api/document.py adds the matching responses (400/413/422) to the operations these checks apply
to, so that the document lists every status a call can answer."""
from __future__ import annotations

import json
import re
from datetime import date

from flask import Flask, Request, current_app, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import IntegerConverter

from ..errors import DomainError, ValidationFailed
from .document import body_properties, checked_query_parameters, served_document

INT_MAX = 2**31 - 1          # PostgreSQL integer; every id column and every integer parameter
JSON_MAX_DEPTH = 32
_BAD_TEXT = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f]")


def digits_up_to(bound: int) -> str:
    """A regular expression for the decimal numbers 0 … bound, without leading zeros."""
    s = str(bound)
    alternatives = ["0"]
    if len(s) > 1:
        alternatives.append(r"[1-9]\d{0,%d}" % (len(s) - 2))     # every shorter number
    for i, ch in enumerate(s):                                   # same length, smaller at position i
        low, high = (1 if i == 0 else 0), int(ch) - 1
        if low <= high:
            rest = len(s) - i - 1
            alternatives.append(s[:i] + f"[{low}-{high}]" + (r"\d{%d}" % rest if rest else ""))
    alternatives.append(s)
    return "(?:" + "|".join(alternatives) + ")"


class BoundedIntConverter(IntegerConverter):
    """`<int:x>` limited to the range of an integer column. The limit is in the converter's regular
    expression, so a larger number matches no rule of any method: 404, never 405 from a sibling
    rule whose path matched before its value was converted."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):  # noqa: A002 - werkzeug's names
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=INT_MAX if max is None else max,
                         signed=signed)
        if not fixed_digits and not signed:
            self.regex = digits_up_to(self.max)


class JsonRefused(ValueError):
    """A JSON text that parses but is refused: too deeply nested or holding unstorable text."""


def _check_tree(value) -> None:
    """Nesting depth and text of a parsed JSON value, iteratively (no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if depth > JSON_MAX_DEPTH:
                raise JsonRefused(f"JSON 嵌套层数超过 {JSON_MAX_DEPTH} 层")
            for key, item in node.items():
                if _BAD_TEXT.search(key):
                    raise JsonRefused("JSON 中含有无效的 Unicode 字符")
                stack.append((item, depth + 1))
        elif isinstance(node, list):
            if depth > JSON_MAX_DEPTH:
                raise JsonRefused(f"JSON 嵌套层数超过 {JSON_MAX_DEPTH} 层")
            stack.extend((item, depth + 1) for item in node)
        elif isinstance(node, str) and _BAD_TEXT.search(node):
            raise JsonRefused("JSON 中含有无效的 Unicode 字符")


class GuardedJSONProvider(DefaultJSONProvider):
    """Parsing that never raises RecursionError and refuses what _check_tree refuses."""

    def loads(self, s, **kwargs):
        try:
            value = json.loads(s, **kwargs)
        except RecursionError:
            raise JsonRefused(f"JSON 嵌套层数超过 {JSON_MAX_DEPTH} 层") from None
        _check_tree(value)
        return value


class GuardedRequest(Request):
    def on_json_loading_failed(self, e):
        if isinstance(e, JsonRefused):
            raise DomainError(str(e), code="bad_json")
        return super().on_json_loading_failed(e)


# ------------------------------------------------------------------ checks against the API document

_TYPE_NAMES = {"string": "文本", "integer": "整数", "number": "数字", "boolean": "布尔值 true/false",
               "array": "数组", "object": "JSON 对象"}


def _template(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-zA-Z_][a-zA-Z0-9_]*)>", r"{\1}", rule)


def query_error(schema: dict, value: str) -> str | None:
    if "enum" in schema:
        allowed = [str(v) for v in schema["enum"]]
        if value not in allowed:
            return "取值无效，可选：" + "、".join(allowed)
        return None
    if schema.get("type") == "integer":
        if not re.fullmatch(r"-?\d{1,12}", value.strip()):
            return "应为整数"
        number = int(value)
        if not -INT_MAX - 1 <= number <= INT_MAX:
            return "数值超出范围"
        return None
    if schema.get("format") == "date" and value != "":
        try:
            date.fromisoformat(value)
        except ValueError:
            return "日期格式应为 YYYY-MM-DD"
    return None


def _int_out_of_range(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        value = int(value)
    return isinstance(value, int) and not -INT_MAX - 1 <= value <= INT_MAX


def type_error(schema: dict, value) -> str | None:
    """The declared JSON type of a body field against the value. Text, arrays and objects must be
    what they say (handlers call string and list methods on them); an integer field is left to its
    handler's own message, except a number beyond the integer column range (or such a number in an
    array of integers). null is left to the handler."""
    kind = schema.get("type")
    if value is None or kind is None:
        return None
    expected = {"string": str, "array": list, "object": dict}.get(kind)
    if expected is not None and not isinstance(value, expected):
        return f"应为{_TYPE_NAMES[kind]}"
    if kind == "integer" and _int_out_of_range(value):
        return "数值超出范围"
    if kind == "array" and schema.get("items", {}).get("type") == "integer" \
            and any(_int_out_of_range(v) for v in value):
        return "数值超出范围"
    return None


def _operation_key():
    rule = request.url_rule
    if rule is None:
        return None
    return _template(rule.rule), request.method.lower()


_CHECKS: dict[tuple[str, str], tuple[dict, dict]] = {}


def _checks_for(key: tuple[str, str]) -> tuple[dict, dict]:
    """The query parameters and body fields the guard checks for an operation (the served document
    does not change while the process runs)."""
    if key not in _CHECKS:
        doc = served_document()
        _CHECKS[key] = (checked_query_parameters(doc, *key), body_properties(doc, *key))
    return _CHECKS[key]


def check_request() -> None:
    """The before-request hook: body size, JSON depth, and for /api/v1 the document's parameter types."""
    limit = current_app.config["JSON_MAX_BYTES"]
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.mimetype != "multipart/form-data":
        if request.content_length is not None and request.content_length > limit:
            raise DomainError(f"请求体超过 {limit // 1024} KB 上限（上传文件请使用 multipart/form-data）",
                              code="payload_too_large", status=413)
        request.max_content_length = limit        # a body without Content-Length stops there too
        if request.is_json and request.content_length:
            try:
                request.get_json()                # parsed once here (cached for the handler)
            except DomainError:
                raise
            except Exception:   # malformed JSON: each handler answers it in its own documented way
                pass
    if request.mimetype == "multipart/form-data" and request.method in ("POST", "PUT", "PATCH"):
        # Werkzeug names a part whose header it cannot read None (e.g. a CR in the field name)
        names = list(request.form.keys()) + list(request.files.keys())
        if any(name is None or _CONTROL.search(name) for name in names):
            raise DomainError("表单字段名无效", code="bad_request")
    if not request.path.startswith("/api/"):
        return
    key = _operation_key()
    if key is None:
        return
    query_params, body_props = _checks_for(key)
    errors = {}
    for name, schema in query_params.items():
        for value in request.args.getlist(name):
            message = query_error(schema, value)
            if message:
                errors[name] = message
    if request.is_json and request.content_length:
        body = request.get_json(silent=True)
        if isinstance(body, dict):
            for name, schema in body_props.items():
                if name in body:
                    message = type_error(schema, body[name])
                    if message:
                        errors[name] = message
    if errors:
        raise ValidationFailed(errors)


def init_app(app: Flask) -> None:
    """Before any blueprint registers its routes (the converter is bound when a rule is added)."""
    app.config.setdefault("JSON_MAX_BYTES", 1024 * 1024)
    app.url_map.converters["int"] = BoundedIntConverter
    app.json = GuardedJSONProvider(app)
    app.request_class = GuardedRequest
    app.before_request(check_request)
