"""The served API document (docs/openapi.json merged with docs/openapi.d/*.json): valid OpenAPI, one entry for every /api/v1 route and
method (and none for a route that does not exist), resolvable references, unique operation ids, and
the responses of real calls match the schema documented for their status code — field by field,
including fields the document does not mention."""
from __future__ import annotations

import ast
import json
import pathlib
import re
from datetime import timedelta

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate as validate_spec
from referencing import Registry
from referencing.jsonschema import DRAFT4

from app.api.document import build_document, reference_text
from app.core.clock import today_local

from .conftest import complete, make_case, open_task, upload, user
from .test_review import demo, do, start_demo, tasks  # noqa: F401  (demo: the fixture)

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = build_document()
DOC_URI = "urn:gx:openapi"
REGISTRY = Registry().with_resource(DOC_URI, DRAFT4.create_resource(DOC))
METHODS = ("get", "put", "post", "delete", "patch")


def _template(rule: str) -> str:
    """Flask's /tasks/<int:task_id> → OpenAPI's /tasks/{task_id} (<x>, <path:x> alike)."""
    return re.sub(r"<(?:[a-z]+:)?([a-zA-Z_][a-zA-Z0-9_]*)>", r"{\1}", rule)


def _operations(doc: dict) -> set[tuple[str, str]]:
    return {(path, method) for path, item in doc["paths"].items() for method in item if method in METHODS}


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _resolve(ref: str):
    assert ref.startswith("#/"), f"only local references are used: {ref}"
    node = DOC
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[part]
    return node


# ------------------------------------------------------------------ the document itself

def test_document_is_valid_openapi_3():
    assert DOC["openapi"].startswith("3.")
    validate_spec(DOC)


def test_served_document_is_the_file(client):
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    assert resp.get_json() == DOC


