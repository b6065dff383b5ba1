"""Geography helpers shared by every domain: great-circle distance (WGS 84 coordinates as browsers
report them), coordinate checks and the on-site rule used by check-ins (维保签到, 安检打卡 …)."""
from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8      # IUGG mean radius


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Haversine distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def offset(lat: float, lng: float, north_m: float = 0.0, east_m: float = 0.0) -> tuple[float, float]:
    """The point `north_m` metres north and `east_m` metres east of (lat, lng) (small distances)."""
    dlat = math.degrees(north_m / EARTH_RADIUS_M)
    dlng = math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat))))
    return lat + dlat, lng + dlng


def coordinate(value, kind: str) -> float | None:
    """A latitude (kind='lat') or longitude ('lng') from user input; None when missing or out of range."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(number) or math.isinf(number):
        return None
    limit = 90.0 if kind == "lat" else 180.0
    return number if -limit <= number <= limit else None


def within(lat: float, lng: float, target_lat: float, target_lng: float, limit_m: int) -> tuple[bool, int]:
    """Whether a position is within `limit_m` of a target, judged on whole metres as shown to people
    (exactly `limit_m` is within), and the rounded distance."""
    metres = int(round(distance_m(lat, lng, target_lat, target_lng)))
    return metres <= limit_m, metres
