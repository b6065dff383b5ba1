"""`flask demo seed` reports the accounts `flask demo accounts` lists, README names every one of them, and the
demo equipment that needs use registration has registration numbers (SMS texts quote them)."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select


def test_seed_counts_the_accounts_it_lists_and_equipment_is_registered(app):
    from app.core.models import Equipment
    from app.demo import accounts, seed
    from app.extensions import db
    result = seed(iterations=1000, with_cases=False)        # idempotent: creates nothing new here
    listed = accounts()
    assert result["users"] == len(listed) >= 17
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    missing = [row["username"] for row in listed if f"`{row['username']}`" not in readme]
    assert not missing, f"README's demo-account table lacks {missing}"
    assert {"op_wei", "xn_supervisor", "audit_admin"} <= {row["username"] for row in listed}
    unregistered = db.session.scalar(select(func.count(Equipment.id)).where(   # simple vessels need no registration
        Equipment.registration_no.is_(None), Equipment.simple_pressure_vessel.is_(False)))
    assert unregistered == 0
    db.session.rollback()
