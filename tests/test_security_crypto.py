"""国密 vectors (GB/T 32905 SM3, GB/T 32907 SM4, RFC 8998 SM4-GCM, GB/T 32918 SM2), cross-checked
against the independent pure-Python gmssl; the start-up self-test; passwords; PII key rotation."""
from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from gmssl import func as g_func
from gmssl import sm2 as g_sm2
from gmssl import sm3 as g_sm3
from sqlalchemy import select

from app.core import gm

V = gm.VECTORS


def test_sm3_standard_vectors_and_gmssl_agree_at_padding_boundaries():
    for name in ("sm3_abc", "sm3_abcd16"):
        data, want = V[name]
        assert gm.sm3_hex(data) == want
    for n in (0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 4097):
        data = os.urandom(n)
        assert gm.sm3_hex(data) == g_sm3.sm3_hash(g_func.bytes_to_list(data))
    stream = gm.SM3Stream()
    for chunk in (b"ab", b"c"):
        stream.update(chunk)
    assert stream.hexdigest() == V["sm3_abc"][1]


def test_sm4_block_vector_and_the_million_iteration_vector():
    key_hex, want = V["sm4_block"]
    key = bytes.fromhex(key_hex)
    assert gm.sm4_encrypt_block(key, key).hex() == want
    # GB/T 32907 A.2: encrypt the block 1,000,000 times with the same key (same OpenSSL SM4 as above).
    enc = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    block = key
    for _ in range(1_000_000):
        block = enc.update(block)
    assert block.hex() == "595298c7c6fd271f0402f804c33d3f66"
    with pytest.raises(gm.CryptoError):
        gm.sm4_encrypt_block(key + b"x" * 16, key)      # a 32-byte "SM4 key" is refused, not truncated


def test_sm4_gcm_rfc8998_vector_and_tampering():
    g = {k: bytes.fromhex(v) for k, v in V["sm4_gcm"].items()}
    assert gm.sm4_gcm_seal(g["key"], g["nonce"], g["plaintext"], g["aad"]) == g["sealed"]
    assert gm.sm4_gcm_open(g["key"], g["nonce"], g["sealed"], g["aad"]) == g["plaintext"]
    for index in (0, 40, len(g["sealed"]) - 1):
        damaged = bytearray(g["sealed"])
        damaged[index] ^= 1
        with pytest.raises(gm.CryptoError):
            gm.sm4_gcm_open(g["key"], g["nonce"], bytes(damaged), g["aad"])
    with pytest.raises(gm.CryptoError):
        gm.sm4_gcm_open(g["key"], g["nonce"], g["sealed"], g["aad"] + b"x")


def test_pbkdf2_sm3_known_answer_and_password_format():
    password, salt, iterations, want = V["pbkdf2_sm3"]
    assert gm._pbkdf2_sm3(password, salt, iterations).hex() == want
    stored = gm.hash_password("Demo@2026", 1000)
    scheme, iters, salt_hex, digest = stored.split("$")
    assert (scheme, iters, len(bytes.fromhex(salt_hex)), len(bytes.fromhex(digest))) == ("pbkdf2-sm3", "1000", 16, 32)
    assert gm.verify_password("Demo@2026", stored) and not gm.verify_password("demo@2026", stored)
    assert gm.hash_password("Demo@2026", 1000) != stored                      # random salt
    assert gm.verify_password("Ｄｅｍｏ＠２０２６", stored)                        # NFKC: full-width input


def test_sm2_official_example_public_key_z_e_and_signature():
    v = V["sm2"]
    key = gm.SM2PrivateKey.from_int(int(v["d"], 16))
    public = key.public_key()
    assert public.hex() == "04" + v["public"].lower()
    z = gm.sm2_z(public.xy())
    assert z.hex() == v["z"].lower()
    assert gm.sm3_hex(z + v["message"]) == v["e"].lower()
    signature = gm._der_signature(int(v["r"], 16), int(v["s"], 16))
    assert public.verify(signature, v["message"])
    assert not public.verify(signature, v["message"] + b"!")
    # gmssl with the standard's fixed nonce k computes the same (r, s): the vector is the standard's own.
    g = g_sm2.CryptSM2(private_key=v["d"].lower(), public_key=v["public"].lower())
    e = bytes.fromhex(v["e"])
    assert g.sign(e, "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21").upper() == v["r"] + v["s"]


def _gmssl_verifies(public_hex: str, r: int, s: int, message: bytes) -> bool | None:
    """gmssl's verdict on our signature; None when gmssl's own point arithmetic breaks down (its Jacobian
    strings lose a leading zero now and then and it fails with a TypeError on a valid input)."""
    try:
        return g_sm2.CryptSM2(private_key=None, public_key=public_hex).verify_with_sm3(f"{r:064x}{s:064x}", message)
    except TypeError:
        return None


