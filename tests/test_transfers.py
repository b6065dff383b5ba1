"""移动式设备交接 (§4.5.9): application, review, edit, batch rules, scope and visibility after a transfer.

The demo unit 柳州市演示机械制造有限公司 (unit_lz, 柳州市城中区 450202) owns 3 通用桥式起重机 (4110,
fixed: not movable) and 3 叉车 (5110, movable). Transfers go to 兴宁区 (450102, xn_supervisor) or
青秀区 (450103, qx_supervisor); lz_supervisor is the original agency."""
import io
import json

import pytest
from sqlalchemy import func, select

from app.cases.models import Case, CaseEvent, Task
from app.cases.services import equipment_suggestions
from app.core.models import Equipment
from app.core.movable import is_movable_category
from app.engine import runtime
from app.errors import Forbidden, ValidationFailed
from app.extensions import db
from app.hazards.services import find_equipment_for_report
from app.sms.models import SmsMessage
from app.transfers.models import EquipmentTransfer, TransferItem

from .conftest import PDF, assert_todo_counts_match_their_definition, complete, open_task, user

REASON = "叉车随项目调往南宁仓储基地作业，预计一年。"


# ------------------------------------------------------------------ fixtures and helpers

@pytest.fixture(autouse=True)
def _restore_equipment():
    """Approvals move devices and some tests stop one: put every equipment row back afterwards."""
    before = {row.id: (row.region_code, row.registered_region_code, row.status, row.movable)
              for row in db.session.execute(select(Equipment.id, Equipment.region_code,
                                                   Equipment.registered_region_code, Equipment.status,
                                                   Equipment.movable))}
    yield
    db.session.rollback()
    for equipment in db.session.scalars(select(Equipment).where(Equipment.id.in_(before))):
        (equipment.region_code, equipment.registered_region_code, equipment.status,
         equipment.movable) = before[equipment.id]
    db.session.commit()


def lz_devices(category: str) -> list[Equipment]:
    return list(db.session.scalars(select(Equipment).where(Equipment.use_org_id == user("unit_lz").org_id,
                                                          Equipment.category_code == category)
                                   .order_by(Equipment.id)))


def forklifts() -> list[Equipment]:
    return lz_devices("5110")


def apply(codes, to_region="450102", username="unit_lz", reason=REASON) -> Case:
    case = runtime.start_case("equipment_transfer", user(username),
                              {"equipment_codes": list(codes), "to_region": to_region, "reason": reason})
    db.session.commit()
    return case


def transfer_of(case) -> EquipmentTransfer:
    db.session.expire_all()
    return db.session.scalar(select(EquipmentTransfer).where(EquipmentTransfer.case_id == case.id))


def equipment(code) -> Equipment:
    db.session.expire_all()
    return db.session.scalar(select(Equipment).where(Equipment.code == code))


def counts() -> tuple[int, int, int]:
    return (db.session.scalar(select(func.count(Case.id))), db.session.scalar(select(func.count(EquipmentTransfer.id))),
            db.session.scalar(select(func.count(TransferItem.id))))


def timeline(case) -> list[CaseEvent]:
    return list(db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)))


def codes_seen_by(username: str) -> set[str]:
    return {e.code for e in equipment_suggestions(user(username), "", limit=500)}


# ------------------------------------------------------------------ the movable rule

def test_movable_rule_follows_the_catalogue():
    for code in ("5000", "5100", "5110", "5200", "4400", "4410", "4420", "4440", "4450", "2200", "2220", "2250"):
        assert is_movable_category(code), code
    for code in ("4110", "4210", "4300", "4860", "2150", "2300", "2310", "3110", "1100", "9110", "", None):
        assert not is_movable_category(code), code
    assert all(e.movable for e in forklifts()) and len(forklifts()) == 3
    assert not any(e.movable for e in lz_devices("4110"))
    # Every seeded device starts with the registering authority = the supervising authority.
    mismatched = db.session.scalar(select(func.count(Equipment.id))
                                   .where(Equipment.registered_region_code != Equipment.region_code))
    assert mismatched == 0
    # A device created without the two columns gets them from its category and region.
    org = user("unit_lz").org
    crane = Equipment(code="TEST-44100001", name="轮胎起重机（测试）", category_code="4410", use_org_id=org.id,
                      region_code=org.region_code)
    lift = Equipment(code="TEST-31100001", name="乘客电梯（测试）", category_code="3110", use_org_id=org.id,
                     region_code=org.region_code)
    db.session.add_all([crane, lift])
    db.session.commit()
    assert (crane.movable, crane.registered_region_code) == (True, "450202")
    assert (lift.movable, lift.registered_region_code) == (False, "450202")


