"""the app factor: enrolled devices (public keys) and activation codes

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "app_device",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("citizen_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("push_subscription", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizen.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_id"),
    )
    with op.batch_alter_table("app_device", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_app_device_citizen_id"), ["citizen_id"], unique=False)
    op.create_table(
        "app_activation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("citizen_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizen.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("app_activation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_app_activation_citizen_id"), ["citizen_id"], unique=False)


def downgrade():
    with op.batch_alter_table("app_activation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_app_activation_citizen_id"))
    op.drop_table("app_activation")
    with op.batch_alter_table("app_device", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_app_device_citizen_id"))
    op.drop_table("app_device")
