"""Maintenance-unit rating: quality patrols (sample, grade, scope), the evaluation of a unit against
hand-made data (the DMN formula, and the same data after the process admin edits the table), 96111
rescue records (Excel import with bad rows refused per row, API push, pull from a fake platform), the
star-rating loop (a return, then approval) and the rating on the unit's profile and the public page."""
from __future__ import annotations

import io
import json
from datetime import datetime, time, timedelta

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from app.core.clock import as_utc, today_local
from app.core.external import verify_request

from .conftest import complete, open_task, user
from .fakes import FakeServer
from .test_openapi import check



def _bj():
    from app.elevator_rating.services import BEIJING
    return BEIJING


def _maint_org_id() -> int:
    return user("wb_unit").org_id


def _archived(org_id: int) -> list:
    from app.elevators.models import WorkOrder
    from app.extensions import db
    return list(db.session.scalars(select(WorkOrder).where(WorkOrder.maintenance_org_id == org_id,
                                                           WorkOrder.status == "archived").order_by(WorkOrder.id)))


@pytest.fixture
def records(app):
    """Eight archived maintenance records of the demo unit over the last two months (the demo has none)."""
    return _make_records(8)


def _make_records(count: int) -> list:
    from app.core.models import Equipment
    from app.elevators.models import MaintenanceContract, WorkOrder
    from app.extensions import db
    org_id = _maint_org_id()
    lifts = list(db.session.scalars(select(Equipment).join(MaintenanceContract, MaintenanceContract.equipment_id == Equipment.id)
                                    .where(MaintenanceContract.maintenance_org_id == org_id).order_by(Equipment.id)))
    maintainer = user("wb_qin")
    for n in range(count):
        e = lifts[n % len(lifts)]
        start = as_utc(datetime.combine(today_local() - timedelta(days=7 + 6 * n), time(9, 10), _bj()))
        db.session.add(WorkOrder(client_id=f"t-rating-{n}", order_no=f"WBT{n:05d}", kind="maintenance", equipment_id=e.id,
                                 maintenance_org_id=org_id, use_org_id=e.use_org_id, region_code=e.region_code,
                                 maint_type="HALF", maintainer_id=maintainer.id, status="archived", checkin_at=start,
                                 checkin_lat=22.8, checkin_lng=108.3, checkin_distance=12,
                                 checkout_at=start + timedelta(minutes=50), archived_at=start + timedelta(hours=3)))
    db.session.commit()
    return _archived(org_id)


# ---------------------------------------------------------------- patrols

