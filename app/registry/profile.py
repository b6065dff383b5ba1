"""The device profile page's sections. The page (templates/registry/device.html) draws the facts and
tags, then every registered section in order; a domain adds its own section without touching the page:

    from app.registry.profile import profile_section

    @profile_section("elevator_maintenance", "维保记录", order=45)
    def maintenance_section(device, user):
        rows = …                                   # read within the user's scope
        return {"template": "elevators/_profile_maintenance.html", "rows": rows}   # None: not shown

The template receives the returned dict plus `device` and `section` (key, title).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    order: int
    fn: Callable


_SECTIONS: dict[str, Section] = {}


def profile_section(key: str, title: str, order: int = 50):
    def register(fn):
        _SECTIONS[key] = Section(key, title, order, fn)
        return fn
    return register


def sections_for(device, user) -> list[tuple[Section, dict]]:
    """The sections that have something to show this user, in order."""
    shown = []
    for section in sorted(_SECTIONS.values(), key=lambda s: (s.order, s.key)):
        ctx = section.fn(device, user)
        if ctx is not None:
            shown.append((section, ctx))
    return shown


def registered_sections() -> list[str]:
    return [s.key for s in sorted(_SECTIONS.values(), key=lambda s: (s.order, s.key))]
