"""What a task page shows above its form so the person can judge: the earlier submissions and case
data the step's form declares (`ui.review`), and why the step is being done again.

A form declares its review panel as a list of sections:

    "ui": {"review": [{"title": "延期申请", "step": "rectify",
                       "fields": ["requested_deadline", "extension_reason"],
                       "data": {"rectify_deadline": "当前整改期限"}}]}

`step` is a user task id of the same process: its latest submission in this case is shown, each
field labelled and formatted by that step's own form (options by their names, dates, attachments
as links); `fields` picks and orders them (default: every filled field). `data` adds process
variables with their labels. Declared in the form, so any process gets the panel without code."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import select

from ..core.models import Attachment
from ..engine.registry import version_forms
from ..extensions import db
from .models import CaseEvent, Task
from .services import step_outcome


@dataclass
class Fact:
    label: str
    value: object = None                  # text, or None when the value is a list of attachments
    attachments: list = field(default_factory=list)
    multiline: bool = False


@dataclass
class ReviewSection:
    title: str
    facts: list[Fact]
    source: str | None = None             # the step and who submitted it
    source_at: object = None              # when


def _latest(case_id: int, task_def: str) -> Task | None:
    return db.session.scalar(select(Task).where(Task.case_id == case_id, Task.task_def == task_def,
                                                Task.status == "completed")
                             .order_by(Task.completed_at.desc(), Task.id.desc()).limit(1))


def _format(spec: dict, value, attachments: dict) -> Fact:
    label = spec.get("title", "")
    if spec.get("ui:widget") == "files":
        return Fact(label, attachments=[attachments[i] for i in value if i in attachments])
    if spec.get("enum"):
        names = dict(zip(spec["enum"], spec.get("ui:enumNames") or spec["enum"]))
        if isinstance(value, list):
            return Fact(label, "、".join(str(names.get(v, v)) for v in value))
        return Fact(label, names.get(value, value))
    if isinstance(value, list):
        return Fact(label, "、".join(str(v) for v in value))
    return Fact(label, value, multiline=spec.get("ui:widget") == "textarea")


def review_sections(task: Task) -> list[ReviewSection]:
    case = task.case
    forms = version_forms(case.process_version)
    declared = (forms.get(task.form_key or "", {}).get("ui") or {}).get("review") or []
    if not declared:
        return []
    data = None
    sections = []
    for section in declared:
        facts: list[Fact] = []
        if section.get("data"):
            if data is None:
                from ..engine.runtime import task_data
                data = task_data(task) if task.status == "open" else {}
            facts += [Fact(label, data.get(name)) for name, label in section["data"].items()
                      if data.get(name) not in (None, "")]
        step = section.get("step")
        if step:
            done = _latest(case.id, step)
            if done is not None and done.data:
                submitted = json.loads(done.data)
                schema = forms.get(done.form_key or "", {})
                props = schema.get("properties", {})
                names = section.get("fields") or [n for n in (schema.get("ui") or {}).get("order") or props]
                att_ids = [i for n in names if props.get(n, {}).get("ui:widget") == "files"
                           for i in submitted.get(n) or []]
                atts = {a.id: a for a in db.session.scalars(
                    select(Attachment).where(Attachment.id.in_(att_ids), Attachment.case_id == case.id))} \
                    if att_ids else {}
                facts += [_format(props.get(n, {"title": n}), submitted[n], atts)
                          for n in names if submitted.get(n) not in (None, "", [])]
                who = done.completed_by.display_name if done.completed_by else ""
                sections.append(ReviewSection(section.get("title") or done.name, facts,
                                              f"{done.name} · {who}", done.completed_at))
                continue
        if facts:
            sections.append(ReviewSection(section.get("title") or "", facts))
    return sections


def rework_reason(task: Task) -> dict | None:
    """When this step is being done again: the decision that sent it back (a 退回, or a later step's
    negative decision such as 复核不通过) with its reason, for the top of the form."""
    if task.status != "open":
        return None
    previous = _latest(task.case_id, task.task_def)
    if previous is None:
        return None
    events = list(db.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == task.case_id, CaseEvent.at >= previous.completed_at,
                                CaseEvent.kind.in_(("completed", "returned")))
        .order_by(CaseEvent.seq.desc())))
    forms = version_forms(task.case.process_version)
    form_keys = dict(db.session.execute(select(Task.task_def, Task.form_key)
                                        .where(Task.case_id == task.case_id).distinct()).all())
    for event in events:
        if event.kind == "returned":
            return None      # the 退回 banner (review/_task_review.html) shows it with the field notes
        if event.task_def == task.task_def:
            break
        outcome = step_outcome(forms.get(form_keys.get(event.task_def) or "", {}),
                               json.loads(event.data) if event.data else None)
        if outcome and outcome["tone"] == "fail":
            return {"step": event.step_name, "outcome": outcome["label"], "reason": event.comment,
                    "actor": event.actor.display_name if event.actor else "系统", "at": event.at}
    return None
