"""Public complaints (投诉举报, workflows/public_complaint.bpmn): the public page with an SMS-verified
phone (limits, captcha after failures), routing to the device's county, acceptance or rejection with a
reason, the on-site check, the hazard case started and linked both ways, the complainant's SMS, the
public lookup, the regulators' list (scope, filters, export) and the API."""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from app.cases.models import Case, CaseEvent, Task
from app.complaints.models import Complaint, ComplaintAttempt
from app.core.clock import today_local, utcnow
from app.core.pii import phone_index
from app.extensions import db
from app.sms.models import SmsMessage

from .conftest import JPEG, PNG, csrf_from, equipment_of, user
from .test_openapi import check

PHONE = "13907710001"


@pytest.fixture
def fixed_captcha(monkeypatch):
    """Captchas whose answer the test knows (the real answer is kept only as an HMAC)."""
    from app.complaints import captcha
    monkeypatch.setattr(captcha, "random_answer", lambda: "K7QX")
    return "K7QX"


class Public:
    """An anonymous browser on the public page (keeps its cookie: the session holds kept photos)."""

    def __init__(self, app, addr: str = "10.1.0.1"):
        self.client = app.test_client()
        self.addr = addr
        self.csrf = None

    def _env(self):
        return {"REMOTE_ADDR": self.addr}

    def get(self, url):
        with self.client.application.app_context():
            resp = self.client.get(url, environ_base=self._env())
        if resp.mimetype == "text/html" and 'name="csrf-token"' in resp.get_data(as_text=True):
            self.csrf = csrf_from(resp.get_data(as_text=True))
        return resp

    def post(self, url, data, **kw):
        data = dict(data)
        data.setdefault("csrf_token", self.csrf)
        with self.client.application.app_context():
            resp = self.client.post(url, data=data, environ_base=self._env(), **kw)
        if resp.mimetype == "text/html" and 'name="csrf-token"' in resp.get_data(as_text=True):
            self.csrf = csrf_from(resp.get_data(as_text=True))
        return resp


def sms_code(phone: str = PHONE) -> str:
    db.session.expire_all()
    msg = db.session.scalar(select(SmsMessage).where(SmsMessage.template_code == "COMPLAINT_VERIFY_CODE",
                                                     SmsMessage.phone_bidx == phone_index(phone))
                            .order_by(SmsMessage.id.desc()))
    return re.search(r"验证码(\d{6})", msg.content).group(1)


def messages(template: str, phone: str = PHONE) -> list[SmsMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(SmsMessage).where(SmsMessage.template_code == template,
                                                            SmsMessage.phone_bidx == phone_index(phone))))


def form(device_code="", **overrides) -> dict:
    data = {"device_code": device_code, "description": "小区3栋电梯运行中多次突然下坠，门未关好就启动。",
            "complainant_name": "韦先生", "complainant_phone": PHONE}
    data.update(overrides)
    return data


def submit(page: Public, device_code: str, **overrides):
    """Ask for a code, then submit with it; returns the complaint."""
    page.get(f"/public/complaints/new?device={device_code}")
    resp = page.post("/public/complaints/new", {**form(device_code, **overrides), "action": "send_code"})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:2000]
    resp = page.post("/public/complaints/new", {**form(device_code, **overrides), "action": "submit",
                                                "sms_code": sms_code(overrides.get("complainant_phone", PHONE))})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]
    db.session.expire_all()
    return db.session.scalar(select(Complaint).order_by(Complaint.id.desc()))


def open_task(case_id: int) -> Task:
    db.session.expire_all()
    return db.session.scalar(select(Task).where(Task.case_id == case_id, Task.status == "open"))


def complete(case_id: int, username: str, data: dict):
    from app.engine import runtime
    result = runtime.complete_task(open_task(case_id).id, user(username), data)
    db.session.commit()
    return result


def check_form(device, **overrides) -> dict:
    data = {"checked_on": today_local().isoformat(), "finding": "现场核查：层门门锁安全回路被短接，电梯仍在运行。",
            "check_conclusion": "major_hazard", "equipment_code": device.code, "criterion_id": "GB45067-4.6b",
            "rectify_deadline": (today_local() + timedelta(days=10)).isoformat(),
            "reply": "经现场核查情况属实，已责令使用单位立即停用并限期整改。"}
    data.update(overrides)
    return data


# ------------------------------------------------------------------ the whole journey

