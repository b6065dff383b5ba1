"""作业人员任职与离职 (§4.5.7): the three two-sided loops (join, leave, hire) through the engine,
pages and API; the operator database (encrypted ID numbers, certificates); the personal-role data
scope; the unit's staff list; and the public lookup, which must never show an ID number or phone."""
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from app.cases.models import Case, CaseEvent, Task
from app.core.clock import today_local
from app.core.models import Attachment, Organization
from app.core.pii import PiiError, decrypt
from app.engine import runtime
from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.operators import services
from app.operators.demo import OPERATORS, id_number
from app.operators.masking import mask_cert_no, mask_id_number, mask_name, public_id_mask
from app.operators.models import Employment, EmploymentRequest, Operator, OperatorCertificate, id_number_index

from .conftest import JPEG, PDF, complete, open_task, upload, user

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ builders

def operator_of(username: str) -> Operator:
    return db.session.scalar(select(Operator).where(Operator.user_id == user(username).id))


def cert_of(username: str, item: str) -> OperatorCertificate:
    return next(c for c in operator_of(username).certificates if c.work_item == item)


def org_of(username: str) -> Organization:
    return user(username).org


def join_data(applicant: str, unit: str, item: str, **overrides) -> dict:
    data = {"org_uscc": org_of(unit).uscc, "work_item": item, "certificate_id": cert_of(applicant, item).id,
            "cert_files": [upload(applicant, JPEG, "证书.jpg")],
            "social_insurance_files": [upload(applicant, PDF, "社保证明.pdf")], "remark": "申请任职"}
    data.update(overrides)
    return data


def hire_data(unit: str, cert: OperatorCertificate, **overrides) -> dict:
    data = {"cert_no": cert.cert_no, "work_item": cert.work_item,
            "contract_files": [upload(unit, PDF, "劳动合同.pdf")],
            "social_insurance_files": [upload(unit, PDF, "社保证明.pdf")]}
    data.update(overrides)
    return data


def start(process_key: str, username: str, data: dict) -> Case:
    case = runtime.start_case(process_key, user(username), data)
    db.session.commit()
    return case


def reload(case: Case) -> Case:
    db.session.expire_all()
    return db.session.get(Case, case.id)


def request_of(case: Case) -> EmploymentRequest:
    db.session.expire_all()
    return db.session.scalar(select(EmploymentRequest).where(EmploymentRequest.case_id == case.id))


def counts() -> tuple[int, int, int, int]:
    db.session.expire_all()
    return tuple(db.session.scalar(select(func.count(m.id))) for m in (Case, EmploymentRequest, Employment, Task))


def comments(case: Case) -> list[str]:
    return [e.comment for e in db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                                                  .order_by(CaseEvent.seq)) if e.comment]


@pytest.fixture
def lan_at_qx():
    """op_lan employed at unit_qx as Q2 (a row this test adds, so the cleanup removes it)."""
    employment = Employment(operator_id=operator_of("op_lan").id, org_id=org_of("unit_qx").id, work_item="Q2",
                            status="active", started_on=today_local() - timedelta(days=200))
    db.session.add(employment)
    db.session.commit()
    return employment


def demo_secrets() -> list[str]:
    """Every full ID number and phone number of the demo operators (what public pages must never show)."""
    values = []
    for op in db.session.scalars(select(Operator)):
        values.append(op.id_number)
        if op.phone:
            values.append(op.phone)
    assert len(values) >= 2 * len(OPERATORS)
    return values


# ------------------------------------------------------------------ definitions

@pytest.mark.parametrize("key,lanes,prefix", [
    ("operator_join", {"operator", "use_unit"}, "RZ"), ("operator_leave", {"operator", "use_unit"}, "LZ"),
    ("operator_hire", {"use_unit", "operator"}, "PY")])
def test_processes_are_deployed_with_lanes_and_a_diagram(key, lanes, prefix):
    from app.engine.registry import latest_version, version_info
    version = latest_version(key)
    info = version_info(version)
    assert info.case_no_prefix == prefix
    assert info.start_roles == (["use_unit"] if key == "operator_hire" else ["operator"])
    root = etree.fromstring((ROOT / "workflows" / f"{key}.bpmn").read_bytes())
    ns = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI"}
    assert {lane.get("name") for lane in root.iterfind(".//bpmn:lane", ns)} == lanes
    shapes = {s.get("bpmnElement") for s in root.iterfind(".//bpmndi:BPMNShape", ns)}
    edges = {e.get("bpmnElement") for e in root.iterfind(".//bpmndi:BPMNEdge", ns)}
    process = root.find("bpmn:process", ns)
    nodes = {el.get("id") for el in process if el.get("id") and not el.tag.endswith(("sequenceFlow", "laneSet",
                                                                                      "documentation"))}
    flows = {el.get("id") for el in process.iterfind("bpmn:sequenceFlow", ns)}
    assert nodes and nodes <= shapes and flows == edges


def test_work_items_follow_tsg_z6001_2019_and_cite_sources():
    import json
    data = json.loads((ROOT / "app/operators/data/work_items.json").read_text(encoding="utf-8"))
    assert data["sources"] and all(s.get("url") or s.get("repository") for s in data["sources"])
    items = services.work_items()
    assert services.work_item_label("N1") == "N1 叉车司机" and items["Q1"]["name"] == "起重机指挥"
    assert items["Q2"]["name"] == "起重机司机" and items["T"]["name"] == "电梯修理"
    assert "G4" not in items and "A1" not in items       # 2011 codes are superseded


# ------------------------------------------------------------------ join

