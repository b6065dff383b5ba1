"""Inbox (app/inbox): tab counts incl. 抄送, saved filters and their sharing scope, bulk actions — pages and API."""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select

from app.cases import services as case_services
from app.cases.models import CaseEvent, Task
from app.core.clock import today_local, utcnow
from app.extensions import db
from app.inbox import services as inbox
from app.inbox.models import SavedFilter
from app.taskops import services as ops

from .conftest import make_case, open_task, user


def _counts(username: str) -> dict:
    return {box: db.session.scalar(stmt) for box, stmt in case_services.inbox_count_statements(user(username)).items()}


def _reload(task_id: int) -> Task:
    db.session.expire_all()
    return db.session.get(Task, task_id)


def _events(case_id: int, kind: str) -> int:
    return db.session.scalar(select(func.count(CaseEvent.id)).where(CaseEvent.case_id == case_id,
                                                                    CaseEvent.kind == kind))


# ------------------------------------------------------------------ tabs and counts

def test_tab_counts_follow_the_work_and_the_api_matches_the_page(web, api):
    before = _counts("xn_supervisor")
    qx_before = _counts("qx_supervisor")
    case = make_case()
    after = _counts("xn_supervisor")
    assert after["todo"] == before["todo"] + 1 and after["started"] == before["started"] + 1
    assert _counts("qx_supervisor")["todo"] == qx_before["todo"]          # another county sees nothing
    ops.copy_case(case.id, user("xn_supervisor"), [user("qx_supervisor").id], [], "请知悉")
    db.session.commit()
    assert _counts("qx_supervisor")["copies"] == qx_before["copies"] + 1   # unread copy
    body = api("xn_supervisor").get("/api/v1/inbox/counts").get_json()
    assert body == _counts("xn_supervisor")
    page = web("qx_supervisor").get("/inbox").get_data(as_text=True)
    assert 'data-testid="tab-copies"' in page and "抄送我的" in page
    assert f'data-count="copies">{qx_before["copies"] + 1}<' in page
    assert 'js/inbox.js' in page and "<script>" not in page


def test_counts_api_needs_a_login(client):
    resp = client.get("/api/v1/inbox/counts")
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "unauthorized"


def test_due_within_filter_and_default_sort_least_time_left_first():
    soon, later = make_case(), make_case()
    t_soon, t_later = open_task(soon), open_task(later)
    t_soon.due_at = utcnow() + timedelta(days=2)
    t_later.due_at = utcnow() + timedelta(days=20)
    db.session.commit()
    me = user("xn_supervisor")
    f = case_services.InboxFilter.from_args({"due_within": "7"})
    ids = [t.id for t in db.session.scalars(case_services.inbox_query(me, f)).unique()]
    assert t_soon.id in ids and t_later.id not in ids
    ids = [t.id for t in db.session.scalars(case_services.inbox_query(me, case_services.InboxFilter())).unique()]
    assert ids.index(t_soon.id) < ids.index(t_later.id)


def test_todo_filters_counted_in_one_statement_match_each_filters_own_query():
    """filters_with_counts counts the 待办 filters together (FILTER clauses): every count must equal
    the filter's own inbox query, whatever its conditions."""
    cases = [make_case() for _ in range(3)]
    tasks = [open_task(c) for c in cases]
    tasks[0].due_at, tasks[0].warning_level = utcnow() + timedelta(days=2), "red"
    tasks[1].due_at, tasks[1].warning_level = utcnow() - timedelta(days=3), "yellow"
    tasks[2].due_at = utcnow() + timedelta(days=30)
    db.session.commit()
    me = user("xn_supervisor")
    variants = [{"box": "todo", "warning": "red"}, {"box": "todo", "overdue": "1"}, {"box": "todo", "due_within": "7"},
                {"box": "todo", "q": cases[2].case_no}, {"box": "todo", "process": "major_hazard", "status": "running"},
                {"box": "todo", "region": me.region_code, "warning": "yellow"}, {"box": "done", "process": "major_hazard"}]
    for i, args in enumerate(variants):
        inbox.create_filter(me, f"筛选{i}", args, "none")
    db.session.commit()
    rows = inbox.filters_with_counts(me)
    assert len(rows) >= len(variants)   # and the two province-shared examples
    for row in rows:
        query = case_services.inbox_query(me, case_services.InboxFilter.from_args(row["args"])).order_by(None)
        expected = db.session.scalar(select(func.count()).select_from(query.subquery()))
        assert row["count"] == expected == inbox.filter_count(me, row["filter"]), row["args"]
    counts = {r["filter"].name: r["count"] for r in rows}
    assert counts["筛选0"] >= 1 and counts["筛选1"] >= 1 and counts["筛选3"] == 1
    assert counts["筛选2"] >= counts["筛选1"] + 1   # due within 7 days includes the overdue ones


