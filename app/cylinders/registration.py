"""Use registration of cylinders as cases: the filler's own 使用登记 / 停用 / 报废 / 注销
(`cylinder_registration`) and the maker's 使用登记代办 for the filler that commissioned a batch
(`cylinder_agency_registration`). Both run the same steps:

    open → 准备登记材料 (applicant; draft, pending cylinders, 登记表, documents) → submit to the 准入一体化平台
      → registered: apply to the cylinders → 已办结
      → rejected (with reason): back to 准备登记材料
      → accepted (decided later): wait on a timer that polls the authority; its signed callback
        (`receive_callback`) records the answer and fires the timer at once → the same two branches.

Nothing is marked registered without the authority's answer (a registered result, synchronous or
called back). The adapter is the registration authority's (`app/overdue/authority.py`, kind
`registration_authority`); the contract is docs/气瓶追溯.md §5."""
from __future__ import annotations

import json

from flask import current_app, url_for
from sqlalchemy import select

from ..cases.models import Case
from ..core.clock import utcnow
from ..core.external import ExternalError, adapter_for, settings_for, verify_request
from ..core.models import Attachment, Organization, User
from ..engine import runtime
from ..engine.services import ServiceContext, StartContext, case_panel, case_row, service, start_hook
from ..errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..overdue import authority as _authority  # noqa: F401 - registers the registration_authority adapters
from .models import AuthorityNotice, Cylinder, CylinderApplication, CylinderApplicationItem, CylinderBatch
from .services import _audit, batch_scope, is_filler, is_maker

KIND = "registration_authority"
PROCESSES = ("cylinder_registration", "cylinder_agency_registration")
OPEN_STATUSES = ("draft", "submitted", "rejected")
WAIT_TIMER = "wait_authority"
DOCUMENTS = {"doc_agreement": "委托协议", "doc_filler_certificate": "充装单位使用登记证",
             "doc_registration_form": "特种设备使用登记表（式样三）盖章件",
             "doc_summary_table": "气瓶基本信息汇总表盖章件", "doc_uscc_proof": "含统一社会信用代码的证明"}
# Which cylinders each business may take: (registration states, statuses).
ELIGIBLE = {"register": (("unregistered",), ("in_use",)),
            "stop": (("registered",), ("in_use",)),
            "scrap": (("registered",), ("in_use", "stopped")),
            "cancel": (("registered",), ("in_use", "stopped", "scrapped"))}
NEW_STATUS = {"stop": "stopped", "scrap": "scrapped", "cancel": "cancelled"}


# ---------------------------------------------------------------- eligibility and items

def _busy_ids(ids: list[int], exclude_application: int | None = None) -> set[int]:
    """Cylinders already in an open application."""
    if not ids:
        return set()
    query = (select(CylinderApplicationItem.cylinder_id).join(CylinderApplication)
             .where(CylinderApplicationItem.cylinder_id.in_(ids), CylinderApplication.status.in_(OPEN_STATUSES)))
    if exclude_application:
        query = query.where(CylinderApplication.id != exclude_application)
    return set(db.session.scalars(query))


def check_cylinders(codes: list[str], business: str, filler_org_id: int,
                    exclude_application: int | None = None) -> tuple[list[Cylinder], list[str]]:
    """(cylinders, problems): the filler's cylinders with these trace codes that `business` may take."""
    codes = [c.strip() for c in codes if c and c.strip()]
    found = {c.trace_code: c for c in db.session.scalars(
        select(Cylinder).where(Cylinder.trace_code.in_(codes), Cylinder.owner_org_id == filler_org_id))} if codes else {}
    busy = _busy_ids([c.id for c in found.values()], exclude_application)
    states, statuses = ELIGIBLE[business]
    good, problems = [], []
    for code in dict.fromkeys(codes):
        c = found.get(code)
        if c is None:
            problems.append(f"{code}：不是本单位（委托充装单位）的气瓶")
        elif c.id in busy:
            problems.append(f"{code}：已在另一份办理中的登记申请中")
        elif c.reg_state not in states:
            problems.append(f"{code}：登记状态为{c.reg_state_label}，不能办理{CylinderApplication.BUSINESS_LABELS[business]}")
        elif c.status not in statuses:
            problems.append(f"{code}：气瓶状态为{c.status_label}，不能办理{CylinderApplication.BUSINESS_LABELS[business]}")
        else:
            good.append(c)
    return good, problems


