"""短信预警中心: templates, the encrypted outbox, dedup, rate limit, retries, the Alibaba Cloud
adapter against a local server, delivery receipts, the record pages and the manual reminder."""
import base64
import hashlib
import hmac
import io
import json
import os
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote

import pytest
import time_machine
from openpyxl import load_workbook
from sqlalchemy import select, text

from app.cases.models import CaseEvent
from app.core.clock import today_local, utcnow
from app.core.pii import PiiError, phone_index
from app.engine import runtime
from app.errors import DomainError, ValidationFailed
from app.extensions import db
from app.sms import services
from app.sms.models import CATEGORIES, SmsMessage, SmsTemplate
from app.sms.providers import PROVIDERS, ProviderResult, SmsProvider, rpc_signature
from app.sms.services import (
    Recipient,
    dispatch_due,
    enqueue,
    recipients_for_org,
    recipients_for_users,
)
from app.sms.templates import ensure_templates, forget_snapshots, get_template, render, text_errors

from .conftest import complete, make_case, open_task, user

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)   # 09:00 in Nanning


@pytest.fixture(autouse=True)
def templates_seeded(app):
    """Templates seeded; the local provider's log starts empty (message ids are reused)."""
    ensure_templates()
    db.session.commit()
    path = os.path.join(app.config["INSTANCE_DIR"], "sms_local.log")
    if os.path.exists(path):
        os.unlink(path)


EDITABLE = ("name", "text", "provider_template_code", "enabled", "reviewed", "updated_by_id", "updated_at")


@pytest.fixture
def restore_templates():
    """Tests that edit templates put them back afterwards (templates are not per-test data)."""
    saved = {t.code: {c: getattr(t, c) for c in EDITABLE} for t in db.session.scalars(select(SmsTemplate))}
    yield
    db.session.rollback()
    for code, values in saved.items():
        template = db.session.get(SmsTemplate, code)
        for column, value in values.items():
            setattr(template, column, value)
    db.session.commit()
    forget_snapshots()


def contacts(username: str) -> list[Recipient]:
    return recipients_for_org(user(username).org_id)


def closed_params(n: int = 1) -> dict:
    return {"unitName": "南宁市兴宁区演示商业广场有限公司（演示）", "caseNo": f"YH450102202600000{n}",
            "title": f"测试事项{n}"}


def queue_closed(recipients, n: int = 1, **kw) -> list[SmsMessage]:
    kw.setdefault("region_code", "450102")
    messages = enqueue("CASE_CLOSED", closed_params(n), recipients, **kw)
    db.session.commit()
    return messages


def local_log() -> list[dict]:
    from flask import current_app
    path = os.path.join(current_app.config["INSTANCE_DIR"], "sms_local.log")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def fresh(message_id: int) -> SmsMessage:
    db.session.expire_all()
    return db.session.get(SmsMessage, message_id)


# ---------------------------------------------------------------- templates

def test_every_kind_of_warning_has_a_template_and_all_await_legal_review():
    rows = list(db.session.scalars(select(SmsTemplate)))
    assert {t.category for t in rows} == set(CATEGORIES)
    assert not any(t.reviewed for t in rows)
    for t in rows:
        assert "${sign}" not in t.text and not t.text.startswith("【")
        assert text_errors(t.text, t.param_names) == []


@pytest.mark.parametrize("code, audience, params", [
    ("MAJOR_HAZARD_OVERDUE", "enterprise", {"unitName", "equipName", "deviceCode", "docNo", "deadline", "officeName"}),
    ("MAJOR_HAZARD_ESCALATED", "regulator", {"name", "caseNo", "unitName", "deadline", "level"}),
    ("TODO_REMINDER", "all", {"name", "caseNo", "step", "deadline"}),
    ("CASE_CLOSED", "enterprise", {"unitName", "caseNo", "title"}),
    ("INSP_DUE_30D", "enterprise", {"unitName", "equipType", "certNo", "deviceCode", "nextDate"}),
    ("OPERATOR_CERT_EXPIRY", "enterprise", {"personName", "certNo", "item", "expiry"}),
])
def test_codes_other_modules_call_exist_with_their_variables(code, audience, params):
    template = get_template(code)
    assert template.audience == audience and set(template.param_names) == params
    assert set(template.samples) == params


def test_render_fills_every_variable_and_prefixes_the_signature():
    template = get_template("MAJOR_HAZARD_OVERDUE")
    content, values = render(template, {"unitName": "某公司", "equipName": "乘客电梯 1号", "deviceCode": "3110450120230001",
                                        "docNo": "桂兴市监特改〔2026〕3号", "deadline": "2026-03-01",
                                        "officeName": "设区市局", "caseNo": "extra facts are ignored"})
    assert content.startswith("【广西市场监管】某公司：您单位乘客电梯 1号（设备代码3110450120230001）")
    assert "桂兴市监特改〔2026〕3号" in content and "2026-03-01" in content and "${" not in content
    assert set(values) == set(template.param_names)


def test_missing_or_blank_variable_is_a_chinese_error_naming_it_and_writes_nothing():
    with pytest.raises(ValidationFailed) as err:
        enqueue("MAJOR_HAZARD_OVERDUE", {"unitName": "某公司", "equipName": "电梯", "deviceCode": "1",
                                         "deadline": "2026-03-01", "officeName": " "},
                contacts("unit_xn"), region_code="450102")
    assert "docNo" in err.value.message and "officeName" in err.value.message and "缺少" in err.value.message
    assert set(err.value.fields) == {"params.docNo", "params.officeName"}
    db.session.rollback()
    assert db.session.scalar(select(SmsMessage.id)) is None


