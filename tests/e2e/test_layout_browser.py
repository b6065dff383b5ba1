"""The shell on a desktop (1440×900) and a phone (390×844): the everyday pages fit the window (no
sideways scrolling), the navigation is reachable (side navigation on the desktop, the off-canvas
menu on the phone), the search panel starts collapsed on the phone, lists become cards and the
case page shows a step list instead of the diagram. Screenshots in test-artifacts/."""
from __future__ import annotations

import pytest

from ..conftest import make_case, open_task
from .conftest import DESKTOP, PHONE, login, new_page, overflow, shot

pytestmark = pytest.mark.e2e


def _fits(page, name, label):
    page.wait_for_load_state("networkidle")
    assert overflow(page) <= 0, f"{label}: {name} scrolls sideways by {overflow(page)} px"
    shot(page, f"layout-{label}-{name}")


def _reach_nav(page, phone: bool, link_text: str):
    """The navigation entry is on screen (after opening the menu on a phone)."""
    if phone:
        assert not page.is_visible(f"#sidenav >> text={link_text}")
        page.click("[data-testid=nav-toggle]")
        page.wait_for_selector("#sidenav.show")
    assert page.locator(f"#sidenav a.nav-link:has-text('{link_text}')").first.is_visible()
    if phone:
        page.click("#sidenav .btn-close")
        page.wait_for_selector("#sidenav.show", state="detached")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_everyday_pages_fit_the_window_and_the_navigation_is_reachable(server, browser, app, viewport):
    base, phone = server, viewport["width"] < 768
    label = "phone" if phone else "desktop"
    case = make_case()
    task_id = open_task(case).id

    sup, errors = login(browser, base, "xn_supervisor", viewport)
    _reach_nav(sup, phone, "重大事故隐患台账")
    if phone:    # the search panel starts collapsed, the list is cards
        assert not sup.is_visible("form.search input[name=q]")
        sup.click("[data-testid=search-toggle]")
        sup.wait_for_selector("form.search input[name=q]", state="visible")
        assert sup.evaluate("getComputedStyle(document.querySelector('[data-testid=inbox-table] thead')).display") == "none"
    else:
        assert sup.is_visible("form.search input[name=q]")
    _fits(sup, "inbox", label)

    sup.goto(f"{base}/tasks/{task_id}")
    sup.wait_for_selector("[data-testid=submit-task]")
    _fits(sup, "task", label)

    sup.goto(f"{base}/cases/{case.id}")
    if phone:
        assert sup.is_visible("[data-testid=diagram-steps] li.step-active")
        assert not sup.is_visible("#bpmn-canvas")
    else:
        sup.wait_for_selector("#bpmn-canvas[data-diagram-ready] .bpmn-active")
        lanes = sup.inner_text("#bpmn-canvas")
        assert "区县局监察人员" in lanes and "county_supervisor" not in lanes
        scale = sup.evaluate("document.querySelector('#bpmn-canvas svg').getBoundingClientRect().width")
        sup.click("[data-testid=diagram-zoom-in]")
        assert sup.evaluate("document.querySelector('#bpmn-canvas .viewport').getAttribute('transform')")
        assert scale > 0
    _fits(sup, "case", label)

    for path, name in (("/hazards", "ledger"), ("/transfers", "transfers")):
        sup.goto(f"{base}{path}")
        _fits(sup, name, label)
    if phone:    # every page of the regulator's navigation fits the phone
        hrefs = sup.eval_on_selector_all("#sidenav a.nav-link", "els => els.map(e => e.getAttribute('href'))")
        for href in dict.fromkeys(hrefs):
            sup.goto(f"{base}{href}")
            sup.wait_for_load_state("networkidle")
            assert overflow(sup) <= 0, f"{href} scrolls sideways by {overflow(sup)} px"

    operator, op_errors = login(browser, base, "op_wei", viewport, landing="/me/employer")
    _reach_nav(operator, phone, "个人主页")
    _fits(operator, "operator-home", label)

    public, public_errors = new_page(browser, viewport)
    public.goto(f"{base}/public/operators?employer=演示")
    public.wait_for_selector("[data-testid=public-results]")
    _fits(public, "public-lookup", label)
    assert errors == [] and op_errors == [] and public_errors == []
