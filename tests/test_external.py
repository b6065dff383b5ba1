"""The external-system client (app/core/external.py) against a local fake server: what it sends, how
it reads answers and failures, the HMAC-SM3 signature both ways, and the call log."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from app.core.external import (ExternalCall, ExternalError, JsonHttpClient, adapter_for, register_adapter,
                               settings_for, sign_request, verify_request)
from app.extensions import db

from .fakes import FakeServer

SECRET = "partner-secret-0123456789"


def _secret_for(app_key):
    return SECRET if app_key == "partner-1" else None


def test_signed_call_reaches_the_server_and_verifies_there():
    def accept(req):
        check = verify_request(req.headers, req.method, req.path, req.body, _secret_for)
        return (200, {"accepted": check.ok, "reason": check.reason, "echo": req.json})

    with FakeServer({("POST", "/v1/registrations"): accept}) as fake:
        client = JsonHttpClient("registration_authority", "http", fake.url,
                                signer=lambda m, p, b: sign_request("partner-1", SECRET, m, p, b))
        answer = client.call("POST", "/v1/registrations", {"code": "气瓶-001"}, query={"mode": "sync"},
                             reference="GX-1")
    assert answer.status == 200 and answer.body == {"accepted": True, "reason": "", "echo": {"code": "气瓶-001"}}
    sent = fake.received[0]
    assert sent.path == "/v1/registrations?mode=sync" and sent.headers["X-Signature-Method"] == "HMAC-SM3"
    row = db.session.scalar(select(ExternalCall).order_by(ExternalCall.id.desc()))
    assert (row.system, row.reference, row.ok, row.http_status) == ("registration_authority", "GX-1", True, 200)


@pytest.mark.parametrize("tamper, reason", [
    (lambda h, b: (h, b + b" "), "签名不正确"),
    (lambda h, b: ({**h, "X-App-Key": "stranger"}, b), "未知的接入方"),
    (lambda h, b: ({**h, "X-Timestamp": str(int(time.time()) - 301)}, b), "时间戳无效"),
    (lambda h, b: ({k: v for k, v in h.items() if k != "X-Nonce"}, b), "缺少签名头"),
    (lambda h, b: ({**h, "X-Signature-Method": "HMAC-SHA1"}, b), "签名算法"),
])
def test_a_tampered_or_stale_request_is_refused_with_its_reason(tamper, reason):
    body = b'{"records":[1,2]}'
    headers = sign_request("partner-1", SECRET, "POST", "/api/v1/exchange/batches", body)
    assert verify_request(headers, "POST", "/api/v1/exchange/batches", body, _secret_for).ok
    headers, body = tamper(headers, body)
    check = verify_request(headers, "POST", "/api/v1/exchange/batches", body, _secret_for)
    assert not check.ok and reason in check.reason


def test_the_signature_window_is_300_seconds_both_ways():
    body = b"{}"
    now = 1_800_000_000
    headers = sign_request("partner-1", SECRET, "GET", "/x", body, timestamp=now)
    assert verify_request(headers, "GET", "/x", body, _secret_for, now=now + 300).ok
    assert verify_request(headers, "GET", "/x", body, _secret_for, now=now - 300).ok
    assert not verify_request(headers, "GET", "/x", body, _secret_for, now=now + 301).ok


def test_server_errors_are_retryable_refusals_are_not_and_both_are_logged():
    routes = {("GET", "/busy"): lambda req: (503, {"message": "维护中"}),
              ("GET", "/refuse"): lambda req: (422, {"message": "材料不全"}),
              ("GET", "/html"): lambda req: (200, b"<html>oops</html>", {"Content-Type": "text/html"})}
    with FakeServer(routes) as fake:
        client = JsonHttpClient("registration_authority", "http", fake.url)
        with pytest.raises(ExternalError) as busy:
            client.call("GET", "/busy")
        with pytest.raises(ExternalError) as refused:
            client.call("GET", "/refuse")
        with pytest.raises(ExternalError) as html:
            client.call("GET", "/html")
    assert busy.value.retryable and busy.value.http_status == 503 and "维护中" in busy.value.message
    assert not refused.value.retryable and refused.value.body == {"message": "材料不全"}
    assert html.value.retryable and "不是 JSON" in html.value.message
    rows = db.session.scalars(select(ExternalCall).order_by(ExternalCall.id.desc()).limit(3)).all()
    assert [r.ok for r in rows] == [False, False, False]


def test_an_unreachable_system_is_a_retryable_error():
    with FakeServer() as fake:
        url = fake.url
    client = JsonHttpClient("face_compare", "http", url, timeout=2)
    with pytest.raises(ExternalError) as err:
        client.call("GET", "/anything")
    assert err.value.retryable and "连接失败" in err.value.message


def test_adapters_are_chosen_by_configuration(app):
    @register_adapter("test_system", "plain")
    class Plain:
        def __init__(self, settings):
            self.settings = settings

    app.config.update(EXTERNAL_TEST_SYSTEM_PROVIDER="plain", EXTERNAL_TEST_SYSTEM_URL="http://x",
                      EXTERNAL_TEST_SYSTEM_TIMEOUT="3")
    try:
        chosen = adapter_for("test_system")
        assert isinstance(chosen, Plain) and chosen.settings.url == "http://x" and chosen.settings.timeout == 3.0
        app.config["EXTERNAL_TEST_SYSTEM_PROVIDER"] = "missing"
        with pytest.raises(ExternalError) as err:
            adapter_for("test_system")
        assert err.value.code == "external_not_configured" and "plain" in err.value.message
    finally:
        for key in ("PROVIDER", "URL", "TIMEOUT"):
            app.config.pop(f"EXTERNAL_TEST_SYSTEM_{key}", None)
    assert settings_for("test_system").url == ""


def test_a_client_without_an_address_says_which_setting_is_missing():
    with pytest.raises(ExternalError) as err:
        JsonHttpClient("geocoder", "http", "")
    assert "EXTERNAL_GEOCODER_URL" in err.value.message