def test_unknown_template_and_wrong_audience_are_refused():
    with pytest.raises(DomainError) as err:
        enqueue("NO_SUCH_TEMPLATE", {}, contacts("unit_xn"), region_code="450102")
    assert "NO_SUCH_TEMPLATE" in err.value.message
    with pytest.raises(ValidationFailed) as err:
        enqueue("MAJOR_HAZARD_ESCALATED", {"name": "某", "caseNo": "1", "unitName": "某", "deadline": "1", "level": "1"},
                contacts("unit_xn"), region_code="450102")
    assert "只发给监察" in err.value.message


def test_text_validation_messages():
    allowed = ["unitName", "caseNo"]
    assert text_errors("", allowed) == ["短信正文不能为空"]
    assert any("未知变量 ${foo}" in e for e in text_errors("${unitName}：${foo}", allowed))
    assert any("签名由网关自动添加" in e for e in text_errors("${sign}${unitName}", allowed))
    assert any("变量写法不正确" in e for e in text_errors("${unitName：请处理", allowed))
    assert any("变量写法不正确" in e for e in text_errors("{caseNo} 请处理", allowed))
    assert any("不能超过 500 个字" in e for e in text_errors("长" * 501, allowed))
    assert any("【签名】" in e for e in text_errors("【广西】${unitName}", allowed))
    assert text_errors("${unitName}：案件${caseNo}", allowed) == []


def test_seed_is_idempotent_and_never_overwrites_an_administrators_edit(restore_templates):
    assert ensure_templates() == {"created": 0, "updated": 0}
    closed, todo = get_template("CASE_CLOSED"), get_template("TODO_REMINDER")
    closed.text, closed.updated_by_id, closed.provider_template_code = "${unitName}：管理员改过的${caseNo}", \
        user("sys_admin").id, "SMS_100000001"
    todo.text = "被误改但无人署名的文本${name}"
    db.session.commit()
    assert ensure_templates() == {"created": 0, "updated": 1}
    db.session.commit()
    db.session.expire_all()
    assert get_template("CASE_CLOSED").text == "${unitName}：管理员改过的${caseNo}"
    assert get_template("CASE_CLOSED").provider_template_code == "SMS_100000001"
    assert get_template("TODO_REMINDER").text.startswith("${name}：您有一件待办事项")


def test_disabled_template_queues_nothing(restore_templates):
    get_template("CASE_CLOSED").enabled = False
    db.session.commit()
    forget_snapshots()              # a change made behind the admin page's back
    assert queue_closed(contacts("unit_xn")) == []
    assert db.session.scalar(select(SmsMessage.id)) is None


# ---------------------------------------------------------------- recipients and encryption

def test_recipients_come_from_contacts_and_users_with_phones():
    org_contacts = contacts("unit_xn")
    assert len(org_contacts) == 3 and {r.audience for r in org_contacts} == {"enterprise"}
    assert all(r.phone.isdigit() and len(r.phone) == 11 for r in org_contacts)
    directors = recipients_for_org(user("unit_xn").org_id, duties=("safety_director",))
    assert [r.name for r in directors] == ["李安全总监（演示）"]
    people = recipients_for_users([user("xn_supervisor"), user("xn_colleague"), user("unit_xn")])
    assert [(r.name, r.audience) for r in people] == [("黄兴宁（演示）", "regulator"), ("李安全（演示）", "enterprise")]
    assert people[0].org_id is None and people[1].org_id == user("unit_xn").org_id


def test_phone_is_encrypted_at_rest_and_bound_to_its_row():
    first, second = queue_closed(contacts("unit_xn")[:2])
    plain = contacts("unit_xn")[0].phone
    row = db.session.execute(text("SELECT * FROM sms_message WHERE id = :id"), {"id": first.id}).mappings().one()
    raw = bytes(row["phone_enc"])
    assert plain.encode() not in raw and plain.encode().hex() not in raw.hex()
    assert all(plain not in str(value) for key, value in row.items() if key != "phone_enc")
    assert row["phone_masked"] == plain[:3] + "****" + plain[-4:] and row["phone_bidx"] == phone_index(plain)
    assert fresh(first.id).phone == plain
    # The same ciphertext moved into another row fails authentication (AAD binds row reference).
    db.session.execute(text("UPDATE sms_message SET phone_enc = :enc WHERE id = :id"),
                       {"enc": raw, "id": second.id})
    db.session.commit()
    with pytest.raises(PiiError):
        _ = fresh(second.id).phone


def test_enqueue_stays_in_the_callers_transaction():
    messages = enqueue("CASE_CLOSED", closed_params(), contacts("unit_xn"), region_code="450102")
    assert len(messages) == 3 and all(m.id for m in messages)
    db.session.rollback()
    assert db.session.scalar(select(SmsMessage.id)) is None


# ---------------------------------------------------------------- dedup

def test_dedup_key_makes_reruns_idempotent():
    recipients = contacts("unit_xn")
    assert len(queue_closed(recipients, dedup_key="escalate:1:1:2026-03-01")) == 3
    assert queue_closed(recipients, dedup_key="escalate:1:1:2026-03-01") == []
    # A new contact added later still gets the reminder on the next run; the others do not.
    extra = Recipient("新增联系人", "13907710000", "enterprise", org_id=user("unit_xn").org_id)
    again = queue_closed(recipients + [extra], dedup_key="escalate:1:1:2026-03-01")
    assert [m.recipient_name for m in again] == ["新增联系人"]
    assert db.session.scalar(select(db.func.count(SmsMessage.id))) == 4


