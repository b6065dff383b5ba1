"""Scan-style security checks, as a scanner would run them against the pages and the API:

- injection strings (SQL, script, attribute break-out, NUL, template syntax, very long input, path
  traversal) in every search box and query parameter of the list/search pages and the JSON API, and in
  the fields of the main forms: never a 500, never unescaped script in the HTML, never an evaluated
  template expression, the database intact, 4xx answers explained in Chinese;
- uploads whose content does not match their name (executables, HTML, PDF renamed) are refused per field
  and nothing is stored;
- state-changing requests without a CSRF token are refused;
- security headers on pages.
"""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.cases.models import Case, CaseEvent, Task
from app.core.clock import today_local
from app.core.models import Attachment
from app.extensions import db

from .conftest import csrf_from, equipment_of, make_case, open_task, report_data, user

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
TEMPLATE = "{{7*7}}"
PAYLOADS = ["' OR '1'='1", "1; DROP TABLE case_record;--", SCRIPT, IMG, "%00", "\x00", TEMPLATE, "A" * 5000,
            "../../etc/passwd"]
RAW_MARKERS = ("<script>alert(1)</script>", "<img src=x onerror")
CHINESE = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(autouse=True)
def _errors_as_responses(app, monkeypatch):
    """A crash must show as a 500 response (what a scanner sees), not as an exception in the test."""
    monkeypatch.setitem(app.config, "PROPAGATE_TEST_ERRORS", False)


def case_count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(Case.id)))


def _label(payload: str) -> str:
    payload = payload.replace("\x00", "\\x00")
    return payload if len(payload) < 40 else payload[:10] + f"…({len(payload)} chars)"


def settle(failures: list[str]) -> None:
    """Fail on every finding. (A NUL byte used to reach PostgreSQL, which refuses text containing
    0x00, and end in a 500; requests carrying one are now refused with a 400 up front.)"""
    assert not failures, "\n".join(failures)


def expected_status(payload: str) -> int:
    """Invalid field values get per-field errors (422); a NUL byte is refused for the whole
    request (400, "请求中含有不允许的控制字符") before any field is read."""
    return 400 if "\x00" in payload else 422


def count_49(html: str) -> int:
    """Occurrences of 49 outside random tokens (CSRF, nonces) and clock times."""
    html = re.sub(r"[A-Za-z0-9_\-.+/=]{20,}", "", html)
    return re.sub(r"\d{1,2}:\d{2}(:\d{2})?", "", html).count("49")


def problems_of(resp, *, baseline_49: int | None = None, payload: str = "") -> list[str]:
    """What a scanner would report about one response."""
    found = []
    if resp.status_code >= 500:
        return [f"HTTP {resp.status_code}"]
    body = resp.get_data(as_text=True) if resp.mimetype in ("text/html", "application/json") else ""
    if resp.mimetype == "text/html":
        for marker in RAW_MARKERS:
            if marker in body:
                found.append(f"unescaped {marker!r} in the page")
        if payload == TEMPLATE and baseline_49 is not None and count_49(body) > baseline_49:
            found.append("{{7*7}} was evaluated to 49")
    if resp.status_code >= 400:
        if resp.mimetype == "application/json":
            error = (resp.get_json(silent=True) or {}).get("error") or {}
            if not (error.get("code") and error.get("message")):
                found.append(f"{resp.status_code} without a JSON error code+message")
        elif not CHINESE.search(body):
            found.append(f"{resp.status_code} without a Chinese message")
    return found


# ------------------------------------------------------------------ list and search pages

