"""Exactly one active scheduler.

PostgreSQL: a session-level advisory lock held on a dedicated connection; if the leader's
process or connection dies, PostgreSQL releases the lock and a standby takes over on its next
tick. SQLite (one machine, development): an exclusive flock on instance/scheduler.lock.
"""
from __future__ import annotations

import fcntl
import logging
import os

from sqlalchemy import text

log = logging.getLogger(__name__)

ADVISORY_KEY = 0x67787473_00000005   # 'gxts' + 5: the scheduler's lock id


class LeaderLock:
    def __init__(self, engine, instance_dir: str):
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        self.path = os.path.join(instance_dir, "scheduler.lock")
        self._conn = None
        self._fh = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self._fh is not None

    def ensure(self) -> bool:
        """Keep leadership, or try to take it; never blocks."""
        if self.postgres:
            return self._ensure_pg()
        return self._ensure_file()

    def _ensure_pg(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except Exception:  # noqa: BLE001 - connection lost: so is the lock
                log.warning("scheduler lost its database connection; leadership dropped")
                self._drop_pg()
        conn = self.engine.connect()
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}).scalar()
            conn.commit()
        except Exception:
            conn.close()
            raise
        if got:
            self._conn = conn
            return True
        conn.close()
        return False

    def _drop_pg(self) -> None:
        try:
            self._conn.invalidate()
        except Exception:  # noqa: BLE001
            pass
        self._conn = None

    def _ensure_file(self) -> bool:
        if self._fh is not None:
            return True
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fh = open(self.path, "a+")  # noqa: SIM115 - held open while leader
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh
        return True

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
                self._conn.commit()
                self._conn.close()
            except Exception:  # noqa: BLE001
                self._drop_pg()
            self._conn = None
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def leader_info(engine, instance_dir: str) -> dict:
    """Who holds the scheduler lock right now (for the admin page)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            row = conn.execute(text(
                "SELECT a.pid, a.client_addr::text, a.application_name, a.backend_start "
                "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted "
                "AND ((l.classid::bigint << 32) | l.objid::bigint) = :key"), {"key": ADVISORY_KEY}).first()
        if row is None:
            return {"active": False}
        return {"active": True, "detail": f"PostgreSQL 会话 pid {row[0]}（{row[1] or '本机'}）"}
    path = os.path.join(instance_dir, "scheduler.lock")
    if not os.path.exists(path):
        return {"active": False}
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            return {"active": True, "detail": f"本机进程 {fh.read().strip() or '?'}（文件锁）"}
        fcntl.flock(fh, fcntl.LOCK_UN)
    return {"active": False}
