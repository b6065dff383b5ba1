"""国密 primitives through the OpenSSL-backed `cryptography` package.

Every cryptographic call of the application goes through this module.
"""
from __future__ import annotations

import hmac as _std_hmac
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _hmac
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

PASSWORD_SCHEME = "pbkdf2-sm3"
DEFAULT_PASSWORD_ITERATIONS = 600_000


def sm3_hex(data: bytes) -> str:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize().hex()


class SM3Stream:
    """Incremental SM3 for uploads read in chunks."""

    def __init__(self) -> None:
        self._h = hashes.Hash(hashes.SM3())

    def update(self, chunk: bytes) -> None:
        self._h.update(chunk)

    def hexdigest(self) -> str:
        return self._h.finalize().hex()


def hmac_sm3_hex(key: bytes, data: bytes) -> str:
    h = _hmac.HMAC(key, hashes.SM3())
    h.update(data)
    return h.finalize().hex()


def _pbkdf2_sm3(password: str, salt: bytes, iterations: int) -> bytes:
    kdf = PBKDF2HMAC(algorithm=hashes.SM3(), length=32, salt=salt, iterations=iterations)
    return kdf.derive(password.encode("utf-8"))


def hash_password(password: str, iterations: int = DEFAULT_PASSWORD_ITERATIONS) -> str:
    salt = secrets.token_bytes(16)
    digest = _pbkdf2_sm3(password, salt, iterations)
    return f"{PASSWORD_SCHEME}${iterations}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, iterations, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != PASSWORD_SCHEME:
        return False
    digest = _pbkdf2_sm3(password, bytes.fromhex(salt_hex), int(iterations))
    return _std_hmac.compare_digest(digest.hex(), digest_hex)


def password_iterations(stored: str) -> int:
    try:
        return int(stored.split("$")[1])
    except (IndexError, ValueError):
        return 0


def self_test() -> None:
    """GB/T 32905-2016 Appendix A vectors; refuse to run with a broken SM3."""
    if sm3_hex(b"abc") != "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0":
        raise RuntimeError("SM3 self-test failed (abc)")
    if sm3_hex(b"abcd" * 16) != "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732":
        raise RuntimeError("SM3 self-test failed (abcd*16)")
