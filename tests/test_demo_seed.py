"""`flask demo seed` reports the accounts `flask demo accounts` lists, and the demo equipment has
registration numbers (SMS texts quote them)."""
from __future__ import annotations

from sqlalchemy import func, select


def test_seed_counts_the_accounts_it_lists_and_equipment_is_registered(app):
    from app.core.models import Equipment
    from app.demo import accounts, seed
    from app.extensions import db
    result = seed(iterations=1000, with_cases=False)        # idempotent: creates nothing new here
    listed = accounts()
    assert result["users"] == len(listed) == 17
    assert {"op_wei", "xn_supervisor", "audit_admin"} <= {row["username"] for row in listed}
    unregistered = db.session.scalar(select(func.count(Equipment.id)).where(Equipment.registration_no.is_(None)))
    assert unregistered == 0
    db.session.rollback()
