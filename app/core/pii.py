"""Personal data at rest: SM4-GCM field encryption, HMAC-SM3 blind index, masking.

Layout of a stored value (docs/架构说明.md, SECURITY.md §3.2):
    ver(1) | key_id(4, big-endian) | nonce(12) | ciphertext | tag(16)
The AAD binds a ciphertext to its table, column and row reference and to the key id, so a
value copied into another row or column fails to decrypt. Keys come from configuration
(PII_KEYS / PII_ACTIVE_KEY_ID / BLIND_INDEX_KEY), never from the database.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import struct
import uuid

from flask import current_app
from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from .gm import CryptoError, hmac_sm3_hex, new_nonce, sm4_gcm_open, sm4_gcm_seal

FORMAT_VERSION = 1
_HEADER = struct.Struct(">BI")


class PiiError(ValueError):
    pass


# ---------------------------------------------------------------- keys

def _keys() -> tuple[dict[int, bytes], int, bytes]:
    cfg = current_app.config
    return cfg["PII_KEYS"], cfg["PII_ACTIVE_KEY_ID"], cfg["BLIND_INDEX_KEY"]


def parse_key_ring(text: str) -> dict[int, bytes]:
    """"1:00112233…;2:…" → {1: b'…', 2: b'…'}; each key 16 bytes (SM4)."""
    ring: dict[int, bytes] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key_id, _, hex_key = part.partition(":")
        key = bytes.fromhex(hex_key)
        if len(key) != 16:
            raise PiiError(f"PII key {key_id} must be 16 bytes (32 hex digits)")
        ring[int(key_id)] = key
    if not ring:
        raise PiiError("PII_KEYS is empty")
    return ring


def load_or_create_dev_keys(instance_dir: str) -> dict:
    """Development only: keys kept under instance/ (production sets the environment)."""
    path = os.path.join(instance_dir, "pii_keys.json")
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        os.makedirs(instance_dir, exist_ok=True)
        data = {"PII_KEYS": f"1:{secrets.token_hex(16)}", "PII_ACTIVE_KEY_ID": 1,
                "BLIND_INDEX_KEY": secrets.token_hex(32)}
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.chmod(path, 0o600)
        return data


# ---------------------------------------------------------------- SM4-GCM

def _aad(table: str, column: str, ref: str, key_id: int) -> bytes:
    return json.dumps([FORMAT_VERSION, table, column, ref, key_id], separators=(",", ":")).encode()


def encrypt(value: str, *, table: str, column: str, ref: str, key_id: int | None = None) -> bytes:
    ring, active, _ = _keys()
    key_id = active if key_id is None else key_id
    nonce = new_nonce()
    sealed = sm4_gcm_seal(ring[key_id], nonce, value.encode("utf-8"), _aad(table, column, ref, key_id))
    return _HEADER.pack(FORMAT_VERSION, key_id) + nonce + sealed


def key_id_of(blob: bytes) -> int:
    return _HEADER.unpack(blob[:_HEADER.size])[1]


def decrypt(blob: bytes, *, table: str, column: str, ref: str) -> str:
    ring, _, _ = _keys()
    version, key_id = _HEADER.unpack(blob[:_HEADER.size])
    if version != FORMAT_VERSION or key_id not in ring:
        raise PiiError("无法解密: 未知的格式或密钥")
    try:
        return sm4_gcm_open(ring[key_id], blob[5:17], blob[17:], _aad(table, column, ref, key_id)).decode("utf-8")
    except CryptoError as err:
        raise PiiError("密文校验失败 (数据被篡改或被移动到其他记录)") from err


def blind_index(value: str, *, purpose: str) -> str:
    """HMAC-SM3 over the normalised value with a per-purpose derived key; 16 bytes, hex."""
    _, _, master = _keys()
    column_key = bytes.fromhex(hmac_sm3_hex(master, f"blind-index:{purpose}:v1".encode()))
    return hmac_sm3_hex(column_key, value.encode("utf-8"))[:32]


# ---------------------------------------------------------------- phones

_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def normalize_phone(raw: str) -> str:
    digits = re.sub(r"[\s\-()（）]", "", str(raw or ""))
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if not _MOBILE.match(digits):
        raise PiiError("请输入11位手机号码")
    return digits


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


# Every encrypted column: (model, ciphertext attribute, row-reference attribute, AAD column name).
# `flask pii rotate` re-encrypts each of them; a new encrypted column registers here.
ENCRYPTED_FIELDS: list[tuple[type, str, str, str]] = []


def register_encrypted(model: type, enc_attr: str, ref_attr: str, column: str) -> None:
    ENCRYPTED_FIELDS.append((model, enc_attr, ref_attr, column))


def reencrypt(blob: bytes, *, table: str, column: str, ref: str, key_id: int) -> bytes:
    return encrypt(decrypt(blob, table=table, column=column, ref=ref), table=table, column=column, ref=ref,
                   key_id=key_id)


class EncryptedPhone:
    """Mixin: a mobile number stored encrypted, with a blind index and a masked copy for lists."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__tablename__" in cls.__dict__:
            register_encrypted(cls, "phone_enc", "phone_ref", "phone")
    phone_ref: Mapped[str | None] = mapped_column(String(32))
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_bidx: Mapped[str | None] = mapped_column(String(32), index=True)
    phone_masked: Mapped[str | None] = mapped_column(String(16))

    def set_phone(self, raw: str | None) -> None:
        if not raw:
            self.phone_ref = self.phone_enc = self.phone_bidx = self.phone_masked = None
            return
        phone = normalize_phone(raw)
        self.phone_ref = uuid.uuid4().hex
        self.phone_enc = encrypt(phone, table=self.__tablename__, column="phone", ref=self.phone_ref)
        self.phone_bidx = phone_index(phone)
        self.phone_masked = mask_phone(phone)

    @property
    def phone(self) -> str | None:
        if not self.phone_enc:
            return None
        return decrypt(self.phone_enc, table=self.__tablename__, column="phone", ref=self.phone_ref)


def phone_index(phone: str) -> str:
    return blind_index(normalize_phone(phone), purpose="phone")