def test_unique_constraint_backs_the_dedup_key_without_breaking_the_callers_transaction():
    recipient = contacts("unit_xn")[0]
    queue_closed([recipient], dedup_key="job:42")
    other_work = SmsMessage(template_code="CASE_CLOSED", params="{}", content="其他工作", audience="enterprise",
                                      recipient_name="其他", status="suppressed", source="system", attempts=0)
    other_work.set_phone("13907719999")
    db.session.add(other_work)
    db.session.flush()
    racer = SmsMessage(template_code="CASE_CLOSED", params="{}", content="并发任务写入的同一条提醒", audience="enterprise",
                       recipient_name=recipient.name, dedup_key="job:42", status="pending", source="system",
                       attempts=0)
    racer.set_phone(recipient.phone)
    assert services._insert_once([racer]) == []           # the constraint fired inside the savepoint
    db.session.commit()                                   # the caller's other work survives
    names = set(db.session.scalars(select(SmsMessage.recipient_name)))
    assert names == {recipient.name, "其他"}


def test_same_text_to_same_phone_within_window_is_suppressed_and_never_sent():
    recipients = contacts("unit_xn")[:1]
    with time_machine.travel(T0, tick=False):
        first = queue_closed(recipients)[0]
        second = queue_closed(recipients)[0]
        assert second.status == "suppressed" and "24小时内已向该号码发送相同内容" in second.error
        assert queue_closed(recipients, n=2)[0].status == "pending"      # other text: sent
        assert dispatch_due() == (2, 0)
    assert fresh(second.id).status == "suppressed" and fresh(first.id).status == "sent"
    assert {line["id"] for line in local_log()} >= {first.id} and second.id not in {line["id"] for line in local_log()}
    with time_machine.travel(T0 + timedelta(hours=25), tick=False):
        assert queue_closed(recipients)[0].status == "pending"


def test_failed_message_does_not_suppress_a_new_attempt():
    recipients = contacts("unit_xn")[:1]
    first = queue_closed(recipients)[0]
    first.status = "failed"
    db.session.commit()
    assert queue_closed(recipients)[0].status == "pending"


# ---------------------------------------------------------------- dispatch

def test_dispatch_sends_through_the_local_provider_once_with_masked_phone():
    messages = queue_closed(contacts("unit_xn"))
    assert dispatch_due() == (3, 0)
    assert dispatch_due() == (0, 0)
    lines = [line for line in local_log() if line["id"] in {m.id for m in messages}]
    assert len(lines) == 3
    for line, message in zip(sorted(lines, key=lambda x: x["id"]), messages, strict=True):
        plain = fresh(message.id).phone
        assert line["phone"] == plain[:3] + "****" + plain[-4:] and plain not in json.dumps(line)
        m = fresh(message.id)
        assert (m.status, m.provider, m.provider_msg_id, m.attempts) == ("sent", "local", f"local-{m.id}", 1)
        assert m.sent_at is not None and m.next_try_at is None


