"""Mobile equipment transfer (移动式设备交接, §4.5.9): the start hook, the functions the BPMN
calls, the data scope, editing while pending and the batch actions shared by page and API.

Rules (docs/移动式设备交接.md):
- The property unit (产权单位, the equipment's use_org) applies for its own movable, in-use
  devices, all currently under the same supervising county, to move to another county.
- The case's region is the *target* county, so the review lands with the receiving bureau.
  The original bureau sees the application in 设备迁移管理 (scope: from_region OR to_region)
  and is notified of the decision (timeline + SMS).
- Approval moves each device's region_code (current supervising authority); its
  registered_region_code (original registering authority) never changes.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import false, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from ..cases.escalation import regulators_at
from ..cases.models import Case, Task
from ..cases.widgets import option_provider
from ..core.clock import local_day_start, to_local, utcnow
from ..core.models import Equipment, Organization, Region, User
from ..core.params import contains, date_arg, int_arg, text_arg
from ..core.regions import office_name, region_full_name, region_level, region_prefix
from ..core.roles import role_label
from ..core.scope import is_candidate
from ..core.tx import savepoint
from ..engine import assignment, runtime
from ..engine.registry import version_forms
from ..engine.services import (
    ServiceContext,
    StartContext,
    case_facts,
    case_panel,
    case_row,
    service,
    start_hook,
)
from ..errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from .models import EquipmentTransfer, TransferItem

PROCESS_KEY = "equipment_transfer"
START_FORM = "apply"
REVIEW_TASK = "review"
SMS_TEMPLATE = "EQUIP_TRANSFER_OUT"
MAX_BATCH = 200
ORIGIN_ROLES = {"county": "county_supervisor", "city": "city_supervisor", "province": "province_supervisor"}


# ---------------------------------------------------------------- regions

def county_options() -> list[tuple[str, str]]:
    """Every county-level unit of Guangxi (the target of a transfer is a county bureau)."""
    cities = {r.code: r.name for r in db.session.scalars(select(Region).where(Region.level == "city"))}
    rows = db.session.scalars(select(Region).where(Region.level == "county").order_by(Region.code))
    return [(r.code, cities.get(r.parent_code or "", "") + r.name) for r in rows]


def all_region_options() -> list[tuple[str, str]]:
    """Cities and their counties, for the original / new agency filters of 设备迁移管理
    (a bureau searches for the other side of its transfers too)."""
    rows = db.session.scalars(select(Region).where(Region.level != "province").order_by(Region.code))
    return [(r.code, ("　" if r.level == "county" else "") + r.name) for r in rows]


# ---------------------------------------------------------------- scope and lookups

def transfer_scope(user: User):
    """Regulators: the devices leave (from_region) or enter (to_region) their region.
    Enterprises: their own applications (property unit). Others: nothing."""
    if user.is_regulator:
        prefix = user.scope_prefix
        return or_(EquipmentTransfer.from_region.startswith(prefix, autoescape=True),
                   EquipmentTransfer.to_region.startswith(prefix, autoescape=True))
    if user.is_enterprise and user.org_id:
        return EquipmentTransfer.property_org_id == user.org_id
    return false()


def visible_transfer(user: User, transfer_id: int) -> EquipmentTransfer:
    transfer = db.session.scalar(select(EquipmentTransfer).where(
        EquipmentTransfer.id == transfer_id, EquipmentTransfer.deleted_at.is_(None), transfer_scope(user)))
    if transfer is None:
        raise NotFound("迁移申请不存在或不在您的查看范围内")
    return transfer


def transfer_for_case(case: Case) -> EquipmentTransfer | None:
    return db.session.scalar(select(EquipmentTransfer).where(EquipmentTransfer.case_id == case.id))


def review_task(transfer: EquipmentTransfer) -> Task | None:
    return db.session.scalar(select(Task).where(Task.case_id == transfer.case_id, Task.status == "open",
                                                Task.task_def == REVIEW_TASK))


def _pending_elsewhere(equipment_ids: list[int], transfer_id: int | None) -> dict[int, str]:
    """{equipment id: application number} of pending applications other than transfer_id."""
    if not equipment_ids:
        return {}
    query = (select(TransferItem.pending_equipment_id, EquipmentTransfer.transfer_no)
             .join(EquipmentTransfer, TransferItem.transfer_id == EquipmentTransfer.id)
             .where(TransferItem.pending_equipment_id.in_(equipment_ids)))
    if transfer_id is not None:
        query = query.where(TransferItem.transfer_id != transfer_id)
    return dict(db.session.execute(query).all())


def movable_candidates(user: User, transfer: EquipmentTransfer | None = None) -> list[Equipment]:
    """The unit's movable, in-use devices that are not in another pending application
    (those of `transfer` itself stay selectable while it is edited)."""
    if not (user.is_enterprise and user.org_id):
        return []
    busy = select(TransferItem.pending_equipment_id).where(TransferItem.pending_equipment_id.is_not(None))
    if transfer is not None:
        busy = busy.where(TransferItem.transfer_id != transfer.id)
    return list(db.session.scalars(
        select(Equipment).options(joinedload(Equipment.category))
        .where(Equipment.use_org_id == user.org_id, Equipment.movable.is_(True), Equipment.status == "in_use",
               Equipment.id.not_in(busy))
        .order_by(Equipment.code)))


def equipment_label(e: Equipment) -> str:
    return f"{e.name}（{e.code}）· {e.category.name} · 现属{region_full_name(e.region_code)}"


@option_provider("transfer_equipment")
def _equipment_widget(user) -> list[tuple[str, str]]:
    return [(e.code, equipment_label(e)) for e in movable_candidates(user)]


@option_provider("county_region")
def _county_widget(_user) -> list[tuple[str, str]]:
    return county_options()


# ---------------------------------------------------------------- validation shared by start and edit

def validate_application(user: User, codes, to_region, transfer: EquipmentTransfer | None = None
                         ) -> tuple[list[Equipment], str, str]:
    """Business checks of an application (the form schema has checked types and lengths).
    Returns (devices, from_region, to_region) or raises ValidationFailed with Chinese messages."""
    if not (user.is_enterprise and user.org_id):
        raise Forbidden("只有产权单位（企业用户）可以申请设备迁移")
    errors: dict[str, str] = {}
    wanted = list(dict.fromkeys(str(c).strip() for c in (codes or []) if str(c).strip()))
    found = {e.code: e for e in db.session.scalars(select(Equipment).options(joinedload(Equipment.category))
                                                   .where(Equipment.code.in_(wanted)))} if wanted else {}
    problems: list[str] = []
    devices: list[Equipment] = []
    for code in wanted:
        e = found.get(code)
        if e is None or e.use_org_id != user.org_id:
            problems.append(f"设备 {code} 不存在或不是本单位的设备")
        elif not e.movable:
            problems.append(f"设备 {code}（{e.category.name}）不是移动式设备，不能办理迁移")
        elif e.status != "in_use":
            problems.append(f"设备 {code} 当前状态为{e.status_label}，只有在用设备可以办理迁移")
        else:
            devices.append(e)
    busy = _pending_elsewhere([e.id for e in devices], transfer.id if transfer else None)
    for e in devices:
        if e.id in busy:
            problems.append(f"设备 {e.code} 已有待审核的迁移申请（{busy[e.id]}），不能重复申请")
    if not wanted:
        errors["equipment_codes"] = "此项为必填项"
    elif problems:
        errors["equipment_codes"] = "；".join(problems)
    from_regions = sorted({e.region_code for e in devices})
    if not problems and len(from_regions) > 1:
        errors["equipment_codes"] = ("所选设备当前属于不同的监察机构（" + "、".join(region_full_name(r) for r in from_regions)
                                     + "），请按原监察机构分别申请")
    target = db.session.get(Region, str(to_region or ""))
    if target is None or target.level != "county":
        errors["to_region"] = "请选择广西的区县"
    elif len(from_regions) == 1 and target.code == from_regions[0]:
        errors["to_region"] = f"迁入地与设备当前的监察机构相同（{region_full_name(target.code)}），无需变更"
    if errors:
        raise ValidationFailed(errors)
    return devices, from_regions[0], target.code


def _title(org_name: str, devices: list[Equipment], from_region: str, to_region: str) -> str:
    what = devices[0].name if len(devices) == 1 else f"{devices[0].name}等{len(devices)}台设备"
    return f"{org_name} {what}由{region_full_name(from_region)}迁至{region_full_name(to_region)}"


@start_hook(PROCESS_KEY)
def prepare_application(user: User, data: dict) -> StartContext:
    devices, from_region, to_region = validate_application(user, data.get("equipment_codes"), data.get("to_region"))
    return StartContext(
        title=_title(user.org.name, devices, from_region, to_region),
        region_code=to_region,             # the receiving county bureau reviews (lane county_supervisor)
        org_id=user.org_id,
        equipment_id=devices[0].id if len(devices) == 1 else None,
        extra_data={"property_org_id": user.org_id, "from_region": from_region,
                    "equipment_ids": [e.id for e in devices]})


# ---------------------------------------------------------------- BPMN service tasks

def _transfer(ctx: ServiceContext) -> EquipmentTransfer:
    return case_row(EquipmentTransfer, ctx)


@service("transfer.register")
def register(ctx: ServiceContext) -> dict:
    data = ctx.task_data
    devices = list(db.session.scalars(select(Equipment).where(Equipment.id.in_(data["equipment_ids"]))
                                      .order_by(Equipment.code)))
    transfer = EquipmentTransfer(case_id=ctx.case.id, transfer_no=ctx.case.case_no,
                                 property_org_id=data["property_org_id"], applicant_id=data["initiator_id"],
                                 from_region=data["from_region"], to_region=ctx.case.region_code,
                                 reason=data["reason"], status="pending")
    transfer.items = [TransferItem(equipment_id=e.id, from_region=e.region_code, to_region=ctx.case.region_code,
                                   pending_equipment_id=e.id) for e in devices]
    try:
        with savepoint():
            db.session.add(transfer)
    except IntegrityError as err:       # another application took one of the devices a moment ago
        raise ValidationFailed({"equipment_codes": "所选设备中有设备刚刚被提交了另一份迁移申请，请刷新后重新选择"}) from err
    return {"transfer_id": transfer.id}


def _decide(ctx: ServiceContext, status: str) -> EquipmentTransfer:
    transfer = _transfer(ctx)
    if transfer.status != "pending":
        raise Conflict(f"迁移申请 {transfer.transfer_no} {transfer.status_label}", code="transfer_decided")
    opinion = (ctx.task_data.get("opinion") or "").strip() or None
    transfer.status, transfer.opinion = status, opinion
    transfer.decided_at = transfer.updated_at = utcnow()
    transfer.decided_by_id = ctx.actor.id if ctx.actor else None
    for item in transfer.items:
        item.pending_equipment_id = None
    return transfer


@service("transfer.approve")
def approve(ctx: ServiceContext) -> dict:
    """变更监察机构: each device's current supervising authority becomes the target county;
    the original registering authority (registered_region_code) stays. The items are the history."""
    transfer = _decide(ctx, "approved")
    for item in transfer.items:
        item.from_region = item.equipment.region_code
        item.to_region = transfer.to_region
        item.equipment.region_code = transfer.to_region
    db.session.flush()
    return {"status": "approved", "moved": [item.equipment.code for item in transfer.items]}


@service("transfer.reject")
def reject(ctx: ServiceContext) -> dict:
    transfer = _decide(ctx, "rejected")
    transfer.reject_reason = transfer.opinion
    db.session.flush()
    return {"status": "rejected"}


def _device_codes(transfer: EquipmentTransfer, limit: int = 3) -> str:
    codes = [item.equipment.code for item in transfer.items]
    return "、".join(codes[:limit]) + (f"等{len(codes)}台" if len(codes) > limit else "")


@service("transfer.notify_origin")
def notify_origin(ctx: ServiceContext) -> dict:
    """The original agency learns the decision: a timeline entry and an SMS to each supervisor
    of from_region (county bureau; city or province bureau for a device registered there),
    one per person and decision."""
    from ..sms import services as sms
    transfer = _transfer(ctx)
    result = ("审核同意，设备即日起由迁入地监管" if transfer.status == "approved"
              else "驳回申请，设备仍由贵局监管")
    facts = {"unitName": transfer.property_org.name, "deviceCount": str(len(transfer.items)),
             "deviceCodes": _device_codes(transfer), "fromOffice": office_name(transfer.from_region),
             "toOffice": office_name(transfer.to_region), "caseNo": transfer.transfer_no, "result": result}
    queued = 0
    # The bureau at the level of the original authority (a county code in practice).
    role = ORIGIN_ROLES[region_level(transfer.from_region)]
    users = regulators_at(role, transfer.from_region)
    for user in users:
        rows = sms.enqueue(SMS_TEMPLATE, {**facts, "name": user.display_name}, sms.recipients_for_users([user]),
                           region_code=transfer.from_region, case_id=ctx.case.id,
                           dedup_key=f"transfer:{transfer.id}:{transfer.status}:{user.id}")
        queued += len(rows)
    runtime.append_event(ctx.case, None, "notified",
                         f"已通知原监察机构（{office_name(transfer.from_region)}）：{result}",
                         step_name="通知原监察机构",
                         data={"region": transfer.from_region, "status": transfer.status, "sms": queued})
    return {"notified": [u.id for u in users], "sms": queued}


@case_facts(PROCESS_KEY)
def transfer_facts(case: Case) -> dict:
    transfer = transfer_for_case(case)
    if transfer is None:
        return {}
    return {"docNo": transfer.transfer_no, "transferNo": transfer.transfer_no,
            "fromOffice": office_name(transfer.from_region), "toOffice": office_name(transfer.to_region)}


# ---------------------------------------------------------------- edit while pending

def edit_schema(case: Case) -> dict:
    """The start form without attachments: devices, target county and reason may change."""
    schema = dict(version_forms(case.process_version)[START_FORM])
    keep = ("equipment_codes", "to_region", "reason")
    schema["properties"] = {k: v for k, v in schema["properties"].items() if k in keep}
    schema["required"] = [k for k in schema.get("required", []) if k in keep]
    schema["ui"] = {"order": list(keep)}
    schema["title"] = "修改迁移申请"
    return schema


def edit_refusal(user: User, transfer: EquipmentTransfer) -> DomainError | None:
    """Why `user` may not edit the application now (None: may edit). Only the applicant unit,
    only while pending, and only while nobody has claimed the review (a reviewer who opened it
    must not approve something other than what they read)."""
    if not (user.is_enterprise and user.org_id == transfer.property_org_id):
        return Forbidden("只有申请单位可以修改迁移申请")
    if transfer.status != "pending":
        return Conflict(f"该申请已审核（{transfer.status_label}），不能再修改", code="not_editable")
    task = review_task(transfer)
    if task is None:
        return Conflict("该申请没有待办的审核环节，不能修改", code="not_editable")
    if task.assignee_id is not None:
        return Conflict(f"审核人 {task.assignee.display_name} 已签收该申请，不能再修改；如需修改，请联系审核人取消签收",
                        code="not_editable")
    return None


def _bump(case: Case) -> None:
    """Compare-and-swap on the case version, as every engine action does: a concurrent action
    that slipped past the row lock (SQLite has none) makes this edit fail instead of mixing."""
    result = db.session.execute(update(Case).where(Case.id == case.id, Case.lock_version == case.lock_version)
                                .values(lock_version=case.lock_version + 1)
                                .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise Conflict("该申请刚被他人处理，请刷新后重试", code="concurrent_update")
    set_committed_value(case, "lock_version", case.lock_version + 1)


def edit_transfer(user: User, transfer_id: int, raw: dict) -> list[str]:
    """Change devices, target county or reason of a pending, unclaimed application; returns the
    changes (empty: nothing changed). A new target county moves the case's region and the open
    review task's candidate region with it, so the new receiving bureau reviews it."""
    transfer = visible_transfer(user, transfer_id)
    case = runtime.lock_case(transfer.case_id)
    db.session.refresh(transfer)
    refusal = edit_refusal(user, transfer)
    if refusal is not None:
        raise refusal
    data, _ = runtime.validate_form(edit_schema(case), raw, user, case)
    devices, from_region, to_region = validate_application(user, data.get("equipment_codes"), data.get("to_region"),
                                                           transfer=transfer)
    reason = data["reason"]
    before = {item.equipment_id: item for item in transfer.items}
    after = {e.id: e for e in devices}
    added = [e for e in devices if e.id not in before]
    removed = [item for eid, item in before.items() if eid not in after]
    changes = []
    if added:
        changes.append("增加设备 " + "、".join(e.code for e in added))
    if removed:
        changes.append("移除设备 " + "、".join(item.equipment.code for item in removed))
    if to_region != transfer.to_region:
        changes.append(f"迁入地由{region_full_name(transfer.to_region)}改为{region_full_name(to_region)}")
    if reason != transfer.reason:
        changes.append("修改变更原因")
    if not changes:
        return []
    _bump(case)
    for item in removed:
        transfer.items.remove(item)
    db.session.flush()                  # free the removed devices' pending keys first
    for e in added:
        transfer.items.append(TransferItem(equipment_id=e.id, from_region=e.region_code, to_region=to_region,
                                           pending_equipment_id=e.id))
    for item in transfer.items:
        item.to_region = to_region
    old_target = transfer.to_region
    transfer.from_region, transfer.to_region, transfer.reason = from_region, to_region, reason
    transfer.updated_at = utcnow()
    ordered = sorted(devices, key=lambda e: e.code)
    case.title = _title(transfer.property_org.name, ordered, from_region, to_region)[:300]
    case.equipment_id = devices[0].id if len(devices) == 1 else None
    try:
        with savepoint():
            db.session.flush()
    except IntegrityError as err:
        raise ValidationFailed({"equipment_codes": "所选设备中有设备刚刚被提交了另一份迁移申请，请刷新后重新选择"}) from err
    runtime.append_event(case, user, "edited", "修改迁移申请：" + "；".join(changes), step_name="修改申请",
                         data={"equipment_codes": [e.code for e in ordered], "to_region": to_region,
                               "reason": reason})
    if to_region != old_target:
        task = review_task(transfer)
        case.region_code = to_region
        who = assignment.resolve(task.lane, {}, case, {})
        task.candidate_role, task.candidate_region = who.role, who.region_code
        runtime.append_event(case, None, "assigned",
                             f"迁入地变更，【{task.name}】改由 {region_full_name(who.region_code)}（{role_label(who.role)}）办理",
                             task_def=task.task_def, step_name=task.name)
    db.session.flush()
    return changes


