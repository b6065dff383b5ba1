"""Check characters of national identifiers (see docs/参考数据.md for sources and vectors)."""
from __future__ import annotations

from datetime import date

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [pow(3, i, 31) for i in range(17)]
ID_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]
ID_CHECK = "10X98765432"


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_CHARSET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS))
    value = 31 - total % 31
    return USCC_CHARSET[0 if value == 31 else value]


def synthetic_uscc(key: str, region: str) -> str:
    """A valid, stable USCC (legal-person code 91, the region, a body derived from `key`) for demo and
    generated units: the same key always gives the same code."""
    import hashlib
    body = "".join(str(int(c, 16) % 10) for c in hashlib.sha256(key.encode()).hexdigest()[:9])
    first17 = "91" + region + body
    return first17 + uscc_check_char(first17)


def is_valid_uscc(code: str) -> bool:
    """GB 32100-2015 统一社会信用代码: charset, length and check character."""
    code = (code or "").strip().upper()
    if len(code) != 18 or any(c not in USCC_CHARSET for c in code):
        return False
    return uscc_check_char(code[:17]) == code[17]


def is_valid_resident_id(number: str) -> bool:
    """GB 11643-1999 公民身份号码: 18 characters, a real birth date, ISO 7064 MOD 11-2 check."""
    number = (number or "").strip().upper()
    if len(number) != 18 or not number[:17].isdigit():
        return False
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return ID_CHECK[sum(int(c) * w for c, w in zip(number[:17], ID_WEIGHTS)) % 11] == number[17]
