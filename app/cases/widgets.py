"""Option providers for form widgets whose choices come from the database."""
from __future__ import annotations

from typing import Callable

_PROVIDERS: dict[str, Callable] = {}


def option_provider(widget: str):
    def register(fn):
        _PROVIDERS[widget] = fn
        return fn
    return register


def options_for(widget: str, user) -> list[tuple[str, str]] | None:
    fn = _PROVIDERS.get(widget)
    return fn(user) if fn else None
