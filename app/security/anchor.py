"""Audit checkpoints anchored outside the database they protect.

Every SM2-signed checkpoint (security/audit.make_checkpoint) is also appended, once its transaction
has committed, as one JSON line to the file AUDIT_ANCHOR_PATH (default: instance/audit_anchor.jsonl).
Each line carries the SM3 of the line before it, so lines cannot be dropped from the middle unnoticed.
`flask audit verify` reads the file: an audit log that ends before an anchored checkpoint, an entry
whose value differs from the anchored one, or an anchored checkpoint missing from the database means
the log was truncated or rewritten — even when the attacker also removed the newest checkpoint rows
and rewound audit_chain_head.

In production point AUDIT_ANCHOR_PATH at storage the database administrators cannot rewrite: a mount
from the log server, a WORM volume, or a file shipped to the log server by rsyslog/filebeat.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from ..core.gm import SM2PublicKey, sm3_hex

PENDING = "audit_anchor_pending"
FIRST_PREV = "0" * 64


def totals_text(line: dict, cases: int, entries: int) -> str:
    """What the second SM2 signature of an anchor line covers: the checkpoint and the timeline totals."""
    return f"{line['upto_id']}|{line['upto_hash']}|cases:{cases}|timeline:{entries}"


def anchor_path() -> str:
    return current_app.config.get("AUDIT_ANCHOR_PATH") or ""


def queue(session, line: dict) -> None:
    """Append `line` to the anchor once the session's transaction commits (forgotten on rollback)."""
    if anchor_path():
        session.info.setdefault(PENDING, []).append((anchor_path(), line))


@sa_event.listens_for(Session, "after_commit")
def _write_pending(session) -> None:
    for path, line in session.info.pop(PENDING, []):
        try:
            append(path, line)
        except OSError as err:      # the checkpoint is in the database; the next one is anchored again
            current_app.logger.error("audit anchor %s not written: %s", path, err)


@sa_event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session, previous) -> None:
    if getattr(previous, "parent", None) is None:      # the whole transaction, not a savepoint
        session.info.pop(PENDING, None)


def append(path: str, line: dict) -> None:
    """Append one line under an exclusive lock (several processes may checkpoint), chained by SM3."""
    import fcntl
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        prev = _last_line_digest(fd)
        text = json.dumps({**line, "prev": prev}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        os.write(fd, (text + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _last_line_digest(fd: int) -> str:
    size = os.fstat(fd).st_size
    if size == 0:
        return FIRST_PREV
    chunk = min(size, 64 * 1024)
    os.lseek(fd, size - chunk, os.SEEK_SET)
    tail = os.read(fd, chunk).rstrip(b"\n").rsplit(b"\n", 1)[-1]
    return sm3_hex(tail)


def last_line(path: str | None = None) -> dict | None:
    """The newest anchored line (its tail only is read), or None."""
    path = path if path is not None else anchor_path()
    if not path or not os.path.exists(path):
        return None
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 64 * 1024))
        tail = fh.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    try:
        return json.loads(tail) if tail else None
    except ValueError:
        return None


@dataclass
class AnchorReading:
    lines: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    missing: bool = False


def read(path: str | None = None) -> AnchorReading:
    """Every anchored checkpoint, with problems of the file itself (broken line links, bad signatures)."""
    path = path if path is not None else anchor_path()
    reading = AnchorReading()
    if not path or not os.path.exists(path):
        reading.missing = True
        return reading
    prev = FIRST_PREV
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            raw = raw.rstrip(b"\n")
            if not raw:
                continue
            try:
                line = json.loads(raw)
                text = f"{line['upto_id']}|{line['upto_hash']}|{line['count']}|{line['at']}"
                public = SM2PublicKey.from_hex(line["public_key"])
                signature_ok = public.verify(bytes.fromhex(line["signature"]), text.encode())
                if signature_ok and "timeline_entries" in line:
                    signature_ok = public.verify(bytes.fromhex(line["totals_signature"]), totals_text(
                        line, line["cases"], line["timeline_entries"]).encode())
            except (ValueError, KeyError, TypeError):
                reading.problems.append(f"锚定文件第 {number} 行无法解析")
                return reading
            if line.get("prev") != prev:
                reading.problems.append(f"锚定文件第 {number} 行与上一行的链接断开（锚定文件被删改）")
                return reading
            if not signature_ok:
                reading.problems.append(f"锚定文件第 {number} 行（截至第 {line['upto_id']} 条）SM2 签名无效")
                return reading
            reading.lines.append(line)
            prev = sm3_hex(raw)
    return reading
