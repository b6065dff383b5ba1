"""超期未检专项整治 in a real browser: the county bureau opens 排查治理台账 (and on a 390 px phone: no sideways
scrolling), ticks three overdue lifts and starts their disposal as a batch; one gets 延期检验, one 责令整改 with
its instruction letter (print view and Word), one 公告注销, which the local head, the city and the province
approve until it appears on the public announcement page."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from .conftest import PHONE, login, overflow, shot

pytestmark = pytest.mark.e2e

from ..conftest import JPEG  # noqa: E402 - a JPEG that decodes (uploads are decoded)


def _task_id(app, case_id: int) -> int:
    from app.cases.models import Task
    from app.extensions import db
    with app.app_context():
        return db.session.scalar(select(Task.id).where(Task.case_id == case_id, Task.status == "open"))


def _submit(page, base, app, case_id, fill):
    page.goto(f"{base}/tasks/{_task_id(app, case_id)}")
    page.wait_for_selector("[data-testid=submit-task]")
    fill(page)
    page.click("[data-testid=submit-task]")
    page.wait_for_url(f"{base}/inbox")


def test_ledger_batch_disposal_extension_letter_and_announcement(server, browser, app):
    from app.core.clock import today_local
    from app.core.models import Equipment
    from app.extensions import db
    from app.overdue.models import Announcement, OverdueDisposal

    from ..registry_helpers import make_device, make_org
    base, today = server, today_local()
    with app.app_context():
        org = make_org("浏览器测试物业服务有限公司（测试）")
        devices = [make_device(org=org, name=f"浏览器测试客梯{n}号", next_due=today - timedelta(days=20 + n))
                   for n in range(1, 4)]
        db.session.commit()
        codes = [e.code for e in devices]

    # 1. the ledger on a phone fits the screen
    phone, phone_errors = login(browser, base, "xn_supervisor", PHONE)
    phone.goto(f"{base}/overdue?q=浏览器测试物业")
    phone.wait_for_selector("[data-testid=band-counts]")
    assert overflow(phone) <= 0, f"the ledger scrolls sideways by {overflow(phone)} px on a phone"
    shot(phone, "overdue-ledger-phone")

    # 2. the ledger at 1440: counts, the three devices, batch start
    sup, sup_errors = login(browser, base, "xn_supervisor")
    sup.goto(f"{base}/overdue?q=浏览器测试物业")
    assert sup.locator("[data-band=overdue] b").inner_text() == "3"
    rows = sup.locator("[data-testid=ledger-table] tbody tr[data-device]")
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.device)")) == sorted(codes)
    sup.check("input[data-check-all=ids]")
    sup.fill("input[name=note]", "专项整治排查发现超期未检")
    shot(sup, "overdue-ledger-desktop")
    sup.click("[data-testid=batch-start]")
    sup.wait_for_selector("text=已发起 3 件超期未检处置")
    with app.app_context():
        cases = {d.equipment.code: d.case_id for d in db.session.scalars(
            select(OverdueDisposal).where(OverdueDisposal.equipment_id.in_([e.id for e in devices])))}
    assert sorted(cases) == sorted(codes)
    extension_case, letter_case, announce_case = (cases[c] for c in codes)

    # 3. 延期检验
    def extension(page):
        page.check("input[name=measure][value=extension]")
        page.fill("#i-extended_until", (today + timedelta(days=45)).isoformat())
        page.fill("#i-extension_reason", "检验机构已受理报检，排期至下月")
        page.fill("#i-opinion", "同意延期检验")
    _submit(sup, base, app, extension_case, extension)

    # 4. 责令整改 with its letter
    def order(page):
        page.check("input[name=measure][value=order]")
        assert page.is_visible("#i-requirements") and not page.is_visible("#i-extended_until")
        page.check("input[name=order_kind][value=rectify]")
        page.fill("#i-requirements", "立即停止使用该电梯，向检验机构申报定期检验，检验合格后方可使用。")
        page.fill("#i-rectify_deadline", (today + timedelta(days=15)).isoformat())
        page.fill("#i-opinion", "责令整改，下达指令书")
        shot(page, "overdue-choose-order")
    _submit(sup, base, app, letter_case, order)
    sup.goto(f"{base}/cases/{letter_case}")
    assert "责令整改中" in sup.locator("[data-testid=disposal-status]").inner_text()
    with sup.expect_download() as dl:
        sup.click("[data-testid=letter-docx]")
    assert dl.value.suggested_filename.endswith(".docx")
    letter_url = sup.locator("[data-testid=letter-print]").get_attribute("href")
    sup.goto(f"{base}{letter_url}")
    assert "特种设备安全监察指令书" in sup.locator("[data-testid=document]").inner_text()
    assert "向检验机构申报定期检验" in sup.locator("[data-testid=document]").inner_text()
    shot(sup, "overdue-letter")

    # 5. 公告注销: the bureau, the local head, the city, the province
    def announce(page):
        page.check("input[name=measure][value=announce]")
        page.select_option("#i-cancel_reason", "unreachable")
        page.fill("#i-cancel_reason_text", "多次上门核查及电话联系，使用单位均无法联系")
        page.set_input_files("#i-cancel_evidence", files=[{"name": "现场照片.jpg", "mimeType": "image/jpeg", "buffer": JPEG}])
        page.fill("#i-opinion", "提请公告注销")
    _submit(sup, base, app, announce_case, announce)
    for who, opinion in (("xn_head", "同意上报"), ("nn_city", "汇总上报自治区局"), ("gx_province", "同意公告")):
        page, errors = login(browser, base, who)

        def approve(p, opinion=opinion):
            assert "多次上门核查" in p.locator(".review-panel").inner_text()     # the application being judged
            p.check("input[name=decision][value=approve]")
            p.fill("#i-opinion", opinion)
        _submit(page, base, app, announce_case, approve)
        assert errors == []
    public = browser.new_context().new_page()
    public.goto(f"{base}/public/announcements?q={codes[2]}")
    assert codes[2] in public.locator("[data-testid=public-announcements]").inner_text()
    shot(public, "overdue-public-announcements")

    with app.app_context():
        db.session.expire_all()
        states = {d.case_id: (d.status, d.measure) for d in db.session.scalars(select(OverdueDisposal))}
        assert states[extension_case] == ("extended", "extension")
        assert states[letter_case] == ("ordered", "order")
        assert states[announce_case] == ("closed", "announce")
        assert db.session.scalar(select(Equipment.status).where(Equipment.code == codes[2])) == "announced_cancelled"
        assert db.session.scalar(select(Announcement.status).where(Announcement.case_id == announce_case)) == "published"
    assert sup_errors == [] and phone_errors == []
