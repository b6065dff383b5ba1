"""Demo data of the supervision domain: the built-in checklists (from the reference data)."""
from __future__ import annotations

from . import checklists


def seed_supervision(iterations: int, orgs: dict) -> None:
    checklists.ensure_templates()
