"""监督检查 (supervision_inspection): checklists as versioned data, the draft on the step guide, findings with
their rules, a hazard raised from a finding (linked both ways), the letter, the unit's rectification with
photos, a return and the close — through the pages and through /api/v1."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.cases.models import Case, CaseEvent, Task
from app.core.clock import today_local
from app.engine import runtime
from app.extensions import db
from app.supervision import checklists, services
from app.supervision.models import ChecklistTemplate, SupervisionInspection

from .conftest import JPEG, equipment_of, open_task, upload, user
from .test_openapi import check


def _template(code: str) -> ChecklistTemplate:
    return db.session.scalar(select(ChecklistTemplate).where(ChecklistTemplate.code == code,
                                                             ChecklistTemplate.is_current.is_(True)))


def _draft(username="xn_supervisor", unit="unit_xn") -> SupervisionInspection:
    row = services.create_draft(user(username), {
        "org_id": user(unit).org_id, "category": "常规监督检查", "unit_categories": ["使用"],
        "inspected_on": today_local().isoformat(), "inspectors": "黄兴宁、陆兴宁", "recorder": "黄兴宁"})
    db.session.commit()
    return row


def _all_pass(section, **overrides):
    results = {str(i.id): {"result": "符合"} for i in section.template.items}
    results.update(overrides)
    return results


def test_builtin_checklists_come_from_the_reference_and_the_rest_are_empty(app):
    unit, equipment = _template("unit_check"), _template("equipment_check")
    assert len(unit.items) == 8 and len(equipment.items) == 6
    assert equipment.items[0].basis.endswith("第二十五条(一)") and equipment.items[0].hazard_hint
    assert unit.items[0].text.startswith("未经许可，擅自从事特种设备生产")
    assert _template("exam_institution").name == "特种设备作业人员考试机构检查记录表"
    assert _template("equipment_3000").name == "设备检查（电梯）" and _template("equipment_3000").scope == "3000"
    for code in ("exam_institution", "post_license_production", "post_license_filling", "post_license_inspection",
                 "equipment_3000", "equipment_4000"):
        t = _template(code)
        assert t.items == [] and "参考资料未收录" in t.source


def test_a_new_version_leaves_running_inspections_on_theirs(app):
    province = user("gx_province")
    with pytest.raises(Exception) as err:
        checklists.save_version(user("xn_supervisor"), None, {"name": "x", "kind": "unit", "items": [{"text": "a"}]})
    assert type(err.value).__name__ == "Forbidden"
    old = checklists.save_version(province, None, {"name": "锅炉房专项检查", "kind": "unit", "items": [
        {"text": "锅炉房安全管理制度上墙", "basis": "", "options": "是,否", "problem_options": "否"}]})
    db.session.commit()
    row = _draft()
    section = services.add_section(user("xn_supervisor"), row, old.id)
    db.session.commit()
    items = [checklists.item_json(i) for i in old.items] + [{"text": "新增检查项", "basis": "", "options": "是,否",
                                                              "problem_options": "否"}]
    new = checklists.save_version(province, old.code, {"name": old.name, "items": items, "note": "加一项"})
    db.session.commit()
    assert new.version == 2 and len(new.items) == 2 and not db.session.get(ChecklistTemplate, old.id).is_current
    assert db.session.get(type(section), section.id).template_id == old.id        # the draft keeps its version
    with pytest.raises(Exception) as err:                                          # a new section takes the current one
        services.add_section(user("xn_supervisor"), row, old.id)
    assert err.value.fields == {"template_id": "请选择有效的检查项目表"}
    assert [v.version for v in checklists.versions_of(old.code)] == [2, 1]
    bad = checklists.parse_items([{"text": "x", "options": "只有一个"}])[1]
    assert bad == {"items.0.options": "第1项：结果选项至少两个，用逗号分隔"}
    with pytest.raises(Exception) as err:
        checklists.save_version(province, old.code, {"name": "", "items": []})
    assert err.value.fields == {"name": "此项为必填项"}


def test_finding_rules_and_completeness(app):
    row = _draft()
    section = services.add_section(user("xn_supervisor"), row, _template("equipment_check").id,
                                   equipment_of("unit_xn").id)
    first = section.template.items[0]
    with pytest.raises(Exception) as err:
        services.save_findings(user("xn_supervisor"), section, {str(first.id): {"result": "不符合"}})
    assert err.value.fields == {f"item_{first.id}": "第1项：结果为“不符合”时须填写问题说明"}
    with pytest.raises(Exception) as err:
        services.save_findings(user("xn_supervisor"), section, {str(first.id): {"result": "不符合", "note": "已报废仍在用"}})
    assert "须附现场照片" in err.value.fields[f"item_{first.id}"]
    foreign = upload("xn_colleague")
    with pytest.raises(Exception) as err:
        services.save_findings(user("xn_supervisor"), section,
                               {str(first.id): {"result": "不符合", "note": "已报废仍在用", "photos": [foreign]}})
    assert "本人上传" in err.value.fields[f"item_{first.id}"]
    with pytest.raises(Exception) as err:   # a device of another unit
        services.add_section(user("xn_supervisor"), row, _template("equipment_check").id, equipment_of("unit_qx").id)
    assert err.value.fields == {"equipment_id": "请选择被检查单位的设备"}
    with pytest.raises(Exception) as err:
        services.add_section(user("xn_supervisor"), row, _template("exam_institution").id)
    assert "尚无检查项目" in err.value.fields["template_id"]
    assert len(services.unanswered(row)) == 6
    cranes = checklists.save_version(user("gx_province"), "equipment_4000", {"name": "设备检查（起重机械）", "items": [
        {"text": "起重机械检查项（测试）", "basis": ""}]})
    with pytest.raises(Exception) as err:        # a category's checklist only for its devices
        services.add_section(user("xn_supervisor"), row, cranes.id, equipment_of("unit_xn").id)
    assert err.value.fields == {"template_id": "设备检查（起重机械）不适用于该设备的种类"}
    db.session.rollback()         # the seeded version stays current for the other tests


def _inspection_with_problem(web_session=None):
    """xn_supervisor's draft on unit_xn: unit check all 符合, an equipment check with item 3 不符合 (photo)."""
    row = _draft()
    s1 = services.add_section(user("xn_supervisor"), row, _template("unit_check").id)
    services.save_findings(user("xn_supervisor"), s1, _all_pass(s1))
    s2 = services.add_section(user("xn_supervisor"), row, _template("equipment_check").id, equipment_of("unit_xn").id)
    item3 = s2.template.items[2]
    photo = upload("xn_supervisor")
    services.save_findings(user("xn_supervisor"), s2, _all_pass(s2, **{str(item3.id): {
        "result": "不符合", "note": "限速器动作失灵仍在使用", "photos": [photo]}}))
    db.session.commit()
    return row, s2, item3


