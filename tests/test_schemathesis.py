"""Schemathesis over the document the application serves (GET /api/v1/openapi.json): for every
operation, as three roles (a county regulator, a use unit, the process administrator), a bounded
number of generated requests. No answer may be a 5xx, and every answer must be documented for its
operation — status, error code and body (tests/test_openapi.check).

Each operation is called with generated path values (SCHEMATHESIS_EXAMPLES // 2 requests) and, where it
has path parameters, with values that exist (SCHEMATHESIS_EXAMPLES requests). SCHEMATHESIS_EXAMPLES
(default 2: about a minute per database on a busy two-core machine) sets the depth; SCHEMATHESIS_SEED a different fixed sample (default: the
same derandomized sample on every run)."""
from __future__ import annotations

import os
import re
import time

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable

from .conftest import ApiClient
from .test_api_schema_client import restore_seeded_rows  # noqa: F401 - the fixture
from werkzeug.exceptions import MethodNotAllowed, NotFound

from .test_openapi import DOC, check

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "2"))
SEED = os.environ.get("SCHEMATHESIS_SEED")
# SCHEMATHESIS_MODE=negative: requests that break the document (wrong types, missing fields, values out of
# range) — every one must still get a documented 4xx, never a 5xx.
MODE = GenerationMode.NEGATIVE if os.environ.get("SCHEMATHESIS_MODE") == "negative" else GenerationMode.POSITIVE
ROLES = ("xn_supervisor", "unit_xn", "process_admin")
# Operations whose generated calls would act on the callers' own session instead of testing input.
SKIP = {("POST", "/api/v1/session"), ("DELETE", "/api/v1/session")}


def _operations(app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) not in SKIP:
            found.append(operation)
    return found


def _known_ids(username: str) -> dict:
    """Path values that exist (a hazard case with its open task, a device and unit of 兴宁区, a deployed
    process and its forms), so that half of the generated requests reach the handlers' own checks."""
    from .conftest import equipment_of, make_case, open_task, user
    case = make_case()
    device = equipment_of("unit_xn")
    return {"case_id": case.id, "task_id": open_task(case).id, "device_id": device.id,
            "org_id": user("unit_xn").org_id, "key": "major_hazard", "number": 1, "form_key": "dispatch",
            "kind": "devices", "name": "work_item"}


def _run(app, operation, headers: dict, failures: list, counter: list, known: dict | None = None) -> None:
    client = app.test_client()
    names = set(re.findall(r"{(\w+)}", operation.path))
    fixed = {k: v for k, v in (known or {}).items() if k in names} or None
    if known is not None and not fixed:
        return

    @settings(max_examples=EXAMPLES if known is not None else max(1, EXAMPLES // 2), deadline=None, database=None, derandomize=SEED is None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(path_parameters=fixed, generation_mode=MODE))
    @(seed(int(SEED)) if SEED is not None else (lambda fn: fn))
    def one(case):
        kwargs = case.as_transport_kwargs(headers=headers)
        kwargs.pop("base_url", None)
        where = f"{case.method} {case.formatted_path} {kwargs.get('query_string')!r} {str(kwargs.get('json', kwargs.get('data')))[:200]}"
        counter[0] += 1
        try:
            with app.app_context():
                resp = client.open(**kwargs)
        except Exception as err:       # propagated in tests; a 500 in production
            failures.append(f"500 {where}: {type(err).__name__}: {err}")
            return
        if resp.status_code >= 500:
            failures.append(f"{resp.status_code} {where}: {resp.get_data(as_text=True)[:300]}")
            return
        try:
            try:
                app.url_map.bind("localhost").match(resp.request.path, method=case.method.upper())
            except MethodNotAllowed:
                raise AssertionError(f"the path matched another operation: answered {resp.status_code}") from None
            except NotFound:
                # a path value no route accepts (an id beyond the column range): the operation's 404,
                # or what the request checks that run before routing answer (a NUL byte: 400)
                documented = DOC["paths"][operation.path][operation.method.lower()]["responses"]
                status = str(resp.status_code)
                assert status in documented and resp.status_code in (400, 404, 413, 422), f"{status} not documented"
                media = documented[status]["content"]["application/json"]
                codes = [ex["value"]["error"]["code"] for ex in media.get("examples", {}).values()]
                assert resp.get_json()["error"]["code"] in codes, resp.get_data(as_text=True)[:200]
                return
            documented = DOC["paths"][operation.path][operation.method.lower()]["responses"]
            if resp.mimetype != "application/json" and resp.status_code < 400 and resp.get_data():   # a file
                assert resp.mimetype in documented.get(str(resp.status_code), {}).get("content", {}), \
                    f"{resp.status_code} {resp.mimetype} not documented"
                return
            check(app, resp)
        except AssertionError as err:
            failures.append(f"{where}: {str(err)[:400]}")
    try:
        one()
    except Unsatisfiable:
        assert MODE == GenerationMode.NEGATIVE     # nothing of this operation can be made invalid


@pytest.mark.parametrize("username", ROLES)
def test_generated_requests_get_documented_answers(app, username, restore_seeded_rows):  # noqa: F811
    headers = dict(ApiClient(app.test_client(), username).headers)
    failures: list[str] = []
    counter = [0]
    started = time.monotonic()
    operations = _operations(app)
    assert len(operations) > 60
    known = _known_ids(username)
    for operation in operations:
        _run(app, operation, headers, failures, counter)
        _run(app, operation, headers, failures, counter, known)
    elapsed = time.monotonic() - started
    print(f"schemathesis {username}: {len(operations)} operations, {counter[0]} requests, {elapsed:.1f} s")
    assert counter[0] >= len(operations)
    assert failures == [], "\n".join(failures[:30])