# ---------------------------------------------------------------- batch actions (§4.5.9.4)

BATCH_ACTIONS = {"approve": "批量通过", "reject": "批量驳回", "delete": "批量删除"}


def _batch_request(action, ids, opinion) -> tuple[str, list[int], str]:
    errors = {}
    if action not in BATCH_ACTIONS:
        errors["action"] = "操作只能是 approve（批量通过）、reject（批量驳回）或 delete（批量删除）"
    clean: list[int] = []
    if not isinstance(ids, list) or not ids:
        errors["ids"] = "请至少选择一条记录"
    else:
        for value in ids:
            if isinstance(value, bool) or not str(value).strip().isdigit():
                errors["ids"] = "记录编号必须是正整数"
                break
            clean.append(int(str(value).strip()))
        if len(set(clean)) > MAX_BATCH:
            errors["ids"] = f"一次最多操作 {MAX_BATCH} 条记录"
    if opinion is not None and not isinstance(opinion, str):
        errors["opinion"] = "请填写文字"
        opinion = ""
    opinion = (opinion or "").strip()
    if len(opinion) > 1000:
        errors["opinion"] = "最多填写 1000 个字"
    elif action == "reject" and len(opinion) < 5:
        errors["opinion"] = "批量驳回必须填写驳回理由，至少 5 个字" if opinion else "批量驳回必须填写驳回理由"
    if errors:
        raise ValidationFailed(errors)
    return action, sorted(set(clean)), opinion


