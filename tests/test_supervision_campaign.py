"""证后监督检查 (post_license_inspection): the expert pool, a campaign with 5 randomly drawn units (the draw
reproduced from its seed), a rejected review then approval, assignment, the experts' declaration gate, entry
with an issue forwarded to the supervision department (a hazard raised from it, the outcome pulled back),
rectification with a return, the inspected unit's evaluation, the summary report and the closing."""
from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.cases.models import Case, CaseEvent
from app.core.clock import today_local
from app.core.gm import hash_password
from app.core.models import Organization, User
from app.engine import runtime
from app.extensions import db
from app.supervision import campaigns, services
from app.supervision.models import Campaign, CampaignUnit, ChecklistTemplate, Declaration, Expert

from .conftest import JPEG, open_task, upload, user

SIGNATURE = "data:image/png;base64,"


def _png() -> str:
    """A signature as the pad sends it: an RGBA PNG data URL with some inked pixels."""
    import base64
    from .test_taskops import png
    return SIGNATURE + base64.b64encode(png(inked=60)).decode()


def _fresh(model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


def _unit_template() -> ChecklistTemplate:
    return db.session.scalar(select(ChecklistTemplate).where(ChecklistTemplate.code == "unit_check",
                                                             ChecklistTemplate.is_current.is_(True)))


def _undertaker() -> Organization:
    return db.session.scalar(select(Organization).where(Organization.kind == "undertaking_unit"))


def _draft(**values) -> Campaign:
    c = campaigns.create_campaign(user("nn_city"), {"name": "2026年南宁市证后监督检查（测试）",
                                                    "undertaking_org_id": _undertaker().id,
                                                    "template_id": _unit_template().id, **values})
    db.session.commit()
    return c


def test_expert_pool(app, web):
    with pytest.raises(Exception) as err:
        campaigns.save_expert(user("nn_city"), {"name": "韦某", "kind": "supervisor"})
    assert err.value.fields == {"cert_no": "监察人员须填写证书编号", "cert_expiry": "监察人员须填写证书有效期（YYYY-MM-DD）"}
    e = campaigns.save_expert(user("nn_city"), {"name": "韦某（测试）", "kind": "inspector", "cert_no": "X1"})
    assert e.cert_no is None          # 证书信息仅收录监察人员
    with pytest.raises(Exception):
        campaigns.save_expert(user("xn_supervisor"), {"name": "x", "kind": "inspector"})
    db.session.commit()
    s = web("nn_city")
    page = s.get("/supervision/experts?q=韦某").get_data(as_text=True)
    assert "韦某（测试）" in page
    assert s.post(f"/supervision/experts/{e.id}/active", {"active": "0"}).status_code == 302
    db.session.expire_all()
    assert not db.session.get(Expert, e.id).active
    bad = s.post("/supervision/experts/new", {"name": "", "kind": "inspector", "region_code": "450100"})
    assert bad.status_code == 422 and "此项为必填项" in bad.get_data(as_text=True)
    # Excel import through the shared importer
    from app.core import importer
    kind = importer.get_kind("sv_experts")
    assert [c.header for c in kind.columns][:3] == ["姓名", "人员类别", "属地"]
    from .registry_helpers import xlsx
    body = xlsx(["姓名*", "人员类别*", "属地*", "专业方向", "职称", "证书编号", "证书有效期"],
                [["蓝导入（测试）", "检查人员", "450102", "电梯", "工程师", "", ""],
                 ["覃导入（测试）", "监察人员", "450102", "锅炉", "", "", ""]])
    from werkzeug.datastructures import FileStorage
    job = importer.start_import("sv_experts", user("nn_city"), FileStorage(io.BytesIO(body), filename="experts.xlsx"))
    job = importer.run_job(job.id)
    db.session.commit()
    assert (job.created, job.failed) == (1, 1), job.message
    assert db.session.scalar(select(Expert).where(Expert.name == "蓝导入（测试）")).kind == "inspector"


def test_draw_is_random_recorded_and_reproducible(app):
    c = _draft()
    with pytest.raises(Exception) as err:
        campaigns.random_draw(user("nn_city"), c, {"count": 500})
    assert "抽取数量" in err.value.fields["count"]
    result = campaigns.random_draw(user("nn_city"), c, {"count": 5, "region": "450100"})
    db.session.commit()
    c = db.session.get(Campaign, c.id)
    pool = json.loads(c.draw_candidates)
    assert len(result) == 5 and len(c.units) == 5 and set(result) <= set(pool) and len(pool) > 5
    assert campaigns.verify_draw(c)
    assert campaigns.draw_sample(c.draw_seed, pool, 5) == json.loads(c.draw_result)
    # the same seed over the same candidates gives the same units; the filters are kept
    again = campaigns.random_draw(user("nn_city"), c, {"count": 5, "region": "450100", "seed": c.draw_seed})
    assert again == result and json.loads(c.draw_filters) == {"region": "450100"}
    # a licence filter narrows the candidates to the kinds holding that licence
    campaigns.random_draw(user("nn_city"), c, {"count": 2, "licence": "filling"})
    kinds = {u.org.kind for u in db.session.get(Campaign, c.id).units}
    assert kinds == {"filling_unit"}
    # tampering with the recorded result is detected
    c.draw_result = json.dumps([1, 2])
    assert not campaigns.verify_draw(c)
    db.session.rollback()


def _approved_campaign(web):
    """nn_city's campaign: 5 units drawn at random (450100) + unit_xn picked, supervisor drawn, submitted,
    rejected once by nn_head, resubmitted, approved."""
    c = _draft()
    campaigns.random_draw(user("nn_city"), c, {"count": 5, "region": "450100", "seed": "seed-2026"})
    xn_org = user("unit_xn").org_id
    if not any(u.org_id == xn_org for u in c.units):
        campaigns.pick_unit(user("nn_city"), c, xn_org)
    campaigns.draw_supervisor(user("nn_city"), c, "sup-seed")
    db.session.commit()
    case = runtime.start_case("post_license_inspection", user("nn_city"), {"campaign_id": str(c.id)})
    db.session.commit()
    review = open_task(case)
    assert (review.task_def, review.candidate_role, review.candidate_region) == ("review", "approver", "450100")
    page = web("nn_head").get(f"/tasks/{review.id}").get_data(as_text=True)
    assert "seed-2026" in page and "抽中" in page              # the draw is shown to the reviewer
    runtime.complete_task(review.id, user("nn_head"), {"review_decision": "reject", "opinion": "被抽查单位应覆盖充装单位"})
    db.session.commit()
    c = db.session.get(Campaign, c.id)
    assert c.status == "rejected" and c.reject_reason == "被抽查单位应覆盖充装单位"
    listing = web("nn_city").get("/supervision/campaigns").get_data(as_text=True)
    assert "驳回原因：被抽查单位应覆盖充装单位" in listing         # the remark column
    revise = open_task(case)
    assert (revise.task_def, revise.candidate_role, revise.candidate_region) == ("revise", "city_supervisor", "450100")
    runtime.complete_task(revise.id, user("nn_city"), {"opinion": "已补充说明"})
    db.session.commit()
    runtime.complete_task(open_task(case).id, user("nn_head"), {"review_decision": "approve", "opinion": "同意"})
    db.session.commit()
    c = db.session.get(Campaign, c.id)
    assert c.status == "assigning" and c.campaign_no == case.case_no
    return c, case


def test_campaign_through_review_assignment_declaration_entry_rectification_evaluation_and_report(app, web):
    c, case = _approved_campaign(web)
    assign = open_task(case)
    assert (assign.task_def, assign.candidate_role, assign.candidate_org_id) == ("assign", "undertaking_unit", _undertaker().id)
    # the assignment step refuses while units are unassigned
    with pytest.raises(Exception) as err:
        runtime.complete_task(assign.id, user("undertaker_gx"), {"opinion": "已分配"})
    assert "尚未分配检查人员" in err.value.fields["opinion"]
    db.session.rollback()
    li = db.session.scalar(select(Expert).where(Expert.user_id == user("expert_li").id))
    undertaker = web("undertaker_gx")
    for u in db.session.get(Campaign, c.id).units:
        resp = undertaker.post(f"/supervision/campaigns/{c.id}/units/{u.id}/assign", {"experts": str(li.id)})
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    db.session.expire_all()
    runtime.complete_task(open_task(case).id, user("undertaker_gx"), {"opinion": "已分配"})
    db.session.commit()
    c = db.session.get(Campaign, c.id)
    assert c.status == "inspecting" and all(u.status == "assigned" for u in c.units)
    # the declaration gate: the expert's first visit this year goes to the declaration
    expert = web("expert_li")
    gate = expert.get("/supervision/my")
    assert gate.status_code == 302 and gate.location.endswith("/supervision/declaration")
    unit_xn = next(u for u in c.units if u.org_id == user("unit_xn").org_id)
    assert expert.get(f"/supervision/campaign-units/{unit_xn.id}").status_code == 302
    blank = expert.post("/supervision/declaration", {"agree": "1", "signature": ""})
    assert blank.status_code == 422 and "手写签名" in blank.get_data(as_text=True)
    assert expert.post("/supervision/declaration", {"agree": "1", "signature": _png()}).status_code == 302
    decl = db.session.scalar(select(Declaration).where(Declaration.user_id == user("expert_li").id))
    assert decl.year == campaigns.declaration_year() and "廉洁自律" in decl.text
    assert "声明人" in expert.get("/supervision/declaration/print").get_data(as_text=True)
    mine = expert.get("/supervision/my").get_data(as_text=True)
    assert unit_xn.org.name in mine
    # entry on unit_xn with a problem forwarded to the supervision department
    t = c.template
    data = {f"result_{i.id}": "符合" for i in t.items}
    data[f"result_{t.items[6].id}"] = "不符合"
    data[f"note_{t.items[6].id}"] = "对检验发现的严重事故隐患未整改"
    assert expert.post(f"/supervision/campaign-units/{unit_xn.id}/results", data).status_code == 302
    db.session.expire_all()
    unit_xn = _fresh(CampaignUnit, unit_xn.id)
    finding = services.problems_of(unit_xn)[0]
    assert expert.post(f"/supervision/campaign-units/{unit_xn.id}/findings/{finding.id}/forward").status_code == 302
    blocked = expert.post(f"/supervision/campaign-units/{unit_xn.id}/submit",
                          {"inspected_on": today_local().isoformat(), "summary": "现场检查了安全管理与设备档案。"})
    assert blocked.status_code == 422 and "尚未拉取到处理结果" in blocked.get_data(as_text=True)
    from app.taskops.models import Notification
    assert db.session.scalar(select(Notification).where(Notification.user_id == user("nn_city").id,
                                                        Notification.title.contains("上报监察")))
    # the department (nn_city) raises a major hazard from it; the outcome is pulled back
    city = web("nn_city")
    assert "对检验发现的严重事故隐患未整改" in city.get("/supervision/forwarded?pending=1").get_data(as_text=True)
    from .conftest import equipment_of
    resp = city.post(f"/supervision/forwarded/{finding.id}/hazard", {
        "equipment_code": equipment_of("unit_xn").code, "criterion_id": "GB45067-4.6b",
        "rectify_deadline": (today_local() + timedelta(days=10)).isoformat()})
    assert resp.status_code == 302
    db.session.expire_all()
    finding = db.session.get(type(finding), finding.id)
    assert finding.hazard_case.process_key == "major_hazard" and "已认定为重大事故隐患" in finding.forward_outcome
    assert services.hazard_count(_fresh(CampaignUnit, unit_xn.id)) == 1
    assert "1 项 / 1 项" in city.get(f"/supervision/campaigns/{c.id}").get_data(as_text=True)    # summed
    page = expert.get(f"/supervision/campaign-units/{unit_xn.id}").get_data(as_text=True)
    assert finding.hazard_case.case_no in page and "处理结果" in page
    ok = expert.post(f"/supervision/campaign-units/{unit_xn.id}/submit",
                     {"inspected_on": today_local().isoformat(), "summary": "现场检查了安全管理与设备档案。"})
    assert ok.status_code == 302
    assert _fresh(CampaignUnit, unit_xn.id).status == "rectifying"
    # the other units: no problems, done at once (entered by the undertaking unit's account)
    for u in db.session.get(Campaign, c.id).units:
        if u.id == unit_xn.id:
            continue
        assert undertaker.post(f"/supervision/campaign-units/{u.id}/results",
                               {f"result_{i.id}": "符合" for i in t.items}).status_code == 302
        assert undertaker.post(f"/supervision/campaign-units/{u.id}/submit", {
            "inspected_on": today_local().isoformat(), "summary": "未发现违法违规问题。"}).status_code == 302
    # the inspection step refuses while unit_xn still rectifies
    db.session.expire_all()
    with pytest.raises(Exception) as err:
        runtime.complete_task(open_task(case).id, user("undertaker_gx"), {"opinion": "检查完成"})
    assert "尚未完成" in err.value.fields["opinion"]
    db.session.rollback()
    # rectification on the unit's phone with photos, returned once, then passed
    unit = web("unit_xn")
    bad = unit.post(f"/supervision/campaign-units/{unit_xn.id}/rectify", {"measures": "已整改完毕"},
                    content_type="multipart/form-data")
    assert bad.status_code == 422 and "请至少上传1张整改照片" in bad.get_data(as_text=True)
    assert unit.post(f"/supervision/campaign-units/{unit_xn.id}/rectify",
                     {"measures": "已整改完毕并经检验合格", "photos": (io.BytesIO(JPEG), "整改.jpg")},
                     content_type="multipart/form-data").status_code == 302
    assert expert.post(f"/supervision/campaign-units/{unit_xn.id}/review",
                       {"decision": "return", "note": "缺少检验报告"}).status_code == 302
    u = _fresh(CampaignUnit, unit_xn.id)
    db.session.refresh(u)
    assert (u.status, u.return_count) == ("rectifying", 1)
    assert unit.post(f"/supervision/campaign-units/{unit_xn.id}/rectify",
                     {"measures": "补充检验报告", "photos": (io.BytesIO(JPEG), "报告.jpg")},
                     content_type="multipart/form-data").status_code == 302
    assert web("unit_qx").post(f"/supervision/campaign-units/{unit_xn.id}/review",
                               {"decision": "pass", "note": "x"}).status_code in (403, 404)
    assert expert.post(f"/supervision/campaign-units/{unit_xn.id}/review",
                       {"decision": "pass", "note": "整改到位"}).status_code == 302
    db.session.expire_all()
    assert _fresh(CampaignUnit, unit_xn.id).status == "done"
    # evaluation by the inspected unit
    bad = unit.post(f"/supervision/campaign-units/{unit_xn.id}/evaluate", {"score": "9"})
    assert bad.status_code == 422 and "请选择1–5分" in bad.get_data(as_text=True)
    assert unit.post(f"/supervision/campaign-units/{unit_xn.id}/evaluate",
                     {"score": "5", "punctual": "good", "conduct": "good", "comment": "检查规范"}).status_code == 302
    assert _fresh(CampaignUnit, unit_xn.id).eval_score == 5
    # all done: the summary report goes to the supervision department, which closes
    db.session.expire_all()
    runtime.complete_task(open_task(case).id, user("undertaker_gx"), {"opinion": "检查完成"})
    db.session.commit()
    c = db.session.get(Campaign, c.id)
    close = open_task(case)
    assert c.status == "reporting" and (close.task_def, close.candidate_role, close.candidate_region) == \
        ("close", "city_supervisor", "450100")
    report = city.get(f"/documents/pl_summary/{c.id}").get_data(as_text=True)
    assert "证后监督检查综述报告" in report and "seed-2026" in report and finding.hazard_case.case_no in report
    assert city.get(f"/documents/pl_summary/{c.id}.docx").data[:2] == b"PK"
    assert city.get(f"/documents/pl_summary/{c.id}.pdf").data[:4] == b"%PDF"
    runtime.complete_task(close.id, user("nn_city"), {"closing_info": "已责令整改并移交执法。", "opinion": "同意办结"})
    db.session.commit()
    case = db.session.get(Case, case.id)
    assert case.status == "closed" and case.outcome == "已办结" and runtime.verify_case_chain(case.id) is None
    events = db.session.scalars(select(CaseEvent.summary).where(CaseEvent.case_id == case.id)).all()
    assert any("整改退回" in e for e in events) and any("提交检查评价" in e for e in events)
    n = len(c.units)
    assert n in (5, 6) and f"{n}/{n}" in city.get("/supervision/campaigns").get_data(as_text=True)


def test_scope_of_campaign_pages(app, web):
    c = _draft()
    campaigns.random_draw(user("nn_city"), c, {"count": 2, "region": "450100", "seed": "s"})
    db.session.commit()
    assert web("nn_city").get(f"/supervision/campaigns/{c.id}").status_code == 200
    assert web("lz_supervisor").get(f"/supervision/campaigns/{c.id}").status_code == 404
    assert web("undertaker_gx").get(f"/supervision/campaigns/{c.id}").status_code == 404     # a draft
    assert web("xn_supervisor").post("/supervision/campaigns/new", {"name": "x"}).status_code == 403
    assert web("nn_city").post(f"/supervision/campaigns/{c.id}/draw", {"count": "0"}).status_code == 422
    # a campaign is submitted only by its creator, and only when drawn
    empty = _draft(name="空任务（测试）")
    with pytest.raises(Exception) as err:
        runtime.start_case("post_license_inspection", user("nn_city"), {"campaign_id": str(empty.id)})
    assert err.value.fields == {"campaign_id": "请先随机抽取或指定被抽查单位"}


def test_campaign_through_the_api(app, api):
    from .test_openapi import check
    from app.cases.models import Task
    city = api("nn_city")
    experts = check(app, city.get("/api/v1/supervision/experts?kind=inspector"), 200)
    li = next(e for e in experts["items"] if e["username"] == "expert_li")
    bad = check(app, city.post("/api/v1/supervision/experts", json={"name": "", "kind": "supervisor"}), 422)
    assert "cert_no" in bad["error"]["fields"]
    created = check(app, city.post("/api/v1/supervision/campaigns", json={
        "name": "接口创建的证后监督检查（测试）", "undertaking_org_id": _undertaker().id,
        "template_id": _unit_template().id}), 201)
    cid = created["id"]
    bad = check(app, city.post(f"/api/v1/supervision/campaigns/{cid}/draw", json={"count": 0}), 422)
    assert "count" in bad["error"]["fields"]
    drawn = check(app, city.post(f"/api/v1/supervision/campaigns/{cid}/draw",
                                 json={"count": 5, "region": "450100", "seed": "api-seed"}), 200)
    assert len(drawn["units"]) == 5 and drawn["draw"]["verified"] is True and drawn["draw"]["seed"] == "api-seed"
    again = campaigns.draw_sample("api-seed", drawn["draw"]["candidates"], 5)
    assert again == drawn["draw"]["result"]
    check(app, city.post(f"/api/v1/supervision/campaigns/{cid}/supervisor", json={"seed": "s"}), 200)
    lookup = check(app, city.get("/api/v1/supervision/campaigns?status=draft&mine=1"), 200)
    assert lookup["items"][0]["id"] == cid
    started = city.post("/api/v1/cases", json={"process_key": "post_license_inspection", "data": {"campaign_id": str(cid)}})
    assert started.status_code == 201, started.get_json()
    case_id = started.get_json()["id"]
    review = db.session.scalar(select(Task).where(Task.case_id == case_id, Task.status == "open"))
    head = api("nn_head")
    done = head.post(f"/api/v1/tasks/{review.id}/complete", json={"data": {"review_decision": "approve", "opinion": "同意"}})
    assert done.status_code == 200, done.get_json()
    undertaker = api("undertaker_gx")
    detail = check(app, undertaker.get(f"/api/v1/supervision/campaigns/{cid}"), 200)
    for u in detail["units"]:
        check(app, undertaker.post(f"/api/v1/supervision/campaigns/{cid}/units/{u['id']}/assign",
                                   json={"experts": [li["id"]]}), 200)
    assign = db.session.scalar(select(Task).where(Task.case_id == case_id, Task.status == "open"))
    assert undertaker.post(f"/api/v1/tasks/{assign.id}/complete", json={"data": {"opinion": "已分配"}}).status_code == 200
    unit_id = detail["units"][0]["id"]
    items = check(app, undertaker.get(f"/api/v1/supervision/templates/{_unit_template().id}"), 200)["items"]
    results = {str(i["id"]): {"result": "符合"} for i in items}
    check(app, undertaker.post(f"/api/v1/supervision/campaign-units/{unit_id}/results", json={"results": results}), 200)
    sub = check(app, undertaker.post(f"/api/v1/supervision/campaign-units/{unit_id}/submit", json={
        "inspected_on": today_local().isoformat(), "summary": "未发现问题，资料齐全。"}), 200)
    assert sub["status"] == "done"
    # the expert's API also waits for the declaration
    gate = check(app, api("expert_li").get(f"/api/v1/supervision/campaign-units/{unit_id}"), 403)
    assert gate["error"]["code"] == "declaration_required"
    check(app, undertaker.get(f"/api/v1/supervision/campaign-units/{unit_id}"), 200)


def test_campaign_list_export_and_expert_messages(app, web):
    c, case = _approved_campaign(web)
    resp = web("nn_city").get("/supervision/campaigns/export.xlsx")
    from openpyxl import load_workbook
    rows = list(load_workbook(io.BytesIO(resp.data)).active.values)
    assert rows[0][:2] == ("任务编号", "任务名称") and any(r[1] == c.name for r in rows[1:])
    li = db.session.scalar(select(Expert).where(Expert.user_id == user("expert_li").id))
    campaigns.assign(user("undertaker_gx"), c, c.units[0].id, [li.id])
    db.session.commit()
    from app.taskops.models import Notification
    note = db.session.scalar(select(Notification).where(Notification.user_id == user("expert_li").id))
    assert note is not None and "检查人员" in note.title


def test_a_draft_submitted_twice_starts_one_case(app):
    """Two starts of the same draft (two tabs): the status claim lets exactly one through."""
    from app.errors import Conflict
    from app.engine.services import ServiceContext
    c = _draft()
    campaigns.random_draw(user("nn_city"), c, {"count": 1, "region": "450100", "seed": "x"})
    campaigns.draw_supervisor(user("nn_city"), c, "x")
    db.session.commit()
    case = runtime.start_case("post_license_inspection", user("nn_city"), {"campaign_id": str(c.id)})
    db.session.commit()
    other = Case(id=case.id + 1000)   # a second case racing for the same draft
    with pytest.raises(Conflict):
        campaigns.submit(ServiceContext(case=other, actor=user("nn_city"), task_data={"campaign_id": str(c.id)}))
    db.session.rollback()
    assert db.session.get(Campaign, c.id).case_id == case.id


def test_odd_json_gets_field_errors_not_500(app, api):
    """Lists, objects, huge numbers where texts and ids belong: per-field 4xx answers, never a server error."""
    from .test_openapi import check
    huge = 10 ** 20
    sup, city, province = api("xn_supervisor"), api("nn_city"), api("gx_province")
    bodies = [
        (sup, "/api/v1/supervision/inspections", {"org_id": huge, "category": ["x"], "unit_categories": [{}],
                                                   "inspected_on": 5, "inspectors": {"a": 1}}),
        (sup, "/api/v1/supervision/units", {"name": ["x"], "uscc": 1, "region_code": {}}),
        (province, "/api/v1/supervision/templates", {"name": "x", "kind": ["unit"], "scope": {},
                                                     "items": [{"text": "a", "options": 5, "photo_rule": []}]}),
        (city, "/api/v1/supervision/experts", {"name": "x", "kind": ["inspector"], "org_id": huge}),
        (city, "/api/v1/supervision/campaigns", {"name": ["x"], "undertaking_org_id": huge, "template_id": "1e9"}),
    ]
    for client, url, body in bodies:
        resp = client.post(url, json=body)
        assert resp.status_code in (403, 422), (url, resp.status_code, resp.get_data(as_text=True)[:300])
        check(app, resp)
    c = _draft()
    for body in ({"count": "abc", "seed": 123}, {"count": huge}, {"count": 2, "region": ["450100"], "kind": {}}):
        check(app, city.post(f"/api/v1/supervision/campaigns/{c.id}/draw", json=body), 422)
    check(app, city.post(f"/api/v1/supervision/campaigns/{c.id}/supervisor", json={"seed": 12345}), 422)
    check(app, city.post(f"/api/v1/supervision/campaigns/{c.id}/pick", json={"org_id": huge}), 422)
