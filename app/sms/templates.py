"""Template text: `${name}` placeholders, rendering, validation and the seed data.

The gateway adds the signature (【广西市场监管】) itself, so template text never contains it;
the platform prepends the same 【签名】 to the stored content so the record reads like the handset.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..core.clock import utcnow
from ..errors import DomainError, ValidationFailed
from ..core.tx import savepoint
from ..extensions import db
from .models import CATEGORIES, TEMPLATE_AUDIENCES, SmsTemplate

SEED_FILE = Path(__file__).parent / "data" / "templates.json"
MAX_TEXT_LENGTH = 500
PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9_]{0,31})\}")
PROVIDER_CODE = re.compile(r"^[A-Za-z0-9_\-]{1,40}$")


def placeholders(text: str) -> list[str]:
    """Variable names in order of first use."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text or "")))


def text_errors(text: str, allowed: list[str]) -> list[str]:
    """Chinese messages for everything wrong with a template text; empty when it is usable."""
    text = text or ""
    if not text.strip():
        return ["短信正文不能为空"]
    errors = []
    if len(text) > MAX_TEXT_LENGTH:
        errors.append(f"短信正文不能超过 {MAX_TEXT_LENGTH} 个字（当前 {len(text)} 个字）")
    if text.lstrip().startswith("【"):
        errors.append("正文不要以【签名】开头：签名由短信网关按配置自动添加")
    rest = PLACEHOLDER.sub("", text)
    for match in re.finditer(r"\$\{[^}]*\}?|\$(?!\{)|(?<!\$)\{[^}]*\}", rest):
        errors.append(f"变量写法不正确：“{match.group(0)[:20]}”，应写作 ${{变量名}}，变量名以字母开头，只含字母、数字和下划线")
    for name in placeholders(text):
        if name not in allowed:
            hint = "签名由网关自动添加，不需要写入正文；" if name == "sign" else ""
            errors.append(f"未知变量 ${{{name}}}：{hint}本模板可用的变量为 "
                          + ("、".join(f"${{{n}}}" for n in allowed) or "（无）"))
    return errors