def _refusal(user: User, action: str, transfer: EquipmentTransfer, task: Task | None) -> str | None:
    if action == "delete":
        if transfer.status != "rejected":
            return f"状态为{transfer.status_label}，只能删除已驳回的申请"
        return None
    if transfer.status != "pending":
        return f"状态为{transfer.status_label}，只能{BATCH_ACTIONS[action][2:]}待审核的申请"
    if task is None:
        return "没有待办的审核环节"
    if task.assignee_id is not None and task.assignee_id != user.id:
        return f"已由 {task.assignee.display_name} 签收，只能由签收人审核"
    if task.assignee_id is None and not is_candidate(user, task):
        return f"您不是该申请的审核人（由{region_full_name(task.candidate_region)}{role_label(task.candidate_role)}审核）"
    return None


def batch(user: User, action, ids, opinion=None) -> list[EquipmentTransfer]:
    """All or nothing: a selection with any row not allowed for the action is refused as a
    whole (409 batch_refused, each offending row named); otherwise every row is done in the
    caller's transaction. Approve and reject complete each case's review task through the
    engine, so every application's timeline records the step, the handler and the opinion."""
    action, ids, opinion = _batch_request(action, ids, opinion)
    rows = {t.id: t for t in db.session.scalars(
        select(EquipmentTransfer).where(EquipmentTransfer.id.in_(ids), EquipmentTransfer.deleted_at.is_(None),
                                        transfer_scope(user)))}
    tasks = {t.case_id: t for t in db.session.scalars(
        select(Task).where(Task.case_id.in_([r.case_id for r in rows.values()]), Task.status == "open",
                           Task.task_def == REVIEW_TASK))} if rows else {}
    refused: dict[str, str] = {}
    for transfer_id in ids:
        transfer = rows.get(transfer_id)
        if transfer is None:
            refused[str(transfer_id)] = f"#{transfer_id}：记录不存在或不在您的查看范围内"
            continue
        why = _refusal(user, action, transfer, tasks.get(transfer.case_id))
        if why:
            refused[str(transfer_id)] = f"{transfer.transfer_no}：{why}"
    if refused:
        raise Conflict(f"所选的 {len(ids)} 条记录中有 {len(refused)} 条不能{BATCH_ACTIONS[action][2:]}，"
                       "本次未做任何修改：" + "；".join(refused.values()), code="batch_refused", fields=refused)
    done = []
    for transfer in sorted(rows.values(), key=lambda t: t.case_id):      # one lock order: no deadlocks
        if action == "delete":
            case = runtime.lock_case(transfer.case_id)
            db.session.refresh(transfer)
            if transfer.status != "rejected" or transfer.deleted_at is not None:
                raise Conflict(f"{transfer.transfer_no} 刚被他人处理，本次未做任何修改，请刷新后重试",
                               code="concurrent_update")
            transfer.deleted_at = transfer.updated_at = utcnow()
            transfer.deleted_by_id = user.id
            runtime.append_event(case, user, "deleted", "删除迁移申请记录（已驳回）", step_name="删除记录",
                                 comment=opinion or None)
        else:
            data = {"review_decision": action}
            if opinion:
                data["opinion"] = opinion
            runtime.complete_task(tasks[transfer.case_id].id, user, data)
        done.append(transfer)
    db.session.flush()
    return done


