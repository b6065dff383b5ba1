"""排查治理台账 (§4.5.2): devices in use by due state, category, region, report status and disposal,
with counts per band, a drill-down by region (or by 种类 at county level), the streamed export, batch
start of disposal cases, 误报纠正 and 超期未检处理记录 — shared by the pages and /api/v1/overdue."""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date

from sqlalchemy import and_, exists, false, func, or_, select
from sqlalchemy.orm import joinedload

from ..core.clock import local_day_start, today_local
from ..core.models import Equipment, Organization, User
from ..core.params import contains, date_arg, int_arg, region_arg, text_arg
from ..core.regions import region_full_name, region_level, region_prefix
from ..core.scope import in_region
from ..errors import Conflict, Forbidden, ValidationFailed
from ..extensions import db
from ..inspections import conclusions
from ..inspections import services as inspections
from ..registry import due
from ..registry.catalogue import category_name, options as category_options
from .models import OverdueAction, OverdueDisposal
from .services import PROCESS_KEY, log_action, startable

MAX_BATCH = 200
REPORT_STATES = {"none": "无检验报告", "pass": "最近检验合格", "fail": "最近检验不合格"}
DISPOSAL_STATES = {"none": "未处置", "open": "处置中", "closed": "已处置办结"}


def ledger_scope(user: User):
    """Regulators only: the ledger is the supervisors' working list of their jurisdiction."""
    if not user.is_regulator:
        return false()
    return in_region(Equipment.region_code, user.scope_prefix)


def disposal_scope(user: User):
    if user.is_regulator:
        return in_region(OverdueDisposal.region_code, user.scope_prefix)
    if user.is_enterprise and user.org_id:
        return OverdueDisposal.use_org_id == user.org_id
    return false()


def action_scope(user: User):
    if user.is_regulator:
        return in_region(OverdueAction.region_code, user.scope_prefix)
    if user.is_enterprise and user.org_id:
        return OverdueAction.use_org_id == user.org_id
    return false()


@dataclass
class LedgerFilter:
    due_state: str | None = None         # a band; None: overdue and due within 3 months
    kind: str | None = None
    klass: str | None = None
    category: str | None = None
    region: str | None = None
    report: str | None = None            # REPORT_STATES
    disposal: str | None = None          # DISPOSAL_STATES
    q: str | None = None
    page: int = 1
    per_page: int = 20

    DEFAULT_STATES = ("overdue", "due_1m", "due_2m", "due_3m")

    @classmethod
    def from_args(cls, args) -> "LedgerFilter":
        def code(name):
            value = (args.get(name) or "").strip().upper()
            return value if len(value) == 4 else None
        return cls(due_state=args.get("due_state") if args.get("due_state") in due.STATES else None,
                   kind=code("kind"), klass=code("class"), category=code("category"),
                   region=region_arg(args), report=args.get("report") if args.get("report") in REPORT_STATES else None,
                   disposal=args.get("disposal") if args.get("disposal") in DISPOSAL_STATES else None,
                   q=text_arg(args, "q", 50), page=int_arg(args, "page", 1, 1, 100000),
                   per_page=int_arg(args, "per_page", 20, 5, 100))

    def args(self, **changes) -> dict:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        names = {"klass": "class"}
        return {names.get(k, k): v for k, v in values.items() if v not in (None, "") and k not in ("page",)
                and not (k == "per_page" and v == 20)}


def _open_case():
    return exists().where(OverdueDisposal.equipment_id == Equipment.id, OverdueDisposal.status != "closed")


def _any_case():
    return exists().where(OverdueDisposal.equipment_id == Equipment.id)