def test_a_regulator_samples_archived_records_at_random_and_grades_them(app, api, records):
    from app.elevator_rating.models import PatrolItem
    from app.extensions import db
    from app.security.models import AuditLog
    from app.taskops.models import Notification
    org_id = _maint_org_id()
    sup = api("xn_supervisor")
    body = check(app, sup.post("/api/v1/elevator-rating/patrols",
                               json={"method": "random", "size": 3, "maintenance_org_id": org_id, "title": "十二月抽查"}), 201)
    assert body["sample_size"] == 3 and len(body["items"]) == 3 and body["by_regulator"]
    archived = {o.id for o in records}
    assert {i["work_order_id"] for i in body["items"]} <= archived
    assert len({i["work_order_id"] for i in body["items"]}) == 3
    a, b, c = body["items"]
    base = f"/api/v1/elevator-rating/patrols/{body['id']}/items"
    ok = {"items": "ok", "photos": "ok", "duration": "ok", "signatures": "ok", "site": "ok"}
    # a failing check cannot be graded 合格; 基本合格 / 不合格 need a remark; every check is answered
    refused = check(app, sup.post(f"{base}/{a['id']}/grade", json={"grade": "pass", "checks": {**ok, "photos": "fail"}}), 422)
    assert refused["error"]["fields"]["grade"] == "有不符合的检查项时不能评为合格"
    refused = check(app, sup.post(f"{base}/{b['id']}/grade", json={"grade": "basic", "checks": ok}), 422)
    assert "remark" in refused["error"]["fields"]
    refused = check(app, sup.post(f"{base}/{b['id']}/grade", json={"grade": "fail", "checks": {"items": "ok"}}), 422)
    assert "check_photos" in refused["error"]["fields"]
    assert db.session.scalar(select(func.count()).select_from(PatrolItem).where(PatrolItem.grade.is_not(None))) == 0
    check(app, sup.post(f"{base}/{a['id']}/grade", json={"grade": "pass", "checks": ok}), 200)
    check(app, sup.post(f"{base}/{b['id']}/grade", json={"grade": "basic", "checks": ok, "remark": "照片偏暗"}), 200)
    graded = check(app, sup.post(f"{base}/{c['id']}/grade", json={"grade": "fail", "checks": {**ok, "duration": "fail"},
                                                                   "remark": "作业时长明显不足"}), 200)
    assert graded["grade_label"] == "不合格" and graded["checks"]["duration"] == "fail"
    detail = check(app, sup.get(f"/api/v1/elevator-rating/patrols/{body['id']}"), 200)
    assert (detail["graded"], detail["pass"], detail["basic"], detail["fail"]) == (3, 1, 1, 1)
    # the unit hears of the non-passing grades; every grade is audited
    notes = db.session.scalars(select(Notification.title).where(Notification.user_id == user("wb_unit").id)).all()
    assert any("评定为不合格" in t for t in notes) and any("评定为基本合格" in t for t in notes)
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.object_type == "rating_patrol_item")) == 3
    # the grades feed the evaluation
    evaluation = check(app, sup.get(f"/api/v1/elevator-rating/units/{org_id}/evaluation"), 200)
    assert (evaluation["figures"]["patrol_pass"], evaluation["figures"]["patrol_basic"],
            evaluation["figures"]["patrol_fail"]) == (1, 1, 1)
    # the unit sees the results; the page lists the patrol
    unit_view = check(app, api("wb_unit").get(f"/api/v1/elevator-rating/patrols/{body['id']}"), 200)
    assert len(unit_view["items"]) == 3
    check(app, api("wb_unit").post(f"{base}/{a['id']}/grade", json={"grade": "fail", "checks": ok, "remark": "改一下"}), 403)


def test_the_quality_manager_picks_own_records_and_other_regions_cannot_see_or_sample(app, api, web, records):
    org_id = _maint_org_id()
    own = records
    quality = api("wb_quality")
    body = check(app, quality.post("/api/v1/elevator-rating/patrols",
                                   json={"method": "pick", "work_order_ids": [own[0].id, own[1].id]}), 201)
    assert not body["by_regulator"] and body["maintenance_org_id"] == org_id
    assert sorted(i["work_order_id"] for i in body["items"]) == sorted([own[0].id, own[1].id])
    # a record that does not exist or is not archived is refused, nothing made
    refused = check(app, quality.post("/api/v1/elevator-rating/patrols",
                                      json={"method": "pick", "work_order_ids": [own[0].id, 999999]}), 422)
    assert "work_order_ids" in refused["error"]["fields"]
    # another county sees nothing of it and has no records of this unit to sample
    lz = api("lz_supervisor")
    check(app, lz.get(f"/api/v1/elevator-rating/patrols/{body['id']}"), 404)
    assert body["id"] not in {p["id"] for p in check(app, lz.get("/api/v1/elevator-rating/patrols"), 200)["items"]}
    check(app, lz.post("/api/v1/elevator-rating/patrols", json={"method": "random", "size": 2,
                                                                "maintenance_org_id": org_id}), 422)
    refused = check(app, lz.post("/api/v1/elevator-rating/patrols", json={"method": "random", "size": 2}), 422)
    assert refused["error"]["fields"]["size"] == "所选范围内没有已归档的维保记录"
    # a use unit may not patrol; a maintainer may not either
    check(app, api("unit_xn").post("/api/v1/elevator-rating/patrols", json={"method": "random", "size": 1}), 403)
    check(app, api("unit_xn").get("/api/v1/elevator-rating/patrols"), 403)
    # the pages: list, pick pool, grade form
    page = web("wb_quality")
    assert body["patrol_no"] in page.get("/elevator-rating/patrols").get_data(as_text=True)
    assert own[2].order_no in page.get("/elevator-rating/patrols/pool").get_data(as_text=True)
    html = page.get(f"/elevator-rating/patrols/{body['id']}").get_data(as_text=True)
    assert "保存评定" in html and own[0].order_no in html
    resp = page.post("/elevator-rating/patrols", data={"method": "random", "size": "2"})
    assert resp.status_code == 302
    export = page.get("/elevator-rating/patrols/export.xlsx")
    assert export.status_code == 200 and export.data[:2] == b"PK"