# ---------------------------------------------------------------- list (设备迁移管理) and export

@dataclass
class TransferFilter:
    org: str | None = None          # 产权单位 (name contains)
    from_region: str | None = None  # 原监察机构 (region prefix)
    to_region: str | None = None    # 变更监察机构 (region prefix)
    status: str | None = None
    code: str | None = None         # 设备代码 (contains)
    q: str | None = None            # 申请编号 (contains)
    date_from: date | None = None   # 申请日期
    date_to: date | None = None
    page: int = 1
    per_page: int = 20

    @classmethod
    def from_args(cls, args) -> TransferFilter:
        def region(name):
            value = (args.get(name) or "").strip()
            return value if len(value) == 6 and value.isdigit() else None
        status = args.get("status") or None
        return cls(org=text_arg(args, "org"), from_region=region("from_region"), to_region=region("to_region"),
                   status=status if status in EquipmentTransfer.STATUS_LABELS else None,
                   code=text_arg(args, "code", 32), q=text_arg(args, "q", 32),
                   date_from=date_arg(args, "date_from"), date_to=date_arg(args, "date_to"),
                   page=int_arg(args, "page", 1, 1, 100000), per_page=int_arg(args, "per_page", 20, 5, 100))




def list_query(user: User, f: TransferFilter):
    query = (select(EquipmentTransfer)
             .where(EquipmentTransfer.deleted_at.is_(None), transfer_scope(user))
             .options(joinedload(EquipmentTransfer.property_org), joinedload(EquipmentTransfer.decided_by),
                      selectinload(EquipmentTransfer.items).joinedload(TransferItem.equipment)
                      .joinedload(Equipment.category)))
    if f.org:
        query = query.where(EquipmentTransfer.property_org_id.in_(
            select(Organization.id).where(contains(Organization.name, f.org))))
    if f.from_region:
        query = query.where(EquipmentTransfer.from_region.startswith(region_prefix(f.from_region), autoescape=True))
    if f.to_region:
        query = query.where(EquipmentTransfer.to_region.startswith(region_prefix(f.to_region), autoescape=True))
    if f.status:
        query = query.where(EquipmentTransfer.status == f.status)
    if f.code:
        query = query.where(EquipmentTransfer.id.in_(
            select(TransferItem.transfer_id).join(Equipment, TransferItem.equipment_id == Equipment.id)
            .where(contains(Equipment.code, f.code))))
    if f.q:
        query = query.where(contains(EquipmentTransfer.transfer_no, f.q))
    if f.date_from:
        query = query.where(EquipmentTransfer.created_at >= local_day_start(f.date_from))
    if f.date_to:
        from datetime import timedelta
        query = query.where(EquipmentTransfer.created_at < local_day_start(f.date_to + timedelta(days=1)))
    return query.order_by(EquipmentTransfer.created_at.desc(), EquipmentTransfer.id.desc())