def test_sm2_sign_interoperates_with_gmssl_both_ways_and_uses_fresh_nonces():
    message = "审计检查点 123|abc".encode()
    for _attempt in range(5):             # a new key only when gmssl itself could not compute (never on False)
        key = gm.SM2PrivateKey.generate()
        public = key.public_key()
        sig1, sig2 = key.sign(message), key.sign(message)
        assert sig1 != sig2                                    # a fresh random nonce each time
        assert public.verify(sig1, message) and public.verify(sig2, message)
        r, s = gm._parse_der_signature(sig1)
        verdict = _gmssl_verifies(public.hex()[2:], r, s, message)
        if verdict is not None:
            break
    assert verdict is True                                     # gmssl checks our signature
    for _attempt in range(5):             # likewise: a new gmssl key only when its arithmetic broke down
        g_priv = g_sm2.CryptSM2(private_key=f"{int.from_bytes(os.urandom(31), 'big'):064x}", public_key="")
        d = int(g_priv.private_key, 16)
        try:
            g_priv.public_key = g_priv._kg(d, g_sm2.default_ecc_table["g"])
            theirs = g_priv.sign_with_sm3(message, gm.random_bytes(32).hex())
        except TypeError:
            continue
        if g_priv.public_key and theirs:
            break
    ours = gm.SM2PublicKey.from_hex(g_priv.public_key)
    assert ours.verify(gm._der_signature(int(theirs[:64], 16), int(theirs[64:], 16)), message)


def test_sm2_refuses_malformed_signatures_and_keys():
    key = gm.SM2PrivateKey.generate()
    public, message = key.public_key(), b"x"
    sig = key.sign(message)
    r, s = gm._parse_der_signature(sig)
    assert not public.verify(sig + b"\x00", message)                             # trailing data
    assert not public.verify(r.to_bytes(32, "big") + s.to_bytes(32, "big"), message)   # raw r||s, not DER
    assert not public.verify(gm._der_signature(0, s), message)                   # r out of range
    assert not public.verify(gm._der_signature(r, gm.SM2_N), message)            # s out of range
    with pytest.raises(gm.CryptoError):
        gm.SM2PublicKey.from_hex("04" + "11" * 64)                              # not on the curve
    with pytest.raises(gm.CryptoError):
        gm.SM2PublicKey.from_hex("04abc")
    with pytest.raises(gm.CryptoError):
        gm.SM2PrivateKey.from_int(0)
    assert gm.SM2PrivateKey.from_pem(key.to_pem()).public_key().hex() == public.hex()


def test_totp_rfc6238_vector_and_replay_window():
    # RFC 6238 App. B, SHA-1, secret "12345678901234567890", T = 59 s → 94287082 (8 digits).
    import base64
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert gm.totp_code(secret, at=59, digits=8) == "94287082"
    assert gm.totp_code(secret, at=1111111109, digits=8) == "07081804"
    code = gm.totp_code(secret, at=1_000_000)
    assert gm.totp_verify(secret, code, at=1_000_000) == 1_000_000 // 30
    assert gm.totp_verify(secret, code, at=1_000_000 + 95) is None              # outside ±1 step
    assert gm.totp_verify(secret, "abcdef", at=1_000_000) is None


def test_start_up_self_test_refuses_a_wrong_answer(monkeypatch):
    gm.self_test()
    monkeypatch.setitem(gm.VECTORS, "sm3_abc", (b"abc", "0" * 64))
    with pytest.raises(RuntimeError, match="SM3 self-test failed"):
        gm.self_test()
    from app import create_app
    with pytest.raises(RuntimeError):
        create_app()                                   # the factory runs the self-test first


def test_pii_rotation_reencrypts_every_field_in_batches_and_values_survive(app):
    from app.core.models import OrgContact, User
    from app.core.pii import ENCRYPTED_FIELDS, key_id_of
    from app.extensions import db
    from app.operators.models import Operator
    from app.security.cli import remaining_under_old_keys, rotate_pii
    names = {f"{m.__tablename__}.{c}" for m, _e, _r, c in ENCRYPTED_FIELDS}
    assert {"user_account.phone", "org_contact.phone", "sms_message.phone", "operator.id_number",
            "operator.phone", "user_account.totp_secret"} <= names
    before_phones = {u.id: u.phone for u in db.session.scalars(select(User)) if u.phone_enc}
    before_ids = {o.id: o.id_number for o in db.session.scalars(select(Operator))}
    cfg = app.config
    old_ring, old_active = dict(cfg["PII_KEYS"]), cfg["PII_ACTIVE_KEY_ID"]
    try:
        cfg["PII_KEYS"] = {**old_ring, 2: os.urandom(16)}
        cfg["PII_ACTIVE_KEY_ID"] = 2
        assert sum(remaining_under_old_keys().values()) > 0
        done = rotate_pii(batch=3)
        assert done["user_account.phone"] == len(before_phones) and done["operator.id_number"] == len(before_ids)
        assert sum(remaining_under_old_keys().values()) == 0
        db.session.expire_all()
        assert all(key_id_of(c.phone_enc) == 2 for c in db.session.scalars(select(OrgContact)))
        assert {u.id: u.phone for u in db.session.scalars(select(User)) if u.phone_enc} == before_phones
        assert {o.id: o.id_number for o in db.session.scalars(select(Operator))} == before_ids
        cfg["PII_KEYS"] = {2: cfg["PII_KEYS"][2]}   # the old key is gone: everything still reads
        db.session.expire_all()
        assert {u.id: u.phone for u in db.session.scalars(select(User)) if u.phone_enc} == before_phones
    finally:                                            # restore the seeded rows under the original key
        cfg["PII_KEYS"] = {**old_ring, 2: cfg["PII_KEYS"].get(2, os.urandom(16))}
        cfg["PII_ACTIVE_KEY_ID"] = old_active
        rotate_pii(batch=500)
        cfg["PII_KEYS"] = old_ring
