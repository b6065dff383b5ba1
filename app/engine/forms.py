"""Forms are JSON Schema (draft 2020-12) plus `ui` hints; the server validates every submission.

Errors come back per field, in Chinese. Extra keywords we support:
  "x-min-date": "today"   a date field may not be earlier than today (Asia/Shanghai)
"""
from __future__ import annotations

from datetime import date

from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

from ..core.clock import today_local


def _min_date(validator, value, instance, schema):
    if not isinstance(instance, str):
        return
    try:
        day = date.fromisoformat(instance)
    except ValueError:
        return  # the format check reports it
    bound = today_local() if value == "today" else date.fromisoformat(value)
    if day < bound:
        yield ValidationError(f"日期不能早于 {bound.isoformat()}", validator="x-min-date")


FormValidator = validators.extend(Draft202012Validator, {"x-min-date": _min_date})
FORMAT_CHECKER = FormatChecker()


def _message(error) -> str:
    v, arg = error.validator, error.validator_value
    if v == "x-min-date":
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


def validate(schema: dict, data: dict) -> dict[str, str]:
    """Return {field: message}; empty means valid. Field '_form' holds form-level errors."""
    errors: dict[str, str] = {}
    validator = FormValidator(schema, format_checker=FORMAT_CHECKER)
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.path)):
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


def ordered_fields(schema: dict) -> list[tuple[str, dict]]:
    props = schema.get("properties", {})
    order = schema.get("ui", {}).get("order") or list(props)
    return [(name, props[name]) for name in order if name in props]
