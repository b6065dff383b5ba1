"""security baseline (issue 6): audit log chain and checkpoints, server-side sessions, login controls,
password history, rate-limit counters; timeline chain re-sealed with HMAC-SM3; append-only triggers

Revision ID: 0006
Revises: 0005
"""
import json

from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY = ("audit_log", "audit_checkpoint", "case_event")


def upgrade():
    op.create_table(
        "audit_log",
        sa.Column("id", BigId, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=64), nullable=True),
        sa.Column("actor_role", sa.String(length=32), nullable=True),
        sa.Column("src_ip", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.Column("session_hash", sa.String(length=16), nullable=True),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("object_type", sa.String(length=40), nullable=True),
        sa.Column("object_id", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("summary", sa.String(length=300), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_actor_role"), ["actor_role"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_event_type"), ["event_type"], unique=False)
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_id", BigId, nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("count", BigId, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.execute("INSERT INTO audit_chain_head (id, last_id, last_hash, count) VALUES (1, 0, '" + "0" * 64 + "', 0)")
    op.create_table(
        "audit_checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("upto_id", BigId, nullable=False),
        sa.Column("upto_hash", sa.String(length=64), nullable=False),
        sa.Column("count", BigId, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signature", sa.String(length=160), nullable=False),
        sa.Column("signer_public_key", sa.String(length=130), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoint")),
    )
    op.create_table(
        "user_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sid_sm3", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=20), nullable=True),
        sa.Column("src_ip", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_user_session_user_id_user_account"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_session")),
        sa.UniqueConstraint("sid_sm3", name=op.f("uq_user_session_sid_sm3")),
    )
    with op.batch_alter_table("user_session") as batch_op:
        batch_op.create_index(batch_op.f("ix_user_session_user_id"), ["user_id"], unique=False)
    op.create_table(
        "password_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"],
                                name=op.f("fk_password_history_user_id_user_account"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_history")),
    )
    with op.batch_alter_table("password_history") as batch_op:
        batch_op.create_index(batch_op.f("ix_password_history_user_id"), ["user_id"], unique=False)
    op.create_table(
        "rate_limit_hit",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("window_start", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_rate_limit_hit")),
    )
    with op.batch_alter_table("user_account") as batch_op:
        batch_op.add_column(sa.Column("last_login_ip", sa.String(length=45), nullable=True))
        batch_op.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column("totp_ref", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("totp_secret_enc", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    op.execute("UPDATE user_account SET password_changed_at = created_at")
    _reseal_timelines()
    if op.get_bind().dialect.name == "postgresql":
        _append_only_triggers()


def _reseal_timelines():
    """The timeline chain was plain SM3; it becomes HMAC-SM3 with a key outside the database, so a
    writer with database access alone can no longer recompute it. Re-seal existing entries once
    (their order and content are unchanged; only the link values are recomputed)."""
    from app.core.clock import as_utc
    from app.security.audit import chain_mac
    bind = op.get_bind()
    ev = sa.table("case_event", sa.column("id", sa.Integer), sa.column("case_id", sa.Integer),
                  sa.column("seq", sa.Integer), sa.column("at", sa.DateTime(timezone=True)),
                  sa.column("actor_id", sa.Integer), sa.column("kind", sa.String), sa.column("task_def", sa.String),
                  sa.column("step_name", sa.String), sa.column("summary", sa.String),
                  sa.column("comment", sa.Text), sa.column("data", sa.Text), sa.column("attachment_ids", sa.String),
                  sa.column("prev_hash", sa.String), sa.column("hash", sa.String))
    prev_case, prev = None, "0" * 64
    updates = []
    for row in bind.execute(sa.select(ev).order_by(ev.c.case_id, ev.c.seq)):
        if row.case_id != prev_case:
            prev_case, prev = row.case_id, "0" * 64
        canonical = json.dumps([row.case_id, row.seq, as_utc(row.at).isoformat(), row.actor_id, row.kind,
                                row.task_def, row.step_name, row.summary, row.comment, row.data,
                                row.attachment_ids], ensure_ascii=False)
        new_hash = chain_mac("timeline", prev, canonical)
        updates.append({"eid": row.id, "p": prev, "h": new_hash})
        prev = new_hash
    if updates:
        bind.execute(ev.update().where(ev.c.id == sa.bindparam("eid"))
                     .values(prev_hash=sa.bindparam("p"), hash=sa.bindparam("h")), updates)


def _append_only_triggers():
    """The application role cannot change or remove audit rows and timeline entries. Only a
    superuser session with session_replication_role = replica (a deliberate, logged DBA action,
    e.g. archiving partitions past retention) bypasses these triggers."""
    op.execute("""
        CREATE OR REPLACE FUNCTION gx_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
        END $$""")
    for table in APPEND_ONLY:
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION gx_append_only()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION gx_append_only()")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS gx_append_only()")
    with op.batch_alter_table("user_account") as batch_op:
        for name in ("totp_last_step", "totp_secret_enc", "totp_ref", "must_change_password", "password_changed_at",
                     "locked_until", "failed_logins", "last_login_ip"):
            batch_op.drop_column(name)
    for table in ("rate_limit_hit", "password_history", "user_session", "audit_checkpoint", "audit_chain_head",
                  "audit_log"):
        op.drop_table(table)
