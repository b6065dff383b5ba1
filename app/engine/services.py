"""Python functions that BPMN service tasks may call, and per-process start hooks.

A service task names an operator id (spiffworkflow:serviceTaskOperator id="hazard.register");
only ids registered here run. Domain packages register their functions at import time.
"""
from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy import bindparam, select

from ..core.statements import built
from ..errors import DomainError
from ..extensions import db


@dataclass
class ServiceContext:
    case: Any            # app.cases.models.Case
    actor: Any           # app.core.models.User or None (scheduler)
    task_data: dict


@dataclass
class StartContext:
    """What a process's start hook derives from the start form and the user."""
    title: str
    region_code: str
    org_id: int | None = None
    equipment_id: int | None = None
    parties: list[tuple[int, str]] = field(default_factory=list)   # (org_id, relation)
    extra_data: dict = field(default_factory=dict)                 # merged into workflow data


_SERVICES: dict[str, Callable[..., Any]] = {}
_CASE_FACTS: dict[str, Callable[..., dict]] = {}
_CASE_PANELS: dict[str, Callable[..., dict | None]] = {}
_START_HOOKS: dict[str, Callable[..., StartContext]] = {}
CURRENT: ContextVar[ServiceContext | None] = ContextVar("engine_service_context", default=None)


def service(name: str):
    def register(fn):
        _SERVICES[name] = fn
        return fn
    return register


def start_hook(process_key: str):
    def register(fn):
        _START_HOOKS[process_key] = fn
        return fn
    return register


def case_facts(process_key: str):
    """Register a function case -> dict of business facts (notice number, …) that generic
    services such as escalation put into SMS templates."""
    def register(fn):
        _CASE_FACTS[process_key] = fn
        return fn
    return register


def case_panel(*process_keys: str):
    """Register a function case -> {"template": …, **context} drawing the process's own facts
    on the case page (e.g. the hazard sheet); None draws nothing."""
    def register(fn):
        for key in process_keys:
            _CASE_PANELS[key] = fn
        return fn
    return register


def panel_for(case) -> dict | None:
    fn = _CASE_PANELS.get(case.process_key)
    return fn(case) if fn else None


def facts_for(case) -> dict:
    fn = _CASE_FACTS.get(case.process_key)
    return fn(case) if fn else {}


def registered_services() -> set[str]:
    return set(_SERVICES)


def get_start_hook(process_key: str):
    return _START_HOOKS.get(process_key)


def call_registered_service(name: str, spiff_task, params: dict):
    fn = _SERVICES.get(name)
    if fn is None:
        raise DomainError(f"服务任务调用了未注册的函数: {name}", code="unknown_service")
    ctx = CURRENT.get()
    if ctx is None:
        raise RuntimeError("service task ran outside a case action")
    ctx.task_data = spiff_task.data
    return fn(ctx, **params)


def case_row(model, ctx: ServiceContext, *options):
    """The domain row a service task works on (one per case, column `case_id`); `options`: loader
    options for the relations the step reads (one statement instead of a lazy load each) — give
    module-level constants: the statement is built once per (model, options) and reused."""
    statement = built("case_row", (model, options),     # loader options compare by identity
                      lambda: select(model).where(model.case_id == bindparam("case_id")).options(*options))
    row = db.session.scalar(statement, {"case_id": ctx.case.id})
    if row is None:
        raise RuntimeError(f"case {ctx.case.id} has no {model.__tablename__} row")
    return row
