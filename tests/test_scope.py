"""Data scope: another county's case is invisible by every route — pages, API, downloads, actions."""
from datetime import timedelta

import pytest

from app.core.clock import today_local

from .conftest import complete, hazard_of, make_case, open_task, upload


@pytest.fixture
def xn_case():
    """A 兴宁区 case with a notice, an attachment and an open rectify task."""
    att = upload("xn_supervisor")
    case = make_case(photos=[att])
    complete(case, "xn_supervisor", {"dispatch_decision": "dispatch", "requirements": "立即停用并整改",
                                     "rectify_deadline": (today_local() + timedelta(days=9)).isoformat(),
                                     "opinion": "督办"})
    return case, att, hazard_of(case), open_task(case)


OUTSIDERS = ["qx_supervisor", "lz_supervisor", "unit_qx", "unit_lz", "process_admin"]


@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_pages_refuse_outsiders(web, xn_case, outsider):
    case, att, hazard, task = xn_case
    s = web(outsider)
    for url in (f"/cases/{case.id}", f"/cases/{case.id}/diagram.bpmn", f"/tasks/{task.id}",
                f"/attachments/{att}", f"/hazards/{hazard.id}/notice", f"/hazards/{hazard.id}/notice.docx"):
        assert s.get(url).status_code == 404, url
    for url in (f"/tasks/{task.id}/claim", f"/tasks/{task.id}/unclaim", f"/tasks/{task.id}", f"/cases/{case.id}/log"):
        assert s.post(url, data={"text": "越权日志"}).status_code == 404, url
    inbox = s.get("/inbox").get_data(as_text=True)
    assert case.case_no not in inbox
    assert case.case_no not in s.get("/inbox?box=done").get_data(as_text=True)
    ledger = s.get("/hazards").get_data(as_text=True)
    assert hazard.hazard_no not in ledger
    export = s.get("/hazards/export.xlsx")
    assert export.status_code == 200 and hazard.hazard_no.encode() not in _xlsx_text(export.data)


@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_api_refuses_outsiders(api, xn_case, outsider):
    case, att, hazard, task = xn_case
    c = api(outsider)
    assert c.get(f"/api/v1/cases/{case.id}").status_code == 404
    assert c.get(f"/api/v1/tasks/{task.id}").status_code == 404
    for action in ("claim", "unclaim", "complete"):
        resp = c.post(f"/api/v1/tasks/{task.id}/{action}", json={"data": {"feedback_type": "feedback"}})
        assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"
    for box in ("todo", "done", "started"):
        assert all(i.get("case", i).get("id") != case.id for i in c.get(f"/api/v1/tasks?box={box}").get_json()["items"])


@pytest.mark.parametrize("insider", ["xn_supervisor", "nn_city", "gx_province", "unit_xn"])
def test_insiders_see_the_case(web, xn_case, insider):
    case, att, hazard, task = xn_case
    s = web(insider)
    assert s.get(f"/cases/{case.id}").status_code == 200
    assert s.get(f"/attachments/{att}").status_code == 200
    assert hazard.hazard_no in s.get("/hazards").get_data(as_text=True)


def test_city_supervisor_sees_but_cannot_act_on_county_task(api, xn_case):
    case, att, hazard, task = xn_case
    city = api("nn_city")
    assert city.get(f"/api/v1/tasks/{task.id}").status_code == 200
    assert city.post(f"/api/v1/tasks/{task.id}/claim").status_code == 403
    assert city.post(f"/api/v1/tasks/{task.id}/complete", json={"data": {"feedback_type": "feedback"}}).status_code == 403


def test_region_filter_cannot_widen_scope(web, xn_case):
    case, *_ = xn_case
    s = web("qx_supervisor")
    for region in ("45", "4501", "450102", "", "%"):
        assert case.case_no not in s.get(f"/inbox?box=todo&region={region}").get_data(as_text=True)
        assert case.case_no not in s.get(f"/hazards?region={region}&q=%25").get_data(as_text=True)


def test_uploads_of_others_cannot_be_attached_or_downloaded(api, web):
    att = upload("unit_qx")
    assert web("unit_xn").get(f"/attachments/{att}").status_code == 404
    from .conftest import equipment_of, report_data
    resp = api("unit_xn").post("/api/v1/cases", json={"process_key": "major_hazard",
                                                      "data": report_data(equipment_of("unit_xn"), photos=[att])})
    assert resp.status_code == 422 and resp.get_json()["error"]["fields"] == {"photos": "附件不存在或不属于当前用户"}


def _xlsx_text(data: bytes) -> bytes:
    import io

    from openpyxl import load_workbook
    wb = load_workbook(io.BytesIO(data), read_only=True)
    return "\n".join(str(c) for row in wb.active.iter_rows(values_only=True) for c in row).encode()


def test_built_scope_follows_the_account_not_the_process(api, xn_case):
    """Scope conditions and the statements using them are built once per (id, role, region, unit) and
    reused (core/statements): an account moved to another county loses the case at once, and gets
    it back when moved back — the same process, the same account id."""
    from app.core.scope import case_scope
    from app.extensions import db

    from .conftest import user
    case, _att, _hazard, task = xn_case
    account, elsewhere = user("xn_supervisor"), user("qx_supervisor").region_code
    home = account.region_code
    client = api("xn_supervisor")
    assert client.get(f"/api/v1/tasks/{task.id}").status_code == 200
    assert case_scope(account) is case_scope(account)             # built once for this key
    try:
        account.region_code = elsewhere
        db.session.commit()
        assert client.get(f"/api/v1/tasks/{task.id}").status_code == 404
        assert client.get(f"/api/v1/cases/{case.id}").status_code == 404
        assert client.post(f"/api/v1/tasks/{task.id}/complete", json={"data": {}}).status_code == 404
    finally:
        account = user("xn_supervisor")
        account.region_code = home
        db.session.commit()
    assert client.get(f"/api/v1/tasks/{task.id}").status_code == 200
