"""判定标准配置 (§4.3.5): the 47 GB 45067-2024 items as configured data. The regulation's text is never
edited here (verbatim reference data); what is configured is the cause class statistics group by, the
suggested measures, and whether new reports may choose the item. Every change is a new version with
who and when; hazards already reported keep the item they were reported under."""
from __future__ import annotations

import json

from flask import flash, g, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from ..core.clock import utcnow
from ..errors import Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..security.audit import audit
from .models import HazardCriterion, HazardCriterionVersion
from .services import _clause_key
from .blueprint import bp

EDITORS = ("province_supervisor", "process_admin")


def may_view(user) -> bool:
    return user.is_regulator or user.role in EDITORS


def may_edit(user) -> bool:
    return user.role in EDITORS


def snapshot(c: HazardCriterion) -> dict:
    return {"cause_class": c.cause_class, "suggested_measure": c.suggested_measure, "active": bool(c.active)}


def all_criteria(clause: str | None = None, state: str | None = None, cause: str | None = None) -> list[HazardCriterion]:
    rows = list(db.session.scalars(select(HazardCriterion)))
    if clause:
        rows = [c for c in rows if c.clause == clause]
    if state in ("active", "inactive"):
        rows = [c for c in rows if bool(c.active) == (state == "active")]
    if cause:
        rows = [c for c in rows if (c.cause_class or "none") == cause]
    return sorted(rows, key=_clause_key)


def history(criterion_id: str) -> list[HazardCriterionVersion]:
    return list(db.session.scalars(select(HazardCriterionVersion).where(
        HazardCriterionVersion.criterion_id == criterion_id).order_by(HazardCriterionVersion.version.desc())))


def update_criterion(user, criterion_id: str, raw: dict) -> list[str]:
    """Save a new version; returns the changed attributes' names (empty: nothing changed)."""
    if not may_edit(user):
        raise Forbidden("只有自治区局监察人员和流程管理员可以修改判定标准配置")
    criterion = db.session.get(HazardCriterion, criterion_id)
    if criterion is None:
        raise NotFound("判定项不存在")
    errors = {}
    cause = (raw.get("cause_class") or "").strip() or None
    if cause is not None and cause not in HazardCriterion.CAUSE_CLASSES:
        errors["cause_class"] = "请选择有效的原因类别"
    measure = (raw.get("suggested_measure") or "").strip() or None
    if measure and len(measure) > 2000:
        errors["suggested_measure"] = "建议措施不能超过 2000 字"
    active = str(raw.get("active", "")).lower() in ("1", "true", "on", "yes")
    if criterion.is_cross_reference and active:
        errors["active"] = "4.1 d) 是对 4.2～4.10 的引用条款，不能单独作为判定项启用"
    note = (raw.get("note") or "").strip()
    if len(note) < 2:
        errors["note"] = "请填写修改说明（至少 2 个字）"
    elif len(note) > 300:
        errors["note"] = "修改说明不能超过 300 字"
    if errors:
        raise ValidationFailed(errors)
    before = snapshot(criterion)
    after = {"cause_class": cause, "suggested_measure": measure, "active": active}
    labels = {"cause_class": "原因类别", "suggested_measure": "建议措施", "active": "启用状态"}
    changed = [labels[k] for k in after if before[k] != after[k]]
    if not changed:
        return []
    if not history(criterion.id):          # the reference-data state as version 1
        db.session.add(HazardCriterionVersion(criterion_id=criterion.id, version=criterion.version or 1,
                                              snapshot=json.dumps(before, ensure_ascii=False),
                                              summary="初始版本（GB 45067-2024 原文导入，未配置）",
                                              changed_by_id=None, changed_at=criterion.updated_at or utcnow()))
    criterion.cause_class, criterion.suggested_measure, criterion.active = cause, measure, active
    criterion.version = (criterion.version or 1) + 1
    criterion.updated_at, criterion.updated_by_id = utcnow(), user.id
    summary = f"修改{'、'.join(changed)}：{note}"[:500]
    db.session.add(HazardCriterionVersion(criterion_id=criterion.id, version=criterion.version,
                                          snapshot=json.dumps(after, ensure_ascii=False), summary=summary,
                                          changed_by_id=user.id, changed_at=criterion.updated_at))
    audit("config.change", f"判定标准配置 {criterion.citation} v{criterion.version}：{summary}"[:300],
          object_type="hazard_criterion", object_id=criterion.id, detail={"before": before, "after": after},
          actor=user)
    db.session.flush()
    return changed


def criterion_json(c: HazardCriterion) -> dict:
    return {"id": c.id, "citation": c.citation, "clause": c.clause, "item": c.item,
            "equipment_type": c.equipment_type, "lead_in": c.lead_in, "text": c.text,
            "cause_class": c.cause_class, "cause_label": c.cause_label, "suggested_measure": c.suggested_measure,
            "active": bool(c.active), "is_cross_reference": bool(c.is_cross_reference), "version": c.version or 1,
            "label": c.label}


@bp.route("/criteria")
@login_required
def criteria():
    if not may_view(current_user):
        raise Forbidden("只有监管人员和流程管理员可以查看判定标准配置")
    clause = request.args.get("clause") or None
    state = request.args.get("state") or None
    cause = request.args.get("cause") or None
    rows = all_criteria(clause, state, cause)
    clauses = sorted({(c.clause, c.equipment_type) for c in all_criteria()},
                     key=lambda x: tuple(int(p) for p in x[0].split(".")))
    return render_template("hazards/criteria.html", rows=rows, clauses=clauses, clause=clause, state=state,
                           cause=cause, causes=HazardCriterion.CAUSE_CLASSES, editable=may_edit(current_user),
                           total=len(rows))


@bp.route("/criteria/<criterion_id>", methods=["GET", "POST"])
@login_required
def criterion(criterion_id: str):
    if not may_view(current_user):
        raise Forbidden("只有监管人员和流程管理员可以查看判定标准配置")
    row = db.session.get(HazardCriterion, criterion_id)
    if row is None:
        raise NotFound("判定项不存在")
    errors, values = {}, {"cause_class": row.cause_class or "", "suggested_measure": row.suggested_measure or "",
                          "active": row.active, "note": ""}
    if request.method == "POST":
        values = {**request.form.to_dict(), "active": request.form.get("active") == "on"}
        try:
            changed = update_criterion(current_user, row.id, request.form.to_dict())
            db.session.commit()
        except ValidationFailed as err:
            db.session.rollback()
            errors = err.fields
        else:
            flash(f"{row.citation} 已保存为第 {row.version} 版：{'、'.join(changed)}" if changed else "内容没有变化，未保存新版本",
                  "success")
            return redirect(url_for("hazards.criterion", criterion_id=row.id))
    return render_template("hazards/criterion.html", c=row, versions=history(row.id), errors=errors, values=values,
                           causes=HazardCriterion.CAUSE_CLASSES, editable=may_edit(current_user),
                           used=_used_count(row.id)), (422 if errors else 200)


def _used_count(criterion_id: str) -> int:
    from sqlalchemy import func

    from .models import Hazard
    return db.session.scalar(select(func.count(Hazard.id)).where(Hazard.criterion_id == criterion_id)) or 0
