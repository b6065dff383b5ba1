"""process administration (issue 4): drafts and the change record

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "process_draft",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("base_version", sa.Integer()),
        sa.Column("bpmn_xml", sa.Text(), nullable=False),
        sa.Column("dmn_json", sa.Text(), nullable=False),
        sa.Column("forms_json", sa.Text(), nullable=False),
        sa.Column("content_sm3", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("issues_json", sa.Text()),
        sa.Column("deployed_version", sa.Integer()),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("user_account.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), sa.ForeignKey("user_account.id"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_process_draft_key", "process_draft", ["key"])
    op.create_index("ix_process_draft_status", "process_draft", ["status"])
    op.create_table(
        "process_change",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("user_account.id")),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("object", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer()),
        sa.Column("draft_id", sa.Integer()),
        sa.Column("case_id", sa.Integer()),
        sa.Column("content_sm3", sa.String(64)),
        sa.Column("summary", sa.String(500), nullable=False),
    )
    op.create_index("ix_process_change_at", "process_change", ["at"])
    op.create_index("ix_process_change_actor_id", "process_change", ["actor_id"])
    op.create_index("ix_process_change_action", "process_change", ["action"])
    op.create_index("ix_process_change_key", "process_change", ["key"])


def downgrade():
    op.drop_table("process_change")
    op.drop_table("process_draft")
