"""电梯维保监管: each warning rule at its boundary (thresholds from rules/elevator_warning.dmn), the nightly job
(idempotent, set-based), the submission hook, closing with a reason (audited), scope, statistics and overdue
plans checked against hand-made work orders, the trace, the API and the Excel exports."""
from __future__ import annotations

import io
from datetime import datetime, time, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.core.clock import DISPLAY_TZ, today_local
from app.core.models import Attachment, Equipment
from app.elevator_supervision import rules, stats
from app.elevator_supervision.models import ElevatorWarning
from app.elevators.models import (ElevatorFacts, MaintenanceContract, MaintenanceItem, MaintenancePlan, WorkOrder,
                                  WorkOrderItem, WorkPhoto)
from app.extensions import db
from app.security.models import AuditLog
from app.sms.models import SmsMessage

from .conftest import user

_SEQ = iter(range(1, 10**6))


@pytest.fixture(autouse=True)
def _restore_plans(app):
    """Tests move seeded plans (status, due date) and contract starts: put them back."""
    saved = db.session.execute(select(MaintenancePlan.id, MaintenancePlan.status, MaintenancePlan.due_on,
                                      MaintenancePlan.done_on, MaintenancePlan.work_order_id)).all()
    starts = db.session.execute(select(MaintenanceContract.id, MaintenanceContract.starts_on)).all()
    db.session.rollback()
    yield
    db.session.rollback()
    for row in saved:
        db.session.execute(MaintenancePlan.__table__.update().where(MaintenancePlan.id == row.id).values(
            status=row.status, due_on=row.due_on, done_on=row.done_on, work_order_id=row.work_order_id))
    for cid, starts_on in starts:
        db.session.execute(MaintenanceContract.__table__.update().where(MaintenanceContract.id == cid)
                           .values(starts_on=starts_on))
    db.session.commit()


def lifts(region: str | None = None) -> list[Equipment]:
    maint = user("wb_qin").org_id
    stmt = (select(Equipment).join(ElevatorFacts, ElevatorFacts.equipment_id == Equipment.id)
            .where(Equipment.maintenance_org_id == maint).order_by(Equipment.id))
    if region:
        stmt = stmt.where(Equipment.region_code == region)
    return list(db.session.scalars(stmt))


def at(day, hour=9, minute=0, second=0) -> datetime:
    """A local (Guangxi) wall-clock time as UTC, as the application stores instants."""
    return datetime.combine(day, time(hour, minute, second), tzinfo=DISPLAY_TZ).astimezone(timezone.utc)


def order(e: Equipment, start: datetime, minutes: float = 40, *, who: str = "wb_qin", maint_type: str = "HALF",
          status: str = "archived", distance: int = 10, out_distance: int = 10, coworker: str | None = None) -> WorkOrder:
    n = next(_SEQ)
    o = WorkOrder(client_id=f"sup-{n}-{start.timestamp()}", order_no=f"WBT{n:09d}", kind="maintenance",
                  equipment_id=e.id, maintenance_org_id=e.maintenance_org_id, use_org_id=e.use_org_id,
                  region_code=e.region_code, maint_type=maint_type, maintainer_id=user(who).id,
                  coworker_id=user(coworker).id if coworker else None, status=status, checkin_at=start,
                  checkin_lat=e.lat, checkin_lng=e.lng, checkin_distance=distance,
                  checkout_at=start + timedelta(minutes=minutes) if minutes is not None else None,
                  checkout_lat=e.lat, checkout_lng=e.lng, checkout_distance=out_distance)
    db.session.add(o)
    db.session.flush()
    return o


def photo(o: WorkOrder, taken: datetime, key_position: str | None = None, *, north_m: float = 0) -> WorkPhoto:
    from app.core import geo
    att = Attachment(filename="p.jpg", mime="image/jpeg", size=1, sm3="0" * 64, storage_key=f"t/{next(_SEQ)}",
                     uploaded_by_id=o.maintainer_id)
    db.session.add(att)
    db.session.flush()
    item = None
    if key_position:
        item = db.session.scalar(select(MaintenanceItem).where(MaintenanceItem.key_position == key_position,
                                                               MaintenanceItem.annex == "A"))
    lat, lng = geo.offset(o.equipment.lat, o.equipment.lng, north_m=north_m)
    p = WorkPhoto(client_id=f"ph-{next(_SEQ)}", work_order_id=o.id, item_id=item.id if item else None,
                  purpose="item", attachment_id=att.id, original_sm3="0" * 64, taken_at=taken, lat=lat, lng=lng)
    db.session.add(p)
    db.session.flush()
    return p


