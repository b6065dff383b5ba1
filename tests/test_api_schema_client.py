"""Every deployed process can be driven through /api/v1 by a client that knows nothing but the
served schemas: it reads the start form, fills each field from its `enum` / `x-lookup` (following the
lookup's answer), its type, format and date rules, uploads files for file fields, starts the case,
then completes each open task the same way as whichever demo user has it in its 待办 — to the end.

A field error makes the client try the next choice of that field, as a person would."""
from __future__ import annotations

import io
import os
import json
import re
from datetime import timedelta

import pytest
from jsonschema import Draft4Validator
from sqlalchemy import select

from app.core.clock import today_local

from .conftest import JPEG, PDF, ApiClient
from .test_openapi import check

MAX_STEPS = 25


class SchemaClient:
    """Fills a form schema from the schema alone."""

    def __init__(self, api: ApiClient, app, known: dict | None = None):
        self.api, self.app = api, app
        # What the person at the keyboard knows from paper (a certificate number in hand): the search
        # terms for lookups that answer exact matches only (x-lookup-requires-q).
        self.known = known or {}
        self.choice: dict[str, int] = {}          # field → index of the choice being tried
        self._cache: dict = {}
        self.filled: set[str] = set()
        self.unstated: set[str] = set()          # fields required only by a business rule the schema lacks
        self._group_of: dict = {}                 # (field, index) → the lookup item's group
        self.groups: set = set()                  # groups of the lookup items chosen so far
        self.lookups_followed = 0

    # -------------------------------------------------------------- choices of one field
    def _lookup(self, name: str, prop: dict) -> list:
        from urllib.parse import quote
        terms = self.known.get(name, []) if prop.get("x-lookup-requires-q") else [""]
        found = []
        for term in terms:
            path = prop["x-lookup"] + quote(term)
            resp = self.api.get(path)
            assert resp.status_code == 200, (path, resp.status_code, resp.get_data(as_text=True)[:300])
            if path.startswith("/api/v1/lookups/"):
                check(self.app, resp)
            self.lookups_followed += 1
            value_key = prop.get("x-lookup-value", "value")
            for item in resp.get_json()["items"]:
                found.append(item[value_key])
                self._group_of[(name, len(found) - 1)] = item.get("group")
        return found

    def choices(self, name: str, prop: dict) -> list | None:
        if "enum" in prop:
            return list(prop["enum"])
        if "x-lookup" in prop:
            if (name, prop["x-lookup"]) not in self._cache:
                self._cache[(name, prop["x-lookup"])] = self._lookup(name, prop)
            return self._cache[(name, prop["x-lookup"])]
        items = prop.get("items") if prop.get("type") == "array" else None
        if isinstance(items, dict) and ("enum" in items or "x-lookup" in prop):
            return [[v] for v in items["enum"]]
        return None

    def _convert(self, prop: dict, value):
        if prop.get("type") == "integer":
            return int(value)
        if prop.get("type") == "string":
            return str(value)
        return value

    # -------------------------------------------------------------- free values
    def _date(self, prop: dict) -> str:
        today = today_local()
        if "x-after-data" in prop or prop.get("x-min-date") == "today":
            return (today + timedelta(days=40 if "x-after-data" in prop else 15)).isoformat()
        return today.isoformat()

    def _upload(self, prop: dict) -> list[int]:
        accept = prop.get("ui:accept", "application/pdf")
        content, name = (PDF, "材料.pdf") if "pdf" in accept else (JPEG, "照片.jpg")
        resp = self.api.post("/api/v1/attachments", data={"file": (io.BytesIO(content), name)},
                             content_type="multipart/form-data")
        return [check(self.app, resp, 201)["id"]]

    def value(self, name: str, prop: dict):
        options = self.choices(name, prop)
        if options is not None:
            assert options, f"{name}: the schema offers no choice ({prop.get('x-lookup') or 'enum'})"
            if name not in self.choice and "enum" in prop:    # agree with the group of an earlier choice
                index = next((i for i, v in enumerate(options) if v in self.groups), 0)
            else:
                index = self.choice.get(name, 0)
            if self._group_of.get((name, index)):
                self.groups.add(self._group_of[(name, index)])
            if index >= len(options):
                return None
            item_prop = prop.get("items", {}) if prop.get("type") == "array" else prop
            picked = options[index]
            return [self._convert(item_prop, v) for v in picked] if isinstance(picked, list) \
                else self._convert(prop, picked)
        kind = prop.get("type")
        if kind == "array":
            if prop.get("ui:widget") == "files" or prop.get("items", {}).get("type") == "integer":
                return self._upload(prop)
            return ["通过接口填写"] * max(1, prop.get("minItems", 1))
        if kind == "string":
            if prop.get("format") == "date":
                return self._date(prop)
            if "pattern" in prop:           # typed by the person (a phone number): the simplest matching text
                from hypothesis import find
                from hypothesis import strategies as st
                return find(st.from_regex(prop["pattern"], fullmatch=True), lambda _text: True)
            text = "通过接口按表单说明填写的内容。"
            while len(text) < prop.get("minLength", 0):
                text += text
            return text[: prop.get("maxLength", 200)]
        if kind == "integer":
            return max(1, prop.get("minimum", 1))
        if kind == "number":
            return prop.get("minimum", 1)
        if kind == "boolean":
            return True
        return None

    # -------------------------------------------------------------- the form
    def fill(self, schema: dict) -> dict:
        """Required fields, then those the schema's if/then parts require for the values chosen."""
        props: dict = dict(schema.get("properties", {}))
        data: dict = {}
        self.groups = set()
        required = list(schema.get("required", []))
        for _ in range(4):
            for name in required:
                if name not in data and name in props:
                    value = self.value(name, props[name])
                    if value is not None:
                        data[name] = value
            more = []
            for part in schema.get("allOf", []):
                branch = None
                if "if" in part:
                    branch = part.get("then") if Draft4Validator(part["if"]).is_valid(data) else part.get("else")
                for node in (part, branch or {}):
                    props.update({k: {**props.get(k, {}), **v} for k, v in node.get("properties", {}).items()})
                    more += [n for n in node.get("required", []) if n not in data]
            if not more:
                break
            required = more
        for name, prop in props.items():            # optional file fields: attach evidence like a person would
            if name not in data and prop.get("ui:widget") == "files":
                data[name] = self._upload(prop)
        return data

    def submit(self, schema: dict, send) -> dict:
        """Fill and send; on field errors, try the next choice of each refused field, and fill an
        optional field the answer asks for (a requirement the schema does not state)."""
        self.choice = {}
        self.asked: set[str] = set()
        for _attempt in range(60):
            data = self.fill(schema)
            for name in self.asked - set(data):
                value = self.value(name, schema.get("properties", {}).get(name, {}))
                if value is not None:
                    data[name] = value
            self.filled = set(data)
            resp = send(data)
            if resp.status_code in (200, 201):
                return check(self.app, resp)
            body = check(self.app, resp)
            assert resp.status_code == 422, body
            fields = body["error"].get("fields", {})
            if os.environ.get("WALK_DEBUG"): print("REFUSED", fields)
            moved = False
            props = schema.get("properties", {})
            unasked = [n for n in fields if n in props and n not in self.asked and n not in self.filled]
            if unasked:                      # left out because the schema does not say it is required
                self.asked.update(unasked)
                self.unstated.update(unasked)
                continue
            for name in fields:               # another choice for each refused field …
                options = self.choices(name, props.get(name, {}))
                if options is not None and self.choice.get(name, 0) + 1 < len(options):
                    self.choice[name] = self.choice.get(name, 0) + 1
                    moved = True
                elif options is not None:     # … or, its choices exhausted, another choice of a field it depends on
                    self.choice[name] = 0
                    for other in schema.get("required", []):
                        other_options = self.choices(other, props.get(other, {})) if other != name else None
                        if other_options and self.choice.get(other, 0) + 1 < len(other_options):
                            self.choice[other] = self.choice.get(other, 0) + 1
                            moved = True
                            break
            assert moved, f"refused without a field to choose again: {fields}"
        pytest.fail(f"no choice accepted: {fields}")