def test_per_phone_hourly_limit_defers_then_sends(app, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_RATE_PER_PHONE_HOUR", 2)
    recipient = contacts("unit_xn")[:1]
    with time_machine.travel(T0, tick=False):
        ids = [queue_closed(recipient, n=n)[0].id for n in range(1, 4)]
        assert dispatch_due() == (3, 0)
        statuses = [fresh(i).status for i in ids]
        assert statuses == ["sent", "sent", "deferred"]
        deferred = fresh(ids[2])
        assert "1小时内已发送2条" in deferred.error
        assert deferred.next_try_at.replace(tzinfo=timezone.utc) == T0 + timedelta(hours=1, seconds=1)
        assert deferred.attempts == 0
    with time_machine.travel(T0 + timedelta(minutes=30), tick=False):
        assert dispatch_due() == (0, 0) and fresh(ids[2]).status == "deferred"
    with time_machine.travel(T0 + timedelta(minutes=61), tick=False):
        assert dispatch_due() == (1, 0)
        assert fresh(ids[2]).status == "sent" and fresh(ids[2]).attempts == 1


class FlakyProvider(SmsProvider):
    name = "flaky_test"
    calls: list[int] = []
    result = ProviderResult(ok=False, error="isp.SYSTEM_ERROR: 系统错误", retryable=True)

    def send(self, message, phone, content, params):
        FlakyProvider.calls.append(message.id)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


@pytest.fixture
def flaky(app, monkeypatch):
    monkeypatch.setitem(PROVIDERS, FlakyProvider.name, FlakyProvider)
    monkeypatch.setitem(app.config, "SMS_PROVIDER", FlakyProvider.name)
    monkeypatch.setitem(app.config, "SMS_MAX_ATTEMPTS", 3)
    FlakyProvider.calls = []
    return FlakyProvider


def test_retryable_failure_backs_off_exponentially_then_fails(flaky):
    with time_machine.travel(T0, tick=False):
        message_id = queue_closed(contacts("unit_xn")[:1])[0].id
        assert dispatch_due() == (1, 1)
        m = fresh(message_id)
        assert (m.status, m.attempts) == ("pending", 1) and "第1次发送失败" in m.error
        assert m.next_try_at.replace(tzinfo=timezone.utc) == T0 + timedelta(minutes=1)
    with time_machine.travel(T0 + timedelta(seconds=59), tick=False):
        assert dispatch_due() == (0, 0)
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        assert dispatch_due() == (1, 1)
        assert fresh(message_id).next_try_at.replace(tzinfo=timezone.utc) == T0 + timedelta(minutes=3)
    with time_machine.travel(T0 + timedelta(minutes=3), tick=False):
        assert dispatch_due() == (1, 1)
    m = fresh(message_id)
    assert (m.status, m.attempts, m.next_try_at) == ("failed", 3, None)
    assert "共尝试3次" in m.error and "isp.SYSTEM_ERROR" in m.error
    assert flaky.calls == [message_id] * 3
    with time_machine.travel(T0 + timedelta(hours=5), tick=False):
        assert dispatch_due() == (0, 0)


def test_permanent_failure_and_provider_crash(flaky):
    flaky.result = ProviderResult(ok=False, error="isv.MOBILE_NUMBER_ILLEGAL: 非法手机号", retryable=False)
    first = queue_closed(contacts("unit_xn")[:1])[0].id
    assert dispatch_due() == (1, 1)
    assert fresh(first).status == "failed" and fresh(first).attempts == 1
    flaky.result = RuntimeError("网关 SDK 异常")
    second = queue_closed(contacts("unit_xn")[1:2])[0].id
    assert dispatch_due() == (1, 1)
    assert fresh(second).status == "pending" and "RuntimeError" in fresh(second).error
    flaky.result = ProviderResult(ok=False, error="isp.SYSTEM_ERROR", retryable=True)


def test_message_stuck_in_sending_is_taken_again_after_the_lease():
    with time_machine.travel(T0, tick=False):
        message_id = queue_closed(contacts("unit_xn")[:1])[0].id
        claimed, _ = services._claim(utcnow(), 10)      # the dispatcher crashes right after claiming
        assert claimed == [message_id] and fresh(message_id).status == "sending"
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        assert dispatch_due() == (0, 0)
    with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
        assert dispatch_due() == (1, 0)
    m = fresh(message_id)
    assert (m.status, m.attempts) == ("sent", 2)


def test_undecryptable_phone_fails_permanently_without_calling_the_provider(flaky):
    first, second = queue_closed(contacts("unit_xn")[:2])
    enc = db.session.execute(text("SELECT phone_enc FROM sms_message WHERE id = :id"), {"id": first.id}).scalar()
    db.session.execute(text("UPDATE sms_message SET phone_enc = :enc WHERE id = :id"), {"enc": enc, "id": second.id})
    db.session.commit()
    dispatch_due()
    assert fresh(second.id).status == "failed" and "解密失败" in fresh(second.id).error
    assert second.id not in flaky.calls


# ---------------------------------------------------------------- Alibaba Cloud adapter

def test_rpc_signature_matches_the_published_example():
    params = {"TimeStamp": "2016-02-23T12:46:24Z", "Format": "XML", "AccessKeyId": "testid",
              "Action": "DescribeRegions", "SignatureMethod": "HMAC-SHA1",
              "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "Version": "2014-05-26",
              "SignatureVersion": "1.0"}
    assert rpc_signature(params, "testsecret", "GET") == "CT9X0VtwR86fNWSnsc6v8YGOjuE="


SECRET = "test-secret-不要用于生产"


def _server_signature(params: dict) -> str:
    def enc(value):
        return quote(value, safe="~")
    canonical = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(params.items()) if k != "Signature")
    string_to_sign = "POST&%2F&" + enc(canonical)
    return base64.b64encode(hmac.new((SECRET + "&").encode(), string_to_sign.encode(), hashlib.sha1).digest()).decode()


class FakeDysms(BaseHTTPRequestHandler):
    """Checks the request like the gateway does and answers by phone number."""
    requests: list[dict] = []
    answers: dict[str, tuple[int, dict]] = {}
    slow: set[str] = set()

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        params = dict(parse_qsl(body, keep_blank_values=True))
        FakeDysms.requests.append(params)
        if params.get("PhoneNumbers") in FakeDysms.slow:
            time.sleep(1.5)
        if params.get("Signature") != _server_signature(params):
            status, answer = 400, {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched"}
        else:
            status, answer = FakeDysms.answers.get(params.get("PhoneNumbers"), (200, {
                "Code": "OK", "Message": "OK", "BizId": f"9000^{params['OutId']}", "RequestId": "R-1"}))
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def dysms(app, monkeypatch, restore_templates):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeDysms)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeDysms.requests, FakeDysms.answers, FakeDysms.slow = [], {}, set()
    for key, value in {"SMS_PROVIDER": "aliyun", "SMS_ENDPOINT": f"http://127.0.0.1:{server.server_port}/",
                       "SMS_ACCESS_KEY_ID": "LTAI-test", "SMS_ACCESS_KEY_SECRET": SECRET,
                       "SMS_TIMEOUT_SECONDS": 0.5, "SMS_MAX_ATTEMPTS": 3}.items():
        monkeypatch.setitem(app.config, key, value)
    get_template("CASE_CLOSED").provider_template_code = "SMS_123456789"
    db.session.commit()
    yield FakeDysms
    server.shutdown()
    server.server_close()


