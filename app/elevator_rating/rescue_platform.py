"""The 96111 elevator rescue platform (电梯应急处置服务平台) as an external system (core/external.py).

Contract (written by us; docs/维保单位评价与星级评定.md §3 and docs/外部系统接入.md): the platform
answers `GET {EXTERNAL_RESCUE_PLATFORM_URL}/v1/rescues?date_from=YYYY-MM-DD&date_to=YYYY-MM-DD&page=N`
signed with HMAC-SM3 (X-App-Key, X-Timestamp, X-Nonce, X-Signature) with
`{"code": "0", "items": [record…], "page": N, "pages": M}`, each record
`{"rescue_no", "rescue_code", "equipment_code", "alarm_at", "arrived_at", "released_at", "trapped", "cause"}`
(times ISO 8601 with offset). A refusal is 4xx `{"code", "message"}`.

`pull(user, date_from, date_to)` fetches every page and stores the records through the same checks
as the Excel import and the push API (services.ingest_rescues)."""
from __future__ import annotations

from datetime import date

from ..core.external import ExternalError, ExternalSettings, JsonHttpClient, adapter_for, register_adapter
from . import services

KIND = "rescue_platform"
MAX_PAGES = 200


class RescuePlatform:
    name = ""

    def __init__(self, settings: ExternalSettings):
        self.settings = settings

    def fetch(self, date_from: date, date_to: date) -> list[dict]:
        raise NotImplementedError


@register_adapter(KIND, "http")
class HttpRescuePlatform(RescuePlatform):
    def fetch(self, date_from: date, date_to: date) -> list[dict]:
        client = JsonHttpClient(KIND, self.name, self.settings.url, self.settings.timeout,
                                signer=self.settings.signer())
        records: list[dict] = []
        page, pages = 1, 1
        while page <= pages and page <= MAX_PAGES:
            answer = client.call("GET", "/v1/rescues", query={"date_from": date_from.isoformat(),
                                                              "date_to": date_to.isoformat(), "page": page},
                                 reference=f"{date_from}~{date_to}").body
            if not isinstance(answer, dict) or str(answer.get("code")) != "0" or not isinstance(answer.get("items"), list):
                raise ExternalError(f"96111救援平台应答格式不正确：{(answer or {}).get('message') if isinstance(answer, dict) else ''}",
                                    system=KIND)
            records.extend(answer["items"])
            pages = int(answer.get("pages") or 1)
            page += 1
        return records


def pull(user, date_from: date, date_to: date) -> list[dict]:
    """Fetch the platform's rescues of a period and store them; per-record results."""
    if not services.can_record_rescues(user):
        from ..errors import Forbidden
        raise Forbidden("只有监管人员可以同步96111救援记录")
    records = adapter_for(KIND).fetch(date_from, date_to)
    if not records:
        return []
    results = []
    for start in range(0, len(records), 500):
        chunk = services.ingest_rescues(user, records[start:start + 500], "pull")
        results.extend({**r, "index": r["index"] + start} for r in chunk)
    return results
