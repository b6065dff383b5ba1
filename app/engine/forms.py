"""Forms are JSON Schema (draft 2020-12) plus `ui` hints; the server validates every submission.

Errors come back per field, in Chinese. Date keywords we add (docs/界面规范.md §4):
  "x-min-date": "today" | "YYYY-MM-DD"   not earlier than today (Asia/Shanghai) / that day
  "x-max-date": "today" | "YYYY-MM-DD"   not later than today / that day (a 发现日期 is never in the future)
  "x-after-data": {"data": "rectify_deadline", "label": "当前整改期限"}
                                          later than that date in the process data (an extension
                                          must move the deadline)
  "x-not-before-data": {"data": "found_on", "label": "发现日期"}
                                          not earlier than that date in the process data
The process data comes from the caller (`validate(…, context=)`); without it the two data rules
pass (a start form has no process data yet).
"""
from __future__ import annotations

from contextvars import ContextVar
from datetime import date

from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

from ..core.clock import today_local

_CONTEXT: ContextVar[dict] = ContextVar("form_context", default={})


def _day(value) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _bound(value) -> date:
    return today_local() if value == "today" else date.fromisoformat(value)


def _min_date(validator, value, instance, schema):
    day = _day(instance) if isinstance(instance, str) else None
    if day is None:
        return  # the format check reports it
    bound = _bound(value)
    if day < bound:
        what = f"今天（{bound.isoformat()}）" if value == "today" else bound.isoformat()
        yield ValidationError(f"日期不能早于{what}", validator="x-min-date")


def _max_date(validator, value, instance, schema):
    day = _day(instance) if isinstance(instance, str) else None
    if day is None:
        return
    bound = _bound(value)
    if day > bound:
        what = f"今天（{bound.isoformat()}）" if value == "today" else bound.isoformat()
        yield ValidationError(f"日期不能晚于{what}", validator="x-max-date")


def _data_date(value) -> tuple[date | None, str]:
    name, label = (value, value) if isinstance(value, str) else (value.get("data"), value.get("label") or value.get("data"))
    return _day(_CONTEXT.get().get(name)), label


def _after_data(validator, value, instance, schema):
    day = _day(instance) if isinstance(instance, str) else None
    bound, label = _data_date(value)
    if day is not None and bound is not None and day <= bound:
        yield ValidationError(f"须晚于{label}（{bound.isoformat()}）", validator="x-after-data")


def _not_before_data(validator, value, instance, schema):
    day = _day(instance) if isinstance(instance, str) else None
    bound, label = _data_date(value)
    if day is not None and bound is not None and day < bound:
        yield ValidationError(f"不能早于{label}（{bound.isoformat()}）", validator="x-not-before-data")


DATE_KEYWORDS = {"x-min-date": _min_date, "x-max-date": _max_date, "x-after-data": _after_data,
                 "x-not-before-data": _not_before_data}
FormValidator = validators.extend(Draft202012Validator, DATE_KEYWORDS)
FORMAT_CHECKER = FormatChecker()


def _message(error) -> str:
    v, arg = error.validator, error.validator_value
    if v in DATE_KEYWORDS:
        return error.message
    if v == "required":
        return "此项为必填项"
    if v == "minLength":
        return "此项为必填项" if arg == 1 else f"至少填写 {arg} 个字"
    if v == "maxLength":
        return f"最多填写 {arg} 个字"
    if v == "minimum":
        return f"不能小于 {arg}"
    if v == "maximum":
        return f"不能大于 {arg}"
    if v == "minItems":
        return "此项为必填项" if arg == 1 else f"至少需要 {arg} 项"
    if v == "maxItems":
        return f"最多 {arg} 项"
    if v in ("enum", "const"):
        return "请选择有效的选项"
    if v == "format":
        return {"date": "日期格式应为 YYYY-MM-DD", "date-time": "时间格式不正确",
                "email": "邮箱格式不正确"}.get(arg, "格式不正确")
    if v == "pattern":
        return error.schema.get("x-pattern-message", "格式不正确")
    if v == "type":
        return {"integer": "请填写整数", "number": "请填写数字", "string": "请填写文字",
                "array": "格式不正确", "boolean": "请选择是或否"}.get(arg if isinstance(arg, str) else "", "格式不正确")
    if v == "additionalProperties":
        return "包含未定义的字段"
    return "填写内容不符合要求"


def clean_data(schema: dict, data: dict) -> dict:
    """Drop empty strings so that optional fields may be left blank, and keep only declared fields."""
    props = schema.get("properties", {})
    cleaned = {}
    for key, value in (data or {}).items():
        if props and key not in props:
            continue
        if value == "" or value is None:
            continue
        cleaned[key] = value
    return cleaned


def validate(schema: dict, data: dict, context: dict | None = None) -> dict[str, str]:
    """Return {field: message}; empty means valid. Field '_form' holds form-level errors.
    `context`: the process data the date rules compare with (x-after-data, x-not-before-data)."""
    errors: dict[str, str] = {}
    validator = FormValidator(schema, format_checker=FORMAT_CHECKER)
    token = _CONTEXT.set(context or {})
    try:
        found = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
    finally:
        _CONTEXT.reset(token)
    for error in found:
        if error.validator == "required":
            missing = [f for f in error.validator_value if f not in (error.instance or {})]
            prefix = ".".join(str(p) for p in error.path)
            for name in missing:
                key = f"{prefix}.{name}" if prefix else name
                errors.setdefault(key, "此项为必填项")
            continue
        key = ".".join(str(p) for p in error.path if not isinstance(p, int)) or "_form"
        errors.setdefault(key, _message(error))
    return errors


def coerce(schema: dict, raw: dict) -> dict:
    """Turn HTML form strings into the types the schema asks for (integers, numbers, booleans)."""
    props = schema.get("properties", {})
    out = {}
    for key, value in raw.items():
        spec = props.get(key, {})
        kind = spec.get("type")
        try:
            if kind == "integer" and isinstance(value, str) and value.strip():
                value = int(value)
            elif kind == "number" and isinstance(value, str) and value.strip():
                value = float(value)
            elif kind == "boolean" and isinstance(value, str):
                value = value in ("1", "true", "on", "yes")
        except ValueError:
            pass  # left as a string: validation names the field
        out[key] = value
    return out


def date_bounds(spec: dict) -> tuple[str | None, str | None]:
    """The fixed (min, max) of a date field as ISO strings, for the page's date picker."""
    low, high = spec.get("x-min-date"), spec.get("x-max-date")
    return (_bound(low).isoformat() if low else None, _bound(high).isoformat() if high else None)


def ordered_fields(schema: dict) -> list[tuple[str, dict]]:
    props = schema.get("properties", {})
    order = schema.get("ui", {}).get("order") or list(props)
    return [(name, props[name]) for name in order if name in props]
