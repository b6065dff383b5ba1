"""The security audit log: one chain of HMAC-SM3-linked entries, SM2-signed checkpoints, verification.

Every entry is written in the same transaction as the change it records (fail closed: if the audit
row cannot be written the change rolls back). Writers serialize on the chain-head row
(SELECT … FOR UPDATE), so ids are consecutive: a gap, a broken link or a wrong MAC names the entry.

Keys (never in the database): AUDIT_HMAC_KEY (hex, ≥ 32 bytes) with AUDIT_KEY_ID, and the SM2
checkpoint key AUDIT_SM2_KEY (PEM text or a path to it). Development keys are generated under
instance/audit_keys.json. The case timeline (engine/runtime.py) uses a key derived from the same
secret with its own purpose label.
"""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app, has_request_context, request, session
from flask_login import current_user
from sqlalchemy import func, select

from ..core.clock import as_utc, utcnow
from ..core.gm import SM2PrivateKey, SM2PublicKey, hmac_sm3, hmac_sm3_hex, sm3_hex
from ..extensions import db
from .models import AuditChainHead, AuditCheckpoint, AuditLog

GENESIS = "0" * 64

EVENT_LABELS = {
    "auth.login": "登录", "auth.login_failed": "登录失败", "auth.locked": "账号锁定", "auth.logout": "退出登录",
    "auth.session_end": "会话结束", "auth.otp": "双因素认证", "auth.otp_enrol": "绑定动态口令",
    "auth.password_change": "修改密码", "auth.face": "人脸核验", "auth.password_reset": "重置密码", "auth.api_token": "接口登录",
    "user.create": "新建账号", "user.update": "修改账号", "user.disable": "停用账号", "user.enable": "启用账号",
    "user.unlock": "解除锁定", "user.role": "变更角色/数据范围", "user.sessions_end": "终止会话",
    "data.export": "数据导出", "admin.action": "管理操作", "config.change": "配置变更（流程、模板等）",
    "audit.search": "查阅审计日志", "audit.export": "导出审计日志", "audit.verify": "审计链校验",
    "audit.checkpoint": "审计检查点", "security.denied": "越权访问被拒绝", "security.csrf": "CSRF 校验失败",
    "security.rate_limit": "访问频率超限", "pii.rotate": "个人信息密钥轮换", "record.change": "记录变更",
}


def event_label(event_type: str) -> str:
    return EVENT_LABELS.get(event_type, event_type)


# ---------------------------------------------------------------- keys

def _dev_keys(instance_dir: str) -> dict:
    path = os.path.join(instance_dir, "audit_keys.json")
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        os.makedirs(instance_dir, exist_ok=True)
        data = {"AUDIT_HMAC_KEY": secrets.token_hex(32), "AUDIT_KEY_ID": 1,
                "AUDIT_SM2_KEY": SM2PrivateKey.generate().to_pem().decode()}
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.chmod(path, 0o600)
        return data


def configure_keys(config) -> None:
    """Called by Config: AUDIT_HMAC_KEY / AUDIT_KEY_ID / AUDIT_SM2_KEY from the environment or dev files."""
    if os.environ.get("AUDIT_HMAC_KEY"):
        settings = {k: os.environ.get(k, "") for k in ("AUDIT_HMAC_KEY", "AUDIT_KEY_ID", "AUDIT_SM2_KEY")}
    else:
        settings = _dev_keys(config.INSTANCE_DIR)
    key = bytes.fromhex(settings["AUDIT_HMAC_KEY"])
    if len(key) < 32:
        raise ValueError("AUDIT_HMAC_KEY needs at least 32 bytes (64 hex digits)")
    pem = str(settings.get("AUDIT_SM2_KEY") or "")
    if pem and not pem.lstrip().startswith("-----") and os.path.exists(pem):
        with open(pem, encoding="ascii") as fh:
            pem = fh.read()
    config.AUDIT_HMAC_KEY = key
    config.AUDIT_KEY_ID = int(settings.get("AUDIT_KEY_ID") or 1)
    config.AUDIT_SM2_KEY = pem