@pytest.fixture
def restore_seeded_rows(app):
    """Walking a process to its end changes seeded rows (a device's region after a transfer, its next
    inspection date after a report, an employment after a leave): put every changed row back before
    the suite's cleanup deletes the rows the test added."""
    from sqlalchemy import insert, update

    from app.extensions import db

    def rows(table):
        pk = list(table.primary_key.columns)
        return {tuple(r._mapping[c] for c in pk): {c: r._mapping[c] for c in table.columns}
                for r in db.session.execute(select(table))}
    tables = [t for t in db.metadata.sorted_tables if t.primary_key.columns and t.name not in ("audit_log", "timeline_event")]
    before = {t: rows(t) for t in tables}
    yield
    db.session.rollback()
    for table in tables:
        pk = list(table.primary_key.columns)
        now = rows(table)
        for key, old in before[table].items():
            if key not in now:
                db.session.execute(insert(table).values(old))
            elif now[key] != old:
                db.session.execute(update(table).where(*[c == v for c, v in zip(pk, key)]).values(old))
    db.session.commit()


@pytest.fixture
def clients(app, restore_seeded_rows):
    made: dict[str, ApiClient] = {}

    def get(username: str) -> ApiClient:
        if username not in made:
            made[username] = ApiClient(app.test_client(), username)
        return made[username]
    return get