def test_join_approved_creates_the_employment():
    case = start("operator_join", "op_lan", join_data("op_lan", "unit_xn", "Q2"))
    unit_org = org_of("unit_xn")
    task = open_task(case)
    assert (task.task_def, task.candidate_role, task.candidate_org_id) == ("review", "use_unit", unit_org.id)
    assert case.case_no.startswith("RZ") and case.org_id == unit_org.id and case.region_code == unit_org.region_code
    req = request_of(case)
    assert (req.kind, req.status, req.work_item, req.cert_no) == ("join", "pending", "Q2", cert_of("op_lan", "Q2").cert_no)
    complete(case, "unit_xn", {"decision": "approve", "opinion": "同意任职"})
    case = reload(case)
    assert case.status == "closed" and case.outcome == "已建立任职关系"
    req = request_of(case)
    employment = req.employment
    assert req.status == "approved" and req.decided_by_id == user("unit_xn").id
    assert (employment.status, employment.org_id, employment.work_item, employment.start_case_id) == \
        ("active", unit_org.id, "Q2", case.id)
    assert employment.started_on == today_local()
    assert runtime.verify_case_chain(case.id) is None
    # the attachments of the application went to the case
    events = list(db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == "started")))
    assert len(events) == 1 and len(events[0].attachment_ids.strip("[]").split(",")) == 2


def test_join_declined_keeps_the_reason_on_the_timeline(web):
    case = start("operator_join", "op_lan", join_data("op_lan", "unit_xn", "Q2"))
    with pytest.raises(ValidationFailed) as err:       # declining needs a reason
        complete(case, "unit_xn", {"decision": "decline"})
    db.session.rollback()
    assert err.value.fields == {"opinion": "此项为必填项"}
    assert open_task(case).task_def == "review"
    complete(case, "unit_xn", {"decision": "decline", "opinion": "本单位该岗位暂无空缺，不同意任职"})
    case = reload(case)
    assert case.outcome == "单位不同意任职"
    req = request_of(case)
    assert req.status == "declined" and req.reason == "本单位该岗位暂无空缺，不同意任职" and req.employment_id is None
    assert services.active_employment(operator_of("op_lan").id, org_of("unit_xn").id, "Q2") is None
    assert "本单位该岗位暂无空缺，不同意任职" in comments(case)
    page = web("op_lan").get(f"/cases/{case.id}").get_data(as_text=True)
    assert "意见：本单位该岗位暂无空缺，不同意任职" in page and "单位不同意任职" in page
    assert "本单位该岗位暂无空缺，不同意任职" in web("op_lan").get("/me").get_data(as_text=True)


def test_join_refuses_bad_input_per_field_and_writes_nothing():
    before = counts()
    huang = "op_huang"
    uscc = org_of("unit_xn").uscc
    wrong_check = uscc[:17] + ("0" if uscc[17] != "0" else "1")
    cases = [
        (join_data(huang, "unit_xn", "N1"), {"certificate_id"}, "已过期"),                  # expired certificate
        (join_data("op_lan", "unit_xn", "Q2", certificate_id=cert_of("op_lan", "N1").id), {"certificate_id"},
         "与任职岗位不一致"),
        (join_data("op_lan", "unit_xn", "Q2", certificate_id=cert_of("op_wei", "N1").id), {"certificate_id"},
         "本人"),
        (join_data("op_lan", "unit_xn", "Q2", org_uscc=wrong_check), {"org_uscc"}, "校验位"),
        (join_data("op_lan", "agency_gx", "Q2"), {"org_uscc"}, "不是特种设备使用单位"),
        (join_data("op_lan", "unit_xn", "Q2", work_item="ZZ"), {"work_item"}, "有效的作业项目"),
    ]
    for data, fields, message in cases:
        applicant = huang if data is cases[0][0] else "op_lan"
        with pytest.raises(ValidationFailed) as err:
            runtime.start_case("operator_join", user(applicant), data)
        db.session.rollback()
        assert set(err.value.fields) == fields and message in " ".join(err.value.fields.values()), err.value.fields
    with pytest.raises(ValidationFailed) as err:     # required attachments
        runtime.start_case("operator_join", user("op_lan"),
                           join_data("op_lan", "unit_xn", "Q2", cert_files=[], social_insurance_files=None))
    db.session.rollback()
    assert err.value.fields == {"cert_files": "此项为必填项", "social_insurance_files": "此项为必填项"}
    assert counts() == before


def test_only_operators_with_a_record_start_and_only_operators_and_units_by_role():
    from app.errors import Forbidden
    with pytest.raises(Forbidden):
        runtime.start_case("operator_join", user("unit_xn"), {})
    with pytest.raises(Forbidden):
        runtime.start_case("operator_hire", user("op_lan"), {})
    db.session.rollback()


# ------------------------------------------------------------------ leave

def test_leave_approved_ends_the_employment(lan_at_qx, web):
    case = start("operator_leave", "op_lan", {"employment_id": lan_at_qx.id, "reason": "个人原因，回南宁工作"})
    task = open_task(case)
    assert case.case_no.startswith("LZ") and task.candidate_org_id == org_of("unit_qx").id
    staff = web("unit_qx").get("/operators/staff").get_data(as_text=True)
    assert case.case_no in staff                                   # listed under 办理中
    complete(case, "unit_qx", {"decision": "approve", "opinion": "同意离职"})
    case = reload(case)
    assert case.outcome == "已解除任职关系"
    employment = db.session.get(Employment, lan_at_qx.id)
    assert (employment.status, employment.ended_on, employment.end_case_id) == ("ended", today_local(), case.id)
    assert request_of(case).status == "approved"
    former = web("unit_qx").get("/operators/staff").get_data(as_text=True)
    former = former[former.index('data-testid="staff-former"'):]
    assert "蓝秀梅（演示）" in former and case.case_no in former


