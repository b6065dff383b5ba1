"""Face comparison (人脸比对) behind a provider interface, like the SMS gateway: the caller asks
`compare(photo, person_ref)` and gets a verdict; which system answers is configuration
(EXTERNAL_FACE_COMPARE_PROVIDER).

- `cloud`: the real adapter — the HTTP contract we publish for face-compare services
  (docs/外部系统接入.md §人脸比对): POST {url}/v1/face/compare with JSON
  {"request_id", "person_ref", "image_base64", "threshold"}, signed with HMAC-SM3 (core/external.py
  sign_request); answer 200 {"code": "0", "match": bool, "score": float, "message": str}; a refusal is a
  4xx with {"code", "message"}.
- `development` (开发用): calls nobody, records the photo it was given (the caller keeps it) and passes
  with `score=None` — the verdict says so ("开发用人脸比对：未比对，已记录照片"). Never for production.

The caller stores the photo as evidence whatever the verdict.
"""
from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass

from .external import ExternalError, ExternalSettings, JsonHttpClient, adapter_for, register_adapter

KIND = "face_compare"
DEFAULT_THRESHOLD = 0.8


@dataclass
class FaceVerdict:
    match: bool
    score: float | None
    provider: str
    message: str


class FaceCompareProvider:
    name = ""

    def __init__(self, settings: ExternalSettings):
        self.settings = settings

    def compare(self, image: bytes, person_ref: str, reference: str | None = None) -> FaceVerdict:
        raise NotImplementedError


@register_adapter(KIND, "cloud")
class CloudFaceCompare(FaceCompareProvider):
    def compare(self, image: bytes, person_ref: str, reference: str | None = None) -> FaceVerdict:
        client = JsonHttpClient(KIND, self.name, self.settings.url, self.settings.timeout,
                                signer=self.settings.signer())
        body = {"request_id": uuid.uuid4().hex, "person_ref": person_ref,
                "image_base64": base64.b64encode(image).decode("ascii"), "threshold": DEFAULT_THRESHOLD}
        answer = client.call("POST", "/v1/face/compare", body, reference=reference).body or {}
        if not isinstance(answer, dict) or str(answer.get("code")) != "0":
            raise ExternalError(f"人脸比对服务拒绝：{(answer or {}).get('message') or '应答格式不正确'}",
                                system=KIND, retryable=False)
        score = answer.get("score")
        match = bool(answer.get("match"))
        return FaceVerdict(match, float(score) if score is not None else None, self.name,
                           answer.get("message") or ("比对通过" if match else "比对不通过"))


@register_adapter(KIND, "development")
class DevelopmentFaceCompare(FaceCompareProvider):
    """开发用: no call out; the photo is kept by the caller; always passes and says it did not compare."""
    received: list[tuple[str, int]] = []

    def compare(self, image: bytes, person_ref: str, reference: str | None = None) -> FaceVerdict:
        DevelopmentFaceCompare.received.append((person_ref, len(image)))
        return FaceVerdict(True, None, self.name, "开发用人脸比对：未比对，已记录照片")


def compare(image: bytes, person_ref: str, reference: str | None = None) -> FaceVerdict:
    return adapter_for(KIND, default_provider="development").compare(image, person_ref, reference)


def check_identity(user, photo_data_url, *, purpose: str = "登录人脸核验"):
    """The identity check of a person starting phone work: the face photo taken in the page is decoded,
    watermarked and kept (core/evidence), compared by the configured provider and audited, match or not.
    Returns (verdict, stored attachment); a mismatch raises ValidationFailed on `face_photo` after the
    refusal is audited and committed (the photo of a refused attempt is kept as evidence too)."""
    from ..errors import ValidationFailed
    from ..extensions import db
    from ..security.audit import audit
    from . import evidence
    from .clock import to_local, utcnow
    data = evidence.decode_data_url(photo_data_url, "face_photo")
    now = utcnow()
    stamped = evidence.stamp(data, [f"{user.display_name}（{user.username}）{purpose}",
                                    f"{to_local(now):%Y-%m-%d %H:%M:%S}"], user,
                             filename=f"face-{user.username}.jpg", field="face_photo")
    try:
        verdict = compare(data, person_ref=f"user:{user.id}", reference=f"identity:{user.id}")
    except ExternalError as err:
        db.session.rollback()
        raise ValidationFailed({"face_photo": f"人脸比对服务暂不可用：{err}"}) from None
    audit("auth.face", f"{purpose}：{verdict.message}", outcome="success" if verdict.match else "failure",
          object_type="attachment", object_id=stamped.attachment.id,
          detail={"provider": verdict.provider, "score": verdict.score, "original_sm3": stamped.original_sm3})
    db.session.commit()
    if not verdict.match:
        raise ValidationFailed({"face_photo": f"人脸比对不通过：{verdict.message}"})
    return verdict, stamped.attachment