def may_prepare(user: User, application: CylinderApplication) -> bool:
    """The applicant (the agent maker for 代办, else the filler) while the application is with it."""
    if application.status not in ("draft", "rejected"):
        return False
    if application.agent_org_id:
        return is_maker(user) and user.org_id == application.agent_org_id
    return is_filler(user) and user.org_id == application.filler_org_id


def add_items(user: User, application: CylinderApplication, codes: list[str]) -> int:
    if not may_prepare(user, application):
        raise Forbidden("只有申请单位在准备登记材料时可以添加气瓶")
    good, problems = check_cylinders(codes, application.business, application.filler_org_id, application.id)
    if not codes or not [c for c in codes if c.strip()]:
        problems = ["请填写要添加的气瓶溯源码"]
    if problems:
        raise ValidationFailed({"trace_codes": "；".join(problems[:20])})
    have = {i.cylinder_id for i in application.items}
    added = 0
    for c in good:
        if c.id not in have:
            application.items.append(CylinderApplicationItem(cylinder_id=c.id))
            added += 1
    db.session.flush()
    _audit(f"登记申请 {application.application_no} 添加气瓶 {added} 只", "cylinder_application", application.id,
           actor=user)
    return added


def remove_items(user: User, application: CylinderApplication, item_ids: list[int]) -> int:
    if not may_prepare(user, application):
        raise Forbidden("只有申请单位在准备登记材料时可以移除气瓶")
    removed = [i for i in application.items if i.id in set(item_ids)]
    for item in removed:
        application.items.remove(item)
    db.session.flush()
    if removed:
        _audit(f"登记申请 {application.application_no} 移除气瓶 {len(removed)} 只", "cylinder_application",
               application.id, actor=user)
    return len(removed)


def pending_candidates(application: CylinderApplication, limit: int = 200) -> list[Cylinder]:
    """The filler's cylinders this application could still take (the 添加待登记设备 list)."""
    states, statuses = ELIGIBLE[application.business]
    query = (select(Cylinder).where(Cylinder.owner_org_id == application.filler_org_id,
                                    Cylinder.reg_state.in_(states), Cylinder.status.in_(statuses))
             .order_by(Cylinder.id).limit(limit * 2))
    if application.agent_org_id:
        query = query.where(Cylinder.maker_org_id == application.agent_org_id)
    rows = list(db.session.scalars(query))
    busy = _busy_ids([c.id for c in rows])
    have = {i.cylinder_id for i in application.items}
    return [c for c in rows if c.id not in busy and c.id not in have][:limit]


# ---------------------------------------------------------------- starting

def _codes(data: dict) -> list[str]:
    value = data.get("trace_codes") or []
    return [str(v) for v in value] if isinstance(value, list) else []


@start_hook("cylinder_registration")
def start_filler(user: User, data: dict) -> StartContext:
    if not is_filler(user):
        raise Forbidden("只有气瓶充装单位可以办理使用登记")
    filler = db.session.get(Organization, user.org_id)
    business = data["business"]
    codes = _codes(data)
    if codes:
        _good, problems = check_cylinders(codes, business, filler.id)
        if problems:
            raise ValidationFailed({"trace_codes": "；".join(problems[:20])})
    label = CylinderApplication.BUSINESS_LABELS[business]
    return StartContext(title=f"{filler.name} 气瓶{label}", region_code=filler.region_code, org_id=filler.id,
                        extra_data={"filler_org_id": filler.id, "agent_org_id": None})