# page → (user, query parameters it reads); None user = anonymous
LIST_PAGES = {
    "/inbox": ("xn_supervisor", ["q", "box", "process", "status", "region", "warning", "sort", "overdue", "page",
                                 "per_page", "due_within", "read"]),
    "/hazards": ("xn_supervisor", ["q", "status", "warning", "source", "clause", "region", "date_from", "date_to",
                                   "page", "per_page"]),
    "/hazards/export.xlsx": ("xn_supervisor", ["q", "status", "region", "date_from"]),
    "/transfers": ("xn_supervisor", ["q", "status", "from_region", "to_region", "org", "code", "date_from",
                                     "date_to", "page", "per_page"]),
    "/transfers/export.xlsx": ("xn_supervisor", ["q", "org", "code", "date_from"]),
    "/sms/records": ("xn_supervisor", ["q", "tab", "template", "status", "region", "date_from", "date_to",
                                       "per_page", "page", "pidx", "pmask", "phone"]),
    "/sms/records/export.xlsx": ("xn_supervisor", ["q", "template", "status", "phone"]),
    "/operators/staff": ("unit_xn", ["q"]),
    "/public/operators": (None, ["cert_no", "employer", "page"]),
    "/me": ("op_lan", ["unit_q"]),
    "/admin/users": ("sys_admin", ["q", "role", "status", "page", "per_page"]),
    "/admin/users/export.xlsx": ("sys_admin", ["q", "role", "status"]),
    "/audit": ("audit_admin", ["q", "actor", "event", "outcome", "ip", "date_from", "date_to", "page",
                               "per_page"]),
    "/audit/export.xlsx": ("audit_admin", ["q", "actor", "ip"]),
    "/admin/jobs": ("sys_admin", ["job", "status", "page", "per_page"]),
    "/admin/calendar/": ("sys_admin", ["year", "edit"]),
    "/admin/calendar/export.xlsx": ("sys_admin", ["year"]),
    "/processes/major_hazard/start": ("xn_supervisor", ["equipment_code", "description", "found_on",
                                                        "criterion_id"]),   # links may prefill the form
    "/login": (None, ["next", "username"]),
    "/copies": ("qx_supervisor", ["q", "state", "page", "per_page"]),
    "/api/v1/inbox/filters": ("xn_supervisor", []),
    "/notifications": ("xn_supervisor", ["page", "per_page"]),
}



@pytest.mark.parametrize("page", sorted(LIST_PAGES))
def test_injection_strings_in_query_parameters(page, web, client):
    make_case()          # something in the lists
    username, params = LIST_PAGES[page]
    session = web(username) if username else None

    def get(query):
        if session:
            return session.get(page, query_string=query)
        with client.application.app_context():
            return client.get(page, query_string=query)

    before = case_count()
    failures = []
    for param in params:
        baseline = get({param: "7x7"})
        baseline_49 = count_49(baseline.get_data(as_text=True)) if baseline.mimetype == "text/html" else None
        for payload in PAYLOADS:
            found = problems_of(get({param: payload}), baseline_49=baseline_49, payload=payload)
            if found:
                failures.append(f"{page}?{param}={_label(payload)}: " + "; ".join(found))
    assert case_count() == before, "the case table changed"
    settle(failures)


def test_injection_strings_in_the_copies_tab_of_the_inbox(web):
    """抄送我的 is the inbox with box=copies (its own query and the read-state filter)."""
    from app.taskops import services as ops
    case = make_case()
    ops.copy_case(case.id, user("xn_supervisor"), [user("qx_supervisor").id], [], "请知悉")
    db.session.commit()
    s = web("qx_supervisor")
    failures = []
    for param in ("q", "read", "process", "status", "region", "warning", "sort", "overdue", "due_within",
                  "page", "per_page"):
        baseline = s.get("/inbox", query_string={"box": "copies", param: "7x7"})
        baseline_49 = count_49(baseline.get_data(as_text=True))
        for payload in PAYLOADS:
            found = problems_of(s.get("/inbox", query_string={"box": "copies", param: payload}),
                                baseline_49=baseline_49, payload=payload)
            if found:
                failures.append(f"/inbox?box=copies&{param}={_label(payload)}: " + "; ".join(found))
    for payload in PAYLOADS:     # the old address redirects with its arguments
        resp = s.get("/copies", query_string={"q": payload, "state": payload})
        if resp.status_code != (400 if "\x00" in payload else 302) or problems_of(resp):   # NUL: refused up front
            failures.append(f"/copies?q={_label(payload)}: HTTP {resp.status_code}")
    settle(failures)