# ---------------------------------------------------------------- evaluation against hand-made data

@pytest.fixture
def hand_made(app):
    """A fresh maintenance unit with two elevators and exactly known facts over a 180-day period."""
    from app.core.models import Equipment, Organization
    from app.core.validators import uscc_check_char
    from app.elevator_rating.models import Patrol, PatrolItem, Rescue
    from app.elevators.models import ElevatorFacts, MaintenanceContract, MaintenancePlan, WorkOrder
    from app.extensions import db
    from app.inspections.models import InspectionReport
    today = today_local()
    start, end = today - timedelta(days=200), today - timedelta(days=20)
    first17 = "91450102MA5RT0001"
    org = Organization(uscc=first17 + uscc_check_char(first17), name="测试评价电梯工程有限公司（测试）",
                       kind="maintenance_unit", region_code="450102", address="南宁市兴宁区测试路1号")
    db.session.add(org)
    db.session.flush()
    owner = user("unit_xn")
    lifts = []
    for n in range(2):
        e = Equipment(code=f"3110450102209{n:05d}", name=f"评价测试电梯{n + 1}号", category_code="3110",
                      use_org_id=owner.org_id, region_code="450102", registered_region_code="450102", movable=False,
                      address="南宁市兴宁区测试路1号", status="in_use", lat=22.82, lng=108.32, maintenance_org_id=org.id)
        db.session.add(e)
        db.session.flush()
        db.session.add(ElevatorFacts(equipment_id=e.id, elevator_type="traction", rescue_code=f"45019900{n:02d}"))
        db.session.add(MaintenanceContract(equipment_id=e.id, maintenance_org_id=org.id, use_org_id=owner.org_id,
                                           starts_on=start - timedelta(days=30), ends_on=end + timedelta(days=300),
                                           cycle_days=15))
        lifts.append(e)
    d = start + timedelta(days=10)
    plans = [(d, "done", d), (d + timedelta(days=15), "done", d + timedelta(days=14)),   # on time
             (d + timedelta(days=30), "done", d + timedelta(days=32)),                     # late
             (d + timedelta(days=45), "planned", None),                                   # never done
             (end + timedelta(days=5), "done", end + timedelta(days=5))]                  # outside the period
    for due, status, done in plans:
        db.session.add(MaintenancePlan(equipment_id=lifts[0].id, maintenance_org_id=org.id, due_on=due,
                                       maint_type="HALF", status=status, done_on=done))

    def at(day, minutes=0):
        return as_utc(datetime.combine(day, time(10, 0), _bj()) + timedelta(minutes=minutes))
    for no, (day, release, trapped) in enumerate([(d, 20, 2), (d + timedelta(days=40), 50, 1), (d + timedelta(days=60), None, 0)]):
        db.session.add(Rescue(rescue_no=f"T-RESCUE-{no}", equipment_id=lifts[no % 2].id, maintenance_org_id=org.id,
                              region_code="450102", alarm_at=at(day), arrived_at=at(day, 10),
                              released_at=at(day, release) if release else None, trapped=trapped))
    agency = db.session.scalar(select(Organization).where(Organization.kind == "inspection_agency"))
    for no, (eq, day, conclusion, kind) in enumerate([(lifts[0], d, "合格", "periodic"),
                                                      (lifts[1], d + timedelta(days=3), "复检合格", "periodic"),
                                                      (lifts[1], d + timedelta(days=4), "合格", "supervision")]):
        db.session.add(InspectionReport(report_no=f"T-EVAL-{no}", equipment_id=eq.id, agency_org_id=agency.id,
                                        region_code="450102", inspection_type=kind, inspected_on=day,
                                        conclusion=conclusion))
    maintainer = user("wb_qin")
    patrol = Patrol(patrol_no="XJTEST0001", created_by_id=user("xn_supervisor").id, region_code="450102",
                    maintenance_org_id=org.id, method="pick", sample_size=2)
    db.session.add(patrol)
    db.session.flush()
    for no, grade in enumerate(["pass", "basic"]):
        o = WorkOrder(client_id=f"t-eval-{no}", order_no=f"WBTEST{no:05d}", equipment_id=lifts[0].id,
                      maintenance_org_id=org.id, use_org_id=owner.org_id, region_code="450102", maint_type="HALF",
                      maintainer_id=maintainer.id, status="archived", checkin_at=at(d + timedelta(days=no)),
                      checkin_lat=22.82, checkin_lng=108.32, checkin_distance=5)
        db.session.add(o)
        db.session.flush()
        db.session.add(PatrolItem(patrol_id=patrol.id, work_order_id=o.id, maintenance_org_id=org.id, grade=grade,
                                  checks={}, graded_at=at(d + timedelta(days=no + 1))))
    db.session.commit()
    yield org, start, end
    from app.engine import decisions
    decisions._ENGINES.pop("elevator_evaluation", None)     # an edited table must not outlive its test


