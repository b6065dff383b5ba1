"""GB/T 2260 region codes and the region-prefix data scope."""
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


_REGIONS: dict[str, tuple[str, str, str | None]] = {}


def _region(code: str) -> tuple[str, str, str | None] | None:
    """(name, level, parent code) of a region: GB/T 2260 reference data, cached for the life of
    the process (a page listing a jurisdiction's counties must not read them one by one)."""
    if code not in _REGIONS:
        from ..extensions import db
        from .models import Region
        region = db.session.get(Region, code)
        if region is None:
            return None
        _REGIONS[code] = (region.name, region.level, region.parent_code)
    return _REGIONS[code]


def region_name(code: str | None) -> str:
    """A region's name."""
    if not code:
        return ""
    row = _region(code)
    return row[0] if row else code


def region_full_name(code: str | None) -> str:
    """'450202' -> '柳州市城中区' (a county with its city); cities and the province by their own name."""
    if not code:
        return ""
    row = _region(code)
    if row is None:
        return code
    name, level, parent = row
    if level == "county" and parent:
        return region_name(parent) + name
    return name


def office_name(code: str | None) -> str:
    """The market-supervision bureau of a region: '柳州市城中区市场监督管理局'."""
    return f"{region_full_name(code)}市场监督管理局" if code else "属地市场监督管理局"
