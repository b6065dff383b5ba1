"""Process administration: drafts, the one validator (Chinese, element-pointing), deploy, diff,
migration of running cases, the change record, upload/download, and 403 for everyone else."""
from __future__ import annotations

import io
import json
import zipfile

import pytest
from sqlalchemy import delete, func, select

from app.cases.models import Case, CaseEvent
from app.engine.models import DecisionVersion, ProcessVersion
from app.extensions import db
from app.procadmin import services as svc
from app.procadmin.models import ProcessChange, ProcessDraft

from .conftest import allow_cleanup_of_append_only_tables, complete, make_case, user

ADMIN = "process_admin"


@pytest.fixture(autouse=True)
def _drop_new_versions(app):
    """Versions deployed by a test are removed afterwards (cases first), so later tests see the seed."""
    marks = {"p": db.session.scalar(select(func.max(ProcessVersion.id))),
             "d": db.session.scalar(select(func.max(DecisionVersion.id)))}
    yield
    db.session.rollback()
    new_ids = list(db.session.scalars(select(ProcessVersion.id).where(ProcessVersion.id > marks["p"])))
    if new_ids:
        from app.cases.models import CaseParty, Task
        from app.hazards.models import Hazard
        case_ids = list(db.session.scalars(select(Case.id).where(Case.process_version_id.in_(new_ids))))
        allow_cleanup_of_append_only_tables(db)
        for model, col in ((Hazard, Hazard.case_id), (CaseEvent, CaseEvent.case_id), (Task, Task.case_id),
                           (CaseParty, CaseParty.case_id)):
            db.session.execute(delete(model).where(col.in_(case_ids)))
        db.session.execute(delete(Case).where(Case.id.in_(case_ids)))
        db.session.execute(delete(ProcessVersion).where(ProcessVersion.id.in_(new_ids)))
    db.session.execute(delete(DecisionVersion).where(DecisionVersion.id > marks["d"]))
    db.session.commit()
    from app.engine import decisions
    decisions._ENGINES.clear()


def admin():
    return user(ADMIN)


def new_draft(key="major_hazard") -> ProcessDraft:
    draft = svc.start_draft("process", key, admin())
    db.session.commit()
    return draft


def save_bpmn(draft, xml):
    issues = svc.save_draft(draft, admin(), bpmn_xml=xml)
    db.session.commit()
    return issues


def versions(key="major_hazard"):
    return db.session.scalar(select(func.count(ProcessVersion.id)).where(ProcessVersion.process_key == key))


# ------------------------------------------------------------------ broken files, Chinese errors

BROKEN = [
    ("unparseable XML", lambda x: x[:-60], "BPMN 文件不是合法的 XML", None),
    ("unknown lane", lambda x: x.replace('name="use_unit"', 'name="nobody"'), "所在泳道 nobody 不是已知角色", "rectify"),
    ("missing form", lambda x: x.replace('name="formKey" value="verify"', 'name="formKey" value="verify_v9"', 1),
     "引用的表单 verify_v9 不存在", "verify_bureau"),
    ("bad condition", lambda x: x.replace('verify_result == "pass"', 'verify_result ==', 1), "的条件有误", "f_b_pass"),
    ("unquoted timer duration", lambda x: x.replace('escalation_at("major_hazard", 1, rectify_deadline)', "P3D"),
     "必须加引号", "t_overdue_city"),
    ("unsupported element", lambda x: x.replace("</bpmn:process>", '<bpmn:sendTask id="notify_x" name="发送通知" />'
                                                "</bpmn:process>", 1), "不支持的元素：发送通知 (notify_x) 是发送任务", "notify_x"),
]