@start_hook("cylinder_agency_registration")
def start_agency(user: User, data: dict) -> StartContext:
    if not is_maker(user):
        raise Forbidden("只有气瓶制造单位可以办理使用登记代办")
    batch = db.session.scalar(select(CylinderBatch).where(CylinderBatch.id == data.get("batch_id"), batch_scope(user)))
    if batch is None:
        raise ValidationFailed({"batch_id": "出厂记录不存在或不是本单位的"})
    if batch.client_org_id is None:
        raise ValidationFailed({"batch_id": "该批次没有填写委托充装单位，请先在出厂记录中填写"})
    codes = [c.trace_code for c in db.session.scalars(
        select(Cylinder).where(Cylinder.batch_id == batch.id, Cylinder.reg_state == "unregistered",
                               Cylinder.status == "in_use").order_by(Cylinder.id))]
    good, _problems = check_cylinders(codes, "register", batch.client_org_id)
    if not good:
        raise ValidationFailed({"batch_id": "该批次没有可代办登记的气瓶（须为未登记、且不在其他办理中的申请里）"})
    filler = batch.client
    return StartContext(title=f"{filler.name} 气瓶使用登记（{batch.maker.name} 代办，批号 {batch.batch_no}）",
                        region_code=filler.region_code, org_id=filler.id, parties=[(user.org_id, "agent")],
                        extra_data={"filler_org_id": filler.id, "agent_org_id": user.org_id, "business": "register",
                                    "trace_codes": [c.trace_code for c in good]})


# ---------------------------------------------------------------- service tasks

def _application(ctx: ServiceContext) -> CylinderApplication:
    return case_row(CylinderApplication, ctx)


@service("cylinder.open")
def open_application(ctx: ServiceContext) -> dict:
    data = ctx.task_data
    business = data.get("business") or "register"
    application = CylinderApplication(case_id=ctx.case.id, application_no=ctx.case.case_no, business=business,
                                      filler_org_id=data["filler_org_id"], agent_org_id=data.get("agent_org_id"),
                                      region_code=ctx.case.region_code, reason=(data.get("reason") or None),
                                      status="draft", submissions=0, created_by_id=data["initiator_id"])
    good, _problems = check_cylinders(_codes(data), business, data["filler_org_id"])
    application.items = [CylinderApplicationItem(cylinder_id=c.id) for c in good]
    db.session.add(application)
    db.session.flush()
    return {"application_id": application.id, "cylinders": len(good)}


def payload_for(application: CylinderApplication, documents: dict[str, list[int]]) -> dict:
    filler = application.filler
    from ..registry.services import valid_licences
    from ..core.clock import today_local
    licence = next(iter(valid_licences(filler.id, "filling", today_local())), None)
    atts = {a.id: a for a in db.session.scalars(select(Attachment).where(
        Attachment.id.in_([i for ids in documents.values() for i in ids])))} if documents else {}
    callback = callback_url()
    return {
        "application_no": application.application_no,
        "business_type": {"register": "first_registration", "stop": "stop", "scrap": "scrap",
                          "cancel": "cancel"}[application.business],
        "use_unit": {"uscc": filler.uscc, "name": filler.name, "region_code": filler.region_code,
                     "filling_licence_no": licence.cert_no if licence else None},
        "agent": ({"uscc": application.agent.uscc, "name": application.agent.name}
                  if application.agent_org_id else None),
        "reason": application.reason,
        "callback_url": callback,
        "cylinders": [{"trace_code": c.trace_code, "factory_no": c.factory_no, "maker_name": c.maker_name,
                       "maker_uscc": c.maker.uscc if c.maker else None, "batch_no": c.batch_no, "kind": c.kind,
                       "medium": c.medium, "volume_l": c.volume_l, "nominal_pressure_mpa": c.nominal_pressure_mpa,
                       "manufacture_date": c.manufacture_date.isoformat(), "design_life_years": c.design_life_years,
                       "registration_no": c.registration_no}
                      for c in (i.cylinder for i in application.items)],
        "documents": [{"type": key, "title": DOCUMENTS[key], "filename": atts[i].filename, "sm3": atts[i].sm3,
                       "size": atts[i].size}
                      for key, ids in documents.items() for i in ids if i in atts],
    }


