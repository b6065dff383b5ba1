"""Evaluate DMN decision tables from application code, with the same sandbox as BPMN."""
from __future__ import annotations

import hashlib
import time
from pathlib import Path
from types import SimpleNamespace

from lxml import etree
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from sqlalchemy import func, select

from ..extensions import db
from .models import DecisionVersion
from .registry import DMN_NAMESPACES, DefinitionError
from .scripting import NEVER, SCRIPT_ENGINE, deadline_end, register_helper

_ENGINES: dict[str, tuple] = {}   # decision_id -> (content_sha256, DMNEngine, checked_at)
# How long a process trusts its cached "latest version" before asking the database again: a
# decision deployed by another process takes effect within this time (at once in this process).
RECHECK_SECONDS = 10.0


def _parse(xml: str, filename: str):
    try:
        root = etree.fromstring(xml.encode("utf-8"))
    except etree.XMLSyntaxError as err:
        raise DefinitionError([f"DMN 文件 {filename} 不是合法的 XML: {err.msg}"]) from err
    decisions = [el for ns in DMN_NAMESPACES for el in root.findall(f"{{{ns}}}decision")]
    if len(decisions) != 1:
        raise DefinitionError([f"DMN 文件 {filename} 必须恰好包含一个决策 (decision)"])
    decision_id, name = decisions[0].get("id"), decisions[0].get("name") or decisions[0].get("id")
    parser = SpiffBpmnParser()
    try:
        parser.add_dmn_str(xml.encode("utf-8"), filename=filename)
        engine = parser.get_engine(decision_id, None)
    except Exception as err:
        raise DefinitionError([f"DMN 文件 {filename} 无法解析: {err}"]) from err
    return decision_id, name, engine


def deploy_decision_file(path: Path, user_id: int | None = None) -> tuple[DecisionVersion, bool]:
    """File-based (CLI) deploy: content equal to any stored version is not deployed again, so the
    repository's file does not undo a newer version deployed in the browser."""
    return deploy_decision_xml(path.read_text(encoding="utf-8"), path.name, user_id, skip_if_known=True)


def deploy_decision_xml(xml: str, filename: str, user_id: int | None = None,
                        skip_if_known: bool = False) -> tuple[DecisionVersion, bool]:
    """Store a new decision version when the content changed. Returns (version, created)."""
    decision_id, name, _ = _parse(xml, filename)
    digest = hashlib.sha256(xml.encode("utf-8")).hexdigest()
    latest = _latest(decision_id)
    if latest is not None and latest.content_sha256 == digest:
        return latest, False
    if skip_if_known and latest is not None and db.session.scalar(
            select(DecisionVersion.id).where(DecisionVersion.decision_id == decision_id,
                                             DecisionVersion.content_sha256 == digest).limit(1)):
        return latest, False
    number = (db.session.scalar(select(func.max(DecisionVersion.version))
                                .where(DecisionVersion.decision_id == decision_id)) or 0) + 1
    version = DecisionVersion(decision_id=decision_id, version=number, name=name, filename=filename,
                              dmn_xml=xml, content_sha256=digest, deployed_by_id=user_id)
    db.session.add(version)
    db.session.flush()
    _ENGINES.pop(decision_id, None)
    return version, True


def _latest(decision_id: str) -> DecisionVersion | None:
    return db.session.scalar(select(DecisionVersion).where(DecisionVersion.decision_id == decision_id)
                             .order_by(DecisionVersion.version.desc()).limit(1))


def _engine(decision_id: str):
    now = time.monotonic()
    cached = _ENGINES.get(decision_id)
    if cached is not None and now - cached[2] < RECHECK_SECONDS:
        return cached[1]
    sha = db.session.scalar(select(DecisionVersion.content_sha256).where(DecisionVersion.decision_id == decision_id)
                            .order_by(DecisionVersion.version.desc()).limit(1))
    if sha is None:
        raise LookupError(f"decision {decision_id} is not deployed")
    if cached is None or cached[0] != sha:
        latest = _latest(decision_id)
        cached = (latest.content_sha256, _parse(latest.dmn_xml, latest.filename)[2], now)
    _ENGINES[decision_id] = (cached[0], cached[1], now)
    return cached[1]


def version_key(decision_id: str) -> str:
    """The content digest of the latest version in use: a cache key for callers that memoise results."""
    _engine(decision_id)
    return _ENGINES[decision_id][0]


def evaluate(decision_id: str, **inputs) -> dict:
    """Evaluate the latest deployed version of a decision; returns the first matching row's outputs."""
    fake_task = SimpleNamespace(data=dict(inputs), workflow=SimpleNamespace(script_engine=SCRIPT_ENGINE))
    return _engine(decision_id).result(fake_task)


def escalation_at(process_key: str, level: int, deadline: str) -> str:
    """BPMN helper: when escalation `level` of a process is due — the deadline's end plus the offset
    the `escalation_target` DMN table gives (rules/escalation_target.dmn)."""
    target = evaluate("escalation_target", process_key=process_key, level=int(level))
    if not target.get("role"):
        return NEVER
    return deadline_end(deadline, int(target.get("offset_days") or 0))


register_helper("escalation_at", escalation_at)