def test_leave_declined_keeps_the_employment(lan_at_qx):
    case = start("operator_leave", "op_lan", {"employment_id": lan_at_qx.id, "reason": "想换单位"})
    complete(case, "unit_qx", {"decision": "decline", "opinion": "尚在合同期内，请先办理交接"})
    case = reload(case)
    assert case.outcome == "单位不同意离职" and "尚在合同期内，请先办理交接" in comments(case)
    assert db.session.get(Employment, lan_at_qx.id).status == "active"
    assert request_of(case).reason == "尚在合同期内，请先办理交接"


def test_leave_only_from_an_own_active_employment(lan_at_qx):
    before = counts()
    wei_employment = services.active_employments(operator_of("op_wei"))[0]
    ended = db.session.scalar(select(Employment).where(Employment.status == "ended"))
    for employment_id in (wei_employment.id, ended.id, 999999):
        with pytest.raises(ValidationFailed) as err:
            runtime.start_case("operator_leave", user("op_lan"), {"employment_id": employment_id, "reason": "离职"})
        db.session.rollback()
        assert err.value.fields == {"employment_id": "只能对本人在职的任职关系申请离职"}
    start("operator_leave", "op_lan", {"employment_id": lan_at_qx.id, "reason": "第一次申请"})
    with pytest.raises(ValidationFailed) as err:                  # one open request at a time
        runtime.start_case("operator_leave", user("op_lan"), {"employment_id": lan_at_qx.id, "reason": "第二次申请"})
    db.session.rollback()
    assert "正在办理" in err.value.fields["employment_id"]
    assert counts()[0] == before[0] + 1


# ------------------------------------------------------------------ hire (unit proposes, operator confirms)

def test_hire_confirmed_by_the_operator(api):
    cert = cert_of("op_lan", "N1")
    case = start("operator_hire", "unit_xn", hire_data("unit_xn", cert))
    task = open_task(case)
    assert case.case_no.startswith("PY")
    assert (task.task_def, task.candidate_role, task.assignee_id) == ("confirm", "operator", user("op_lan").id)
    todo = api("op_lan").get("/api/v1/tasks?box=todo&counts=true").get_json()
    assert [i["id"] for i in todo["items"]] == [task.id] and todo["counts"]["todo"] == 1
    assert api("op_liang").get("/api/v1/tasks?box=todo").get_json()["total"] == 0
    complete(case, "op_lan", {"decision": "approve"})
    case = reload(case)
    assert case.outcome == "已建立任职关系"
    employment = request_of(case).employment
    assert (employment.operator_id, employment.org_id, employment.work_item, employment.status) == \
        (operator_of("op_lan").id, org_of("unit_xn").id, "N1", "active")


def test_hire_declined_by_the_operator_with_a_reason(web):
    case = start("operator_hire", "unit_xn", hire_data("unit_xn", cert_of("op_lan", "N1")))
    with pytest.raises(ValidationFailed):
        complete(case, "op_lan", {"decision": "decline", "opinion": "短"})     # fewer than 4 characters
    db.session.rollback()
    complete(case, "op_lan", {"decision": "decline", "opinion": "已与其他单位签约，谢谢"})
    case = reload(case)
    assert case.outcome == "作业人员拒绝聘用" and request_of(case).status == "declined"
    assert services.active_employment(operator_of("op_lan").id, org_of("unit_xn").id, "N1") is None
    page = web("unit_xn").get(f"/cases/{case.id}").get_data(as_text=True)
    assert "意见：已与其他单位签约，谢谢" in page


def test_hire_refuses_bad_input_and_writes_nothing():
    before = counts()
    bad = [
        (hire_data("unit_xn", cert_of("op_lan", "N1"), cert_no="NOPE-000000"), {"cert_no"}, "没有该证书编号"),
        (hire_data("unit_xn", cert_of("op_huang", "N1")), {"cert_no"}, "已过期"),
        (hire_data("unit_xn", cert_of("op_lan", "N1"), work_item="Q2"), {"cert_no"}, "与任职岗位不一致"),
        (hire_data("unit_lz", cert_of("op_wei", "N1")), {"work_item"}, "不能重复任职"),
        (hire_data("unit_xn", cert_of("op_lan", "N1"), contract_files=[]), {"contract_files"}, "必填"),
    ]
    for data, fields, message in bad:
        unit = "unit_lz" if data["cert_no"] == cert_of("op_wei", "N1").cert_no else "unit_xn"
        with pytest.raises(ValidationFailed) as err:
            runtime.start_case("operator_hire", user(unit), data)
        db.session.rollback()
        assert set(err.value.fields) == fields and message in " ".join(err.value.fields.values()), err.value.fields
    assert counts() == before


def test_personal_task_cannot_be_unclaimed(api):
    case = start("operator_hire", "unit_xn", hire_data("unit_xn", cert_of("op_lan", "N1")))
    task = open_task(case)
    resp = api("op_lan").post(f"/api/v1/tasks/{task.id}/unclaim")
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "personal_task"
    db.session.expire_all()
    assert db.session.get(Task, task.id).assignee_id == user("op_lan").id


# ------------------------------------------------------------------ one employment per position