def callback_url() -> str:
    """Where the authority posts its later decision: PUBLIC_BASE_URL (deployment) + our callback path;
    the request's own host when not configured."""
    path = "/api/v1/cylinders/authority/callback"
    base = current_app.config.get("PUBLIC_BASE_URL") or __import__("os").environ.get("PUBLIC_BASE_URL", "")
    if base:
        return base.rstrip("/") + path
    try:
        return url_for("cylinders_api.authority_callback", _external=True)
    except RuntimeError:
        return "http://localhost" + path


def _notice(application: CylinderApplication | None, channel: str, body: dict, nonce: str | None = None) -> None:
    db.session.add(AuthorityNotice(application_id=application.id if application else None, channel=channel,
                                   result=str(body.get("result", ""))[:12], nonce=nonce,
                                   body=json.dumps(body, ensure_ascii=False)[:20000]))


def _take_answer(application: CylinderApplication, body: dict) -> str:
    """Record the authority's answer on the application; returns the state the process branches on:
    registered | rejected | pending."""
    result = body.get("result")
    application.receipt_no = str(body.get("receipt_no") or application.receipt_no or "")[:64] or None
    application.authority_result = result
    if result == "rejected":
        reason = str(body.get("reason") or "").strip()
        application.authority_reason = (reason or "准入一体化平台未说明原因")[:500]
        application.status, application.decided_at = "rejected", utcnow()
        for item in application.items:
            if application.business == "register" and item.cylinder.reg_state == "pending":
                item.cylinder.reg_state = "unregistered"
        return "rejected"
    if result == "registered":
        application.authority_reason = None
        application.certificate_no = str(body.get("registration_no") or "")[:60] or None
        codes = {str(i.get("trace_code")): str(i.get("registration_code") or "")[:60]
                 for i in body.get("items") or [] if isinstance(i, dict)}
        for item in application.items:
            item.registration_code = codes.get(item.cylinder.trace_code) or application.certificate_no
        application.decided_at = utcnow()
        return "registered"
    return "pending"


def _announce(application: CylinderApplication, case, kind: str, title: str, body: str | None = None) -> None:
    """The filler (and the agent maker for 代办) hear of the authority's decision (消息提醒)."""
    from ..taskops.services import notify_org
    notify_org(application.filler_org_id, "filling_unit", kind, title, case=case, body=body)
    if application.agent_org_id:
        notify_org(application.agent_org_id, "cylinder_maker", kind, title, case=case, body=body)


def _announce_rejection(application: CylinderApplication, case) -> None:
    _announce(application, case, "rework",
              f"登记申请 {application.application_no}（{application.business_label}）被准入一体化平台退回",
              f"退回原因：{application.authority_reason}。请补正材料后重新提交。")


@service("cylinder.submit")
def submit(ctx: ServiceContext) -> dict:
    application = _application(ctx)
    data = ctx.task_data
    if not application.items:
        raise ValidationFailed({"decision": "申请中还没有气瓶：请先在申请页“添加待登记气瓶”后再提交"})
    codes = [i.cylinder.trace_code for i in application.items]
    _good, problems = check_cylinders(codes, application.business, application.filler_org_id, application.id)
    if problems:
        raise ValidationFailed({"decision": "；".join(problems[:20])})
    documents = {key: [int(i) for i in data.get(key) or []] for key in DOCUMENTS if data.get(key)}
    application.submissions += 1
    payload = payload_for(application, documents)
    authority = adapter_for(KIND, "local")
    try:
        answer = authority.submit_registration(
            payload, f"cylinder-application-{application.id}-{application.submissions}")
    except ExternalError as err:
        if err.retryable:
            raise ExternalError(f"准入一体化平台暂时无法受理（{err.message}），材料已保存，请稍后再提交",
                                system=KIND, retryable=True) from err
        body = err.body if isinstance(err.body, dict) else {}
        answer = {"result": "rejected", "receipt_no": body.get("receipt_no") or application.receipt_no,
                  "reason": body.get("message") or err.message}
    application.status, application.submitted_at = "submitted", utcnow()
    application.authority_reason = None
    if application.business == "register":
        for item in application.items:
            item.cylinder.reg_state = "pending"
    _notice(application, "answer", answer)
    state = _take_answer(application, answer)
    if state == "rejected":
        _announce_rejection(application, ctx.case)
    data["authority_state"] = state
    data["authority_reason"] = application.authority_reason
    return {"state": state, "receipt_no": application.receipt_no}