def test_every_api_route_and_method_is_documented_and_nothing_else(app):
    routes = {(_template(rule.rule), method.lower()) for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/") for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = _operations(DOC)
    assert sorted(routes - documented) == [], "routes missing from docs/openapi.json"
    assert sorted(documented - routes) == [], "documented operations that the application does not have"


def test_the_api_reference_lists_the_same_operations():
    """docs/接口说明.md (with docs/接口说明.d/*.md) names every documented operation as `METHOD /path` (its tables), and no other."""
    text = reference_text()
    named = {(m.group(2), m.group(1).lower())
             for m in re.finditer(r"`(GET|POST|PUT|PATCH|DELETE) (/api/v1/[^`?\s]*)[^`]*`", text)}
    assert sorted(_operations(DOC) - named) == [], "operations missing from docs/接口说明.md"
    assert sorted(named - _operations(DOC)) == [], "docs/接口说明.md names operations that docs/openapi.json lacks"


def test_path_parameters_match_the_path_templates():
    for path, item in DOC["paths"].items():
        names = set(re.findall(r"{([^}]+)}", path))
        for method, op in item.items():
            if method not in METHODS:
                continue
            params = [_resolve(p["$ref"]) if "$ref" in p else p for p in item.get("parameters", []) + op.get("parameters", [])]
            in_path = {p["name"] for p in params if p["in"] == "path"}
            assert in_path == names, f"{method.upper()} {path}: path parameters {sorted(in_path)} ≠ {sorted(names)}"


def test_every_reference_resolves_and_operation_ids_are_unique():
    refs = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(DOC)
    assert refs
    for ref in refs:
        try:
            _resolve(ref)
        except KeyError:
            pytest.fail(f"unresolvable $ref {ref}")
    ids = [op["operationId"] for item in DOC["paths"].values() for m, op in item.items() if m in METHODS]
    assert len(ids) == len(_operations(DOC)), "every operation has an operationId"
    assert sorted(i for i in set(ids) if ids.count(i) > 1) == []
    declared = {t["name"] for t in DOC["tags"]}
    used = {t for item in DOC["paths"].values() for m, op in item.items() if m in METHODS for t in op.get("tags", [])}
    assert used <= declared, f"undeclared tags {sorted(used - declared)}"


def test_timeline_kinds_are_the_kinds_the_code_records():
    """TimelineEvent.kind lists exactly the kinds passed to runtime.append_event anywhere in app/."""
    kinds = set()
    for source in (ROOT / "app").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "append_event" \
                    and len(node.args) >= 3:
                assert isinstance(node.args[2], ast.Constant), f"{source}:{node.lineno}: kind is not a literal"
                kinds.add(node.args[2].value)
    assert len(kinds) > 20
    documented = set(DOC["components"]["schemas"]["TimelineEvent"]["properties"]["kind"]["enum"])
    assert kinds == documented, (sorted(kinds - documented), sorted(documented - kinds))


def test_examples_match_their_schemas():
    """Every example of a request body or a response is valid against the schema beside it."""
    checked = 0
    for path, item in DOC["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            bodies = [("requestBody", op["requestBody"])] if "requestBody" in op else []
            bodies += [(f"responses/{code}", r) for code, r in op["responses"].items()]
            for where, part in bodies:
                for mime, media in part.get("content", {}).items():
                    if mime != "application/json":
                        continue
                    pointer = _pointer("paths", path, method, *where.split("/"), "content", mime, "schema")
                    samples = [media["example"]] if "example" in media else []
                    samples += [ex["value"] for ex in media.get("examples", {}).values()]
                    for sample in samples:
                        errors = [e.message[:200] for e in _validator(pointer).iter_errors(sample)]
                        assert errors == [], f"{method.upper()} {path} {where}: example {sample} — {errors}"
                        checked += 1
    assert checked > 100


# ------------------------------------------------------------------ responses against the document

def _validator(pointer: str):
    return OAS30Validator({"$ref": DOC_URI + pointer}, registry=REGISTRY, format_checker=OAS30Validator.FORMAT_CHECKER)


def _absolute(schema):
    """A part of the document with its local references made absolute (to validate it on its own)."""
    if isinstance(schema, dict):
        return {k: (DOC_URI + v if k == "$ref" and v.startswith("#") else _absolute(v)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_absolute(v) for v in schema]
    return schema


def _matches(schema: dict, instance) -> bool:
    return OAS30Validator(_absolute(schema), registry=REGISTRY,
                          format_checker=OAS30Validator.FORMAT_CHECKER).is_valid(instance)


def _parts(schema: dict, instance) -> list[dict]:
    """The schema objects that describe `instance`: the schema, its allOf parts, and the anyOf/oneOf
    parts the instance matches (references followed)."""
    while "$ref" in schema:
        schema = _resolve(schema["$ref"])
    found = [schema]
    for part in schema.get("allOf", []):
        found += _parts(part, instance)
    for key in ("anyOf", "oneOf"):
        for part in schema.get(key, []):
            if _matches(part, instance):
                found += _parts(part, instance)
    return found


def undocumented_fields(instance, schema: dict, where: str = "body") -> list[str]:
    """Keys of the response that the schema does not declare (objects with declared properties and
    no additionalProperties), anywhere in the body."""
    parts = _parts(schema, instance)
    missing = []
    if isinstance(instance, dict):
        props: dict = {}
        for part in parts:
            props.update(part.get("properties", {}))
        extra = [p["additionalProperties"] for p in parts if p.get("additionalProperties") not in (None, False)]
        closed = bool(props) or any(p.get("additionalProperties") is False for p in parts)
        for key, value in instance.items():
            if key in props:
                missing += undocumented_fields(value, props[key], f"{where}.{key}")
            elif extra and isinstance(extra[0], dict):
                missing += undocumented_fields(value, extra[0], f"{where}.{key}")
            elif closed and not extra:
                missing.append(f"{where}.{key}")
    elif isinstance(instance, list):
        items = next((p["items"] for p in parts if "items" in p), None)
        if items is not None:
            for i, value in enumerate(instance):
                missing += undocumented_fields(value, items, f"{where}[{i}]")
    return missing


def check(app, resp, status: int | None = None):
    """The response's status is documented for its operation, and its JSON body matches the schema
    documented for that status (every error listed, no undocumented field). Returns the body."""
    method = resp.request.method.lower()
    rule, _args = app.url_map.bind("localhost").match(resp.request.path, method=method.upper(), return_rule=True)
    path = _template(rule.rule)
    if status is not None:
        assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:500])
    responses = DOC["paths"][path][method]["responses"]
    code = str(resp.status_code)
    assert code in responses, f"{method.upper()} {path} answered {code}, which is not documented: " \
                              f"{resp.get_data(as_text=True)[:300]}"
    content = responses[code].get("content")
    if content is None:
        assert resp.get_data() == b"", f"{method.upper()} {path} {code} is documented without a body"
        return None
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    pointer = _pointer("paths", path, method, "responses", code, "content", "application/json", "schema")
    errors = sorted(_validator(pointer).iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path])
    assert not errors, f"{method.upper()} {path} {code}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message[:200]}" for e in errors[:5])
    extra = undocumented_fields(body, _resolve(pointer))
    assert extra == [], f"{method.upper()} {path} {code}: undocumented fields {extra[:10]}"
    if resp.status_code >= 400:
        codes = [ex["value"]["error"]["code"] for ex in content["application/json"].get("examples", {}).values()]
        assert body["error"]["code"] in codes, \
            f"{method.upper()} {path} {code}: error code {body['error']['code']} is not among the documented {codes}"
    return body