def test_double_employment_is_refused():
    before = counts()
    with pytest.raises(ValidationFailed) as err:      # op_wei already drives forklifts (N1) for unit_lz
        runtime.start_case("operator_join", user("op_wei"), join_data("op_wei", "unit_lz", "N1"))
    db.session.rollback()
    assert list(err.value.fields) == ["work_item"] and "不能重复任职" in err.value.fields["work_item"]
    start("operator_join", "op_lan", join_data("op_lan", "unit_xn", "Q2"))
    with pytest.raises(ValidationFailed) as err:      # a second application while the first is open
        runtime.start_case("operator_join", user("op_lan"), join_data("op_lan", "unit_xn", "Q2"))
    db.session.rollback()
    assert "正在办理" in err.value.fields["work_item"]
    with pytest.raises(ValidationFailed) as err:      # nor may the unit propose the same position meanwhile
        runtime.start_case("operator_hire", user("unit_xn"), hire_data("unit_xn", cert_of("op_lan", "Q2")))
    db.session.rollback()
    assert "正在办理" in err.value.fields["work_item"]
    assert counts()[0] == before[0] + 1


def test_approval_rechecks_and_the_index_enforces_one_active_employment():
    case = start("operator_join", "op_lan", join_data("op_lan", "unit_xn", "Q2"))
    op, org = operator_of("op_lan"), org_of("unit_xn")
    # Meanwhile the position was filled another way (say, an import): approving must not add a second.
    db.session.add(Employment(operator_id=op.id, org_id=org.id, work_item="Q2", status="active",
                              started_on=today_local()))
    db.session.commit()
    before = counts()
    with pytest.raises(ValidationFailed) as err:
        complete(case, "unit_xn", {"decision": "approve"})
    db.session.rollback()
    assert "不能重复任职" in err.value.fields["decision"]
    assert counts() == before and open_task(case).task_def == "review"
    # The partial unique index: a second active row fails in the database too; an ended one does not.
    db.session.add(Employment(operator_id=op.id, org_id=org.id, work_item="Q2", status="ended",
                              started_on=today_local() - timedelta(days=900), ended_on=today_local()))
    db.session.commit()
    db.session.add(Employment(operator_id=op.id, org_id=org.id, work_item="Q2", status="active",
                              started_on=today_local()))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


# ------------------------------------------------------------------ identity and encryption

def test_id_number_checksum_is_refused_and_nothing_is_written():
    good = id_number("45010219880808123")
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    before = db.session.scalar(select(func.count(Operator.id)))
    for number, message in ((bad, "校验位"), ("45010219881332123X", "校验位"), ("4501021988", "18位"), ("", "必填")):
        with pytest.raises(ValidationFailed) as err:
            services.create_operator(name="测试人员（测试）", id_number=number)
        db.session.rollback()
        assert list(err.value.fields) == ["id_number"] and message in err.value.fields["id_number"]
    with pytest.raises(ValidationFailed) as err:         # every field reported at once
        services.create_operator(name="张", id_number=bad, phone="123")
    db.session.rollback()
    assert set(err.value.fields) == {"name", "id_number", "phone"}
    with pytest.raises(ValidationFailed) as err:         # the same person twice
        services.create_operator(name="重复人员", id_number=operator_of("op_lan").id_number)
    db.session.rollback()
    assert err.value.fields == {"id_number": "该公民身份号码已在作业人员库中"}
    assert db.session.scalar(select(func.count(Operator.id))) == before
    op = services.create_operator(name="新人员（测试）", id_number=good.lower() if good.endswith("X") else good)
    db.session.commit()
    assert op.id_number == good and op.gender == "M" and op.public_id and len(op.public_id) == 20


def test_id_number_is_encrypted_at_rest_and_bound_to_its_row():
    op = operator_of("op_lan")
    number = op.id_number
    assert number == id_number(OPERATORS[1][2]) and number not in op.id_number_masked
    row = db.session.execute(text("SELECT * FROM operator WHERE id = :id"), {"id": op.id}).mappings().one()
    raw = b"".join(bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode() for v in row.values())
    assert number.encode() not in raw and number[6:14].encode() not in raw      # neither whole nor birth date
    assert op.phone.encode() not in raw
    assert row["id_number_bidx"] == id_number_index(number) != number
    enc = bytes(row["id_number_enc"])
    assert decrypt(enc, table="operator", column="id_number", ref=row["id_number_ref"]) == number
    with pytest.raises(PiiError):                                    # another column
        decrypt(enc, table="operator", column="phone", ref=row["id_number_ref"])
    other = operator_of("op_wei")
    with pytest.raises(PiiError):                                    # copied into another row
        decrypt(enc, table="operator", column="id_number", ref=other.id_number_ref)
    with pytest.raises(PiiError):                                    # tampered
        decrypt(enc[:-1] + bytes([enc[-1] ^ 1]), table="operator", column="id_number", ref=row["id_number_ref"])


def test_masking_rules():
    assert mask_name("张三") == "张*" and mask_name("张三丰") == "张*丰" and mask_name("欧阳娜娜") == "欧**娜"
    assert mask_name("韦建华（演示）") == "韦*华（演示）"
    assert mask_id_number("450202198503121359") == "4502**********1359"
    assert public_id_mask("4502**********1359") == "45**************59"
    assert mask_cert_no("GX2024N10001") == "GX20****0001" and mask_cert_no("450202198503121359") == "4502**********1359"


# ------------------------------------------------------------------ landing and pages