def test_raw_nul_in_the_query_string(web):
    """%00 sent as the scanner sends it: raw in the URL."""
    s = web("xn_supervisor")
    failures = []
    for url in ("/inbox?q=%00", "/hazards?q=a%00b", "/transfers?q=%00", "/sms/records?q=%00",
                "/hazards?region=%00&date_from=%00", "/inbox?region=45%00"):
        found = problems_of(s.get(url))
        if found:
            failures.append(f"{url}: {found}")
    for username in ("\x00", "admin\x00' OR '1'='1"):
        anonymous = s.client.application.test_client()
        with anonymous.application.app_context():
            token = csrf_from(anonymous.get("/login").get_data(as_text=True))
            found = problems_of(anonymous.post("/login", data={"username": username, "password": "x",
                                                                "csrf_token": token}))
        if found:
            failures.append(f"POST /login username={_label(username)}: {found}")
    settle(failures)


# ------------------------------------------------------------------ JSON API

API_GETS = {
    "/api/v1/tasks": ["q", "box", "process", "status", "region", "warning", "sort", "page", "per_page"],
    "/api/v1/equipment": ["q"],
    "/api/v1/transfers": ["q", "status", "from_region", "to_region", "org", "code", "date_from", "page"],
}


def _api_problems(resp) -> list[str]:
    if resp.status_code >= 500:
        return [f"HTTP {resp.status_code}"]
    if resp.mimetype != "application/json":
        return [f"{resp.status_code} {resp.mimetype} instead of JSON"]
    if resp.status_code >= 400:
        error = (resp.get_json(silent=True) or {}).get("error") or {}
        if not (error.get("code") and error.get("message")):
            return [f"{resp.status_code} without error code+message"]
    return []


def test_api_query_parameters_and_path_segments(api):
    make_case()
    c = api("xn_supervisor")
    before = case_count()
    failures = []
    for url, params in API_GETS.items():
        for param in params:
            for payload in PAYLOADS:
                found = _api_problems(c.get(url, query_string={param: payload}))
                if found:
                    failures.append(f"GET {url}?{param}={_label(payload)}: {found}")
    for payload in PAYLOADS:
        if "\x00" in payload or "/" in payload:
            continue
        found = _api_problems(c.get("/api/v1/processes/" + payload.replace("%", "%25").replace("#", "%23")
                                    .replace("?", "%3F")))
        if found:
            failures.append(f"GET /api/v1/processes/{_label(payload)}: {found}")
    assert case_count() == before
    settle(failures)


def test_api_json_bodies(api):
    case = make_case()
    task = open_task(case)
    c = api("xn_supervisor")
    before = case_count()
    failures = []

    def check(url, body):
        found = _api_problems(c.post(url, json=body))
        if found:
            failures.append(f"POST {url} {str(body)[:120]}: {found}")

    eq = equipment_of("unit_xn")
    for payload in PAYLOADS:
        check("/api/v1/session", {"username": payload, "password": payload, "otp": payload})
        check("/api/v1/cases", {"process_key": payload, "data": {}})
        check("/api/v1/cases", {"process_key": "major_hazard", "data": report_data(eq, equipment_code=payload)})
        check("/api/v1/cases", {"process_key": "major_hazard", "data": report_data(eq, found_on=payload,
                                                                                   criterion_id=payload)})
        check("/api/v1/cases", {"process_key": "major_hazard", "data": payload})
        check(f"/api/v1/tasks/{task.id}/complete", {"data": {"dispatch_decision": payload, "opinion": payload}})
        check(f"/api/v1/tasks/{task.id}/complete", {"data": {"dispatch_decision": "dispatch", "opinion": "属实",
                                                             "requirements": "整改要求" * 2,
                                                             "rectify_deadline": payload}})
        check("/api/v1/transfers/batch", {"action": payload, "ids": [payload], "opinion": payload})
        check("/api/v1/transfers/batch", {"action": "approve", "ids": payload, "opinion": payload})
    # bodies that are not objects at all
    for raw in (b"' OR '1'='1", b"[1,2]", b"null", b"\x00\xff", b"{" * 5000):
        resp = c.post("/api/v1/cases", data=raw, content_type="application/json")
        found = _api_problems(resp)
        if found:
            failures.append(f"POST /api/v1/cases raw {raw[:20]!r}: {found}")
    assert case_count() == before          # every body above is invalid: nothing was started
    db.session.expire_all()
    assert open_task(case).id == task.id
    settle(failures)