def conditions(user: User, f: LedgerFilter, *, with_state: bool = True) -> list:
    found = [ledger_scope(user), Equipment.status == "in_use"]
    if with_state:
        found.append(Equipment.due_state == f.due_state if f.due_state else Equipment.due_state.in_(f.DEFAULT_STATES))
    if f.kind:
        found.append(Equipment.kind_code == f.kind)
    if f.klass:
        found.append(Equipment.class_code == f.klass)
    if f.category:
        found.append(Equipment.category_code == f.category)
    if f.region:
        found.append(in_region(Equipment.region_code, region_prefix(f.region)))
    if f.report == "none":
        found.append(Equipment.last_conclusion.is_(None))
    elif f.report == "pass":
        found.append(and_(Equipment.last_conclusion.is_not(None), Equipment.last_conclusion.not_in(conclusions.FAILING)))
    elif f.report == "fail":
        found.append(Equipment.last_conclusion.in_(conclusions.FAILING))
    if f.disposal == "open":
        found.append(_open_case())
    elif f.disposal == "none":
        found.append(~_any_case())
    elif f.disposal == "closed":
        found.append(and_(_any_case(), ~_open_case()))
    if f.q:
        units = select(Organization.id).where(contains(Organization.name, f.q), in_region(Organization.region_code,
                                                                                           user.scope_prefix))
        found.append(or_(contains(Equipment.code, f.q), Equipment.registration_no == f.q,
                         Equipment.use_org_id.in_(units)))
    return found


def ledger_query(user: User, f: LedgerFilter):
    """The first page reads the (region, due state, due date) index in due-date order: most overdue first."""
    return (select(Equipment).where(*conditions(user, f))
            .options(joinedload(Equipment.use_org), joinedload(Equipment.category))
            .order_by(Equipment.next_inspection_date, Equipment.id))


def band_counts(user: User, f: LedgerFilter) -> dict[str, int]:
    """Devices in use per due state for the filter without its band (the stat row)."""
    rows = db.session.execute(select(Equipment.due_state, func.count()).where(*conditions(user, f, with_state=False))
                              .group_by(Equipment.due_state))
    found = dict(rows.all())
    return {state: found.get(state, 0) for state in due.ORDER if state != "exempt"}


def total_of(counts: dict[str, int], f: LedgerFilter) -> int:
    """The ledger's row count from its band counts (the same conditions): no second count."""
    return counts.get(f.due_state, 0) if f.due_state else sum(counts.get(s, 0) for s in f.DEFAULT_STATES)


def drill_down(user: User, f: LedgerFilter) -> tuple[str, list[dict]]:
    """Counts per band one level down: a province → its cities, a city → its counties, a county → its 种类."""
    base = f.region or user.region_code
    level = region_level(base)
    bands = ("overdue", "due_1m", "due_2m", "due_3m")
    if level == "county":
        key = Equipment.kind_code
        label = "种类"
    else:
        key = func.substr(Equipment.region_code, 1, 4) if level == "province" else Equipment.region_code
        label = "市" if level == "province" else "区县"
    state_count = [func.count().filter(Equipment.due_state == b) for b in bands]
    rows = db.session.execute(select(key, *state_count).where(*conditions(user, LedgerFilter(**{
        **f.__dict__, "due_state": None}), with_state=False), Equipment.due_state.in_(bands)).group_by(key).order_by(key))
    out = []
    for row in rows:
        code = row[0]
        if level == "province":
            region, name = code + "00", region_full_name(code + "00")
        elif level == "city":
            region, name = code, region_full_name(code)
        else:
            region, name = None, category_name(code)
        out.append({"key": code, "name": name, "region": region, "kind": code if level == "county" else None,
                    "counts": dict(zip(bands, row[1:])), "total": sum(row[1:])})
    return label, out


EXPORT_HEADERS = ["设备代码", "设备名称", "种类", "品种", "使用单位", "统一社会信用代码", "属地", "使用地点", "使用登记证编号",
                  "下次检验日期", "延期检验至", "到期状态", "超期天数", "最近检验日期", "最近检验结论", "处置"]


def export_rows(user: User, f: LedgerFilter):
    """The whole filter, streamed in batches (yield_per): flat memory whatever the count."""
    today = today_local()
    open_cases = select(OverdueDisposal.disposal_no).where(OverdueDisposal.equipment_id == Equipment.id,
                                                            OverdueDisposal.status != "closed").limit(1).scalar_subquery()
    query = (select(Equipment.code, Equipment.name, Equipment.kind_code, Equipment.category_code, Organization.name,
                    Organization.uscc, Equipment.region_code, Equipment.address, Equipment.registration_no,
                    Equipment.next_inspection_date, Equipment.extended_until, Equipment.due_state,
                    Equipment.last_inspected_on, Equipment.last_conclusion, open_cases)
             .join(Organization, Equipment.use_org_id == Organization.id)
             .where(*conditions(user, f)).order_by(Equipment.next_inspection_date, Equipment.id)
             .execution_options(yield_per=2000))
    for row in db.session.execute(query):
        due_on = row.extended_until if row.extended_until and (row.next_inspection_date is None or
                                                                row.extended_until > row.next_inspection_date) \
            else row.next_inspection_date
        late = (today - due_on).days if due_on and due_on < today else ""
        yield [row.code, row.name, category_name(row.kind_code), category_name(row.category_code), row[4], row.uscc,
               region_full_name(row.region_code), row.address, row.registration_no, row.next_inspection_date,
               row.extended_until, due.STATES.get(row.due_state, row.due_state), late, row.last_inspected_on,
               row.last_conclusion, f"处置中 {row[14]}" if row[14] else ""]


