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


def text_arg(args, name: str, limit: int = 100) -> str | None:
    return (args.get(name) or "").strip()[:limit] or None