def test_public_complaint_to_hazard_case_and_result_sms(app, web):
    device = equipment_of("unit_xn")
    page = Public(app)
    html = page.get(f"/public/complaints/new?device={device.code}").get_data(as_text=True)
    assert "已识别设备" in html and "兴宁区市场监督管理局" in html

    # a photo and a code request; then a wrong code: nothing is filed, the photo is kept
    resp = page.post("/public/complaints/new", {**form(device.code), "action": "send_code",
                                                "photos": (io.BytesIO(JPEG), "现场.jpg")},
                     content_type="multipart/form-data")
    assert resp.status_code == 200 and "验证码已发送到 139****0001" in resp.get_data(as_text=True)
    assert "已上传 1 张" in resp.get_data(as_text=True)
    code = sms_code()
    wrong = "000000" if code != "000000" else "111111"
    resp = page.post("/public/complaints/new", {**form(device.code), "action": "submit", "sms_code": wrong})
    assert resp.status_code == 422 and "短信验证码不正确" in resp.get_data(as_text=True)
    assert "已上传 1 张" in resp.get_data(as_text=True)
    assert db.session.scalar(select(Complaint.id)) is None

    resp = page.post("/public/complaints/new", {**form(device.code), "action": "submit", "sms_code": code})
    assert resp.status_code == 302 and resp.location.endswith("/public/complaints/done")
    done = page.get("/public/complaints/done").get_data(as_text=True)
    db.session.expire_all()
    complaint = db.session.scalar(select(Complaint))
    assert complaint.complaint_no in done and complaint.complaint_no.startswith("TS")
    assert complaint.channel == "web" and complaint.region_code == device.region_code == "450102"
    assert complaint.phone == PHONE and complaint.phone_masked == "139****0001"
    case = db.session.get(Case, complaint.case_id)
    assert case.started_by.username == "public_complaints" and not case.started_by.is_active
    # the phone and the name are in no workflow data and no timeline entry
    texts = [case.state] + [e.data or "" for e in db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id))]
    assert not any(PHONE in t or "韦先生" in t for t in texts)
    photos = [a for a in case_attachments(case.id)]
    assert len(photos) == 1 and photos[0].filename == "现场.jpg"
    # routed to 兴宁区's inbox; the code is used up
    task = open_task(case.id)
    assert (task.task_def, task.candidate_role, task.candidate_region) == ("review", "county_supervisor", "450102")
    assert len(messages("COMPLAINT_RECEIVED")) == 1
    resp = page.post("/public/complaints/new", {**form(device.code), "action": "submit", "sms_code": code})
    assert resp.status_code == 422 and "短信验证码已失效" in resp.get_data(as_text=True)

    # accept → on-site check confirming a major hazard → the hazard loop starts, linked both ways
    complete(case.id, "xn_supervisor", {"review_decision": "accept", "opinion": "属实可能性大，安排核查"})
    db.session.expire_all()
    assert db.session.get(Complaint, complaint.id).status == "checking"
    assert len(messages("COMPLAINT_ACCEPTED")) == 1
    assert open_task(case.id).task_def == "check"
    complete(case.id, "xn_supervisor", check_form(device))
    db.session.expire_all()
    complaint = db.session.get(Complaint, complaint.id)
    case = db.session.get(Case, case.id)
    assert complaint.status == "closed" and complaint.check_conclusion == "major_hazard"
    assert case.status == "closed" and case.outcome == "已办结（转重大事故隐患）"
    hazard_case = complaint.hazard_case
    assert hazard_case.process_key == "major_hazard" and hazard_case.status == "running"
    assert hazard_case.equipment_id == device.id and hazard_case.started_by.username == "xn_supervisor"
    assert open_task(hazard_case.id).task_def == "dispatch"
    hazard_events = [e.summary for e in db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == hazard_case.id))]
    assert any(complaint.complaint_no in s for s in hazard_events)
    from app.hazards.models import Hazard
    hazard = db.session.scalar(select(Hazard).where(Hazard.case_id == hazard_case.id))
    assert complaint.complaint_no in hazard.description
    # the complainant gets the result by SMS (the SMS centre), with the reply text
    [result] = messages("COMPLAINT_RESULT")
    assert "已责令使用单位立即停用并限期整改" in result.content and result.audience == "public"
    from app.engine import runtime
    assert runtime.verify_case_chain(case.id) is None and runtime.verify_case_chain(hazard_case.id) is None

    # the case page shows the complaint and the link; the hazard case links back in its timeline
    xn = web("xn_supervisor")
    html = xn.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "投诉举报" in html and hazard_case.case_no in html and "139****0001" in html
    assert complaint.complaint_no in xn.get(f"/cases/{hazard_case.id}").get_data(as_text=True)

    # public lookup by number + phone: progress and result, masked, no officials' names
    lookup = Public(app, "10.1.0.2")
    lookup.get("/public/complaints/lookup")
    resp = lookup.post("/public/complaints/lookup", {"complaint_no": complaint.complaint_no.lower(), "phone": PHONE})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "已办结" in html and "已责令使用单位立即停用并限期整改" in html
    assert "139****0001" in html and PHONE not in html and "韦先生" not in html and "兴宁" in html
    assert "xn_supervisor" not in html and user("xn_supervisor").display_name not in html
    resp = lookup.post("/public/complaints/lookup", {"complaint_no": complaint.complaint_no, "phone": "13907710002"})
    assert resp.status_code == 422 and "编号与手机号码不匹配" in resp.get_data(as_text=True)