def rule_keys(drafts) -> set[str]:
    return {d.cause_key for d in drafts}


# ---------------------------------------------------------------- rules at their boundaries

def test_overdue_is_more_than_15_days_exactly_15_is_not(app):
    today = today_local()
    a, b, c = lifts()[:3]
    for e in (a, b, c):       # contracts started long enough ago
        db.session.execute(MaintenanceContract.__table__.update().where(MaintenanceContract.equipment_id == e.id)
                           .values(starts_on=today - timedelta(days=60)))
    order(a, at(today - timedelta(days=15), 23, 59))     # 15 days ago: not overdue
    order(b, at(today - timedelta(days=16), 0, 1))       # 16 days ago: overdue
    drafts = {d.equipment_id: d for d in rules.overdue(today)}
    assert a.id not in drafts
    assert drafts[b.id].evidence["days"] == 16 and drafts[b.id].level == "red"
    assert drafts[c.id].evidence["last_visit"] is None and "未维保" in drafts[c.id].summary   # never visited
    db.session.rollback()


def test_short_duration_follows_the_dmn_per_maintenance_type(app):
    today = today_local()
    e = lifts()[0]
    exact = order(e, at(today, 8), 30)                        # HALF: 30 min is fine
    short = order(e, at(today, 10), 29.9)
    quarter = order(e, at(today, 12), 44, maint_type="QUARTER")  # QUARTER: 45
    keys = rule_keys(rules.short_duration(WorkOrder.id.in_([exact.id, short.id, quarter.id])))
    assert keys == {f"short_duration:{short.id}", f"short_duration:{quarter.id}"}
    db.session.rollback()


def test_position_photo_certificate_and_failed_items(app):
    today = today_local()
    e = lifts()[0]
    ok = order(e, at(today, 8), distance=100, out_distance=100)
    far = order(e, at(today, 10), distance=101)
    orders = WorkOrder.id.in_([ok.id, far.id])
    assert rule_keys(rules.position(orders)) == {f"position:{far.id}"}
    photo(ok, at(today, 8, 5), north_m=99)
    photo(far, at(today, 10, 5), north_m=140)
    found = rules.photo(orders)
    assert rule_keys(found) == {f"photo:{far.id}"} and found[0].evidence["photos"][0]["metres"] == 140
    expired = order(e, at(today, 13), who="wb_mo")            # wb_mo's T certificate expired 20 days ago
    helper = order(e, at(today, 14), coworker="wb_mo")
    keys = rule_keys(rules.certificate(WorkOrder.id.in_([ok.id, expired.id, helper.id]), today))
    assert keys == {f"certificate:{expired.id}", f"certificate:{helper.id}"}
    item = db.session.scalar(select(MaintenanceItem).where(MaintenanceItem.annex == "A").order_by(MaintenanceItem.id))
    db.session.add(WorkOrderItem(work_order_id=ok.id, item_id=item.id, result="fail", note="制动器磨损"))
    db.session.flush()
    failed = rules.failed_items(orders)
    assert rule_keys(failed) == {f"failed_items:{ok.id}"} and "制动器磨损" in failed[0].summary
    db.session.rollback()


def test_machine_room_and_pit_photos_less_than_5_minutes_apart(app):
    today = today_local()
    e = lifts()[0]
    fine, close = order(e, at(today, 8)), order(e, at(today, 10))
    photo(fine, at(today, 8, 10), "machine_room")
    photo(fine, at(today, 8, 15), "pit")                       # exactly 5 minutes: fine
    photo(close, at(today, 10, 10), "machine_room")
    photo(close, at(today, 10, 14, 59), "pit")                  # 4:59: warned
    found = rules.photo_interval(WorkOrder.id.in_([fine.id, close.id]))
    assert rule_keys(found) == {f"photo_interval:{close.id}"}
    assert found[0].evidence["seconds"] == 299.0 and len(found[0].evidence["photo_ids"]) == 2
    db.session.rollback()


def test_volume_per_maintainer_per_day_and_month(app):
    day = today_local() - timedelta(days=1)
    pool = lifts()
    assert len(pool) >= 9, "the demo maintenance unit needs 9 elevators for this test"
    for n, e in enumerate(pool[:8]):                           # 8 elevators a day: the limit, fine
        order(e, at(day, 8, n * 5))
    assert rules.volume(day, maintainer_id=user("wb_qin").id) == []
    order(pool[8], at(day, 18))                                # the 9th
    found = {d.rule: d for d in rules.volume(day, maintainer_id=user("wb_qin").id)}
    assert found["volume_day"].evidence["elevators"] == 9
    assert found["volume_day"].cause_key == f"volume_day:{user('wb_qin').id}:{day.isoformat()}"
    db.session.rollback()


