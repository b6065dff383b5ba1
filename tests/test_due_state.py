"""Due states (超期未检预警, §4.5.2.1): band boundaries from rules/inspection_due.dmn, states that need no
inspection, the bulk recomputation agreeing with the per-device rule, and a DMN edit taking effect."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from app.core.models import Equipment
from app.extensions import db
from app.registry import due

from .registry_helpers import make_device


@pytest.mark.parametrize("today, due_on, state", [
    (date(2026, 1, 15), date(2026, 4, 15), "due_3m"),      # exactly three months ahead
    (date(2026, 1, 15), date(2026, 4, 16), "valid"),       # a day beyond
    (date(2026, 1, 15), date(2026, 3, 15), "due_2m"),      # exactly two months
    (date(2026, 1, 15), date(2026, 2, 15), "due_1m"),      # exactly one month
    (date(2026, 1, 15), date(2026, 1, 15), "due_1m"),      # due today: not yet overdue
    (date(2026, 1, 15), date(2026, 1, 14), "overdue"),     # one day overdue
    (date(2027, 11, 29), date(2028, 2, 29), "due_3m"),     # 29 February, three months on
    (date(2027, 11, 30), date(2028, 2, 29), "due_3m"),     # 30 November + 3 months = 29 February (clipped)
    (date(2027, 11, 28), date(2028, 2, 29), "valid"),      # 28 November + 3 months = 28 February < 29th
    (date(2028, 2, 29), date(2028, 5, 29), "due_3m"),      # from 29 February
    (date(2028, 2, 29), date(2028, 3, 29), "due_1m"),
    (date(2028, 2, 29), date(2028, 2, 28), "overdue"),
    (date(2026, 1, 31), date(2026, 2, 28), "due_1m"),      # 31 January + 1 month = 28 February
    (date(2026, 1, 31), date(2026, 3, 1), "due_2m"),
])
def test_band_boundaries(today, due_on, state):
    assert due.band(due_on, today) == state


def test_months_left_and_add_months():
    assert due.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert due.add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)
    assert due.months_left(date(2026, 1, 15), date(2026, 1, 15)) == 0
    assert due.months_left(date(2026, 1, 15), date(2026, 1, 16)) == 1
    assert due.months_left(date(2026, 1, 15), date(2027, 1, 15)) == 12


def test_states_without_inspection():
    today = date(2026, 6, 1)
    stopped = make_device(status="stopped", next_due=date(2025, 1, 1))
    assert due.state_for(stopped, today) == "exempt"
    simple = make_device(variety="2170", simple_pressure_vessel=True, commissioning_date=date(2020, 1, 1),
                         design_life_years=10)
    assert due.state_for(simple, today) == "exempt"                        # within its design life
    assert due.state_for(simple, date(2030, 1, 1)) == "no_record"          # past it: inspection needed
    never = make_device()
    assert due.state_for(never, today) == "no_record"
    extended = make_device(next_due=date(2026, 5, 1), extended_until=date(2026, 8, 15))
    assert due.state_for(extended, today) == "due_3m"                      # 延期检验 date counts


def test_recompute_all_matches_the_rule_for_every_device():
    made = [make_device(next_due=date(2026, 5, 1) + (date(2026, 1, 2) - date(2026, 1, 1)) * k * 15) for k in range(12)]
    made.append(make_device(status="scrapped", next_due=date(2026, 1, 1)))
    db.session.commit()
    day = date(2026, 6, 1)
    due.recompute_all(day)
    devices = list(db.session.scalars(select(Equipment)))
    assert all(e.due_state == due.state_for(e, day) for e in devices)
    assert {e.due_state for e in devices if e.id in {m.id for m in made}} >= {"overdue", "due_1m", "due_3m", "valid", "exempt"}
    assert due.recompute_all(day) == 0                                      # nothing changes a second time
    due.recompute_all()


def test_an_edited_dmn_changes_the_bands(app):
    """The process administrator's table decides: a 6-month first band moves a device from 在有效期内."""
    from app.engine import decisions
    xml = (app.config["RULES_DIR"] and open(f"{app.config['RULES_DIR']}/inspection_due.dmn", encoding="utf-8").read())
    edited = xml.replace('<inputEntry id="r_3m_months"><text>&lt;= 3</text></inputEntry>',
                         '<inputEntry id="r_3m_months"><text>&lt;= 6</text></inputEntry>')
    assert edited != xml
    today = date(2026, 1, 15)
    assert due.band(date(2026, 6, 1), today) == "valid"
    version, created = decisions.deploy_decision_xml(edited, "inspection_due.dmn")
    assert created
    try:
        assert due.band(date(2026, 6, 1), today) == "due_3m"
    finally:
        db.session.delete(version)
        db.session.flush()
        decisions._ENGINES.pop("inspection_due", None)
    assert due.band(date(2026, 6, 1), today) == "valid"