def test_the_checker_fails_when_a_response_and_its_schema_disagree(app, client):
    """The checks above can fail: a wrong type, a missing required field, an undocumented field, an
    undocumented status and an undocumented error code are all caught."""
    counts = "#/components/schemas/InboxCounts"
    assert _validator(counts).is_valid({"todo": 1, "done": 2, "started": 3, "copies": 0})
    assert not _validator(counts).is_valid({"todo": "1", "done": 2, "started": 3, "copies": 0})
    assert not _validator(counts).is_valid({"todo": 1, "done": 2, "started": 3})
    assert undocumented_fields({"todo": 1, "done": 2, "started": 3, "copies": 0, "spam": 1},
                               _resolve(counts)) == ["body.spam"]
    task = "#/components/schemas/TaskWithOps"        # allOf parts count as documented, nested objects too
    assert undocumented_fields({"id": 1, "urge_count": 0, "case": {"id": 2, "x": 1}}, _resolve(task)) == ["body.case.x"]
    assert not _validator("#/components/schemas/ReturnResult").is_valid(
        {"return_id": 1, "target": "a", "reason": "理由", "notes": {}, "reopened_task": {"id": "x"}})
    assert _validator("#/components/schemas/ReturnResult").is_valid(
        {"return_id": 1, "target": "a", "reason": "理由", "notes": {}, "reopened_task": None})
    assert not _validator("#/components/schemas/CaseClock").is_valid(
        {"case_id": 1, "paused": False, "paused_at": "yesterday", "pause_reason": None, "paused_days": 0,
         "paused_seconds_total": 0, "due_at": None, "warning_level": "none"})      # date-time format
    resp = client.get("/api/v1/me")               # 401 is documented; 418 is not
    check(app, resp, 401)
    resp.status_code = 418
    with pytest.raises(AssertionError, match="not documented"):
        check(app, resp)
    resp.status_code = 401                         # a documented status with an error code it never lists
    resp.set_data(json.dumps({"error": {"code": "spam", "message": "x"}}))
    with pytest.raises(AssertionError, match="not among the documented"):
        check(app, resp)


def _delete(client, url: str):
    with client.client.application.app_context():
        return client.client.delete(url, headers=client.headers)


def _dispatch_data() -> dict:
    return {"dispatch_decision": "dispatch", "requirements": "立即停用并整改门锁回路。",
            "rectify_deadline": (today_local() + timedelta(days=10)).isoformat(), "opinion": "情况属实"}