@service("cylinder.collect")
def collect(ctx: ServiceContext) -> dict:
    """After the wait: the answer a callback recorded, else ask the authority."""
    application = _application(ctx)
    state = {"registered": "registered", "rejected": "rejected"}.get(application.authority_result or "")
    if state is None and application.receipt_no:
        try:
            answer = adapter_for(KIND, "local").registration_status(application.receipt_no)
        except ExternalError:
            answer = None            # asked again at the next wait
        if answer is not None:
            _notice(application, "query", answer)
            state = _take_answer(application, answer)
    state = state or "pending"
    if state == "rejected":
        application.status = "rejected"
        _announce_rejection(application, ctx.case)
    ctx.task_data["authority_state"] = state
    ctx.task_data["authority_reason"] = application.authority_reason
    return {"state": state}


@service("cylinder.complete")
def complete(ctx: ServiceContext) -> dict:
    """Apply the authority's registered answer to the cylinders."""
    application = _application(ctx)
    if application.authority_result != "registered":
        raise Conflict("准入一体化平台尚未办结，不能更新气瓶登记状态", code="not_registered")
    now = utcnow()
    for item in application.items:
        c = item.cylinder
        if application.business == "register":
            c.reg_state, c.registered_at = "registered", now
            c.registration_no = item.registration_code or application.certificate_no
        else:
            c.status = NEW_STATUS[application.business]
            c.status_reason = application.reason
        c.updated_at = now
    application.status = "done"
    _announce(application, ctx.case, "closed",
              f"登记申请 {application.application_no}（{application.business_label}）已办结",
              f"气瓶 {len(application.items)} 只" + (f"，使用登记证编号 {application.certificate_no}"
                                                    if application.certificate_no else ""))
    _audit(f"登记申请 {application.application_no} {application.business_label}办结（准入一体化平台受理编号 "
           f"{application.receipt_no}），气瓶 {len(application.items)} 只", "cylinder_application", application.id,
           actor=ctx.actor)
    return {"cylinders": len(application.items), "certificate_no": application.certificate_no}


@service("cylinder.withdraw")
def withdraw(ctx: ServiceContext) -> dict:
    application = _application(ctx)
    application.status = "withdrawn"
    for item in application.items:
        if application.business == "register" and item.cylinder.reg_state == "pending":
            item.cylinder.reg_state = "unregistered"
    return {"withdrawn": True}


@case_panel(*PROCESSES)
def application_panel(case):
    application = db.session.scalar(select(CylinderApplication).where(CylinderApplication.case_id == case.id))
    if application is None:
        return None
    return {"template": "cylinders/_case_panel.html", "application": application}


def application_for_case(case_id: int) -> CylinderApplication | None:
    return db.session.scalar(select(CylinderApplication).where(CylinderApplication.case_id == case_id))


# ---------------------------------------------------------------- the authority's callback

def _secret_for(app_key: str) -> str | None:
    settings = settings_for(KIND, "local")
    return settings.secret if settings.app_key and app_key == settings.app_key else None