def _usernames_with_roles(roles) -> list[str]:
    from app.core.models import User
    from app.extensions import db
    return list(db.session.scalars(select(User.username).where(User.role.in_(list(roles)),
                                                               User.is_active_flag.is_(True)).order_by(User.id)))


def _walk(app, clients, key: str) -> dict:
    anyone = clients("xn_supervisor")
    process = check(app, anyone.get(f"/api/v1/processes/{key}"), 200)
    case = None
    refusals: list[str] = []
    for username in _usernames_with_roles(process["start_roles"]):
        starter = clients(username)
        detail = check(app, starter.get(f"/api/v1/processes/{key}"), 200)
        if not detail["can_start"]:
            continue
        client = SchemaClient(starter, app, known=_paper_knowledge())
        try:
            case = client.submit(detail["start_form"],
                                 lambda data: starter.post("/api/v1/cases", json={"process_key": key, "data": data}))
        except AssertionError as err:
            refusals.append(str(err).split("\n")[0][:200])
            if os.environ.get("WALK_DEBUG"):
                print("START REFUSED", username, str(err)[:300])
            continue                  # this user has nothing to start it with (no device, no certificate …)
        break
    if case is None and refusals and all("the schema offers no choice" in r for r in refusals):
        # The start form refers to an object its starter makes first through its own API (a draft
        # inspection, an open check list): an empty lookup for a freshly seeded database.
        pytest.skip(f"{key}: the start form needs an object made first through the API — {refusals[0]}")
    assert case is not None, f"{key}: no demo user could start it through the API: {refusals[:3]}"
    unstated = set(client.unstated)
    steps = [("start", username)]
    actors = _usernames_with_roles({r for r in _all_roles()})
    for _ in range(MAX_STEPS):
        if case["status"] != "running" or not case["open_tasks"]:
            break
        task = case["open_tasks"][0]
        worker = next((u for u in actors if task["id"] in
                       {t["id"] for t in clients(u).get("/api/v1/tasks?per_page=100").get_json()["items"]}), None)
        assert worker, f"{key}: nobody has task {task['name']} in their inbox"
        api = clients(worker)
        full = check(app, api.get(f"/api/v1/tasks/{task['id']}"), 200)
        if full["assignee_id"] is None:       # a unit's task is worked without claiming (403 says so)
            claimed = api.post(f"/api/v1/tasks/{task['id']}/claim")
            check(app, claimed)
            assert claimed.status_code in (200, 403), claimed.get_json()
        client = SchemaClient(api, app)
        case = client.submit(full["form"], lambda data: api.post(f"/api/v1/tasks/{task['id']}/complete",
                                                                  json={"data": data}))
        unstated |= client.unstated
        steps.append((task["task_def"], worker))
    assert case["status"] == "closed", f"{key}: stopped at {case['current_step']} after {steps}"
    return {"steps": steps, "outcome": case["outcome"], "unstated": unstated}


def _paper_knowledge() -> dict[str, list[str]]:
    """Certificate numbers of the demo operators, as printed on the certificates a unit is shown."""
    from app.extensions import db
    from app.operators.models import OperatorCertificate
    return {"cert_no": list(db.session.scalars(select(OperatorCertificate.cert_no).order_by(OperatorCertificate.id)))}


def _all_roles() -> set[str]:
    from app.core.roles import ROLES
    return set(ROLES)