def test_landing_no_employer_goes_to_me_with_employer_to_employer_page(web):
    wei, lan = web("op_wei"), web("op_lan")
    assert wei.get("/").headers["Location"].endswith("/me/employer")
    assert lan.get("/").headers["Location"].endswith("/me")
    page = wei.get("/me/employer").get_data(as_text=True)
    lz = org_of("unit_lz")
    assert lz.name in page and lz.uscc in page and "N1 叉车司机" in page and "个人主页" in page
    assert re.search(r'data-testid="colleagues">0 人', page)
    me = lan.get("/me").get_data(as_text=True)
    assert 'data-testid="no-employer"' in me and operator_of("op_lan").id_number_masked in me
    assert operator_of("op_lan").id_number not in me
    # the navigation of the operator role
    assert "个人主页" in me and "任职单位" in me and "重大事故隐患台账" not in me
    assert lan.get("/operators/staff").status_code == 403
    assert web("unit_xn").get("/me").status_code == 403


def test_landing_follows_the_employment(lan_at_qx, web):
    assert web("op_lan").get("/").headers["Location"].endswith("/me/employer")
    page = web("op_lan").get("/me/employer").get_data(as_text=True)
    assert org_of("unit_qx").name in page and "Q2 起重机司机" in page


def test_profile_update_is_checked_and_stored_encrypted(web):
    op = operator_of("op_lan")
    saved = (op.phone, op.education, op.address)
    s = web("op_lan")
    try:
        resp = s.post("/me/profile", data={"phone": "12345", "education": "博士", "address": "新地址"})
        assert resp.status_code == 422
        body = resp.get_data(as_text=True)
        assert "请选择有效的选项" in body
        resp = s.post("/me/profile", data={"phone": "12345", "education": "本科", "address": "新地址"})
        assert resp.status_code == 422 and "请输入11位手机号码" in resp.get_data(as_text=True)
        db.session.expire_all()
        assert operator_of("op_lan").address == saved[2]                       # nothing written
        assert s.post("/me/profile", data={"phone": "139 0000 1234", "education": "本科",
                                           "address": "南宁市新地址8号"}).status_code == 302
        db.session.expire_all()
        op = operator_of("op_lan")
        assert (op.phone, op.phone_masked, op.education, op.address) == \
            ("13900001234", "139****1234", "本科", "南宁市新地址8号")
        assert "139****1234" in s.get("/me").get_data(as_text=True)
    finally:
        op = operator_of("op_lan")
        op.set_phone(saved[0])
        op.education, op.address = saved[1], saved[2]
        db.session.commit()


def test_certificate_crud_with_upload_checks(web):
    s = web("op_lan")
    op_id = operator_of("op_lan").id
    issue = (today_local() - timedelta(days=10)).isoformat()
    fields = {"cert_no": "GX2099T0009", "work_item": "T", "issue_date": issue, "issuing_authority": "南宁市市场监督管理局"}
    attachments = db.session.scalar(select(func.count(Attachment.id)))
    # a text file dressed as a JPEG is refused by content; nothing is written
    resp = s.post("/me/certificates", data={**fields, "photo__upload": (io.BytesIO(b"just text"), "证书.jpg")},
                  content_type="multipart/form-data")
    assert resp.status_code == 422 and "类型不允许" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Attachment.id))) == attachments
    assert db.session.scalar(select(OperatorCertificate).where(OperatorCertificate.cert_no == "GX2099T0009")) is None
    # per-field errors: duplicate number, a future issue date, no item
    resp = s.post("/me/certificates", data={"cert_no": cert_of("op_wei", "N1").cert_no, "work_item": "",
                                            "issue_date": (today_local() + timedelta(days=3)).isoformat(),
                                            "issuing_authority": "某局"}, content_type="multipart/form-data")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "此项为必填项" in body
    resp = s.post("/me/certificates", data={**fields, "cert_no": cert_of("op_wei", "N1").cert_no,
                                            "issue_date": (today_local() + timedelta(days=3)).isoformat()},
                  content_type="multipart/form-data")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "该证书编号已登记" in body and "发证日期不能晚于今天" in body
    # create with a photo
    resp = s.post("/me/certificates", data={**fields, "photo__upload": (io.BytesIO(JPEG), "证书.jpg")},
                  content_type="multipart/form-data")
    assert resp.status_code == 302
    db.session.expire_all()
    cert = db.session.scalar(select(OperatorCertificate).where(OperatorCertificate.cert_no == "GX2099T0009"))
    assert cert.operator_id == op_id and cert.photo is not None and cert.photo.mime == "image/jpeg"
    assert cert.expiry_date == services.add_years(today_local() - timedelta(days=10), 4) and cert.status == "valid"
    assert s.get(f"/operators/certificates/{cert.id}/photo").status_code == 200
    assert web("op_wei").get(f"/operators/certificates/{cert.id}/photo").status_code == 404
    assert web("unit_xn").get(f"/operators/certificates/{cert.id}/photo").status_code == 404
    assert "GX2099T0009" in s.get("/me").get_data(as_text=True)
    # edit: keep the photo, change the authority and the issue date
    old_issue = (today_local() - timedelta(days=4 * 365 - 30)).isoformat()
    resp = s.post(f"/me/certificates/{cert.id}", data={**fields, "issue_date": old_issue,
                                                      "issuing_authority": "广西壮族自治区市场监督管理局"},
                  content_type="multipart/form-data")
    assert resp.status_code == 302
    db.session.expire_all()
    cert = db.session.get(OperatorCertificate, cert.id)
    assert cert.issuing_authority == "广西壮族自治区市场监督管理局" and cert.photo is not None
    assert cert.status == "expiring"
    # another operator cannot open, edit or delete it
    other = web("op_liang")
    assert other.get(f"/me/certificates/{cert.id}").status_code == 404
    assert other.post(f"/me/certificates/{cert.id}/delete").status_code == 404
    # delete
    cert_id = cert.id
    assert s.post(f"/me/certificates/{cert_id}/delete").status_code == 302
    db.session.expire_all()
    assert db.session.get(OperatorCertificate, cert_id) is None