def test_api_accepts_script_text_as_data_and_returns_it_as_json_text(api, web):
    """A valid report whose description carries markup: stored as text, escaped on the case page."""
    c = api("xn_supervisor")
    description = f"{SCRIPT}{IMG} 层门门锁回路被短接 {TEMPLATE}"
    resp = c.post("/api/v1/cases", json={"process_key": "major_hazard",
                                         "data": report_data(equipment_of("unit_xn"), description=description)})
    assert resp.status_code == 201, resp.get_json()
    case_id = resp.get_json()["id"]
    html = web("xn_supervisor").get(f"/cases/{case_id}").get_data(as_text=True)
    assert "层门门锁回路被短接" in html
    for marker in RAW_MARKERS:
        assert marker not in html
    assert "{{7*7}}" in html or "{{ 7*7 }}" in html or "&#123;&#123;7*7&#125;&#125;" in html


# ------------------------------------------------------------------ forms

def test_hazard_report_form(web):
    s = web("xn_supervisor")
    eq = equipment_of("unit_xn")
    before = case_count()
    failures = []
    for payload in PAYLOADS:
        for field in ("equipment_code", "criterion_id", "found_on", "rectify_deadline"):
            resp = s.post("/processes/major_hazard/start", data=report_data(eq, **{field: payload}) | {"photos": ""})
            found = problems_of(resp, payload=payload)
            if resp.status_code != expected_status(payload):
                found.append(f"status {resp.status_code} instead of {expected_status(payload)}")
            elif resp.status_code == 422 and 'class="field-error"' not in resp.get_data(as_text=True):
                found.append("no per-field error")
            elif resp.status_code == 400 and "控制字符" not in resp.get_data(as_text=True):
                found.append("no message naming the refused control character")
            if found:
                failures.append(f"{field}={_label(payload)}: {found}")
    assert case_count() == before
    # a description with markup is valid text: stored, and escaped wherever shown
    for payload in (SCRIPT, IMG, TEMPLATE, "' OR '1'='1 1; DROP TABLE case_record;--"):
        resp = s.post("/processes/major_hazard/start",
                      data=report_data(eq, description=f"现场发现问题：{payload}") | {"photos": ""})
        assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
        for url in (resp.location, "/inbox?box=started", "/hazards", f"/hazards?q={payload}"):
            found = problems_of(s.get(url), payload=payload)
            if found:
                failures.append(f"{url} after a report with {_label(payload)}: {found}")
    assert case_count() == before + 4
    resp = s.post("/processes/major_hazard/start", data=report_data(eq, description="A" * 5000) | {"photos": ""})
    assert resp.status_code == 422 and "field-error" in resp.get_data(as_text=True)
    settle(failures)


def test_task_form(web):
    case = make_case()
    task = open_task(case)
    s = web("xn_supervisor")
    failures = []
    for payload in PAYLOADS:
        for data in ({"dispatch_decision": payload, "opinion": "属实"},
                     {"dispatch_decision": "dispatch", "opinion": "属实", "requirements": "立即停用并整改。",
                      "rectify_deadline": payload}):
            resp = s.post(f"/tasks/{task.id}", data=data)
            found = problems_of(resp, payload=payload)
            if resp.status_code != expected_status(payload):
                found.append(f"status {resp.status_code} instead of {expected_status(payload)}")
            if found:
                failures.append(f"{data} → {found}")
        db.session.expire_all()
        assert open_task(case).id == task.id
    resp = s.post(f"/tasks/{task.id}", data={"dispatch_decision": "dispatch", "opinion": f"属实 {SCRIPT} {TEMPLATE}",
                                             "requirements": f"整改 {IMG} {TEMPLATE}",
                                             "rectify_deadline": (today_local() + timedelta(days=9)).isoformat()})
    assert resp.status_code == 302
    for url in (f"/cases/{case.id}", f"/api/v1/cases/{case.id}"):
        resp = s.get(url)
        found = problems_of(resp, payload=TEMPLATE)
        if TEMPLATE not in resp.get_data(as_text=True):
            found.append("the opinion text {{7*7}} is not shown as typed")
        if found:
            failures.append(f"{url}: {found}")
    settle(failures)


