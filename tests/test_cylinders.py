"""Cylinder pages and services: the archive (duplicate trace code refused, per-field errors, edit and
delete rules), the desk (counts only with a filling licence), fillings (a locked scale refuses; a cylinder
that may not be filled must be refused), makers' batches, Excel import with row errors, regulators' units,
accounts and scales, and scope (a filler sees only its cylinders, a county only its fillers)."""
from __future__ import annotations

import io

from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from app.core.models import User
from app.cylinders import services
from app.cylinders.models import Cylinder, CylinderBatch, CylinderFilling, CylinderUnit, FillingScale
from app.extensions import db

from .conftest import csrf_from, user
from .cylinder_helpers import new_cylinder, org_of

VALID = {"trace_code": "GXQP-W-1001", "factory_no": "W1001", "kind": "civil_lpg", "medium": "液化石油气",
         "volume_l": "35.5", "nominal_pressure_mpa": "2.1", "manufacture_date": "2025-06-01",
         "design_life_years": "8", "next_inspection_date": "2029-06-01"}


def post(session, url, data):
    token = csrf_from(session.get(url if "/new" in url or "/edit" in url else "/cylinders").get_data(as_text=True))
    resp = session.post(url, data={**data, "csrf_token": token})
    db.session.expire_all()
    return resp


def test_a_filler_adds_a_cylinder_and_a_duplicate_trace_code_is_refused(web):
    s = web("cyl_filler")
    resp = post(s, "/cylinders/new", VALID)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    c = db.session.scalar(select(Cylinder).where(Cylinder.trace_code == VALID["trace_code"]))
    assert c.owner_org_id == org_of("cyl_filler").id and c.reg_state == "unregistered"
    again = post(s, "/cylinders/new", {**VALID, "factory_no": "OTHER"})
    assert again.status_code == 422 and "该溯源码已被使用" in again.get_data(as_text=True)
    # another filler cannot take the code either (unique for life across the province)
    other = post(web("cyl_filler_b"), "/cylinders/new", VALID)
    assert other.status_code == 422
    assert db.session.scalar(select(func.count()).where(Cylinder.trace_code == VALID["trace_code"])) == 1


