"""Saved filters (常用筛选) and bulk actions (批量签收/转办/审批/退回) of the inbox.

Saved filters store only the inbox query args; their counts run `inbox_query` in the viewer's own
scope. Bulk actions call the normal engine / taskops services item by item, each item in its own
transaction (committed when done, rolled back when refused), so every item is audited on its case
timeline exactly as a single action would be, and a refused item leaves nothing behind."""
from __future__ import annotations

import json

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import MultiDict

from ..cases import services as case_services
from ..cases.models import Task
from ..core.models import User
from ..core.roles import is_regulator
from ..engine import runtime
from ..errors import DomainError, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..taskops import services as taskops
from .models import SavedFilter

FILTER_KEYS = ("box", "process", "status", "region", "warning", "overdue", "due_within", "q", "sort", "read")
NAME_MAX = 40
MAX_FILTERS = 50
BULK_MAX = 100
BULK_ACTIONS = {"claim": "签收", "transfer": "转办", "approve": "审批", "return": "退回"}
OPINION_LABELS = {"approve": "审批意见", "transfer": "转办意见", "return": "退回理由"}


# ---------------------------------------------------------------- saved filters

def clean_args(raw) -> dict:
    """Keep the inbox args that define a filter (never page/per_page), normalised by InboxFilter."""
    raw = raw if hasattr(raw, "get") else {}
    f = case_services.InboxFilter.from_args(MultiDict({k: str(raw.get(k)) for k in FILTER_KEYS
                                                       if raw.get(k) not in (None, "", False)}))
    args = {"box": f.box, "process": f.process, "status": f.status, "region": f.region, "warning": f.warning,
            "overdue": "1" if f.overdue else None, "due_within": str(f.due_within) if f.due_within else None,
            "q": f.q, "sort": f.sort if f.sort != "due" else None, "read": f.read}
    return {k: v for k, v in args.items() if v}


def visible_filters_condition(user: User):
    own = SavedFilter.owner_id == user.id
    by_role = and_(SavedFilter.shared_with == "role", SavedFilter.share_role == user.role)
    conds = [own, by_role]
    if is_regulator(user.role):
        # shared with a region: regulators whose region lies inside the sharer's jurisdiction
        conds.append(and_(SavedFilter.shared_with == "region",
                          func.substr(user.region_code, 1, func.length(SavedFilter.share_region))
                          == SavedFilter.share_region))
    return or_(*conds)


def visible_filters(user: User) -> list[SavedFilter]:
    return list(db.session.scalars(select(SavedFilter).where(visible_filters_condition(user))
                                   .order_by((SavedFilter.owner_id != user.id), SavedFilter.name, SavedFilter.id)))


def filter_args(row: SavedFilter) -> dict:
    try:
        data = json.loads(row.args)
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


def _inbox_filter(row: SavedFilter):
    return case_services.InboxFilter.from_args(MultiDict(filter_args(row)))


def filter_count(user: User, row: SavedFilter) -> int:
    query = case_services.inbox_query(user, _inbox_filter(row)).order_by(None)
    return db.session.scalar(select(func.count()).select_from(query.subquery())) or 0


def filters_with_counts(user: User) -> list[dict]:
    """Each visible filter with its count in the viewer's scope: the 待办 filters together in one
    statement (case_services.todo_filter_counts), the others one by one."""
    rows = visible_filters(user)
    todo = [(row.id, f) for row in rows if (f := _inbox_filter(row)).box == "todo"]
    counts = dict(zip((row_id for row_id, _ in todo),
                      case_services.todo_filter_counts(user, [f for _, f in todo])))
    return [{"filter": row, "args": filter_args(row),
             "count": counts[row.id] if row.id in counts else filter_count(user, row),
             "own": row.owner_id == user.id} for row in rows]


def create_filter(user: User, name, args, shared_with) -> SavedFilter:
    errors = {}
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        errors["name"] = "请填写筛选名称"
    elif len(name) > NAME_MAX:
        errors["name"] = f"筛选名称不能超过 {NAME_MAX} 个字"
    elif db.session.scalar(select(SavedFilter.id).where(SavedFilter.owner_id == user.id,
                                                        SavedFilter.name == name)):
        errors["name"] = f"您已有名为“{name}”的常用筛选，请换一个名称"
    shared_with = shared_with or "none"
    if shared_with not in ("none", "role", "region"):
        errors["shared_with"] = "共享范围只能是：仅自己、同角色、本辖区"
    elif shared_with == "region" and not user.is_regulator:
        errors["shared_with"] = "只有监管人员可以共享给本辖区"
    cleaned = clean_args(args)
    if set(cleaned) <= {"box"}:
        errors["args"] = "当前没有任何筛选条件，请先设置条件再保存"
    if not errors and db.session.scalar(select(func.count(SavedFilter.id))
                                        .where(SavedFilter.owner_id == user.id)) >= MAX_FILTERS:
        errors["name"] = f"每人最多保存 {MAX_FILTERS} 个常用筛选，请先删除不用的"
    if errors:
        raise ValidationFailed(errors)
    row = SavedFilter(owner_id=user.id, name=name, args=json.dumps(cleaned, ensure_ascii=False, sort_keys=True),
                      shared_with=shared_with, share_role=user.role if shared_with == "role" else None,
                      share_region=user.scope_prefix if shared_with == "region" else None)
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:   # the same name saved twice at once
        db.session.rollback()
        raise ValidationFailed({"name": f"您已有名为“{name}”的常用筛选，请换一个名称"}) from None
    return row


