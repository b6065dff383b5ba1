"""Parsing list-page query arguments: out-of-range or junk values fall back, never error."""
from __future__ import annotations

from datetime import date


def int_arg(args, name: str, default: int, lo: int, hi: int) -> int:
    try:
        return max(lo, min(hi, int(args.get(name, default))))
    except (TypeError, ValueError):
        return default


def date_arg(args, name: str) -> date | None:
    try:
        return date.fromisoformat(args.get(name, ""))
    except ValueError:
        return None


def region_arg(args, name: str = "region") -> str | None:
    """A 6-digit region code, or None."""
    value = (args.get(name) or "").strip()
    return value if len(value) == 6 and value.isdigit() else None


def text_arg(args, name: str, limit: int = 100) -> str | None:
    return (args.get(name) or "").strip()[:limit] or None


def contains(column, q: str):
    """`column` contains the search text `q`, its % and _ taken literally. Case-insensitive only
    when `q` has letters with case: ILIKE lower-cases every row it reads, which on Chinese text
    costs PostgreSQL 2–3× a plain LIKE (a county's 27,000 hazard descriptions: 36 → 26 ms)."""
    pattern = "%" + q.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
    if q.lower() == q.upper():
        return column.like(pattern, escape="/")
    return column.ilike(pattern, escape="/")