def test_migration_backfills_movable_and_registering_authority(app):
    """Upgrade 0003 → 0004 on a database with existing equipment, then downgrade again."""
    import os
    import secrets
    import tempfile

    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    from app import create_app
    from app.config import Config

    from .conftest import PG_BASE, TEST_DB, _pg_admin
    if TEST_DB == "postgres":
        name = f"gx_mig_{os.getpid()}_{secrets.token_hex(3)}"
        _pg_admin(f'CREATE DATABASE "{name}"')
        url = PG_BASE.rsplit("/", 1)[0] + "/" + name
    else:
        name, url = None, f"sqlite:///{tempfile.mkdtemp(prefix='gx-mig-')}/mig.sqlite"
    saved = os.environ["DATABASE_URL"]
    os.environ["DATABASE_URL"] = url
    try:
        other = create_app(Config(TESTING=True, PASSWORD_ITERATIONS=1000))
    finally:
        os.environ["DATABASE_URL"] = saved
    try:
        with other.app_context():
            engine = db.engine              # the other app's database
            upgrade(revision="0003")
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO region (code, name, parent_code, level) VALUES "
                                  "('450000', '广西壮族自治区', NULL, 'province'), ('450202', '城中区', '450200', 'county')"))
                conn.execute(text("INSERT INTO equipment_category (code, name, parent_code, level) VALUES "
                                  "('5110', '叉车', '5100', '品种'), ('4410', '轮胎起重机', '4400', '品种'), "
                                  "('2220', '汽车罐车', '2200', '品种'), ('4110', '通用桥式起重机', '4100', '品种')"))
                conn.execute(text("INSERT INTO organization (id, uscc, name, kind, region_code, created_at) VALUES "
                                  "(1, '91450202MA0000000X', '迁移测试单位', 'use_unit', '450202', CURRENT_TIMESTAMP)"))
                for n, category in enumerate(("5110", "4410", "2220", "4110"), start=1):
                    conn.execute(text("INSERT INTO equipment (id, code, name, category_code, use_org_id, region_code,"
                                      " status, created_at) VALUES (:id, :code, '设备', :cat, 1, '450202', 'in_use',"
                                      " CURRENT_TIMESTAMP)"), {"id": n, "code": f"M{n}", "cat": category})
            upgrade(revision="0004")
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT code, movable, registered_region_code FROM equipment"
                                         " ORDER BY id")).all()
            assert [(c, bool(m), r) for c, m, r in rows] == [
                ("M1", True, "450202"), ("M2", True, "450202"), ("M3", True, "450202"), ("M4", False, "450202")]
            downgrade(revision="0003")
            with engine.connect() as conn:
                columns = conn.execute(text("SELECT * FROM equipment")).keys()
                assert "movable" not in columns and "registered_region_code" not in columns
    finally:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()
        if name:
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ------------------------------------------------------------------ happy path