def delete_filter(user: User, filter_id: int) -> None:
    row = db.session.get(SavedFilter, filter_id)
    if row is None or not db.session.scalar(select(SavedFilter.id).where(SavedFilter.id == filter_id,
                                                                         visible_filters_condition(user))):
        raise NotFound("常用筛选不存在")
    if row.owner_id != user.id:
        raise Forbidden("只能删除自己保存的常用筛选")
    db.session.delete(row)
    db.session.flush()


# ---------------------------------------------------------------- bulk actions

def decision_field(schema: dict) -> tuple[str, list[tuple[str, str]]] | None:
    """A "decision + opinion" form: exactly one required enum field (the decision), an `opinion`
    text field, and no other field required up front. Returns the field and its (value, label)s."""
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    enums = [k for k in required if isinstance(props.get(k), dict) and props[k].get("enum")]
    if len(enums) != 1 or "opinion" not in props or required - {enums[0], "opinion"}:
        return None
    field = enums[0]
    values = props[field]["enum"]
    names = props[field].get("ui:enumNames") or values
    return field, list(zip(values, names))


def _field_titles(schema: dict, fields: dict) -> str:
    props = schema.get("properties") or {}
    return "、".join(props.get(k, {}).get("title", k) if isinstance(props.get(k), dict) else k for k in fields)


def approve_options(tasks: list[Task]) -> list[dict]:
    """The decision values offered by the selectable tasks' forms, with how many tasks offer each."""
    seen: dict[str, dict] = {}
    for task in tasks:
        found = decision_field(runtime.task_form_schema(task))
        if found:
            for value, label in found[1]:
                entry = seen.setdefault(value, {"value": value, "labels": [], "tasks": 0})
                if label not in entry["labels"]:
                    entry["labels"].append(label)
                entry["tasks"] += 1
    return list(seen.values())


def _approve(task: Task, user: User, decision: str, opinion: str) -> None:
    schema = runtime.task_form_schema(task)
    found = decision_field(schema)
    if found is None:
        raise ValidationFailed({"decision": "该环节的表单不只是“结论+意见”，需要逐件打开办理"})
    field, options = found
    if decision not in [v for v, _ in options]:
        labels = "、".join(label for _, label in options)
        raise ValidationFailed({"decision": f"该环节没有所选结论（可选：{labels}），需要逐件办理"})
    try:
        runtime.complete_task(task.id, user, {field: decision, "opinion": opinion})
    except ValidationFailed as err:
        raise ValidationFailed({"form": f"表单还需填写：{_field_titles(schema, err.fields)}（"
                                        + "；".join(str(m) for m in err.fields.values()) + "）"}) from None


def _return(task: Task, user: User, reason: str) -> str:
    """退回 to the previous user step (the nearest target of app/review). Everything that makes a
    return impossible (no earlier step, a multi-instance step, a joined or still running parallel
    branch, not the holder) is refused by review.return_task with its reason. Returns the step name."""
    from ..review import services as review
    options = review.return_options(task)["targets"]
    record = review.return_task(task.id, user, options[0]["bpmn_id"] if options else None, reason)
    return record.target_name


def item_opinions(task_ids, raw) -> dict[int, str]:
    """Per-item opinions {task id: text} (blank ones dropped); `raw` maps ids (int or str) to text."""
    wanted = set()
    for value in task_ids if isinstance(task_ids, list) else []:
        try:
            wanted.add(int(value))
        except (TypeError, ValueError):
            pass
    out = {}
    for key, text in (raw.items() if isinstance(raw, dict) else []):
        try:
            task_id = int(key)
        except (TypeError, ValueError):
            continue
        text = text.strip() if isinstance(text, str) else ""
        if text and task_id in wanted:
            out[task_id] = text
    return out


def _reason(err: DomainError) -> str:
    if isinstance(err, ValidationFailed) and err.fields:
        return "；".join(str(m) for m in err.fields.values())
    return err.message


