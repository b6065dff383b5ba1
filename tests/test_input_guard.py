"""Hostile input answers a JSON error with a code, never a 500 (app/api/guard.py): ids beyond the
column range, values of the wrong JSON type, deeply nested or oversized JSON, junk in enum query
parameters — and the served document lists each status these checks give."""
from __future__ import annotations

import io
import json

import pytest

from app.api.document import build_document

from .test_openapi import check

DOC = build_document()


@pytest.mark.parametrize("url", ["/api/v1/tasks/2147483648", "/api/v1/cases/9223372036854775808",
                                 "/api/v1/registry/devices/99999999999999999999999",
                                 "/api/v1/tasks/2147483648/candidates"])
def test_ids_beyond_the_column_range_are_not_found(app, api, url):
    body = api("xn_supervisor").get(url)
    assert body.status_code == 404 and body.get_json()["error"]["code"] == "not_found"


def test_ids_beyond_the_range_are_not_found_on_posts_and_pages(app, api, web):
    sup = api("xn_supervisor")
    resp = sup.post("/api/v1/tasks/2147483648/claim")
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"
    assert web("xn_supervisor").get("/tasks/2147483648").status_code == 404
    assert sup.get("/api/v1/tasks/2147483647").status_code == 404        # the largest id: looked up, absent


def test_a_list_where_text_is_expected_is_a_field_error(app, api):
    resp = api("xn_supervisor").post("/api/v1/deputies", json={
        "deputy_id": 1, "starts_on": "2026-12-01", "ends_on": "2026-12-02", "note": ["a", "b"]})
    body = check(app, resp, 422)
    assert body["error"]["fields"] == {"note": "应为文本"}
    resp = api("xn_supervisor").post("/api/v1/deputies", json={"deputy_id": 2**40, "starts_on": {"a": 1},
                                                               "ends_on": "2026-12-02"})
    assert check(app, resp, 422)["error"]["fields"] == {"deputy_id": "数值超出范围", "starts_on": "应为文本"}
    resp = api("xn_supervisor").post("/api/v1/deputies", json={"deputy_id": "99999999999",
                                                               "starts_on": "2026-12-01", "ends_on": "2026-12-02"})
    assert check(app, resp, 422)["error"]["fields"] == {"deputy_id": "数值超出范围"}


def test_deeply_nested_json_is_refused_without_recursion(app, api, client):
    sup = api("xn_supervisor")
    resp = sup.post("/api/v1/cases", data="[" * 100_000, content_type="application/json")
    body = check(app, resp, 400)
    assert body["error"]["code"] == "bad_json" and "嵌套" in body["error"]["message"]
    nested = {"process_key": "major_hazard", "data": {"description": json.loads("[" * 40 + "]" * 40)}}
    assert check(app, sup.post("/api/v1/cases", json=nested), 400)["error"]["code"] == "bad_json"
    resp = client.post("/api/v1/session", data='{"username": "' + "\\ud800" + '", "password": "x"}',
                       content_type="application/json")
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "bad_json"


def test_json_bodies_are_capped_far_below_the_upload_limit(app, api):
    sup = api("xn_supervisor")
    limit = app.config["JSON_MAX_BYTES"]
    assert limit * 8 <= app.config["MAX_UPLOAD_BYTES"]
    big = json.dumps({f"k{i}": i for i in range(limit // 8)})
    assert len(big) > limit
    body = check(app, sup.post("/api/v1/cases", data=big, content_type="application/json"), 413)
    assert body["error"]["code"] == "payload_too_large"
    # the same size as a multipart upload is not capped by the JSON limit (it is judged by content)
    resp = sup.post("/api/v1/attachments", data={"file": (io.BytesIO(b"x" * (limit + 10)), "a.txt")},
                    content_type="multipart/form-data")
    assert resp.status_code == 422 and "类型不允许" in resp.get_json()["error"]["fields"]["file"]


@pytest.mark.parametrize("url,param", [("/api/v1/copies?state=AAA", "state"), ("/api/v1/tasks?warning=AAA", "warning"),
                                       ("/api/v1/tasks?status=AAA", "status"), ("/api/v1/transfers?status=AAA", "status"),
                                       ("/api/v1/tasks?box=AAA", "box"), ("/api/v1/tasks?page=x", "page"),
                                       ("/api/v1/registry/units?page=99999999999", "page")])
def test_junk_in_enum_and_integer_query_parameters_is_422(app, api, url, param):
    body = check(app, api("xn_supervisor").get(url), 422)
    assert list(body["error"]["fields"]) == [param]


def test_every_enum_query_parameter_of_the_document_is_enforced(app, api):
    """Each GET operation of the document with an enum query parameter refuses a value outside it."""
    sup = api("xn_supervisor")
    checked = 0
    for path, item in DOC["paths"].items():
        op = item.get("get")
        if not op or "{" in path:
            continue
        for param in op.get("parameters", []):
            schema = param.get("schema", {})
            if param.get("in") == "query" and "enum" in schema:
                resp = sup.get(f"{path}?{param['name']}=AAA")
                if resp.status_code == 403:
                    continue                # a role this user does not have; refused before the query
                body = check(app, resp, 422)
                assert param["name"] in body["error"]["fields"], path
                checked += 1
    assert checked >= 15
    assert check(app, sup.get("/api/v1/tasks?status=running&warning=red&box=todo"), 200)["items"] == []


def test_the_document_lists_the_guard_statuses():
    for path, item in DOC["paths"].items():
        for method, op in item.items():
            if method in ("post", "put", "patch", "delete"):
                assert {"400", "413"} <= set(op["responses"]), f"{method} {path}"
    assert "422" in DOC["paths"]["/api/v1/copies"]["get"]["responses"]


def test_a_multipart_field_name_that_cannot_be_read_is_a_400(app, api):
    """Werkzeug names a part None when its header is broken (a CR in the name); found by schemathesis."""
    body = (b"--b\r\nContent-Disposition: form-data; name=\"a\rb\"\r\n\r\nx\r\n--b--\r\n")
    resp = api("xn_supervisor").post("/api/v1/imports", data=body, content_type="multipart/form-data; boundary=b")
    assert check(app, resp, 400)["error"]["code"] == "bad_request"


@pytest.mark.parametrize("url", ["/api/v1/process-admin/drafts/2147483648/forms/verify",
                                 "/api/v1/tasks/115792089210356248756420345214020892766061623724957744567843809356293439045923/signers"])
def test_a_huge_id_is_404_where_a_sibling_method_shares_the_path(app, api, url):
    """The converter's regular expression refuses it, so no rule of another method matches first (was 405)."""
    resp = api("process_admin").client.delete(url) if "forms" in url else api("xn_supervisor").post(url, json={})
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"
