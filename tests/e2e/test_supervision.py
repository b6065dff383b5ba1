"""监督检查 and 证后监督检查 in a real browser: the county supervisor records an inspection on the step guide
at 1440 px (unit found in the registry, a checklist loading in place, a failed item with its photo raised as a
major hazard, the directive issued), the unit rectifies on a 390 px phone with a photo; a city supervisor
creates a campaign with a random draw, and an expert meets the annual declaration gate and signs on the pad."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from ..conftest import JPEG as JPEG_BYTES     # a JPEG that decodes (uploads are checked by decoding)
from .conftest import PHONE, login, overflow, shot

pytestmark = pytest.mark.e2e

JPEG = {"name": "现场.jpg", "mimeType": "image/jpeg", "buffer": JPEG_BYTES}


def _open_task(app, case_id: int) -> int:
    from app.cases.models import Task
    from app.extensions import db
    with app.app_context():
        return db.session.scalar(select(Task.id).where(Task.case_id == case_id, Task.status == "open"))


def _check_all(page, scope: str, value: str = "符合"):
    radios = page.locator(f"{scope} input[type=radio][value='{value}']")
    for i in range(radios.count()):
        radios.nth(i).check()


def test_inspection_on_the_step_guide_with_a_hazard_and_phone_rectification(server, browser, app):
    from app.core.clock import today_local
    base, today = server, today_local()
    sup, errors = login(browser, base, "xn_supervisor")
    # 基本信息: the unit found in the registry
    sup.goto(f"{base}/supervision/inspections/new")
    assert sup.locator("[data-testid=sv-steps] .active").inner_text().endswith("基本信息")
    sup.fill("[data-testid=sv-unit-q]", "兴宁区演示商业广场")
    sup.press("[data-testid=sv-unit-q]", "Enter")
    sup.wait_for_selector("[data-testid=sv-unit-results]")
    sup.locator("[data-testid=sv-unit-results] input[name=org_id]").first.check()
    sup.check("input[name=unit_categories][value='使用']")
    sup.fill("#i-inspectors", "黄兴宁、陆兴宁")
    sup.fill("#i-recorder", "黄兴宁")
    shot(sup, "sv-1-basic")
    sup.click("[data-testid=sv-create]")
    sup.wait_for_selector("[data-testid=sv-add-section]")
    assert sup.locator("[data-testid=sv-steps] .active").inner_text().endswith("单位检查")
    # 单位检查: choosing the type loads its checklist without reloading the page
    sup.wait_for_load_state("load")      # supervision.js (end of the page) listens for the choice
    marker = sup.evaluate("window.__svMarker = Math.random()")
    sup.select_option("[data-testid=sv-template]", label="单位检查（重大违法行为情形）")
    sup.wait_for_selector("[data-sv-items] [data-testid=sv-item]")
    assert sup.evaluate("window.__svMarker") == marker             # same page: nothing reloaded
    assert sup.locator("[data-sv-items] [data-testid=sv-item]").count() == 8
    _check_all(sup, "[data-sv-items]")
    shot(sup, "sv-2-unit-check")
    sup.click("[data-testid=sv-add]")
    sup.wait_for_selector("[data-testid=sv-section]")
    # 设备检查: a lift, item (三) fails with a photo
    sup.click("[data-step=equipment]")
    sup.wait_for_selector("[data-testid=sv-device]")
    lift = sup.locator("[data-testid=sv-device] option", has_text="曳引驱动乘客电梯").first.get_attribute("value")
    sup.select_option("[data-testid=sv-device]", lift)
    sup.wait_for_load_state("load")
    sup.select_option("[data-testid=sv-template]", label="设备检查（严重事故隐患情形，各类设备通用）")
    sup.wait_for_selector("[data-sv-items] [data-testid=sv-item]")
    _check_all(sup, "[data-sv-items]")
    third = sup.locator("[data-sv-items] [data-testid=sv-item]").nth(2)
    third.locator("input[value='不符合']").check()
    third.locator("textarea").fill("限速器动作失灵，电梯仍在使用")
    third.locator("input[type=file]").set_input_files(files=[JPEG])
    sup.click("[data-testid=sv-add]")
    sup.wait_for_selector("[data-testid=sv-hazard-box]")
    # raise a major hazard from the finding
    box = sup.locator("[data-testid=sv-hazard-box]").first
    box.locator("summary").click()
    box.locator("[data-testid=sv-criterion]").select_option("GB45067-4.6b")
    box.locator("[data-testid=sv-hazard-deadline]").fill((today + timedelta(days=15)).isoformat())
    box.locator("[data-testid=sv-raise-hazard]").click()
    sup.wait_for_selector("[data-testid=sv-hazard-link]")
    assert "1 项 / 1 项" in sup.locator("[data-testid=sv-facts]").inner_text()
    shot(sup, "sv-3-hazard-raised")
    # 其他问题, then submit with the directive
    sup.click("[data-step=other]")
    sup.fill("#i-other_problems", "特种设备安全管理人员未持证上岗")
    sup.click("form[action$='/other'] button[type=submit]")
    sup.wait_for_selector("[data-testid=sv-submit]")
    sup.click("[data-testid=sv-submit]")
    sup.wait_for_selector("[data-testid=submit-start]")
    sup.check("input[name=letter_kind][value=directive]")
    sup.fill("#i-violation_desc", "《中华人民共和国特种设备安全法》第三十九条、第四十条")
    sup.fill("#i-requirements", "立即停止使用该电梯，更换限速器并经检验合格后方可投入使用；安全管理人员持证上岗。")
    sup.fill("#i-rectify_deadline", (today + timedelta(days=10)).isoformat())
    sup.check("input[name=review_by][value=inspecting]")
    sup.click("[data-testid=submit-start]")
    sup.wait_for_selector("[data-testid=sv-panel]")
    assert "整改中" in sup.locator("[data-testid=sv-status]").inner_text()
    assert "市监特令" in sup.locator("[data-testid=sv-panel]").inner_text()
    shot(sup, "sv-4-case")
    case_id = int(sup.url.rstrip("/").split("/")[-1])
    letter = sup.locator("[data-testid=sv-letter-print]").get_attribute("href")
    sup.goto(f"{base}{letter}")
    assert "特种设备安全监察指令书" in sup.content() and "限速器动作失灵" in sup.content()
    shot(sup, "sv-5-directive")
    assert not errors, errors

    # the unit rectifies on a 390 px phone with a photo
    phone, phone_errors = login(browser, base, "unit_xn", PHONE)
    phone.goto(f"{base}/tasks/{_open_task(app, case_id)}")
    phone.wait_for_selector("[data-testid=submit-task]")
    assert overflow(phone) <= 0, f"the rectification form scrolls sideways by {overflow(phone)} px"
    assert "限速器动作失灵" in phone.content()
    phone.fill("#i-measures", "已更换限速器，经检验机构检验合格；安全管理人员已取证。")
    phone.fill("#i-completed_on", today.isoformat())
    phone.set_input_files("#i-photos", files=[{**JPEG, "name": "整改后.jpg"}])
    shot(phone, "sv-6-phone-rectify")
    phone.click("[data-testid=submit-task]")
    phone.wait_for_url(f"{base}/inbox")
    assert not phone_errors, phone_errors
    from app.extensions import db
    from app.supervision.models import SupervisionInspection
    with app.app_context():
        row = db.session.scalar(select(SupervisionInspection).where(SupervisionInspection.case_id == case_id))
        assert row.status == "reviewing"


def test_campaign_draw_and_the_declaration_gate(server, browser, app):
    base = server
    city, errors = login(browser, base, "nn_city")
    city.goto(f"{base}/supervision/campaigns/new")
    city.fill("#i-name", "2026年南宁市电梯生产单位证后监督检查（浏览器测试）")
    city.locator("#i-undertaking_org_id").select_option(index=1)
    city.select_option("#i-template_id", label="单位检查（重大违法行为情形）")
    city.click("[data-testid=pl-create]")
    city.wait_for_selector("[data-testid=pl-draw-form]")
    city.select_option("#i-region", "450100")
    city.fill("[data-testid=pl-count]", "5")
    city.fill("#i-seed", "browser-2026")
    city.click("[data-testid=pl-draw]")
    city.wait_for_selector("[data-testid=pl-verified]")
    assert city.locator("[data-testid=pl-units] tbody tr").count() == 5
    assert "browser-2026" in city.locator("[data-testid=pl-draw-record]").inner_text()
    city.click("[data-testid=pl-draw-supervisor]")
    city.wait_for_selector("text=已随机抽取检查任务监督人")
    shot(city, "pl-1-draw")
    assert not errors, errors
    # an expert's first visit this year: the declaration before any task
    expert, expert_errors = login(browser, base, "expert_li", landing=None)
    expert.goto(f"{base}/supervision/my")
    expert.wait_for_url(f"{base}/supervision/declaration")
    assert "公正性、保密及廉洁自律声明" in expert.locator("[data-testid=pl-declaration]").inner_text()
    expert.check("[data-testid=pl-agree]")
    pad = expert.locator("[data-testid=signature-pad]").bounding_box()
    expert.mouse.move(pad["x"] + 20, pad["y"] + 40)
    expert.mouse.down()
    for step in range(1, 12):
        expert.mouse.move(pad["x"] + 20 + step * 25, pad["y"] + 40 + (step % 3) * 30)
    expert.mouse.up()
    shot(expert, "pl-2-declaration")
    expert.click("[data-testid=pl-sign]")
    expert.wait_for_url(f"{base}/supervision/my")
    assert expert.locator("[data-testid=pl-my-units]").is_visible()
    assert not expert_errors, expert_errors


def test_supervision_pages_fit_a_phone(server, browser, app):
    from app.core.clock import today_local
    from app.extensions import db
    from app.supervision import campaigns, services
    from app.supervision.models import ChecklistTemplate
    from ..conftest import equipment_of, user
    base = server
    with app.app_context():
        row = services.create_draft(user("xn_supervisor"), {
            "org_id": user("unit_xn").org_id, "category": "常规监督检查", "unit_categories": ["使用"],
            "inspected_on": today_local().isoformat(), "inspectors": "黄兴宁、陆兴宁"})
        tpl = db.session.scalar(select(ChecklistTemplate).where(ChecklistTemplate.code == "equipment_check",
                                                                ChecklistTemplate.is_current.is_(True)))
        services.add_section(user("xn_supervisor"), row, tpl.id, equipment_of("unit_xn").id)
        db.session.commit()
        inspection_id = row.id
    phone, errors = login(browser, base, "xn_supervisor", PHONE)
    for url, name in ((f"/supervision/inspections/{inspection_id}?step=equipment", "inspection"),
                      ("/supervision/inspections", "inspections"), ("/supervision/inspections/new?q=兴宁", "new"),
                      ("/supervision/templates", "templates")):
        phone.goto(f"{base}{url}")
        phone.wait_for_load_state("networkidle")
        assert overflow(phone) <= 0, f"{url} scrolls sideways by {overflow(phone)} px on a phone"
        shot(phone, f"sv-phone-{name}")
    city, city_errors = login(browser, base, "nn_city", PHONE)
    for url, name in (("/supervision/campaigns", "campaigns"), ("/supervision/experts", "experts"),
                      ("/supervision/campaigns/new", "campaign-new"), ("/supervision/forwarded", "forwarded")):
        city.goto(f"{base}{url}")
        city.wait_for_load_state("networkidle")
        assert overflow(city) <= 0, f"{url} scrolls sideways by {overflow(city)} px on a phone"
        shot(city, f"pl-phone-{name}")
    assert not errors and not city_errors, errors + city_errors


def test_campaign_rectification_on_a_phone(server, browser, app):
    """The inspected unit answers a post-license finding on a 390 px phone with a photo."""
    from app.core.clock import today_local
    from app.core.models import Organization
    from app.engine import runtime
    from app.extensions import db
    from app.supervision import campaigns
    from app.supervision.models import Campaign, ChecklistTemplate, Expert
    from ..conftest import open_task, user
    base = server
    with app.app_context():
        tpl = db.session.scalar(select(ChecklistTemplate).where(ChecklistTemplate.code == "unit_check",
                                                                ChecklistTemplate.is_current.is_(True)))
        org = db.session.scalar(select(Organization).where(Organization.kind == "undertaking_unit"))
        c = campaigns.create_campaign(user("nn_city"), {"name": "手机整改（浏览器测试）", "undertaking_org_id": org.id,
                                                        "template_id": tpl.id})
        campaigns.pick_unit(user("nn_city"), c, user("unit_xn").org_id)
        campaigns.draw_supervisor(user("nn_city"), c, "phone")
        db.session.commit()
        case = runtime.start_case("post_license_inspection", user("nn_city"), {"campaign_id": str(c.id)})
        runtime.complete_task(open_task(case).id, user("nn_head"), {"review_decision": "approve", "opinion": "同意"})
        li = db.session.scalar(select(Expert).where(Expert.user_id == user("expert_li").id))
        c = db.session.get(Campaign, c.id)
        unit = c.units[0]
        campaigns.assign(user("undertaker_gx"), c, unit.id, [li.id])
        runtime.complete_task(open_task(case).id, user("undertaker_gx"), {"opinion": "已分配"})
        section = campaigns.ensure_section(user("undertaker_gx"), unit)
        from app.supervision import services
        results = {str(i.id): {"result": "符合"} for i in section.template.items}
        results[str(section.template.items[0].id)] = {"result": "不符合", "note": "安装资质过期仍承接业务"}
        services.save_findings(user("undertaker_gx"), section, results)
        campaigns.submit_entry(user("undertaker_gx"), unit, {"inspected_on": today_local().isoformat(),
                                                             "summary": "现场检查安装业务台账。"})
        db.session.commit()
        unit_id = unit.id
    phone, errors = login(browser, base, "unit_xn", PHONE)
    phone.goto(f"{base}/supervision/my")
    phone.locator("[data-testid=pl-my-units] a:has-text('办理')").first.click()
    phone.wait_for_selector("[data-testid=pl-rectify-form]")
    assert overflow(phone) <= 0, f"the rectification page scrolls sideways by {overflow(phone)} px"
    phone.fill("#i-measures", "已重新取得安装许可，暂停的项目已恢复。")
    phone.set_input_files("#i-photos", files=[{**JPEG, "name": "许可证.jpg"}])
    shot(phone, "pl-3-phone-rectify")
    phone.click("[data-testid=pl-rectify-form] button[type=submit]")
    phone.wait_for_selector("text=整改情况已提交，等待复核")
    assert not errors, errors
    from app.supervision.models import CampaignUnit
    with app.app_context():
        assert db.session.get(CampaignUnit, unit_id).status == "reviewing"