def test_the_todo_tab_is_counted_in_the_same_pass_as_the_todo_filters(app):
    """On the inbox page the 待办 tab count comes out of the saved filters' statement: it must equal
    the tab's own count statement, and the badge must not count again."""
    from sqlalchemy import event
    make_case(), make_case()
    db.session.commit()
    me = user("xn_supervisor")
    inbox.create_filter(me, "红色", {"box": "todo", "warning": "red"}, "none")
    db.session.commit()
    expected = db.session.scalar(case_services.inbox_count_statements(me)["todo"])
    assert expected >= 2
    statements = []
    listen = lambda *a: statements.append(a[2])   # noqa: E731
    with app.test_request_context("/inbox"):
        inbox.filters_with_counts(me)
        event.listen(db.engine, "before_cursor_execute", listen)
        try:
            assert case_services.todo_count(me) == expected
            counts = case_services.inbox_counts(me)
        finally:
            event.remove(db.engine, "before_cursor_execute", listen)
    assert counts["todo"] == expected
    assert len(statements) == 3 and not any("task.status = " in s and "candidate_role" in s for s in statements), \
        statements   # done, started, copies: the todo count was not made again


# ------------------------------------------------------------------ saved filters

def test_saved_filter_per_field_errors_and_unique_name_per_owner():
    me = user("xn_supervisor")
    try:
        inbox.create_filter(me, "", {}, "everyone")
        raise AssertionError("expected ValidationFailed")
    except Exception as err:  # noqa: BLE001
        assert set(err.fields) == {"name", "shared_with", "args"}
        assert err.fields["name"] == "请填写筛选名称"
    db.session.rollback()
    inbox.create_filter(me, "红色预警", {"warning": "red", "page": "3"}, "none")
    db.session.commit()
    row = db.session.scalar(select(SavedFilter).where(SavedFilter.owner_id == me.id, SavedFilter.name == "红色预警"))
    assert json.loads(row.args) == {"box": "todo", "warning": "red"}          # page is not part of a filter
    try:
        inbox.create_filter(me, "红色预警", {"warning": "orange"}, "none")
        raise AssertionError("expected ValidationFailed")
    except Exception as err:  # noqa: BLE001
        assert "已有名为" in err.fields["name"]
    db.session.rollback()
    # another user may use the same name
    inbox.create_filter(user("xn_colleague"), "红色预警", {"warning": "red"}, "none")
    db.session.commit()
    # enterprises cannot share with a region
    try:
        inbox.create_filter(user("unit_xn"), "我的", {"warning": "red"}, "region")
        raise AssertionError("expected ValidationFailed")
    except Exception as err:  # noqa: BLE001
        assert "监管人员" in err.fields["shared_with"]
    db.session.rollback()