# ---------------------------------------------------------------- batch start

def _ids(raw) -> list[int]:
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed({"ids": "请至少选择一台设备"})
    clean = []
    for value in raw:
        if isinstance(value, bool) or not str(value).strip().isdigit():
            raise ValidationFailed({"ids": "设备编号必须是正整数"})
        clean.append(int(str(value).strip()))
    clean = sorted(set(clean))
    if len(clean) > MAX_BATCH:
        raise ValidationFailed({"ids": f"一次最多选择 {MAX_BATCH} 台设备"})
    return clean


def batch_start(user: User, ids, note: str | None = None) -> list:
    """Start one disposal case per selected device, all or nothing: any device not startable (not overdue,
    outside the user's region, already under disposal) refuses the whole selection, naming each."""
    from ..engine import runtime
    if not user.is_regulator:
        raise Forbidden("只有监察人员可以发起超期未检处置")
    ids = _ids(ids)
    if note is not None and not isinstance(note, str):
        raise ValidationFailed({"note": "请填写文字"})
    note = (note or "").strip()
    if len(note) > 1000:
        raise ValidationFailed({"note": "最多填写 1000 个字"})
    devices = {e.id: e for e in db.session.scalars(select(Equipment).where(Equipment.id.in_(ids), ledger_scope(user)))}
    refused = {}
    for device_id in ids:
        why = startable(user, devices.get(device_id))
        if why:
            refused[str(device_id)] = f"{devices[device_id].code if device_id in devices else '#' + str(device_id)}：{why}"
    if refused:
        raise Conflict(f"所选的 {len(ids)} 台设备中有 {len(refused)} 台不能发起处置，本次未发起任何案件："
                       + "；".join(refused.values()), code="batch_refused", fields=refused)
    cases = []
    for device_id in ids:
        data = {"equipment_code": devices[device_id].code}
        if note:
            data["note"] = note
        cases.append(runtime.start_case(PROCESS_KEY, user, data))
    return cases


# ---------------------------------------------------------------- 误报纠正

def correct(user: User, ids=None, f: LedgerFilter | None = None, reason: str | None = None,
            limit: int = 5000) -> dict:
    """Recompute devices (chosen ones, or every device of a ledger filter) from their whole report history
    and today's bands. Every device whose overdue / due flag clears is logged in 超期未检处理记录 with the
    reason and who did it. Returns counts and the cleared devices."""
    if not user.is_regulator:
        raise Forbidden("只有监察人员可以进行误报纠正")
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if len(reason) < 4:
        raise ValidationFailed({"reason": "请填写纠正原因（至少4个字），例如：检验报告已补录"})
    if ids is not None:
        query = select(Equipment).where(Equipment.id.in_(_ids(ids)), ledger_scope(user))
    else:
        query = select(Equipment).where(*conditions(user, f or LedgerFilter()))
    devices = list(db.session.scalars(query.order_by(Equipment.id).limit(limit + 1)))
    if len(devices) > limit:
        raise ValidationFailed({"_form": f"一次最多重新计算 {limit} 台设备，请缩小筛选范围"})
    before = {e.id: (e.due_state, e.effective_due_date) for e in devices}
    for start in range(0, len(devices), 500):
        inspections.refresh_devices(devices[start:start + 500])
    cleared, changed = [], 0
    flagged = ("overdue", "due_1m", "due_2m", "due_3m")
    for e in devices:
        old_state, old_due = before[e.id]
        if (old_state, old_due) == (e.due_state, e.effective_due_date):
            continue
        changed += 1
        if old_state in flagged and due.ORDER.index(e.due_state) > due.ORDER.index(old_state):
            cleared.append(e)
            log_action(e, "correction", f"误报纠正：{due.STATES[old_state]} → {due.STATES[e.due_state]}"
                       f"（下次检验日期 {old_due or '—'} → {e.effective_due_date or '—'}）", actor=user, reason=reason,
                       detail={"old_state": old_state, "new_state": e.due_state, "old_due": old_due,
                               "new_due": e.effective_due_date})
    db.session.flush()
    return {"checked": len(devices), "changed": changed, "cleared": [e.id for e in cleared]}