@pytest.mark.parametrize("label,mutate,message,element", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_bpmn_is_kept_as_an_invalid_draft_with_a_chinese_error_pointing_at_the_element(label, mutate, message,
                                                                                                element):
    draft = new_draft()
    before = versions()
    issues = save_bpmn(draft, mutate(draft.bpmn_xml))
    assert draft.status == "invalid"
    hit = [i for i in issues if message in i.message]
    assert hit, [i.message for i in issues]
    if element:
        assert any(i.element == element for i in hit), [(i.element, i.message) for i in issues]
    with pytest.raises(Exception) as err:
        svc.deploy_draft(draft, admin())
    assert getattr(err.value, "code", None) == "invalid_definition"
    db.session.rollback()
    assert versions() == before
    # the invalid content is still there, saved as a draft
    assert mutate(svc.start_draft("process", "major_hazard", admin()).bpmn_xml) or True
    assert db.session.get(ProcessDraft, draft.id).bpmn_xml != ""


def _script_task_bpmn(script: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d1" targetNamespace="x">
  <bpmn:process id="script_demo" name="脚本演示" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="calc" name="计算"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end" name="结束"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="calc" />
    <bpmn:sequenceFlow id="f2" sourceRef="calc" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"""


@pytest.mark.parametrize("script,message", [
    ("import os\nos.system('id')", "脚本中不允许使用 import"),
    ("x = open('/etc/passwd').read()", "脚本中不允许使用 open"),
    ("x = ().__class__.__bases__", "脚本不允许或无法编译"),
])
def test_script_task_with_forbidden_code_is_refused(script, message):
    draft = svc.upload_new_process(_file(_script_task_bpmn(script), "demo.bpmn"), admin())
    db.session.commit()
    issues = svc.draft_issues(draft)
    assert any(message in i["message"] and i["element"] == "calc" for i in issues), issues
    with pytest.raises(Exception):
        svc.deploy_draft(draft, admin())
    db.session.rollback()
    assert versions("script_demo") == 0


def _file(content, name):
    from werkzeug.datastructures import FileStorage
    data = content.encode("utf-8") if isinstance(content, str) else content
    return FileStorage(io.BytesIO(data), filename=name)


CAMUNDA = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn"
  exporter="Camunda Modeler" exporterVersion="5.20.0">
  <bpmn:process id="{pid}" isExecutable="true">
    <bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>Flow_1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="Activity_review" name="审核" camunda:formKey="review" camunda:assignee="demo">
      <bpmn:incoming>Flow_1</bpmn:incoming><bpmn:outgoing>Flow_2</bpmn:outgoing></bpmn:userTask>
    {extra}
    <bpmn:endEvent id="Event_end"><bpmn:incoming>Flow_2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="Activity_review" />
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Activity_review" targetRef="Event_end" />
  </bpmn:process>
</bpmn:definitions>"""


def test_files_from_other_modelers_fail_with_a_specific_reason_never_a_trace():
    # a Camunda-style process id cannot be a process key
    with pytest.raises(Exception) as err:
        svc.upload_new_process(_file(CAMUNDA.format(pid="Process_0x1", extra=""), "x.bpmn"), admin())
    assert "不能作为流程键" in err.value.fields["file"]
    db.session.rollback()
    # a usable id: saved as a draft, with Camunda-specific hints and the unsupported element named
    extra = '<bpmn:receiveTask id="Activity_wait" name="等待回执" />'
    draft = svc.upload_new_process(_file(CAMUNDA.format(pid="camunda_import", extra=extra), "c.bpmn"), admin())
    db.session.commit()
    messages = [i["message"] for i in svc.draft_issues(draft)]
    assert any("等待回执 (Activity_wait)" in m and "接收任务" in m for m in messages), messages
    # without the unsupported element the engine parses it and names what our platform needs
    svc.save_draft(draft, admin(), bpmn_xml=CAMUNDA.format(pid="camunda_import", extra=""))
    messages = [i["message"] for i in svc.draft_issues(draft)]
    assert any("不在任何泳道中" in m for m in messages), messages
    assert any("camunda:formKey" in m for m in messages), messages
    # a DMN file or junk uploaded as a new process
    for content, expect in (("<definitions xmlns='https://www.omg.org/spec/DMN/20191111/MODEL/'/>", "请上传 BPMN"),
                            (b"\x89PNG\r\n\x1a\n", "不是 XML 或 JSON"), ("<a><b></a>", "不是合法的 XML")):
        with pytest.raises(Exception) as err:
            svc.upload_new_process(_file(content, "f.bpmn"), admin())
        assert expect in err.value.fields["file"], err.value.fields
        db.session.rollback()


def test_bpmn_io_style_file_with_a_default_process_id_and_no_namespace_prefix_is_diagnosed():
    xml = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="sid-1" targetNamespace="http://bpmn.io/schema/bpmn">
  <process id="leave_request" isExecutable="false">
    <startEvent id="s" /><task id="t" name="处理" /><endEvent id="e" />
    <sequenceFlow id="a" sourceRef="s" targetRef="t" /><sequenceFlow id="b" sourceRef="t" targetRef="e" />
  </process>
</definitions>"""
    draft = svc.upload_new_process(_file(xml, "leave.bpmn"), admin())
    db.session.commit()
    issues = svc.draft_issues(draft)
    assert any("未指定类型的任务" in i["message"] and i["element"] == "t" for i in issues), issues


# ------------------------------------------------------------------ deploy, versions, migration

def _with_form_label_and_timer(draft, label="复核意见（v新）", timer='"P3D"'):
    forms = json.loads(draft.forms_json)
    forms["verify"]["properties"]["opinion"]["title"] = label
    svc.save_draft(draft, admin(), forms=forms)
    xml = draft.bpmn_xml.replace('<bpmn:timeDate>escalation_at("major_hazard", 1, rectify_deadline)</bpmn:timeDate>',
                                 f"<bpmn:timeDuration>{timer}</bpmn:timeDuration>")
    assert xml != draft.bpmn_xml
    return svc.save_draft(draft, admin(), bpmn_xml=xml)


def test_deploy_makes_a_new_version_new_cases_use_it_old_cases_keep_theirs_and_everything_is_recorded():
    old_case = make_case()
    old_version = old_case.process_version
    draft = new_draft()
    assert _with_form_label_and_timer(draft) == []
    version = svc.deploy_draft(draft, admin())
    db.session.commit()
    assert version.version == old_version.version + 1 and version.deployed_by_id == admin().id
    assert draft.status == "deployed" and draft.deployed_version == version.version
    new_case = make_case()
    assert new_case.process_version_id == version.id
    assert db.session.get(Case, old_case.id).process_version_id == old_version.id
    assert "<bpmn:timeDuration>\"P3D\"</bpmn:timeDuration>" in version.bpmn_xml
    assert json.loads(version.forms_json)["verify"]["properties"]["opinion"]["title"] == "复核意见（v新）"
    actions = [c.action for c in db.session.scalars(select(ProcessChange).where(ProcessChange.draft_id == draft.id)
                                                    .order_by(ProcessChange.id))]
    assert actions == ["save", "save", "deploy"]
    deploy_row = db.session.scalar(select(ProcessChange).where(ProcessChange.action == "deploy",
                                                               ProcessChange.draft_id == draft.id))
    assert deploy_row.actor_id == admin().id and len(deploy_row.content_sm3) == 64 and deploy_row.version == version.version
    # a draft can be deployed once (and no longer edited); unchanged content gives no new version
    for act in (lambda: svc.deploy_draft(draft, admin()), lambda: svc.save_draft(draft, admin(), forms={}),
                lambda: svc.discard_draft(draft, admin())):
        with pytest.raises(Exception) as err:
            act()
        assert err.value.code == "draft_closed" and err.value.message == f"草稿 #{draft.id} 已部署，不能再修改"
        db.session.rollback()
    again = new_draft()
    with pytest.raises(Exception) as err:
        svc.deploy_draft(again, admin())
    assert err.value.code == "unchanged"
    db.session.rollback()
    # the diff names the changed timer and form label
    diff = svc.diff_bundles(svc.version_bundle(old_version), svc.version_bundle(version))
    changed = {e["id"]: e for e in diff["changed"]}
    assert "t_overdue_city" in changed
    assert any(x["what"] == "定时器 timeDuration" and x["new"] == '"P3D"' for x in changed["t_overdue_city"]["details"])
    assert any("复核意见（v新）" in x for f in diff["forms"] for x in f["details"])
    assert not diff["added"] and not diff["removed"]


def test_running_case_migrates_when_its_step_exists_and_is_refused_otherwise():
    waiting = make_case()                      # at 派单督办 (dispatch)
    old_version = waiting.process_version
    draft = new_draft()
    _with_form_label_and_timer(draft)
    xml = draft.bpmn_xml.replace('id="verify_bureau" name="复核销号"', 'id="verify_bureau" name="复核销号（新）"')
    assert xml != draft.bpmn_xml
    svc.save_draft(draft, admin(), bpmn_xml=xml)
    target = svc.deploy_draft(draft, admin())
    db.session.commit()
    events_before = db.session.scalar(select(func.count(CaseEvent.id)).where(CaseEvent.case_id == waiting.id))
    from .conftest import open_task
    task_before = open_task(waiting).id
    result = svc.migrate_cases(old_version, target, [waiting.id], admin())
    db.session.commit()
    assert result == {"migrated": [waiting.case_no], "refused": []}
    db.session.expire_all()
    case = db.session.get(Case, waiting.id)
    assert case.process_version_id == target.id
    event = db.session.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq.desc()))
    assert event.kind == "migrated" and f"v{old_version.version} 迁移到 v{target.version}" in event.summary
    assert open_task(case).id == task_before            # the open task (and any claim) is kept
    assert db.session.scalar(select(func.count(CaseEvent.id)).where(CaseEvent.case_id == case.id)) == events_before + 1
    from app.engine.runtime import verify_case_chain
    assert verify_case_chain(case.id) is None
    assert db.session.scalar(select(ProcessChange).where(ProcessChange.action == "migrate",
                                                         ProcessChange.case_id == case.id)).actor_id == admin().id
    # the migrated case runs on: dispatch, then the new version's timer definition is used
    complete(case, "xn_supervisor", {"dispatch_decision": "dispatch", "requirements": "立即停用并整改。",
                                     "rectify_deadline": _days(10), "opinion": "情况属实"})
    db.session.expire_all()
    case = db.session.get(Case, waiting.id)
    assert case.current_step == "整改反馈" and case.process_version_id == target.id

    # a version without the current step: refused with the reason, case untouched
    draft2 = new_draft()
    xml = draft2.bpmn_xml
    # rename the rectify task's id everywhere (element, DI, flows, lane refs)
    for attr in ("id", "attachedToRef", "targetRef", "sourceRef", "bpmnElement"):
        xml = xml.replace(f'{attr}="rectify"', f'{attr}="rectify_v2"')
    xml = xml.replace(">rectify<", ">rectify_v2<")
    forms = json.loads(draft2.forms_json.replace('"step": "rectify"', '"step": "rectify_v2"'))  # review panels
    svc.save_draft(draft2, admin(), bpmn_xml=xml, forms=forms)
    assert draft2.status == "valid", svc.draft_issues(draft2)
    target2 = svc.deploy_draft(draft2, admin())
    db.session.commit()
    result = svc.migrate_cases(target, target2, [case.id], admin())
    db.session.commit()
    assert result["migrated"] == []
    assert "当前环节" in result["refused"][0]["reason"] and "整改反馈" in result["refused"][0]["reason"]
    closed = make_case()
    complete(closed, "xn_supervisor", {"dispatch_decision": "reject", "opinion": "经核实不构成重大事故隐患"})
    from app.engine.runtime import migration_blocker
    assert migration_blocker(db.session.get(Case, closed.id), target2) == \
        f"案件 {closed.case_no} 已办结，只迁移办理中的案件"
    db.session.expire_all()
    assert db.session.get(Case, case.id).process_version_id == target.id


def _days(n):
    from datetime import timedelta

    from app.core.clock import today_local
    return (today_local() + timedelta(days=n)).isoformat()


# ------------------------------------------------------------------ forms, DMN, upload, download

def test_form_errors_are_per_field_and_invalid_json_loses_nothing():
    draft = new_draft()
    before = draft.forms_json
    with pytest.raises(Exception) as err:
        svc.save_form(draft, admin(), "verify", '{"title": "复核", ')
    assert "不是合法的 JSON" in err.value.fields["schema"]
    db.session.rollback()
    assert db.session.get(ProcessDraft, draft.id).forms_json == before
    issues = svc.save_form(draft, admin(), "verify", json.dumps({"type": "object", "required": ["nope"],
                                                                  "properties": {"x": {"type": "strin"}}}))
    messages = [i.message for i in issues]
    assert any("表单 verify 不是合法的 JSON Schema" in m for m in messages), messages
    assert draft.status == "invalid"


def test_decision_table_draft_deploys_a_new_decision_version():
    draft = svc.start_draft("decision", "warning_level", admin())
    (filename, xml), = json.loads(draft.dmn_json).items()
    svc.save_draft(draft, admin(), dmn={filename: xml.replace("<decision ", "<decisionX ", 1)})
    assert draft.status == "invalid"
    svc.save_draft(draft, admin(), dmn={filename: xml.replace('id="warning_level"', 'id="warning_other"', 1)})
    assert any("应与决策表键 warning_level 一致" in i["message"] for i in svc.draft_issues(draft)) or draft.status == "invalid"
    svc.save_draft(draft, admin(), dmn={filename: xml + "\n<!-- edited -->"})
    assert draft.status == "valid", svc.draft_issues(draft)
    version = svc.deploy_draft(draft, admin())
    db.session.commit()
    assert version.decision_id == "warning_level" and version.deployed_by_id == admin().id


def test_upload_and_download_round_trip_in_the_repository_layout(web):
    draft = new_draft()
    s = web(ADMIN)
    zipped = s.get(f"/process-admin/drafts/{draft.id}/download")
    assert zipped.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(zipped.data)).namelist()
    assert "workflows/major_hazard.bpmn" in names and "forms/major_hazard/verify.json" in names
    form = zipfile.ZipFile(io.BytesIO(zipped.data)).read("forms/major_hazard/verify.json")
    schema = json.loads(form)
    schema["properties"]["opinion"]["title"] = "上传后的复核意见"
    resp = s.post(f"/process-admin/drafts/{draft.id}/upload",
                  data={"file": (io.BytesIO(json.dumps(schema, ensure_ascii=False).encode()), "verify.json")},
                  content_type="multipart/form-data")
    assert resp.status_code == 302
    db.session.expire_all()
    assert json.loads(db.session.get(ProcessDraft, draft.id).forms_json)["verify"]["properties"]["opinion"]["title"] \
        == "上传后的复核意见"
    bpmn = s.get("/process-admin/processes/major_hazard/v1/download?file=bpmn")
    assert bpmn.status_code == 200 and b"<bpmn:process id=\"major_hazard\"" in bpmn.data
    # a file that is neither: rejected by content, nothing changed
    resp = s.post(f"/process-admin/drafts/{draft.id}/upload",
                  data={"file": (io.BytesIO(b"MZ\x90\x00binary"), "evil.json")}, content_type="multipart/form-data")
    page = s.get(f"/process-admin/drafts/{draft.id}").get_data(as_text=True)
    assert "上传失败" in page and "不是 XML 或 JSON" in page


# ------------------------------------------------------------------ access

@pytest.mark.parametrize("username", ["xn_supervisor", "unit_xn", "sys_admin", "gx_province"])
def test_everyone_but_process_admins_gets_403_on_pages_and_api(web, api, username):
    draft = new_draft()
    s = web(username)
    for url in ("/process-admin/", "/process-admin/processes/major_hazard", "/process-admin/changes",
                f"/process-admin/drafts/{draft.id}", "/process-admin/processes/major_hazard/diff",
                "/process-admin/processes/major_hazard/migrate", "/process-admin/processes/major_hazard/v1/download"):
        assert s.get(url).status_code == 403, url
    assert s.post(f"/process-admin/drafts/{draft.id}/deploy").status_code == 403
    assert s.post("/process-admin/processes/major_hazard/draft").status_code == 403
    a = api(username)
    for url in ("/api/v1/process-admin/processes", f"/api/v1/process-admin/drafts/{draft.id}"):
        resp = a.get(url)
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden", url
    resp = a.post(f"/api/v1/process-admin/drafts/{draft.id}/deploy", json={})
    assert resp.status_code == 403
    assert db.session.get(ProcessDraft, draft.id).status == "valid"


def test_process_admin_lands_on_the_process_list_and_uses_the_api(web, api):
    s = web(ADMIN)
    home = s.get("/", follow_redirects=True).get_data(as_text=True)
    assert "流程与版本" in home and "major_hazard" in home and "data-testid=\"process-table\"" in home
    a = api(ADMIN)
    items = a.get("/api/v1/process-admin/processes").get_json()["items"]
    hazard = next(i for i in items if i["key"] == "major_hazard")
    assert hazard["versions"][0]["content_sha256"] and "running" in hazard["versions"][0]
    created = a.post("/api/v1/process-admin/processes/major_hazard/drafts", json={})
    assert created.status_code == 201
    draft_id = created.get_json()["id"]
    resp = a.post(f"/api/v1/process-admin/drafts/{draft_id}/bpmn", json={"xml": "<bpmn:definitions"})
    assert resp.status_code == 200 and resp.get_json()["status"] == "invalid"
    assert "不是合法的 XML" in resp.get_json()["issues"][0]["message"]
    resp = a.post(f"/api/v1/process-admin/drafts/{draft_id}/deploy", json={})
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "invalid_definition"
    preview = a.post("/api/v1/process-admin/form-preview",
                     json={"schema_text": json.dumps({"title": "T", "type": "object",
                                                      "properties": {"a": {"type": "string", "title": "甲字段"}}})})
    assert "甲字段" in preview.get_json()["html"]
    bad = a.post("/api/v1/process-admin/form-preview", json={"schema_text": "{"})
    assert bad.status_code == 422 and "不是合法的 JSON" in bad.get_json()["error"]["fields"]["schema"]


def test_api_bodies_are_checked_before_anything_is_written(api):
    """A draft request body that is not a JSON object is 400 bad_json, a from_version that is not a
    positive integer 422; a BPMN save without xml is 422 on the field and records nothing."""
    from app.security.models import AuditLog

    def counts():
        db.session.expire_all()
        return (db.session.scalar(select(func.count(ProcessDraft.id))),
                db.session.scalar(select(func.count(ProcessChange.id))),
                db.session.scalar(select(func.count(AuditLog.id))))

    a = api(ADMIN)
    url = "/api/v1/process-admin/processes/major_hazard/drafts"
    before = counts()
    for kw in ({"json": [1]}, {"json": "1"}, {"json": 3}, {"data": "{", "content_type": "application/json"}):
        r = a.post(url, **kw)
        assert r.status_code == 400, (kw, r.get_json())
        assert r.get_json()["error"] == {"code": "bad_json", "message": "请求体必须是 JSON 对象"}
    for bad in ("1", 0, -2, 1.5, True, [1], {"v": 1}):
        r = a.post(url, json={"from_version": bad})
        assert r.status_code == 422, (bad, r.get_json())
        assert r.get_json()["error"]["fields"] == {
            "from_version": "作为底稿的版本号必须是正整数（如 1）；不填则以最新版本为底"}
    assert counts() == before
    created = a.post(url, json={"from_version": 1})
    assert created.status_code == 201 and created.get_json()["base_version"] == 1
    draft_id = created.get_json()["id"]
    assert a.post(url).status_code == 201          # no body at all: the open draft
    bpmn = f"/api/v1/process-admin/drafts/{draft_id}/bpmn"
    xml = db.session.get(ProcessDraft, draft_id).bpmn_xml
    before = counts()
    for body, message in (({}, "xml 必填：请提交流程图的 BPMN XML 文本"),
                          ({"xml": None}, "xml 必填：请提交流程图的 BPMN XML 文本"),
                          ({"xml": "  "}, "流程图内容不能为空"),
                          ({"xml": 5}, "应为文本")):
        r = a.post(bpmn, json=body)
        assert r.status_code == 422, (body, r.get_json())
        assert r.get_json()["error"]["code"] == "validation_failed"
        assert r.get_json()["error"]["fields"] == {"xml": message}
    r = a.post(bpmn, json=["<x/>"])
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "bad_json"
    assert counts() == before                      # no save recorded, no audit entry
    assert db.session.get(ProcessDraft, draft_id).bpmn_xml == xml


def test_cli_deploy_from_the_repository_does_not_undo_a_version_deployed_in_the_browser():
    from app.cli import deploy_all
    draft = new_draft()
    _with_form_label_and_timer(draft)
    version = svc.deploy_draft(draft, admin())
    db.session.commit()
    results = dict((name, (number, created)) for name, number, created in deploy_all())
    assert results["workflows/major_hazard.bpmn"] == (version.version, False)
    assert svc.latest("major_hazard").id == version.id
