"""Two people completing the same task at the same moment: exactly one wins."""
import threading

from sqlalchemy import func, select

from app.cases.models import CaseEvent, Task
from app.errors import Conflict, DomainError
from app.extensions import db

from .conftest import make_case, open_task, user


def test_concurrent_completion_has_exactly_one_winner(app):
    case = make_case()
    task_id = open_task(case).id
    names = ["xn_supervisor", "xn_colleague"]
    barrier = threading.Barrier(len(names))
    outcomes: dict[str, str] = {}

    def worker(name):
        from app.engine import runtime
        with app.app_context():
            me = user(name)
            barrier.wait()
            try:
                runtime.complete_task(task_id, me, {"dispatch_decision": "reject", "opinion": f"{name} 办理"})
                db.session.commit()
                outcomes[name] = "won"
            except (Conflict, DomainError) as err:
                db.session.rollback()
                outcomes[name] = f"refused:{err.status}:{err.message}"
            except Exception as err:  # e.g. SQLite "database is locked" must not happen
                db.session.rollback()
                outcomes[name] = f"error:{type(err).__name__}:{err}"
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(v.split(":")[0] for v in outcomes.values()) == ["refused", "won"], outcomes
    loser = next(v for v in outcomes.values() if v.startswith("refused"))
    assert ":409:" in loser
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Task.id)).where(Task.case_id == case.id,
                                                               Task.status == "completed")) == 1
    assert db.session.scalar(select(func.count(CaseEvent.id)).where(CaseEvent.case_id == case.id,
                                                                    CaseEvent.kind == "completed")) == 1