def test_thresholds_come_from_the_deployed_decision_table(app, web):
    """The table is listed for the process admin; a new version deployed takes effect at once."""
    assert "elevator_warning" in web("process_admin").get("/process-admin/").get_data(as_text=True)
    from pathlib import Path

    from app.engine.decisions import deploy_decision_xml
    xml = Path(app.config["RULES_DIR"], "elevator_warning.dmn").read_text(encoding="utf-8")
    edited = xml.replace('<outputEntry id="r13_photo_interval_threshold"><text>5</text>',
                         '<outputEntry id="r13_photo_interval_threshold"><text>3</text>')
    assert edited != xml
    deploy_decision_xml(edited, "elevator_warning.dmn")
    try:
        assert rules.threshold("photo_interval").value == 3
    finally:
        deploy_decision_xml(xml, "elevator_warning.dmn")
    assert rules.threshold("photo_interval").value == 5
    db.session.rollback()


# ---------------------------------------------------------------- nightly job, submission hook, close

def test_nightly_job_raises_each_cause_once_and_sends_one_summary(app):
    from app.scheduler.jobs import run_job
    today = today_local()
    e = lifts()[0]
    db.session.execute(MaintenanceContract.__table__.update().where(MaintenanceContract.equipment_id == e.id)
                       .values(starts_on=today - timedelta(days=60)))
    order(e, at(today - timedelta(days=20)))                  # overdue now
    short = order(e, at(today - timedelta(days=20), 14), 10)  # too short, but older than the nightly window
    recent = order(lifts()[1], at(today - timedelta(days=2)), 12)
    db.session.commit()
    run = run_job("elevator_warnings", "manual")
    assert run.status == "ok", run.error
    mine = select(ElevatorWarning).where(ElevatorWarning.equipment_id.in_([e.id, lifts()[1].id]))
    first = {w.cause_key for w in db.session.scalars(mine)}
    assert f"short_duration:{recent.id}" in first
    assert f"short_duration:{short.id}" not in first          # older than the nightly window
    assert any(k.startswith(f"overdue:{e.id}:") for k in first)
    total = db.session.scalar(select(func.count(ElevatorWarning.id)))
    sms = db.session.scalar(select(func.count(SmsMessage.id)).where(SmsMessage.template_code.like("ELEVATOR_MAINT%")))
    assert sms >= 1
    again = run_job("elevator_warnings", "manual")
    assert again.status == "ok" and again.items == 0
    assert db.session.scalar(select(func.count(ElevatorWarning.id))) == total
    assert db.session.scalar(select(func.count(SmsMessage.id))
                             .where(SmsMessage.template_code.like("ELEVATOR_MAINT%"))) == sms


def test_a_submitted_order_is_checked_and_closes_the_overdue_warning(app):
    from app.elevators import services
    today = today_local()
    e = lifts()[0]
    db.session.execute(MaintenanceContract.__table__.update().where(MaintenanceContract.equipment_id == e.id)
                       .values(starts_on=today - timedelta(days=60)))
    rules.store(rules.overdue(today), "nightly")
    overdue = db.session.scalar(select(ElevatorWarning).where(ElevatorWarning.equipment_id == e.id,
                                                              ElevatorWarning.rule == "overdue"))
    assert overdue is not None and overdue.status == "open"
    o = order(e, at(today, 9), 12, status="submitted")
    assert rules.check_order in services.AFTER_SUBMIT
    services._after_submit(o)
    raised = {w.rule for w in db.session.scalars(select(ElevatorWarning).where(ElevatorWarning.work_order_id == o.id))}
    assert raised == {"short_duration"}
    assert overdue.status == "closed" and o.order_no in overdue.close_reason
    assert db.session.scalar(select(func.count(SmsMessage.id)).where(
        SmsMessage.template_code == "ELEVATOR_MAINT_WARNING", SmsMessage.equipment_id == e.id)) == 1
    services._after_submit(o)                                  # resubmitted after rework: nothing new
    assert db.session.scalar(select(func.count(ElevatorWarning.id)).where(ElevatorWarning.work_order_id == o.id)) == 1
    db.session.commit()