def receive_callback(headers, method: str, path: str, body: bytes, secret_for=None) -> dict:
    """A signed callback of the 准入一体化平台 with its decision. Raises DomainError (JSON error) on a bad
    signature, replay, unknown application or a decision that contradicts the recorded one."""
    check = verify_request(headers, method, path, body, secret_for or _secret_for)
    if not check.ok:
        raise DomainError(check.reason, code="bad_signature", status=401)
    if db.session.scalar(select(AuthorityNotice.id).where(AuthorityNotice.nonce == check.nonce)):
        raise DomainError("重复的回调请求（X-Nonce 已使用）", code="replayed", status=409)
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        raise DomainError("请求体不是 JSON", code="bad_json", status=400)
    if not isinstance(payload, dict):
        raise DomainError("请求体应为 JSON 对象", code="bad_json", status=400)
    result = payload.get("result")
    if result not in ("registered", "rejected"):
        raise ValidationFailed({"result": "应为 registered 或 rejected"})
    if result == "rejected" and not str(payload.get("reason") or "").strip():
        raise ValidationFailed({"reason": "退回时须说明原因"})
    application = db.session.scalar(select(CylinderApplication).where(
        CylinderApplication.application_no == str(payload.get("application_no") or "")))
    if application is None:
        raise NotFound("没有该申请编号的登记申请")
    if application.receipt_no and str(payload.get("receipt_no") or "") != application.receipt_no:
        raise ValidationFailed({"receipt_no": "受理编号与该申请不符"})
    case = runtime.lock_case(application.case_id)
    db.session.refresh(application)
    if application.authority_result in ("registered", "rejected") and application.status != "submitted":
        if application.authority_result == result:
            _notice(application, "callback", payload, check.nonce)
            return {"received": True, "application_no": application.application_no, "duplicate": True}
        raise Conflict(f"该申请已按“{application.authority_result}”办结，与回调结论不一致", code="already_decided")
    if application.status != "submitted":
        raise Conflict("该申请当前不在待办理状态（可能尚未提交完成），请稍后重试", code="not_submitted")
    _notice(application, "callback", payload, check.nonce)
    _take_answer(application, payload)
    fired = runtime.fire_timers(case, wake=(WAIT_TIMER,))
    return {"received": True, "application_no": application.application_no, "woke": bool(fired),
            "status": application.status}


def simulate_callback(application_no: str, result: str, reason: str = "") -> dict:
    """Development only (`flask cylinders authority-callback`): sign and post a callback through the
    same receiver, as the authority would."""
    from ..core.external import sign_request
    settings = settings_for(KIND, "local")
    application = db.session.scalar(select(CylinderApplication).where(
        CylinderApplication.application_no == application_no))
    if application is None:
        raise NotFound("没有该申请编号的登记申请")
    body = {"application_no": application_no, "receipt_no": application.receipt_no, "result": result,
            "reason": reason or None, "registration_no": f"瓶LOCAL{application.id:06d}" if result == "registered" else None}
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    path = "/api/v1/cylinders/authority/callback"
    if settings.app_key and settings.secret:
        headers = sign_request(settings.app_key, settings.secret, "POST", path, raw)
        return receive_callback(headers, "POST", path, raw)
    # No shared secret configured (development): sign with a one-off secret the receiver is told about.
    import secrets
    one_off = secrets.token_hex(16)
    headers = sign_request("local-simulator", one_off, "POST", path, raw)
    return receive_callback(headers, "POST", path, raw,
                            secret_for=lambda key: one_off if key == "local-simulator" else None)


def case_of(application: CylinderApplication) -> Case:
    return db.session.get(Case, application.case_id)


# ---------------------------------------------------------------- form options (web)

from ..cases.widgets import option_provider  # noqa: E402


@option_provider("filler_cylinders")
def _filler_cylinders(user) -> list[tuple[str, str]]:
    if not is_filler(user):
        return []
    rows = db.session.scalars(select(Cylinder).where(Cylinder.owner_org_id == user.org_id,
                                                     Cylinder.status != "cancelled")
                              .order_by(Cylinder.reg_state.desc(), Cylinder.id.desc()).limit(200))
    return [(c.trace_code, f"{c.trace_code} · 出厂编号 {c.factory_no} · {c.reg_state_label} · {c.status_label}")
            for c in rows]


@option_provider("cylinder_batch")
def _maker_batches(user) -> list[tuple[str, str]]:
    if not is_maker(user):
        return []
    rows = db.session.scalars(select(CylinderBatch).where(CylinderBatch.maker_org_id == user.org_id)
                              .order_by(CylinderBatch.id.desc()).limit(200))
    return [(str(b.id), f"批号 {b.batch_no} · {b.product_name}" + (f" · 委托 {b.client.name}" if b.client else ""))
            for b in rows]