def test_inbox_and_task_operation_responses_match_the_document(app, api, client):
    sup, colleague, city, unit = api("xn_supervisor"), api("xn_colleague"), api("nn_city"), api("unit_xn")
    case = make_case()
    task = open_task(case)

    body = check(app, sup.get("/api/v1/tasks"), 200)
    assert [t["id"] for t in body["items"]] == [task.id]
    for box in ("done", "started", "copies"):
        check(app, sup.get(f"/api/v1/tasks?box={box}"), 200)
    assert check(app, sup.get(f"/api/v1/tasks/{task.id}"), 200)["form"]["properties"]
    check(app, sup.get(f"/api/v1/cases/{case.id}"), 200)
    assert check(app, sup.get("/api/v1/inbox/counts"), 200)["todo"] == 1
    check(app, sup.get(f"/api/v1/tasks/{task.id}/candidates"), 200)
    check(app, sup.get(f"/api/v1/tasks/{task.id}/signers"), 200)
    assert check(app, sup.get(f"/api/v1/tasks/{task.id}/return-targets"), 200)["refused"]
    check(app, sup.get(f"/api/v1/cases/{case.id}/clock"), 200)

    # saved filters: the seeded shared ones, a new one, and deleting it
    assert check(app, sup.get("/api/v1/inbox/filters"), 200)["items"]
    created = check(app, sup.post("/api/v1/inbox/filters", json={"name": "红色预警", "args": {"warning": "red"}}), 201)
    check(app, sup.post("/api/v1/inbox/filters", json={"name": "空", "args": {}}), 422)
    assert check(app, _delete(sup, f"/api/v1/inbox/filters/{created['id']}"), 204) is None
    check(app, _delete(sup, f"/api/v1/inbox/filters/{created['id']}"), 404)

    # 抄送: copy to the city bureau, who lists it (both lists) and reads it
    copies = check(app, sup.post(f"/api/v1/cases/{case.id}/copies",
                                 json={"user_ids": [user("nn_city").id], "note": "请市局知悉"}), 201)
    check(app, sup.post(f"/api/v1/cases/{case.id}/copies", json={"user_ids": [user("nn_city").id]}), 409)
    assert check(app, city.get("/api/v1/copies"), 200)["total"] == 1
    assert check(app, city.get("/api/v1/tasks?box=copies"), 200)["items"][0]["source"] == "manual"
    assert check(app, city.post(f"/api/v1/copies/{copies['items'][0]['id']}/read"), 200)["read_at"]
    check(app, city.post("/api/v1/copies/999999/read"), 404)

    # 代理人
    deputy = check(app, sup.post("/api/v1/deputies", json={
        "deputy_id": user("xn_colleague").id, "starts_on": today_local().isoformat(),
        "ends_on": (today_local() + timedelta(days=3)).isoformat(), "note": "出差"}), 201)
    assert check(app, sup.get("/api/v1/deputies"), 200)["choices"]
    check(app, sup.post(f"/api/v1/deputies/{deputy['id']}/revoke"), 200)
    check(app, sup.post(f"/api/v1/deputies/{deputy['id']}/revoke"), 409)
    check(app, unit.post("/api/v1/deputies", json={"deputy_id": 1, "starts_on": "x", "ends_on": "y"}), 422)

    # 批量签收: one done, one refused — 200 either way
    bulk = check(app, sup.post("/api/v1/tasks/bulk", json={"action": "claim", "task_ids": [task.id, 999999]}), 200)
    assert (bulk["done"], bulk["refused"]) == (1, 1)
    check(app, sup.post("/api/v1/tasks/bulk", json={"action": "approve", "task_ids": [task.id]}), 422)

    # 加签 → 签署 → 转办
    check(app, sup.post(f"/api/v1/tasks/{task.id}/signers", json={"kind": "sideways"}), 422)
    signed = check(app, sup.post(f"/api/v1/tasks/{task.id}/signers",
                                 json={"signer_user_id": user("nn_city").id, "kind": "before"}), 201)
    assert signed["task"]["delegate_state"] == "signing"
    check(app, sup.post(f"/api/v1/tasks/{task.id}/transfer",
                        json={"target_user_id": user("xn_colleague").id, "opinion": "请同事办理"}), 409)
    check(app, sup.post(f"/api/v1/tasks/{task.id}/sign", json={"opinion": "同意"}), 403)
    check(app, city.post(f"/api/v1/tasks/{task.id}/sign", json={"opinion": "同意派单"}), 200)
    check(app, sup.get(f"/api/v1/tasks/{task.id}/signers"), 200)
    check(app, sup.post(f"/api/v1/tasks/{task.id}/resolve", json={"opinion": "办完"}), 409)
    check(app, sup.post(f"/api/v1/tasks/{task.id}/transfer", data="nope", content_type="application/json"), 400)
    check(app, sup.post(f"/api/v1/tasks/{task.id}/transfer", json={}), 422)
    moved = check(app, sup.post(f"/api/v1/tasks/{task.id}/transfer",
                                json={"target_user_id": user("xn_colleague").id, "opinion": "请同事办理"}), 200)
    assert moved["assignee_id"] == user("xn_colleague").id
    check(app, sup.post(f"/api/v1/tasks/{task.id}/claim"), 409)                  # task_taken

    # 后加签 and 减签, 委派 and 归还 (by the colleague, who holds the task now)
    added = check(app, colleague.post(f"/api/v1/tasks/{task.id}/signers",
                                      json={"signer_user_id": user("nn_city").id, "kind": "after", "note": "请市局会签"}), 201)
    sign_id = next(s["id"] for s in added["items"] if s["status"] == "pending")
    check(app, city.post(f"/api/v1/tasks/{task.id}/signers/{sign_id}/remove"), 403)
    check(app, colleague.post(f"/api/v1/tasks/{task.id}/signers/{sign_id}/remove"), 200)
    check(app, colleague.post(f"/api/v1/tasks/{task.id}/signers/{sign_id}/remove"), 409)
    check(app, colleague.post(f"/api/v1/tasks/{task.id}/signers/999999/remove"), 404)
    assert check(app, colleague.post(f"/api/v1/tasks/{task.id}/delegate",
                                     json={"target_user_id": user("xn_supervisor").id}), 200)["delegate_state"] == "pending"
    check(app, colleague.post(f"/api/v1/tasks/{task.id}/resolve", json={"opinion": "我来"}), 403)
    assert check(app, sup.post(f"/api/v1/tasks/{task.id}/resolve", json={"opinion": "已核实"}), 200)["delegate_state"] \
        == "resolved"

    # 催办, 计时, 撤销 (major_hazard is not cancellable)
    check(app, sup.post(f"/api/v1/cases/{case.id}/urge", json={"note": "请尽快办理"}), 200)
    check(app, unit.post(f"/api/v1/cases/{case.id}/urge", json={}), 403)
    check(app, sup.post(f"/api/v1/cases/{case.id}/clock/pause", json={"reason": "补正材料"}), 200)
    check(app, sup.post(f"/api/v1/cases/{case.id}/clock/pause", json={"reason": "补正材料"}), 409)
    check(app, sup.post(f"/api/v1/cases/{case.id}/clock/resume"), 200)
    check(app, sup.post(f"/api/v1/cases/{case.id}/cancel", json={"reason": "重复上报"}), 409)
    check(app, colleague.post(f"/api/v1/cases/{case.id}/cancel", json={"reason": "重复上报"}), 403)

    # the timeline now holds claims, signs, transfers, urges, copies, pauses …: all documented kinds
    body = check(app, sup.get(f"/api/v1/cases/{case.id}"), 200)
    assert {"copied", "signed", "transferred", "urged", "paused", "resumed", "sign_removed", "delegated",
            "delegate_returned"} <= {e["kind"] for e in body["timeline"]}

    check(app, sup.get("/api/v1/tasks/999999"), 404)
    check(app, client.get("/api/v1/inbox/counts"), 401)


