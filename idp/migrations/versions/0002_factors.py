"""second factors, PIN letters, activation letters

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "enrolled_factor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("citizen_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("secret", sa.String(length=255), nullable=True),
        sa.Column("last_timecode", sa.BigInteger(), nullable=True),
        sa.Column("preferred", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizen.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("citizen_id", "name"),
    )
    op.create_index("ix_enrolled_factor_citizen_id", "enrolled_factor", ["citizen_id"])
    op.create_table(
        "pin_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("factor_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["factor_id"], ["enrolled_factor.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("factor_id", "number"),
    )
    op.create_index("ix_pin_code_factor_id", "pin_code", ["factor_id"])
    op.create_table(
        "activation_letter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("citizen_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizen.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_activation_letter_citizen_id", "activation_letter", ["citizen_id"])


def downgrade():
    op.drop_index("ix_activation_letter_citizen_id", table_name="activation_letter")
    op.drop_table("activation_letter")
    op.drop_index("ix_pin_code_factor_id", table_name="pin_code")
    op.drop_table("pin_code")
    op.drop_index("ix_enrolled_factor_citizen_id", table_name="enrolled_factor")
    op.drop_table("enrolled_factor")
