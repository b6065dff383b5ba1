"""电梯维保监管 in a real browser: a city regulator opens the statistics at 1440 px, drills down from the city to
兴宁区, to the maintenance unit and to one elevator's full-cycle trace (its contract expanded to its visits,
a visit opening the work order); the warnings list on a 390 px phone fits without sideways scrolling."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.clock import today_local
from app.elevator_supervision import rules
from app.elevators.models import MaintenanceContract, WorkOrder
from app.extensions import db

from ..conftest import user
from ..test_elevator_supervision import at, lifts, order
from .conftest import DESKTOP, PHONE, login, overflow, shot

pytestmark = pytest.mark.e2e


def history() -> list[WorkOrder]:
    """A month of visits to 兴宁区's demo elevators, a few of them too short (warned)."""
    today = today_local()
    made = []
    for n, e in enumerate(lifts("450102")):
        for k, back in enumerate((2, 9)):
            minutes = 12 if (n + k) % 4 == 0 else 35 + 5 * n
            made.append(order(e, at(today - timedelta(days=back), 9 + n % 6, 5 * k), minutes,
                              who="wb_qin" if n % 2 else "wb_lu", coworker="wb_lu" if n % 2 else None))
    rules.store(rules.short_duration(WorkOrder.id.in_([o.id for o in made])), "nightly")
    db.session.commit()
    return made


def test_regulator_drills_down_from_statistics_to_an_elevator_trace(app, browser, server):
    made = history()
    first = next(o for o in made if db.session.scalar(select(MaintenanceContract.id).where(
        MaintenanceContract.equipment_id == o.equipment_id,
        MaintenanceContract.starts_on <= (today_local() - timedelta(days=9)))))     # both visits under contract
    page, errors = login(browser, server, "nn_city", DESKTOP)
    page.goto(f"{server}/elevator-supervision/plans")
    page.wait_for_selector("[data-testid=plan-elevator-table]")
    shot(page, "elevsup-plans-city")
    page.goto(f"{server}/elevator-supervision/stats")
    page.wait_for_selector("[data-testid=region-table]")
    page.wait_for_selector("[data-testid=chart-records] canvas")
    shot(page, "elevsup-stats-city")
    page.click("[data-testid=region-table] a:has-text('兴宁区')")
    page.wait_for_selector("[data-testid=unit-table] a")
    assert "兴宁区" in page.inner_text(".crumbs")
    unit_name = first.maintenance_org.name
    page.click(f"[data-testid=unit-table] a:has-text('{unit_name}')")
    page.wait_for_selector("[data-testid=maintainer-table]")
    assert page.inner_text("[data-testid=unit-name]") == unit_name
    qin = page.inner_text("[data-testid=maintainer-table]")
    assert user("wb_qin").display_name in qin and user("wb_lu").display_name in qin
    shot(page, "elevsup-stats-unit")
    page.click(f"[data-testid=elevator-table] a:has-text('{first.equipment.name}')")
    page.wait_for_selector("[data-testid=trace]")
    assert first.equipment.code in page.inner_text("[data-testid=trace-title]")
    visits = page.locator(f"[data-testid^=visits-] td:has-text('{first.order_no}')")
    assert visits.count() == 1
    assert "维保 2 次" in page.inner_text("[data-testid=visit-count] >> nth=0")
    shot(page, "elevsup-trace")
    page.click(f"[data-testid^=visits-] tr:has-text('{first.order_no}') a:has-text('工单')")
    page.wait_for_url(f"{server}/elevators/orders/{first.id}")
    assert errors == []


def test_warning_list_fits_a_phone(app, browser, server):
    history()
    page, errors = login(browser, server, "xn_supervisor", PHONE)
    page.goto(f"{server}/elevator-supervision/warnings")
    page.wait_for_selector("[data-testid=warning-table]")
    assert "维保用时过短" in page.inner_text("[data-testid=warning-table]")
    assert overflow(page) <= 0
    shot(page, "elevsup-warnings-phone")
    page.locator("[data-testid=warning-table] a:has-text('查看')").first.click()
    page.wait_for_selector("[data-testid=close-form]")
    assert overflow(page) <= 0
    page.fill("#reason", "已约谈维保单位，补做维保")
    page.click("[data-testid=close-form] button[type=submit]")
    page.wait_for_selector("[data-testid=closed-info]")
    shot(page, "elevsup-warning-closed-phone")
    assert errors == []
    assert db.session.scalar(select(WorkOrder.id).limit(1)) is not None


def test_maintenance_unit_opens_its_own_statistics_on_a_phone(app, browser, server):
    history()
    page, errors = login(browser, server, "wb_quality", PHONE)
    page.goto(f"{server}/elevator-supervision/stats/mine")
    page.wait_for_selector("[data-testid=maintainer-table]")
    assert page.inner_text("[data-testid=unit-name]") == user("wb_quality").org.name
    people = page.inner_text("[data-testid=maintainer-table]")
    assert user("wb_qin").display_name in people and user("wb_lu").display_name in people
    assert "本单位维保统计" in page.inner_text(".crumbs")
    page.wait_for_selector("[data-testid=elevator-table] a")
    assert overflow(page) <= 0
    shot(page, "elevsup-stats-own-unit-phone")
    assert errors == []
