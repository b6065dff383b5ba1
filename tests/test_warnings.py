"""Warning colours from rules/warning_level.dmn, moving with the calendar (§4.3.2)."""
from datetime import datetime, timedelta, timezone

import pytest
import time_machine

from app.core.clock import today_local
from app.engine import decisions, runtime
from app.extensions import db
from app.hazards.services import refresh_hazard_warnings

from .conftest import complete, hazard_of, make_case, open_task


@pytest.mark.parametrize("days_left,level", [(45, "none"), (30, "none"), (29, "blue"), (20, "blue"),
                                             (19, "yellow"), (10, "yellow"), (9, "orange"), (0, "orange"),
                                             (-1, "red"), (-30, "red")])
def test_dmn_thresholds(days_left, level):
    assert decisions.evaluate("warning_level", days_left=days_left) == {"level": level}


def test_case_turns_red_as_time_passes():
    start = datetime(2027, 3, 1, 2, 0, tzinfo=timezone.utc)          # 10:00 in Guangxi
    with time_machine.travel(start, tick=False):
        case = make_case()
        complete(case, "xn_supervisor", {"dispatch_decision": "dispatch", "requirements": "立即停用并整改",
                                         "rectify_deadline": (today_local() + timedelta(days=25)).isoformat(),
                                         "opinion": "督办"})
        assert open_task(case).warning_level == "blue" and hazard_of(case).warning_level == "blue"
    for days, expected in ((10, "yellow"), (20, "orange"), (25, "orange"), (26, "red")):
        with time_machine.travel(start + timedelta(days=days), tick=False):
            runtime.refresh_warnings()
            refresh_hazard_warnings()
            db.session.commit()
            db.session.expire_all()
            assert open_task(case).warning_level == expected, days
            assert hazard_of(case).warning_level == expected
            assert db.session.get(type(case), case.id).warning_level == expected


def test_inbox_warning_and_overdue_filters(api):
    start = datetime(2027, 3, 1, 2, 0, tzinfo=timezone.utc)
    with time_machine.travel(start, tick=False):
        case = make_case(reporter="xn_supervisor")
        complete(case, "xn_supervisor", {"dispatch_decision": "dispatch", "requirements": "立即停用并整改",
                                         "rectify_deadline": (today_local() + timedelta(days=3)).isoformat(),
                                         "opinion": "督办"})
    with time_machine.travel(start + timedelta(days=5), tick=False):
        runtime.refresh_warnings()
        db.session.commit()
        unit = api("unit_xn")
        assert unit.get("/api/v1/tasks?warning=red").get_json()["total"] == 1
        assert unit.get("/api/v1/tasks?overdue=1").get_json()["total"] == 1
        assert unit.get("/api/v1/tasks?warning=blue").get_json()["total"] == 0
