"""`flask demo generate --scale test`: counts, valid timeline chains, consistent inspection dates,
resumable after an interruption, and generated cases that open in the UI and complete through
the normal service layer."""
from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import delete, func, select

from app.cases.models import Case, CaseEvent, Task
from app.core.models import Equipment, Organization, User
from app.extensions import db
from app.scale import generate
from app.inspections.conclusions import is_passing
from app.inspections.models import InspectionReport
from app.scale.models import DemoGeneration
from tests.conftest import WebSession, shared_rows


class Stop(Exception):
    pass


@pytest.fixture(scope="module")
def generated(app, _seed_marks):
    """Run the test preset, interrupted once after its second chunk of cases, then resumed. Built once
    for the module (tens of seconds); the tests only read it, except one that completes one task."""
    with app.app_context(), pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(generate.ChunkSink, "threaded", False)
        original_put = generate.ChunkSink.put
        calls = {"n": 0}

        def put_then_stop(self, batch, done, info=None):
            original_put(self, batch, done, info)
            calls["n"] += 1
            if calls["n"] == 2:
                raise Stop()

        monkeypatch.setattr(generate.ChunkSink, "put", put_then_stop)
        before = {"case": db.session.scalar(select(func.max(Case.id))) or 0,
                  "equipment": db.session.scalar(select(func.max(Equipment.id))) or 0}
        out = io.StringIO()
        with pytest.raises(Stop):
            generate.run("test", out=out, workers=1)
        db.session.rollback()
        cases_row = db.session.get(DemoGeneration, "cases.0")
        assert cases_row.done == 2 * generate.PRESETS["test"]["chunk"]      # two chunks committed, then stopped
        monkeypatch.setattr(generate.ChunkSink, "put", original_put)
        generate.run("test", out=out, workers=1)                             # resumes at the third chunk
        db.session.remove()
    with app.app_context(), shared_rows(_seed_marks):
        yield before, out.getvalue()
        db.session.rollback()
        db.session.execute(delete(DemoGeneration))
        db.session.commit()


def test_generate_test_scale(generated, app):
    before, output = generated
    preset = generate.PRESETS["test"]
    assert "cases: 完成" in output and "orgs: 已完成" in output      # second run skipped finished stages
    templates = json.loads(db.session.get(DemoGeneration, "templates").info)
    assert len(templates) == len(generate.FAMILIES) * len(generate.TEMPLATE_PLANS)

    new_cases = db.session.scalar(select(func.count(Case.id)).where(Case.id > before["case"]))
    assert new_cases == preset["cases"] + len(templates)
    assert db.session.scalar(select(func.count(func.distinct(Case.case_no))).where(Case.id > before["case"])) == new_cases
    generated_orgs = db.session.scalar(select(func.count(Organization.id)).where(
        func.substr(Organization.uscc, 9, 1) == "G"))
    assert generated_orgs == preset["orgs"]
    assert db.session.scalar(select(func.count(Equipment.id)).where(Equipment.id > before["equipment"])) == preset["devices"]
    assert db.session.scalar(select(func.count(InspectionReport.id))) > preset["devices"]
    # every step is there: open tasks at each user task of the loop, closed and not-confirmed cases
    open_steps = set(db.session.scalars(select(Task.task_def).where(Task.status == "open", Task.case_id > before["case"])))
    assert {"dispatch", "rectify", "approve_extension", "verify_bureau", "verify_agency"} <= open_steps
    outcomes = set(db.session.scalars(select(Case.outcome).where(Case.status == "closed", Case.id > before["case"])))
    assert len(outcomes) >= 2
    tasks = db.session.scalar(select(func.count(Task.id)).where(Task.case_id > before["case"]))
    events = db.session.scalar(select(func.count(CaseEvent.id)).where(CaseEvent.case_id > before["case"]))
    assert tasks / new_cases > 3.5 and events / new_cases > 10

    # every timeline chain verifies (the clones' chains are recomputed for their own ids and times)
    from app.engine.runtime import verify_case_chain
    broken = [cid for cid in db.session.scalars(select(Case.id).where(Case.id > before["case"]))
              if verify_case_chain(cid) is not None]
    assert broken == []

    # a device's next inspection date is the next due date of its latest passing report, its latest report's
    # date and conclusion are the device's, and its due state is what the registry derives (rules/inspection_due.dmn)
    from app.inspections import conclusions
    from app.registry import due
    from app.registry.services import device_code_problem
    latest, last = {}, {}
    for eq_id, inspected, conclusion, next_due in db.session.execute(
            select(InspectionReport.equipment_id, InspectionReport.inspected_on, InspectionReport.conclusion,
                   InspectionReport.next_due_date).order_by(InspectionReport.inspected_on, InspectionReport.id)):
        if is_passing(conclusion):
            latest[eq_id] = next_due
        last[eq_id] = (inspected, conclusion)
    devices = list(db.session.scalars(select(Equipment).where(Equipment.id > before["equipment"])))
    for e in devices:
        assert e.next_inspection_date == latest.get(e.id), e.id
        assert (e.last_inspected_on, e.last_conclusion) == last.get(e.id, (None, None)), e.id
        assert e.due_state == due.state_for(e), e.id
        assert device_code_problem(e.code) is None, e.code
        assert e.last_conclusion is None or e.last_conclusion in conclusions.for_kind(e.kind_code)
    assert {e.due_state for e in devices} >= {"overdue", "valid", "exempt"}
    assert any(e.simple_pressure_vessel for e in devices) and any(e.design_life_end for e in devices)

    # contacts' phones are encrypted and readable
    from app.core.models import OrgContact
    contact = db.session.scalar(select(OrgContact).join(Organization).where(
        func.substr(Organization.uscc, 9, 1) == "G").limit(1))
    assert contact.phone.startswith("171") and contact.phone_enc and contact.phone not in contact.phone_enc.hex()


