"""GB/T 2260 regions: names from the reference table (cached per process), and the code arithmetic
of region_codes.py, re-exported here for callers that want both."""
from __future__ import annotations

from ..extensions import db
from .models import Region
from .region_codes import (PROVINCE_CODE, city_of, jurisdictions_over, province_of,  # noqa: F401 - re-exported
                           region_at_level, region_level, region_prefix)


_REGIONS: dict[str, tuple[str, str, str | None]] = {}


def _region(code: str) -> tuple[str, str, str | None] | None:
    """(name, level, parent code) of a region: GB/T 2260 reference data, cached for the life of
    the process (a page listing a jurisdiction's counties must not read them one by one)."""
    if code not in _REGIONS:
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