def bulk(user: User, action: str, task_ids, *, decision=None, opinion=None, target=None,
         opinions=None) -> list[dict]:
    """Run `action` on every task; returns one row per task: done, or refused with the reason.
    `opinion` is shared by all items; `opinions` ({task id: text}) overrides it per item (审批意见,
    转办意见, 退回理由). Commits each done item; the caller needs no commit."""
    errors = {}
    if action not in BULK_ACTIONS:
        errors["action"] = "请选择批量操作：签收、转办、审批或退回"
    ids = []
    for raw in task_ids if isinstance(task_ids, list) else []:
        try:
            ids.append(int(raw))
        except (TypeError, ValueError):
            pass
    ids = list(dict.fromkeys(ids))
    if not ids:
        errors["task_ids"] = "请至少勾选一条待办"
    elif len(ids) > BULK_MAX:
        errors["task_ids"] = f"一次最多批量处理 {BULK_MAX} 条"
    opinion = opinion.strip() if isinstance(opinion, str) else ""
    own = item_opinions(ids, opinions) if action in OPINION_LABELS else {}
    if action == "approve" and (not decision or not isinstance(decision, str)):
        errors["decision"] = "请选择审批结论"
    if action == "transfer" and target in (None, ""):
        errors["target"] = "请选择转办给谁"
    if action in OPINION_LABELS:
        label = OPINION_LABELS[action]
        if (not ids or set(ids) - set(own)) and len(opinion) < 2:
            errors["opinion"] = f"请填写{label}（至少 2 个字），将用于所有未单独填写意见的任务"
        elif len(opinion) > 1000:
            errors["opinion"] = f"{label}不能超过 1000 个字"
        for task_id, text in own.items():
            if not 2 <= len(text) <= 1000:
                errors[f"opinion_{task_id}"] = f"任务 #{task_id} 单独填写的{label}须为 2–1000 个字"
    if errors:
        raise ValidationFailed(errors)
    user_id = user.id
    rows = []
    for task_id in ids:
        text = own.get(task_id, opinion) if action in OPINION_LABELS else None
        row = {"task_id": task_id, "case_id": None, "case_no": None, "name": None, "status": "refused",
               "reason": None, "opinion": text, "detail": None}
        try:
            task = case_services.visible_task(user, task_id)
            row.update(case_no=task.case.case_no, name=task.name, case_id=task.case_id)
            if action == "claim":
                taskops.claim(task, user)
            elif action == "transfer":
                taskops.transfer_task(task.id, user, target, text)
            elif action == "return":
                row["detail"] = f"退回至【{_return(task, user, text)}】"
            else:
                _approve(task, user, decision, text)
            db.session.commit()
            row.update(status="done", reason=None)
        except DomainError as err:
            db.session.rollback()
            row.update(reason=_reason(err), detail=None)
        user = db.session.get(User, user_id)   # fresh after a rollback
        rows.append(row)
    return rows


def page_extras(user: User, f, items: list, saved_filters: list[dict]) -> dict:
    """What the inbox page adds around the list: saved filter chips (`saved_filters`, from
    filters_with_counts), the bulk-action panel (待办)."""
    extras = {"saved_filters": saved_filters, "filter_args": clean_args(_filter_dict(f)),
              "bulk_options": [], "bulk_targets": []}
    if f.box == "todo" and items:
        extras["bulk_options"] = approve_options(items)
        people, seen = {}, set()
        for task in items:
            post = (task.candidate_role, task.candidate_region, task.candidate_org_id)
            if post not in seen and taskops.may_hold(user, task):   # one query per post, not per row
                seen.add(post)
                for person in taskops.eligible_people(task, exclude={user.id}):
                    people[person.id] = person
        extras["bulk_targets"] = sorted(people.values(), key=lambda p: p.username)
    return extras


def _filter_dict(f) -> dict:
    return {"box": f.box, "process": f.process, "status": f.status, "region": f.region, "warning": f.warning,
            "overdue": "1" if f.overdue else None, "due_within": f.due_within, "q": f.q, "sort": f.sort,
            "read": f.read}


# Two shared examples seeded for the province bureau (real queries, counted in each viewer's scope).
EXAMPLES = (("本辖区红色预警", {"box": "todo", "warning": "red", "sort": "warning"}),
            ("本周到期", {"box": "todo", "due_within": "7"}))


def seed_examples(owner_username: str = "gx_province") -> int:
    """Idempotent: adds the examples the owner does not have yet, shared with the owner's region."""
    owner = db.session.scalar(select(User).where(User.username == owner_username))
    if owner is None:
        return 0
    added = 0
    for name, args in EXAMPLES:
        if not db.session.scalar(select(SavedFilter.id).where(SavedFilter.owner_id == owner.id,
                                                              SavedFilter.name == name)):
            create_filter(owner, name, args, "region")
            added += 1
    return added