def test_the_evaluation_figures_and_score_match_hand_made_data_and_an_edited_table(app, api, hand_made):
    from app.elevator_rating import services
    from app.extensions import db
    org, start, end = hand_made
    e = services.evaluate(org.id, start, end)
    f = e["figures"]
    assert (f["elevators"], f["plans_due"], f["plans_on_time"], f["on_time_rate"]) == (2, 4, 2, 50.0)
    assert (f["rescue_count"], f["trapped_rescues"], f["trapped_people"]) == (3, 2, 3)
    assert (f["avg_release_minutes"], f["avg_arrival_minutes"], f["rescues_per_100"]) == (35.0, 10.0, 150.0)
    assert (f["inspections"], f["inspections_first_pass"], f["first_pass_rate"]) == (2, 1, 50.0)   # periodic only
    assert (f["patrol_graded"], f["patrol_pass"], f["patrol_basic"], f["patrol_fail"]) == (2, 1, 1, 0)
    # 0.35×50 + 0.25×50 + 0.20×80 + 0.10×(100 − 2×5) + 0.10×max(0, 100 − 5×150) = 17.5 + 12.5 + 16 + 9 + 0
    assert e["score"] == 55.0 and e["grade"] == "D" and e["decision_version"] == 1
    # a list page computes several units at once: the same figures
    many = services.evaluate_many([_maint_org_id(), org.id], start, end)
    assert many[org.id] == e and many[_maint_org_id()] == services.evaluate(_maint_org_id(), start, end)
    # the page shows every input, the formula and the score
    sup = api("xn_supervisor")
    body = check(app, sup.get(f"/api/v1/elevator-rating/units/{org.id}/evaluation?date_from={start}&date_to={end}"), 200)
    assert body["score"] == 55.0 and body["figures"] == f
    # the process admin changes the weights in a draft of the table and deploys it (流程管理 / 决策表):
    # the same facts score by the new version
    from app.procadmin import services as procadmin
    admin = user("process_admin")
    draft = procadmin.start_draft("decision", "elevator_evaluation", admin)
    (filename, xml), = json.loads(draft.dmn_json).items()
    start_at = xml.index('<outputEntry id="r_score_score"><text>') + len('<outputEntry id="r_score_score"><text>')
    edited = xml[:start_at] + "round(0.5 * on_time_rate + 0.5 * first_pass_rate + 40, 1)" + xml[xml.index("</text>", start_at):]
    assert procadmin.save_draft(draft, admin, dmn={filename: edited}) == []
    procadmin.deploy_draft(draft, admin)
    db.session.commit()
    e2 = services.evaluate(org.id, start, end)
    assert e2["score"] == 90.0 and e2["grade"] == "A" and e2["decision_version"] == 2
    # a period with no elevators is not scored
    empty = services.evaluate(org.id, start - timedelta(days=900), start - timedelta(days=800))
    assert empty["score"] is None and empty["grade"] is None


