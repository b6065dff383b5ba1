"""Masking rules for operator data (docs/作业人员任职与离职.md §4).

Internal lists (the employer's staff page) show `mask_id_number`; public pages show the stronger
`public_id_mask`, derived from the stored masked copy, so a public page never decrypts anything.
"""
from __future__ import annotations

import re

_SUFFIX = re.compile(r"^(.*?)([（(].*)?$")


def mask_name(name: str) -> str:
    """张三 → 张*, 张三丰 → 张*丰, 欧阳娜娜 → 欧**娜. A trailing note in brackets（演示）is kept."""
    base, suffix = _SUFFIX.match((name or "").strip()).groups()
    base = base.strip()
    if len(base) <= 1:
        masked = "*" if base else ""
    elif len(base) == 2:
        masked = base[0] + "*"
    else:
        masked = base[0] + "*" * (len(base) - 2) + base[-1]
    return masked + (suffix or "")


def mask_id_number(number: str) -> str:
    """450202198503121236 → 4502**********1236 (region of issue and last four; no birth date)."""
    number = (number or "").strip().upper()
    if len(number) < 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def public_id_mask(masked: str) -> str:
    """From the stored masked copy: 4502**********1236 → 45**************36."""
    masked = masked or ""
    if len(masked) < 4:
        return "*" * len(masked)
    return masked[:2] + "*" * (len(masked) - 4) + masked[-2:]


def mask_cert_no(cert_no: str) -> str:
    """Public pages never print a whole certificate number (some are the holder's ID number)."""
    cert_no = (cert_no or "").strip()
    if len(cert_no) <= 6:
        return cert_no[:1] + "*" * max(0, len(cert_no) - 1)
    keep = 3 if len(cert_no) < 12 else 4
    return cert_no[:keep] + "*" * (len(cert_no) - 2 * keep) + cert_no[-keep:]