def test_region_sharing_stays_in_the_region_and_counts_use_the_viewers_scope(api):
    case = make_case()
    task = open_task(case)
    task.warning_level = "red"
    db.session.commit()
    created = api("xn_supervisor").post("/api/v1/inbox/filters", json={
        "name": "本辖区红色预警(测)", "args": {"warning": "red"}, "shared_with": "region"})
    assert created.status_code == 201, created.get_json()
    fid = created.get_json()["id"]
    assert created.get_json()["share_region"] == "450102"

    def names(username):
        return {e["id"]: e for e in api(username).get("/api/v1/inbox/filters").get_json()["items"]}
    assert fid in names("xn_colleague")                      # same county
    assert fid not in names("qx_supervisor")                 # another county: not visible
    assert fid not in names("lz_supervisor")                 # another city
    assert fid not in names("nn_city")                       # the city above: not "in" 兴宁区
    assert fid not in names("unit_xn")                       # an enterprise of the county
    mine = names("xn_colleague")[fid]
    assert mine["own"] is False
    expected = db.session.scalar(select(func.count()).select_from(
        case_services.inbox_query(user("xn_colleague"), case_services.InboxFilter(warning="red"))
        .order_by(None).subquery()))
    assert mine["count"] == expected >= 1
    # role sharing: every county supervisor sees it, counted in their own scope (qx: not this case)
    shared = api("xn_supervisor").post("/api/v1/inbox/filters", json={
        "name": "红色(同角色)", "args": {"warning": "red"}, "shared_with": "role"}).get_json()
    qx_view = names("qx_supervisor")
    assert shared["id"] in qx_view and qx_view[shared["id"]]["count"] == db.session.scalar(select(func.count()).select_from(
        case_services.inbox_query(user("qx_supervisor"), case_services.InboxFilter(warning="red"))
        .order_by(None).subquery()))
    assert shared["id"] not in names("nn_city")              # another role
    # only the owner deletes; outsiders get 404, a sharee 403
    a = api("qx_supervisor")
    resp = a.client.delete(f"/api/v1/inbox/filters/{fid}", headers=a.headers)
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"
    c = api("xn_colleague")
    resp = c.client.delete(f"/api/v1/inbox/filters/{fid}", headers=c.headers)
    assert resp.status_code == 403
    o = api("xn_supervisor")
    assert o.client.delete(f"/api/v1/inbox/filters/{fid}", headers=o.headers).status_code == 204
    assert db.session.get(SavedFilter, fid) is None


def test_api_filter_errors_are_json_per_field(api):
    resp = api("xn_supervisor").post("/api/v1/inbox/filters", json={"name": "", "args": {"warning": "red"}})
    body = resp.get_json()
    assert resp.status_code == 422 and body["error"]["code"] == "validation_failed"
    assert body["error"]["fields"] == {"name": "请填写筛选名称"}
    resp = api("xn_supervisor").post("/api/v1/inbox/filters", data="x", content_type="text/plain")
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "bad_json"


def test_save_filter_from_the_page_shows_a_chip_with_count_and_delete_asks(web):
    make_case()
    s = web("xn_supervisor")
    resp = s.post("/inbox/filters", data={"name": "兴宁待办", "shared_with": "none", "box": "todo",
                                          "process": "major_hazard", "sort": "warning"})
    assert resp.status_code == 302 and "process=major_hazard" in resp.location
    page = s.get(resp.location).get_data(as_text=True)
    assert "已保存常用筛选" in page and "兴宁待办" in page and 'data-testid="filter-count"' in page
    assert "确定删除常用筛选“兴宁待办”吗？" in page
    rid = db.session.scalar(select(SavedFilter.id).where(SavedFilter.name == "兴宁待办"))
    # duplicate: a Chinese error, nothing saved twice
    page = s.get(s.post("/inbox/filters", data={"name": "兴宁待办", "process": "major_hazard"}).location) \
        .get_data(as_text=True)
    assert "您已有名为“兴宁待办”的常用筛选" in page
    assert db.session.scalar(select(func.count(SavedFilter.id)).where(SavedFilter.name == "兴宁待办")) == 1
    assert web("qx_supervisor").post(f"/inbox/filters/{rid}/delete").status_code == 404
    assert s.post(f"/inbox/filters/{rid}/delete").status_code == 302
    db.session.expire_all()
    assert db.session.get(SavedFilter, rid) is None


# ------------------------------------------------------------------ bulk actions

def test_decision_plus_opinion_forms_are_recognised_from_the_schema():
    review = {"required": ["decision"], "properties": {"decision": {"enum": ["approve", "decline"]},
                                                        "opinion": {"type": "string"}}}
    assert inbox.decision_field(review) == ("decision", [("approve", "approve"), ("decline", "decline")])
    more = {"required": ["decision", "photos"], "properties": {"decision": {"enum": ["a"]}, "opinion": {},
                                                               "photos": {}}}
    assert inbox.decision_field(more) is None
    assert inbox.decision_field({"required": [], "properties": {"opinion": {}}}) is None


