"""Fixed-window rate limits shared by every worker process: one upsert per limited request, in a
connection of its own so the count survives the request's rollback. Old windows are removed by
the housekeeping job."""
from __future__ import annotations

import time

from flask import current_app, request
from sqlalchemy import delete

from ..errors import DomainError
from ..extensions import db
from .models import RateLimitHit

WINDOW_SECONDS = 60


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"


def _upsert(conn, key: str, window: int) -> int:
    table = RateLimitHit.__table__
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table).values(key=key, window_start=window, count=1)
    stmt = stmt.on_conflict_do_update(index_elements=[table.c.key, table.c.window_start],
                                      set_={"count": table.c.count + 1}).returning(table.c.count)
    return conn.execute(stmt).scalar_one()


def limit(bucket: str, per_minute: int) -> None:
    """Raise RateLimited (429) when this client address exceeded `per_minute` requests in the window."""
    if not current_app.config.get("RATELIMIT_ENABLED", True) or per_minute <= 0:
        return
    window = int(time.time()) // WINDOW_SECONDS * WINDOW_SECONDS
    key = f"{bucket}:{request.remote_addr or '-'}"[:120]
    with db.engine.begin() as conn:
        count = _upsert(conn, key, window)
    if count > per_minute:
        if count == per_minute + 1:   # audit the first refusal of the window, not every one
            from .audit import audit_now
            audit_now("security.rate_limit", f"访问频率超限：{bucket}", outcome="denied",
                      detail={"bucket": bucket, "limit_per_minute": per_minute})
        raise RateLimited("操作过于频繁，请一分钟后再试")


def purge_old(now: float | None = None) -> int:
    cutoff = int((now or time.time()) - 3600)
    result = db.session.execute(delete(RateLimitHit).where(RateLimitHit.window_start < cutoff))
    return result.rowcount or 0