def test_the_grade_thresholds_are_the_guangxi_credit_grades():
    """shared/reference/guangxi_elevator_maintenance_credit.json: A >= 90, B >= 80, C >= 60, D below."""
    from app.elevator_rating.services import GRADE_FLOORS, grade_for
    assert GRADE_FLOORS == (("A", 90), ("B", 80), ("C", 60))
    assert [grade_for(s) for s in (100, 90, 89.9, 80, 79.9, 60, 59.9, 0, None)] == \
        ["A", "A", "B", "B", "C", "C", "D", "D", None]


# ---------------------------------------------------------------- rescues

def _workbook(rows: list[list]) -> io.BytesIO:
    wb = Workbook()
    ws = wb.active
    ws.append(["救援单号*", "96111救援码", "设备代码", "报警时间*", "到达时间", "解救时间", "被困人数", "困人原因"])
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    return buf


def _rescue_code(index: int = 0) -> str:
    from app.elevators.models import ElevatorFacts, MaintenanceContract
    from app.extensions import db
    return list(db.session.scalars(select(ElevatorFacts.rescue_code).join(
        MaintenanceContract, MaintenanceContract.equipment_id == ElevatorFacts.equipment_id)
        .where(MaintenanceContract.maintenance_org_id == _maint_org_id()).order_by(ElevatorFacts.id)))[index]


def test_rescue_import_refuses_bad_rows_one_by_one_and_keeps_the_good(app, web):
    from werkzeug.datastructures import FileStorage

    from app.core import importer
    from app.elevator_rating.models import Rescue
    from app.extensions import db
    code = _rescue_code()
    day = (today_local() - timedelta(days=3)).isoformat()
    rows = [["R-OK-1", code, None, f"{day} 10:00", f"{day} 10:15", f"{day} 10:30", 2, "停电"],
            ["R-BAD-TIME", code, None, "昨天上午", None, None, 1, None],
            ["R-BAD-CODE", "0000000000", None, f"{day} 11:00", None, None, 0, None],
            ["R-BAD-ORDER", code, None, f"{day} 12:00", f"{day} 12:20", f"{day} 12:10", 1, None],
            ["R-OK-1", code, None, f"{day} 10:00", None, None, 0, None],
            ["R-NO-LIFT", None, None, f"{day} 13:00", None, None, 0, None],
            ["R-OK-2", None, user_equipment_code(), datetime.fromisoformat(f"{day}T14:00"), None, None, 0, "误报"]]
    job = importer.start_import("rescues", user("xn_supervisor"),
                                FileStorage(_workbook(rows), filename="96111导出.xlsx"))
    job = importer.run_job(job.id)
    assert (job.status, job.created, job.failed) == ("done", 2, 5), job.message
    stored = {r.rescue_no: r for r in db.session.scalars(select(Rescue).where(Rescue.rescue_no.like("R-%")))}
    assert set(stored) == {"R-OK-1", "R-OK-2"}
    assert stored["R-OK-1"].trapped == 2 and stored["R-OK-1"].release_minutes == 30.0
    assert stored["R-OK-1"].maintenance_org_id == _maint_org_id()
    from openpyxl import load_workbook
    report = load_workbook(importer.report_path(job))
    reasons = [tuple(r[:3]) for r in report.worksheets[0].iter_rows(min_row=2, values_only=True)]
    assert (3, "报警时间", "时间格式应为 YYYY-MM-DD HH:MM 或 ISO 8601") in reasons
    assert (4, "96111救援码", "电梯不存在或不在您的管辖范围内") in reasons
    assert (5, "解救时间", "解救时间不能早于到达时间") in reasons
    assert (6, "救援单号", "与本文件第 2 行重复") in reasons
    assert (7, "96111救援码", "请填写96111救援码或设备代码") in reasons
    # importing the same file again adds nothing
    again = importer.run_job(importer.start_import("rescues", user("xn_supervisor"),
                                                   FileStorage(_workbook(rows), filename="96111导出.xlsx")).id)
    assert (again.created, again.unchanged) == (0, 2)
    # another county cannot import rescues of these elevators; a unit cannot import at all
    other = importer.run_job(importer.start_import("rescues", user("lz_supervisor"),
                                                   FileStorage(_workbook(rows[:1]), filename="x.xlsx")).id)
    assert (other.created, other.failed) == (0, 1)
    with pytest.raises(Exception):
        importer.start_import("rescues", user("wb_unit"), FileStorage(_workbook(rows[:1]), filename="x.xlsx"))
    page = web("xn_supervisor").get("/elevator-rating/rescues")
    assert "R-OK-1" in page.get_data(as_text=True)
    assert "R-OK-1" not in web("lz_supervisor").get("/elevator-rating/rescues").get_data(as_text=True)


