"""SMS gateways behind one interface. Adding another gateway: subclass SmsProvider, decorate it
with @register_provider, set SMS_PROVIDER to its name (docs/短信网关接入.md)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import os
import uuid
from dataclasses import dataclass
from urllib.error import HTTPError, URLError
from urllib.parse import quote
from urllib.request import Request, urlopen

from flask import current_app

from ..core import waits
from ..core.clock import utcnow
from ..core.pii import mask_phone
from ..errors import DomainError

log = logging.getLogger(__name__)


@dataclass
class ProviderResult:
    ok: bool
    message_id: str | None = None
    error: str | None = None
    retryable: bool = False


class SmsProvider:
    name = ""

    def send(self, message, phone: str, content: str, params: dict) -> ProviderResult:
        """Hand one message to the gateway. `phone` is the plain number: never log it."""
        raise NotImplementedError


PROVIDERS: dict[str, type[SmsProvider]] = {}


def register_provider(cls: type[SmsProvider]) -> type[SmsProvider]:
    PROVIDERS[cls.name] = cls
    return cls


def get_provider(name: str | None = None) -> SmsProvider:
    name = name or current_app.config["SMS_PROVIDER"]
    if name not in PROVIDERS:
        raise DomainError(f"未知的短信网关 SMS_PROVIDER={name}，可选：{'、'.join(PROVIDERS)}", code="sms_provider")
    return PROVIDERS[name]()


@register_provider
class LocalProvider(SmsProvider):
    """Development and tests: records the message in <INSTANCE_DIR>/sms_local.log (masked phone)."""
    name = "local"

    def send(self, message, phone: str, content: str, params: dict) -> ProviderResult:
        path = os.path.join(current_app.config["INSTANCE_DIR"], "sms_local.log")
        line = json.dumps({"at": utcnow().isoformat(timespec="seconds"), "id": message.id,
                           "template": message.template_code, "phone": mask_phone(phone), "content": content},
                          ensure_ascii=False)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        return ProviderResult(ok=True, message_id=f"local-{message.id}")


# ---------------------------------------------------------------- Alibaba Cloud (dysmsapi)

ALIYUN_API_VERSION = "2017-05-25"
# Worth another try later: per-number flow control, gateway-side errors, API throttling.
ALIYUN_RETRYABLE = {"isv.BUSINESS_LIMIT_CONTROL", "isp.SYSTEM_ERROR", "ServiceUnavailable", "InternalError"}


def percent_encode(value) -> str:
    """RFC 3986 as Alibaba Cloud's RPC signature wants it: UTF-8, upper-case hex, only
    A-Z a-z 0-9 - _ . ~ left as they are (so a space is %20 and * is %2A)."""
    return quote(str(value), safe="-_.~")


def canonical_query(params: dict) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))


def rpc_signature(params: dict, secret: str, method: str = "POST") -> str:
    """Base64(HMAC-SHA1(secret + "&", METHOD & %2F & percentEncode(canonical query)))."""
    string_to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"
    digest = hmac.new((secret + "&").encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


@register_provider
class AliyunProvider(SmsProvider):
    """SendSms of Alibaba Cloud SMS (dysmsapi, API version 2017-05-25), RPC style, POST form."""
    name = "aliyun"

    def request_params(self, message, phone: str, params: dict) -> dict:
        cfg = current_app.config
        query = {
            "AccessKeyId": cfg["SMS_ACCESS_KEY_ID"], "Action": "SendSms", "Format": "JSON",
            "RegionId": "cn-hangzhou", "SignatureMethod": "HMAC-SHA1", "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0", "Timestamp": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": ALIYUN_API_VERSION,
            "PhoneNumbers": phone, "SignName": cfg["SMS_SIGN_NAME"],
            "TemplateCode": message.template.provider_template_code,
            "TemplateParam": json.dumps(params, ensure_ascii=False, separators=(",", ":")),
            "OutId": str(message.id),
        }
        query["Signature"] = rpc_signature(query, cfg["SMS_ACCESS_KEY_SECRET"])
        return query

    def send(self, message, phone: str, content: str, params: dict) -> ProviderResult:
        cfg = current_app.config
        if not cfg["SMS_ACCESS_KEY_ID"] or not cfg["SMS_ACCESS_KEY_SECRET"]:
            return ProviderResult(ok=False, error="未配置 SMS_ACCESS_KEY_ID / SMS_ACCESS_KEY_SECRET")
        if not message.template.provider_template_code:
            return ProviderResult(ok=False, error=f"模板 {message.template_code} 未填写网关模板编号，"
                                                  "请系统管理员在短信模板页配置")
        body = canonical_query(self.request_params(message, phone, params)).encode("utf-8")
        request = Request(cfg["SMS_ENDPOINT"], data=body, method="POST",
                          headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                                   "Accept": "application/json"})
        waits.long_wait()           # the gateway's answer takes this process no CPU: another request may run
        try:
            with urlopen(request, timeout=cfg["SMS_TIMEOUT_SECONDS"]) as response:
                status, text = response.status, response.read().decode("utf-8", "replace")
        except HTTPError as err:
            status, text = err.code, err.read().decode("utf-8", "replace")
        except (URLError, TimeoutError, ConnectionError, http.client.HTTPException) as err:
            reason = getattr(err, "reason", err)
            return ProviderResult(ok=False, error=f"网关连接失败：{type(err).__name__} {reason}"[:300], retryable=True)
        return self.interpret(status, text)

    @staticmethod
    def interpret(status: int, text: str) -> ProviderResult:
        try:
            body = json.loads(text)
        except ValueError:
            return ProviderResult(ok=False, error=f"网关返回无法解析（HTTP {status}）", retryable=True)
        code = str(body.get("Code") or "")
        if status == 200 and code == "OK":
            return ProviderResult(ok=True, message_id=str(body.get("BizId") or "") or None)
        message = f"{code or 'HTTP ' + str(status)}: {body.get('Message') or ''}".strip()
        retryable = status >= 500 or code in ALIYUN_RETRYABLE or code.startswith("Throttling")
        return ProviderResult(ok=False, error=message[:300], retryable=retryable)