def test_certificate_in_an_open_application_cannot_be_deleted(web):
    cert = cert_of("op_lan", "Q2")
    start("operator_join", "op_lan", join_data("op_lan", "unit_xn", "Q2"))
    resp = web("op_lan").post(f"/me/certificates/{cert.id}/delete")
    assert resp.status_code == 409 and "办理中的任职申请" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(OperatorCertificate, cert.id) is not None


def test_unit_staff_list_current_former_and_search(web):
    s = web("unit_lz")
    page = s.get("/operators/staff").get_data(as_text=True)
    current = page[page.index('data-testid="staff-current"'):page.index('data-testid="staff-pending"')]
    former = page[page.index('data-testid="staff-former"'):page.index('id="search"')]
    wei, huang = operator_of("op_wei"), operator_of("op_huang")
    assert "韦建华（演示）" in current and wei.id_number_masked in current and "N1 叉车司机" in current
    assert "黄志强（演示）" not in current and "黄志强（演示）" in former
    assert (today_local() - timedelta(days=60)).isoformat() in former
    for op in (wei, huang):
        assert op.id_number not in page and op.phone not in page
    # exact search by certificate number, by ID number (blind index), and a refused checksum
    found = s.get(f"/operators/staff?q={cert_of('op_lan', 'N1').cert_no}").get_data(as_text=True)
    assert "蓝秀梅（演示）" in found and "operator_hire/start?cert_no=" in found
    by_id = s.get(f"/operators/staff?q={operator_of('op_lan').id_number}").get_data(as_text=True)
    assert 'data-testid="search-result"' in by_id and "蓝秀梅（演示）" in by_id
    bad = operator_of("op_lan").id_number[:17] + ("1" if operator_of("op_lan").id_number[17] != "1" else "2")
    refused = s.get(f"/operators/staff?q={bad}").get_data(as_text=True)
    assert 'data-testid="search-error"' in refused and "校验位" in refused
    assert 'data-testid="search-empty"' in s.get("/operators/staff?q=NOTHING-1").get_data(as_text=True)
    # another unit does not see unit_lz's staff
    other = web("unit_qx").get("/operators/staff").get_data(as_text=True)
    assert "韦建华（演示）" not in other and "黄志强（演示）" not in other


def test_start_links_prefill_the_forms(web):
    org = org_of("unit_xn")
    page = web("op_lan").get(f"/processes/operator_join/start?org_uscc={org.uscc}&cert_files=1").get_data(as_text=True)
    assert f'value="{org.uscc}"' in page and 'name="cert_files" value="1"' not in page
    cert = cert_of("op_lan", "N1")
    page = web("unit_xn").get(f"/processes/operator_hire/start?cert_no={cert.cert_no}&work_item=N1").get_data(as_text=True)
    assert f'value="{cert.cert_no}"' in page and '<option value="N1" selected>' in page


def test_join_through_the_pages(web):
    s = web("op_lan")
    org = org_of("unit_xn")
    found = s.get("/me?unit_q=兴宁区演示").get_data(as_text=True)
    assert org.name in found and f"org_uscc={org.uscc}" in found
    resp = s.post("/processes/operator_join/start", data={
        "org_uscc": org.uscc, "work_item": "Q2", "certificate_id": str(cert_of("op_lan", "Q2").id),
        "cert_files__upload": (io.BytesIO(JPEG), "证书.jpg"),
        "social_insurance_files__upload": (io.BytesIO(PDF), "社保.pdf")}, content_type="multipart/form-data")
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    case = db.session.scalar(select(Case).where(Case.process_key == "operator_join").order_by(Case.id.desc()))
    unit = web("unit_xn")
    task = open_task(case)
    assert case.case_no in unit.get("/inbox").get_data(as_text=True)
    page = unit.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'id="employment-facts"' in page and operator_of("op_lan").id_number_masked in page
    resp = unit.post(f"/tasks/{task.id}", data={"decision": "decline"})
    assert resp.status_code == 422 and "此项为必填项" in resp.get_data(as_text=True)
    assert unit.post(f"/tasks/{task.id}", data={"decision": "approve", "opinion": "欢迎加入"}).status_code == 302
    assert reload(case).outcome == "已建立任职关系"
    assert unit.get(f"/cases/{case.id}/diagram.bpmn").get_data(as_text=True).count("bpmndi:BPMNShape") >= 8


# ------------------------------------------------------------------ personal-role scope