def device_history(transfer: EquipmentTransfer) -> list[TransferItem]:
    """Approved moves of this application's devices, oldest first: the transfer history."""
    ids = [item.equipment_id for item in transfer.items]
    if not ids:
        return []
    return list(db.session.scalars(
        select(TransferItem).join(EquipmentTransfer, TransferItem.transfer_id == EquipmentTransfer.id)
        .where(TransferItem.equipment_id.in_(ids), EquipmentTransfer.status == "approved")
        .options(joinedload(TransferItem.transfer), joinedload(TransferItem.equipment))
        .order_by(EquipmentTransfer.decided_at, TransferItem.id)))


def transfer_json(t: EquipmentTransfer) -> dict:
    def iso(value):
        local = to_local(value)
        return local.isoformat() if local else None
    return {
        "id": t.id, "transfer_no": t.transfer_no, "case_id": t.case_id, "status": t.status,
        "status_label": t.status_label, "property_org": {"id": t.property_org_id, "name": t.property_org.name},
        "from_region": t.from_region, "from_region_name": region_full_name(t.from_region),
        "to_region": t.to_region, "to_region_name": region_full_name(t.to_region), "reason": t.reason,
        "opinion": t.opinion, "reject_reason": t.reject_reason, "decided_at": iso(t.decided_at),
        "decided_by": t.decided_by.display_name if t.decided_by else None, "created_at": iso(t.created_at),
        "devices": [{"id": i.equipment.id, "code": i.equipment.code, "name": i.equipment.name,
                     "category_code": i.equipment.category_code, "from_region": i.from_region,
                     "to_region": i.to_region, "current_region_code": i.equipment.region_code,
                     "registered_region_code": i.equipment.registered_region_code} for i in t.items],
    }


@case_panel(PROCESS_KEY)
def transfer_panel(case: Case) -> dict:
    return {"template": "transfers/_case_panel.html", "transfer": transfer_for_case(case),
            "region_full_name": region_full_name}