def render_text(text: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def signed(text: str) -> str:
    return f"【{current_app.config['SMS_SIGN_NAME']}】{text}"


def template_values(template: SmsTemplate, params: dict) -> dict[str, str]:
    """The declared variables as strings. Extra keys are ignored (callers pass a superset of
    case facts); a declared variable that is missing or blank is an error naming it."""
    params = params or {}
    values: dict[str, str] = {}
    missing = []
    for name in template.param_names:
        value = params.get(name)
        value = "" if value is None else str(value).strip()
        if not value:
            missing.append(name)
        values[name] = value
    undeclared = [n for n in placeholders(template.text) if n not in values]
    if missing or undeclared:
        fields = {f"params.{n}": f"缺少短信模板参数 {n}" for n in missing}
        fields.update({f"params.{n}": f"模板正文使用了未声明的变量 {n}" for n in undeclared})
        raise ValidationFailed(fields, f"短信模板 {template.code}（{template.name}）缺少参数："
                               + "、".join(missing + undeclared))
    return values


def render(template: SmsTemplate, params: dict) -> tuple[str, dict[str, str]]:
    """(content as the recipient reads it, the declared variables as strings)."""
    values = template_values(template, params)
    return signed(render_text(template.text, values)), values


def preview(template: SmsTemplate, text: str | None = None) -> str:
    """The text rendered with the template's sample values (for the edit page)."""
    samples = template.samples
    return signed(PLACEHOLDER.sub(lambda m: samples.get(m.group(1), m.group(0)), text or template.text))


# ---------------------------------------------------------------- seed

def seed_entries() -> list[dict]:
    with open(SEED_FILE, encoding="utf-8") as fh:
        entries = json.load(fh)["templates"]
    for entry in entries:
        problems = text_errors(entry["text"], list(entry["params"]))
        if entry["category"] not in CATEGORIES or entry["audience"] not in TEMPLATE_AUDIENCES or problems:
            raise ValueError(f"templates.json: {entry['code']}: {problems or 'bad category/audience'}")
    return entries


def ensure_templates() -> dict[str, int]:
    """Idempotent upsert of app/sms/data/templates.json; flushes, never commits.

    A new code is inserted. For an existing code the contract fields (category, audience,
    declared variables) always follow the file; the wording (name, text) follows it only while
    no administrator has edited the template (updated_by_id is NULL); provider_template_code,
    enabled and reviewed belong to the administrator and are never overwritten."""
    created = updated = 0
    existing = {t.code: t for t in db.session.scalars(select(SmsTemplate))}
    for entry in seed_entries():
        samples = json.dumps(entry["params"], ensure_ascii=False)
        template = existing.get(entry["code"])
        if template is None:
            db.session.add(SmsTemplate(code=entry["code"], name=entry["name"], category=entry["category"],
                                       audience=entry["audience"], text=entry["text"], sample_params=samples,
                                       provider_template_code=entry.get("provider_template_code"),
                                       enabled=True, reviewed=False, updated_at=utcnow()))
            created += 1
            continue
        wanted = {"category": entry["category"], "audience": entry["audience"], "sample_params": samples}
        if template.updated_by_id is None:
            wanted.update(name=entry["name"], text=entry["text"])
        changed = {k: v for k, v in wanted.items() if getattr(template, k) != v}
        if changed:
            for key, value in changed.items():
                setattr(template, key, value)
            updated += 1
    db.session.flush()
    _SNAPSHOTS.clear()
    return {"created": created, "updated": updated}


def get_template(code: str) -> SmsTemplate:
    """The template row; the seed is loaded on first use if it was never run on this database."""
    template = db.session.get(SmsTemplate, code)
    if template is None and any(e["code"] == code for e in seed_entries()):
        try:
            with savepoint():
                ensure_templates()
        except IntegrityError:
            pass  # another transaction seeded at the same moment: its rows are there now
        template = db.session.get(SmsTemplate, code)
    if template is None:
        raise DomainError(f"短信模板 {code} 不存在", code="sms_template_unknown")
    return template


# ---------------------------------------------------------------- administration

def validate_edit(template: SmsTemplate, form) -> tuple[dict, dict[str, str]]:
    """Clean values from the edit form and per-field Chinese errors (nothing is changed here)."""
    values = {"name": (form.get("name") or "").strip(), "text": (form.get("text") or "").replace("\r\n", "\n").strip(),
              "provider_template_code": (form.get("provider_template_code") or "").strip() or None,
              "enabled": form.get("enabled") in ("1", "on", "true"),
              "reviewed": form.get("reviewed") in ("1", "on", "true")}
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = "模板名称不能为空"
    elif len(values["name"]) > 64:
        errors["name"] = "模板名称不能超过 64 个字"
    problems = text_errors(values["text"], template.param_names)
    if problems:
        errors["text"] = "；".join(problems)
    code = values["provider_template_code"]
    if code and not PROVIDER_CODE.match(code):
        errors["provider_template_code"] = "网关模板编号只能包含字母、数字、下划线和短横线，最长 40 个字符（如 SMS_123456789）"
    return values, errors


def apply_edit(template: SmsTemplate, values: dict, user) -> None:
    for key, value in values.items():
        setattr(template, key, value)
    template.updated_by_id = user.id
    template.updated_at = utcnow()
    db.session.flush()
    _SNAPSHOTS.clear()


# Sending reads templates far more often than admins edit them: a process keeps a detached copy
# for a few seconds (an edit in this process clears it at once).
_SNAPSHOTS: dict[str, tuple[float, SmsTemplate]] = {}
SNAPSHOT_SECONDS = 10.0


def forget_snapshots() -> None:
    """Changes made to sms_template outside apply_edit/ensure_templates (SQL, tests) take effect
    in this process after SNAPSHOT_SECONDS, or at once after this call."""
    _SNAPSHOTS.clear()


def template_snapshot(code: str) -> SmsTemplate:
    """A detached, read-only copy of the template for rendering and sending."""
    now = time.monotonic()
    hit = _SNAPSHOTS.get(code)
    if hit is not None and now - hit[0] < SNAPSHOT_SECONDS:
        return hit[1]
    row = get_template(code)
    copy = SmsTemplate(**{column.key: getattr(row, column.key) for column in SmsTemplate.__table__.columns})
    _SNAPSHOTS[code] = (now, copy)
    return copy


def ordered_templates() -> list[SmsTemplate]:
    order = {key: n for n, key in enumerate(CATEGORIES)}
    rows = list(db.session.scalars(select(SmsTemplate)))
    return sorted(rows, key=lambda t: (order.get(t.category, len(order)), t.code))
