"""security hardening: API tokens can be revoked; failed logins are counted per account and client address
(login_throttle); each case's timeline chain gets a head on the case row (seq, hash, HMAC), sealed here for
existing cases

Revision ID: 0018_security
Revises: 0017_registry_ledger_index
"""
import sqlalchemy as sa
from alembic import op

revision = "0018_security"
down_revision = "0017_registry_ledger_index"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("api_token") as batch_op:
        batch_op.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("revoke_reason", sa.String(length=20), nullable=True))
    with op.batch_alter_table("case_record") as batch_op:
        batch_op.add_column(sa.Column("timeline_seq", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("timeline_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("timeline_mac", sa.String(length=64), nullable=True))
    op.create_table(
        "login_throttle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_key", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=45), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_throttle")),
        sa.UniqueConstraint("account_key", "source", name=op.f("uq_login_throttle_account_key")),
    )
    op.create_index(op.f("ix_login_throttle_user_id"), "login_throttle", ["user_id"], unique=False)
    _seal_timeline_heads()


def _seal_timeline_heads(batch: int = 5000):
    """Give every existing case the head of its timeline as it stands (newest seq and hash, and the MAC
    over them with the audit key's timeline-head purpose key), a batch of cases at a time."""
    from app.security.audit import GENESIS, chain_mac
    bind = op.get_bind()
    ev = sa.table("case_event", sa.column("case_id", sa.Integer), sa.column("seq", sa.Integer),
                  sa.column("hash", sa.String))
    cases = sa.table("case_record", sa.column("id", sa.Integer), sa.column("timeline_seq", sa.Integer),
                     sa.column("timeline_hash", sa.String), sa.column("timeline_mac", sa.String))
    last_id = 0
    while True:
        ids = list(bind.execute(sa.select(cases.c.id).where(cases.c.id > last_id).order_by(cases.c.id)
                                .limit(batch)).scalars())
        if not ids:
            return
        in_range = sa.and_(ev.c.case_id >= ids[0], ev.c.case_id <= ids[-1])
        newest = sa.select(ev.c.case_id, sa.func.max(ev.c.seq).label("seq")).where(in_range) \
            .group_by(ev.c.case_id).subquery()
        heads = {case_id: (seq, hash_) for case_id, seq, hash_ in bind.execute(
            sa.select(ev.c.case_id, ev.c.seq, ev.c.hash).join(
                newest, sa.and_(newest.c.case_id == ev.c.case_id, newest.c.seq == ev.c.seq)))}
        updates = []
        for case_id in ids:
            seq, last = heads.get(case_id, (0, None))
            updates.append({"cid": case_id, "s": seq, "h": last,
                            "m": chain_mac("timeline_head", last or GENESIS, f"{case_id}|{seq}")})
        _apply(bind, cases, updates)
        last_id = ids[-1]


def _apply(bind, cases, updates):
    bind.execute(cases.update().where(cases.c.id == sa.bindparam("cid"))
                 .values(timeline_seq=sa.bindparam("s"), timeline_hash=sa.bindparam("h"),
                         timeline_mac=sa.bindparam("m")), updates)


def downgrade():
    op.drop_table("login_throttle")
    with op.batch_alter_table("case_record") as batch_op:
        for name in ("timeline_mac", "timeline_hash", "timeline_seq"):
            batch_op.drop_column(name)
    with op.batch_alter_table("api_token") as batch_op:
        batch_op.drop_column("revoked_at")
        batch_op.drop_column("revoke_reason")
