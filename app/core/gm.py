"""国密 primitives. Every cryptographic call of the application goes through this module.

- SM3, HMAC-SM3, PBKDF2-HMAC-SM3, SM4 (GCM; single block for known-answer tests) through the
  OpenSSL-backed `cryptography` package (byte-identical to gmssl, ~1,000x faster; SECURITY.md §2).
- SM2 (SM3withSM2 signatures, GB/T 32918) through `tongsuopy`, a native OpenSSL (Tongsuo) build:
  constant-time scalar multiplication and an OS-random nonce. The pure-Python `gmssl` package is
  never used at run time (predictable nonces, no C3 check — SECURITY.md §1); the tests use it
  only as an independent cross-check.
- TOTP (RFC 6238) for the administrators' second factor.

`self_test()` runs at start-up with the standards' own vectors and refuses to start on a wrong answer.
"""
from __future__ import annotations

import base64
import hmac as _std_hmac
import os
import secrets
import struct
import time
import unicodedata

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from . import kdf_pool

PASSWORD_SCHEME = "pbkdf2-sm3"
DEFAULT_PASSWORD_ITERATIONS = 600_000


class CryptoError(ValueError):
    """A ciphertext, signature or key that does not check out."""


# ---------------------------------------------------------------- SM3 / HMAC-SM3

