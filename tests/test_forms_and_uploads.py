"""Bad input gets a clear per-field Chinese error and writes nothing."""
import io
from datetime import timedelta

from sqlalchemy import func, select

from app.cases.models import Case, CaseEvent, Task
from app.core.clock import today_local
from app.core.models import Attachment
from app.extensions import db
from app.hazards.models import Hazard

from .conftest import JPEG, equipment_of, make_case, open_task, report_data


def counts():
    db.session.expire_all()
    return [db.session.scalar(select(func.count()).select_from(m)) for m in (Case, Task, CaseEvent, Hazard, Attachment)]


def test_start_form_errors_per_field_and_nothing_written(web):
    s = web("xn_supervisor")
    before = counts()
    resp = s.post("/processes/major_hazard/start", data={
        "equipment_code": "NO-SUCH", "criterion_id": "", "description": "太短", "found_on": "2026-13-45",
        "rectify_deadline": (today_local() - timedelta(days=1)).isoformat(),
        "photos__upload": (io.BytesIO(JPEG), "ok.jpg")}, content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    for message in ("此项为必填项", "至少填写 10 个字", "日期格式应为 YYYY-MM-DD", "日期不能早于"):
        assert message in html, message
    assert "提交未成功" in html
    assert counts() == before            # not even the uploaded photo survived


def test_unknown_equipment_is_a_field_error_after_schema_passes(web):
    s = web("xn_supervisor")
    before = counts()
    resp = s.post("/processes/major_hazard/start", data=report_data(equipment_of("unit_qx"), photos=None) | {"photos": ""})
    assert resp.status_code == 422 and "设备不存在或不在您的管辖范围内" in resp.get_data(as_text=True)
    assert counts() == before


def test_task_form_conditional_required_fields(web):
    case = make_case()
    task = open_task(case)
    s = web("xn_supervisor")
    resp = s.post(f"/tasks/{task.id}", data={"dispatch_decision": "dispatch", "opinion": "督办"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and html.count('class="field-error"') == 2   # requirements + deadline
    db.session.expire_all()
    assert open_task(case).id == task.id


def test_executable_renamed_jpg_is_refused(api):
    c = api("xn_supervisor")
    resp = c.post("/api/v1/attachments", data={"file": (io.BytesIO(b"MZ\x90\x00" + b"\x00" * 100), "photo.jpg")},
                  content_type="multipart/form-data")
    assert resp.status_code == 422 and "类型不允许" in resp.get_json()["error"]["fields"]["file"]
    resp = c.post("/api/v1/attachments", data={"file": (io.BytesIO(JPEG), "photo.pdf")},
                  content_type="multipart/form-data")
    assert resp.status_code == 422 and "扩展名与内容不符" in resp.get_json()["error"]["fields"]["file"]
    assert db.session.scalar(select(func.count(Attachment.id))) == 0


def test_oversized_upload_is_refused(api, app):
    c = api("xn_supervisor")
    big = JPEG + b"\x00" * app.config["MAX_UPLOAD_BYTES"]
    resp = c.post("/api/v1/attachments", data={"file": (io.BytesIO(big), "big.jpg")}, content_type="multipart/form-data")
    assert resp.status_code == 422 and "超过" in resp.get_json()["error"]["fields"]["file"]


def test_missing_csrf_is_refused(web):
    s = web("xn_supervisor")
    resp = s.client.post("/processes/major_hazard/start", data=report_data(equipment_of("unit_xn")))
    assert resp.status_code == 400 and "刷新" in resp.get_data(as_text=True)


def test_login_failure_is_clear(client):
    from .conftest import csrf_from
    token = csrf_from(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", data={"username": "xn_supervisor", "password": "wrong", "csrf_token": token})
    assert resp.status_code == 401 and "用户名或密码错误" in resp.get_data(as_text=True)


def test_injection_strings_in_search_boxes_are_harmless(web):
    make_case()
    s = web("xn_supervisor")
    for payload in ("' OR 1=1 --", "<script>alert(1)</script>", "%", "_"):
        for url in ("/inbox", "/hazards"):
            resp = s.get(url, query_string={"q": payload})
            assert resp.status_code == 200
            assert "<script>alert(1)</script>" not in resp.get_data(as_text=True)