def test_bulk_approve_with_mixed_refusals_audits_every_done_item(api):
    cases = [make_case() for _ in range(3)]
    tasks = [open_task(c) for c in cases]
    taken = make_case()
    taken_task = open_task(taken)
    from app.engine import runtime
    runtime.claim_task(taken_task.id, user("xn_colleague"))
    db.session.commit()
    qx_case = make_case(reporter="qx_supervisor", unit="unit_qx")
    qx_task = open_task(qx_case)
    ids = [t.id for t in tasks] + [taken_task.id, qx_task.id]
    resp = api("xn_supervisor").post("/api/v1/tasks/bulk", json={
        "action": "approve", "task_ids": ids, "decision": "reject", "opinion": "经核查不构成重大隐患"})
    body = resp.get_json()
    assert resp.status_code == 200, body
    by_id = {r["task_id"]: r for r in body["results"]}
    assert body["done"] == 3 and body["refused"] == 2
    assert all(by_id[t.id]["status"] == "done" for t in tasks)
    assert by_id[taken_task.id]["status"] == "refused" and "签收" in by_id[taken_task.id]["reason"]
    assert by_id[qx_task.id]["status"] == "refused" and "不在您的查看范围" in by_id[qx_task.id]["reason"]
    for t, c in zip(tasks, cases):
        assert _reload(t.id).status == "completed"
        assert _events(c.id, "completed") == 1      # audited on the timeline by the engine (append_event)
    assert _reload(taken_task.id).status == "open" and _reload(qx_task.id).status == "open"


def test_bulk_approve_refuses_a_decision_that_needs_more_fields_and_leaves_it_untouched(api):
    case = make_case()
    task = open_task(case)
    events_before = db.session.scalar(select(func.count(CaseEvent.id)).where(CaseEvent.case_id == case.id))
    resp = api("xn_supervisor").post("/api/v1/tasks/bulk", json={
        "action": "approve", "task_ids": [task.id], "decision": "dispatch", "opinion": "同意督办"})
    row = resp.get_json()["results"][0]
    assert row["status"] == "refused" and "表单还需填写" in row["reason"] and "整改要求" in row["reason"]
    assert _reload(task.id).status == "open"
    assert db.session.scalar(select(func.count(CaseEvent.id)).where(CaseEvent.case_id == case.id)) == events_before
    resp = api("xn_supervisor").post("/api/v1/tasks/bulk", json={
        "action": "approve", "task_ids": [task.id], "decision": "nonsense", "opinion": "同意督办"})
    assert "没有所选结论" in resp.get_json()["results"][0]["reason"]


def test_bulk_request_errors_per_field(api):
    resp = api("xn_supervisor").post("/api/v1/tasks/bulk", json={"action": "approve", "task_ids": []})
    fields = resp.get_json()["error"]["fields"]
    assert resp.status_code == 422 and set(fields) == {"task_ids", "decision", "opinion"}
    resp = api("xn_supervisor").post("/api/v1/tasks/bulk", json={"action": "delete", "task_ids": [1]})
    assert "action" in resp.get_json()["error"]["fields"]


def test_bulk_claim_and_transfer_through_the_page(web):
    a, b = make_case(), make_case()
    ta, tb = open_task(a), open_task(b)
    s = web("xn_supervisor")
    page = s.get("/inbox").get_data(as_text=True)
    assert 'data-check-all="task_ids"' in page and f'value="{ta.id}"' in page
    resp = s.post("/inbox/bulk", data={"action": "claim", "task_ids": [str(ta.id), str(tb.id)]})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "完成 <strong>2</strong> 件" in html
    assert _reload(ta.id).assignee_id == user("xn_supervisor").id
    assert _events(a.id, "claimed") == 1
    colleague = user("xn_colleague")
    resp = s.post("/inbox/bulk", data={"action": "transfer", "task_ids": [str(ta.id), str(tb.id)],
                                       "target": str(colleague.id), "opinion": "请协助办理"})
    assert "完成 <strong>2</strong> 件" in resp.get_data(as_text=True)
    assert _reload(ta.id).assignee_id == colleague.id and _reload(tb.id).assignee_id == colleague.id
    assert _events(a.id, "transferred") == 1 and _events(b.id, "transferred") == 1
    # the former holder now is refused per item, with the reason
    resp = s.post("/inbox/bulk", data={"action": "claim", "task_ids": [str(ta.id)]})
    html = resp.get_data(as_text=True)
    assert "未处理 <strong>1</strong> 件" in html and "签收" in html
    # no selection: a Chinese error on the inbox
    resp = s.post("/inbox/bulk", data={"action": "claim"})
    assert resp.status_code == 302
    assert "请至少勾选一条待办" in s.get(resp.location).get_data(as_text=True)