def test_generated_case_opens_and_its_task_completes(generated, app):
    before, _ = generated
    from app.cases import services
    from app.engine import runtime
    # a cloned (not template) case waiting for the use unit's rectification feedback
    templates = {v["case_id"] for v in json.loads(db.session.get(DemoGeneration, "templates").info).values()}
    task = db.session.scalar(select(Task).where(Task.status == "open", Task.task_def == "rectify",
                                                Task.case_id > before["case"], Task.case_id.not_in(templates))
                             .order_by(Task.id).limit(1))
    case = task.case
    unit_user = db.session.scalar(select(User).where(User.org_id == task.candidate_org_id, User.role == "use_unit"))
    assert unit_user.username.startswith("gu")
    # it is in that user's inbox, and its page opens in the browser session
    inbox = db.session.scalars(services.inbox_query(unit_user, services.InboxFilter(per_page=100)).limit(500)).unique()
    assert task.id in {t.id for t in inbox}
    session = WebSession(app.test_client(), unit_user.username)
    page = session.get(f"/cases/{case.id}").get_data(as_text=True)
    assert case.case_no in page and unit_user.org.name in page
    assert session.get(f"/tasks/{task.id}").status_code == 200
    # and it completes through the service layer: the next step goes to the case's county bureau
    runtime.complete_task(task.id, unit_user, {"feedback_type": "extension", "requested_deadline": "2099-12-31",
                                               "extension_reason": "需更换整套安全部件，配件订货周期较长。"})
    db.session.commit()
    nxt = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.status == "open"))
    assert nxt.task_def == "approve_extension" and nxt.candidate_region == case.region_code
    assert runtime.verify_case_chain(case.id) is None