def test_approved_transfer_moves_devices_to_the_new_region(web, api):
    first, second = forklifts()[:2]
    case = apply([second.code, first.code])
    assert case.case_no.startswith("YJ") and case.region_code == "450102"
    transfer = transfer_of(case)
    assert (transfer.status, transfer.from_region, transfer.to_region) == ("pending", "450202", "450102")
    assert transfer.transfer_no == case.case_no and transfer.property_org_id == user("unit_lz").org_id
    assert sorted(i.pending_equipment_id for i in transfer.items) == sorted([first.id, second.id])
    task = open_task(case)
    assert (task.task_def, task.name, task.candidate_role, task.candidate_region) == \
        ("review", "变更审核", "county_supervisor", "450102")
    # Before the decision the devices are the original bureau's.
    assert first.code in codes_seen_by("lz_supervisor") and first.code not in codes_seen_by("xn_supervisor")

    complete(case, "xn_supervisor", {"review_decision": "approve", "opinion": "同意迁入，纳入本局监管"})

    transfer = transfer_of(case)
    assert transfer.status == "approved" and transfer.decided_by_id == user("xn_supervisor").id
    assert transfer.opinion == "同意迁入，纳入本局监管" and transfer.decided_at is not None
    assert all(i.pending_equipment_id is None for i in transfer.items)
    for device in (first, second):
        moved = equipment(device.code)
        assert moved.region_code == "450102"                # current supervising authority
        assert moved.registered_region_code == "450202"     # original registering authority kept
    case = db.session.get(Case, case.id)
    assert case.status == "closed" and case.outcome == "已同意迁入"

    # Visible at once in the new region, gone from the old one: equipment search (API), suggestions, hazard report.
    assert first.code in codes_seen_by("xn_supervisor") and first.code not in codes_seen_by("lz_supervisor")
    assert first.code in codes_seen_by("nn_city") and first.code not in codes_seen_by("qx_supervisor")
    found = api("xn_supervisor").get(f"/api/v1/equipment?q={first.code}").get_json()["items"]
    assert [(i["code"], i["region_code"], i["registered_region_code"], i["movable"]) for i in found] == \
        [(first.code, "450102", "450202", True)]
    assert api("lz_supervisor").get(f"/api/v1/equipment?q={first.code}").get_json()["items"] == []
    assert find_equipment_for_report(user("xn_supervisor"), first.code) is not None
    assert find_equipment_for_report(user("lz_supervisor"), first.code) is None
    assert first.code in codes_seen_by("unit_lz")            # the property unit still owns it
    report = web("xn_supervisor").post("/processes/major_hazard/start", data={
        "equipment_code": first.code, "criterion_id": "GB45067-4.10a", "description": "叉车制动器失效仍继续使用，现场检查发现。",
        "found_on": "2026-01-05", "rectify_deadline": "2099-01-01"})
    assert report.status_code == 302
    refused = web("lz_supervisor").post("/processes/major_hazard/start", data={
        "equipment_code": first.code, "criterion_id": "GB45067-4.10a", "description": "叉车制动器失效仍继续使用，现场检查发现。",
        "found_on": "2026-01-05", "rectify_deadline": "2099-01-01"})
    assert refused.status_code == 422 and "设备不存在或不在您的管辖范围内" in refused.get_data(as_text=True)

    # The original agency is told: a timeline entry and an SMS to its county supervisors.
    messages = list(db.session.scalars(select(SmsMessage).where(SmsMessage.case_id == case.id)))
    assert [(m.template_code, m.user_id, m.region_code, m.audience) for m in messages] == \
        [("EQUIP_TRANSFER_OUT", user("lz_supervisor").id, "450202", "regulator")]
    assert case.case_no in messages[0].content and "审核同意" in messages[0].content
    assert "柳州市城中区市场监督管理局" in messages[0].content and "南宁市兴宁区市场监督管理局" in messages[0].content
    events = timeline(case)
    assert [e.kind for e in events] == ["started", "assigned", "completed", "notified", "closed"]
    review = next(e for e in events if e.kind == "completed")
    assert (review.step_name, review.actor_id, review.comment) == \
        ("变更审核", user("xn_supervisor").id, "同意迁入，纳入本局监管")
    assert "柳州市城中区市场监督管理局" in next(e for e in events if e.kind == "notified").summary
    assert runtime.verify_case_chain(case.id) is None

    # Both bureaus see the record; the original one through 设备迁移管理 (the case lives in 兴宁区).
    lz = web("lz_supervisor")
    assert transfer.transfer_no in lz.get("/transfers").get_data(as_text=True)
    page = lz.get(f"/transfers/{transfer.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "已通过" in html and "同意迁入，纳入本局监管" in html and "黄兴宁" in html
    assert lz.get(f"/cases/{case.id}").status_code == 404
    assert lz.get(f"/transfers/{transfer.id}/diagram.bpmn").status_code == 200
    history = web("unit_lz").get(f"/transfers/{transfer.id}").get_data(as_text=True)
    assert "设备迁移历史" in history and first.code in history


# ------------------------------------------------------------------ declined path

def test_rejected_transfer_changes_nothing_and_shows_the_reason(web):
    device = forklifts()[0]
    case = apply([device.code])
    task = open_task(case)
    for data, field, message in (({"review_decision": "reject"}, "opinion", "此项为必填项"),
                                 ({"review_decision": "reject", "opinion": "不同意"}, "opinion", "至少填写 5 个字"),
                                 ({"opinion": "意见"}, "review_decision", "此项为必填项")):
        with pytest.raises(ValidationFailed) as err:
            runtime.complete_task(task.id, user("xn_supervisor"), data)
        db.session.rollback()
        assert err.value.fields[field] == message
    assert transfer_of(case).status == "pending" and open_task(case).id == task.id

    complete(case, "xn_supervisor", {"review_decision": "reject", "opinion": "作业场所不在本辖区，请向实际作业地申请"})
    transfer = transfer_of(case)
    assert transfer.status == "rejected" and transfer.reject_reason == "作业场所不在本辖区，请向实际作业地申请"
    assert equipment(device.code).region_code == "450202" and transfer.items[0].pending_equipment_id is None
    assert db.session.get(Case, case.id).outcome == "已驳回"
    from app.engine.services import ServiceContext
    from app.errors import Conflict
    from app.transfers.services import _decide
    with pytest.raises(Conflict) as err:     # a decided application is not decided again
        _decide(ServiceContext(case=db.session.get(Case, case.id), actor=None, task_data={}), "approved")
    assert err.value.message == f"迁移申请 {transfer.transfer_no} 已驳回"
    db.session.rollback()
    sms = db.session.scalar(select(SmsMessage).where(SmsMessage.case_id == case.id))
    assert sms.user_id == user("lz_supervisor").id and "驳回申请" in sms.content
    html = web("unit_lz").get(f"/transfers/{transfer.id}").get_data(as_text=True)
    assert "已驳回" in html and "作业场所不在本辖区，请向实际作业地申请" in html
    assert device.code not in codes_seen_by("xn_supervisor")
    # Rejected: the device may be applied for again.
    again = apply([device.code], to_region="450103")
    assert transfer_of(again).status == "pending"


# ------------------------------------------------------------------ start hook

def test_start_hook_refuses_bad_applications_in_chinese():
    lz_forklift, lz_crane = forklifts()[0], lz_devices("4110")[0]
    xn_elevator = db.session.scalar(select(Equipment).where(Equipment.use_org_id == user("unit_xn").org_id)
                                    .order_by(Equipment.id))
    pending = apply([forklifts()[2].code])
    before = counts()

    def refused(codes, to_region="450102", username="unit_lz", reason=REASON) -> dict:
        with pytest.raises(ValidationFailed) as err:
            runtime.start_case("equipment_transfer", user(username),
                               {"equipment_codes": codes, "to_region": to_region, "reason": reason})
        db.session.rollback()
        assert counts() == before
        return err.value.fields

    assert refused([xn_elevator.code]) == {"equipment_codes": f"设备 {xn_elevator.code} 不存在或不是本单位的设备"}
    assert refused(["NO-SUCH-CODE"]) == {"equipment_codes": "设备 NO-SUCH-CODE 不存在或不是本单位的设备"}
    assert refused([lz_crane.code]) == {
        "equipment_codes": f"设备 {lz_crane.code}（通用桥式起重机）不是移动式设备，不能办理迁移"}
    assert refused([lz_forklift.code], to_region="450202") == {
        "to_region": "迁入地与设备当前的监察机构相同（柳州市城中区），无需变更"}
    assert refused([lz_forklift.code], to_region="450100") == {"to_region": "请选择广西的区县"}
    assert refused([lz_forklift.code], to_region="110101") == {"to_region": "请选择广西的区县"}
    assert refused([forklifts()[2].code]) == {
        "equipment_codes": f"设备 {forklifts()[2].code} 已有待审核的迁移申请（{pending.case_no}），不能重复申请"}
    assert refused([], to_region="", reason="") == {"equipment_codes": "此项为必填项", "to_region": "此项为必填项",
                                                    "reason": "此项为必填项"}
    assert refused([lz_forklift.code], reason="短") == {"reason": "至少填写 5 个字"}
    both = refused([lz_forklift.code, lz_crane.code, xn_elevator.code])["equipment_codes"]
    assert "不是移动式设备" in both and "不是本单位的设备" in both
    # Devices under different bureaus need separate applications; stopped devices cannot move.
    moved = equipment(forklifts()[1].code)
    moved.region_code = "450103"
    db.session.commit()
    assert refused([lz_forklift.code, moved.code]) == {
        "equipment_codes": "所选设备当前属于不同的监察机构（南宁市青秀区、柳州市城中区），请按原监察机构分别申请"}
    stopped = equipment(lz_forklift.code)
    stopped.status = "stopped"
    db.session.commit()
    assert refused([stopped.code]) == {"equipment_codes": f"设备 {stopped.code} 当前状态为停用，只有在用设备可以办理迁移"}
    # Only property units apply.
    with pytest.raises(Forbidden):
        runtime.start_case("equipment_transfer", user("lz_supervisor"),
                           {"equipment_codes": [lz_forklift.code], "to_region": "450102", "reason": REASON})
    db.session.rollback()
    assert counts() == before


def test_start_page_lists_own_movable_devices_and_keeps_input_on_error(web):
    taken = forklifts()[2]
    apply([taken.code])
    s = web("unit_lz")
    page = s.get("/processes/equipment_transfer/start").get_data(as_text=True)
    for device in forklifts()[:2]:
        assert f'value="{device.code}"' in page
    assert f'value="{taken.code}"' not in page                       # already in a pending application
    assert all(f'value="{c.code}"' not in page for c in lz_devices("4110"))   # bridge cranes are fixed
    assert 'value="450102"' in page and "南宁市兴宁区" in page
    first, second = forklifts()[:2]
    before = counts()
    resp = s.post("/processes/equipment_transfer/start", data={
        "equipment_codes": [first.code, second.code], "to_region": "450202", "reason": REASON})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "无需变更" in html and counts() == before
    assert html.count("checked") == 2 and REASON in html             # the selection and reason survive
    resp = s.post("/processes/equipment_transfer/start", data={
        "equipment_codes": [first.code, second.code], "to_region": "450102", "reason": REASON})
    assert resp.status_code == 302
    assert {i.equipment_id for i in db.session.scalars(select(TransferItem))} >= {first.id, second.id}


def test_simultaneous_applications_for_one_device_cannot_both_be_pending(monkeypatch):
    """The check in the start hook can be raced; the unique pending key cannot."""
    from app.transfers import services
    device = forklifts()[0]
    apply([device.code])
    before = counts()
    monkeypatch.setattr(services, "_pending_elsewhere", lambda *_a, **_k: {})   # as if both checked at once
    with pytest.raises(ValidationFailed) as err:
        runtime.start_case("equipment_transfer", user("unit_lz"),
                           {"equipment_codes": [device.code], "to_region": "450103", "reason": REASON})
    db.session.rollback()
    assert err.value.fields == {"equipment_codes": "所选设备中有设备刚刚被提交了另一份迁移申请，请刷新后重新选择"}
    assert counts() == before


# ------------------------------------------------------------------ edit while pending

def test_applicant_edits_a_pending_application_and_the_review_follows_the_new_target(web):
    a, b, c = forklifts()
    case = apply([a.code, b.code])
    transfer = transfer_of(case)
    s = web("unit_lz")
    form = s.get(f"/transfers/{transfer.id}/edit").get_data(as_text=True)
    assert form.count("checked") == 2 and f'value="{c.code}"' in form
    # Bad input: per-field Chinese errors, nothing changed, the input is kept.
    crane = lz_devices("4110")[0]
    resp = s.post(f"/transfers/{transfer.id}/edit", data={"equipment_codes": [a.code, crane.code],
                                                           "to_region": "450103", "reason": "改为青秀区作业"})
    assert resp.status_code == 422 and "不是移动式设备" in resp.get_data(as_text=True)
    assert "改为青秀区作业" in resp.get_data(as_text=True)
    assert transfer_of(case).to_region == "450102" and len(transfer_of(case).items) == 2

    resp = s.post(f"/transfers/{transfer.id}/edit", data={"equipment_codes": [a.code, c.code],
                                                           "to_region": "450103", "reason": "项目调整，改往青秀区作业"})
    assert resp.status_code == 302
    transfer = transfer_of(case)
    assert transfer.to_region == "450103" and transfer.reason == "项目调整，改往青秀区作业"
    assert sorted(i.equipment_id for i in transfer.items) == sorted([a.id, c.id])
    assert all(i.to_region == "450103" and i.pending_equipment_id == i.equipment_id for i in transfer.items)
    case = db.session.get(Case, case.id)
    task = open_task(case)
    assert case.region_code == "450103" and task.candidate_region == "450103" and "南宁市青秀区" in case.title
    assert assert_todo_counts_match_their_definition() > 0   # the moved case counts for 青秀区 only
    events = timeline(case)
    edited = next(e for e in events if e.kind == "edited")
    assert edited.actor_id == user("unit_lz").id and f"增加设备 {c.code}" in edited.summary
    assert f"移除设备 {b.code}" in edited.summary and "迁入地由南宁市兴宁区改为南宁市青秀区" in edited.summary
    assert events[-1].kind == "assigned" and "南宁市青秀区" in events[-1].summary
    assert runtime.verify_case_chain(case.id) is None
    # The review moved: 兴宁区 no longer has it, 青秀区 does; b is free again.
    assert case.case_no not in web("xn_supervisor").get("/inbox").get_data(as_text=True)
    assert web("xn_supervisor").get(f"/transfers/{transfer.id}").status_code == 404
    assert case.case_no in web("qx_supervisor").get("/inbox").get_data(as_text=True)
    apply([b.code], to_region="450102")

    # Claimed by the reviewer: no more edits.
    runtime.claim_task(task.id, user("qx_supervisor"))
    db.session.commit()
    resp = s.post(f"/transfers/{transfer.id}/edit", data={"equipment_codes": [a.code], "to_region": "450103",
                                                           "reason": "再次修改"})
    assert resp.status_code == 409 and "已签收" in resp.get_data(as_text=True)
    runtime.unclaim_task(task.id, user("qx_supervisor"))
    db.session.commit()
    # Others may not edit.
    assert web("lz_supervisor").get(f"/transfers/{transfer.id}/edit").status_code == 403
    assert web("unit_xn").get(f"/transfers/{transfer.id}/edit").status_code == 404

    # Decided: no more edits.
    complete(case, "qx_supervisor", {"review_decision": "approve"})
    for resp in (s.get(f"/transfers/{transfer.id}/edit"),
                 s.post(f"/transfers/{transfer.id}/edit", data={"equipment_codes": [a.code], "to_region": "450102",
                                                                 "reason": "审核后修改"})):
        assert resp.status_code == 409 and "不能再修改" in resp.get_data(as_text=True)
    transfer = transfer_of(case)
    assert transfer.status == "approved" and transfer.to_region == "450103" and len(transfer.items) == 2
    assert equipment(a.code).region_code == "450103" and equipment(c.code).region_code == "450103"


# ------------------------------------------------------------------ batch rules

@pytest.fixture
def three():
    """A, B → 兴宁区; C → 青秀区 (not xn_supervisor's to review)."""
    a, b, c = forklifts()
    return (transfer_of(apply([a.code])), transfer_of(apply([b.code])), transfer_of(apply([c.code], "450103")))


def state(*transfers) -> list[tuple]:
    db.session.expire_all()
    rows = []
    for t in transfers:
        t = db.session.get(EquipmentTransfer, t.id)
        task = db.session.scalar(select(Task).where(Task.case_id == t.case_id).order_by(Task.id.desc()))
        regions = [equipment(i.equipment.code).region_code for i in t.items]
        rows.append((t.status, t.deleted_at is None, task.status, regions))
    return rows


def test_batch_rules_in_the_api(api, three):
    a, b, c = three
    xn = api("xn_supervisor")
    start = state(a, b, c)

    def post(body, client=xn):
        return client.post("/api/v1/transfers/batch", json=body)

    # A mixed selection is refused as a whole, naming each offending row; nothing changes.
    # B is claimed by a colleague; C (柳州 → 青秀区) is not even visible to 兴宁区.
    runtime.claim_task(open_task(b.case).id, user("xn_colleague"))
    db.session.commit()
    start = state(a, b, c)
    resp = post({"action": "approve", "ids": [a.id, b.id, c.id], "opinion": "同意"})
    body = resp.get_json()["error"]
    assert resp.status_code == 409 and body["code"] == "batch_refused"
    assert body["fields"] == {str(b.id): f"{b.transfer_no}：已由 兴宁同事（测试） 签收，只能由签收人审核",
                              str(c.id): f"#{c.id}：记录不存在或不在您的查看范围内"}
    assert b.transfer_no in body["message"] and "有 2 条不能通过" in body["message"] and "未做任何修改" in body["message"]
    assert state(a, b, c) == start
    # Bureaus that see an application but are not its reviewers: the original agency, the city.
    for name in ("lz_supervisor", "nn_city"):
        resp = post({"action": "approve", "ids": [a.id]}, api(name))
        assert resp.status_code == 409 and resp.get_json()["error"]["fields"] == {
            str(a.id): f"{a.transfer_no}：您不是该申请的审核人（由南宁市兴宁区区县局监察人员审核）"}
    assert post({"action": "approve", "ids": [a.id]}, api("unit_lz")).status_code == 409   # nor the applicant
    unseen = post({"action": "reject", "ids": [a.id, 999999], "opinion": "理由充分的驳回"}, api("qx_supervisor"))
    assert unseen.status_code == 409 and set(unseen.get_json()["error"]["fields"]) == {str(a.id), "999999"}
    assert unseen.get_json()["error"]["fields"]["999999"] == "#999999：记录不存在或不在您的查看范围内"
    assert state(a, b, c) == start
    runtime.unclaim_task(open_task(b.case).id, user("xn_colleague"))
    db.session.commit()

    # Bad requests: 422 with per-field Chinese messages.
    for req, field in (({"action": "reject", "ids": [a.id]}, "opinion"),
                       ({"action": "reject", "ids": [a.id], "opinion": "不行"}, "opinion"),
                       ({"action": "archive", "ids": [a.id]}, "action"),
                       ({"action": "approve", "ids": []}, "ids"),
                       ({"action": "approve", "ids": ["x"]}, "ids"),
                       ({"action": "approve"}, "ids")):
        resp = post(req)
        assert resp.status_code == 422 and field in resp.get_json()["error"]["fields"], req
    assert xn.post("/api/v1/transfers/batch", data="[]", content_type="application/json").status_code == 400
    assert state(a, b, c) == start

    # Reject A; then approve/reject only touch pending ones, delete only rejected ones.
    resp = post({"action": "reject", "ids": [a.id], "opinion": "作业地点不在本辖区"})
    assert resp.status_code == 200 and resp.get_json()["items"][0]["status"] == "rejected"
    resp = post({"action": "approve", "ids": [a.id, b.id]})
    assert resp.status_code == 409 and resp.get_json()["error"]["fields"] == {
        str(a.id): f"{a.transfer_no}：状态为已驳回，只能通过待审核的申请"}
    resp = post({"action": "delete", "ids": [a.id, b.id]})
    assert resp.status_code == 409 and resp.get_json()["error"]["fields"] == {
        str(b.id): f"{b.transfer_no}：状态为待审核，只能删除已驳回的申请"}
    assert state(a, b)[1][0] == "pending" and state(a)[0][1] is True

    resp = post({"action": "delete", "ids": [a.id]})
    assert resp.status_code == 200 and resp.get_json()["count"] == 1
    assert xn.get(f"/api/v1/transfers/{a.id}").status_code == 404
    assert a.id not in [i["id"] for i in xn.get("/api/v1/transfers").get_json()["items"]]
    assert db.session.get(Case, a.case_id) is not None            # the case and its timeline stay
    assert timeline(db.session.get(Case, a.case_id))[-1].kind == "deleted"
    assert post({"action": "delete", "ids": [a.id]}).status_code == 409   # already gone

    resp = post({"action": "approve", "ids": [b.id], "opinion": "同意迁入"})
    assert resp.status_code == 200 and resp.get_json()["items"][0]["status"] == "approved"
    assert equipment(b.items[0].equipment.code).region_code == "450102"
    assert post({"action": "approve", "ids": [c.id]}, api("qx_supervisor")).status_code == 200
    assert state(c)[0][0] == "approved"
    completed = [e for e in timeline(db.session.get(Case, b.case_id)) if e.kind == "completed"]
    assert [(e.step_name, e.actor_id, e.comment) for e in completed] == [("变更审核", user("xn_supervisor").id, "同意迁入")]


def test_batch_approve_many_in_one_transaction(api, three):
    a, b, _c = three
    resp = api("xn_supervisor").post("/api/v1/transfers/batch", json={"action": "approve", "ids": [b.id, a.id]})
    assert resp.status_code == 200 and sorted(i["id"] for i in resp.get_json()["items"]) == sorted([a.id, b.id])
    assert [s[0] for s in state(a, b)] == ["approved", "approved"]
    assert all(s[3] == ["450102"] for s in state(a, b))
    sms = db.session.scalar(select(func.count(SmsMessage.id)).where(SmsMessage.case_id.in_([a.case_id, b.case_id])))
    assert sms == 2


def test_batch_rules_on_the_page(web, three):
    a, b, c = three
    s = web("xn_supervisor")
    start = state(a, b, c)
    list_html = s.get("/transfers").get_data(as_text=True)
    assert a.transfer_no in list_html and b.transfer_no in list_html and "批量通过" in list_html
    assert c.transfer_no not in list_html                          # 柳州 → 青秀区: not 兴宁区's business
    runtime.claim_task(open_task(b.case).id, user("xn_colleague"))
    db.session.commit()
    start = state(a, b, c)
    resp = s.post("/transfers/batch", data={"action": "approve", "ids": [str(a.id), str(b.id)],
                                            "opinion": "同意迁入"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 409 and "本次未做任何修改" in html
    assert f"{b.transfer_no}：已由 兴宁同事（测试） 签收，只能由签收人审核" in html
    assert f'value="{a.id}" checked' in html and f'value="{b.id}" checked' in html   # the selection is kept
    assert 'value="同意迁入"' in html
    assert state(a, b, c) == start
    runtime.unclaim_task(open_task(b.case).id, user("xn_colleague"))
    db.session.commit()
    start = state(a, b, c)
    resp = s.post("/transfers/batch", data={"action": "reject", "ids": [str(a.id), str(b.id)]})
    assert resp.status_code == 422 and "批量驳回必须填写驳回理由" in resp.get_data(as_text=True)
    assert state(a, b, c) == start
    resp = s.post("/transfers/batch", data={"action": "reject", "ids": [str(a.id)],
                                            "opinion": "申请材料不全，请补充后重新申请"})
    assert resp.status_code == 302
    assert "批量驳回完成，共 1 条" in s.get("/transfers").get_data(as_text=True)
    assert [x[0] for x in state(a, b)] == ["rejected", "pending"]
    assert transfer_of(db.session.get(Case, a.case_id)).reject_reason == "申请材料不全，请补充后重新申请"
    resp = s.post("/transfers/batch", data={"action": "delete", "ids": [str(a.id), str(b.id)]})
    assert resp.status_code == 409 and f"{b.transfer_no}：状态为待审核，只能删除已驳回的申请" in resp.get_data(as_text=True)
    assert state(a)[0][1] is True                                  # A was not deleted either
    assert s.post("/transfers/batch", data={"action": "approve", "ids": [str(b.id)]}).status_code == 302
    resp = s.post("/transfers/batch", data={"action": "delete", "ids": [str(a.id), str(b.id)]})
    assert resp.status_code == 409 and f"{b.transfer_no}：状态为已通过，只能删除已驳回的申请" in resp.get_data(as_text=True)
    assert s.post("/transfers/batch", data={"action": "delete", "ids": [str(a.id)]}).status_code == 302
    html = s.get("/transfers").get_data(as_text=True)
    assert f"批量删除完成，共 1 条：{a.transfer_no}" in html
    assert f'data-transfer="{a.transfer_no}"' not in html and f'data-transfer="{b.transfer_no}"' in html
    # Single delete from the detail page: only rejected ones.
    q = web("qx_supervisor")
    resp = q.post(f"/transfers/{c.id}/delete")
    assert resp.status_code == 302 and "只能删除已驳回的申请" in q.get(f"/transfers/{c.id}").get_data(as_text=True)
    assert state(c)[0][:2] == ("pending", True)


# ------------------------------------------------------------------ scope

def test_scope_of_transfer_records(web, api):
    device = forklifts()[0]
    case = apply([device.code])            # 柳州城中区 → 南宁兴宁区
    transfer = transfer_of(case)
    for outsider in ("qx_supervisor", "unit_xn", "unit_qx", "agency_gx", "process_admin"):
        s = web(outsider)
        for url in (f"/transfers/{transfer.id}", f"/transfers/{transfer.id}/diagram.bpmn",
                    f"/transfers/{transfer.id}/edit"):
            assert s.get(url).status_code == 404, (outsider, url)
        assert s.post(f"/transfers/{transfer.id}/delete").status_code == 404
        if outsider != "process_admin":
            for query in ("", "?from_region=450202", "?to_region=45", "?status=pending", f"?code={device.code}"):
                assert transfer.transfer_no not in s.get(f"/transfers{query}").get_data(as_text=True), (outsider, query)
            export = s.get("/transfers/export.xlsx")
            assert export.status_code == 200 and device.code.encode() not in _xlsx_text(export.data)
        c = api(outsider)
        assert c.get(f"/api/v1/transfers/{transfer.id}").status_code == 404
        assert c.get("/api/v1/transfers").get_json()["total"] == 0
    for insider in ("lz_supervisor", "xn_supervisor", "nn_city", "gx_province", "unit_lz"):
        s = web(insider)
        assert s.get(f"/transfers/{transfer.id}").status_code == 200, insider
        assert transfer.transfer_no in s.get("/transfers").get_data(as_text=True), insider
        assert api(insider).get("/api/v1/transfers").get_json()["total"] == 1, insider
    assert web("lz_supervisor").get(f"/cases/{case.id}").status_code == 404   # the case lives in the target region
    assert web("xn_supervisor").get(f"/cases/{case.id}").status_code == 200
    assert "迁移申请" in web("unit_lz").get(f"/cases/{case.id}").get_data(as_text=True)


def test_list_filters_and_export(web, api):
    a, b, c = forklifts()
    first = transfer_of(apply([a.code, b.code]))
    second = transfer_of(apply([c.code], "450103"))
    lz = api("lz_supervisor")

    def numbers(query):
        return {i["transfer_no"] for i in lz.get(f"/api/v1/transfers{query}").get_json()["items"]}
    both = {first.transfer_no, second.transfer_no}
    assert numbers("") == both
    assert numbers("?to_region=450103") == {second.transfer_no}
    assert numbers("?to_region=450100") == both                  # a city covers its counties
    assert numbers("?from_region=450202") == both and numbers("?from_region=450102") == set()
    assert numbers(f"?code={b.code}") == {first.transfer_no}
    assert numbers("?org=柳州市演示") == both and numbers("?org=青秀区演示酒店") == set()
    assert numbers(f"?q={second.transfer_no}") == {second.transfer_no}
    assert numbers("?status=approved") == set() and numbers("?status=pending") == both
    assert numbers("?date_from=2000-01-01&date_to=2000-01-02") == set()
    item = lz.get(f"/api/v1/transfers?code={b.code}").get_json()["items"][0]
    assert item["from_region_name"] == "柳州市城中区" and item["to_region_name"] == "南宁市兴宁区"
    assert sorted(d["code"] for d in item["devices"]) == sorted([a.code, b.code])
    detail = lz.get(f"/api/v1/transfers/{first.id}").get_json()
    assert [r["step"] for r in detail["flow_record"]][:1] == ["发起"]
    html = web("lz_supervisor").get("/transfers?to_region=450103").get_data(as_text=True)
    assert second.transfer_no in html and first.transfer_no not in html
    export = web("lz_supervisor").get("/transfers/export.xlsx?to_region=450102")
    text = _xlsx_text(export.data).decode()
    assert export.status_code == 200 and text.count(first.transfer_no) == 2 and second.transfer_no not in text
    assert "柳州市城中区" in text and "南宁市兴宁区" in text


# ------------------------------------------------------------------ through the JSON API and the generic pages

def test_api_start_claim_and_complete(api, web):
    device = forklifts()[0]
    unit, xn = api("unit_lz"), api("xn_supervisor")
    photo = unit.post("/api/v1/attachments", data={"file": (io.BytesIO(PDF), "租赁合同.pdf")},
                      content_type="multipart/form-data").get_json()["id"]
    bad = unit.post("/api/v1/cases", json={"process_key": "equipment_transfer",
                                           "data": {"equipment_codes": [lz_devices("4110")[0].code],
                                                    "to_region": "450102", "reason": REASON}})
    assert bad.status_code == 422 and "不是移动式设备" in bad.get_json()["error"]["fields"]["equipment_codes"]
    resp = unit.post("/api/v1/cases", json={"process_key": "equipment_transfer", "data": {
        "equipment_codes": [device.code], "to_region": "450102", "reason": REASON, "attachments": [photo]}})
    assert resp.status_code == 201, resp.get_json()
    case = resp.get_json()
    assert case["case_no"].startswith("YJ") and case["region_code"] == "450102"
    assert case["timeline"][0]["attachments"][0]["filename"] == "租赁合同.pdf"
    task_id = case["open_tasks"][0]["id"]
    assert [t["id"] for t in xn.get("/api/v1/tasks").get_json()["items"]] == [task_id]
    assert api("lz_supervisor").get(f"/api/v1/tasks/{task_id}").status_code == 404
    assert xn.post(f"/api/v1/tasks/{task_id}/claim").status_code == 200
    resp = xn.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"review_decision": "approve",
                                                                       "opinion": "同意"}})
    assert resp.status_code == 200 and resp.get_json()["outcome"] == "已同意迁入"
    assert equipment(device.code).region_code == "450102"
    # The case page and the task page show the transfer panel.
    html = web("xn_supervisor").get(f"/cases/{case['id']}").get_data(as_text=True)
    assert "迁移申请" in html and "已通过" in html and device.code in html
    transfer = transfer_of(db.session.get(Case, case["id"]))
    detail = web("unit_lz").get(f"/transfers/{transfer.id}").get_data(as_text=True)
    assert "变更记录" in detail and "黄兴宁（演示）" in detail and "租赁合同.pdf" in detail


def test_demo_seed_creates_a_transfer_waiting_for_review():
    from app.demo import seed
    seed(iterations=1000, with_cases=True)
    db.session.commit()
    transfer = db.session.scalar(select(EquipmentTransfer))
    assert transfer is not None and transfer.status == "pending" and transfer.to_region == "450102"
    task = db.session.scalar(select(Task).where(Task.case_id == transfer.case_id, Task.status == "open"))
    assert task.candidate_region == "450102" and transfer.items[0].equipment.category_code == "5110"


def test_sms_template_is_seeded_for_regulators():
    from app.sms.models import SmsTemplate
    template = db.session.get(SmsTemplate, "EQUIP_TRANSFER_OUT")
    assert template.audience == "regulator" and template.reviewed is False
    assert json.loads(template.sample_params)["result"]


def _xlsx_text(data: bytes) -> bytes:
    from openpyxl import load_workbook
    wb = load_workbook(io.BytesIO(data), read_only=True)
    return "\n".join(str(c) for row in wb.active.iter_rows(values_only=True) for c in row).encode()