def test_seeded_examples_are_shared_with_the_whole_province_and_are_real_queries(api):
    items = {e["name"]: e for e in api("qx_supervisor").get("/api/v1/inbox/filters").get_json()["items"]}
    assert items["本辖区红色预警"]["args"]["warning"] == "red" and items["本周到期"]["args"]["due_within"] == "7"
    assert items["本辖区红色预警"]["own"] is False and items["本辖区红色预警"]["share_region"] == "45"
    names = {e["name"] for e in api("unit_xn").get("/api/v1/inbox/filters").get_json()["items"]}
    assert "本周到期" not in names                           # shared with regulators of the region only
    assert inbox.seed_examples() == 0                        # idempotent


def test_bulk_approve_with_a_shared_opinion_and_one_per_row_through_the_page(web):
    cases = [make_case() for _ in range(3)]
    tasks = [open_task(c) for c in cases]
    s = web("xn_supervisor")
    page = s.get("/inbox").get_data(as_text=True)
    for t in tasks:
        assert f'name="opinion_{t.id}" form="bulk-form"' in page
    assert '<option value="return">' in page
    resp = s.post("/inbox/bulk", data={"action": "approve", "decision": "reject",
                                       "task_ids": [str(t.id) for t in tasks], "opinion": "经核查不构成重大隐患",
                                       f"opinion_{tasks[1].id}": "现场复查，隐患已当场消除",
                                       f"opinion_{tasks[2].id}": "  "})          # blank: the shared one
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "完成 <strong>3</strong> 件" in html and "现场复查，隐患已当场消除" in html
    comments = [db.session.scalar(select(CaseEvent.comment).where(CaseEvent.case_id == c.id,
                                                                  CaseEvent.kind == "completed")) for c in cases]
    assert comments == ["经核查不构成重大隐患", "现场复查，隐患已当场消除", "经核查不构成重大隐患"]
    # a row's own opinion too short: refused up front with a Chinese message naming the task, nothing done
    more = make_case()
    t = open_task(more)
    resp = s.post("/inbox/bulk", data={"action": "approve", "decision": "reject", "task_ids": [str(t.id)],
                                       "opinion": "经核查不构成重大隐患", f"opinion_{t.id}": "否"})
    assert f"任务 #{t.id} 单独填写的审批意见须为 2–1000 个字" in s.get(resp.location).get_data(as_text=True)
    assert _reload(t.id).status == "open"


def test_bulk_return_through_the_page_names_the_step_or_the_reason(web):
    from .test_hazard_process import dispatch, feedback
    returnable = make_case()
    dispatch(returnable)
    feedback(returnable)
    verify = open_task(returnable)
    assert verify.task_def == "verify_bureau"
    first = open_task(make_case())                       # 派单督办: nothing before it
    s = web("xn_supervisor")
    resp = s.post("/inbox/bulk", data={"action": "return", "task_ids": [str(verify.id), str(first.id)],
                                       "opinion": "整改证明材料不合格"})
    html = resp.get_data(as_text=True)
    assert "批量退回：完成 <strong>1</strong> 件，未处理 <strong>1</strong> 件" in html
    assert "退回至【整改反馈】" in html and "本环节之前没有可退回的办理环节" in html
    reopened = open_task(returnable)
    assert reopened.task_def == "rectify" and reopened.assignee_id == user("unit_xn").id
    assert _events(returnable.id, "returned") == 1 and _reload(first.id).status == "open"


# ------------------------------------------------------------------ 抄送我的 tab