def user_equipment_code() -> str:
    from app.core.models import Equipment
    from app.elevators.models import ElevatorFacts
    from app.extensions import db
    return db.session.scalar(select(Equipment.code).join(ElevatorFacts, ElevatorFacts.equipment_id == Equipment.id)
                             .where(ElevatorFacts.rescue_code == _rescue_code(1)))


def test_rescues_pushed_by_api_and_pulled_from_the_platform_get_a_result_each(app, api, monkeypatch):
    code = _rescue_code()
    day = (today_local() - timedelta(days=2)).isoformat()
    sup = api("xn_supervisor")
    body = check(app, sup.post("/api/v1/elevator-rating/rescues", json={"records": [
        {"rescue_no": "API-1", "rescue_code": code, "alarm_at": f"{day}T09:00:00+08:00",
         "arrived_at": f"{day}T09:12:00+08:00", "released_at": f"{day}T09:20:00+08:00", "trapped": 1},
        {"rescue_no": "API-2", "rescue_code": code, "alarm_at": f"{day}T09:00:00+08:00", "trapped": -1},
        "not an object"]}), 200)
    assert (body["created"], body["refused"]) == (1, 2)
    assert body["results"][1]["errors"] == {"trapped": "被困人数应为 0–100 的整数"}
    check(app, api("wb_unit").post("/api/v1/elevator-rating/rescues", json={"records": []}), 403)
    check(app, sup.post("/api/v1/elevator-rating/rescues", json={"records": []}), 422)
    listed = check(app, api("wb_unit").get("/api/v1/elevator-rating/rescues?q=API-1"), 200)
    assert [r["rescue_no"] for r in listed["items"]] == ["API-1"] and listed["items"][0]["release_minutes"] == 20.0

    def rescues(req):
        check_sig = verify_request(req.headers, "GET", req.path, req.body, lambda k: "s3cret" if k == "gx" else None)
        if not check_sig.ok:
            return 401, {"code": "bad_signature", "message": check_sig.reason}
        page = int(req.path.split("page=")[1].split("&")[0])
        items = [{"rescue_no": "PULL-1", "rescue_code": code, "alarm_at": f"{day}T15:00:00+08:00",
                  "arrived_at": f"{day}T15:10:00+08:00", "released_at": f"{day}T15:40:00+08:00", "trapped": 2}] \
            if page == 1 else [{"rescue_no": "PULL-2", "rescue_code": "nope", "alarm_at": f"{day}T16:00:00+08:00"}]
        return 200, {"code": "0", "items": items, "page": page, "pages": 2}
    not_configured = check(app, sup.post("/api/v1/elevator-rating/rescues/pull", json={"date_from": day, "date_to": day}), 409)
    assert not_configured["error"]["code"] == "external_not_configured"
    with FakeServer({("GET", "/v1/rescues"): rescues}) as fake:
        for key, value in {"PROVIDER": "http", "URL": fake.url, "APP_KEY": "gx", "SECRET": "s3cret"}.items():
            monkeypatch.setitem(app.config, f"EXTERNAL_RESCUE_PLATFORM_{key}", value)
        pulled = check(app, sup.post("/api/v1/elevator-rating/rescues/pull",
                                     json={"date_from": day, "date_to": day}), 200)
        assert (pulled["created"], pulled["refused"]) == (1, 1)
        assert pulled["results"][1]["errors"] == {"rescue_code": "电梯不存在或不在您的管辖范围内"}
        assert [r.path.split("?")[0] for r in fake.received] == ["/v1/rescues", "/v1/rescues"]
        monkeypatch.setitem(app.config, "EXTERNAL_RESCUE_PLATFORM_SECRET", "wrong")
        failed = check(app, sup.post("/api/v1/elevator-rating/rescues/pull", json={"date_from": day, "date_to": day}), 502)
        assert "HTTP 401" in failed["error"]["message"]


