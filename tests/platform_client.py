"""A maintenance unit's platform as it would call us, written from docs/维保数据接入规范.md only (it imports
nothing from `app`): builds the multipart body byte by byte, signs with HMAC-SM3 over the canonical
string, and sends over real HTTP (`HttpTransport`) or through the Flask test client with the same raw
bytes (`FlaskTransport`)."""
from __future__ import annotations

import json
import secrets
import time
import uuid
from urllib.error import HTTPError
from urllib.request import Request, urlopen

from cryptography.hazmat.primitives import hashes, hmac

RECORDS_PATH = "/api/v1/maintenance-platform/records"
WHOAMI_PATH = "/api/v1/maintenance-platform/whoami"


def sm3_hex(data: bytes) -> str:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize().hex()


def hmac_sm3_hex(key: bytes, data: bytes) -> str:
    h = hmac.HMAC(key, hashes.SM3())
    h.update(data)
    return h.finalize().hex()


def canonical_string(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    return "\n".join([method.upper(), path, timestamp, nonce, sm3_hex(body)])


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    """RFC 7578 body: text fields, then file parts (name → (filename, bytes, content type))."""
    boundary = "gxmp" + uuid.uuid4().hex
    out = bytearray()
    for name, value in fields.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n"
                f"Content-Type: application/json; charset=utf-8\r\n\r\n").encode()
        out += value.encode("utf-8") + b"\r\n"
    for name, (filename, data, mime) in files.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n"
                f"Content-Type: {mime}\r\n\r\n").encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


class FlaskTransport:
    def __init__(self, client):
        self.client = client

    def __call__(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, dict]:
        with self.client.application.app_context():
            resp = self.client.open(path, method=method, headers=headers, data=body)
        self.response = resp                    # for checks against the API document
        return resp.status_code, resp.get_json()


class HttpTransport:
    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")

    def __call__(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, dict]:
        request = Request(self.base_url + path, data=body if method != "GET" else None, method=method, headers=headers)
        try:
            with urlopen(request, timeout=120) as resp:
                return resp.status, json.loads(resp.read())
        except HTTPError as err:
            return err.code, json.loads(err.read())


class PlatformClient:
    def __init__(self, key_id: str, secret: str, transport):
        self.key_id, self.secret, self.transport = key_id, secret, transport
        self.last: tuple = ()

    def headers(self, method: str, path: str, body: bytes, timestamp: int | None = None,
                nonce: str | None = None) -> dict:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nonce = nonce or secrets.token_hex(16)
        signature = hmac_sm3_hex(self.secret.encode("utf-8"), canonical_string(method, path, ts, nonce, body).encode())
        return {"X-App-Key": self.key_id, "X-Timestamp": ts, "X-Nonce": nonce, "X-Signature-Method": "HMAC-SM3",
                "X-Signature": signature}

    def send(self, method: str, path: str, body: bytes = b"", content_type: str | None = None,
             tamper=None, **sign) -> tuple[int, dict]:
        headers = self.headers(method, path, body, **sign)
        if content_type:
            headers["Content-Type"] = content_type
        if tamper:
            tamper(headers)
        self.last = (method, path, headers, body)
        return self.transport(method, path, headers, body)

    def resend(self) -> tuple[int, dict]:
        """The very same request again (a replay)."""
        method, path, headers, body = self.last
        return self.transport(method, path, dict(headers), body)

    def whoami(self, **sign) -> tuple[int, dict]:
        return self.send("GET", WHOAMI_PATH, **sign)

    def upload(self, records: list, files: dict | None = None, as_field: bool = False, **kw) -> tuple[int, dict]:
        """The records as a file part `records.json` (a plain form field is limited to 500 KB)."""
        text = json.dumps(records, ensure_ascii=False)
        if as_field:
            body, content_type = multipart({"records": text}, files or {})
        else:
            body, content_type = multipart({}, {"records": ("records.json", text.encode("utf-8"), "application/json"),
                                                **(files or {})})
        return self.send("POST", RECORDS_PATH, body, content_type, **kw)

    def upload_json(self, records: list, **kw) -> tuple[int, dict]:
        body = json.dumps({"records": records}, ensure_ascii=False).encode("utf-8")
        return self.send("POST", RECORDS_PATH, body, "application/json", **kw)