def _hmac_key() -> bytes:
    return current_app.config["AUDIT_HMAC_KEY"]


_PURPOSE_KEYS: dict[tuple[bytes, str], bytes] = {}


def purpose_key(purpose: str) -> bytes:
    """A key of its own for each chain (audit log, case timeline), derived from the audit secret
    (memoised: the derivation is as costly as the MAC itself)."""
    master = _hmac_key()
    key = _PURPOSE_KEYS.get((master, purpose))
    if key is None:
        key = _PURPOSE_KEYS[(master, purpose)] = hmac_sm3(master, f"chain:{purpose}:v1".encode())
    return key


def chain_mac(purpose: str, prev_hash: str, canonical: str) -> str:
    return hmac_sm3_hex(purpose_key(purpose), (prev_hash + canonical).encode("utf-8"))


def signing_key() -> SM2PrivateKey | None:
    pem = current_app.config.get("AUDIT_SM2_KEY") or ""
    return SM2PrivateKey.from_pem(pem.encode()) if pem else None


# ---------------------------------------------------------------- writing

def _canonical(entry: AuditLog) -> str:
    return json.dumps([entry.id, as_utc(entry.at).isoformat(), entry.actor_id, entry.actor_name, entry.actor_role,
                       entry.src_ip, entry.user_agent, entry.session_hash, entry.event_type, entry.object_type,
                       entry.object_id, entry.outcome, entry.summary, entry.detail, entry.key_id],
                      ensure_ascii=False, separators=(",", ":"))


def _entry_mac(entry: AuditLog) -> str:
    return chain_mac("audit", entry.prev_hash, _canonical(entry))


def client_ip() -> str | None:
    return request.remote_addr if has_request_context() else None


def _clean(text, limit: int) -> str | None:
    """No control characters (log injection) and bounded length."""
    if text is None:
        return None
    return "".join(ch if ch.isprintable() else " " for ch in str(text))[:limit]


def _locked_head() -> AuditChainHead:
    """The chain head, held until the transaction ends. PostgreSQL: the row lock (FOR UPDATE).
    SQLite has no row locks and its driver begins a transaction only at the first write, so two
    processes could read the same head: unless this transaction already writes (it then holds the
    database's write lock), it is begun as BEGIN IMMEDIATE — the write lock before the read."""
    if db.engine.dialect.name == "sqlite":
        conn = db.session.connection()
        raw = conn.connection.dbapi_connection
        if not raw.in_transaction and (db.session.new or db.session.dirty or db.session.deleted):
            db.session.flush()                       # pending changes begin the write transaction
        if not raw.in_transaction:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    return db.session.execute(select(AuditChainHead).where(AuditChainHead.id == 1).with_for_update()
                              .execution_options(populate_existing=True)).scalar_one()


def audit(event_type: str, summary: str, *, outcome: str = "success", object_type: str | None = None,
          object_id=None, detail: dict | None = None, actor=None) -> AuditLog:
    """Append one entry in the current transaction (the caller commits with its own change)."""
    if actor is None and has_request_context() and current_user and current_user.is_authenticated:
        actor = current_user._get_current_object()
    head = _locked_head()
    sid = session.get("sid") if has_request_context() else None
    entry = AuditLog(
        id=head.last_id + 1, at=utcnow(), event_type=event_type,
        actor_id=actor.id if actor else None, actor_name=_clean(actor.username, 64) if actor else None,
        actor_role=actor.role if actor else None, src_ip=client_ip(),
        user_agent=_clean(request.user_agent.string, 200) if has_request_context() else None,
        session_hash=sm3_hex(sid.encode())[:16] if sid else None,
        object_type=object_type, object_id=_clean(object_id, 64), outcome=outcome,
        summary=_clean(summary, 300) or event_label(event_type),
        detail=json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str) if detail else None,
        key_id=current_app.config["AUDIT_KEY_ID"], prev_hash=head.last_hash)
    entry.entry_hash = _entry_mac(entry)
    head.last_id, head.last_hash, head.count = entry.id, entry.entry_hash, head.count + 1
    db.session.add(entry)
    return entry