def test_aliyun_send_ok_with_a_valid_signature(dysms):
    recipient = contacts("unit_xn")[0]
    message = queue_closed([recipient])[0]
    assert dispatch_due() == (1, 0)
    (request,) = dysms.requests
    assert request["Signature"] == _server_signature(request)
    assert {k: request[k] for k in ("Action", "Version", "Format", "RegionId", "SignatureMethod", "SignatureVersion",
                                    "AccessKeyId", "PhoneNumbers", "SignName", "TemplateCode", "OutId")} == {
        "Action": "SendSms", "Version": "2017-05-25", "Format": "JSON", "RegionId": "cn-hangzhou",
        "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "AccessKeyId": "LTAI-test",
        "PhoneNumbers": recipient.phone, "SignName": "广西市场监管", "TemplateCode": "SMS_123456789",
        "OutId": str(message.id)}
    assert json.loads(request["TemplateParam"]) == closed_params()
    assert datetime.strptime(request["Timestamp"], "%Y-%m-%dT%H:%M:%SZ") and len(request["SignatureNonce"]) >= 16
    m = fresh(message.id)
    assert (m.status, m.provider, m.provider_msg_id) == ("sent", "aliyun", f"9000^{message.id}")


def test_aliyun_error_codes_map_to_retry_or_permanent_failure(dysms):
    illegal, limited, broken = contacts("unit_xn")
    dysms.answers = {
        illegal.phone: (200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号"}),
        limited.phone: (200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "业务限流"}),
        broken.phone: (503, {"Code": "ServiceUnavailable", "Message": "服务不可用"}),
    }
    queued = queue_closed([illegal, limited, broken])
    assert dispatch_due() == (3, 3)
    first, second, third = (fresh(m.id) for m in queued)
    assert first.status == "failed" and "isv.MOBILE_NUMBER_ILLEGAL" in first.error
    assert second.status == "pending" and "isv.BUSINESS_LIMIT_CONTROL" in second.error
    assert third.status == "pending" and "ServiceUnavailable" in third.error