def test_sms_template_edit_form(web):
    from app.sms.models import SmsTemplate
    s = web("sys_admin")
    template = db.session.scalar(select(SmsTemplate).order_by(SmsTemplate.code))
    saved = (template.name, template.text, template.enabled, template.reviewed, template.provider_template_code)
    failures = []
    for payload in PAYLOADS:
        for field in ("name", "text", "provider_template_code"):
            data = {"name": template.name, "text": template.text, "action": "preview",
                    "provider_template_code": template.provider_template_code or ""} | {field: payload}
            resp = s.post(f"/sms/templates/{template.code}", data=data)
            found = problems_of(resp, payload=payload)
            if found:
                failures.append(f"{field}={_label(payload)}: {found}")
    db.session.expire_all()
    template = db.session.get(SmsTemplate, template.code)
    assert (template.name, template.text, template.enabled, template.reviewed,
            template.provider_template_code) == saved       # preview writes nothing
    settle(failures)


def test_account_creation_form(web):
    s = web("sys_admin")
    failures = []
    from app.core.models import User
    users_before = db.session.scalar(select(func.count(User.id)))
    for payload in PAYLOADS:
        for field in ("username", "region_code", "org_uscc", "phone", "role"):
            data = {"username": "scan_probe", "display_name": "扫描测试", "role": "county_supervisor",
                    "region_code": "450102", "org_uscc": "", "phone": ""} | {field: payload}
            resp = s.post("/admin/users/new", data=data)
            found = problems_of(resp, payload=payload)
            if resp.status_code < 400:
                found.append(f"status {resp.status_code}: accepted")
            if found:
                failures.append(f"{field}={_label(payload)}: {found}")
    assert db.session.scalar(select(func.count(User.id))) == users_before
    # markup in the display name is accepted as text and escaped in the list
    resp = s.post("/admin/users/new", data={"username": "scan_probe", "display_name": f"扫描{SCRIPT}{IMG}",
                                            "role": "county_supervisor", "region_code": "450102"})
    assert resp.status_code in (200, 302), resp.get_data(as_text=True)[:500]
    found = problems_of(s.get("/admin/users", query_string={"q": "scan_probe"}))
    assert user("scan_probe") is not None and not found, found
    settle(failures)


def test_password_change_form(web):
    from app.core.gm import hash_password
    from app.core.models import User
    db.session.add(User(username="scan_pw", display_name="改密测试", role="county_supervisor", region_code="450102",
                        password_hash=hash_password("Demo@2026", 1000)))
    db.session.commit()
    s = web("scan_pw")
    failures = []
    for payload in PAYLOADS:
        for data in ({"old_password": payload, "new_password": "Better#Pass2026", "new_password2": "Better#Pass2026"},
                     {"old_password": "wrong", "new_password": payload, "new_password2": payload}):
            resp = s.post("/password", data=data)
            found = problems_of(resp, payload=payload)
            if resp.status_code < 400:
                found.append(f"status {resp.status_code}: accepted")
            if found:
                failures.append(f"{data} → {found}")
    settle(failures)


# ------------------------------------------------------------------ uploads

BAD_FILES = [
    (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 200, "photo.jpg"),
    (b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200, "photo.jpg"),
    (b"<html><body><script>alert(1)</script></body></html>", "picture.png"),
    (b"<!DOCTYPE html><svg onload=alert(1)>", "scan.pdf"),
    (b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "photo.jpg"),
]


def attachment_count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(Attachment.id)))