def audit_now(event_type: str, summary: str, **kw) -> None:
    """For events whose request otherwise changes nothing or rolls back (failed login, denial):
    roll back whatever the request did, then write and commit the entry on its own."""
    db.session.rollback()
    audit(event_type, summary, **kw)
    db.session.commit()


# ---------------------------------------------------------------- checkpoints

def make_checkpoint() -> AuditCheckpoint | None:
    """Sign the current head if entries were added since the last checkpoint."""
    key = signing_key()
    if key is None:
        return None
    head = _locked_head()
    last = db.session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1))
    if head.last_id == 0 or (last is not None and last.upto_id == head.last_id):
        if last is not None:
            _anchor_line(key, last, only_if_totals_changed=True)
        return None
    cp = AuditCheckpoint(upto_id=head.last_id, upto_hash=head.last_hash, count=head.count,
                         at=utcnow().replace(microsecond=0), signer_public_key=key.public_key().hex(), signature="")
    cp.signature = key.sign(cp.signed_text().encode()).hex()
    db.session.add(cp)
    db.session.flush()
    _anchor_line(key, cp)
    return cp


def _anchor_line(key: SM2PrivateKey, cp: AuditCheckpoint, only_if_totals_changed: bool = False) -> None:
    """Queue the checkpoint for the anchor file with the timeline totals. Case timelines only grow:
    the number of cases and of timeline entries, signed into the anchor, reveal a case rolled back
    from an old copy of its row (its own head then matches again). When the audit log did not grow
    but the timelines did, the newest checkpoint is anchored again with the new totals."""
    from . import anchor
    if not anchor.anchor_path():
        return
    cases, entries = timeline_totals()
    if only_if_totals_changed:
        previous = anchor.last_line()
        if previous is None or (previous.get("cases"), previous.get("timeline_entries")) == (cases, entries):
            return
    line = {"checkpoint_id": cp.id, "upto_id": cp.upto_id, "upto_hash": cp.upto_hash, "count": cp.count,
            "at": as_utc(cp.at).isoformat(), "signature": cp.signature, "public_key": cp.signer_public_key,
            "cases": cases, "timeline_entries": entries}
    line["totals_signature"] = key.sign(anchor.totals_text(line, cases, entries).encode()).hex()
    anchor.queue(db.session, line)


def timeline_totals() -> tuple[int, int]:
    """(cases, timeline entries of all cases) from the heads on the case rows: one aggregate."""
    from ..cases.models import Case
    cases, entries = db.session.execute(select(func.count(Case.id),
                                               func.coalesce(func.sum(Case.timeline_seq), 0))).one()
    return int(cases), int(entries)


# ---------------------------------------------------------------- verification