def test_aliyun_wrong_secret_is_rejected_by_the_gateway(app, dysms, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_ACCESS_KEY_SECRET", "another-secret")
    message = queue_closed(contacts("unit_xn")[:1])[0]
    assert dispatch_due() == (1, 1)
    m = fresh(message.id)
    assert m.status == "failed" and "SignatureDoesNotMatch" in m.error


def test_aliyun_timeout_is_retryable(dysms):
    recipient = contacts("unit_xn")[0]
    dysms.slow = {recipient.phone}
    message = queue_closed([recipient])[0]
    assert dispatch_due() == (1, 1)
    m = fresh(message.id)
    assert m.status == "pending" and "网关连接失败" in m.error


def test_aliyun_without_gateway_template_code_fails_clearly(dysms):
    get_template("CASE_CLOSED").provider_template_code = None
    db.session.commit()
    message = queue_closed(contacts("unit_xn")[:1])[0]
    dispatch_due()
    assert fresh(message.id).status == "failed" and "网关模板编号" in fresh(message.id).error
    assert dysms.requests == []


# ---------------------------------------------------------------- receipts

def test_receipts_endpoint_is_off_without_a_token(client):
    resp = client.post("/api/v1/sms/receipts", json=[])
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"


def test_receipts_update_delivery_status(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_RECEIPT_TOKEN", "receipt-token-1")
    delivered, undelivered, pending = queue_closed(contacts("unit_xn"))
    dispatch_due()
    phones = {m.id: fresh(m.id).phone for m in (delivered, undelivered, pending)}
    bad = client.post("/api/v1/sms/receipts", json=[], headers={"X-Receipt-Token": "wrong"})
    assert bad.status_code == 401 and bad.get_json()["error"]["code"] == "unauthorized"
    assert client.post("/api/v1/sms/receipts", json=[]).status_code == 401
    not_json = client.post("/api/v1/sms/receipts?token=receipt-token-1", data="x", content_type="text/plain")
    assert not_json.status_code == 400 and not_json.get_json()["error"]["code"] == "bad_json"
    # A message whose send timed out and waits for a retry: the receipt shows it arrived.
    db.session.execute(text("UPDATE sms_message SET status = 'pending', sent_at = NULL, provider_msg_id = NULL, "
                            "next_try_at = :t WHERE id = :id"),
                       {"t": utcnow() + timedelta(minutes=1), "id": pending.id})
    db.session.commit()
    reports = [
        {"phone_number": phones[delivered.id], "send_time": "2026-03-02 09:00:00", "report_time": "2026-03-02 09:00:05",
         "success": True, "err_code": "DELIVERED", "err_msg": "用户接收成功", "sms_size": "1",
         "biz_id": f"local-{delivered.id}", "out_id": str(delivered.id)},
        {"phone_number": phones[undelivered.id], "send_time": "2026-03-02 09:00:00",
         "report_time": "2026-03-02 09:00:07", "success": False, "err_code": "MK:0001", "err_msg": "用户关机",
         "biz_id": f"local-{undelivered.id}", "out_id": str(undelivered.id)},
        {"phone_number": "13800000000", "success": True, "biz_id": "x", "out_id": str(pending.id)},   # wrong phone
        {"phone_number": phones[pending.id], "success": True, "biz_id": "from-gateway", "out_id": str(pending.id),
         "report_time": "2026-03-02 09:01:00"},
        {"phone_number": phones[delivered.id], "success": True, "biz_id": "unknown", "out_id": ""},
        "not an object",
    ]
    resp = client.post("/api/v1/sms/receipts?token=receipt-token-1", json=reports)
    assert resp.status_code == 200
    assert resp.get_json() == {"code": 0, "msg": "接收成功", "updated": 3, "ignored": 3}
    d, u, p = fresh(delivered.id), fresh(undelivered.id), fresh(pending.id)
    assert d.status == "delivered" and d.delivered_at.replace(tzinfo=timezone.utc) == datetime(2026, 3, 2, 1, 0, 5,
                                                                                                tzinfo=timezone.utc)
    assert u.status == "undelivered" and "MK:0001" in u.error and "用户关机" in u.error
    assert p.status == "delivered" and p.next_try_at is None and p.provider_msg_id == "from-gateway"
    assert dispatch_due() == (0, 0)
    header = client.post("/api/v1/sms/receipts", json={"out_id": str(undelivered.id), "success": True,
                                                       "phone_number": phones[undelivered.id]},
                         headers={"X-Receipt-Token": "receipt-token-1"})
    assert header.get_json()["updated"] == 1 and fresh(undelivered.id).status == "delivered"


# ---------------------------------------------------------------- record pages

@pytest.fixture
def sample_messages():
    """An enterprise message in 兴宁区, one in 青秀区, and a regulator message in 兴宁区."""
    xn = queue_closed(contacts("unit_xn")[:1], n=1)[0]
    qx = queue_closed(contacts("unit_qx")[:1], n=2, region_code="450103")[0]
    reg = enqueue("TODO_REMINDER", {"name": "黄兴宁（演示）", "caseNo": "YH4501022026000009", "step": "派单",
                                    "deadline": "2026-03-05"},
                  recipients_for_users([user("xn_supervisor")]), region_code="450102")[0]
    db.session.commit()
    return {"xn": fresh(xn.id), "qx": fresh(qx.id), "reg": fresh(reg.id)}


def _page(session, url="/sms/records", **kw):
    resp = session.get(url, **kw)
    return resp.status_code, resp.get_data(as_text=True)


def test_records_follow_the_data_scope_and_mask_phones(web, sample_messages):
    m = sample_messages
    plain = {k: v.phone for k, v in m.items()}
    status, html = _page(web("xn_supervisor"))
    assert status == 200 and "测试事项1" in html and "测试事项2" not in html
    assert m["xn"].phone_masked in html and plain["xn"] not in html
    assert "企业预警短信记录 <span class=\"count\">1</span>" in html
    assert "监察预警短信记录 <span class=\"count\">1</span>" in html
    status, html = _page(web("xn_supervisor"), "/sms/records?tab=regulator")
    assert "YH4501022026000009" in html and "测试事项1" not in html and plain["reg"] not in html
    assert "测试事项1" not in _page(web("qx_supervisor"))[1]
    assert "测试事项2" in _page(web("qx_supervisor"))[1]
    city = _page(web("nn_city"))[1]
    assert "测试事项1" in city and "测试事项2" in city
    unit = _page(web("unit_xn"))[1]
    assert "测试事项1" in unit and "测试事项2" not in unit and "监察预警短信记录" not in unit
    assert "YH4501022026000009" not in _page(web("unit_xn"), "/sms/records?tab=regulator")[1]
    assert "测试事项2" not in _page(web("unit_lz"))[1]
    admin = _page(web("sys_admin"))[1]
    assert "测试事项1" in admin and "测试事项2" in admin
    assert _page(web("process_admin"))[0] == 403
    assert web("process_admin").get("/sms/records/export.xlsx").status_code == 403


def test_nav_entry_for_regulators_and_sys_admin_only(web):
    assert "短信预警记录" in _page(web("xn_supervisor"), "/inbox")[1]
    assert "短信预警记录" not in _page(web("unit_xn"), "/inbox")[1]
    admin = _page(web("sys_admin"), "/sms/records")[1]
    assert "短信预警记录" in admin and "短信模板" in admin


def test_phone_search_uses_the_blind_index_and_keeps_the_number_out_of_urls(web, sample_messages):
    m = sample_messages
    plain = m["xn"].phone
    s = web("nn_city")
    resp = s.post("/sms/records", data={"phone": f"+86 {plain[:3]}-{plain[3:7]}-{plain[7:]}", "tab": "enterprise"})
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert plain not in location and f"pidx={phone_index(plain)}" in location
    html = s.get(location).get_data(as_text=True)
    assert "测试事项1" in html and "测试事项2" not in html and m["xn"].phone_masked in html
    assert plain not in html
    # A bookmarked ?phone= is turned into the same redirect.
    again = s.get(f"/sms/records?phone={plain}")
    assert again.status_code == 302 and plain not in again.headers["Location"]
    # Another number: nothing found.
    other = s.get(s.post("/sms/records", data={"phone": "13907710000"}).headers["Location"]).get_data(as_text=True)
    assert "测试事项1" not in other and "暂无记录" in other


@pytest.mark.parametrize("bad", ["1390771", "23907710000", "abc"])
def test_invalid_phone_search_shows_a_chinese_message(web, sample_messages, bad):
    resp = web("xn_supervisor").post("/sms/records", data={"phone": bad, "q": "测试"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "手机号码格式不正确" in html and "暂无记录" in html
    export = web("xn_supervisor").get(f"/sms/records/export.xlsx?phone={bad}")
    assert export.status_code == 422 and "手机号码格式不正确" in export.get_data(as_text=True)


def test_filters_status_template_keyword_and_dates(web, sample_messages):
    s = web("gx_province")
    assert "测试事项1" in _page(s, "/sms/records?status=pending")[1]
    assert "测试事项1" not in _page(s, "/sms/records?status=sent")[1]
    assert "测试事项1" not in _page(s, "/sms/records?template=TODO_REMINDER")[1]
    assert "YH4501022026000009" in _page(s, "/sms/records?tab=regulator&template=TODO_REMINDER")[1]
    keyword = _page(s, "/sms/records?q=测试事项2")[1]
    assert "测试事项2" in keyword and "测试事项1" not in keyword
    assert "测试事项1" not in _page(s, "/sms/records?region=450103")[1]
    today = today_local().isoformat()
    assert "测试事项1" in _page(s, f"/sms/records?date_from={today}&date_to={today}")[1]
    tomorrow = (today_local() + timedelta(days=1)).isoformat()
    assert "测试事项1" not in _page(s, f"/sms/records?date_from={tomorrow}")[1]


def _xlsx_rows(data: bytes) -> list[list]:
    sheet = load_workbook(io.BytesIO(data), read_only=True).active
    return [[cell for cell in row] for row in sheet.iter_rows(values_only=True)]


def test_export_has_masked_phones_and_the_same_filters(web, sample_messages):
    m = sample_messages
    s = web("nn_city")
    resp = s.get("/sms/records/export.xlsx")
    assert resp.status_code == 200
    rows = _xlsx_rows(resp.data)
    assert rows[0][:6] == ["记录号", "生成时间", "短信类别", "模板", "收件人", "手机号"]
    body = json.dumps(rows, ensure_ascii=False, default=str)
    assert {r[0] for r in rows[1:]} == {m["xn"].id, m["qx"].id}
    assert m["xn"].phone_masked in body and m["xn"].phone not in body and m["qx"].phone not in body
    filtered = _xlsx_rows(s.get(f"/sms/records/export.xlsx?pidx={phone_index(m['qx'].phone)}").data)
    assert [r[0] for r in filtered[1:]] == [m["qx"].id]
    regulator = _xlsx_rows(s.get("/sms/records/export.xlsx?tab=regulator").data)
    assert [r[0] for r in regulator[1:]] == [m["reg"].id]
    unit = _xlsx_rows(web("unit_qx").get("/sms/records/export.xlsx?tab=regulator").data)
    assert [r[0] for r in unit[1:]] == [m["qx"].id]


# ---------------------------------------------------------------- template pages

def test_templates_pages_are_for_sys_admin_only(web):
    for username in ("xn_supervisor", "gx_province", "unit_xn", "process_admin"):
        s = web(username)
        assert s.get("/sms/templates").status_code == 403
        assert s.get("/sms/templates/CASE_CLOSED").status_code == 403
        save = s.post("/sms/templates/CASE_CLOSED", data={"name": "x", "text": "x", "action": "save"})
        assert save.status_code == 403
    status, html = _page(web("sys_admin"), "/sms/templates")
    assert status == 200 and "拟定文本，待法规审定" in html and "MAJOR_HAZARD_OVERDUE" in html
    assert web("sys_admin").get("/sms/templates/NOPE").status_code == 404


def test_template_edit_validates_in_chinese_and_writes_nothing(web, restore_templates):
    s = web("sys_admin")
    before = get_template("CASE_CLOSED").text
    cases = [
        ({"name": "事项办结提醒", "text": "${unitName}：${foo}已办结"}, "未知变量 ${foo}"),
        ({"name": "事项办结提醒", "text": ""}, "短信正文不能为空"),
        ({"name": "事项办结提醒", "text": "${unitName}" + "长" * 500}, "不能超过 500 个字"),
        ({"name": "", "text": "${unitName}：已办结"}, "模板名称不能为空"),
        ({"name": "事项办结提醒", "text": "${unitName}：已办结", "provider_template_code": "SMS 12"},
         "网关模板编号只能包含"),
    ]
    for form, message in cases:
        resp = s.post("/sms/templates/CASE_CLOSED", data={**form, "enabled": "1", "action": "save"})
        assert resp.status_code == 422 and message in resp.get_data(as_text=True), message
    db.session.expire_all()
    assert get_template("CASE_CLOSED").text == before and get_template("CASE_CLOSED").updated_by_id is None


def test_template_preview_then_save(web, restore_templates):
    s = web("sys_admin")
    html = _page(s, "/sms/templates/CASE_CLOSED")[1]
    assert "【广西市场监管】南宁市某商业广场有限公司：" in html and "${unitName}" in html
    form = {"name": "事项办结提醒（改）", "text": "${unitName}：案件${caseNo}（${title}）已办结。",
            "provider_template_code": "SMS_200000001", "enabled": "1"}
    preview = s.post("/sms/templates/CASE_CLOSED", data={**form, "action": "preview"})
    assert preview.status_code == 200
    assert "【广西市场监管】南宁市某商业广场有限公司：案件YH4501022026000001（" in preview.get_data(as_text=True)
    db.session.expire_all()
    assert get_template("CASE_CLOSED").name == "事项办结提醒"
    saved = s.post("/sms/templates/CASE_CLOSED", data={**form, "action": "save"})
    assert saved.status_code == 302
    db.session.expire_all()
    template = get_template("CASE_CLOSED")
    assert (template.name, template.provider_template_code, template.enabled, template.reviewed) == (
        "事项办结提醒（改）", "SMS_200000001", True, False)
    assert template.updated_by_id == user("sys_admin").id
    p = closed_params()
    assert render(template, p)[0] == f"【广西市场监管】{p['unitName']}：案件{p['caseNo']}（{p['title']}）已办结。"


# ---------------------------------------------------------------- manual reminder from a case

def dispatched_case():
    case = make_case()
    complete(case, "xn_supervisor", {
        "dispatch_decision": "dispatch", "requirements": "立即停用并整改门锁回路。",
        "rectify_deadline": (today_local() + timedelta(days=10)).isoformat(), "opinion": "情况属实"})
    return case


def test_case_page_shows_the_sms_button_to_regulators_only(web):
    case = make_case()
    assert f"/sms/send?case_id={case.id}" in _page(web("xn_supervisor"), f"/cases/{case.id}")[1]
    assert "/sms/send" not in _page(web("unit_xn"), f"/cases/{case.id}")[1]


def test_manual_reminder_queues_messages_and_records_it_on_the_timeline(web):
    case = dispatched_case()
    s = web("xn_supervisor")
    status, html = _page(s, f"/sms/send?case_id={case.id}")
    assert status == 200
    org_contacts = contacts("unit_xn")
    for r in org_contacts:
        assert r.name in html and r.phone not in html and r.phone[:3] + "****" + r.phone[-4:] in html
    assert "李安全（演示）" in html and "候选办理人" in html
    assert "TODO_REMINDER" in html and "MAJOR_HAZARD_NOTICE" in html and "CASE_CLOSED" not in html
    keys = [f"c:{c.id}" for c in user("unit_xn").org.contacts[:2]]
    preview = s.post("/sms/send", data={"case_id": case.id, "template": "TODO_REMINDER", "recipients": keys,
                                        "action": "preview"})
    confirm = preview.get_data(as_text=True)
    task = open_task(case)
    assert preview.status_code == 200 and "确认发送" in confirm
    assert f"案件编号{case.case_no}，当前环节“{task.name}”" in confirm
    manual = select(SmsMessage).where(SmsMessage.source == "manual").order_by(SmsMessage.id)
    assert db.session.scalar(manual) is None                          # nothing queued before confirming
    sent = s.post("/sms/send", data={"case_id": case.id, "template": "TODO_REMINDER", "recipients": keys,
                                     "action": "send"})
    assert sent.status_code == 302 and sent.headers["Location"].endswith(f"/cases/{case.id}#timeline")
    messages = list(db.session.scalars(manual))      # (the notice issued at 派单督办 queued its own)
    assert len(messages) == 2
    assert {(m.source, m.created_by_id, m.case_id, m.region_code, m.audience) for m in messages} == {
        ("manual", user("xn_supervisor").id, case.id, "450102", "enterprise")}
    assert messages[0].recipient_name in messages[0].content
    event = db.session.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == "sms"))
    assert event.summary.startswith("短信提醒：待办事项提醒") and messages[0].phone_masked in event.summary
    assert messages[0].phone not in (event.summary + (event.data or ""))
    assert runtime.verify_case_chain(case.id) is None
    page = _page(s, f"/cases/{case.id}")[1]
    assert "短信提醒：待办事项提醒" in page and "已提交 2 条短信提醒" in page
    # The same reminder again within 24 h is recorded but not sent twice.
    s.post("/sms/send", data={"case_id": case.id, "template": "TODO_REMINDER", "recipients": keys, "action": "send"})
    statuses = [m.status for m in db.session.scalars(manual)]
    assert statuses == ["pending", "pending", "suppressed", "suppressed"]


def test_manual_reminder_validation_and_permissions(web):
    case = dispatched_case()
    s = web("xn_supervisor")
    no_one = s.post("/sms/send", data={"case_id": case.id, "template": "TODO_REMINDER", "action": "preview"})
    assert no_one.status_code == 422 and "请至少选择一位收件人" in no_one.get_data(as_text=True)
    contact = f"c:{user('unit_xn').org.contacts[0].id}"
    no_template = s.post("/sms/send", data={"case_id": case.id, "recipients": contact, "action": "send"})
    assert no_template.status_code == 422 and "请选择本案件适用的短信模板" in no_template.get_data(as_text=True)
    closed = s.post("/sms/send", data={"case_id": case.id, "template": "CASE_CLOSED", "recipients": contact,
                                       "action": "send"})
    assert closed.status_code == 422
    assert db.session.scalar(select(SmsMessage.id).where(SmsMessage.source == "manual")) is None
    assert db.session.scalar(select(CaseEvent.id).where(CaseEvent.kind == "sms")) is None
    assert web("unit_xn").get(f"/sms/send?case_id={case.id}").status_code == 403
    assert web("unit_xn").post("/sms/send", data={"case_id": case.id, "template": "TODO_REMINDER",
                                                  "recipients": contact, "action": "send"}).status_code == 403
    assert web("qx_supervisor").get(f"/sms/send?case_id={case.id}").status_code == 404
    assert web("process_admin").get(f"/sms/send?case_id={case.id}").status_code == 403
    assert s.get("/sms/send?case_id=999999").status_code == 404
    assert db.session.scalar(select(SmsMessage.id).where(SmsMessage.source == "manual")) is None


def test_manual_reminder_to_a_regulator_task_holder(web):
    case = make_case()                 # waiting for 派单 by a 兴宁区 county supervisor
    s = web("nn_city")
    html = _page(s, f"/sms/send?case_id={case.id}")[1]
    assert "黄兴宁（演示）" in html and "兴宁同事（测试）" not in html      # the colleague has no phone
    sent = s.post("/sms/send", data={"case_id": case.id, "template": "TODO_REMINDER",
                                     "recipients": f"u:{user('xn_supervisor').id}", "action": "send"})
    assert sent.status_code == 302
    message = db.session.scalar(select(SmsMessage))
    assert (message.audience, message.user_id, message.org_id) == ("regulator", user("xn_supervisor").id, None)
    assert message.content.startswith("【广西市场监管】黄兴宁（演示）：您有一件待办事项")
    assert "YH" in message.content and dispatch_due() == (1, 0)