@pytest.mark.parametrize("content,name", BAD_FILES, ids=["elf", "pe", "html-png", "html-pdf", "pdf-jpg"])
def test_disguised_uploads_are_refused(content, name, web, api):
    before, cases = attachment_count(), case_count()
    c = api("xn_supervisor")
    resp = c.post("/api/v1/attachments", data={"file": (io.BytesIO(content), name)},
                  content_type="multipart/form-data")
    assert resp.status_code == 422, resp.get_json()
    message = resp.get_json()["error"]["fields"]["file"]
    assert CHINESE.search(message), message
    s = web("xn_supervisor")
    resp = s.post("/processes/major_hazard/start",
                  data=report_data(equipment_of("unit_xn")) | {"photos__upload": (io.BytesIO(content), name)},
                  content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'class="field-error"' in html
    assert re.search(r'class="field-error"[^>]*>[^<]*[\u4e00-\u9fff]', html), "no Chinese field error"
    for marker in RAW_MARKERS:
        assert marker not in html
    assert attachment_count() == before and case_count() == cases


# ------------------------------------------------------------------ CSRF

def _post_without_token(session, url, data=None):
    return session._call(session.client.post, url, data=data or {})


def test_page_posts_without_csrf_token_are_refused(web):
    case = make_case()
    task = open_task(case)
    s = web("xn_supervisor")
    events = db.session.scalar(select(func.count(CaseEvent.id)))
    resp = _post_without_token(s, f"/tasks/{task.id}", {"dispatch_decision": "reject", "opinion": "不予认定"})
    assert resp.status_code == 400 and CHINESE.search(resp.get_data(as_text=True))
    resp = _post_without_token(s, f"/tasks/{task.id}/claim")
    assert resp.status_code == 400
    resp = _post_without_token(s, f"/cases/{case.id}/log", {"text": "没有令牌的日志"})
    assert resp.status_code == 400
    resp = _post_without_token(s, "/logout")
    assert resp.status_code == 400
    assert s.get("/inbox").status_code == 200, "a logout without token ended the session"
    db.session.expire_all()
    t = db.session.get(Task, task.id)
    assert t.status == "open" and t.assignee_id is None
    assert db.session.scalar(select(func.count(CaseEvent.id))) == events

    admin = web("sys_admin")
    from app.sms.models import SmsTemplate
    template = db.session.scalar(select(SmsTemplate).order_by(SmsTemplate.code))
    saved = template.text
    resp = _post_without_token(admin, f"/sms/templates/{template.code}",
                               {"name": template.name, "text": "没有令牌的修改", "action": "save"})
    assert resp.status_code == 400
    resp = _post_without_token(admin, "/admin/users/new", {"username": "csrf_probe", "display_name": "无令牌",
                                                           "role": "county_supervisor", "region_code": "450102"})
    assert resp.status_code == 400
    resp = _post_without_token(admin, f"/admin/users/{user('unit_qx').id}/active", {"active": "0"})
    assert resp.status_code == 400
    db.session.expire_all()
    assert db.session.get(SmsTemplate, template.code).text == saved
    assert user("csrf_probe") is None and user("unit_qx").is_active_flag
    # a wrong token is as bad as none
    resp = admin._call(admin.client.post, "/admin/users/new",
                       data={"csrf_token": "forged", "username": "csrf_probe", "display_name": "伪造",
                             "role": "county_supervisor", "region_code": "450102"})
    assert resp.status_code == 400 and user("csrf_probe") is None


def test_api_post_with_a_browser_session_needs_the_csrf_header(web):
    case = make_case()
    task = open_task(case)
    s = web("xn_supervisor")
    for url, body in ((f"/api/v1/tasks/{task.id}/claim", {}),
                      ("/api/v1/cases", {"process_key": "major_hazard", "data": report_data(equipment_of("unit_xn"))}),
                      ("/api/v1/transfers/batch", {"action": "approve", "ids": [1], "opinion": "同意"})):
        resp = s._call(s.client.post, url, json=body)
        assert resp.status_code == 400, (url, resp.status_code)
        assert resp.get_json()["error"]["code"] == "csrf_failed"
        assert CHINESE.search(resp.get_json()["error"]["message"])
    db.session.expire_all()
    assert db.session.get(Task, task.id).assignee_id is None
    # with the header the same session call works
    resp = s._call(s.client.post, f"/api/v1/tasks/{task.id}/claim", json={}, headers={"X-CSRFToken": s.csrf})
    assert resp.status_code == 200


# ------------------------------------------------------------------ headers

def test_security_headers(web, client):
    s = web("xn_supervisor")
    for url in ("/inbox", "/hazards", f"/cases/{make_case().id}"):
        resp = s.get(url)
        csp = resp.headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, (url, csp)
        assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0], csp
        assert resp.headers.get("X-Content-Type-Options") == "nosniff"
        assert resp.headers.get("X-Frame-Options") == "DENY"
        assert "no-store" in resp.headers.get("Cache-Control", ""), (url, resp.headers.get("Cache-Control"))
    with client.application.app_context():
        resp = client.get("/login")
    assert "script-src 'self'" in resp.headers.get("Content-Security-Policy", "")
    assert resp.headers.get("X-Frame-Options") == "DENY"
    # a JSON API answer is not sniffed into HTML either
    with client.application.app_context():
        resp = client.get("/api/v1/me")
    assert resp.headers.get("X-Content-Type-Options") == "nosniff"