def _deployed(app) -> list[str]:
    with app.app_context():
        from app.engine.registry import latest_versions
        return sorted(v.process_key for v in latest_versions())


def _process_keys() -> list[str]:
    from app.config import BASE_DIR
    from app.engine.registry import discover_process_keys
    return sorted(discover_process_keys(str(BASE_DIR / "workflows")))


PROCESS_KEYS = _process_keys()


def test_every_deployed_process_is_walked(app):
    assert set(_deployed(app)) == set(PROCESS_KEYS)
    assert {"major_hazard", "equipment_transfer", "operator_join", "operator_hire", "operator_leave",
            "overdue_inspection"} <= set(PROCESS_KEYS)


@pytest.mark.parametrize("key", PROCESS_KEYS)
def test_a_schema_only_client_runs_the_process_to_its_end(app, clients, key, monkeypatch):
    if key.startswith("cylinder_"):   # registration waits for the 准入一体化平台: its fake answers at once
        from .cylinder_helpers import authority
        server, _fake = authority(app, monkeypatch)
        with server:
            result = _walk(app, clients, key)
    else:
        result = _walk(app, clients, key)
    assert len(result["steps"]) >= 2, result
    # Fields a business rule requires that the schema does not say are required (it should, in
    # allOf/if/then). Known gap, left to its owner: the complaint form requires 区县 and 地址 when no
    # device code is given, which forms/public_complaint/submit.json does not state.
    known = {"public_complaint": {"address", "county_code"}}.get(key, set())
    assert result["unstated"] <= known, f"{key}: required by the server but not by the schema: {result['unstated'] - known}"


def test_reference_fields_carry_their_choices(app, clients):
    """No served form field that takes reference data is left without enum or x-lookup."""
    from app.cases.widgets import _PROVIDERS
    from app.core.lookups import _LOOKUPS
    widgets = set(_PROVIDERS) | set(_LOOKUPS)
    for username in ("xn_supervisor", "unit_xn", "op_lan"):
        api = clients(username)
        for item in api.get("/api/v1/processes").get_json()["items"]:
            form = api.get(f"/api/v1/processes/{item['key']}").get_json()["start_form"]
            for name, prop in form.get("properties", {}).items():
                if prop.get("ui:widget") in widgets:
                    target = prop.get("items", prop) if prop.get("type") == "array" else prop
                    assert "enum" in target or "x-lookup" in prop, (item["key"], name)
    body = check(app, clients("op_lan").get("/api/v1/lookups/work_item?q=电梯"), 200)
    assert body["items"] and all("电梯" in i["label"] for i in body["items"])
    check(app, clients("op_lan").get("/api/v1/lookups/nope"), 404)
    assert check(app, clients("op_lan").get("/api/v1/lookups"), 200)["items"]


REFERENCE_FIELD = re.compile(r"(_id|_ids|_code|_codes|_uscc|region|agency|cert_no|work_item|criterion)$")


def test_every_form_field_that_takes_reference_data_offers_its_choices(app):
    """Every form in forms/, as served to each kind of user: a field named like a reference (…_id, …_code,
    region, agency, cert_no, work_item …) or drawn by an option widget carries enum or x-lookup."""
    from app.cases.widgets import _PROVIDERS
    from app.config import BASE_DIR
    from app.core.lookups import _LOOKUPS, annotate

    from .conftest import user
    widgets = set(_PROVIDERS) | set(_LOOKUPS)
    people = [user(u) for u in ("xn_supervisor", "unit_xn", "op_lan", "agency_gx")]
    checked = 0
    for path in sorted((BASE_DIR / "forms").glob("*/*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        for person in people:
            schema = annotate(raw, person)
            for name, prop in schema.get("properties", {}).items():
                if prop.get("ui:widget") == "files" or not (REFERENCE_FIELD.search(name) or prop.get("ui:widget") in widgets):
                    continue
                target = prop.get("items", {}) if prop.get("type") == "array" else prop
                assert "enum" in target or "x-lookup" in prop, f"{path.relative_to(BASE_DIR)}: {name} ({person.username})"
                if "enum" in target and "ui:enumNames" in target:
                    assert len(target["enum"]) == len(target["ui:enumNames"]), f"{path.name}: {name}"
                checked += 1
    assert checked > 20