def test_copies_tab_lists_filters_pages_highlights_and_marks_read_on_open(web):
    from app.taskops.models import CaseCopy
    sender = user("xn_supervisor")
    cases = [make_case() for _ in range(6)]
    for case in cases:
        ops.copy_case(case.id, sender, [user("qx_supervisor").id], [], f"请知悉 {case.case_no}")
    db.session.commit()
    red = open_task(cases[0])
    red.case.warning_level = "red"
    db.session.commit()
    copies = {c.case_id: c for c in db.session.scalars(select(CaseCopy).where(
        CaseCopy.user_id == user("qx_supervisor").id, CaseCopy.case_id.in_([c.id for c in cases])))}
    s = web("qx_supervisor")
    page = s.get("/inbox?box=copies&per_page=5").get_data(as_text=True)
    assert 'class="nav-link active" data-testid="tab-copies"' in page
    assert '<a href="/copies" class="nav-link active" aria-current="page">抄送我的</a>' in page          # the side navigation too
    assert page.count('data-testid="unread-tag"') == 5 and "共 6 条，第 1/2 页" in page
    assert 'name="read"' in page and "黄兴宁（演示）" in page and "请知悉" in page
    assert 'data-testid="bulk-form"' not in page                  # copies are read-only: no bulk panel
    page2 = s.get("/inbox?box=copies&per_page=5&page=2").get_data(as_text=True)
    shown = [c.case_no for c in cases if c.case_no in page]
    shown2 = [c.case_no for c in cases if c.case_no in page2]
    assert len(shown) == 5 and len(shown2) == 1 and not set(shown) & set(shown2)
    # filters of the inbox apply: keyword, warning, process
    only = s.get(f"/inbox?box=copies&q={cases[3].case_no}").get_data(as_text=True)
    assert cases[3].case_no in only and cases[2].case_no not in only
    reds = s.get("/inbox?box=copies&warning=red").get_data(as_text=True)
    assert cases[0].case_no in reds and cases[1].case_no not in reds
    assert cases[1].case_no not in s.get("/inbox?box=copies&process=equipment_transfer").get_data(as_text=True)
    # opening marks read: the highlight and the badge (unread count) follow
    before = _counts("qx_supervisor")["copies"]
    target = copies[cases[1].id]
    assert f'href="/copies/{target.id}/open"' in page + page2
    resp = s.get(f"/copies/{target.id}/open")
    assert resp.status_code == 302 and resp.location == f"/cases/{cases[1].id}"
    assert _counts("qx_supervisor")["copies"] == before - 1
    page = s.get("/inbox?box=copies&read=read").get_data(as_text=True)
    assert cases[1].case_no in page and f'copy-unread-{target.id}' not in page
    unread = s.get("/inbox?box=copies&read=unread").get_data(as_text=True)
    assert cases[1].case_no not in unread and cases[2].case_no in unread
    # another user's copy cannot be opened (404), and is not listed
    assert web("xn_colleague").get(f"/copies/{target.id}/open").status_code == 404
    assert cases[1].case_no not in web("xn_colleague").get("/inbox?box=copies").get_data(as_text=True)


def test_a_saved_filter_of_the_copies_tab_keeps_its_box_and_read_state():
    me = user("qx_supervisor")
    row = inbox.create_filter(me, "未读抄送", {"box": "copies", "read": "unread"}, "none")
    db.session.commit()
    assert json.loads(row.args) == {"box": "copies", "read": "unread"}
    assert inbox.filter_count(me, row) == _counts("qx_supervisor")["copies"]
    # the read state belongs to the copies tab only
    assert inbox.clean_args({"box": "todo", "read": "unread", "warning": "red"}) == {"box": "todo", "warning": "red"}


# ------------------------------------------------------------------ sort by a business field

def test_business_fields_are_declared_per_process_and_only_offered_with_that_process(web):
    from app.cases import sortfields
    assert [f.label for f in sortfields.for_process("major_hazard")] == ["整改期限", "设备代码", "使用单位"]
    assert sortfields.for_process(None) == () and sortfields.for_process("no_such") == ()
    # accepted only together with its process; otherwise the default sort
    f = case_services.InboxFilter.from_args({"process": "major_hazard", "sort": "biz:rectify_deadline"})
    assert f.sort == "biz:rectify_deadline"
    assert case_services.InboxFilter.from_args({"sort": "biz:rectify_deadline"}).sort == "due"
    assert case_services.InboxFilter.from_args({"process": "equipment_transfer",
                                                "sort": "biz:rectify_deadline"}).sort == "due"
    s = web("xn_supervisor")
    page = s.get("/inbox").get_data(as_text=True)
    assert 'value="biz:' not in page and 'data-testid="business-sort-hint"' in page
    page = s.get("/inbox?process=major_hazard").get_data(as_text=True)
    assert '<optgroup label="业务字段（' in page and 'value="biz:rectify_deadline"' in page