def test_generated_urges_and_copies(generated, app):
    """催办 and 抄送 in the clones name the clone's own task and people: the urged task is the clone's
    rectification task and its holder the clone's use unit; the BPMN copy of 派单督办 goes to the
    clone city's supervisors (case_copy rows, notifications and the timeline entry alike)."""
    from app.taskops.models import CaseCopy, Notification
    before, output = generated
    templates = {v["case_id"] for v in json.loads(db.session.get(DemoGeneration, "templates").info).values()}
    clones = select(Case.id).where(Case.id > before["case"], Case.id.not_in(templates))
    assert "no orphans" in output and "case_copy.task_id" not in output
    assert generate.template_means(json.loads(db.session.get(DemoGeneration, "templates").info))["case_event"] >= 20
    people = {u.id: u for u in db.session.scalars(select(User).where(User.role.in_(
        ("use_unit", "city_supervisor", "county_supervisor"))))}
    cases = {c.id: c for c in db.session.scalars(select(Case).where(Case.id.in_(clones)))}
    tasks = {t.id: t for t in db.session.scalars(select(Task).where(Task.case_id.in_(clones)))}

    def city_supervisors(case):
        return sorted((u for u in people.values() if u.role == "city_supervisor" and u.is_active_flag
                       and u.region_code == case.region_code[:4] + "00"), key=lambda u: u.username)

    urged = list(db.session.scalars(select(CaseEvent).where(CaseEvent.case_id.in_(clones), CaseEvent.kind == "urged")))
    copied = list(db.session.scalars(select(CaseEvent).where(CaseEvent.case_id.in_(clones), CaseEvent.kind == "copied")))
    assert len(urged) > len(cases) and len(copied) > len(cases) // 2
    for event in urged:
        case, data = cases[event.case_id], json.loads(event.data)
        task = tasks[data["task_id"]]
        assert task.case_id == case.id and task.task_def == "rectify" and task.urge_count >= 1
        unit = people[data["recipients"][0]]
        assert data["recipients"] == [unit.id] and unit.org_id == case.org_id and unit.role == "use_unit"
        assert unit.display_name in event.summary and task.name in event.summary
        urger = people[event.actor_id]
        assert urger.role == "county_supervisor" and urger.region_code == case.region_code
        assert task.completed_at is None or event.at <= task.completed_at
    # each urge reminded its recipient in-app, for the clone's task, from the urging supervisor
    urges = {(n.task_id, n.user_id): n for n in db.session.scalars(select(Notification).where(
        Notification.case_id.in_(clones), Notification.kind == "urge"))}
    assert {(json.loads(e.data)["task_id"], json.loads(e.data)["recipients"][0]) for e in urged} == set(urges)
    for event in urged:
        note = urges[(json.loads(event.data)["task_id"], json.loads(event.data)["recipients"][0])]
        assert note.sender_id == event.actor_id and cases[event.case_id].case_no in note.title

    copies: dict[int, list] = {}
    for copy in db.session.scalars(select(CaseCopy).where(CaseCopy.case_id.in_(clones)).order_by(CaseCopy.id)):
        copies.setdefault(copy.case_id, []).append(copy)
    assert {e.case_id for e in copied} == set(copies)
    for event in copied:
        case, data = cases[event.case_id], json.loads(event.data)
        expected = city_supervisors(case)
        assert expected and data["recipients"] == [u.id for u in expected] and data["roles"] == ["city_supervisor"]
        assert event.summary.endswith("给 " + "、".join(u.display_name for u in expected))
        rows = copies[case.id]
        assert [c.user_id for c in rows] == data["recipients"]
        for c in rows:
            task = tasks[c.task_id]
            assert task.case_id == case.id and task.task_def == "dispatch" and c.step_name == task.name
            assert c.source == "bpmn" and c.sender_id is None
            assert c.read_at is None or c.read_at > c.created_at
    # dispatched (or rejected) clones are copied, the others not
    dispatched = {t.case_id for t in tasks.values() if t.task_def == "dispatch" and t.status == "completed"}
    assert dispatched == set(copies)
    # the copies' notifications go to the same people; older copies mostly read, recent ones not
    copy_notes = {(n.case_id, n.user_id) for n in db.session.scalars(select(Notification).where(
        Notification.case_id.in_(clones), Notification.kind == "copy"))}
    assert copy_notes == {(c.case_id, c.user_id) for rows in copies.values() for c in rows}
    all_copies = [c for rows in copies.values() for c in rows]
    assert any(c.read_at for c in all_copies) and any(c.read_at is None for c in all_copies)

    # a city supervisor finds a copied clone in 抄送我的, with the unread count of their copies
    case = cases[next(iter(copies))]
    supervisor = people[copies[case.id][0].user_id]
    unread = db.session.scalar(select(func.count(CaseCopy.id)).where(CaseCopy.user_id == supervisor.id,
                                                                     CaseCopy.read_at.is_(None)))
    page = WebSession(app.test_client(), supervisor.username).get(
        f"/inbox?box=copies&q={case.case_no}").get_data(as_text=True)
    mine = next(c for c in copies[case.id] if c.user_id == supervisor.id)
    assert case.case_no in page and ('data-testid="unread-tag"' in page) == (mine.read_at is None)
    assert f'data-count="copies">{unread}<' in page


def test_generated_elevators_have_contracts_plans_and_a_year_of_records(generated, app, client):
    from app.elevators.models import ElevatorFacts, MaintenancePlan, WorkOrder
    lifts = db.session.scalar(select(func.count(Equipment.id)).where(Equipment.kind_code == "3000",
                                                                      Equipment.maintenance_org_id.isnot(None)))
    assert db.session.scalar(select(func.count(ElevatorFacts.id))) == lifts > 100
    per_lift = db.session.execute(select(WorkOrder.equipment_id, func.count()).group_by(WorkOrder.equipment_id)).all()
    assert len(per_lift) > 100 and 20 <= sorted(n for _e, n in per_lift)[len(per_lift) // 2] <= 26
    generated_lift = per_lift[-1][0]
    days = db.session.scalars(select(MaintenancePlan.due_on).where(MaintenancePlan.equipment_id == generated_lift)
                              .order_by(MaintenancePlan.due_on)).all()
    assert {(b - a).days for a, b in zip(days, days[1:])} == {15}
    code = db.session.scalar(select(ElevatorFacts.rescue_code).where(ElevatorFacts.equipment_id == generated_lift))
    assert "最近维保" in client.get(f"/p/elevators/{code}").get_data(as_text=True)
