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
