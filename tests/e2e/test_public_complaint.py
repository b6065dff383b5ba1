"""Public complaints in the browser: someone scans a lift's QR code and reports a problem on a phone
(390×844, no login: code by SMS, photo, submit, look up progress); the county bureau handles it at
1440 px (投诉举报 list → accept → on-site check confirming a major hazard → hazard case linked); the
complainant's lookup then shows the result."""
from __future__ import annotations

import io
import os
import re
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import select

from app.extensions import db

from .conftest import ARTIFACTS
from .conftest import PHONE as PHONE_VIEW
from .conftest import login, new_page, overflow
from .conftest import shot as _shot

pytestmark = pytest.mark.e2e
MOBILE = "13907718888"


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (180, 40, 40)).save(out, format="JPEG")
    return out.getvalue()


def _code(app) -> str:
    from app.core.pii import phone_index
    from app.sms.models import SmsMessage
    with app.app_context():
        msg = db.session.scalar(select(SmsMessage).where(SmsMessage.template_code == "COMPLAINT_VERIFY_CODE",
                                                         SmsMessage.phone_bidx == phone_index(MOBILE))
                                .order_by(SmsMessage.id.desc()))
        return re.search(r"验证码(\d{6})", msg.content).group(1)


def test_public_complaint_on_a_phone_and_the_bureau_handles_it(server, browser, app):
    base = server
    with app.app_context():
        from tests.conftest import equipment_of
        device_code = equipment_of("unit_xn").code

    # 1. The QR page's link opens the form with the device filled in: phone viewport, no login.
    phone, phone_errors = new_page(browser, PHONE_VIEW)
    phone.goto(f"{base}/public/complaints/new?device={device_code}")
    assert "兴宁区市场监督管理局" in phone.locator("[data-testid=device-found]").inner_text()
    phone.fill("#i-description", "3栋1单元电梯运行中突然下坠后又上升，门没关好就启动。")
    phone.fill("#i-complainant_name", "韦先生")
    phone.fill("#i-complainant_phone", MOBILE)
    phone.set_input_files("#i-photos", files=[{"name": "现场.jpg", "mimeType": "image/jpeg", "buffer": _jpeg()}])
    phone.click("[data-testid=send-code]")
    phone.wait_for_selector("[data-testid=code-sent]")
    phone.wait_for_selector("[data-testid=send-code]:disabled")             # the countdown script has run
    assert "秒后重新获取" in phone.locator("[data-testid=send-code]").inner_text()    # the interval counts down
    assert phone.locator("[data-testid=send-code]").is_disabled()
    assert "已上传 1 张" in phone.locator("[data-testid=kept-photos]").inner_text()
    assert overflow(phone) <= 0
    _shot(phone, "complaint-1-phone-form")
    phone.fill("#i-sms_code", "000000" if _code(app) != "000000" else "111111")
    phone.click("[data-testid=submit]")
    phone.wait_for_selector("[data-testid=error-summary]")
    assert "短信验证码不正确" in phone.content()
    assert phone.input_value("#i-description").startswith("3栋1单元电梯")     # nothing lost
    phone.fill("#i-sms_code", _code(app))
    phone.click("[data-testid=submit]")
    phone.wait_for_selector("[data-testid=complaint-done]")
    number = phone.locator("[data-testid=complaint-no]").inner_text()
    assert number.startswith("TS") and overflow(phone) <= 0
    _shot(phone, "complaint-2-phone-done")

    # 2. The county bureau: 投诉举报 list at 1440 px → case → accept → on-site check → hazard case.
    sup, sup_errors = login(browser, base, "xn_supervisor")
    sup.goto(f"{base}/complaints")
    row = sup.locator("[data-testid=complaint-table] tr", has_text=number)
    assert "待受理" in row.inner_text()
    _shot(sup, "complaint-3-list")
    row.locator("a:has-text('查看')").click()
    sup.wait_for_selector("[data-testid=complaint-panel]")
    assert "139****8888" in sup.content() and MOBILE not in sup.content()
    with app.app_context():
        from app.cases.models import Task
        from app.complaints.models import Complaint
        complaint = db.session.scalar(select(Complaint).where(Complaint.complaint_no == number))
        case_id = complaint.case_id
        task_id = db.session.scalar(select(Task.id).where(Task.case_id == case_id, Task.status == "open"))
    sup.goto(f"{base}/tasks/{task_id}")
    sup.check("input[name=review_decision][value=accept]")
    sup.fill("#i-opinion", "反映情况具体，予以受理，安排现场核查。")
    sup.click("[data-testid=submit-task]")
    sup.wait_for_url(f"{base}/inbox")
    with app.app_context():
        task_id = db.session.scalar(select(Task.id).where(Task.case_id == case_id, Task.status == "open"))
        from app.core.clock import today_local
        today = today_local()
    sup.goto(f"{base}/tasks/{task_id}")
    assert sup.input_value("#i-equipment_code") == device_code          # prefilled from the complaint
    sup.fill("#i-checked_on", today.isoformat())
    sup.fill("#i-finding", "现场核查：层门门锁安全回路被短接，电梯仍在运行，情况属实。")
    sup.check("input[name=check_conclusion][value=major_hazard]")
    sup.select_option("#i-criterion_id", "GB45067-4.6b")
    sup.fill("#i-rectify_deadline", (today + timedelta(days=10)).isoformat())
    sup.fill("#i-reply", "经现场核查情况属实，已责令使用单位停用该电梯并限期整改。")
    _shot(sup, "complaint-4-check-form")
    sup.evaluate("window.scrollTo(0, document.querySelector('#i-checked_on').getBoundingClientRect().top"
                 " + window.scrollY - 260)")
    sup.screenshot(path=str(ARTIFACTS / f"{os.environ.get('TEST_DB', 'sqlite')}-complaint-4b-check-view.png"))
    sup.click("[data-testid=submit-task]")
    sup.wait_for_url(f"{base}/inbox")
    sup.goto(f"{base}/cases/{case_id}")
    assert "已办结" in sup.locator("[data-testid=complaint-status]").inner_text()
    sup.click("[data-testid=hazard-link]")
    sup.wait_for_selector("#hazard-facts")
    assert number in sup.content()                                      # the hazard case links back
    _shot(sup, "complaint-5-hazard-case")

    # the list on a phone: cards, no sideways scrolling
    sup_phone, sup_phone_errors = login(browser, base, "xn_supervisor", PHONE_VIEW)
    sup_phone.goto(f"{base}/complaints")
    assert number in sup_phone.locator("[data-testid=complaint-table]").inner_text() and overflow(sup_phone) <= 0
    _shot(sup_phone, "complaint-5b-phone-list")

    # 3. The complainant looks the result up on the phone.
    phone.goto(f"{base}/public/complaints/lookup")
    phone.fill("#i-complaint_no", number)
    phone.fill("#i-phone", MOBILE)
    phone.click("[data-testid=lookup]")
    phone.wait_for_selector("[data-testid=lookup-result]")
    assert "已办结" in phone.locator("[data-testid=lookup-status]").inner_text()
    assert "限期整改" in phone.locator("[data-testid=lookup-result-text]").inner_text()
    assert MOBILE not in phone.content() and "韦先生" not in phone.content() and overflow(phone) <= 0
    _shot(phone, "complaint-6-phone-lookup")
    assert not phone_errors and not sup_errors and not sup_phone_errors, phone_errors + sup_errors + sup_phone_errors