def case_attachments(case_id):
    from app.core.models import Attachment
    return db.session.scalars(select(Attachment).where(Attachment.case_id == case_id))


def test_rejection_with_reason_is_told_by_sms_and_lookup(app):
    page = Public(app, "10.1.0.3")
    complaint = submit(page, "", county_code="450103", address="青秀区某小区5栋电梯")
    assert complaint.region_code == "450103" and complaint.equipment_id is None
    task = open_task(complaint.case_id)
    assert task.candidate_region == "450103"
    from app.engine import runtime
    from app.errors import ValidationFailed
    with pytest.raises(ValidationFailed) as err:
        runtime.complete_task(task.id, user("qx_supervisor"), {"review_decision": "reject"})
    assert "reject_reason" in err.value.fields
    db.session.rollback()
    complete(complaint.case_id, "qx_supervisor", {"review_decision": "reject",
                                                  "reject_reason": "所反映的是普通货梯改造施工，不属于在用特种设备"})
    db.session.expire_all()
    complaint = db.session.get(Complaint, complaint.id)
    assert complaint.status == "rejected" and complaint.case.outcome == "不予受理"
    [msg] = messages("COMPLAINT_REJECTED")
    assert "不属于在用特种设备" in msg.content and "青秀区市场监督管理局" in msg.content
    lookup = Public(app, "10.1.0.4")
    lookup.get("/public/complaints/lookup")
    html = lookup.post("/public/complaints/lookup", {"complaint_no": complaint.complaint_no,
                                                     "phone": PHONE}).get_data(as_text=True)
    assert "不予受理" in html and "不属于在用特种设备" in html


def test_no_hazard_conclusion_closes_with_reply(app):
    device = equipment_of("unit_xn")
    complaint = submit(Public(app, "10.1.0.5"), device.code)
    complete(complaint.case_id, "xn_supervisor", {"review_decision": "accept"})
    complete(complaint.case_id, "xn_supervisor", check_form(device, check_conclusion="general",
                                                           reply="门机故障已由维保单位当场修复，已责令加强维保。"))
    db.session.expire_all()
    complaint = db.session.get(Complaint, complaint.id)
    assert complaint.status == "closed" and complaint.hazard_case_id is None
    assert complaint.case.outcome == "已办结"
    assert "当场修复" in messages("COMPLAINT_RESULT")[0].content


