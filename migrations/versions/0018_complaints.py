"""Public complaints (投诉举报): the complaint sheet, SMS verification codes, image captchas and the
attempts the per-phone / per-address limits count

Revision ID: 0018_complaints
Revises: 0018_security
"""
import sqlalchemy as sa
from alembic import op

revision = "0018_complaints"
down_revision = "0018_security"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "complaint",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("case_record.id"), nullable=False, unique=True),
        sa.Column("complaint_no", sa.String(32), nullable=False, unique=True),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("equipment_id", sa.Integer(), sa.ForeignKey("equipment.id"), nullable=True),
        sa.Column("device_code", sa.String(32), nullable=True),
        sa.Column("address", sa.String(200), nullable=True),
        sa.Column("region_code", sa.String(6), sa.ForeignKey("region.code"), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("complainant_name", sa.String(40), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("reject_reason", sa.String(300), nullable=True),
        sa.Column("accepted_at", TZ, nullable=True),
        sa.Column("checked_on", sa.Date(), nullable=True),
        sa.Column("check_conclusion", sa.String(16), nullable=True),
        sa.Column("finding", sa.Text(), nullable=True),
        sa.Column("reply", sa.String(300), nullable=True),
        sa.Column("hazard_case_id", sa.Integer(), sa.ForeignKey("case_record.id"), nullable=True),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("user_account.id"), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("closed_at", TZ, nullable=True),
        sa.Column("phone_ref", sa.String(32), nullable=True),
        sa.Column("phone_enc", sa.LargeBinary(), nullable=True),
        sa.Column("phone_bidx", sa.String(32), nullable=True),
        sa.Column("phone_masked", sa.String(16), nullable=True),
    )
    op.create_index("ix_complaint_region_created", "complaint", ["region_code", "created_at"])
    op.create_index("ix_complaint_equipment_id", "complaint", ["equipment_id"])
    op.create_index("ix_complaint_region_code", "complaint", ["region_code"])
    op.create_index("ix_complaint_status", "complaint", ["status"])
    op.create_index("ix_complaint_hazard_case_id", "complaint", ["hazard_case_id"])
    op.create_index("ix_complaint_created_at", "complaint", ["created_at"])
    op.create_index("ix_complaint_phone_bidx", "complaint", ["phone_bidx"])

    op.create_table(
        "complaint_code",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("phone_bidx", sa.String(32), nullable=False),
        sa.Column("code_mac", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("used_at", TZ, nullable=True),
    )
    op.create_index("ix_complaint_code_phone", "complaint_code", ["phone_bidx", "created_at"])

    op.create_table(
        "complaint_captcha",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token", sa.String(32), nullable=False, unique=True),
        sa.Column("answer_mac", sa.String(64), nullable=False),
        sa.Column("image", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_at", TZ, nullable=True),
    )

    op.create_table(
        "complaint_attempt",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("phone_bidx", sa.String(32), nullable=True),
        sa.Column("ip_key", sa.String(32), nullable=False),
        sa.Column("at", TZ, nullable=False),
    )
    op.create_index("ix_complaint_attempt_phone", "complaint_attempt", ["kind", "phone_bidx", "at"])
    op.create_index("ix_complaint_attempt_ip", "complaint_attempt", ["kind", "ip_key", "at"])


def downgrade():
    op.drop_table("complaint_attempt")
    op.drop_table("complaint_captcha")
    op.drop_index("ix_complaint_code_phone", table_name="complaint_code")
    op.drop_table("complaint_code")
    for name in ("ix_complaint_phone_bidx", "ix_complaint_created_at", "ix_complaint_hazard_case_id",
                 "ix_complaint_status", "ix_complaint_region_code", "ix_complaint_equipment_id",
                 "ix_complaint_region_created"):
        op.drop_index(name, table_name="complaint")
    op.drop_table("complaint")
