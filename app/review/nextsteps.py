"""What comes next on a case: the open steps with who may act on them, and the user steps the
process graph leads to after each (without deserialising the workflow: the spec is cached)."""
from __future__ import annotations

from ..cases.models import Case
from ..cases.services import open_tasks
from ..core.regions import region_name
from ..core.roles import role_label
from ..engine.registry import ensure_spec_loaded


def holder_text(task) -> str:
    if task.assignee is not None:
        text = f"{task.assignee.display_name}（已签收）"
        if task.deputy_for is not None:
            text += f"，代 {task.deputy_for.display_name} 办理"
        return text
    where = task.candidate_org.name if task.candidate_org else region_name(task.candidate_region)
    return f"{where} · {role_label(task.candidate_role)}"


def _is_user_spec(spec) -> bool:
    return type(spec).__name__ == "UserTask" or "MultiInstance" in type(spec).__name__


def following_steps(spec_of, task_def: str, limit: int = 4) -> list[dict]:
    """The first user steps reachable from `task_def` along the graph (through gateways, events
    and system steps; not through boundary events such as the escalation timers)."""
    start = next((s for s in spec_of.values() if getattr(s, "bpmn_id", None) == task_def
                  and (_is_user_spec(s))), None)
    if start is None:
        return []
    found, seen, todo = [], {start.name}, list(start.outputs)
    while todo and len(found) < limit:
        spec = todo.pop(0)
        if spec.name in seen or type(spec).__name__ == "BoundaryEvent":
            continue     # exceptional paths (timers on a step) are not "what comes next"
        seen.add(spec.name)
        if _is_user_spec(spec) and getattr(spec, "bpmn_id", None):
            if spec.bpmn_id not in {f["task_def"] for f in found}:
                found.append({"task_def": spec.bpmn_id, "name": spec.bpmn_name or spec.bpmn_id,
                              "role": role_label(getattr(spec, "lane", None))})
            continue
        todo.extend(spec.outputs)
    return found


def next_steps(case: Case) -> list[dict]:
    if case.status != "running":
        return []
    spec, subprocess_specs = ensure_spec_loaded(case.process_version)
    specs = dict(spec.task_specs)
    for sub in (subprocess_specs or {}).values():
        specs.update(sub.task_specs)
    rows = []
    for task in open_tasks(case):
        rows.append({"task": task, "holder": holder_text(task),
                     "after": following_steps(specs, task.task_def)})
    return rows