def test_bad_input_gets_field_errors_and_keeps_everything(app):
    page = Public(app, "10.1.0.6")
    page.get("/public/complaints/new")
    resp = page.post("/public/complaints/new", {**form("NO-SUCH-DEVICE", description="太短"), "action": "send_code",
                                                "complainant_phone": "12345"})
    assert resp.status_code == 422 and "请输入11位手机号码" in resp.get_data(as_text=True)
    resp = page.post("/public/complaints/new", {**form("NO-SUCH-DEVICE", description="太短"), "action": "submit",
                                                "photos": (io.BytesIO(b"GIF89a...."), "a.gif")},
                     content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    for text in ("未找到该设备代码", "至少", "类型不允许", "请输入短信验证码"):
        assert text in html, text
    assert "小区3栋电梯" not in html or "太短" in html   # the entered text stays
    resp = page.post("/public/complaints/new", {**form("", address=""), "action": "submit"})
    html = resp.get_data(as_text=True)
    assert "请选择设备所在的区县" in html and "没有设备代码时，请填写设备所在的详细地址" in html
    assert db.session.scalar(select(Complaint.id)) is None


# ------------------------------------------------------------------ limits and captcha

def test_code_rate_limits_per_phone_and_per_address(app):
    page = Public(app, "10.2.0.1")
    page.get("/public/complaints/new")
    assert page.post("/public/complaints/new", {**form(), "action": "send_code"}).status_code == 200
    resp = page.post("/public/complaints/new", {**form(), "action": "send_code"})
    assert resp.status_code == 429 and "秒后再重新获取" in resp.get_data(as_text=True)
    assert len(messages("COMPLAINT_VERIFY_CODE")) == 1
    # per phone per hour: earlier sends (moved out of the interval) count
    for row in db.session.scalars(select(ComplaintAttempt)):
        row.at = row.at - timedelta(minutes=5)
    for n in range(4):
        db.session.add(ComplaintAttempt(kind="code_sent", phone_bidx=phone_index(PHONE), ip_key="x" * 32,
                                        at=utcnow() - timedelta(minutes=10 + n)))
    db.session.commit()
    resp = page.post("/public/complaints/new", {**form(), "action": "send_code"})
    assert resp.status_code == 429 and "该手机号获取验证码次数过多" in resp.get_data(as_text=True)
    # per address: another phone from the same address once the address's limit is reached
    app.config["COMPLAINT_CODES_PER_IP_HOUR"] = 1
    try:
        resp = page.post("/public/complaints/new", {**form(complainant_phone="13907710009"), "action": "send_code"})
        assert resp.status_code == 429 and "本网络获取验证码次数过多" in resp.get_data(as_text=True)
        other = Public(app, "10.2.0.2")
        other.get("/public/complaints/new")
        assert other.post("/public/complaints/new", {**form(complainant_phone="13907710009"),
                                                     "action": "send_code"}).status_code == 200
    finally:
        app.config.pop("COMPLAINT_CODES_PER_IP_HOUR")


def test_captcha_after_failed_codes_and_a_code_dies_after_five_tries(app, fixed_captcha):
    device = equipment_of("unit_xn")
    page = Public(app, "10.3.0.1")
    page.get("/public/complaints/new")
    assert page.post("/public/complaints/new", {**form(device.code), "action": "send_code"}).status_code == 200
    code = sms_code()
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(3):
        resp = page.post("/public/complaints/new", {**form(device.code), "action": "submit", "sms_code": wrong})
        assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert 'data-testid="captcha"' in html          # the page now asks for the captcha
    token = re.search(r'name="captcha_token" value="([0-9a-f]+)"', html).group(1)
    image = page.get(f"/public/complaints/captcha/{token}.png")
    assert image.status_code == 200 and image.data.startswith(b"\x89PNG")
    # the right code without the captcha is refused; a wrong captcha too (and it is used up)
    resp = page.post("/public/complaints/new", {**form(device.code), "action": "submit", "sms_code": code,
                                                "captcha_token": token})
    assert resp.status_code == 422 and "请输入图片中的字符" in resp.get_data(as_text=True)
    token = re.search(r'name="captcha_token" value="([0-9a-f]+)"', resp.get_data(as_text=True)).group(1)
    resp = page.post("/public/complaints/new", {**form(device.code), "action": "submit", "sms_code": code,
                                                "captcha_token": token, "captcha": "AAAA"})
    assert resp.status_code == 422 and "图片验证码不正确" in resp.get_data(as_text=True)
    resp = page.post("/public/complaints/new", {**form(device.code), "action": "submit", "sms_code": code,
                                                "captcha_token": token, "captcha": fixed_captcha})
    assert resp.status_code == 422 and "图片验证码已失效" in resp.get_data(as_text=True)
    # a fresh captcha solved (any case) with the right code files the complaint
    token = re.search(r'name="captcha_token" value="([0-9a-f]+)"', resp.get_data(as_text=True)).group(1)
    resp = page.post("/public/complaints/new", {**form(device.code), "action": "submit", "sms_code": code,
                                                "captcha_token": token, "captcha": fixed_captcha.lower()})
    assert resp.status_code == 302
    # the limits live in the database: a second worker (another client, same address) sees them
    assert Public(app, "10.3.0.1").get("/public/complaints/new").get_data(as_text=True).count('data-testid="captcha"') == 1


def test_a_code_is_void_after_five_wrong_entries(app, fixed_captcha):
    app.config["COMPLAINT_CAPTCHA_AFTER_FAILURES"] = 100
    try:
        page = Public(app, "10.3.0.2")
        page.get("/public/complaints/new")
        page.post("/public/complaints/new", {**form(), "action": "send_code"})
        code = sms_code()
        wrong = "000000" if code != "000000" else "111111"
        for _ in range(5):
            page.post("/public/complaints/new", {**form(county_code="450102", address="某地"), "action": "submit",
                                                 "sms_code": wrong})
        resp = page.post("/public/complaints/new", {**form(county_code="450102", address="某地"), "action": "submit",
                                                    "sms_code": code})
        assert resp.status_code == 422 and "错误次数过多" in resp.get_data(as_text=True)
    finally:
        app.config.pop("COMPLAINT_CAPTCHA_AFTER_FAILURES")


# ------------------------------------------------------------------ regulators: scope, list, export

def test_scope_list_filters_and_export(app, web):
    device = equipment_of("unit_xn")
    mine = submit(Public(app, "10.4.0.1"), device.code)
    other = submit(Public(app, "10.4.0.2"), "", county_code="450103", address="青秀区某大厦扶梯",
                   complainant_phone="13907710002")
    xn, qx, city = web("xn_supervisor"), web("qx_supervisor"), web("nn_city")
    again = submit(Public(app, "10.4.0.3"), device.code, complainant_phone="13907710003")
    html = xn.get(f"/cases/{again.case_id}").get_data(as_text=True)
    assert "同一设备的其他投诉举报" in html and mine.complaint_no in html
    html = xn.get("/complaints").get_data(as_text=True)
    assert mine.complaint_no in html and other.complaint_no not in html
    assert re.search(r"<b>2</b><span>待受理</span>", html)          # counts by status, in scope
    html = qx.get("/complaints").get_data(as_text=True)
    assert other.complaint_no in html and mine.complaint_no not in html
    assert qx.get(f"/cases/{mine.case_id}").status_code == 404       # another county cannot open it
    html = city.get("/complaints").get_data(as_text=True)
    assert mine.complaint_no in html and other.complaint_no in html
    html = city.get("/complaints?region=450103").get_data(as_text=True)
    assert other.complaint_no in html and mine.complaint_no not in html
    html = city.get("/complaints?q=扶梯").get_data(as_text=True)
    assert other.complaint_no in html and mine.complaint_no not in html
    html = city.get("/complaints?status=rejected").get_data(as_text=True)
    assert "暂无记录" in html
    today = today_local().isoformat()
    assert mine.complaint_no in city.get(f"/complaints?date_from={today}&date_to={today}").get_data(as_text=True)
    assert "暂无记录" in city.get("/complaints?date_to=2020-01-01").get_data(as_text=True)
    # the device's profile lists its complaints for regulators only
    device_page = f"/registry/devices/{device.id}"
    assert mine.complaint_no in xn.get(device_page).get_data(as_text=True)
    assert mine.complaint_no not in web("unit_xn").get(device_page).get_data(as_text=True)
    # the use unit is never told who complained; enterprises have no complaint list
    assert web("unit_xn").get("/complaints").status_code == 403
    assert web("unit_xn").get(f"/cases/{mine.case_id}").status_code == 404
    resp = city.get("/complaints/export.xlsx?region=450103")
    assert resp.status_code == 200
    from openpyxl import load_workbook
    rows = list(load_workbook(io.BytesIO(resp.data)).active.iter_rows(values_only=True))
    assert rows[0][0] == "投诉举报编号" and [r[0] for r in rows[1:]] == [other.complaint_no]
    assert PHONE not in str(rows)


# ------------------------------------------------------------------ API

def _public_api(app, addr="10.5.0.1"):
    client = app.test_client()

    def call(method, url, **kw):
        with app.app_context():
            return getattr(client, method)(url, environ_base={"REMOTE_ADDR": addr}, **kw)
    return call


def test_public_api_submission_and_lookup(app, fixed_captcha):
    device = equipment_of("unit_xn")
    call = _public_api(app)
    body = check(app, call("post", "/api/v1/public/complaints/sms-code", json={"phone": PHONE}), 202)
    assert body["phone_masked"] == "139****0001"
    check(app, call("post", "/api/v1/public/complaints/sms-code", json={"phone": PHONE}), 429)
    check(app, call("post", "/api/v1/public/complaints/sms-code", json={"phone": "123"}), 422)
    resp = call("post", "/api/v1/public/complaints", data={**form(device.code), "sms_code": "12"},
                content_type="multipart/form-data")
    assert check(app, resp, 422)["error"]["fields"]["sms_code"]
    resp = call("post", "/api/v1/public/complaints",
                data={**form(device.code), "sms_code": sms_code(), "photos": (io.BytesIO(PNG), "p.png")},
                content_type="multipart/form-data")
    body = check(app, resp, 201)
    assert body["status"] == "pending" and body["phone_masked"] == "139****0001"
    complaint = db.session.scalar(select(Complaint).where(Complaint.complaint_no == body["complaint_no"]))
    assert len(list(case_attachments(complaint.case_id))) == 1
    body = check(app, call("post", "/api/v1/public/complaints/lookup",
                           json={"complaint_no": complaint.complaint_no, "phone": PHONE}), 200)
    assert body["steps"][0]["step"] == "提交" and body["status_label"] == "待受理"
    for _ in range(3):
        check(app, call("post", "/api/v1/public/complaints/lookup",
                        json={"complaint_no": complaint.complaint_no, "phone": "13907719999"}), 422)
    assert check(app, call("get", "/api/v1/public/complaints/captcha-status"), 200)["captcha_required"] is True
    body = check(app, call("post", "/api/v1/public/complaints/lookup",
                           json={"complaint_no": complaint.complaint_no, "phone": PHONE}), 422)
    assert body["error"]["code"] == "captcha_required"
    captcha = check(app, call("get", "/api/v1/public/complaints/captcha"), 200)
    assert captcha["image"].startswith("data:image/png;base64,")
    check(app, call("post", "/api/v1/public/complaints/lookup",
                    json={"complaint_no": complaint.complaint_no, "phone": PHONE,
                          "captcha_token": captcha["captcha_token"], "captcha": fixed_captcha}), 200)


def test_staff_registration_and_tasks_through_the_api(app, api):
    device = equipment_of("unit_xn")
    xn = api("xn_supervisor")
    body = check(app, xn.get("/api/v1/processes/public_complaint"), 200)
    start_form = body["start_form"]
    assert start_form["properties"]["county_code"]["x-lookup"] == "/api/v1/complaints/regions?q="
    counties = check(app, xn.get("/api/v1/complaints/regions?q=兴宁"), 200)["items"]
    assert counties == [{"value": "450102", "label": "南宁市兴宁区"}]
    resp = xn.post("/api/v1/cases", json={"process_key": "public_complaint", "data": {
        "device_code": device.code, "description": "12345热线转来：电梯按钮失灵且轿厢异响。", "complainant_phone": "13907710077"}})
    case = check(app, resp, 201)
    complaint = db.session.scalar(select(Complaint).where(Complaint.case_id == case["id"]))
    assert complaint.channel == "staff" and complaint.phone == "13907710077"
    assert "13907710077" not in str(case)
    task = case["open_tasks"][0]
    form_ = check(app, xn.get(f"/api/v1/tasks/{task['id']}"), 200)["form"]
    assert form_["properties"]["review_decision"]["ui:enumNames"]
    check(app, xn.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"review_decision": "accept"}}), 200)
    task = open_task(case["id"])
    form_ = check(app, xn.get(f"/api/v1/tasks/{task.id}"), 200)["form"]
    assert form_["properties"]["criterion_id"]["x-lookup"] == "/api/v1/complaints/criteria?q="
    criteria = check(app, xn.get("/api/v1/complaints/criteria?q=4.6"), 200)["items"]
    assert any(c["value"] == "GB45067-4.6b" for c in criteria)
    # a hazard conclusion without the hazard fields: per-field errors, nothing changes
    resp = xn.post(f"/api/v1/tasks/{task.id}/complete",
                   json={"data": check_form(device, equipment_code="", criterion_id="")})
    assert set(check(app, resp, 422)["error"]["fields"]) >= {"equipment_code", "criterion_id"}
    body = check(app, xn.post(f"/api/v1/tasks/{task.id}/complete", json={"data": check_form(device)}), 200)
    assert body["status"] == "closed"
    listed = check(app, xn.get("/api/v1/complaints?status=closed"), 200)
    assert [i["complaint_no"] for i in listed["items"]] == [complaint.complaint_no]
    assert listed["items"][0]["hazard_case_id"]
    assert check(app, api("qx_supervisor").get("/api/v1/complaints"), 200)["total"] == 0
    check(app, api("unit_xn").get("/api/v1/complaints"), 403)


