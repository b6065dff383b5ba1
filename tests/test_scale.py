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
from app.scale.models import PASSING, DemoGeneration, InspectionReport
from tests.conftest import WebSession


class Stop(Exception):
    pass


@pytest.fixture
def generated(app, monkeypatch):
    """Run the test preset, interrupted once after its second chunk of cases, then resumed."""
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

    # a device's next inspection date is the next due date of its latest passing report
    latest = {}
    for eq_id, inspected, conclusion, due in db.session.execute(
            select(InspectionReport.equipment_id, InspectionReport.inspected_on, InspectionReport.conclusion,
                   InspectionReport.next_due_date).order_by(InspectionReport.inspected_on)):
        if conclusion in PASSING:
            latest[eq_id] = due
    for eq_id, next_date in db.session.execute(select(Equipment.id, Equipment.next_inspection_date)
                                               .where(Equipment.id > before["equipment"])):
        assert next_date == latest.get(eq_id), eq_id

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
