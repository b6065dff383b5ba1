"""Task operations (app/taskops): who may, when, what changes, what is refused — pages and API."""
from __future__ import annotations

import base64
import struct
import zlib
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from app.cases.models import CaseEvent, Task
from app.core.clock import today_local, utcnow
from app.core.models import User
from app.engine import runtime
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.sms.models import SmsMessage
from app.taskops import services as ops
from app.taskops.models import CaseCopy, Notification

from .conftest import assert_todo_counts_match_their_definition, complete, make_case, open_task, user


def _dispatch(**overrides) -> dict:
    data = {"dispatch_decision": "dispatch", "requirements": "立即停用并整改门锁回路。",
            "rectify_deadline": (today_local() + timedelta(days=10)).isoformat(), "opinion": "情况属实"}
    data.update(overrides)
    return data


def _events(case, kind: str) -> list[CaseEvent]:
    return list(db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == kind)
                                   .order_by(CaseEvent.seq)))


def _reload(task_id: int) -> Task:
    db.session.expire_all()
    return db.session.get(Task, task_id)


def png(width: int = 60, height: int = 20, inked: int = 0, rgb: bool = False) -> bytes:
    """An 8-bit RGBA PNG with `inked` opaque black pixels on the first rows (filter 0 and 2 rows)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    channels = 3 if rgb else 4
    rows, left = [], inked
    for y in range(height):
        line = bytearray(width * channels)
        for x in range(width):
            if left > 0 and not rgb:
                line[x * 4 + 3] = 255
                left -= 1
        # alternate filters: 0 (none) and 2 (up, with the previous row's bytes subtracted)
        if y % 2 and y > 0:
            prev = rows[-1][1]
            rows.append((2, line, bytes((b - p) & 0xFF for b, p in zip(line, prev))))
        else:
            rows.append((0, line, bytes(line)))
    raw = b"".join(bytes([kind]) + filtered for kind, _line, filtered in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2 if rgb else 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


# ------------------------------------------------------------------ 转办

def test_transfer_hands_the_task_to_a_colleague_in_scope():
    case = make_case()
    task = open_task(case)
    boss, colleague = user("xn_supervisor"), user("xn_colleague")
    # opinion and target are both checked, each with its own message
    with pytest.raises(ValidationFailed) as err:
        ops.transfer_task(task.id, boss, None, "")
    assert set(err.value.fields) == {"target", "opinion"}
    db.session.rollback()
    # another county's supervisor cannot take a 兴宁区 task
    with pytest.raises(ValidationFailed) as err:
        ops.transfer_task(task.id, boss, user("qx_supervisor").id, "请协助办理")
    assert "不能办理" in err.value.fields["target"]
    db.session.rollback()
    # a candidate transfers (implicit claim)
    ops.transfer_task(task.id, boss, colleague.id, "本人出差，转同事办理")
    db.session.commit()
    task = _reload(task.id)
    assert task.assignee_id == colleague.id
    [event] = _events(case, "transferred")
    assert event.actor_id == boss.id and event.comment == "本人出差，转同事办理" and "兴宁同事" in event.summary
    assert db.session.scalar(select(Notification).where(Notification.user_id == colleague.id,
                                                        Notification.kind == "transfer")) is not None
    # the former holder may neither complete nor transfer again; the new holder completes
    with pytest.raises(Conflict):
        runtime.complete_task(task.id, boss, _dispatch())
    db.session.rollback()
    with pytest.raises(Forbidden):
        ops.transfer_task(task.id, boss, boss.id, "拿回来")
    db.session.rollback()
    complete(case, "xn_colleague", _dispatch())
    assert _reload(task.id).completed_by_id == colleague.id


def test_transfer_refused_to_non_holders_and_on_closed_tasks():
    case = make_case()
    task = open_task(case)
    with pytest.raises(Forbidden):     # the city sees the case but is not a candidate of the county step
        ops.transfer_task(task.id, user("nn_city"), user("xn_colleague").id, "越级转办")
    db.session.rollback()
    with pytest.raises(ValidationFailed) as err:   # not to oneself
        ops.transfer_task(task.id, user("xn_supervisor"), user("xn_supervisor").id, "转给自己")
    assert "自己" in err.value.fields["target"]
    db.session.rollback()
    complete(case, "xn_supervisor", _dispatch())
    with pytest.raises(Conflict) as err:
        ops.transfer_task(task.id, user("xn_supervisor"), user("xn_colleague").id, "办完再转")
    assert err.value.message == "该任务已办理，不能转办"      # not "已已办理"
    db.session.rollback()
    for act in (lambda: ops.resolve_delegation(task.id, user("xn_supervisor"), "办完"),
                lambda: ops.sign_task(task.id, user("xn_supervisor"), "签署"),
                lambda: ops.remove_signer(task.id, user("xn_supervisor"), 1)):
        with pytest.raises(Conflict) as err:
            act()
        assert err.value.message == "该任务已办理"
        db.session.rollback()


def test_transfer_page_shows_errors_per_field_and_keeps_input(web):
    case = make_case()
    task = open_task(case)
    s = web("xn_supervisor")
    page = s.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "转办" in page and "兴宁同事" in page
    resp = s.post(f"/tasks/{task.id}/transfer", data={"target": str(user("xn_colleague").id), "opinion": ""})
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert "请填写转办意见" in body and f'value="{user("xn_colleague").id}" selected' in body
    assert _reload(task.id).assignee_id is None
    resp = s.post(f"/tasks/{task.id}/transfer", data={"target": str(user("xn_colleague").id),
                                                       "opinion": "请同事办理"})
    assert resp.status_code == 302
    assert _reload(task.id).assignee_id == user("xn_colleague").id


def test_transfer_and_candidates_through_the_api(api):
    case = make_case()
    task = open_task(case)
    a = api("xn_supervisor")
    names = [p["display_name"] for p in a.get(f"/api/v1/tasks/{task.id}/candidates").get_json()["items"]]
    assert names == ["兴宁同事（测试）"]
    resp = a.post(f"/api/v1/tasks/{task.id}/transfer", json={"target_user_id": user("qx_supervisor").id,
                                                              "opinion": "请协助"})
    assert resp.status_code == 422 and "target" in resp.get_json()["error"]["fields"]
    resp = a.post(f"/api/v1/tasks/{task.id}/transfer", json={"target_user_id": user("xn_colleague").id,
                                                              "opinion": "请协助"})
    assert resp.status_code == 200 and resp.get_json()["assignee_id"] == user("xn_colleague").id
    resp = api("nn_city").post(f"/api/v1/tasks/{task.id}/transfer", json={"target_user_id": user("xn_supervisor").id,
                                                                           "opinion": "越权"})
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden"


# ------------------------------------------------------------------ 委派 / 归还

def test_delegate_then_return_and_the_owner_completes(web):
    case = make_case()
    task = open_task(case)
    owner, delegate = user("xn_supervisor"), user("xn_colleague")
    ops.delegate_task(task.id, owner, delegate.id, "请核实现场照片")
    db.session.commit()
    task = _reload(task.id)
    assert (task.owner_id, task.assignee_id, task.delegate_state) == (owner.id, delegate.id, "pending")
    # the delegate sees it in the inbox marked with the owner
    inbox = web("xn_colleague").get("/inbox").get_data(as_text=True)
    assert "委派自 兴宁区监察员" in inbox or f"委派自 {owner.display_name}" in inbox
    # the delegate may not complete the engine task, nor pass it on, nor unclaim it
    with pytest.raises(Conflict) as err:
        runtime.complete_task(task.id, delegate, _dispatch())
    assert err.value.code == "task_delegated"
    db.session.rollback()
    with pytest.raises(Conflict):
        ops.transfer_task(task.id, delegate, owner.id, "转回去")
    db.session.rollback()
    with pytest.raises(Conflict):
        runtime.unclaim_task(task.id, delegate)
    db.session.rollback()
    # the owner waits for the return
    with pytest.raises(Conflict):
        runtime.complete_task(task.id, owner, _dispatch())
    db.session.rollback()
    with pytest.raises(Forbidden):
        ops.resolve_delegation(task.id, owner, "我自己归还")
    db.session.rollback()
    # return needs an opinion (per-field error, nothing changes)
    resp = web("xn_colleague").post(f"/tasks/{task.id}/resolve", data={"opinion": ""})
    assert resp.status_code == 422 and "请填写办理意见" in resp.get_data(as_text=True)
    assert _reload(task.id).delegate_state == "pending"
    resp = web("xn_colleague").post(f"/tasks/{task.id}/resolve", data={"opinion": "照片与现场一致，建议认定"})
    assert resp.status_code == 302
    task = _reload(task.id)
    assert (task.assignee_id, task.delegate_state, task.status) == (owner.id, "resolved", "open")
    [event] = _events(case, "delegate_returned")
    assert event.actor_id == delegate.id and event.comment == "照片与现场一致，建议认定"
    # the owner sees the delegate's opinion and completes the step
    page = web("xn_supervisor").get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "照片与现场一致，建议认定" in page
    complete(case, "xn_supervisor", _dispatch())
    assert _reload(task.id).completed_by_id == owner.id
    with pytest.raises(Conflict):
        ops.resolve_delegation(task.id, delegate, "再次归还")


def test_delegate_through_the_api(api):
    case = make_case()
    task = open_task(case)
    resp = api("xn_supervisor").post(f"/api/v1/tasks/{task.id}/delegate", json={"target_user_id": user("xn_colleague").id})
    assert resp.status_code == 200 and resp.get_json()["delegate_state"] == "pending"
    resp = api("xn_colleague").post(f"/api/v1/tasks/{task.id}/complete", json={"data": _dispatch()})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "task_delegated"
    resp = api("xn_colleague").post(f"/api/v1/tasks/{task.id}/resolve", json={"opinion": "已核实"})
    assert resp.status_code == 200 and resp.get_json()["assignee_id"] == user("xn_supervisor").id


# ------------------------------------------------------------------ 催办

def test_urge_reminds_the_holders_once_an_hour_and_is_counted(web):
    start = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(minutes=5)
    with time_machine.travel(start, tick=False):
        case = make_case()
        task = open_task(case)
        sent = ops.urge_case(case.id, user("nn_city"), "请尽快认定")
        db.session.commit()
        # both candidates of the unclaimed county task get an in-app notice
        assert sorted(n.user_id for n in sent) == sorted([user("xn_supervisor").id, user("xn_colleague").id])
        assert _reload(task.id).urge_count == 1
        # an SMS to the one with a phone (the test colleague has none)
        sms = db.session.scalars(select(SmsMessage).where(SmsMessage.case_id == case.id,
                                                          SmsMessage.template_code == "URGE_REMINDER")).all()
        assert [m.user_id for m in sms] == [user("xn_supervisor").id] and "催办" in sms[0].content
        [event] = _events(case, "urged")
        assert "第 1 次" in event.summary and event.comment == "请尽快认定"
        # within the hour: refused, nothing more
        with pytest.raises(Conflict) as err:
            ops.urge_case(case.id, user("xn_supervisor"), None)
        assert err.value.code == "urge_too_soon"
        db.session.rollback()
    with time_machine.travel(start + timedelta(minutes=61), tick=False):
        ops.urge_case(case.id, user("nn_city"), None)
        db.session.commit()
        assert _reload(task.id).urge_count == 2
        s = web("xn_supervisor")
        assert "已催办 2 次" in s.get(f"/cases/{case.id}").get_data(as_text=True)
        inbox = s.get("/inbox").get_data(as_text=True)
        assert "已催办 2 次" in inbox and 'data-testid="unread-count"' in inbox
        assert "催办：【派单督办】" in s.get("/notifications").get_data(as_text=True)
        assert s.post("/notifications/read").status_code == 302
        assert db.session.scalar(select(func.count(Notification.id)).where(
            Notification.user_id == user("xn_supervisor").id, Notification.read_at.is_(None))) == 0


def test_urge_who_may(api):
    case = make_case(reporter="unit_xn")     # the enterprise started it: it may urge
    assert api("unit_xn").post(f"/api/v1/cases/{case.id}/urge", json={}).status_code == 200
    other = make_case()
    resp = api("unit_xn").post(f"/api/v1/cases/{other.id}/urge", json={})
    assert resp.status_code == 403                   # a party, but neither regulator nor starter
    assert api("qx_supervisor").post(f"/api/v1/cases/{other.id}/urge", json={}).status_code == 404
    with pytest.raises(NotFound):
        ops.urge_case(other.id, user("lz_supervisor"))
    complete(other, "xn_supervisor", _dispatch(dispatch_decision="reject", requirements="", rectify_deadline=""))
    resp = api("xn_supervisor").post(f"/api/v1/cases/{other.id}/urge", json={})
    assert resp.status_code == 409                   # closed: nothing to urge


# ------------------------------------------------------------------ 抄送

def test_copy_grants_read_access_to_the_recipient_only(web, api):
    case = make_case()
    qx, lz = web("qx_supervisor"), web("lz_supervisor")
    assert qx.get(f"/cases/{case.id}").status_code == 404
    page = web("xn_supervisor").get(f"/cases/{case.id}").get_data(as_text=True)
    qx_user, me = user("qx_supervisor"), user("xn_supervisor")
    assert f'<option value="{qx_user.id}">{qx_user.display_name}（区县局监察人员 · 青秀区）</option>' in page
    assert f'<option value="{me.id}">' not in page        # the candidates list everyone but the viewer
    resp = web("xn_supervisor").post(f"/cases/{case.id}/copy", data={"users": [str(user("qx_supervisor").id)],
                                                                     "note": "跨区域设备，请知悉"})
    assert resp.status_code == 302
    copy = db.session.scalar(select(CaseCopy).where(CaseCopy.case_id == case.id))
    assert copy.user_id == user("qx_supervisor").id and copy.read_at is None and copy.source == "manual"
    [event] = _events(case, "copied")
    assert event.comment == "跨区域设备，请知悉" and event.summary == f"抄送给 {user('qx_supervisor').display_name}"
    # the recipient reads the case, its task page and attachments; others of other counties still cannot
    assert qx.get(f"/cases/{case.id}").status_code == 200
    assert qx.get(f"/tasks/{open_task(case).id}").status_code == 200
    assert lz.get(f"/cases/{case.id}").status_code == 404
    assert api("lz_supervisor").get(f"/api/v1/cases/{case.id}").status_code == 404
    # read access is not work: the recipient cannot act on the task, nor copy further, nor urge
    with pytest.raises(Forbidden):
        runtime.complete_task(open_task(case).id, user("qx_supervisor"), _dispatch())
    db.session.rollback()
    with pytest.raises(NotFound):
        ops.copy_case(case.id, user("qx_supervisor"), [user("lz_supervisor").id])
    db.session.rollback()
    assert qx.post(f"/cases/{case.id}/log", data={"text": "抄送接收人写日志"}).status_code == 404
    assert qx.get(f"/sms/send?case_id={case.id}").status_code == 404
    assert qx.post(f"/cases/{case.id}/urge", data={}).status_code == 404
    # 抄送我的 (a tab of the inbox; /copies redirects there): listed unread, search works,
    # opening marks it read
    resp = qx.get("/copies?state=unread&q=YH")
    assert resp.status_code == 302 and resp.location == "/inbox?box=copies&q=YH&read=unread"
    page = qx.get("/inbox?box=copies").get_data(as_text=True)
    assert case.case_no in page and f'data-testid="copy-unread-{copy.id}"' in page
    assert case.case_no not in qx.get("/inbox?box=copies&q=NO-SUCH").get_data(as_text=True)
    assert qx.get(f"/copies/{copy.id}/open").status_code == 302
    db.session.expire_all()
    assert db.session.get(CaseCopy, copy.id).read_at is not None
    assert case.case_no in qx.get("/inbox?box=copies&read=read").get_data(as_text=True)
    assert case.case_no not in qx.get("/inbox?box=copies&read=unread").get_data(as_text=True)
    # the API lists it too
    items = api("qx_supervisor").get("/api/v1/copies").get_json()["items"]
    assert [i["case_no"] for i in items] == [case.case_no]


def test_copy_validation_and_roles(api):
    case = make_case()
    a = api("xn_supervisor")
    resp = a.post(f"/api/v1/cases/{case.id}/copies", json={"user_ids": []})
    assert resp.status_code == 422 and "users" in resp.get_json()["error"]["fields"]
    resp = a.post(f"/api/v1/cases/{case.id}/copies", json={"user_ids": [user("unit_qx").id]})
    assert resp.status_code == 422      # an enterprise that is no party of the case
    resp = a.post(f"/api/v1/cases/{case.id}/copies", json={"roles": ["sys_admin"]})
    assert resp.status_code == 422 and "roles" in resp.get_json()["error"]["fields"]
    # by role: the city supervisors whose jurisdiction holds the case (not other cities')
    resp = a.post(f"/api/v1/cases/{case.id}/copies", json={"roles": ["city_supervisor"], "note": "报市局"})
    assert resp.status_code == 201
    assert [i["user_id"] for i in resp.get_json()["items"]] == [user("nn_city").id]
    # the same unread copy again: refused, nothing added
    resp = a.post(f"/api/v1/cases/{case.id}/copies", json={"roles": ["city_supervisor"]})
    assert resp.status_code == 409
    # an enterprise user may copy only while holding a task of the case
    assert api("unit_xn").post(f"/api/v1/cases/{case.id}/copies",
                               json={"user_ids": [user("xn_supervisor").id]}).status_code == 403


def test_bpmn_cc_roles_copy_the_case_when_the_step_completes():
    case = make_case()
    complete(case, "xn_supervisor", _dispatch())          # dispatch has ccRoles=city_supervisor
    copies = db.session.scalars(select(CaseCopy).where(CaseCopy.case_id == case.id)).all()
    assert [(c.user_id, c.source, c.step_name) for c in copies] == [(user("nn_city").id, "bpmn", "派单督办")]
    [event] = _events(case, "copied")
    assert event.actor_id is None and event.summary.endswith(f"给 {user('nn_city').display_name}")


# ------------------------------------------------------------------ 审批意见 / 手写签名

def test_opinion_required_property():
    assert ops.requirements({"opinionRequired": "true"}) == {"opinion": True, "signature": False}
    case = make_case()
    task = open_task(case)
    with pytest.raises(ValidationFailed) as err:
        ops.check_step_requirements(task, {"opinionRequired": "true"}, {"opinion": " "}, user("xn_supervisor"), {})
    assert "必须填写审批意见" in err.value.fields["opinion"]
    assert ops.check_step_requirements(task, {"opinionRequired": "true"}, {"opinion": "同意"},
                                       user("xn_supervisor"), {}) == []
    # the major_hazard regulator steps carry the property
    assert ops.requirements(ops.step_props(task))["opinion"] is True


def test_signature_checks():
    good = png(inked=40)
    assert ops.decode_signature("data:image/png;base64," + base64.b64encode(good).decode()) == good
    cases = {
        "": "请在签名板上签名",
        "data:image/jpeg;base64,/9j/4AAQ": "PNG",
        "data:image/png;base64,@@@": "无法解码",
        base64.b64encode(b"GIF89a" + b"\0" * 40).decode(): "PNG",
        base64.b64encode(png(inked=0)).decode(): "空白",
        base64.b64encode(png(inked=40, rgb=True)).decode(): "格式不正确",
        base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * (ops.SIGNATURE_MAX_BYTES + 10)).decode(): "上限",
    }
    for value, message in cases.items():
        with pytest.raises(ValidationFailed) as err:
            ops.decode_signature(value)
        assert message in err.value.fields["signature"], (value[:40], err.value.fields)


def test_signature_required_step_stores_the_signature_with_the_step(monkeypatch, web):
    """A step with signatureRequired: refused without a signature (form kept), stored with SM3 and
    shown on the timeline entry of that step."""
    original = runtime._user_task_props

    def with_signature(spiff_task):
        props = dict(original(spiff_task))
        if spiff_task.task_spec.bpmn_id == "dispatch":
            props["signatureRequired"] = "true"
        return props
    monkeypatch.setattr(runtime, "_user_task_props", with_signature)
    case = make_case()
    task = open_task(case)
    s = web("xn_supervisor")
    assert 'data-signature-pad' in s.get(f"/tasks/{task.id}").get_data(as_text=True)
    resp = s.post(f"/tasks/{task.id}", data={**_dispatch(), "signature": ""})
    assert resp.status_code == 422 and "该环节需要手写签名" in resp.get_data(as_text=True)
    assert _reload(task.id).status == "open"
    blank = "data:image/png;base64," + base64.b64encode(png(inked=0)).decode()
    resp = s.post(f"/tasks/{task.id}", data={**_dispatch(), "signature": blank})
    assert resp.status_code == 422 and "空白" in resp.get_data(as_text=True)
    signed = "data:image/png;base64," + base64.b64encode(png(inked=300)).decode()
    resp = s.post(f"/tasks/{task.id}", data={**_dispatch(), "signature": signed})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    [event] = [e for e in _events(case, "completed") if e.task_def == "dispatch"]
    from app.core.models import Attachment
    [att_id] = __import__("json").loads(event.attachment_ids)
    att = db.session.get(Attachment, att_id)
    assert (att.filename, att.mime, att.case_id) == ("手写签名.png", "image/png", case.id) and len(att.sm3) == 64
    page = s.get(f"/cases/{case.id}").get_data(as_text=True)
    assert 'data-testid="signature-image"' in page


# ------------------------------------------------------------------ 加签 / 减签

def test_before_sign_then_the_holder_completes(web):
    case = make_case()
    task = open_task(case)
    holder, chief = user("xn_supervisor"), user("nn_city")
    # the page's signer list: exactly the people may_sign admits (read by region, not filtered from all)
    everyone = db.session.scalars(select(User).where(User.id != holder.id).order_by(User.region_code, User.username))
    expected = [u.id for u in everyone if ops.may_sign(u, task)]
    assert [u.id for u in ops.sign_candidates(task, holder)] == expected and chief.id in expected
    assert user("qx_supervisor").id not in expected
    with pytest.raises(ValidationFailed) as err:     # another county's supervisor cannot sign a 兴宁区 step
        ops.add_signer(task.id, holder, user("qx_supervisor").id, "before")
    assert "不能签署" in err.value.fields["signer"]
    db.session.rollback()
    with pytest.raises(ValidationFailed) as err:
        ops.add_signer(task.id, holder, chief.id, "sideways")
    assert "kind" in err.value.fields
    db.session.rollback()
    resp = web("xn_supervisor").post(f"/tasks/{task.id}/signers", data={"signer": str(chief.id), "kind": "before",
                                                                         "note": "请市局把关"})
    assert resp.status_code == 302
    task = _reload(task.id)
    assert (task.assignee_id, task.delegate_state, task.owner_id) == (chief.id, "signing", holder.id)
    # nobody completes while the signer has not signed
    for person in (holder, chief):
        with pytest.raises(Conflict):
            runtime.complete_task(task.id, person, _dispatch())
        db.session.rollback()
    with pytest.raises(Forbidden):
        ops.sign_task(task.id, holder, "我替他签")
    db.session.rollback()
    page = web("nn_city").get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'data-testid="sign"' in page and "前加签" in page
    resp = web("nn_city").post(f"/tasks/{task.id}/sign", data={"opinion": ""})
    assert resp.status_code == 422 and "请填写签署意见" in resp.get_data(as_text=True)
    assert web("nn_city").post(f"/tasks/{task.id}/sign", data={"opinion": "同意认定"}).status_code == 302
    task = _reload(task.id)
    assert (task.assignee_id, task.delegate_state) == (holder.id, None)
    [row] = ops.signs(task)
    assert (row.status, row.opinion) == ("signed", "同意认定")
    # the signer already acted: cannot be removed, cannot sign again
    with pytest.raises(Conflict) as err:
        ops.remove_signer(task.id, holder, row.id)
    assert err.value.code == "sign_acted" and err.value.message == "韦南宁（演示） 已签署，不能减签"
    db.session.rollback()
    with pytest.raises(Conflict):
        ops.sign_task(task.id, chief, "再签一次")
    db.session.rollback()
    complete(case, "xn_supervisor", _dispatch())
    assert _reload(task.id).completed_by_id == holder.id
    kinds = [e.kind for e in db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                                                 .order_by(CaseEvent.seq))]
    assert kinds.index("sign_added") < kinds.index("signed") < kinds.index("completed")


def test_after_sign_chain_completes_the_engine_task_after_the_last_signer(api):
    case = make_case()
    task = open_task(case)
    holder, colleague, chief = user("xn_supervisor"), user("xn_colleague"), user("nn_city")
    a = api("xn_supervisor")
    for signer in (colleague, chief):
        resp = a.post(f"/api/v1/tasks/{task.id}/signers", json={"signer_user_id": signer.id, "kind": "after"})
        assert resp.status_code == 201, resp.get_json()
    resp = a.post(f"/api/v1/tasks/{task.id}/signers", json={"signer_user_id": chief.id, "kind": "after"})
    assert resp.status_code == 422 and "已在加签名单中" in resp.get_json()["error"]["fields"]["signer"]
    # the holder submits: held, not completed; the first signer has it
    resp = a.post(f"/api/v1/tasks/{task.id}/complete", json={"data": _dispatch(opinion="拟认定")})
    assert resp.status_code == 200
    task = _reload(task.id)
    assert (task.status, task.delegate_state, task.assignee_id) == ("open", "countersign", colleague.id)
    assert case.current_step == "派单督办"
    # out of turn
    assert api("nn_city").post(f"/api/v1/tasks/{task.id}/sign", json={"opinion": "抢先"}).status_code == 403
    assert api("xn_colleague").post(f"/api/v1/tasks/{task.id}/sign", json={"opinion": "同意"}).status_code == 200
    assert _reload(task.id).assignee_id == chief.id
    resp = api("nn_city").post(f"/api/v1/tasks/{task.id}/sign", json={"opinion": "同意，市局知悉"})
    assert resp.status_code == 200
    task = _reload(task.id)
    assert (task.status, task.completed_by_id, task.delegate_state) == ("completed", holder.id, None)
    db.session.expire_all()
    assert "整改反馈" in (db.session.get(type(case), case.id).current_step or "")
    [done] = [e for e in _events(case, "completed") if e.task_def == "dispatch"]
    assert done.actor_id == holder.id and "后加签已签署" in done.summary and done.comment == "拟认定"


def test_after_signer_added_in_the_same_transaction_as_the_submission_holds_it():
    """The lock read (runtime.get_task_for_update) remembers "no 后加签 waits"; adding one afterwards in the
    same transaction must not let the submission skip the signer."""
    case = make_case()
    task = open_task(case)
    holder, chief = user("xn_supervisor"), user("nn_city")
    runtime.get_task_for_update(task.id)               # the fact is read under the lock …
    ops.add_signer(task.id, holder, chief.id, "after")  # … then a signer arrives in the same transaction
    runtime.complete_task(task.id, holder, {"dispatch_decision": "reject", "opinion": "拟认定"})
    db.session.flush()
    assert db.session.get(Task, task.id).delegate_state == "countersign"
    assert not [e for e in _events(case, "completed") if e.task_def == "dispatch"]
    db.session.rollback()


def test_remove_signer_only_before_acting_and_only_by_the_owner():
    case = make_case()
    task = open_task(case)
    holder, colleague, chief = user("xn_supervisor"), user("xn_colleague"), user("nn_city")
    ops.add_signer(task.id, holder, chief.id, "after")
    first = ops.add_signer(task.id, holder, colleague.id, "before")
    db.session.commit()
    with pytest.raises(Conflict):        # while a before-signer has it, the holder adds nobody
        ops.add_signer(task.id, holder, user("gx_province").id, "before")
    db.session.rollback()
    with pytest.raises(Forbidden):       # the current signer cannot strike themselves off
        ops.remove_signer(task.id, colleague, first.id)
    db.session.rollback()
    # the owner removes the current before-signer: the task comes back to the owner
    ops.remove_signer(task.id, holder, first.id)
    db.session.commit()
    task = _reload(task.id)
    assert (task.assignee_id, task.delegate_state) == (holder.id, None)
    [event] = _events(case, "sign_removed")
    assert "移除 兴宁同事（测试）" in event.summary
    # remove the after-signer too: the submission then completes the step at once
    after = [s for s in ops.signs(task) if s.kind == "after"][0]
    ops.remove_signer(task.id, holder, after.id)
    db.session.commit()
    complete(case, "xn_supervisor", _dispatch())
    assert _reload(task.id).status == "completed"


# ------------------------------------------------------------------ 代理人

def test_deputy_settings_validate_and_audit(web):
    from app.security.models import AuditLog
    s = web("xn_supervisor")
    today = today_local()
    resp = s.post("/settings/deputy", data={"deputy": str(user("qx_supervisor").id), "starts_on": "2026-02-30",
                                            "ends_on": ""})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "同一角色、同一辖区" in body and body.count("请填写日期") == 4   # summary + field, twice
    resp = s.post("/settings/deputy", data={"deputy": str(user("xn_colleague").id),
                                            "starts_on": (today + timedelta(days=5)).isoformat(),
                                            "ends_on": (today + timedelta(days=1)).isoformat()})
    assert resp.status_code == 422 and "结束日期不能早于开始日期" in resp.get_data(as_text=True)
    resp = s.post("/settings/deputy", data={"deputy": str(user("xn_colleague").id), "starts_on": today.isoformat(),
                                            "ends_on": (today + timedelta(days=6)).isoformat(), "note": "年休假"})
    assert resp.status_code == 302
    audit = db.session.scalar(select(AuditLog).where(AuditLog.object_type == "user_deputy"))
    assert audit is not None and "设置代理人" in audit.summary
    # an overlapping range is refused on its own field
    resp = s.post("/settings/deputy", data={"deputy": str(user("xn_colleague").id),
                                            "starts_on": (today + timedelta(days=3)).isoformat(),
                                            "ends_on": (today + timedelta(days=9)).isoformat()})
    assert resp.status_code == 422 and "重叠" in resp.get_data(as_text=True)
    assert "代理中" in s.get("/settings/deputy").get_data(as_text=True)
    assert web("xn_colleague").get("/settings/deputy").get_data(as_text=True).count("黄兴宁") >= 1
    assert web("sys_admin").get("/settings/deputy").status_code == 403


def test_deputy_receives_personal_tasks_and_works_claimed_ones(api, web):
    today = today_local()
    boss, deputy = user("xn_supervisor"), user("xn_colleague")
    # boss claimed a task before leaving
    claimed = make_case()
    runtime.claim_task(open_task(claimed).id, boss)
    db.session.commit()
    from app.taskops import deputies
    deputies.set_deputy(boss, deputy.id, today, today + timedelta(days=2), "出差")
    db.session.commit()
    # a transfer to the absent boss goes to the deputy, on the boss's behalf
    other = make_case()
    task = open_task(other)
    ops.transfer_task(task.id, deputy, boss.id, "请黄科长办理")
    db.session.commit()
    task = _reload(task.id)
    assert (task.assignee_id, task.deputy_for_id) == (deputy.id, boss.id)
    [event] = _events(other, "transferred")
    assert "由代理人 兴宁同事（测试） 代为办理" in event.summary
    assert assert_todo_counts_match_their_definition() > 0   # claimed, deputised and unclaimed tasks
    # the deputy sees the boss's claimed task in the inbox, marked, and completes it on the boss's behalf
    inbox = web("xn_colleague").get("/inbox").get_data(as_text=True)
    assert f"代 {boss.display_name} 办理" in inbox
    resp = api("xn_colleague").post(f"/api/v1/tasks/{open_task(claimed).id}/complete", json={"data": _dispatch()})
    assert resp.status_code == 200, resp.get_json()
    [done] = [e for e in _events(claimed, "completed") if e.task_def == "dispatch"]
    assert done.actor_id == deputy.id and f"代理人 兴宁同事（测试） 代 {boss.display_name} 办理" in done.summary
    # after the range the deputy no longer acts for the boss
    third = make_case()
    runtime.claim_task(open_task(third).id, boss)
    db.session.commit()
    with time_machine.travel(utcnow() + timedelta(days=4), tick=False):
        with pytest.raises(Conflict) as err:
            runtime.complete_task(open_task(third).id, deputy, _dispatch())
        assert err.value.code == "task_taken"
        db.session.rollback()
        assert deputies.route(boss.id) == (boss.id, None)


def test_deputy_revoke_and_api(api):
    today = today_local()
    a = api("xn_supervisor")
    resp = a.post("/api/v1/deputies", json={"deputy_id": user("xn_colleague").id, "starts_on": today.isoformat(),
                                            "ends_on": (today + timedelta(days=1)).isoformat()})
    assert resp.status_code == 201 and resp.get_json()["status"] == "代理中"
    row_id = resp.get_json()["id"]
    assert api("xn_colleague").post(f"/api/v1/deputies/{row_id}/revoke", json={}).status_code == 404
    resp = a.post(f"/api/v1/deputies/{row_id}/revoke", json={})
    assert resp.status_code == 200 and resp.get_json()["status"] == "已撤销"
    assert a.post(f"/api/v1/deputies/{row_id}/revoke", json={}).status_code == 409
    from app.taskops import deputies
    assert deputies.active_deputy(user("xn_supervisor").id) is None
    resp = api("unit_xn").post("/api/v1/deputies", json={"deputy_id": user("xn_colleague").id,
                                                          "starts_on": today.isoformat(), "ends_on": today.isoformat()})
    assert resp.status_code == 422 and "deputy" in resp.get_json()["error"]["fields"]


def _third_supervisor():
    """A third 兴宁区 county supervisor (removed after the test with every row it made)."""
    from app.core.gm import hash_password
    from app.core.models import User
    third = User(username="xn_third", display_name="兴宁第三人（测试）", role="county_supervisor",
                 region_code="450102", password_hash=hash_password("Demo@2026", 1000))
    db.session.add(third)
    db.session.commit()
    return third


def test_deputy_chain_is_followed_with_a_cycle_guard_and_a_depth_limit(api, web, monkeypatch):
    from app.taskops import deputies
    today = today_local()
    a, b, c = user("xn_supervisor"), user("xn_colleague"), _third_supervisor()
    claimed = make_case()
    runtime.claim_task(open_task(claimed).id, a)          # A claimed a task before leaving
    db.session.commit()
    deputies.set_deputy(a, b.id, today, today + timedelta(days=5), "休假")
    deputies.set_deputy(b, c.id, today, today + timedelta(days=5), "出差")   # B is away too and names C
    db.session.commit()
    assert [u.id for u in deputies.deputy_chain(a.id)] == [b.id, c.id]
    assert deputies.route(a.id) == (c.id, a.id)
    assert set(deputies.principal_ids(c.id)) == {a.id, b.id}
    # a task transferred to A lands with C, on A's behalf (not "代 B")
    other = make_case()
    ops.transfer_task(open_task(other).id, b, a.id, "请黄科长办理")
    db.session.commit()
    routed = _reload(open_task(other).id)
    assert (routed.assignee_id, routed.deputy_for_id) == (c.id, a.id)
    [event] = _events(other, "transferred")
    assert "由代理人 兴宁第三人（测试） 代为办理" in event.summary
    s = web("xn_third")
    inbox_page = s.get("/inbox").get_data(as_text=True)
    assert inbox_page.count(f"代 {a.display_name} 办理") == 2         # the routed task and A's claimed one
    assert f"代 {b.display_name} 办理" not in inbox_page
    page = s.get(f"/tasks/{routed.id}").get_data(as_text=True)
    assert 'data-testid="deputy-note"' in page and f"代 {a.display_name} 办理" in page
    page = s.get(f"/tasks/{open_task(claimed).id}").get_data(as_text=True)
    assert f"代 {a.display_name} 办理" in page and "不是它的办理人" not in page
    # C completes A's claimed task: recorded on A's behalf
    resp = api("xn_third").post(f"/api/v1/tasks/{open_task(claimed).id}/complete", json={"data": _dispatch()})
    assert resp.status_code == 200, resp.get_json()
    [done] = [e for e in _events(claimed, "completed") if e.task_def == "dispatch"]
    assert done.actor_id == c.id and f"代理人 兴宁第三人（测试） 代 {a.display_name} 办理" in done.summary
    # depth limit: with chains of one link only, A's tasks stop at A's own deputy B
    monkeypatch.setattr(deputies, "MAX_CHAIN", 1)
    assert deputies.route(a.id) == (b.id, a.id)
    monkeypatch.undo()
    # a cycle (C, away too, names A): the walk ends, A's tasks go to A's own choice B
    deputies.set_deputy(c, a.id, today, today + timedelta(days=5), "培训")
    db.session.commit()
    assert deputies.route(a.id) == (b.id, a.id)
    assert deputies.route(b.id) == (c.id, b.id)          # B → C → A → B again: B's own choice C
    assert set(deputies.principal_ids(a.id)) == {b.id, c.id}
    assert web("xn_supervisor").get("/inbox").status_code == 200      # the inbox condition terminates
    # once B is back (revoked), C no longer acts for A
    for row in deputies.my_deputies(b):
        deputies.revoke_deputy(b, row.id)
    db.session.commit()
    assert deputies.route(a.id) == (b.id, a.id)
    assert a.id not in deputies.principal_ids(c.id)


def test_header_message_badge_counts_up_to_99_plus_and_region_names_show(web):
    """The badge on every page counts unread messages up to 99 and then shows 99+ (a city
    supervisor copied on every dispatch holds tens of thousands); region names come from the cache."""
    from app.core.regions import region_name
    me = user("xn_supervisor")
    s = web("xn_supervisor")
    db.session.add_all([Notification(user_id=me.id, kind="copy", title=f"抄送 {i}") for i in range(3)])
    db.session.commit()
    page = s.get("/inbox").get_data(as_text=True)
    assert 'data-testid="unread-count">3</span>' in page
    db.session.add_all([Notification(user_id=me.id, kind="copy", title=f"抄送 {i}") for i in range(97)])
    db.session.commit()
    page = s.get("/inbox").get_data(as_text=True)
    assert 'data-testid="unread-count">99+</span>' in page
    assert f"本辖区（{region_name(me.region_code)}）" in page and region_name(me.region_code)
    assert s.post("/notifications/read").status_code == 302
    assert 'data-testid="unread-count"' not in s.get("/inbox").get_data(as_text=True)