def test_personal_scope_own_cases_only(web, api):
    join = start("operator_join", "op_lan", join_data("op_lan", "unit_xn", "Q2"))
    hire = start("operator_hire", "unit_xn", hire_data("unit_xn", cert_of("op_lan", "N1")))
    lan, liang = web("op_lan"), web("op_liang")
    for case in (join, hire):
        task = open_task(case)
        assert lan.get(f"/cases/{case.id}").status_code == 200
        assert lan.get(f"/tasks/{task.id}").status_code == 200
        for url in (f"/cases/{case.id}", f"/tasks/{task.id}", f"/cases/{case.id}/diagram.bpmn"):
            assert liang.get(url).status_code == 404, url
        assert api("op_liang").get(f"/api/v1/cases/{case.id}").status_code == 404
        resp = api("op_liang").post(f"/api/v1/tasks/{task.id}/complete", json={"data": {"decision": "approve"}})
        assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"
    # the applicant sees the unit's review task but may not act on it
    review = open_task(join)
    assert "不是它的办理人" in lan.get(f"/tasks/{review.id}").get_data(as_text=True)
    assert api("op_lan").post(f"/api/v1/tasks/{review.id}/complete",
                              json={"data": {"decision": "approve"}}).status_code == 403
    # attachments of the case follow the case scope
    att = db.session.scalar(select(Attachment).where(Attachment.case_id == join.id))
    assert lan.get(f"/attachments/{att.id}").status_code == 200
    assert liang.get(f"/attachments/{att.id}").status_code == 404
    # inbox boxes: started and todo
    started = api("op_lan").get("/api/v1/tasks?box=started").get_json()
    assert [i["id"] for i in started["items"]] == [join.id]
    assert [i["case"]["id"] for i in api("op_lan").get("/api/v1/tasks?box=todo").get_json()["items"]] == [hire.id]
    assert 'data-testid="todo-count">1<' in lan.get("/me").get_data(as_text=True)
    # after the operator completes the task the case stays visible (completed_by)
    complete(hire, "op_lan", {"decision": "decline", "opinion": "暂不考虑该单位"})
    assert lan.get(f"/cases/{hire.id}").status_code == 200
    # units and regulators: the unit's own county sees, others do not
    assert web("unit_xn").get(f"/cases/{join.id}").status_code == 200
    assert web("xn_supervisor").get(f"/cases/{join.id}").status_code == 200
    for outsider in ("unit_qx", "lz_supervisor", "process_admin"):
        assert web(outsider).get(f"/cases/{join.id}").status_code == 404, outsider


def test_platform_roles_still_see_nothing():
    from app.core.scope import case_scope
    start("operator_join", "op_lan", join_data("op_lan", "unit_xn", "Q2"))
    for name in ("process_admin", "sys_admin"):
        assert db.session.scalar(select(func.count(Case.id)).where(case_scope(user(name)))) == 0


# ------------------------------------------------------------------ public lookup

def test_public_pages_need_no_login_and_mask_everything(client, web):
    secrets = demo_secrets()
    names = [name for _, name, *_ in OPERATORS]
    responses = []

    def get(c, url):
        resp = c.get(url)
        responses.append((url, resp))
        return resp

    home = get(client, "/public/operators")
    assert home.status_code == 200 and "请输入完整的证书编号" in home.get_data(as_text=True)
    by_employer = get(client, "/public/operators?employer=柳州市演示机械")
    body = by_employer.get_data(as_text=True)
    assert by_employer.status_code == 200 and "韦*华（演示）" in body and "柳州市演示机械制造有限公司（演示）" in body
    assert "黄*强（演示）" not in body                              # former employees are not listed as current
    all_certs = list(db.session.scalars(select(OperatorCertificate)))
    for cert in all_certs:
        resp = get(client, f"/public/operators?cert_no={cert.cert_no.lower()}")
        body = resp.get_data(as_text=True)
        assert resp.status_code == 200 and mask_name(cert.operator.name) in body
        assert cert.cert_no not in body and mask_cert_no(cert.cert_no) in body
    for op in db.session.scalars(select(Operator)):
        resp = get(client, f"/public/operators/{op.public_id}")
        body = resp.get_data(as_text=True)
        assert resp.status_code == 200 and mask_name(op.name) in body and public_id_mask(op.id_number_masked) in body
        assert all(item in body for item in [services.work_item_label(c.work_item) for c in op.certificates])
        assert get(client, f"/public/operators/{op.id}").status_code == 404         # never by database id
    wei_page = get(client, f"/public/operators/{operator_of('op_wei').public_id}").get_data(as_text=True)
    assert "即将到期" in wei_page and "有效" in wei_page
    assert "已过期" in get(client, f"/public/operators/{operator_of('op_huang').public_id}").get_data(as_text=True)
    get(client, "/public/operators/does-not-exist")
    get(client, "/public/operators?employer=演示&page=2")
    # a signed-in visitor gets the same public layout: no navigation, no account box
    signed_in = web("unit_lz")
    resp = signed_in.get("/public/operators?employer=柳州")
    responses.append(("signed-in", resp))
    for url, resp in responses:
        body = resp.get_data()
        assert resp.headers["Cache-Control"] == "no-store"
        text_body = body.decode()
        assert 'class="sidenav"' not in text_body and "退出" not in text_body and "我的待办" not in text_body, url
        for secret in secrets:
            assert secret.encode() not in body, (url, "full ID or phone leaked")
        for name in names:
            assert name.encode() not in body, (url, "unmasked name")
        # no mobile number and no 18-character ID number at all (public ids are hex: look past them)
        assert not re.search(rb"(?<![0-9a-fA-F])1[3-9]\d{9}(?![0-9a-fA-F])", body), url
        assert not re.search(rb"(?<![0-9a-fA-F])\d{17}[\dX](?![0-9a-fA-F])", body), url


# ------------------------------------------------------------------ JSON API