def test_inspection_through_letter_phone_rectification_return_and_close(app, web):
    row, s2, item3 = _inspection_with_problem()
    finding = next(f for f in s2.findings if f.item_id == item3.id)
    # a hazard raised from the finding (the hazard process's own checks apply)
    with pytest.raises(Exception) as err:
        services.raise_hazard(user("xn_supervisor"), finding, {"criterion_id": "", "rectify_deadline": ""}, label="监督检查")
    assert "criterion_id" in err.value.fields
    db.session.rollback()
    deadline = (today_local() + timedelta(days=15)).isoformat()
    supervisor = web("xn_supervisor")
    resp = supervisor.post(f"/supervision/findings/{finding.id}/hazard",
                           {"criterion_id": "GB45067-4.6b", "rectify_deadline": deadline, "description": "限速器失灵，电梯仍在运行使用。"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    db.session.expire_all()
    finding = db.session.get(type(finding), finding.id)
    hazard_case = finding.hazard_case
    assert hazard_case.process_key == "major_hazard" and hazard_case.status == "running"
    events = db.session.scalars(select(CaseEvent.summary).where(CaseEvent.case_id == hazard_case.id)).all()
    assert "由监督检查的检查项上报" in events
    page = supervisor.get(f"/supervision/inspections/{row.id}?step=equipment").get_data(as_text=True)
    assert hazard_case.case_no in page and "1 项 / 1 项" in page
    assert "严重事故隐患 1 项；已上报重大事故隐患 1 项" in page          # counts by kind (操作指引)
    # submitting without the letter's fields fails per field, nothing written
    start = supervisor.post("/processes/supervision_inspection/start", {"inspection_id": str(row.id), "review_by": "inspecting"})
    assert start.status_code == 422
    body = start.get_data(as_text=True)
    assert "检查发现问题，须填写违反的规定" in body and "检查发现问题，须填写整改期限" in body
    assert db.session.scalar(select(Case).where(Case.process_key == "supervision_inspection")) is None
    resp = supervisor.post("/processes/supervision_inspection/start", {
        "inspection_id": str(row.id), "letter_kind": "directive", "violation_desc": "《中华人民共和国特种设备安全法》第三十九条",
        "requirements": "立即停止使用该电梯，更换限速器并经检验合格后方可使用。", "rectify_deadline": deadline,
        "review_by": "inspecting"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    db.session.expire_all()
    row = db.session.get(SupervisionInspection, row.id)
    case = row.case
    assert row.status == "rectifying" and row.letter_no.startswith("（兴宁区）市监特令〔") and row.inspection_no == case.case_no
    # letter, notice-kind refusal, item table
    letter = supervisor.get(f"/documents/sv_directive/{row.id}").get_data(as_text=True)
    assert "特种设备安全监察指令书" in letter and "限速器动作失灵仍在使用" in letter and "六十日内" in letter
    assert supervisor.get(f"/documents/sv_notice/{row.id}").status_code == 404
    docx = supervisor.get(f"/documents/sv_directive/{row.id}.docx")
    assert docx.status_code == 200 and docx.data[:2] == b"PK"
    items = supervisor.get(f"/documents/sv_items/{row.id}").get_data(as_text=True)
    assert hazard_case.case_no in items and "第二十五条" in items
    # the unit rectifies on its phone: its task, with photos
    task = open_task(case)
    assert (task.task_def, task.candidate_role, task.candidate_org_id) == ("rectify", "use_unit", user("unit_xn").org_id)
    unit = web("unit_xn")
    form = unit.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "限速器动作失灵仍在使用" in form and "整改照片" in form
    bad = unit.post(f"/tasks/{task.id}", {"measures": "已更换", "completed_on": today_local().isoformat()})
    assert bad.status_code == 422 and "至少" in bad.get_data(as_text=True)
    photo = upload("unit_xn")
    done = unit.post(f"/tasks/{task.id}", {"measures": "已更换限速器并委托检验机构检验合格。",
                                           "completed_on": today_local().isoformat(), "photos": str(photo)})
    assert done.status_code == 302, done.get_data(as_text=True)[:800]
    db.session.expire_all()
    assert db.session.get(SupervisionInspection, row.id).status == "reviewing"
    review = open_task(case)
    assert (review.task_def, review.candidate_role, review.candidate_region) == \
        ("review_inspecting", "county_supervisor", "450102")
    # returned: back to the unit, logged
    runtime.complete_task(review.id, user("xn_supervisor"), {"verify_result": "fail", "opinion": "照片不清晰，请补充检验报告"})
    db.session.commit()
    again = open_task(case)
    assert again.task_def == "rectify" and db.session.get(SupervisionInspection, row.id).status == "rectifying"
    runtime.complete_task(again.id, user("unit_xn"), {"measures": "补充限速器校验报告及整改后照片。",
                                                      "completed_on": today_local().isoformat(),
                                                      "photos": [upload("unit_xn")]})
    db.session.commit()
    runtime.complete_task(open_task(case).id, user("xn_supervisor"), {"verify_result": "pass", "opinion": "整改到位"})
    db.session.commit()
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert case.status == "closed" and case.outcome == "整改复核通过办结"
    assert db.session.get(SupervisionInspection, row.id).status == "closed"
    assert runtime.verify_case_chain(case.id) is None
    summaries = db.session.scalars(select(CaseEvent.summary).where(CaseEvent.case_id == case.id)).all()
    assert sum(1 for s in summaries if "整改反馈" in s) >= 2
    # the unit sees its inspection, not others' drafts; another county sees nothing
    unit_view = web("unit_xn")
    assert unit_view.get(f"/supervision/inspections/{row.id}").status_code == 200
    assert unit_view.get(f"/documents/sv_directive/{row.id}").status_code == 200      # 指令书查询 (§4.5.15.5)
    assert row.inspection_no in unit_view.get("/supervision/inspections").get_data(as_text=True)
    assert web("unit_qx").get(f"/documents/sv_directive/{row.id}").status_code == 404
    assert web("qx_supervisor").get(f"/supervision/inspections/{row.id}").status_code == 404


def test_no_problem_closes_at_once_and_supervising_unit_reviews(app):
    row = _draft()
    s1 = services.add_section(user("xn_supervisor"), row, _template("unit_check").id)
    services.save_findings(user("xn_supervisor"), s1, _all_pass(s1))
    db.session.commit()
    case = runtime.start_case("supervision_inspection", user("xn_supervisor"),
                              {"inspection_id": str(row.id), "review_by": "inspecting"})
    db.session.commit()
    assert case.status == "closed" and case.outcome == "检查合格办结"
    assert db.session.get(SupervisionInspection, row.id).status == "qualified"
    row2, *_ = _inspection_with_problem()
    case2 = runtime.start_case("supervision_inspection", user("xn_supervisor"), {
        "inspection_id": str(row2.id), "letter_kind": "notice", "violation_desc": "《特种设备使用管理规则》",
        "requirements": "更换限速器并报检。", "rectify_deadline": (today_local() + timedelta(days=5)).isoformat(),
        "review_by": "supervising"})
    db.session.commit()
    assert db.session.get(SupervisionInspection, row2.id).letter_no.startswith("（兴宁区）市监特整〔")
    runtime.complete_task(open_task(case2).id, user("unit_xn"), {"measures": "已更换限速器。", "completed_on": today_local().isoformat(),
                                                                 "photos": [upload("unit_xn")]})
    db.session.commit()
    review = open_task(case2)
    assert (review.task_def, review.candidate_role, review.candidate_region) == ("review_supervising", "city_supervisor", "450100")


def test_submit_refuses_others_and_unfinished_drafts(app):
    row = _draft()
    services.add_section(user("xn_supervisor"), row, _template("unit_check").id)
    db.session.commit()
    with pytest.raises(Exception) as err:
        runtime.start_case("supervision_inspection", user("xn_supervisor"), {"inspection_id": str(row.id), "review_by": "inspecting"})
    assert "尚未填写结果" in err.value.fields["inspection_id"]
    db.session.rollback()
    with pytest.raises(Exception) as err:
        runtime.start_case("supervision_inspection", user("xn_colleague"), {"inspection_id": str(row.id), "review_by": "inspecting"})
    assert err.value.fields == {"inspection_id": "请选择本人录入中的监督检查记录"}


def test_step_guide_pages(app, web):
    s = web("xn_supervisor")
    page = s.get("/supervision/inspections/new?q=兴宁区演示").get_data(as_text=True)
    assert "南宁市兴宁区演示商业广场" in page and "1. 基本信息" in page and "4. 其他问题" in page
    bad = s.post("/supervision/inspections/new", {"category": "常规监督检查", "inspected_on": "2099-01-01", "inspectors": "黄"})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "检查日期不能晚于今天" in text and "请从单位库中检索并选择被检查单位" in text
    # a new unit entered with the inspection
    bad_unit = s.post("/supervision/inspections/new", {
        "new_unit": "1", "unit_name": "兴宁新单位（测试）", "unit_uscc": "123", "unit_region_code": "450102",
        "category": "常规监督检查", "unit_categories": "使用", "inspected_on": today_local().isoformat(), "inspectors": "黄兴宁、陆兴宁"})
    assert bad_unit.status_code == 422 and "统一社会信用代码应为18位" in bad_unit.get_data(as_text=True)
    from app.core.validators import uscc_check_char
    first17 = "91450102MA5TEXT01"
    resp = s.post("/supervision/inspections/new", {
        "new_unit": "1", "unit_name": "兴宁新单位（测试）", "unit_uscc": first17 + uscc_check_char(first17),
        "unit_region_code": "450102", "category": "专项监督检查", "unit_categories": "使用",
        "inspected_on": today_local().isoformat(), "inspectors": "黄兴宁、陆兴宁"})
    assert resp.status_code == 302 and "step=unit" in resp.location
    row = db.session.scalar(select(SupervisionInspection).order_by(SupervisionInspection.id.desc()))
    assert row.org.name == "兴宁新单位（测试）"
    unit_page = s.get(f"/supervision/inspections/{row.id}?step=unit").get_data(as_text=True)
    assert "单位检查（重大违法行为情形）" in unit_page and "data-sv-template" in unit_page
    # adding a section with its results in one post (what the loaded checklist submits)
    t = _template("unit_check")
    data = {"template_id": str(t.id), **{f"result_{i.id}": "符合" for i in t.items}}
    data[f"result_{t.items[0].id}"] = "不符合"
    data[f"note_{t.items[0].id}"] = "无许可从事安装"
    resp = s.post(f"/supervision/inspections/{row.id}/sections", data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    db.session.expire_all()
    row = db.session.get(SupervisionInspection, row.id)
    assert len(row.sections) == 1 and len(services.problems_of(row)) == 1
    # a photo uploaded with the section form, decoded (a text file named .jpg is refused)
    sec = row.sections[0]
    bad_photo = s.post(f"/supervision/inspections/{row.id}/sections/{sec.id}", {
        **{f"result_{i.id}": "符合" for i in t.items}, f"photo_{t.items[1].id}": (io.BytesIO(b"not an image"), "x.jpg")},
        content_type="multipart/form-data")
    assert bad_photo.status_code == 422 and "类型不允许" in bad_photo.get_data(as_text=True)
    ok = s.post(f"/supervision/inspections/{row.id}/sections/{sec.id}", {
        **{f"result_{i.id}": "符合" for i in t.items}, f"photo_{t.items[1].id}": (io.BytesIO(JPEG), "现场.jpg")},
        content_type="multipart/form-data")
    assert ok.status_code == 302
    assert s.post(f"/supervision/inspections/{row.id}/other", {"other_problems": "安全管理制度未上墙"}).status_code == 302
    assert "安全管理制度未上墙" in s.get(f"/supervision/inspections/{row.id}?step=other").get_data(as_text=True)
    # another supervisor may not edit it
    assert web("xn_colleague").post(f"/supervision/inspections/{row.id}/other", {"other_problems": "x"}).status_code == 403
    # templates pages
    assert s.get("/supervision/templates").status_code == 200
    assert web("gx_province").post("/supervision/templates/unit_check", {"name": "", "count": "0"}).status_code == 422
    assert web("xn_supervisor").post("/supervision/templates/unit_check", {"name": "x", "count": "0"}).status_code == 403
    province = web("gx_province")
    assert province.get("/supervision/templates/new").status_code == 200
    bad = province.post("/supervision/templates/new", {"name": "锅炉房检查（测试）", "kind": "unit", "count": "0"})
    assert bad.status_code == 422 and "至少填写一个检查项目" in bad.get_data(as_text=True)
    made = province.post("/supervision/templates/new", {"name": "锅炉房检查（测试）", "kind": "unit", "count": "1",
                                                         "text_0": "锅炉房安全管理制度上墙", "options_0": "是,否",
                                                         "problems_0": "否", "photo_0": "optional", "note_0": "on_problem"})
    assert made.status_code == 302
    edit = province.get(made.location).get_data(as_text=True)
    assert "锅炉房安全管理制度上墙" in edit and "第1版" in edit


def test_inspection_through_the_api(app, api):
    client = api("xn_supervisor")
    found = check(app, client.get("/api/v1/supervision/units?q=兴宁区演示"), 200)
    org_id = found["items"][0]["id"]
    bad = check(app, client.post("/api/v1/supervision/inspections", json={"org_id": org_id}), 422)
    assert "category" in bad["error"]["fields"]
    row = check(app, client.post("/api/v1/supervision/inspections", json={
        "org_id": org_id, "category": "常规监督检查", "unit_categories": ["使用"], "inspected_on": today_local().isoformat(),
        "inspectors": "黄兴宁、陆兴宁"}), 201)
    templates = check(app, client.get("/api/v1/supervision/templates?kind=equipment"), 200)["items"]
    general = next(x for x in templates if x["code"] == "equipment_check")
    assert all(x["item_count"] == 0 for x in templates if x["code"] != "equipment_check")
    t = check(app, client.get(f"/api/v1/supervision/templates/{general['id']}"), 200)
    photo = upload("xn_supervisor")
    results = {str(i["id"]): {"result": "符合"} for i in t["items"]}
    results[str(t["items"][0]["id"])] = {"result": "不符合", "note": "已达报废条件继续使用", "photos": [photo]}
    section = check(app, client.post(f"/api/v1/supervision/inspections/{row['id']}/sections", json={
        "template_id": t["id"], "equipment_id": equipment_of("unit_xn").id, "results": results}), 201)
    finding = next(f for f in section["findings"] if f["is_problem"])
    hz = check(app, client.post(f"/api/v1/supervision/findings/{finding['id']}/hazard", json={
        "criterion_id": "GB45067-4.6b", "rectify_deadline": (today_local() + timedelta(days=10)).isoformat()}), 201)
    check(app, client.post(f"/api/v1/supervision/inspections/{row['id']}/other", json={"other_problems": "应急预案未演练"}), 200)
    detail = check(app, client.get(f"/api/v1/supervision/inspections/{row['id']}"), 200)
    assert detail["hazard_count"] == 1 and detail["problem_count"] == 2
    drafts = check(app, client.get("/api/v1/supervision/inspections?status=draft&mine=1"), 200)
    assert drafts["items"][0]["id"] == row["id"] and drafts["totals"]["hazards"] >= 1
    started = client.post("/api/v1/cases", json={"process_key": "supervision_inspection", "data": {
        "inspection_id": str(row["id"]), "letter_kind": "directive", "violation_desc": "《中华人民共和国特种设备安全法》第四十条",
        "requirements": "停止使用并报废。", "rectify_deadline": (today_local() + timedelta(days=10)).isoformat(),
        "review_by": "inspecting"}})
    assert started.status_code == 201, started.get_json()
    case_id = started.get_json()["id"]
    unit = api("unit_xn")
    task = db.session.scalar(select(Task).where(Task.case_id == case_id, Task.status == "open"))
    form = unit.get(f"/api/v1/tasks/{task.id}").get_json()
    assert form["form"]["properties"]["photos"]["minItems"] == 1
    done = unit.post(f"/api/v1/tasks/{task.id}/complete", json={"data": {
        "measures": "设备已停用报废并办理注销。", "completed_on": today_local().isoformat(), "photos": [upload("unit_xn")]}})
    assert done.status_code == 200, done.get_json()
    assert hz["case_no"]
    # scope: another county and an enterprise cannot reach the draft API
    assert api("qx_supervisor").get(f"/api/v1/supervision/inspections/{row['id']}").status_code == 404
    assert api("unit_qx").post("/api/v1/supervision/inspections", json={}).status_code == 403


def test_inspection_list_exports(app, web):
    _inspection_with_problem()
    resp = web("xn_supervisor").get("/supervision/inspections/export.xlsx?status=draft")
    assert resp.status_code == 200 and resp.data[:2] == b"PK"
    from openpyxl import load_workbook
    rows = list(load_workbook(io.BytesIO(resp.data)).active.values)
    assert rows[0][0] == "检查编号" and rows[1][1].startswith("南宁市兴宁区演示商业广场") and rows[1][7] == 1


def test_business_registry_lookup(app, web, api, monkeypatch):
    """The inspected unit found in the business registry (our contract, signed requests, a fake server),
    adopted into the unit registry from the registry's own record; a failing registry leaves ours."""
    from app.core.external import ExternalCall
    from app.core.models import Organization
    from app.core.validators import uscc_check_char
    from .fakes import FakeServer
    first17 = "91450102MA5BXY001"
    uscc = first17 + uscc_check_char(first17)
    record = {"uscc": uscc, "name": "南宁市兴宁区工商库演示企业（测试）", "region_code": "450102",
              "address": "兴宁区演示路9号", "legal_representative": "覃法人"}
    routes = {("GET", "/v1/enterprises"): lambda req: (200, {"items": [record, {"uscc": "BAD", "name": "x",
                                                                                 "region_code": "450102"}]}),
              ("GET", "/v1/enterprises/*"): lambda req: (200, record) if req.path.endswith(uscc) else (404, {})}
    with FakeServer(routes) as fake:
        for key, value in {"PROVIDER": "http", "URL": fake.url, "APP_KEY": "gx", "SECRET": "s3cret"}.items():
            monkeypatch.setitem(app.config, f"EXTERNAL_BUSINESS_REGISTRY_{key}", value)
        s = web("xn_supervisor")
        page = s.get("/supervision/inspections/new?q=工商库演示").get_data(as_text=True)
        assert "工商库演示企业" in page and f"ext:{uscc}" in page and "BAD" not in page
        sent = fake.received[0]
        assert sent.path.startswith("/v1/enterprises?") and "region=450102" in sent.path
        assert sent.headers.get("X-Signature-Method") == "HMAC-SM3" and sent.headers.get("X-Signature")
        resp = s.post("/supervision/inspections/new", {
            "org_id": f"ext:{uscc}", "name": "浏览器改的名字", "category": "常规监督检查", "unit_categories": "使用",
            "inspected_on": today_local().isoformat(), "inspectors": "黄兴宁、陆兴宁"})
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        org = db.session.scalar(select(Organization).where(Organization.uscc == uscc))
        assert org.name == record["name"] and org.contact_name == "覃法人"
        assert fake.received[-1].path == f"/v1/enterprises/{uscc}"
        assert db.session.scalar(select(func.count(ExternalCall.id)).where(ExternalCall.system == "business_registry")) >= 2
        # through the API the adopted unit is now in the registry (found once, not twice)
        items = check(app, api("xn_supervisor").get("/api/v1/supervision/units?q=工商库演示"), 200)["items"]
        assert [i["id"] for i in items] == [org.id]
        fake.routes[("GET", "/v1/enterprises")] = lambda req: (503, {"message": "维护中"})
        body = check(app, api("xn_supervisor").get("/api/v1/supervision/units?q=兴宁区演示"), 200)
        assert "企业工商库暂时无法查询" in body["warning"] and body["items"]