# ---------------------------------------------------------------- star rating loop

def test_the_star_rating_loop_with_a_return_and_the_rating_on_the_profile_and_public_page(app, api, web):
    from app.cases.models import Task
    from app.elevator_rating import services
    from app.elevator_rating.models import StarRating
    from app.engine import runtime
    from app.errors import Forbidden, ValidationFailed
    from app.extensions import db
    from app.taskops.models import Notification
    org_id = _maint_org_id()
    year = today_local().year
    data = services.prefill(org_id, year)
    assert data["year"] == str(year) and data["elevators"] > 0
    data.update({"license_no": "TS3145001-2027", "requested_grade": "B",
                 "statement": "本单位维保电梯按计划维保，困人救援及时。", "elevators": 99999})
    with pytest.raises(Forbidden):
        runtime.start_case("elevator_star_rating", user("wb_quality"), data)    # only the unit itself applies
    db.session.rollback()
    case = runtime.start_case("elevator_star_rating", user("wb_unit"), data)
    db.session.commit()
    row = db.session.scalar(select(StarRating).where(StarRating.case_id == case.id))
    assert row.status == "city_review" and row.figures["elevators"] != 99999     # the system's figures, not the form's
    assert case.region_code == "450102"
    task = open_task(case)
    assert (task.candidate_role, task.task_def) == ("city_supervisor", "city_review")
    with pytest.raises(ValidationFailed):      # a second application for the same year while this one runs
        runtime.start_case("elevator_star_rating", user("wb_unit"), data)
    db.session.rollback()
    complete(case, "nn_city", {"city_decision": "return", "opinion": "请补充救援演练记录"})
    db.session.expire_all()
    assert row.status == "returned" and row.return_reason == "请补充救援演练记录"
    assert any("退回" in n.title for n in db.session.scalars(select(Notification).where(
        Notification.user_id == user("wb_unit").id, Notification.case_id == case.id)))
    revise = open_task(case)
    assert revise.task_def == "revise" and revise.candidate_org_id == org_id
    complete(case, "wb_unit", {"license_no": "TS3145001-2027", "requested_grade": "B",
                               "statement": "已补充2026年困人救援演练记录两次。"})
    assert open_task(case).task_def == "city_review"
    complete(case, "nn_city", {"city_decision": "approve", "recommended_grade": "B", "opinion": "材料齐全，同意上报"})
    db.session.expire_all()
    assert row.status == "province_review" and open_task(case).candidate_role == "province_supervisor"
    with pytest.raises(ValidationFailed):      # a veto forces D
        complete(case, "gx_province", {"province_decision": "approve", "grade": "B", "veto": "yes", "opinion": "评定"})
    db.session.rollback()
    complete(case, "gx_province", {"province_decision": "approve", "grade": "B", "veto": "no", "opinion": "同意评为B级"})
    db.session.expire_all()
    assert case.status == "closed" and case.outcome == "已评定"
    assert (row.status, row.grade, row.stars) == ("approved", "B", 3)
    assert runtime.verify_case_chain(case.id) is None
    from app.sms.models import SmsMessage
    assert db.session.scalar(select(func.count()).select_from(SmsMessage).where(
        SmsMessage.case_id == case.id, SmsMessage.template_code == "CASE_CLOSED")) >= 1
    assert db.session.scalar(select(func.count()).select_from(Task).where(Task.case_id == case.id,
                                                                          Task.status == "open")) == 0
    # the rating shows on the unit's profile, the public page and the lists
    profile = web("xn_supervisor").get(f"/registry/units/{org_id}").get_data(as_text=True)
    assert 'data-testid="unit-star-rating"' in profile and "B级" in profile
    public = app.test_client().get("/public/elevator-ratings").get_data(as_text=True)
    assert row.org.name in public and "★★★☆" in public
    lift = app.test_client().get(f"/p/elevators/{_rescue_code()}").get_data(as_text=True)     # the 96111 QR page
    assert 'data-testid="maint-star"' in lift and "★★★☆ B级" in lift
    body = check(app, app.test_client().get("/api/v1/elevator-rating/public/ratings"), 200)
    assert body["items"][0]["grade"] == "B" and body["items"][0]["stars"] == 3
    listed = check(app, api("wb_unit").get("/api/v1/elevator-rating/ratings"), 200)
    assert listed["items"][0]["status"] == "approved"
    assert check(app, api("lz_supervisor").get("/api/v1/elevator-rating/ratings"), 200)["total"] == 0
    assert web("gx_province").get("/elevator-rating/ratings/export.xlsx").status_code == 200


