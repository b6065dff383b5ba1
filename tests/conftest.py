"""Test harness: the whole suite runs on SQLite (TEST_DB=sqlite) and on PostgreSQL
(TEST_DB=postgres, PG_TEST_URL). The schema is built by the Alembic migrations, processes
by `deploy_all`, master data by the demo seed — the same steps as production set-up."""
from __future__ import annotations

import io
import os
import re
import secrets
import shutil
import tempfile
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy import delete, select, text

os.environ.setdefault("TZ", "UTC")

TEST_DB = os.environ.get("TEST_DB", "sqlite")
PG_BASE = os.environ.get("PG_TEST_URL", "postgresql://postgres@127.0.0.1:5432/test")


# pytest-xdist runs the suite in several processes (scripts/test.sh); each is one "worker" with its
# own database: a SQLite file in its own instance directory, or a PostgreSQL database that this
# process creates at start and drops at the end. Without xdist the single process is "main".
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


def _pg_admin(sql: str) -> None:
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def app():
    tmp = tempfile.mkdtemp(prefix=f"gx-test-{WORKER}-")
    os.environ["INSTANCE_DIR"] = tmp
    dbname = None
    if TEST_DB == "postgres":
        dbname = f"gx_test_{WORKER}_{os.getpid()}_{secrets.token_hex(3)}"
        _pg_admin(f'CREATE DATABASE "{dbname}"')
        url = PG_BASE.rsplit("/", 1)[0] + "/" + dbname
    else:
        url = f"sqlite:///{tmp}/test.sqlite"
    os.environ["DATABASE_URL"] = url
    from app import create_app
    from app.config import Config
    application = create_app(Config(TESTING=True, PASSWORD_ITERATIONS=1000, RATELIMIT_ENABLED=False,
                                    PASSWORD_MAX_AGE_DAYS=0))  # reads DATABASE_URL; tests travel in time: expiry has its own test
    with application.app_context():
        from flask_migrate import upgrade

        from app.cli import deploy_all
        from app.demo import seed
        from app.extensions import db
        upgrade()
        deploy_all()
        seed(iterations=1000, with_cases=False)
        from app.core.gm import hash_password
        from app.core.models import User
        # A second candidate in 兴宁区, for claim and race tests.
        db.session.add(User(username="xn_colleague", display_name="兴宁同事（测试）", role="county_supervisor",
                            region_code="450102", password_hash=hash_password("Demo@2026", 1000)))
        db.session.commit()
    yield application
    with application.app_context():
        from app.extensions import db
        db.session.remove()
        db.engine.dispose()
    if dbname:
        _pg_admin(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    shutil.rmtree(tmp, ignore_errors=True)


def _id_marks() -> dict[str, int]:
    """The highest integer id of every table with one: rows above it were made by a test."""
    from sqlalchemy import func, select

    from app.extensions import db
    marks = {}
    for table in db.metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        if len(pk) == 1 and pk[0].name == "id" and isinstance(pk[0].type, db.Integer):
            marks[table.name] = db.session.scalar(select(func.max(pk[0]))) or 0
    return marks


@pytest.fixture(scope="session")
def _seed_marks(app):
    with app.app_context():
        return _id_marks()


@pytest.fixture(autouse=True)
def _clean(app, _seed_marks):
    """Each test starts with the seeded data only; tests may commit freely. Every row a test
    added (id above the mark taken after seeding) is deleted afterwards, children first, in
    every table — so new modules need no cleanup list. Rows a test *changed* it must restore."""
    ctx = app.app_context()
    ctx.push()
    yield
    from app.extensions import db
    db.session.rollback()
    from app.cases import escalation
    escalation._NOTIFIED.clear()        # per-process memo of today's notices (their rows go below)
    delete_rows_above(db, _seed_marks)
    db.session.commit()
    db.session.remove()
    ctx.pop()


def delete_rows_above(db, marks: dict[str, int]) -> None:
    """Delete every row above its table's mark (children first) and put the audit chain head back."""
    allow_cleanup_of_append_only_tables(db)
    for table in reversed(db.metadata.sorted_tables):
        if table.name in marks:
            db.session.execute(delete(table).where(table.c.id > marks[table.name]))
    _restore_audit_head(db)


@contextmanager
def shared_rows(marks: dict[str, int]):
    """For a module-scoped fixture that builds expensive data once: the rows made before the `with`
    body stays — they were made already — survive each test's cleanup (the marks move up to them);
    leaving the block deletes them and restores the marks. Tests sharing such rows must not depend
    on what an earlier test changed in them."""
    original = dict(marks)
    marks.update(_id_marks())
    try:
        yield
    finally:
        from app.extensions import db
        db.session.rollback()
        delete_rows_above(db, original)
        db.session.commit()
        marks.clear()
        marks.update(original)


def allow_cleanup_of_append_only_tables(db) -> None:
    """Test cleanup only: on PostgreSQL the audit log and the timeline refuse DELETE (triggers) to
    everyone but a superuser session in replica mode; the test role is a superuser."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL session_replication_role = replica"))


def _restore_audit_head(db) -> None:
    from app.security.models import AuditChainHead, AuditLog
    last = db.session.execute(select(AuditLog.id, AuditLog.entry_hash).order_by(AuditLog.id.desc()).limit(1)).first()
    head = db.session.get(AuditChainHead, 1)
    head.last_id, head.last_hash = (last[0], last[1]) if last else (0, "0" * 64)
    head.count = last[0] if last else 0
    _trim_audit_anchor(db, head.last_id)


def _trim_audit_anchor(db, last_id: int) -> None:
    """The anchor file outside the database forgets the checkpoints (and audit rows) a test deleted."""
    import json

    from flask import current_app

    from app.security.models import AuditCheckpoint
    path = current_app.config.get("AUDIT_ANCHOR_PATH")
    if path and os.path.exists(path):
        ids = set(db.session.scalars(select(AuditCheckpoint.id)))
        with open(path, encoding="utf-8") as fh:
            kept = [line for line in fh if line.strip() and json.loads(line)["upto_id"] <= last_id
                    and json.loads(line)["checkpoint_id"] in ids]
        with open(path, "w", encoding="utf-8") as fh:
            fh.writelines(kept)


@pytest.fixture
def client(app):
    return app.test_client()


def user(username: str):
    from app.core.models import User
    from app.extensions import db
    return db.session.scalar(select(User).where(User.username == username))


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


TEST_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def prepare_second_factor(application, username: str):
    """Administrators log in with a TOTP code: give the account a known secret (a changed row that
    stays; every admin test uses the same one) and forget the last used step so that several logins
    within one 30-second step are not refused as replays. Returns a code maker, or None."""
    import uuid

    from app.core.gm import totp_code
    from app.core.pii import encrypt
    from app.extensions import db
    from app.security.policy import ADMIN_ROLES
    with application.app_context():
        account = user(username)
        if account is None or account.role not in ADMIN_ROLES:
            return None
        account.totp_ref = uuid.uuid4().hex
        account.totp_secret_enc = encrypt(TEST_TOTP_SECRET, table="user_account", column="totp_secret",
                                          ref=account.totp_ref)
        account.totp_last_step = None
        db.session.commit()
    return lambda: totp_code(TEST_TOTP_SECRET)


class WebSession:
    """A logged-in browser-like client: keeps cookies and the CSRF token.

    Each request runs in its own app context, as in production: the test's own context
    (pushed by `_clean`) would otherwise share `g` — and with it Flask-Login's current user
    and Flask-WTF's cached CSRF token — between different users' clients."""

    def __init__(self, client, username: str, password: str = "Demo@2026"):
        self.client = client
        page = self.get("/login").get_data(as_text=True)
        token = csrf_from(page)
        otp = prepare_second_factor(client.application, username)
        resp = self._call(client.post, "/login",
                          data={"username": username, "password": password, "csrf_token": token})
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        if otp:
            assert resp.location.endswith("/login/otp"), resp.location
            page = self.get("/login/otp").get_data(as_text=True)
            resp = self._call(client.post, "/login/otp", data={"code": otp(), "csrf_token": csrf_from(page)})
            assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        self.csrf = csrf_from(self.get("/inbox").get_data(as_text=True))
        from app.core.models import User
        from app.extensions import db
        from app.mobile.views import IDENTITY_CHECK_ROLES
        with client.application.app_context():
            role = db.session.scalar(select(User.role).where(User.username == username))
        if role in IDENTITY_CHECK_ROLES:     # the phone shell's face check, as the person would pass it
            import base64
            resp = self.post("/m/identity", data={"face_photo": "data:image/png;base64," + base64.b64encode(PNG).decode()})
            assert resp.status_code == 302, resp.get_data(as_text=True)[:500]

    def _call(self, method, url, **kw):
        with self.client.application.app_context():
            return method(url, **kw)

    def get(self, url, **kw):
        return self._call(self.client.get, url, **kw)

    def post(self, url, data=None, **kw):
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf)
        return self._call(self.client.post, url, data=data, **kw)


@pytest.fixture
def web(app):
    def _login(username: str) -> WebSession:
        return WebSession(app.test_client(), username)
    return _login


class ApiClient:
    def __init__(self, client, username: str):
        self.client = client
        otp = prepare_second_factor(client.application, username)
        with client.application.app_context():
            resp = client.post("/api/v1/session", json={"username": username, "password": "Demo@2026",
                                                        **({"otp": otp()} if otp else {})})
        assert resp.status_code == 201, resp.get_json()
        self.headers = {"Authorization": f"Bearer {resp.get_json()['token']}"}

    def get(self, url, **kw):
        with self.client.application.app_context():
            return self.client.get(url, headers=self.headers, **kw)

    def post(self, url, **kw):
        with self.client.application.app_context():
            return self.client.post(url, headers=self.headers, **kw)


@pytest.fixture
def api(app):
    def _login(username: str) -> ApiClient:
        return ApiClient(app.test_client(), username)
    return _login


# ------------------------------------------------------------------ builders

def _real_files() -> tuple[bytes, bytes, bytes]:
    """A small JPEG, PNG and one-page PDF that decode (uploads are checked by decoding: core/filecheck.py)."""
    from PIL import Image
    from pypdf import PdfWriter
    jpeg, png, pdf = io.BytesIO(), io.BytesIO(), io.BytesIO()
    Image.new("RGB", (16, 12), (200, 80, 40)).save(jpeg, "JPEG")
    Image.new("RGB", (16, 12), (40, 80, 200)).save(png, "PNG")
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.write(pdf)
    return jpeg.getvalue(), png.getvalue(), pdf.getvalue()


JPEG, PNG, PDF = _real_files()


def equipment_of(username: str, index: int = 0):
    from app.core.models import Equipment
    from app.extensions import db
    org_id = user(username).org_id
    return list(db.session.scalars(select(Equipment).where(Equipment.use_org_id == org_id)
                                   .order_by(Equipment.id)))[index]


def report_data(equipment, **overrides) -> dict:
    from datetime import timedelta

    from app.core.clock import today_local
    data = {"equipment_code": equipment.code, "criterion_id": "GB45067-4.6b",
            "description": "层门门锁安全回路被短接，电梯仍在运行。", "found_on": today_local().isoformat(),
            "rectify_deadline": (today_local() + timedelta(days=15)).isoformat()}
    data.update(overrides)
    return data


def make_case(reporter: str = "xn_supervisor", unit: str = "unit_xn", **overrides):
    """Start a hazard case through the engine and commit it."""
    from app.engine import runtime
    from app.extensions import db
    case = runtime.start_case("major_hazard", user(reporter), report_data(equipment_of(unit), **overrides))
    db.session.commit()
    return case


def open_task(case):
    from app.cases.models import Task
    from app.extensions import db
    return db.session.scalar(select(Task).where(Task.case_id == case.id, Task.status == "open"))


def upload(username: str, content: bytes = JPEG, name: str = "photo.jpg") -> int:
    from werkzeug.datastructures import FileStorage

    from app.core.storage import save_upload
    from app.extensions import db
    att = save_upload(FileStorage(io.BytesIO(content), filename=name), user(username))
    db.session.commit()
    return att.id


def complete(case, username: str, data: dict):
    from app.engine import runtime
    from app.extensions import db
    from app.cases.models import Task
    person = user(username)
    # With parallel branches open (e.g. 整改反馈 beside 超期督办), the task this person may work, not any open one.
    tasks = db.session.scalars(select(Task).where(Task.case_id == case.id, Task.status == "open").order_by(Task.id)).all()
    mine = [t for t in tasks if t.assignee_id == person.id or (t.assignee_id is None and runtime.is_candidate(person, t))]
    result = runtime.complete_task((mine or tasks)[0].id, person, data)
    db.session.commit()
    return result


def hazard_of(case):
    from app.extensions import db
    from app.hazards.models import Hazard
    db.session.expire_all()
    return db.session.scalar(select(Hazard).where(Hazard.case_id == case.id))


def deploy_test_process(key: str, title: str):
    """Deploy tests/bpmn/<key>.bpmn with the forms of tests/bpmn/review_demo/ and a start hook
    titling cases `title`; a generator for fixtures (the hook is removed after the test)."""
    import json
    from pathlib import Path

    from app.engine.registry import ProcessBundle, deploy_bundle
    from app.engine.services import _START_HOOKS, StartContext
    from app.extensions import db
    bpmn_dir = Path(__file__).parent / "bpmn"
    bundle = ProcessBundle(key, (bpmn_dir / f"{key}.bpmn").read_text(encoding="utf-8"))
    for path in sorted((bpmn_dir / "review_demo").glob("*.json")):
        bundle.forms[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    deploy_bundle(bundle)
    db.session.commit()
    _START_HOOKS[key] = lambda u, data: StartContext(title=title, region_code=u.region_code)
    yield
    _START_HOOKS.pop(key, None)


def assert_todo_counts_match_their_definition() -> int:
    """Every active user's 待办 — the badge count (core/scope.todo_count_statement), the list and the
    saved-filter counts (todo_condition, which skips the case for a regulator's unclaimed tasks) —
    equals its definition: open tasks matching candidate_condition within case_scope. Returns how
    many users had any."""
    from sqlalchemy import select

    from app.cases import services as case_services
    from app.cases.models import Case, Task
    from app.core.models import User
    from app.core.scope import candidate_condition, case_scope, todo_count_statement
    from app.extensions import db
    busy = 0
    assert not db.session.scalars(select(Task.id).join(Case, Task.case_id == Case.id)
                                  .where(Task.process_key != Case.process_key)).all()   # the task's copy
    plain, by_process = case_services.InboxFilter(), case_services.InboxFilter(process="major_hazard")
    for person in db.session.scalars(select(User).where(User.is_active_flag.is_(True))):
        defined = select(Task.id, Case.process_key).join(Case, Task.case_id == Case.id).where(
            Task.status == "open", candidate_condition(person), case_scope(person))
        ids = {task_id: process for task_id, process in db.session.execute(defined)}
        assert db.session.scalar(todo_count_statement(person)) == len(ids), person.username
        assert {t.id for t in db.session.scalars(case_services.inbox_query(person, plain))} == set(ids), person.username
        hazards = {i for i, process in ids.items() if process == "major_hazard"}
        assert {t.id for t in db.session.scalars(case_services.inbox_query(person, by_process))} == hazards
        assert case_services.todo_filter_counts(person, [plain, by_process]) == [len(ids), len(hazards)]
        busy += bool(ids)
    return busy