def _one_warning(equipment: Equipment | None = None) -> ElevatorWarning:
    e = equipment or lifts()[0]
    o = order(e, at(today_local(), 9), 5)
    [(warning_id, _draft)] = rules.store(rules.short_duration(WorkOrder.id == o.id), "submit")
    db.session.commit()
    return db.session.get(ElevatorWarning, warning_id)


def test_close_needs_a_reason_and_is_audited(app, web):
    w = _one_warning()
    s = web("xn_supervisor")
    r = s.post(f"/elevator-supervision/warnings/{w.id}", data={"reason": " "})
    assert r.status_code == 422 and "请填写关闭理由" in r.get_data(as_text=True)
    assert db.session.get(ElevatorWarning, w.id).status == "open"
    r = s.post(f"/elevator-supervision/warnings/{w.id}", data={"reason": "已电话核实，电梯停用改造中"})
    assert r.status_code == 302
    db.session.expire_all()
    w = db.session.get(ElevatorWarning, w.id)
    assert w.status == "closed" and w.closed_by_id == user("xn_supervisor").id
    assert db.session.scalar(select(AuditLog.id).where(AuditLog.object_type == "elevator_warning",
                                                       AuditLog.object_id == str(w.id)))
    page = s.get(f"/elevator-supervision/warnings/{w.id}").get_data(as_text=True)
    assert "已电话核实" in page and 'data-testid="close-form"' not in page


def test_scope_other_region_and_other_unit_cannot_see_or_close(app, web, api):
    w = _one_warning(lifts("450102")[0])
    assert web("qx_supervisor").get(f"/elevator-supervision/warnings/{w.id}").status_code == 404
    assert api("qx_supervisor").post(f"/api/v1/elevator-supervision/warnings/{w.id}/close",
                                     json={"reason": "越权关闭尝试"}).status_code == 404
    assert w.id not in [x["id"] for x in api("qx_supervisor").get("/api/v1/elevator-supervision/warnings?status=all")
                        .get_json()["items"]]
    mine = api("wb_quality").get("/api/v1/elevator-supervision/warnings").get_json()["items"]
    assert w.id in [x["id"] for x in mine]                      # the maintenance unit sees its own
    assert web("unit_xn").get("/elevator-supervision/warnings").status_code == 403   # the use unit does not
    assert api("wb_qin").post(f"/api/v1/elevator-supervision/warnings/{w.id}/close",
                              json={"reason": "维保人员不能关闭"}).status_code == 403
    r = api("xn_supervisor").post(f"/api/v1/elevator-supervision/warnings/{w.id}/close", json={"reason": "核实无误关闭"})
    assert r.status_code == 200 and r.get_json()["status"] == "closed"
    assert api("xn_supervisor").post(f"/api/v1/elevator-supervision/warnings/{w.id}/close",
                                     json={"reason": "再次关闭"}).status_code == 409


# ---------------------------------------------------------------- statistics, overdue plans, trace

