"""Generator stages that live in a domain package (e.g. the elevators' maintenance history): the domain
registers its stage function here at import, and `scale.generate.run` calls it in its place in STAGES —
so the generator does not import the domains above it."""
from __future__ import annotations

from typing import Callable

DOMAIN_STAGES: dict[str, Callable] = {}


def register(name: str):
    """Decorator: `@register("elevators") def stage(scale, preset, out)`."""
    def wrap(fn: Callable) -> Callable:
        DOMAIN_STAGES[name] = fn
        return fn
    return wrap