def test_return_and_withdraw_responses_match_the_document(app, api):
    sup, unit = api("xn_supervisor"), api("unit_xn")
    case = make_case()
    complete(case, "xn_supervisor", _dispatch_data())
    rectify = {"feedback_type": "feedback", "measures": "已更换门锁并恢复安全回路。",
               "completed_on": today_local().isoformat(), "evidence": [upload("unit_xn")]}
    first = open_task(case)
    complete(case, "unit_xn", rectify)
    verify = open_task(case)
    targets = check(app, sup.get(f"/api/v1/tasks/{verify.id}/return-targets"), 200)
    assert targets["targets"][0]["task_def"] == "rectify"
    check(app, sup.post(f"/api/v1/tasks/{verify.id}/return", json={"target": "nowhere", "reason": "x"}), 422)
    check(app, unit.post(f"/api/v1/tasks/{verify.id}/return", json={"target": "rectify", "reason": "材料不清"}), 403)
    check(app, sup.post(f"/api/v1/tasks/{verify.id}/withdraw"), 403)
    done = check(app, sup.post(f"/api/v1/tasks/{verify.id}/return",
                               json={"target": "rectify", "reason": "整改材料不合格",
                                     "notes": {"evidence": "照片不清晰"}}), 200)
    assert done["reopened_task"]["task_def"] == "rectify" and done["notes"] == {"evidence": "照片不清晰"}
    check(app, unit.post(f"/api/v1/tasks/{first.id}/withdraw"), 409)       # the bureau acted since