def test_join_through_the_json_api(api):
    op, unit = api("op_lan"), api("unit_xn")
    procs = {p["key"]: p["can_start"] for p in op.get("/api/v1/processes").get_json()["items"]}
    assert procs["operator_join"] and procs["operator_leave"] and not procs["operator_hire"] and not procs["major_hazard"]
    cert_file = op.post("/api/v1/attachments", data={"file": (io.BytesIO(JPEG), "证书.jpg")},
                        content_type="multipart/form-data").get_json()["id"]
    proof = op.post("/api/v1/attachments", data={"file": (io.BytesIO(PDF), "社保.pdf")},
                    content_type="multipart/form-data").get_json()["id"]
    data = {"org_uscc": org_of("unit_xn").uscc, "work_item": "Q2", "certificate_id": cert_of("op_lan", "Q2").id,
            "cert_files": [cert_file], "social_insurance_files": [proof]}
    bad = op.post("/api/v1/cases", json={"process_key": "operator_join",
                                         "data": {**data, "certificate_id": cert_of("op_lan", "N1").id}})
    assert bad.status_code == 422
    err = bad.get_json()["error"]
    assert err["code"] == "validation_failed" and "与任职岗位不一致" in err["fields"]["certificate_id"]
    huge = op.post("/api/v1/cases", json={"process_key": "operator_join", "data": {**data, "certificate_id": 10 ** 12}})
    assert huge.status_code == 422 and huge.get_json()["error"]["fields"] == {"certificate_id": "不能大于 2147483647"}
    resp = op.post("/api/v1/cases", json={"process_key": "operator_join", "data": data})
    assert resp.status_code == 201, resp.get_json()
    case = resp.get_json()
    assert case["open_tasks"][0]["task_def"] == "review" and case["case_no"].startswith("RZ")
    assert op.get("/api/v1/tasks?box=todo").get_json()["total"] == 0
    todo = unit.get("/api/v1/tasks?box=todo&process=operator_join").get_json()
    assert todo["total"] == 1
    task_id = todo["items"][0]["id"]
    missing = unit.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"decision": "decline"}})
    assert missing.status_code == 422 and missing.get_json()["error"]["fields"] == {"opinion": "此项为必填项"}
    done = unit.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"decision": "approve", "opinion": "同意"}})
    assert done.status_code == 200
    body = done.get_json()
    assert body["status"] == "closed" and body["outcome"] == "已建立任职关系"
    assert [t["kind"] for t in body["timeline"]][-1] == "closed"
    detail = op.get(f"/api/v1/cases/{case['id']}").get_json()
    assert detail["outcome"] == "已建立任职关系"
    assert services.active_employment(operator_of("op_lan").id, org_of("unit_xn").id, "Q2") is not None


def test_hire_through_the_json_api(api):
    unit, op = api("unit_xn"), api("op_lan")
    files = [unit.post("/api/v1/attachments", data={"file": (io.BytesIO(PDF), name)},
                       content_type="multipart/form-data").get_json()["id"] for name in ("合同.pdf", "社保.pdf")]
    cert = cert_of("op_lan", "N1")
    resp = unit.post("/api/v1/cases", json={"process_key": "operator_hire", "data": {
        "cert_no": cert.cert_no, "work_item": "N1", "contract_files": [files[0]], "social_insurance_files": [files[1]]}})
    assert resp.status_code == 201, resp.get_json()
    task = op.get("/api/v1/tasks?box=todo").get_json()["items"][0]
    assert task["task_def"] == "confirm" and task["assignee_id"] == user("op_lan").id
    detail = op.get(f"/api/v1/tasks/{task['id']}").get_json()
    assert detail["form"]["properties"]["decision"]["enum"] == ["approve", "decline"]
    done = op.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}})
    assert done.status_code == 200 and done.get_json()["outcome"] == "已建立任职关系"
    again = op.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "task_closed"


def test_certificate_photo_visible_to_an_employer_that_shares_a_case(web):
    cert = cert_of("op_lan", "Q2")
    att = upload("op_lan")
    cert.photo_attachment_id = att
    db.session.commit()
    try:
        assert web("unit_xn").get(f"/operators/certificates/{cert.id}/photo").status_code == 404
        start("operator_join", "op_lan", join_data("op_lan", "unit_xn", "Q2"))
        assert web("unit_xn").get(f"/operators/certificates/{cert.id}/photo").status_code == 200
        assert web("unit_qx").get(f"/operators/certificates/{cert.id}/photo").status_code == 404
    finally:
        cert = db.session.get(OperatorCertificate, cert.id)
        cert.photo_attachment_id = None
        db.session.commit()


def test_expired_certificate_blocks_approval_after_the_fact():
    """A certificate that expires while the application waits cannot found an employment."""
    case = start("operator_join", "op_lan", join_data("op_lan", "unit_xn", "Q2"))
    cert = cert_of("op_lan", "Q2")
    saved = (cert.issue_date, cert.expiry_date)
    cert.expiry_date = today_local() - timedelta(days=1)
    db.session.commit()
    try:
        with pytest.raises(ValidationFailed) as err:
            complete(case, "unit_xn", {"decision": "approve"})
        db.session.rollback()
        assert "已过期" in err.value.fields["decision"]
        complete(case, "unit_xn", {"decision": "decline", "opinion": "证书已过期，请复审后再申请"})
        assert reload(case).outcome == "单位不同意任职"
    finally:
        cert = db.session.get(OperatorCertificate, cert.id)
        cert.issue_date, cert.expiry_date = saved
        db.session.commit()


def test_delete_refused_raises_conflict_in_service():
    cert = cert_of("op_lan", "Q2")
    start("operator_join", "op_lan", join_data("op_lan", "unit_xn", "Q2"))
    with pytest.raises(Conflict):
        services.delete_certificate(db.session.get(OperatorCertificate, cert.id))
    db.session.rollback()


def test_public_search_needs_a_real_condition(client):
    """No full listing: a LIKE wildcard is taken literally and one character is too short."""
    wildcard = client.get("/public/operators?employer=%25%25").get_data(as_text=True)
    assert "没有找到符合条件的作业人员" in wildcard and "韦*华" not in wildcard
    short = client.get("/public/operators?employer=柳").get_data(as_text=True)
    assert "任职单位名称至少输入 2 个字" in short and "韦*华" not in short
    assert "韦*华" in client.get("/public/operators?employer=柳州").get_data(as_text=True)
