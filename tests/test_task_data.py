"""A task's data read from the stored state (engine/serializer.stored_task_data) is what the engine
gives that task once the workflow is built — for every task of a case, at every step."""
from app.cases.models import Case
from app.engine import runtime
from app.engine.serializer import stored_task_data
from app.extensions import db

from .conftest import complete, make_case, open_task
from .test_hazard_process import dispatch, feedback


def _same_as_the_engine(case_id: int) -> int:
    db.session.expire_all()
    case = db.session.get(Case, case_id)
    tasks = runtime._load(case).get_tasks()
    for task in tasks:
        assert stored_task_data(case.state, str(task.id)) == task.data, task.task_spec.name
    return len(tasks)


def test_stored_task_data_is_the_engines_at_every_step_including_a_return_for_rework():
    case = make_case()
    _same_as_the_engine(case.id)
    dispatch(case)
    feedback(case)
    complete(case, "xn_supervisor", {"verify_result": "fail", "opinion": "门锁回路仍被短接，未整改到位"})
    assert _same_as_the_engine(case.id) > 10
    task = open_task(case)
    data = runtime.task_data(task)
    assert data["verify_result"] == "fail" and data["description"] and data["found_on"]
    feedback(case)
    complete(case, "xn_supervisor", {"verify_result": "pass", "opinion": "第二次复核通过"})
    _same_as_the_engine(case.id)
    assert stored_task_data(db.session.get(Case, case.id).state, "00000000-0000-0000-0000-000000000000") is None