# ---------------------------------------------------------------- scope and pages

def test_evaluation_scope_pages_and_exports(app, api, web):
    org_id = _maint_org_id()
    check(app, api("qx_supervisor").get(f"/api/v1/elevator-rating/units/{org_id}/evaluation"), 404)
    check(app, api("lz_supervisor").get(f"/api/v1/elevator-rating/units/{org_id}/evaluation"), 404)
    check(app, api("unit_xn").get(f"/api/v1/elevator-rating/units/{org_id}/evaluation"), 403)
    assert check(app, api("nn_city").get(f"/api/v1/elevator-rating/units/{org_id}/evaluation"), 200)["org_id"] == org_id
    own = check(app, api("wb_unit").get("/api/v1/elevator-rating/units"), 200)
    assert [u["org_id"] for u in own["items"]] == [org_id]
    check(app, api("wb_unit").get("/api/v1/elevator-rating/units?date_from=2026-13-01"), 422)
    check(app, api("xn_supervisor").get("/api/v1/elevator-rating/prefill"), 403)
    prefill = check(app, api("wb_unit").get("/api/v1/elevator-rating/prefill"), 200)
    assert prefill["process_key"] == "elevator_star_rating" and "requested_grade" in prefill["data"]
    page = web("wb_unit")
    html = page.get(f"/elevator-rating/units/{org_id}").get_data(as_text=True)
    assert 'data-testid="eval-inputs"' in html and "elevator_evaluation" in html and 'data-testid="apply-rating"' in html
    assert page.get(f"/elevator-rating/units/{org_id}").status_code == 200
    assert web("lz_supervisor").get(f"/elevator-rating/units/{org_id}").status_code == 404
    assert web("unit_xn").get("/elevator-rating/units").status_code == 403
    for url in ("/elevator-rating/units", "/elevator-rating/ratings", "/elevator-rating/rescues"):
        assert web("xn_supervisor").get(url).status_code == 200
    for url in ("/elevator-rating/units/export.xlsx", "/elevator-rating/rescues/export.xlsx"):
        resp = web("xn_supervisor").get(url)
        assert resp.status_code == 200 and resp.data[:2] == b"PK"
    assert app.test_client().get("/public/elevator-ratings").status_code == 200


def test_the_province_may_send_an_application_back_to_the_unit(app):
    from app.elevator_rating import services
    from app.elevator_rating.models import StarRating
    from app.engine import runtime
    from app.extensions import db
    data = {**services.prefill(_maint_org_id(), today_local().year), "license_no": "TS3145001-2027",
            "requested_grade": "A", "statement": "申请A级，维保人员均持证。"}
    case = runtime.start_case("elevator_star_rating", user("wb_unit"), data)
    db.session.commit()
    complete(case, "nn_city", {"city_decision": "approve", "recommended_grade": "B", "opinion": "建议评为B级"})
    complete(case, "gx_province", {"province_decision": "return", "opinion": "请补充许可证有效期证明"})
    db.session.expire_all()
    row = db.session.scalar(select(StarRating).where(StarRating.case_id == case.id))
    assert (row.status, row.return_reason, row.grade) == ("returned", "请补充许可证有效期证明", None)
    assert open_task(case).task_def == "revise"
    complete(case, "wb_unit", {"license_no": "TS3145001-2027", "requested_grade": "B",
                               "statement": "已补充许可证有效期证明，改为申请B级。"})
    db.session.expire_all()
    assert (row.status, row.requested_grade) == ("city_review", "B")
    assert open_task(case).candidate_role == "city_supervisor"
