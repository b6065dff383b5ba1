"""Extension points of the engine's task actions.

The engine sits below every domain and task-operation package: it imports none of them. What they
add to an action (opinion and signature checks, 后加签 holds, BPMN copies, the paused case clock,
deputies) they register here at start-up — `create_app` → `configure_domains` imports the packages,
and each registers at import, as service functions do (engine/services.py). With nothing registered
an action runs the plain engine step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

_STEP_CHECKS: list[Callable[..., list[int]]] = []
_HOLDS: list[Callable[..., bool]] = []
_AFTER_COMPLETION: list[Callable[..., Any]] = []
_AFTER_SYNC: list[Callable[..., Any]] = []
_LOCK_READS: list["LockRead"] = []
_ROUTER: list[Callable[[int | None], tuple[int | None, int | None]]] = []


def step_check(fn):
    """fn(task, props, data, user, extras) -> attachment ids to link. Runs before the engine step;
    raises ValidationFailed (its fields are shown with the form's own errors)."""
    _STEP_CHECKS.append(fn)
    return fn


def completion_hold(fn):
    """fn(case, task, user, data, attachment_ids) -> True when it took the validated submission
    instead of letting the engine task complete now (后加签: the signers sign first)."""
    _HOLDS.append(fn)
    return fn


def after_completion(fn):
    """fn(case, task, props, actor): a user task completed (before the task projection is synced)."""
    _AFTER_COMPLETION.append(fn)
    return fn


def after_sync(fn):
    """fn(case, wf): the task projection of `case` was synced; runs before its next timer is read
    (the paused case clock keeps its timers suspended)."""
    _AFTER_SYNC.append(fn)
    return fn


@dataclass(frozen=True)
class LockRead:
    """A fact read with the task rows under the case lock: `column()` is a SQL expression
    correlated to Task; `seen(task, value)` receives its value for the task being acted on."""
    column: Callable[[], Any]
    seen: Callable[[Any, Any], None]


def lock_read(read: LockRead) -> LockRead:
    _LOCK_READS.append(read)
    return read


def personal_router(fn):
    """fn(user_id) -> (assignee id, on behalf of id): where a task assigned to a person goes
    (代理人: to the deputy of someone away). One router; the last registered wins."""
    _ROUTER[:] = [fn]
    return fn


# ---------------------------------------------------------------- called by engine/runtime.py

def run_step_checks(task, props: dict, data: dict, user, extras: dict) -> list[int]:
    ids: list[int] = []
    for check in _STEP_CHECKS:
        ids += check(task, props, data, user, extras)
    return ids


def held(case, task, user, data: dict, attachment_ids: list[int]) -> bool:
    return any(hold(case, task, user, data, attachment_ids) for hold in _HOLDS)


def completed(case, task, props: dict, actor) -> None:
    for fn in _AFTER_COMPLETION:
        fn(case, task, props, actor)


def synced(case, wf) -> None:
    for fn in _AFTER_SYNC:
        fn(case, wf)


def lock_reads() -> list[LockRead]:
    return list(_LOCK_READS)


def route(user_id: int | None) -> tuple[int | None, int | None]:
    return _ROUTER[0](user_id) if _ROUTER else (user_id, None)
