"""The JSON API: the same loop, errors as JSON with codes."""
import io
from datetime import timedelta

from app.core.clock import today_local

from .conftest import JPEG, PDF, equipment_of, report_data


def test_session_login_and_errors(client):
    assert client.post("/api/v1/session", json={"username": "xn_supervisor", "password": "bad"}).status_code == 401
    resp = client.post("/api/v1/session", json={"username": "xn_supervisor"})
    assert resp.status_code == 422 and resp.get_json()["error"]["fields"] == {"password": "此项为必填项"}
    resp = client.post("/api/v1/session", data="not json", content_type="application/json")
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "bad_json"
    assert client.get("/api/v1/tasks").status_code == 401
    assert client.get("/api/v1/tasks", headers={"Authorization": "Bearer nope"}).get_json()["error"]["code"] == "unauthorized"
    assert client.get("/api/v1/nothing-here").get_json()["error"]["code"] == "not_found"


def test_full_loop_through_the_api(api):
    sup, unit = api("xn_supervisor"), api("unit_xn")
    procs = sup.get("/api/v1/processes").get_json()["items"]
    starts = {p["key"]: p["can_start"] for p in procs}     # other processes are deployed too
    assert starts["major_hazard"] is True and starts["equipment_transfer"] is False   # only use units apply
    detail = sup.get("/api/v1/processes/major_hazard").get_json()
    assert "equipment_code" in detail["start_form"]["properties"]
    photo = sup.post("/api/v1/attachments", data={"file": (io.BytesIO(JPEG), "现场.jpg")},
                     content_type="multipart/form-data")
    assert photo.status_code == 201 and len(photo.get_json()["sm3"]) == 64
    resp = sup.post("/api/v1/cases", json={"process_key": "major_hazard",
                                            "data": report_data(equipment_of("unit_xn"), photos=[photo.get_json()["id"]])})
    assert resp.status_code == 201, resp.get_json()
    case = resp.get_json()
    assert case["open_tasks"][0]["task_def"] == "dispatch"
    assert case["timeline"][0]["attachments"][0]["filename"] == "现场.jpg"

    assert "counts" not in sup.get("/api/v1/tasks?box=todo").get_json()     # tab counts only when asked
    todo = sup.get("/api/v1/tasks?box=todo&counts=1").get_json()
    assert todo["total"] == 1 and todo["counts"]["todo"] == 1
    task_id = todo["items"][0]["id"]
    task = sup.get(f"/api/v1/tasks/{task_id}").get_json()
    assert task["form"]["properties"]["dispatch_decision"]["enum"] == ["dispatch", "reject"]
    assert sup.post(f"/api/v1/tasks/{task_id}/claim").get_json()["assignee_id"] is not None
    bad = sup.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"dispatch_decision": "dispatch"}})
    assert bad.status_code == 422
    assert set(bad.get_json()["error"]["fields"]) == {"opinion", "requirements", "rectify_deadline"}
    ok = sup.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {
        "dispatch_decision": "dispatch", "requirements": "立即停用并整改", "opinion": "督办",
        "rectify_deadline": (today_local() + timedelta(days=8)).isoformat()}})
    assert ok.status_code == 200 and ok.get_json()["open_tasks"][0]["task_def"] == "rectify"
    again = sup.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {}})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "task_closed"

    unit_todo = unit.get("/api/v1/tasks").get_json()
    assert unit_todo["total"] == 1 and unit_todo["items"][0]["warning_level"] == "orange"
    rid = unit_todo["items"][0]["id"]
    evidence = unit.post("/api/v1/attachments", data={"file": (io.BytesIO(PDF), "整改报告.pdf")},
                         content_type="multipart/form-data").get_json()["id"]
    resp = unit.post(f"/api/v1/tasks/{rid}/complete", json={"data": {
        "feedback_type": "feedback", "measures": "更换门锁部件", "completed_on": today_local().isoformat(),
        "evidence": [evidence]}})
    assert resp.status_code == 200 and resp.get_json()["open_tasks"][0]["task_def"] == "verify_bureau"
    vid = resp.get_json()["open_tasks"][0]["id"]
    resp = sup.post(f"/api/v1/tasks/{vid}/complete", json={"data": {"verify_result": "pass", "opinion": "通过"}})
    body = resp.get_json()
    assert body["status"] == "closed" and body["outcome"] == "已销号"
    assert [t["kind"] for t in body["timeline"]].count("completed") == 3
    assert sup.get("/api/v1/tasks?box=done").get_json()["total"] == 2
    assert sup.get("/api/v1/tasks?box=started").get_json()["items"][0]["status"] == "closed"


def test_taken_task_is_409_for_another_candidate(api):
    a, b = api("xn_supervisor"), api("xn_colleague")
    case = a.post("/api/v1/cases", json={"process_key": "major_hazard",
                                          "data": report_data(equipment_of("unit_xn"))}).get_json()
    tid = case["open_tasks"][0]["id"]
    assert b.get("/api/v1/tasks").get_json()["total"] == 1      # both are candidates
    assert a.post(f"/api/v1/tasks/{tid}/claim").status_code == 200
    assert b.get("/api/v1/tasks").get_json()["total"] == 0      # claimed: gone from the colleague's inbox
    resp = b.post(f"/api/v1/tasks/{tid}/claim")
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "task_taken"
    assert b.post(f"/api/v1/tasks/{tid}/complete", json={"data": {}}).status_code == 409
    assert b.post(f"/api/v1/tasks/{tid}/unclaim").status_code == 403
    assert a.post(f"/api/v1/tasks/{tid}/unclaim").get_json()["assignee_id"] is None


def test_browser_session_api_calls_need_csrf_header(web):
    s = web("xn_supervisor")
    resp = s.client.post("/api/v1/cases", json={"process_key": "major_hazard", "data": {}})
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "csrf_failed"
    resp = s.client.post("/api/v1/cases", json={"process_key": "major_hazard", "data": report_data(equipment_of("unit_xn"))},
                         headers={"X-CSRFToken": s.csrf})
    assert resp.status_code == 201


def test_openapi_document_is_served(client):
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    assert "/api/v1/tasks" in resp.get_json()["paths"]