def test_statistics_figures_match_hand_made_orders(app, web, api):
    today = today_local()
    pool = lifts("450102")
    a, b = pool[0], pool[1]
    order(a, at(today - timedelta(days=3)), 30)
    order(a, at(today - timedelta(days=2)), 50)
    order(b, at(today - timedelta(days=1)), 40, who="wb_lu")
    order(b, at(today - timedelta(days=1), 15), None, status="in_progress")     # not a visit yet
    order(b, at(today - timedelta(days=40)), 40)                                 # before the range
    db.session.commit()
    f = stats.StatsFilter.from_args(user("xn_supervisor"), {"date_from": (today - timedelta(days=7)).isoformat(),
                                                             "date_to": today.isoformat()})
    [county] = stats.region_rows(f)
    assert county["records"] == 3 and county["avg_minutes"] == 40.0
    unit = next(u for u in stats.unit_rows(f) if u["key"] == a.maintenance_org_id)
    assert unit["records"] == 3 and unit["elevators"] == len(pool)
    people = {p["label"]: p for p in stats.maintainer_rows(f, a.maintenance_org_id)}
    assert people[user("wb_qin").display_name]["records"] == 2 and people[user("wb_lu").display_name]["records"] == 1
    assert people[user("wb_qin").display_name]["avg_minutes"] == 40.0
    body = api("nn_city").get(f"/api/v1/elevator-supervision/stats?date_from={f.date_from}&date_to={f.date_to}").get_json()
    xingning = next(r for r in body["regions"] if r["key"] == "450102")
    assert xingning["records"] == 3 and body["totals"]["records"] >= 3
    s = web("xn_supervisor")
    page = s.get(f"/elevator-supervision/stats/units/{a.maintenance_org_id}?date_from={f.date_from}").get_data(as_text=True)
    assert a.code in page and "maintainer-table" in page
    r = s.get(f"/elevator-supervision/stats/export.xlsx?table=maintainer&org_id={a.maintenance_org_id}&date_from={f.date_from}")
    from openpyxl import load_workbook
    sheet = load_workbook(io.BytesIO(r.data)).active
    rows = {row[0]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows[user("wb_qin").display_name][2] == 2
    assert s.get("/elevator-supervision/stats?date_from=2026-13-01").status_code == 200
    bad = api("xn_supervisor").get("/api/v1/elevator-supervision/stats?date_from=x")
    assert bad.status_code == 422 and bad.get_json()["error"]["fields"]["date_from"]
    assert web("wb_quality").get("/elevator-supervision/stats").status_code == 403


def test_overdue_plans_by_region_unit_and_elevator(app, web, api):
    today = today_local()
    a = lifts("450102")[0]
    plan = db.session.scalar(select(MaintenancePlan).where(MaintenancePlan.equipment_id == a.id)
                             .order_by(MaintenancePlan.due_on))
    plan.status, plan.due_on = "planned", today - timedelta(days=4)
    db.session.commit()
    f = stats.StatsFilter.from_args(user("nn_city"), {})
    late = {r["key"]: r for r in stats.overdue_regions(f)}
    assert late["450102"]["elevators"] >= 1
    f = stats.StatsFilter.from_args(user("xn_supervisor"), {"min_days": "4"})
    rows, total = stats.overdue_elevators(f)
    mine = next(r for r in rows if r["equipment_id"] == a.id)
    assert mine["days"] >= 4 and mine["oldest_due"] == (today - timedelta(days=4)).isoformat()
    f.min_days = 5
    assert a.id not in [r["equipment_id"] for r in stats.overdue_elevators(f)[0]]
    f.min_days, f.q = 1, a.code
    assert [r["equipment_id"] for r in stats.overdue_elevators(f)[0]] == [a.id]
    body = api("xn_supervisor").get(f"/api/v1/elevator-supervision/overdue-plans?org_id={a.maintenance_org_id}").get_json()
    assert a.id in [r["equipment_id"] for r in body["items"]]
    assert a.id not in [r["equipment_id"] for r in api("qx_supervisor").get(
        "/api/v1/elevator-supervision/overdue-plans").get_json()["items"]]
    s = web("xn_supervisor")
    assert a.code in s.get("/elevator-supervision/plans").get_data(as_text=True)
    r = s.get("/elevator-supervision/plans/export.xlsx")
    assert r.status_code == 200 and r.mimetype.endswith("sheet")


def test_trace_one_row_per_contract_with_its_visits(app, web, api):
    today = today_local()
    e = lifts("450102")[0]
    current = db.session.scalar(select(MaintenanceContract).where(MaintenanceContract.equipment_id == e.id))
    old = MaintenanceContract(equipment_id=e.id, maintenance_org_id=e.maintenance_org_id, use_org_id=e.use_org_id,
                              contract_no="WBHT-OLD", starts_on=current.starts_on - timedelta(days=365),
                              ends_on=current.starts_on - timedelta(days=1), cycle_days=15)
    db.session.add(old)
    o1 = order(e, at(old.starts_on + timedelta(days=10)), 45, coworker="wb_lu")
    o2 = order(e, at(today), 45)
    db.session.commit()
    entries = stats.trace(e.id)
    assert [x["contract"].id for x in entries] == [current.id, old.id]
    assert [v["order"].id for v in entries[0]["visits"]] == [o2.id]
    assert entries[1]["count"] == 1 and entries[1]["people"] == [user("wb_qin").display_name, user("wb_lu").display_name]
    body = api("xn_supervisor").get(f"/api/v1/elevator-supervision/elevators/{e.id}/trace").get_json()
    assert body["contracts"][1]["visits"][0]["order_no"] == o1.order_no
    assert api("qx_supervisor").get(f"/api/v1/elevator-supervision/elevators/{e.id}/trace").status_code == 404
    page = web("xn_supervisor").get(f"/elevator-supervision/elevators/{e.id}/trace").get_data(as_text=True)
    assert "WBHT-OLD" in page and f"/elevators/orders/{o1.id}" in page


def test_pages_answer_for_their_people(app, web):
    _one_warning()
    s = web("xn_supervisor")
    for url in ("/elevator-supervision/warnings", "/elevator-supervision/warnings?status=all&rule=short_duration",
                "/elevator-supervision/plans", "/elevator-supervision/stats",
                "/elevator-supervision/warnings/export.xlsx"):
        assert s.get(url).status_code == 200, url
    assert web("wb_quality").get("/elevator-supervision/warnings").status_code == 200
    assert web("wb_quality").get("/elevator-supervision/plans").status_code == 403


def test_api_responses_match_the_document(app, api):
    from .test_openapi import check
    today = today_local()
    e = lifts("450102")[0]
    w = _one_warning(e)
    order(e, at(today - timedelta(days=1)), 45, coworker="wb_lu")
    db.session.commit()
    sup = api("xn_supervisor")
    check(app, sup.get("/api/v1/elevator-supervision/warnings?status=all&rule=short_duration"), 200)
    check(app, sup.get(f"/api/v1/elevator-supervision/warnings/{w.id}"), 200)
    found = lambda q: [x["id"] for x in sup.get("/api/v1/elevator-supervision/warnings",   # noqa: E731
                                                query_string={"status": "all", "q": q}).get_json()["items"]]
    assert w.id in found(e.code) and found("%") == [] and found("_") == []     # % and _ are literal characters
    check(app, sup.get("/api/v1/elevator-supervision/warnings/999999"), 404)
    check(app, sup.post(f"/api/v1/elevator-supervision/warnings/{w.id}/close", json={"reason": "短"}), 422)
    check(app, sup.post(f"/api/v1/elevator-supervision/warnings/{w.id}/close", json={"reason": "核实后关闭"}), 200)
    check(app, sup.post(f"/api/v1/elevator-supervision/warnings/{w.id}/close", json={"reason": "核实后关闭"}), 409)
    check(app, sup.get("/api/v1/elevator-supervision/overdue-plans/summary"), 200)
    check(app, sup.get("/api/v1/elevator-supervision/overdue-plans?min_days=1"), 200)
    check(app, sup.get("/api/v1/elevator-supervision/stats"), 200)
    check(app, sup.get("/api/v1/elevator-supervision/stats?date_to=2026-02-30"), 422)
    check(app, sup.get(f"/api/v1/elevator-supervision/stats/units/{e.maintenance_org_id}"), 200)
    check(app, sup.get("/api/v1/elevator-supervision/stats/units/999999"), 404)
    check(app, sup.get(f"/api/v1/elevator-supervision/elevators/{e.id}/trace"), 200)
    check(app, api("wb_quality").get("/api/v1/elevator-supervision/stats"), 403)


# ---------------------------------------------------------------- the daily summary

def _summary_rows() -> set:
    from app.elevator_supervision.models import ElevatorStatsDay, ElevatorStatsMonth
    rows = set()
    for model in (ElevatorStatsDay, ElevatorStatsMonth):
        t = model.__table__
        cols = [c for c in t.c if c.name != "id"]
        rows |= {(t.name, *(round(v, 3) if isinstance(v, float) else v for v in r))
                 for r in db.session.execute(select(*cols))}
    return rows


def _raw_and_summary(f) -> tuple:
    """The figures of the range computed from the raw rows and from the summary, by (region, unit), by
    maintainer of wb_qin's unit, and warnings by rule."""
    org = user("wb_qin").org_id
    raw = (stats.records_by(f, (WorkOrder.region_code, WorkOrder.maintenance_org_id)),
           stats.warnings_by(f, (ElevatorWarning.region_code, ElevatorWarning.maintenance_org_id)),
           stats.records_by(f, WorkOrder.maintainer_id, WorkOrder.maintenance_org_id == org),
           stats.warnings_by(f, ElevatorWarning.maintainer_id, ElevatorWarning.maintenance_org_id == org,
                             ElevatorWarning.maintainer_id.is_not(None)),
           [(rules.RULES[k], n) for k, n in sorted(stats.warnings_by(f, ElevatorWarning.rule).items(),
                                                   key=lambda kv: list(rules.RULES).index(kv[0]))])
    by_unit = stats.summary_by_unit(f)
    by_person = stats.summary_by_maintainer(f, org)
    overview = stats.Overview(f)
    summed = (*by_unit, *by_person, stats.rule_counts(f), overview.rule_counts())
    raw = (*raw, raw[4])

    def rounded(d):
        return {k: tuple(round(x, 3) for x in v) if isinstance(v, tuple) else v for k, v in d.items()} \
            if isinstance(d, dict) else d
    return tuple(map(rounded, raw)), tuple(map(rounded, summed))


def test_summary_equals_the_raw_figures_with_late_records_and_closed_warnings(app, web):
    from app.elevator_supervision import summary
    from app.elevator_supervision.models import ElevatorStatsDay
    today = today_local()
    xn, qx = lifts("450102"), lifts("450103")
    order(xn[0], at(today - timedelta(days=3), 8), 30)
    order(xn[1], at(today - timedelta(days=3), 23, 50), 25, maint_type="QUARTER", who="wb_lu")  # local day, not UTC
    order(qx[0], at(today - timedelta(days=1), 0, 5), 61, maint_type="YEAR")
    order(qx[0], at(today - timedelta(days=1), 9), None, status="in_progress")      # not a visit yet
    late = order(xn[0], at(today - timedelta(days=25), 10), 47, maint_type="HALF_YEAR")   # arrives late (offline sync)
    db.session.commit()
    closed = _one_warning(xn[1])                          # short_duration today, then closed
    rules.close(user("xn_supervisor"), closed, "已核实，现场维保正常")
    db.session.execute(MaintenanceContract.__table__.update().where(MaintenanceContract.equipment_id == xn[2].id)
                       .values(starts_on=today - timedelta(days=60)))
    rules.store(rules.overdue(today), "nightly")          # warnings without a maintainer (maintainer 0)
    db.session.commit()
    wip = db.session.scalar(select(WorkOrder).where(WorkOrder.equipment_id == qx[0].id,
                                                    WorkOrder.status == "in_progress"))
    wip.status, wip.checkout_at = "finished", wip.checkin_at + timedelta(minutes=33)   # checked out later
    moved = db.session.get(WorkOrder, late.id)
    moved.checkin_at = at(today - timedelta(days=26), 10)    # a back-filled time corrected: the old day loses it
    moved.checkout_at = moved.checkin_at + timedelta(minutes=47)
    db.session.commit()
    for user_name in ("gx_province", "xn_supervisor"):
        last_month = today.replace(day=1) - timedelta(days=1)
        ranges = [(today - timedelta(days=days), today) for days in (0, 2, 30, 365, 3 * 365)]
        ranges += [(last_month.replace(day=1), last_month), (last_month.replace(day=1), today),   # whole months
                   (last_month - timedelta(days=3), today - timedelta(days=1))]
        for a, b in ranges:
            f = stats.StatsFilter.from_args(user(user_name), {"date_from": a.isoformat(), "date_to": b.isoformat()})
            assert not f.errors
            raw, summed = _raw_and_summary(f)
            assert raw == summed, (user_name, a, b)
    f = stats.StatsFilter.from_args(user("gx_province"), {"date_from": (today - timedelta(days=30)).isoformat()})
    mine = db.session.scalars(select(ElevatorStatsDay).where(ElevatorStatsDay.maintenance_org_id == xn[0].maintenance_org_id,
                                                             ElevatorStatsDay.day >= f.date_from,
                                                             ElevatorStatsDay.maintainer_id >= 0)).all()
    by_day = defaultdict_sum(mine)
    assert by_day[today - timedelta(days=26)]["type_half_year"] == 1 and by_day[today - timedelta(days=25)]["records"] == 0
    assert by_day[today - timedelta(days=3)]["type_quarter"] == 1 and by_day[today]["warnings_closed"] == 1
    assert by_day[today]["w_short_duration"] >= 1 and by_day[today]["w_overdue"] >= 1
    before = _summary_rows()
    result = summary.rebuild(today - timedelta(days=40), today)     # idempotent
    assert result["days"] == 41 and _summary_rows() == before
    # a bulk write outside the ORM is not seen until the range is recomputed (nightly job, CLI)
    db.session.execute(WorkOrder.__table__.update().where(WorkOrder.id == late.id).values(status="in_progress"))
    db.session.commit()
    out = app.test_cli_runner().invoke(args=["elevator-stats", "rebuild", "--from",
                                             (today - timedelta(days=30)).isoformat()])
    assert "已重算 31 天" in out.output, out.output
    raw, summed = _raw_and_summary(f)
    assert raw == summed and raw[0]
    assert "日期格式" in app.test_cli_runner().invoke(args=["elevator-stats", "rebuild", "--to", "x"]).output


def defaultdict_sum(rows) -> dict:
    from collections import defaultdict

    from app.elevator_supervision.summary import SUM_COLUMNS
    out = defaultdict(lambda: dict.fromkeys(SUM_COLUMNS, 0))
    for r in rows:
        for name in SUM_COLUMNS:
            out[r.day][name] += getattr(r, name)
    return out


def test_statistics_job_recomputes_the_recent_days(app):
    from app.scheduler.jobs import run_job
    e = lifts("450102")[0]
    o = order(e, at(today_local() - timedelta(days=2)), 35)
    db.session.commit()
    db.session.execute(WorkOrder.__table__.delete().where(WorkOrder.id == o.id))     # outside the ORM
    db.session.commit()
    f = stats.StatsFilter.from_args(user("xn_supervisor"), {})
    assert _raw_and_summary(f)[0] != _raw_and_summary(f)[1]
    run = run_job("elevator_stats", "manual")
    assert run.status == "ok", run.error
    raw, summed = _raw_and_summary(f)
    assert raw == summed


def test_maintenance_unit_sees_its_own_statistics_only(app, web, api):
    today = today_local()
    e = lifts("450102")[0]
    far = lifts("450103")[0] if lifts("450103") else e      # the unit's elevators in another county count too
    order(e, at(today - timedelta(days=1)), 40)
    order(far, at(today - timedelta(days=2)), 50, who="wb_lu")
    db.session.commit()
    mine = user("wb_quality").org_id
    s = web("wb_quality")
    r = s.get("/elevator-supervision/stats/mine")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/elevator-supervision/stats/units/{mine}")
    page = s.get(f"/elevator-supervision/stats/units/{mine}").get_data(as_text=True)
    assert "maintainer-table" in page and e.code in page and "本单位维保统计" in page
    assert "/elevator-supervision/stats?" not in page                        # no link into the regulators' pages
    other = user("unit_xn").org_id
    assert s.get(f"/elevator-supervision/stats/units/{other}").status_code == 403
    assert s.get(f"/elevator-supervision/stats/export.xlsx?table=maintainer&org_id={other}").status_code == 403
    assert s.get("/elevator-supervision/stats/export.xlsx?table=region").status_code == 403
    r = s.get(f"/elevator-supervision/stats/export.xlsx?table=maintainer&org_id={mine}")
    from openpyxl import load_workbook
    rows = {row[0]: row for row in load_workbook(io.BytesIO(r.data)).active.iter_rows(min_row=2, values_only=True)}
    assert rows[user("wb_qin").display_name][2] == 1 and rows[user("wb_lu").display_name][2] == 1
    body = api("wb_quality").get(f"/api/v1/elevator-supervision/stats/units/{mine}").get_json()
    people = {p["label"]: p for p in body["maintainers"]}
    assert people[user("wb_qin").display_name]["records"] == 1 and people[user("wb_lu").display_name]["avg_minutes"] == 50.0
    assert api("wb_quality").get(f"/api/v1/elevator-supervision/stats/units/{other}").status_code == 403
    assert api("wb_qin").get(f"/api/v1/elevator-supervision/stats/units/{mine}").status_code == 403   # a maintainer
    assert web("wb_qin").get("/elevator-supervision/stats/mine").status_code == 403
    menu = s.get("/inbox").get_data(as_text=True)
    assert "本单位维保统计" in menu


def test_back_filled_orders_skip_the_position_rules_and_are_checked_when_entered(app):
    """A back-filled paper order carries the elevator's registered position (distance 0, proof "backfill"),
    not a measured one: 打卡位置异常 and the photo-position rule leave it out. Entering one runs the
    on-submission checks at once (no sign-off process runs for it)."""
    from app.elevator_exemptions.services import backfill

    from .test_elevator_exemptions import approved, backfill_body
    from .test_elevator_exemptions import lifts as unit_lifts
    today = today_local()
    e = lifts()[0]
    paper = order(e, at(today, 8), distance=500, out_distance=500)
    paper.checkin_proof = "backfill"
    photo(paper, at(today, 8, 5), north_m=400)
    site = order(e, at(today, 10), distance=500, out_distance=500)
    photo(site, at(today, 10, 5), north_m=400)
    orders = WorkOrder.id.in_([paper.id, site.id])
    assert rule_keys(rules.position(orders)) == {f"position:{site.id}"}
    assert rule_keys(rules.photo(orders)) == {f"photo:{site.id}"}
    assert f"position:{paper.id}" not in rule_keys(rules.order_drafts(orders, today))
    db.session.rollback()

    a = unit_lifts()[0]
    approved(a)
    entered, duplicate = backfill(user("wb_quality"), backfill_body(a, start_time="09:00", end_time="09:10"))
    assert not duplicate
    raised = set(db.session.scalars(select(ElevatorWarning.rule).where(ElevatorWarning.work_order_id == entered.id)))
    assert "short_duration" in raised and "position" not in raised
    db.session.commit()