@pytest.mark.usefixtures("demo")
def test_withdraw_and_cancel_responses_match_the_document(app, api):
    """On the test process of test_review (no system steps, cancellable by its initiator)."""
    sup, colleague = api("xn_supervisor"), api("xn_colleague")
    case = start_demo("xn_supervisor")
    do(case, "fill", "xn_colleague", {"subject": "初稿"})
    mine = next(t for t in tasks(case, "completed") if t.task_def == "fill")
    body = check(app, colleague.post(f"/api/v1/tasks/{mine.id}/withdraw"), 200)
    assert body["withdrawn_task_id"] == mine.id and body["reopened_task"]["task_def"] == "fill"
    check(app, colleague.post(f"/api/v1/tasks/{mine.id}/withdraw"), 409)
    check(app, sup.post(f"/api/v1/cases/{case.id}/cancel", json={"reason": ""}), 422)
    assert check(app, sup.post(f"/api/v1/cases/{case.id}/cancel", json={"reason": "重复填报"}), 200)["status"] == "cancelled"
    check(app, sup.post(f"/api/v1/cases/{case.id}/cancel", json={"reason": "再次"}), 409)
    assert "cancelled" in {e["kind"] for e in check(app, sup.get(f"/api/v1/cases/{case.id}"), 200)["timeline"]}


