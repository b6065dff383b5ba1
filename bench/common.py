"""Shared by the benchmark scripts: the province-scale PostgreSQL database they run on."""
from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TZ", "UTC")
PG_BASE = os.environ.get("PG_TEST_URL", "postgresql://postgres@127.0.0.1:5432/test")


def database_url(scale: str) -> str:
    """gx_<scale> next to PG_TEST_URL's database (never the `test` database itself)."""
    return PG_BASE.rsplit("/", 1)[0] + f"/gx_{scale}"


def ensure_database(scale: str) -> str:
    import psycopg
    url = database_url(scale)
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return url


def use_database(scale: str, create: bool = False) -> str:
    url = ensure_database(scale) if create else database_url(scale)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("INSTANCE_DIR", os.path.join(ROOT, "instance", f"bench-{scale}"))
    return url


def start_gunicorn(port: int, *overrides: str):
    """gunicorn serving wsgi:app with the shipped gunicorn.conf.py (`overrides`: command-line settings,
    which win over the file); rate limits off, no scheduler. Returns once /healthz answers."""
    import signal
    import subprocess
    import time
    import urllib.request
    env = dict(os.environ, RATELIMIT_ENABLED="0", SCHEDULER_EMBEDDED="0", PYTHONUNBUFFERED="1")
    cmd = [os.path.join(ROOT, ".venv", "bin", "gunicorn"), "--chdir", ROOT, "-c", os.path.join(ROOT, "gunicorn.conf.py"),
           "-b", f"127.0.0.1:{port}", "--log-level", "warning", *overrides, "wsgi:app"]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGTERM)
    raise SystemExit("gunicorn did not come up")


def stop_gunicorn(proc) -> None:
    import signal
    import subprocess
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def pct(values: list[float], p: float) -> float:
    """The p-quantile of `values` (seconds), in milliseconds."""
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1000 if values else 0.0


def bench_app(scale: str):
    """The application on the benchmark database gx_<scale> (created when missing): fast password hashing,
    no rate limits, no password expiry."""
    use_database(scale, create=True)
    from app import create_app
    from app.config import Config
    return create_app(Config(PASSWORD_ITERATIONS=1000, RATELIMIT_ENABLED=False, PASSWORD_MAX_AGE_DAYS=0))


def web_login(app, username: str, password: str = "Demo@2026"):
    """A test client logged in through the login form (a browser session)."""
    c = app.test_client()
    html = c.get("/login").get_data(as_text=True)
    token = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    resp = c.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert resp.status_code == 302, resp.status_code
    return c