def sm3_digest(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def sm3_hex(data: bytes) -> str:
    return sm3_digest(data).hex()


class SM3Stream:
    """Incremental SM3 for uploads read in chunks."""

    def __init__(self) -> None:
        self._h = hashes.Hash(hashes.SM3())

    def update(self, chunk: bytes) -> None:
        self._h.update(chunk)

    def hexdigest(self) -> str:
        return self._h.finalize().hex()


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    h = _hmac.HMAC(key, hashes.SM3())
    h.update(data)
    return h.finalize()


def hmac_sm3_hex(key: bytes, data: bytes) -> str:
    return hmac_sm3(key, data).hex()


def constant_time_equal(a: bytes | str, b: bytes | str) -> bool:
    return _std_hmac.compare_digest(a, b)


def random_bytes(n: int) -> bytes:
    return secrets.token_bytes(n)


# ---------------------------------------------------------------- passwords

def _pbkdf2_sm3(password: str, salt: bytes, iterations: int) -> bytes:
    return kdf_pool.run(_derive_pbkdf2_sm3, password, salt, iterations)


def _derive_pbkdf2_sm3(password: str, salt: bytes, iterations: int) -> bytes:
    # NFKC: full-width and half-width input hash the same (SECURITY.md §3.1); no truncation, no case folding.
    secret = unicodedata.normalize("NFKC", password).encode("utf-8")
    kdf = PBKDF2HMAC(algorithm=hashes.SM3(), length=32, salt=salt, iterations=iterations)
    return kdf.derive(secret)


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


# ---------------------------------------------------------------- SM4

def sm4_encrypt_block(key: bytes, block: bytes) -> bytes:
    """The raw SM4 block function (one 16-byte block). For known-answer tests only: never a mode."""
    if len(key) != 16 or len(block) != 16:
        raise CryptoError("SM4 key and block are 16 bytes")
    enc = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def sm4_gcm_seal(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """SM4-GCM (RFC 8998): ciphertext || 16-byte tag."""
    if len(key) != 16 or len(nonce) != 12:
        raise CryptoError("SM4-GCM needs a 16-byte key and a 12-byte nonce")
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(aad)
    return enc.update(plaintext) + enc.finalize() + enc.tag


def sm4_gcm_open(key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    if len(key) != 16 or len(nonce) != 12 or len(sealed) < 16:
        raise CryptoError("SM4-GCM 密文格式错误")
    dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, sealed[-16:], min_tag_length=16)).decryptor()
    dec.authenticate_additional_data(aad)
    try:
        return dec.update(sealed[:-16]) + dec.finalize()
    except InvalidTag as err:
        raise CryptoError("SM4-GCM 认证失败") from err


def new_nonce() -> bytes:
    return os.urandom(12)


# ---------------------------------------------------------------- SM2 (GB/T 32918, via tongsuopy)

SM2_DEFAULT_ID = b"1234567812345678"
# Recommended curve parameters (GB/T 32918.5), used for Z (the signer's identity digest).
SM2_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
SM2_A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
SM2_B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
SM2_GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
SM2_GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0


def _sm2():
    from tongsuopy.crypto import hashes as t_hashes
    from tongsuopy.crypto import serialization as t_ser
    from tongsuopy.crypto.asymciphers import ec as t_ec
    return t_ec, t_hashes, t_ser


def _der_int(value: int) -> bytes:
    raw = value.to_bytes((value.bit_length() + 8) // 8, "big")
    return b"\x02" + bytes([len(raw)]) + raw


def _der_signature(r: int, s: int) -> bytes:
    body = _der_int(r) + _der_int(s)
    return b"\x30" + bytes([len(body)]) + body


def _parse_der_signature(sig: bytes) -> tuple[int, int]:
    """Strict DER SEQUENCE{INTEGER r, INTEGER s}; anything else is refused."""
    def read_int(buf: bytes, pos: int) -> tuple[int, int]:
        if pos + 2 > len(buf) or buf[pos] != 0x02:
            raise CryptoError("签名格式错误")
        length = buf[pos + 1]
        if length == 0 or length > 33 or pos + 2 + length > len(buf):
            raise CryptoError("签名格式错误")
        raw = buf[pos + 2:pos + 2 + length]
        if raw[0] & 0x80 or (length > 1 and raw[0] == 0 and not raw[1] & 0x80):
            raise CryptoError("签名格式错误")  # negative or non-minimal encoding
        return int.from_bytes(raw, "big"), pos + 2 + length
    if len(sig) < 8 or sig[0] != 0x30 or sig[1] != len(sig) - 2:
        raise CryptoError("签名格式错误")
    r, pos = read_int(sig, 2)
    s, pos = read_int(sig, pos)
    if pos != len(sig):
        raise CryptoError("签名格式错误")
    return r, s


def sm2_z(public_key_xy: bytes, user_id: bytes = SM2_DEFAULT_ID) -> bytes:
    """Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA) (GB/T 32918.2 §5.5)."""
    if len(user_id) > 8191:
        raise CryptoError("SM2 用户标识过长")
    parts = [struct.pack(">H", len(user_id) * 8), user_id]
    parts += [v.to_bytes(32, "big") for v in (SM2_A, SM2_B, SM2_GX, SM2_GY)]
    parts.append(public_key_xy)
    return sm3_digest(b"".join(parts))


def _check_point(x: int, y: int) -> None:
    if not (0 < x < SM2_P and 0 < y < SM2_P) or (y * y - (x * x * x + SM2_A * x + SM2_B)) % SM2_P:
        raise CryptoError("SM2 公钥不在推荐曲线上")


class SM2PublicKey:
    def __init__(self, key) -> None:
        self._key = key

    @classmethod
    def from_hex(cls, text: str) -> "SM2PublicKey":
        """An uncompressed point: '04' + x + y (130 hex digits) or x + y (128)."""
        t_ec, _, _ = _sm2()
        raw = text.strip().lower()
        if len(raw) == 130 and raw.startswith("04"):
            raw = raw[2:]
        if len(raw) != 128:
            raise CryptoError("SM2 公钥应为 128 位十六进制 (x||y) 或以 04 开头的 130 位")
        try:
            x, y = int(raw[:64], 16), int(raw[64:], 16)
        except ValueError as err:
            raise CryptoError("SM2 公钥不是十六进制") from err
        _check_point(x, y)
        return cls(t_ec.EllipticCurvePublicNumbers(x, y, t_ec.SM2()).public_key())

    @classmethod
    def from_pem(cls, pem: bytes) -> "SM2PublicKey":
        _, _, t_ser = _sm2()
        try:
            key = t_ser.load_pem_public_key(pem)
        except ValueError as err:
            raise CryptoError("SM2 公钥 PEM 无法解析") from err
        return cls(key)

    def xy(self) -> bytes:
        nums = self._key.public_numbers()
        return nums.x.to_bytes(32, "big") + nums.y.to_bytes(32, "big")

    def hex(self) -> str:
        return "04" + self.xy().hex()

    def verify(self, signature: bytes, message: bytes) -> bool:
        """SM3withSM2 with the default signer id; strict DER, r and s in [1, n-1]."""
        t_ec, t_hashes, _ = _sm2()
        try:
            r, s = _parse_der_signature(signature)
        except CryptoError:
            return False
        if not (0 < r < SM2_N and 0 < s < SM2_N):
            return False
        from tongsuopy.crypto.exceptions import InvalidSignature
        try:
            self._key.verify(_der_signature(r, s), message, t_ec.ECDSA(t_hashes.SM3()))
            return True
        except InvalidSignature:
            return False


class SM2PrivateKey:
    def __init__(self, key) -> None:
        self._key = key

    @classmethod
    def generate(cls) -> "SM2PrivateKey":
        t_ec, _, _ = _sm2()
        return cls(t_ec.generate_private_key(t_ec.SM2()))

    @classmethod
    def from_int(cls, d: int) -> "SM2PrivateKey":
        t_ec, _, _ = _sm2()
        if not 0 < d < SM2_N - 1:
            raise CryptoError("SM2 私钥超出范围")
        return cls(t_ec.derive_private_key(d, t_ec.SM2()))

    @classmethod
    def from_pem(cls, pem: bytes) -> "SM2PrivateKey":
        _, _, t_ser = _sm2()
        try:
            key = t_ser.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as err:
            raise CryptoError("SM2 私钥 PEM 无法解析") from err
        return cls(key)

    def to_pem(self) -> bytes:
        _, _, t_ser = _sm2()
        return self._key.private_bytes(t_ser.Encoding.PEM, t_ser.PrivateFormat.PKCS8, t_ser.NoEncryption())

    def public_key(self) -> SM2PublicKey:
        return SM2PublicKey(self._key.public_key())

    def sign(self, message: bytes) -> bytes:
        """SM3withSM2, signer id 1234567812345678, DER (GM/T 0009); nonce from OpenSSL's CSPRNG."""
        t_ec, t_hashes, _ = _sm2()
        return self._key.sign(message, t_ec.ECDSA(t_hashes.SM3()))


# ---------------------------------------------------------------- TOTP (RFC 6238)

def new_totp_secret() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii")


def totp_code(secret_b32: str, at: float | None = None, step: int = 30, digits: int = 6) -> str:
    """RFC 6238 with HMAC-SHA1, the algorithm every authenticator app implements."""
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    counter = int((time.time() if at is None else at) // step)
    h = _hmac.HMAC(key, hashes.SHA1())
    h.update(struct.pack(">Q", counter))
    mac = h.finalize()
    offset = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % (10 ** digits)
    return str(code).zfill(digits)


def totp_verify(secret_b32: str, code: str, at: float | None = None, window: int = 1,
                step: int = 30) -> int | None:
    """The time step that matches (to refuse replays of the same step), or None."""
    now = time.time() if at is None else at
    code = (code or "").strip()
    if not code.isdigit() or len(code) != 6:
        return None
    for delta in range(-window, window + 1):
        t = now + delta * step
        if _std_hmac.compare_digest(totp_code(secret_b32, t, step), code):
            return int(t // step)
    return None


# ---------------------------------------------------------------- start-up self-test

# GB/T 32905-2016 App. A; GB/T 32907-2016 App. A.1; RFC 8998 App. A.1; GB/T 32918 (GM/T 0003.5) example.
VECTORS = {
    "sm3_abc": (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
    "sm3_abcd16": (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
    "sm4_block": ("0123456789abcdeffedcba9876543210", "681edf34d206965e86b3e94f536e4246"),
    "sm4_gcm": {
        "key": "0123456789ABCDEFFEDCBA9876543210", "nonce": "00001234567800000000ABCD",
        "aad": "FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2",
        "plaintext": "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
                     "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA",
        "sealed": "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
                  "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
                  "83DE3541E4C2B58177E065A9BF7B62EC",
    },
    "pbkdf2_sm3": ("P@ssw0rd!", b"0123456789abcdef", 10_000,
                   "1ac69ac1b53e79af3c16014b340453498d05e7b4e73c3287adab7bce773c4c2d"),
    "sm2": {
        "d": "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8",
        "public": "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
                  "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13",
        "message": b"message digest",
        "z": "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3",
        "e": "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640",
        "r": "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3",
        "s": "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA",
    },
}


def self_test() -> None:
    """Refuse to run with a cryptographic library that gives a wrong answer."""
    for name in ("sm3_abc", "sm3_abcd16"):
        data, want = VECTORS[name]
        if sm3_hex(data) != want:
            raise RuntimeError(f"SM3 self-test failed ({name})")
    key_hex, want = VECTORS["sm4_block"]
    if sm4_encrypt_block(bytes.fromhex(key_hex), bytes.fromhex(key_hex)).hex() != want:
        raise RuntimeError("SM4 self-test failed (GB/T 32907 A.1)")
    g = {k: bytes.fromhex(v) for k, v in VECTORS["sm4_gcm"].items()}
    if sm4_gcm_seal(g["key"], g["nonce"], g["plaintext"], g["aad"]) != g["sealed"] \
            or sm4_gcm_open(g["key"], g["nonce"], g["sealed"], g["aad"]) != g["plaintext"]:
        raise RuntimeError("SM4-GCM self-test failed (RFC 8998 A.1)")
    password, salt, iterations, want = VECTORS["pbkdf2_sm3"]
    if _derive_pbkdf2_sm3(password, salt, iterations).hex() != want:
        raise RuntimeError("PBKDF2-HMAC-SM3 self-test failed")
    v = VECTORS["sm2"]
    public = SM2PublicKey.from_hex(v["public"])
    signature = _der_signature(int(v["r"], 16), int(v["s"], 16))
    if not public.verify(signature, v["message"]) or public.verify(signature, v["message"] + b"!"):
        raise RuntimeError("SM2 self-test failed (GB/T 32918 signature example)")