# ---------------------------------------------------------------- 超期未检处理记录

@dataclass
class RecordFilter:
    q: str | None = None                 # device code, or unit name
    action: str | None = None
    measure: str | None = None
    region: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    device_id: int | None = None
    page: int = 1
    per_page: int = 20

    @classmethod
    def from_args(cls, args) -> "RecordFilter":
        from .models import MEASURES
        return cls(q=text_arg(args, "q", 50),
                   action=args.get("action") if args.get("action") in OverdueAction.ACTION_LABELS else None,
                   measure=args.get("measure") if args.get("measure") in MEASURES else None,
                   region=region_arg(args), date_from=date_arg(args, "date_from"), date_to=date_arg(args, "date_to"),
                   device_id=int_arg(args, "device_id", 0, 0, 2**31 - 1) or None,
                   page=int_arg(args, "page", 1, 1, 100000), per_page=int_arg(args, "per_page", 20, 5, 100))


def records_query(user: User, f: RecordFilter):
    query = (select(OverdueAction).where(action_scope(user))
             .options(joinedload(OverdueAction.equipment).joinedload(Equipment.use_org), joinedload(OverdueAction.actor),
                      joinedload(OverdueAction.case)))
    if f.q:
        devices = select(Equipment.id).where(contains(Equipment.code, f.q))
        units = select(Organization.id).where(contains(Organization.name, f.q))
        query = query.where(or_(OverdueAction.equipment_id.in_(devices), OverdueAction.use_org_id.in_(units)))
    if f.action:
        query = query.where(OverdueAction.action == f.action)
    if f.measure:
        query = query.where(OverdueAction.measure == f.measure)
    if f.region:
        query = query.where(in_region(OverdueAction.region_code, region_prefix(f.region)))
    if f.date_from:
        query = query.where(OverdueAction.at >= local_day_start(f.date_from))
    if f.date_to:
        from datetime import timedelta
        query = query.where(OverdueAction.at < local_day_start(f.date_to + timedelta(days=1)))
    if f.device_id:
        query = query.where(OverdueAction.equipment_id == f.device_id)
    return query.order_by(OverdueAction.at.desc(), OverdueAction.id.desc())


def action_json(a: OverdueAction) -> dict:
    from ..core.clock import to_local
    return {"id": a.id, "at": to_local(a.at).isoformat(), "action": a.action, "action_label": a.action_label,
            "measure": a.measure, "summary": a.summary, "reason": a.reason,
            "device": {"id": a.equipment.id, "code": a.equipment.code, "name": a.equipment.name},
            "use_org": a.equipment.use_org.name, "region_code": a.region_code,
            "actor": a.actor.display_name if a.actor else None, "case_id": a.case_id,
            "case_no": a.case.case_no if a.case else None}


def ledger_item_json(e: Equipment, disposals: dict[int, OverdueDisposal]) -> dict:
    from ..registry.services import device_json
    body = device_json(e)
    d = disposals.get(e.id)
    body["disposal"] = {"id": d.id, "case_id": d.case_id, "disposal_no": d.disposal_no, "status": d.status,
                        "measure": d.measure} if d else None
    body["days_overdue"] = (today_local() - e.effective_due_date).days if e.due_state == "overdue" else 0
    return body


def open_disposals_of(devices: list[Equipment]) -> dict[int, OverdueDisposal]:
    if not devices:
        return {}
    return {d.equipment_id: d for d in db.session.scalars(select(OverdueDisposal).where(
        OverdueDisposal.equipment_id.in_([e.id for e in devices]), OverdueDisposal.status != "closed"))}


def kind_options() -> list[tuple[str, str]]:
    return category_options("种类")
