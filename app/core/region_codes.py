"""GB/T 2260 region codes: the arithmetic of the 6-digit codes (no database)."""
from __future__ import annotations

PROVINCE_CODE = "450000"


def region_prefix(code: str) -> str:
    """'450000' -> '45', '450100' -> '4501', '450102' -> '450102'."""
    if len(code) != 6 or not code.isdigit():
        raise ValueError(f"bad region code {code!r}")
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def region_level(code: str) -> str:
    prefix = region_prefix(code)
    return {2: "province", 4: "city", 6: "county"}[len(prefix)]


def city_of(code: str) -> str:
    return code[:4] + "00"


def province_of(code: str) -> str:
    return code[:2] + "0000"


def jurisdictions_over(code: str) -> list[str]:
    """The regions whose regulators' scope holds `code`: itself, its city and the province
    (a user's `region_prefix` is a prefix of `code` exactly when the user's region is one of these)."""
    return sorted({code, city_of(code), province_of(code)})


def region_at_level(code: str, level: str) -> str:
    """The region that administers `code` at `level` (county code in, its city out, …)."""
    if level == "county":
        return code
    if level == "city":
        return city_of(code)
    if level == "province":
        return province_of(code)
    raise ValueError(level)
