"""The business registry (企业工商库 / 数据中台单位法人库) where the inspected unit is looked up (§4.5.5.1),
behind the external-systems client (app/core/external.py), kind `business_registry`
(EXTERNAL_BUSINESS_REGISTRY_PROVIDER / _URL / _APP_KEY / _SECRET / _TIMEOUT).

- `http`: our written contract (docs/监督检查.md §2.1) —
    GET {URL}/v1/enterprises?q=<名称或统一社会信用代码>&region=<区划前缀>&limit=<n>
        → 200 {"items": [{"uscc", "name", "region_code", "address", "legal_representative"}]}
    GET {URL}/v1/enterprises/{uscc} → 200 one such object; 404 when unknown
  Every request carries the platform's HMAC-SM3 signature; every call is logged in external_call.
Not configured (no provider): only the platform's own unit registry is searched; nothing is invented.
"""
from __future__ import annotations

from ..core.external import ExternalError, JsonHttpClient, adapter_for, register_adapter, settings_for
from ..core.validators import is_valid_uscc

KIND = "business_registry"
FIELDS = ("uscc", "name", "region_code", "address", "legal_representative")


class BusinessRegistry:
    """What we ask of the business registry: search enterprises, read one by its USCC."""

    def __init__(self, settings):
        self.settings = settings

    def search(self, q: str, region_prefix: str, limit: int = 20) -> list[dict]:
        raise NotImplementedError

    def get(self, uscc: str) -> dict | None:
        raise NotImplementedError


def _clean(row) -> dict | None:
    if not isinstance(row, dict):
        return None
    item = {k: str(row.get(k) or "").strip() for k in FIELDS}
    if not is_valid_uscc(item["uscc"].upper()) or not item["name"] or len(item["region_code"]) != 6:
        return None                       # an answer we cannot use is left out, not guessed at
    item["uscc"] = item["uscc"].upper()
    return item


@register_adapter(KIND, "http")
class HttpBusinessRegistry(BusinessRegistry):
    def _client(self) -> JsonHttpClient:
        return JsonHttpClient(KIND, "http", self.settings.url, self.settings.timeout, signer=self.settings.signer())

    def search(self, q, region_prefix, limit=20):
        answer = self._client().call("GET", "/v1/enterprises", query={"q": q, "region": region_prefix, "limit": limit},
                                     reference=q[:40])
        items = answer.body.get("items") if isinstance(answer.body, dict) else None
        if not isinstance(items, list):
            raise ExternalError("企业工商库的应答缺少 items", system=KIND, retryable=True)
        return [i for i in (_clean(r) for r in items[:limit]) if i]

    def get(self, uscc):
        answer = self._client().call("GET", f"/v1/enterprises/{uscc}", reference=uscc, accept=(200, 404))
        if answer.status == 404:
            return None
        return _clean(answer.body)


def configured() -> bool:
    return bool(settings_for(KIND).provider)


def registry() -> BusinessRegistry:
    return adapter_for(KIND)