def test_sort_by_rectify_deadline_equipment_code_and_unit_in_every_box(web):
    from .conftest import equipment_of
    from .test_hazard_process import dispatch
    # three equipment of the same unit, dispatched with deadlines 20, 5 and 12 days ahead
    codes = [equipment_of("unit_xn", i).code for i in range(3)]
    cases = [make_case(equipment_code=code) for code in codes]
    for case, days in zip(cases, (20, 5, 12)):
        dispatch(case, days=days)
    me = user("unit_xn")

    def order(box: str, sort: str) -> list[int]:
        f = case_services.InboxFilter.from_args({"box": box, "process": "major_hazard", "sort": sort})
        rows = db.session.scalars(case_services.inbox_query(me, f)).unique().all()
        ids = [r.case_id if box == "todo" else r.id for r in rows]
        return [i for i in ids if i in {c.id for c in cases}]
    assert order("todo", "biz:rectify_deadline") == [cases[1].id, cases[2].id, cases[0].id]
    by_code = [c.id for _, c in sorted(zip(codes, cases))]
    assert order("todo", "biz:equipment_code") == by_code
    sup = user("xn_supervisor")
    f = case_services.InboxFilter.from_args({"box": "started", "process": "major_hazard",
                                             "sort": "biz:rectify_deadline"})
    started = [c.id for c in db.session.scalars(case_services.inbox_query(sup, f)).unique() if c.id in
               {x.id for x in cases}]
    assert started == [cases[1].id, cases[2].id, cases[0].id]
    f = case_services.InboxFilter.from_args({"box": "done", "process": "major_hazard", "sort": "biz:rectify_deadline"})
    done = [t.case_id for t in db.session.scalars(case_services.inbox_query(sup, f)).unique()
            if t.case_id in {x.id for x in cases}]
    assert done == [cases[1].id, cases[2].id, cases[0].id]
    # the page shows the field in its own column, in that order
    page = web("unit_xn").get("/inbox?process=major_hazard&sort=biz:rectify_deadline").get_data(as_text=True)
    assert 'data-testid="business-col">整改期限<' in page
    positions = [page.index(c.case_no) for c in (cases[1], cases[2], cases[0])]
    assert positions == sorted(positions)
    deadline = (today_local() + timedelta(days=5)).isoformat()
    assert f'data-testid="business-value"><span class="nowrap">{deadline}</span><' in page
    # unit name (抄送我的 tab of the province): cases of two units, sorted by the organisation's name
    from app.core.models import Organization
    qx_case = make_case(reporter="qx_supervisor", unit="unit_qx")
    ops.copy_case(qx_case.id, user("qx_supervisor"), [user("gx_province").id], [], "请知悉")
    ops.copy_case(cases[0].id, sup, [user("gx_province").id], [], "请知悉")
    db.session.commit()
    names = {c.id: db.session.get(Organization, c.org_id).name for c in (qx_case, cases[0])}
    assert len(set(names.values())) == 2
    f = case_services.InboxFilter.from_args({"box": "copies", "process": "major_hazard", "sort": "biz:use_org"})
    got = [c.case_id for c in db.session.scalars(case_services.inbox_query(user("gx_province"), f)).unique()]
    assert got == sorted(names, key=lambda i: names[i])


def test_the_tasks_api_lists_the_copies_box_with_the_inbox_filters(api):
    case, other = make_case(), make_case()
    for c in (case, other):
        ops.copy_case(c.id, user("xn_supervisor"), [user("qx_supervisor").id], [], "请知悉")
    db.session.commit()
    body = api("qx_supervisor").get(f"/api/v1/tasks?box=copies&q={case.case_no}&counts=1").get_json()
    assert body["total"] == 1 and body["items"][0]["case_no"] == case.case_no
    assert body["items"][0]["read_at"] is None and body["counts"]["copies"] >= 2
    body = api("qx_supervisor").get("/api/v1/tasks?box=copies&read=read").get_json()
    assert body["total"] == 0