def test_demo_seed_files_a_public_and_a_hotline_complaint():
    from app.demo import seed
    seed(iterations=1000, with_cases=True)
    db.session.commit()
    complaints = list(db.session.scalars(select(Complaint).order_by(Complaint.id)))
    assert [(c.channel, c.status) for c in complaints] == [("web", "pending"), ("staff", "checking")]
    assert [open_task(c.case_id).task_def for c in complaints] == ["review", "check"]


def test_the_officer_reads_the_full_number_once_audited(app, web):
    from app.security.models import AuditLog
    complaint = submit(Public(app, "10.6.0.1"), equipment_of("unit_xn").code)
    xn = web("xn_supervisor")
    assert "查看完整号码" in xn.get(f"/cases/{complaint.case_id}").get_data(as_text=True)
    resp = xn.post(f"/complaints/{complaint.id}/phone")
    assert resp.status_code == 200 and PHONE in resp.get_data(as_text=True)
    entry = db.session.scalar(select(AuditLog).where(AuditLog.event_type == "complaint.phone_view"))
    assert entry is not None and complaint.complaint_no in entry.summary
    assert web("qx_supervisor").post(f"/complaints/{complaint.id}/phone").status_code == 404


def test_staff_register_a_hotline_complaint_on_the_start_page(web):
    xn = web("xn_supervisor")
    html = xn.get("/processes/public_complaint/start").get_data(as_text=True)
    assert "南宁市兴宁区" in html and "手机号码" in html          # the county choice is a list
    resp = xn.post("/processes/public_complaint/start", data={"description": "太短", "complainant_phone": "1"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "至少" in html and "请输入11位手机号码" in html
    resp = xn.post("/processes/public_complaint/start", data={
        "county_code": "450102", "address": "兴宁区某路5号", "description": "来信反映：商场自动扶梯梳齿板缺齿多处。",
        "complainant_name": "李女士", "complainant_phone": "13907710555"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    complaint = db.session.scalar(select(Complaint).order_by(Complaint.id.desc()))
    assert complaint.channel == "staff" and complaint.complainant_name == "李女士" and complaint.region_code == "450102"
    assert "13907710555" not in db.session.get(Case, complaint.case_id).state


def test_housekeeping_drops_expired_checks(app):
    from app.complaints.models import ComplaintCaptcha, ComplaintCode
    from app.scheduler.jobs import housekeeping
    page = Public(app, "10.7.0.1")
    page.get("/public/complaints/new")
    page.post("/public/complaints/new", {**form(), "action": "send_code"})
    db.session.add(ComplaintAttempt(kind="code_failed", phone_bidx=None, ip_key="y" * 32,
                                    at=utcnow() - timedelta(days=3)))
    db.session.commit()
    assert db.session.query(ComplaintAttempt).count() == 2
    housekeeping()
    assert db.session.query(ComplaintAttempt).count() == 1 and db.session.query(ComplaintCode).count() == 1
    with time_machine.travel(utcnow() + timedelta(days=2)):
        housekeeping()
        assert db.session.query(ComplaintCode).count() == 0 and db.session.query(ComplaintCaptcha).count() == 0


def test_a_device_found_by_its_registration_number_is_recorded_by_its_code(app):
    device = equipment_of("unit_xn", 1)
    complaint = submit(Public(app, "10.8.0.1"), device.registration_no)
    assert complaint.equipment_id == device.id and complaint.device_code == device.code


def test_the_complainant_is_told_when_the_hazard_is_closed(app):
    from app.engine import runtime
    device = equipment_of("unit_xn")
    complaint = submit(Public(app, "10.9.0.1"), device.code)
    complete(complaint.case_id, "xn_supervisor", {"review_decision": "accept"})
    complete(complaint.case_id, "xn_supervisor", check_form(device))
    db.session.expire_all()
    hazard_case_id = db.session.get(Complaint, complaint.id).hazard_case_id
    complete(hazard_case_id, "xn_supervisor", {
        "dispatch_decision": "dispatch", "requirements": "立即停用并整改门锁回路。",
        "rectify_deadline": (today_local() + timedelta(days=10)).isoformat(), "opinion": "情况属实"})
    from .conftest import upload
    complete(hazard_case_id, "unit_xn", {"feedback_type": "feedback", "measures": "更换门锁并恢复安全回路。",
                                         "completed_on": today_local().isoformat(), "evidence": [upload("unit_xn")]})
    assert messages("COMPLAINT_HAZARD_CLOSED") == []
    lookup = Public(app, "10.9.0.2")
    lookup.get("/public/complaints/lookup")
    html = lookup.post("/public/complaints/lookup", {"complaint_no": complaint.complaint_no, "phone": PHONE}).get_data(as_text=True)
    assert "○ 隐患整改销号" in html
    complete(hazard_case_id, "xn_supervisor", {"verify_result": "pass", "opinion": "现场复核整改到位"})
    [msg] = messages("COMPLAINT_HAZARD_CLOSED")
    assert complaint.complaint_no in msg.content and "销号" in msg.content
    html = lookup.post("/public/complaints/lookup", {"complaint_no": complaint.complaint_no, "phone": PHONE}).get_data(as_text=True)
    assert "● 隐患整改销号" in html
    assert runtime.verify_case_chain(hazard_case_id) is None


def test_public_api_odd_input_gets_json_errors_never_a_500(app):
    call = _public_api(app, "10.10.0.1")
    for body in ({"phone": 13907710001, "captcha_token": 5, "captcha": 1234}, {"phone": None}, {"phone": ["x"]}):
        resp = call("post", "/api/v1/public/complaints/sms-code", json=body)
        assert resp.status_code in (202, 422, 429) and resp.get_json()["error" if resp.status_code != 202 else "sent"]
    resp = call("post", "/api/v1/public/complaints/sms-code", data="[1,2]", content_type="application/json")
    assert check(app, resp, 400)["error"]["code"] == "bad_json"
    resp = call("post", "/api/v1/public/complaints/lookup", json={"complaint_no": 123, "phone": 139})
    assert check(app, resp, 422)["error"]["fields"]
    resp = call("post", "/api/v1/public/complaints", json={"description": ["x"], "complainant_phone": 1, "sms_code": 5,
                                                          "captcha": 7, "captcha_token": 8})
    assert check(app, resp, 422)["error"]["fields"]
    resp = call("get", "/public/complaints/new?device=" + "9" * 2000)
    assert resp.status_code == 200


def test_a_switched_off_code_template_is_reported_not_pretended(app):
    from app.sms.models import SmsTemplate
    from app.sms.templates import forget_snapshots as invalidate_cache
    template = db.session.get(SmsTemplate, "COMPLAINT_VERIFY_CODE")
    template.enabled = False
    db.session.commit()
    invalidate_cache()
    try:
        call = _public_api(app, "10.11.0.1")
        body = check(app, call("post", "/api/v1/public/complaints/sms-code", json={"phone": PHONE}), 503)
        assert body["error"]["code"] == "sms_unavailable"
        assert db.session.query(ComplaintAttempt).count() == 0
    finally:
        template = db.session.get(SmsTemplate, "COMPLAINT_VERIFY_CODE")
        template.enabled = True
        db.session.commit()
        invalidate_cache()


def test_fixing_other_fields_spends_no_try_of_the_right_code(app):
    from app.complaints.models import ComplaintCode
    page = Public(app, "10.12.0.1")
    page.get("/public/complaints/new")
    page.post("/public/complaints/new", {**form(), "action": "send_code"})
    code = sms_code()
    for _ in range(6):      # more resubmissions than a code has tries
        resp = page.post("/public/complaints/new", {**form(description="太短"), "action": "submit", "sms_code": code})
        assert resp.status_code == 422 and "短信验证码" not in resp.get_data(as_text=True).split("error-summary")[1][:400]
    db.session.expire_all()
    assert db.session.scalar(select(ComplaintCode.tries)) == 0
    resp = page.post("/public/complaints/new", {**form(county_code="450102", address="兴宁区某路1号"),
                                                "action": "submit", "sms_code": code})
    assert resp.status_code == 302


def test_two_submissions_racing_with_one_code_file_one_complaint(app):
    import threading

    from app.complaints import services
    from app.errors import DomainError
    page = Public(app, "10.13.0.1")
    page.get("/public/complaints/new")
    page.post("/public/complaints/new", {**form(), "action": "send_code"})
    raw = {**form(county_code="450102", address="兴宁区某路2号"), "sms_code": sms_code(), "photos": []}
    services.public_account()
    db.session.commit()
    barrier = threading.Barrier(2)
    outcomes = []

    def worker():
        with app.app_context():
            barrier.wait()
            try:
                services.submit_public(dict(raw), "10.13.0.1")
                db.session.commit()
                outcomes.append("won")
            except DomainError as err:
                db.session.rollback()
                outcomes.append(f"refused:{err.fields or err.message}")
            except Exception as err:   # noqa: BLE001 - e.g. a lock error must not happen
                db.session.rollback()
                outcomes.append(f"error:{type(err).__name__}:{err}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(o.split(":")[0] for o in outcomes) == ["refused", "won"], outcomes
    db.session.expire_all()
    assert db.session.query(Complaint).count() == 1
