"""Star rating in the browser: the maintenance unit reads its evaluation and applies at 1440 px (the form
pre-filled from the evaluation), the city bureau approves, the province bureau rates it on a 390 px
phone, and the public page shows the stars."""
from __future__ import annotations

import shutil

import pytest

from ..conftest import user
from .conftest import ARTIFACTS, PHONE, login, open_first_task, overflow, shot

pytestmark = pytest.mark.e2e


def _shot(page, name):
    shot(page, f"rating-{name}")
    try:   # the document's screenshots (docs/img/rating/) come from this journey
        import os
        from pathlib import Path
        src = ARTIFACTS / f"{os.environ.get('TEST_DB', 'sqlite')}-rating-{name}.png"
        if os.environ.get("RATING_DOC_SHOTS"):
            shutil.copy(src, Path(__file__).resolve().parents[2] / "docs" / "img" / "rating" / f"{name}.png")
    except OSError:
        pass


def test_unit_applies_city_reviews_province_rates_on_a_phone_public_page_shows_the_stars(server, browser, app):
    base = server
    with app.app_context():
        org_id = user("wb_unit").org_id

    # 1. the unit reads its evaluation and applies (1440 px)
    unit, unit_errors = login(browser, base, "wb_unit", landing=None)
    unit.goto(f"{base}/elevator-rating/units/{org_id}")
    unit.wait_for_selector("[data-testid=eval-inputs]")
    assert unit.locator("[data-testid=eval-score]").inner_text() not in ("", "—")
    _shot(unit, "evaluation")
    unit.click("[data-testid=apply-rating]")
    unit.wait_for_selector("[data-testid=submit-start]")
    assert unit.locator("#i-elevators").input_value() not in ("", "0")       # pre-filled from the evaluation
    unit.fill("#i-license_no", "TS3145001-2027")
    unit.check("input[name=requested_grade][value=B]")
    unit.fill("#i-statement", "本单位按计划维保，困人救援及时，维保人员均持有效证书。")
    _shot(unit, "apply-form")
    unit.click("[data-testid=submit-start]")
    unit.wait_for_selector("[data-testid=rating-panel]")
    case_url = unit.url
    assert "待市局审核" in unit.locator("[data-testid=rating-panel]").inner_text()

    # 2. the city bureau approves and recommends a grade
    city, city_errors = login(browser, base, "nn_city", landing=None)
    open_first_task(city, base)
    city.wait_for_selector("text=申请与评价数据")
    city.check("input[name=city_decision][value=approve]")
    city.check("input[name=recommended_grade][value=B]")
    city.fill("#i-opinion", "材料齐全，维保及时，同意报自治区局。")
    _shot(city, "city-review")
    city.click("[data-testid=submit-task]")
    city.wait_for_url(f"{base}/inbox")

    # 3. the province bureau rates it on a phone
    province, province_errors = login(browser, base, "gx_province", PHONE, landing=None)
    open_first_task(province, base)
    province.check("input[name=province_decision][value=approve]")
    province.check("input[name=grade][value=B]")
    province.check("input[name=veto][value=no]")
    province.fill("#i-opinion", "同意评定为B级。")
    _shot(province, "province-phone")
    assert overflow(province) <= 0
    province.click("[data-testid=submit-task]")
    province.wait_for_url(f"{base}/inbox")
    province.goto(case_url)
    province.wait_for_selector("[data-testid=rating-panel]")
    assert "B级" in province.locator("[data-testid=panel-grade]").inner_text()

    # 4. the public page shows the stars (phone, no login)
    from .conftest import new_page
    public, public_errors = new_page(browser, PHONE)
    public.goto(f"{base}/public/elevator-ratings")
    public.wait_for_selector("[data-testid=rating-stars]")
    assert "★★★☆" in public.locator("[data-testid=public-ratings]").inner_text()
    assert overflow(public) <= 0
    _shot(public, "public-phone")
    assert not (unit_errors or city_errors or province_errors or public_errors)


def test_quality_manager_samples_and_grades_records_on_a_phone(server, browser, app):
    base = server
    with app.app_context():
        from ..test_elevator_rating import _make_records
        orders = _make_records(4)
    page, errors = login(browser, base, "wb_quality", PHONE, landing=None)
    page.goto(f"{base}/elevator-rating/patrols")
    page.fill("input[name=size]", "2")
    page.fill("input[name=title]", "本月质量抽查")
    page.click("[data-testid=patrol-sample]")
    page.wait_for_selector("[data-testid=patrol-item]")
    assert page.locator("[data-testid=patrol-item]").count() == 2
    first = page.locator("[data-testid=patrol-item]").first
    first.locator("input[name=check_photos][value=fail]").check()
    first.locator("input[name=grade][value=basic]").check()
    first.locator("textarea[name=remark]").fill("机房照片模糊，无法看清控制柜")
    first.locator("[data-testid=grade-submit]").click()
    page.wait_for_selector("text=已评定：基本合格")
    assert "基本合格" in page.locator("[data-testid=item-grade]").first.inner_text()
    assert "已评定 1 / 2" in page.locator("[data-testid=patrol-progress]").inner_text()
    assert overflow(page) <= 0
    _shot(page, "patrol-phone")
    # the unit's other lists fit the phone too (tables become cards)
    for url, name in (("/elevator-rating/units", "units-phone"), ("/elevator-rating/rescues", "rescues-phone"),
                      ("/elevator-rating/ratings", "ratings-phone")):
        page.goto(f"{base}{url}")
        page.wait_for_selector("[data-testid=rating-tabs]")
        assert overflow(page) <= 0, f"{url} scrolls sideways by {overflow(page)} px"
        _shot(page, name)
    assert len(orders) == 4 and not errors