def test_process_admin_responses_match_the_document(app, api):
    admin, sup = api("process_admin"), api("xn_supervisor")
    check(app, sup.get("/api/v1/process-admin/processes"), 403)
    assert check(app, admin.get("/api/v1/process-admin/processes"), 200)["items"]
    check(app, admin.get("/api/v1/process-admin/processes/major_hazard/versions/1"), 200)
    check(app, admin.get("/api/v1/process-admin/processes/major_hazard/versions/999"), 404)
    assert check(app, admin.get("/api/v1/process-admin/processes/major_hazard/diff?a=1&b=1"), 200)["same"] is True
    check(app, admin.get("/api/v1/process-admin/processes/major_hazard/diff?a=1"), 422)
    check(app, admin.post("/api/v1/process-admin/processes/major_hazard/drafts", json=[1]), 400)
    check(app, admin.post("/api/v1/process-admin/processes/major_hazard/drafts", json={"from_version": "1"}), 422)
    draft = check(app, admin.post("/api/v1/process-admin/processes/major_hazard/drafts"), 201)
    check(app, admin.get(f"/api/v1/process-admin/drafts/{draft['id']}"), 200)
    assert check(app, admin.post(f"/api/v1/process-admin/drafts/{draft['id']}/validate"), 200)["status"] == "valid"
    check(app, admin.post(f"/api/v1/process-admin/drafts/{draft['id']}/deploy"), 409)       # unchanged
    check(app, admin.post("/api/v1/process-admin/form-preview",
                          json={"schema_text": json.dumps({"type": "object", "properties": {
                              "opinion": {"type": "string", "title": "意见"}}})}), 200)
    check(app, admin.post("/api/v1/process-admin/form-preview", json={"schema_text": "{"}), 422)
    check(app, admin.post(f"/api/v1/process-admin/drafts/{draft['id']}/bpmn", json={}), 422)
    saved = check(app, admin.post(f"/api/v1/process-admin/drafts/{draft['id']}/bpmn", json={"xml": "<x/>"}), 200)
    assert saved["status"] == "invalid" and saved["issues"]
    refused = check(app, admin.post(f"/api/v1/process-admin/drafts/{draft['id']}/deploy"), 422)
    assert refused["error"]["fields"]["issues"]
    check(app, admin.get("/api/v1/process-admin/drafts/999999"), 404)


def test_other_documented_responses_match_the_document(app, api, client, monkeypatch):
    """The rest of the older entries: session, me, processes, equipment, transfers, SMS receipts."""
    check(app, client.post("/api/v1/session", json={"username": "xn_supervisor"}), 422)
    check(app, client.post("/api/v1/session", json={"username": "xn_supervisor", "password": "wrong"}), 401)
    sup = api("xn_supervisor")
    check(app, sup.get("/api/v1/me"), 200)
    check(app, sup.get("/api/v1/processes"), 200)
    check(app, sup.get("/api/v1/processes/major_hazard"), 200)
    check(app, sup.get("/api/v1/processes/nope"), 404)
    check(app, sup.get("/api/v1/equipment?q=电梯"), 200)
    check(app, sup.get("/api/v1/transfers"), 200)
    check(app, sup.post("/api/v1/transfers/batch", json={"action": "approve", "ids": []}), 422)
    check(app, client.post("/api/v1/sms/receipts", json=[]), 404)            # no token configured
    monkeypatch.setitem(app.config, "SMS_RECEIPT_TOKEN", "receipt-token")
    check(app, client.post("/api/v1/sms/receipts?token=wrong", json=[]), 401)
    check(app, client.post("/api/v1/sms/receipts?token=receipt-token", data="x", content_type="application/json"), 400)
    body = check(app, client.post("/api/v1/sms/receipts?token=receipt-token", json=[{"out_id": "999999"}]), 200)
    assert (body["updated"], body["ignored"]) == (0, 1)


def test_domain_fragments_merge_and_refuse_a_second_definition(tmp_path):
    from app.api.document import DocumentConflict
    (tmp_path / "openapi.d").mkdir()
    (tmp_path / "openapi.json").write_text(json.dumps({"openapi": "3.0.3", "tags": [{"name": "core"}],
                                                       "paths": {"/a": {}}, "components": {"schemas": {"A": {}}}}))
    (tmp_path / "openapi.d" / "x.json").write_text(json.dumps({"tags": [{"name": "x"}], "paths": {"/b": {}},
                                                                "components": {"schemas": {"B": {}}}}))
    doc = build_document(tmp_path)
    assert set(doc["paths"]) == {"/a", "/b"} and set(doc["components"]["schemas"]) == {"A", "B"}
    (tmp_path / "openapi.d" / "y.json").write_text(json.dumps({"paths": {"/a": {}}}))
    with pytest.raises(DocumentConflict, match="/a"):
        build_document(tmp_path)