@dataclass
class Verification:
    checked: int = 0
    checkpoints: int = 0
    anchored: int = 0                       # checkpoints found in the anchor file outside the database
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    first_bad_id: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(batch: int = 5000) -> Verification:
    result = Verification()
    expected_id, prev = 1, GENESIS
    hashes_at: dict[int, str] = {}
    from . import anchor
    anchored = anchor.read()
    checkpoint_ids = set(db.session.scalars(select(AuditCheckpoint.upto_id))) | \
        {line["upto_id"] for line in anchored.lines}
    last_id = db.session.scalar(select(func.max(AuditLog.id))) or 0
    lo = 0
    while lo < last_id:
        rows = db.session.execute(select(*AuditLog.__table__.c).where(AuditLog.id > lo)
                                  .order_by(AuditLog.id).limit(batch)).all()
        if not rows:
            break
        for entry in rows:
            problem = None
            if entry.id != expected_id:
                problem = f"第 {expected_id} 条至第 {entry.id - 1} 条审计记录缺失（被删除）"
            elif entry.prev_hash != prev:
                problem = f"第 {entry.id} 条审计记录与前一条的链接断开（记录被删除、插入或调换顺序）"
            elif _entry_mac(entry) != entry.entry_hash:
                problem = f"第 {entry.id} 条审计记录内容被修改（{event_label(entry.event_type)}，" \
                          f"{_fmt(entry.at)}）"
            if problem:
                result.problems.append(problem)
                result.first_bad_id = entry.id if entry.id == expected_id else expected_id
                return result
            if entry.id in checkpoint_ids:
                hashes_at[entry.id] = entry.entry_hash
            prev, expected_id = entry.entry_hash, entry.id + 1
            result.checked += 1
        lo = rows[-1].id
    head = db.session.get(AuditChainHead, 1)
    if head.last_id != expected_id - 1 or head.last_hash != prev:
        result.problems.append(f"审计日志末尾记录缺失：链头为第 {head.last_id} 条，实际最后一条为第 {expected_id - 1} 条")
        result.first_bad_id = expected_id
        return result
    configured = signing_key()
    trusted = configured.public_key().hex() if configured else None
    for cp in db.session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id)):
        try:
            signature_ok = SM2PublicKey.from_hex(cp.signer_public_key).verify(bytes.fromhex(cp.signature),
                                                                                cp.signed_text().encode())
        except ValueError:
            signature_ok = False
        if not signature_ok:
            result.problems.append(f"检查点 {cp.id}（截至第 {cp.upto_id} 条）SM2 签名无效")
        elif trusted and cp.signer_public_key != trusted:
            result.problems.append(f"检查点 {cp.id} 的签名公钥不是本系统配置的审计签名密钥")
        elif hashes_at.get(cp.upto_id) != cp.upto_hash or cp.count != cp.upto_id:
            result.problems.append(f"检查点 {cp.id}（截至第 {cp.upto_id} 条）与审计日志不符")
        if result.problems:
            result.first_bad_id = cp.upto_id
            return result
        result.checkpoints += 1
    _check_anchor(result, anchored, hashes_at, head, trusted)
    return result


def _check_anchor(result: Verification, anchored, hashes_at: dict[int, str], head, trusted: str | None) -> None:
    """The log must still reach every checkpoint anchored outside the database, with the same values,
    and every anchored checkpoint must still be in the database."""
    if anchored.missing:
        from . import anchor
        if anchor.anchor_path():
            result.notes.append(f"未找到审计锚定文件 {anchor.anchor_path()}：无法核对日志末尾是否被截断")
        return
    if anchored.problems:
        result.problems.extend(anchored.problems)
        return
    in_db = {cp.id: cp.signature for cp in db.session.scalars(select(AuditCheckpoint))}
    totals = None
    for line in anchored.lines:
        upto = line["upto_id"]
        if trusted and line["public_key"] != trusted:
            result.problems.append(f"锚定的检查点（截至第 {upto} 条）的签名公钥不是本系统配置的审计签名密钥")
        elif upto > head.last_id:
            result.problems.append(f"审计日志被截断或回退：锚定文件记录的检查点截至第 {upto} 条，"
                                   f"数据库中的日志只到第 {head.last_id} 条")
        elif hashes_at.get(upto) != line["upto_hash"]:
            result.problems.append(f"第 {upto} 条审计记录与锚定文件中的检查点不符（日志被改写）")
        elif in_db.get(line["checkpoint_id"]) != line["signature"]:
            result.problems.append(f"检查点 {line['checkpoint_id']}（截至第 {upto} 条）已从数据库中删除或被替换")
        if result.problems:
            result.first_bad_id = min(upto, head.last_id + 1)
            return
        result.anchored += 1
        if "timeline_entries" in line:
            totals = line
    if totals is not None:
        cases, entries = timeline_totals()
        if cases < totals["cases"]:
            result.problems.append(f"案件被删除：截至第 {totals['upto_id']} 条审计记录的锚定检查点时有 {totals['cases']} 件，"
                                   f"现在只有 {cases} 件")
        elif entries < totals["timeline_entries"]:
            result.problems.append(f"流转记录被删除并回退了链头（例如用旧备份覆盖案件记录）：锚定检查点时共有 "
                                   f"{totals['timeline_entries']} 条，现在各案件链头合计只有 {entries} 条")


def _fmt(value: datetime) -> str:
    from ..core.clock import to_local
    return to_local(value).strftime("%Y-%m-%d %H:%M:%S")