def test_bad_input_gets_chinese_errors_per_field_and_nothing_is_written(web):
    s = web("cyl_filler")
    before = db.session.scalar(select(func.count(Cylinder.id)))
    resp = post(s, "/cylinders/new", {**VALID, "trace_code": "短", "volume_l": "很大", "kind": "nope",
                                       "manufacture_date": "2099-01-01", "design_life_years": "0"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    for text in ("溯源码为 6–32 位", "请填写数字", "请选择有效的选项", "日期不能晚于今天", "应在 1 到 50 之间"):
        assert text in html, text
    assert 'value="很大"' in html                                         # what was typed is kept
    assert db.session.scalar(select(func.count(Cylinder.id))) == before


def test_edit_and_delete_rules(web):
    cid = new_cylinder("cyl_filler", "GXQP-E-2001").id
    s = web("cyl_filler")
    resp = post(s, f"/cylinders/{cid}/edit", {**VALID, "trace_code": "GXQP-E-2001", "factory_no": "E2001X"})
    assert resp.status_code == 302
    assert db.session.scalar(select(Cylinder.factory_no).where(Cylinder.id == cid)) == "E2001X"
    assert web("cyl_filler_b").get(f"/cylinders/{cid}").status_code == 404
    resp = post(s, f"/cylinders/{cid}/delete", {})
    db.session.expunge_all()
    assert resp.status_code == 302 and db.session.get(Cylinder, cid) is None
    demo = db.session.scalar(select(Cylinder).where(Cylinder.trace_code == "GXQP-DEMO-0001"))
    resp = post(s, f"/cylinders/{demo.id}/delete", {})           # registered: refused, kept
    assert resp.status_code == 302 and db.session.get(Cylinder, demo.id) is not None
    resp = post(s, f"/cylinders/{demo.id}/edit", {**VALID, "trace_code": demo.trace_code, "factory_no": "CHANGED"})
    assert resp.status_code == 422 and "已登记" in resp.get_data(as_text=True)


def test_the_desk_shows_counts_only_with_a_filling_licence(web):
    with_licence = web("cyl_filler").get("/cylinders/desk").get_data(as_text=True)
    assert 'data-testid="desk-counts"' in with_licence and 'data-testid="todo-unregistered"' in with_licence
    info = services.desk(user("cyl_filler"))
    assert info["counts"]["total"] == db.session.scalar(
        select(func.count()).where(Cylinder.owner_org_id == org_of("cyl_filler").id))
    assert info["todos"]["unregistered"] == 5                 # the demo batch's unregistered cylinders
    without = web("cyl_filler_b").get("/cylinders/desk").get_data(as_text=True)
    assert 'data-testid="desk-no-licence"' in without and 'data-testid="desk-counts"' not in without
    assert web("xn_supervisor").get("/cylinders/desk").status_code == 403


def test_filling_entry_refuses_locked_scales_and_unfillable_cylinders(web, api):
    locked = db.session.scalar(select(FillingScale).where(FillingScale.code == "CZC-DEMO-02"))
    ok_scale = db.session.scalar(select(FillingScale).where(FillingScale.code == "CZC-DEMO-01"))
    a = api("cyl_filler")
    body = {"trace_code": "GXQP-DEMO-0001", "filled_at": "2026-06-15T09:00", "operator_name": "覃充装",
            "pre_check": "pass", "post_check": "pass", "weight_kg": 14.9, "scale_id": locked.id}
    resp = a.post("/api/v1/cylinders/fillings", json=body)
    assert resp.status_code == 422 and "已被监管部门锁定" in resp.get_json()["error"]["fields"]["scale_id"]
    resp = a.post("/api/v1/cylinders/fillings", json={**body, "scale_id": ok_scale.id})
    assert resp.status_code == 201, resp.get_json()
    row = resp.get_json()
    assert row["result"] == "filled" and row["source"] == "api"
    unregistered = "GXQP-DEMO-0006"
    resp = a.post("/api/v1/cylinders/fillings", json={**body, "trace_code": unregistered, "scale_id": ok_scale.id})
    assert resp.status_code == 422 and "未办理使用登记" in resp.get_json()["error"]["fields"]["pre_check"]
    resp = a.post("/api/v1/cylinders/fillings", json={**body, "trace_code": unregistered, "pre_check": "fail",
                                                      "scale_id": ok_scale.id})
    assert resp.status_code == 201 and resp.get_json()["result"] == "refused"
    other = api("cyl_filler_b").post("/api/v1/cylinders/fillings", json={**body, "scale_id": None})
    assert other.status_code == 422 and "本单位气瓶档案中没有" in other.get_json()["error"]["fields"]["trace_code"]
    month = a.get("/api/v1/cylinders/fillings?month=2026-06&q=GXQP-DEMO-0001").get_json()
    assert [i["id"] for i in month["items"]] == [row["id"]]
    page = web("cyl_filler").get(f"/cylinders/fillings/{row['id']}").get_data(as_text=True)
    assert "GXQP-DEMO-0001" in page and "CZC-DEMO-01" in page
    assert web("cyl_filler_b").get(f"/cylinders/fillings/{row['id']}").status_code == 404
    db.session.execute(CylinderFilling.__table__.delete().where(CylinderFilling.id.in_(
        [row["id"], resp.get_json()["id"]])))
    db.session.commit()


def test_scope_a_filler_sees_only_its_cylinders_and_a_county_only_its_fillers(api, web):
    mine = api("cyl_filler").get("/api/v1/cylinders?per_page=100").get_json()
    assert mine["total"] >= 10 and {i["owner_org_id"] for i in mine["items"]} == {org_of("cyl_filler").id}
    assert api("cyl_filler_b").get("/api/v1/cylinders").get_json()["total"] == 0
    assert api("xn_supervisor").get("/api/v1/cylinders").get_json()["total"] == mine["total"]
    assert api("nn_city").get("/api/v1/cylinders").get_json()["total"] == mine["total"]
    assert api("qx_supervisor").get("/api/v1/cylinders").get_json()["total"] == 0
    assert api("qx_supervisor").get("/api/v1/cylinders/fillings").get_json()["total"] == 0
    assert api("xn_supervisor").get("/api/v1/cylinders/fillings").get_json()["total"] >= 10
    assert api("unit_xn").get("/api/v1/cylinders").get_json()["total"] == 0
    maker = api("cyl_maker").get("/api/v1/cylinders?per_page=100").get_json()
    assert {i["maker_org_id"] for i in maker["items"]} == {org_of("cyl_maker").id}
    assert api("cyl_maker").get("/api/v1/cylinders/trace/GXQP-DEMO-0001").status_code == 200
    assert api("qx_supervisor").get("/api/v1/cylinders/trace/GXQP-DEMO-0001").status_code == 404
    for page in ("/cylinders", "/cylinders/fillings", "/cylinders/applications", "/cylinders/batches"):
        assert "GXQP-DEMO-0001" not in web("qx_supervisor").get(page).get_data(as_text=True)
    verify = web("xn_supervisor").get("/cylinders?q=GXQP-DEMO-0001").get_data(as_text=True)
    assert 'data-testid="verify-result"' in verify and "已办理使用登记" in verify and "瓶桂A-DEMO-0001" in verify
    unregistered = web("xn_supervisor").get("/cylinders?q=GXQP-DEMO-0006").get_data(as_text=True)
    assert "未取得使用登记" in unregistered and "不可充装：未办理使用登记" in unregistered


def test_a_maker_records_a_batch_with_cylinders_and_a_certificate(web):
    s = web("cyl_maker")
    token = csrf_from(s.get("/cylinders/batches/new").get_data(as_text=True))
    bad = s.post("/cylinders/batches/new", data={"csrf_token": token, "batch_no": "PH2026-DEMO-01", "kind": "x",
                                                 "client_uscc": "91450102MA5K000008"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "本单位已有该生产批号" in html and "不是已纳入管理的气瓶充装单位" in html
    resp = s.post("/cylinders/batches/new", data={
        "csrf_token": token, "batch_no": "PH-WEB-01", "product_name": "YSP15 钢瓶", "kind": "civil_lpg",
        "medium": "液化石油气", "volume_l": "35.5", "nominal_pressure_mpa": "2.1", "manufacture_date": "2026-11-01",
        "design_life_years": "8", "client_uscc": org_of("cyl_filler").uscc})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    batch = db.session.scalar(select(CylinderBatch).where(CylinderBatch.batch_no == "PH-WEB-01"))
    resp = s.post(f"/cylinders/batches/{batch.id}/cylinders", data={"csrf_token": token, "trace_code": "GXQP-WEB-0001",
                                                                    "factory_no": "WEB0001"})
    assert resp.status_code == 302
    c = db.session.scalar(select(Cylinder).where(Cylinder.trace_code == "GXQP-WEB-0001"))
    assert (c.batch_id, c.owner_org_id, c.maker_org_id) == (batch.id, org_of("cyl_filler").id, org_of("cyl_maker").id)
    dup = s.post(f"/cylinders/batches/{batch.id}/cylinders", data={"csrf_token": token, "trace_code": "GXQP-DEMO-0001",
                                                                   "factory_no": "X"})
    assert dup.status_code == 422 and "该溯源码已被使用" in dup.get_data(as_text=True)
    from .conftest import PDF
    pdf = (io.BytesIO(PDF), "合格证.pdf")
    resp = s.post(f"/cylinders/batches/{batch.id}/certificates", data={"csrf_token": token, "file": pdf},
                  content_type="multipart/form-data")
    assert resp.status_code == 302
    db.session.expire_all()
    [att] = services.batch_certificates(db.session.get(CylinderBatch, batch.id))
    assert s.get(f"/cylinders/batches/{batch.id}/certificates/{att.id}").status_code == 200
    assert web("cyl_filler_b").get(f"/cylinders/batches/{batch.id}/certificates/{att.id}").status_code == 404
    assert web("cyl_filler").get(f"/cylinders/batches/{batch.id}").status_code == 200      # the client reads it
    assert web("qx_supervisor").get(f"/cylinders/batches/{batch.id}").status_code == 404


def _xlsx(rows) -> bytes:
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_excel_import_of_the_archive_reports_row_errors(app):
    from app.core.importer import get_kind, run_job, template_bytes
    from app.core.models import ImportJob
    kind = get_kind("cylinders")
    headers = [cell.value for cell in load_workbook(io.BytesIO(template_bytes(kind))).active[1]]
    assert headers[0].startswith("溯源码")
    rows = [headers,
            ["GXQP-IMP-0001", "IMP1", "民用液化石油气瓶", "液化石油气", 35.5, 2.1, "2025-01-01", 8, None, None, None, None],
            ["GXQP-IMP-0002", "IMP2", "民用液化石油气瓶", "液化石油气", "大", 2.1, "2025-01-01", 8, None, None, None, None],
            ["GXQP-DEMO-0001", "IMP3", "工业气瓶", "氧气", 40, 15, "2025-01-01", 8, None, None, None, None],
            ["GXQP-IMP-0004", "IMP4", "不存在的品种", "液化石油气", 35.5, 2.1, "2099-01-01", 8, None, None, None, None]]
    from werkzeug.datastructures import FileStorage

    from app.core.importer import start_import
    job = start_import("cylinders", user("cyl_filler"), FileStorage(io.BytesIO(_xlsx(rows)), filename="气瓶.xlsx"))
    db.session.commit()
    job = run_job(job.id)
    db.session.expire_all()
    job = db.session.get(ImportJob, job.id)
    assert (job.created, job.failed) == (1, 3), (job.created, job.failed)
    assert db.session.scalar(select(Cylinder.owner_org_id).where(Cylinder.trace_code == "GXQP-IMP-0001")) == \
        org_of("cyl_filler").id
    assert db.session.scalar(select(func.count()).where(Cylinder.trace_code.in_(["GXQP-IMP-0002", "GXQP-IMP-0004"]))) == 0
    again = start_import("cylinders", user("cyl_filler"), FileStorage(io.BytesIO(_xlsx(rows[:2])), filename="b.xlsx"))
    db.session.commit()
    again = run_job(again.id)
    assert (again.created, again.unchanged) == (0, 1)          # a re-import changes nothing


def test_regulators_tag_units_open_accounts_and_lock_scales(web):
    s = web("xn_supervisor")
    token = csrf_from(s.get("/cylinders/units").get_data(as_text=True))
    unit_xn = org_of("unit_xn")
    resp = s.post("/cylinders/units", data={"csrf_token": token, "uscc": unit_xn.uscc, "tag": "vehicle"})
    assert resp.status_code == 302
    row = db.session.scalar(select(CylinderUnit).where(CylinderUnit.org_id == unit_xn.id))
    assert row.tag == "vehicle"
    far = s.post("/cylinders/units", data={"csrf_token": token, "uscc": org_of("unit_lz").uscc, "tag": "civil"})
    assert far.status_code == 422 and "本辖区单位" in far.get_data(as_text=True)
    resp = s.post(f"/cylinders/units/{row.id}/account", data={"csrf_token": token, "username": "gas_station_1",
                                                              "display_name": "加气站管理员"})
    assert resp.status_code == 302
    account = db.session.scalar(select(User).where(User.username == "gas_station_1"))
    assert (account.role, account.org_id, account.must_change_password) == ("filling_unit", unit_xn.id, True)
    assert web("qx_supervisor").post(f"/cylinders/units/{row.id}/account", data={
        "csrf_token": token, "username": "gas_station_2", "display_name": "x"}).status_code in (400, 403, 404)
    page = s.get("/cylinders/units?tag=civil").get_data(as_text=True)
    assert "南宁市演示燃气充装站" in page and "TS4245001-DEMO" in page
    scale = db.session.scalar(select(FillingScale).where(FillingScale.code == "CZC-DEMO-01"))
    no_reason = s.post(f"/cylinders/scales/{scale.id}/lock", data={"csrf_token": token, "lock": "1", "reason": ""})
    assert no_reason.status_code == 302 and not db.session.get(FillingScale, scale.id).locked
    s.post(f"/cylinders/scales/{scale.id}/lock", data={"csrf_token": token, "lock": "1", "reason": "检定过期"})
    db.session.expire_all()
    assert db.session.get(FillingScale, scale.id).locked
    try:
        assert web("qx_supervisor").post(f"/cylinders/scales/{scale.id}/lock",
                                         data={"csrf_token": token, "lock": "0"}).status_code in (400, 403, 404)
        assert db.session.get(FillingScale, scale.id).locked
    finally:
        s.post(f"/cylinders/scales/{scale.id}/lock", data={"csrf_token": token, "lock": "0"})
        db.session.expire_all()
        assert not db.session.get(FillingScale, scale.id).locked


def test_every_page_renders_for_its_users(web):
    pages = {"cyl_filler": ["/cylinders/desk", "/cylinders", "/cylinders/new", "/cylinders/fillings",
                            "/cylinders/fillings/new", "/cylinders/applications", "/cylinders/scales",
                            "/cylinders/export.xlsx", "/cylinders/fillings/export.xlsx"],
             "cyl_maker": ["/cylinders/batches", "/cylinders/batches/new", "/cylinders/applications", "/cylinders"],
             "xn_supervisor": ["/cylinders/units", "/cylinders/units?tag=maker", "/cylinders/scales", "/cylinders",
                               "/cylinders/fillings?month=2026-12", "/cylinders/batches", "/cylinders/applications"]}
    from app.engine import runtime

    from .conftest import open_task
    case = runtime.start_case("cylinder_registration", user("cyl_filler"), {"business": "register"})
    db.session.commit()
    task = open_task(case)
    from app.cylinders.registration import application_for_case
    app_id = application_for_case(case.id).id
    pages["cyl_filler"] += [f"/cases/{case.id}", f"/tasks/{task.id}", f"/cylinders/applications/{app_id}",
                            f"/cylinders/applications/{app_id}/form.xlsx",
                            f"/documents/cylinder_registration_form/{app_id}",
                            f"/documents/cylinder_registration_form/{app_id}.docx",
                            f"/documents/cylinder_registration_form/{app_id}.pdf"]
    pages["xn_supervisor"].append(f"/cases/{case.id}")
    for username, urls in pages.items():
        s = web(username)
        for url in urls:
            resp = s.get(url)
            assert resp.status_code == 200, (username, url, resp.status_code)
    assert web("cyl_filler_b").get(f"/documents/cylinder_registration_form/{app_id}.docx").status_code == 404


def test_api_responses_match_the_document(app, api, client):
    from app.engine import runtime

    from .test_openapi import check
    f, m, r = api("cyl_filler"), api("cyl_maker"), api("xn_supervisor")
    demo = db.session.scalar(select(Cylinder).where(Cylinder.trace_code == "GXQP-DEMO-0001"))
    check(app, f.get("/api/v1/cylinders?q=GXQP-DEMO-0001"), 200)
    check(app, r.get(f"/api/v1/cylinders/{demo.id}"), 200)
    check(app, f.get("/api/v1/cylinders/trace/GXQP-DEMO-0001"), 200)
    check(app, api("qx_supervisor").get("/api/v1/cylinders/trace/GXQP-DEMO-0001"), 404)
    body = {**VALID, "trace_code": "GXQP-API-0001", "volume_l": 35.5, "nominal_pressure_mpa": 2.1,
            "design_life_years": 8}
    created = check(app, f.post("/api/v1/cylinders", json=body), 201)
    check(app, f.post("/api/v1/cylinders", json=body), 422)
    check(app, m.post("/api/v1/cylinders", json=body), 403)
    check(app, m.get("/api/v1/cylinders/fillers?q=演示"), 200)
    batches = check(app, m.get("/api/v1/cylinders/batches"), 200)
    check(app, m.get(f"/api/v1/cylinders/batches/{batches['items'][0]['id']}"), 200)
    batch = check(app, m.post("/api/v1/cylinders/batches", json={
        "batch_no": "PH-API-01", "product_name": "YSP15", "kind": "civil_lpg", "medium": "液化石油气", "volume_l": 35.5,
        "nominal_pressure_mpa": 2.1, "manufacture_date": "2026-10-01", "design_life_years": 8,
        "client_uscc": org_of("cyl_filler").uscc}), 201)
    check(app, m.post("/api/v1/cylinders/batches", json={"batch_no": "PH-API-01"}), 422)
    check(app, m.post(f"/api/v1/cylinders/batches/{batch['id']}/cylinders",
                      json={**body, "trace_code": "GXQP-API-0002"}), 201)
    case = runtime.start_case("cylinder_registration", user("cyl_filler"), {"business": "register"})
    db.session.commit()
    apps = check(app, f.get("/api/v1/cylinders/applications"), 200)
    app_id = next(a["id"] for a in apps["items"] if a["case_id"] == case.id)
    added = check(app, f.post(f"/api/v1/cylinders/applications/{app_id}/items",
                              json={"trace_codes": [created["trace_code"]]}), 200)
    assert added["added"] == 1 and added["cylinders"][0]["trace_code"] == created["trace_code"]
    check(app, f.post(f"/api/v1/cylinders/applications/{app_id}/items", json={"trace_codes": ["GXQP-DEMO-0001"]}), 422)
    check(app, f.post(f"/api/v1/cylinders/applications/{app_id}/items", json={"trace_codes": "x"}), 422)
    check(app, f.get(f"/api/v1/cylinders/applications/{app_id}"), 200)
    removed = check(app, f.post(f"/api/v1/cylinders/applications/{app_id}/items/remove",
                                json={"item_ids": [added["cylinders"][0]["item_id"]]}), 200)
    assert removed["removed"] == 1
    check(app, m.post(f"/api/v1/cylinders/applications/{app_id}/items/remove", json={"item_ids": []}), 404)
    fillings = check(app, f.get("/api/v1/cylinders/fillings"), 200)
    check(app, f.get(f"/api/v1/cylinders/fillings/{fillings['items'][0]['id']}"), 200)
    check(app, f.post("/api/v1/cylinders/fillings", json={"trace_code": "GXQP-DEMO-0001"}), 422)
    check(app, client.post("/api/v1/cylinders/authority/callback", json={"result": "registered"}), 401)


def test_factory_import_by_batch_reports_row_errors():
    from werkzeug.datastructures import FileStorage

    from app.core.importer import get_kind, run_job, start_import, template_bytes
    kind = get_kind("cylinder_factory")
    headers = [cell.value for cell in load_workbook(io.BytesIO(template_bytes(kind))).active[1]]
    assert [h.rstrip("*") for h in headers[:3]] == ["溯源码", "出厂编号", "生产批号"]
    rows = [headers,
            ["GXQP-FAC-0001", "FAC1", "PH2026-DEMO-01", None, None, None, None, None, None],
            ["GXQP-FAC-0002", "FAC2", "NO-SUCH-BATCH", None, None, None, None, None, None],
            ["GXQP-DEMO-0002", "FAC3", "PH2026-DEMO-01", None, None, None, None, None, None],
            ["坏码", "FAC4", "PH2026-DEMO-01", None, None, None, None, None, None]]
    job = start_import("cylinder_factory", user("cyl_maker"), FileStorage(io.BytesIO(_xlsx(rows)), filename="出厂.xlsx"))
    db.session.commit()
    job = run_job(job.id)
    assert (job.created, job.failed) == (1, 3)
    c = db.session.scalar(select(Cylinder).where(Cylinder.trace_code == "GXQP-FAC-0001"))
    assert (c.batch_no, c.owner_org_id, c.medium, c.reg_state) == ("PH2026-DEMO-01", org_of("cyl_filler").id,
                                                                    "液化石油气", "unregistered")
    from app.errors import Forbidden
    try:
        start_import("cylinder_factory", user("cyl_filler"), FileStorage(io.BytesIO(_xlsx(rows)), filename="x.xlsx"))
        raise AssertionError("a filler imported factory records")
    except Forbidden:
        db.session.rollback()


def test_filling_records_are_partitioned_by_month_on_postgresql():
    from datetime import datetime, timezone

    import pytest
    from sqlalchemy import text

    from app.cylinders.partitions import add_months
    from app.scheduler.jobs import run_job

    from .conftest import TEST_DB
    run = run_job("cylinder_partitions")
    assert run.status == "ok"
    if TEST_DB != "postgres":
        assert add_months() == []
        pytest.skip("SQLite keeps one plain table")
    assert run.items == 4
    parts = set(db.session.scalars(text("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                        "WHERE i.inhparent = 'cylinder_filling'::regclass")))
    assert "cylinder_filling_default" in parts and len(parts) >= 17
    row = CylinderFilling(filled_at=datetime(2031, 1, 15, 2, tzinfo=timezone.utc), cylinder_id=1, trace_code="X",
                          filler_org_id=1, region_code="450102", operator_name="x", pre_check="pass", result="filled",
                          source="web")
    db.session.add(row)
    db.session.commit()
    where = text("SELECT tableoid::regclass::text FROM cylinder_filling WHERE id = :id")
    assert db.session.scalar(where, {"id": row.id}) == "cylinder_filling_default"
    try:
        db.session.execute(text("SELECT cylinder_filling_add_month('2031-01-01')"))
        db.session.commit()
        assert db.session.scalar(where, {"id": row.id}) == "cylinder_filling_y2031m01"   # moved out of the default
    finally:
        db.session.execute(text("DELETE FROM cylinder_filling WHERE id = :id"), {"id": row.id})
        db.session.execute(text("DROP TABLE IF EXISTS cylinder_filling_y2031m01"))
        db.session.commit()


def test_the_api_answers_junk_with_field_errors_not_500(api):
    f = api("cyl_filler")
    junk = {"trace_code": ["x"], "factory_no": {"a": 1}, "kind": [], "medium": 5, "volume_l": [], "nominal_pressure_mpa": {},
            "manufacture_date": 20250101, "design_life_years": "八", "next_inspection_date": []}
    resp = f.post("/api/v1/cylinders", json=junk)
    assert resp.status_code == 422 and resp.get_json()["error"]["fields"]
    resp = f.post("/api/v1/cylinders/fillings", json={"trace_code": [], "pre_check": [], "post_check": {},
                                                      "filled_at": [], "weight_kg": "重", "scale_id": []})
    assert resp.status_code == 422
    assert f.post("/api/v1/cylinders", json=[1, 2]).status_code == 400
    for url in ("/api/v1/cylinders?page=-5&per_page=100000&owner=x&kind=nope",
                "/api/v1/cylinders/fillings?month=2026-13&start=x&org=-1"):
        resp = f.get(url)           # the request guard (app/api) refuses values outside the documented ones
        assert resp.status_code in (200, 422) and (resp.status_code == 200 or resp.get_json()["error"]["code"])
