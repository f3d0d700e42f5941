"""guardians: the guardianship register (mandates), guardian-operated accounts, RFC 9396 authorization_details

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "mandate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("guardian_pid", sa.String(length=11), nullable=False),
        sa.Column("ward_pid", sa.String(length=11), nullable=False),
        sa.Column("ward_name", sa.String(length=200), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    op.create_index("ix_mandate_guardian_pid", "mandate", ["guardian_pid"])
    op.create_index("ix_mandate_ward_pid", "mandate", ["ward_pid"])
    with op.batch_alter_table("authorization_code", schema=None) as batch_op:
        batch_op.add_column(sa.Column("authorization_details", sa.JSON(), nullable=True))
    with op.batch_alter_table("token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("authorization_details", sa.JSON(), nullable=True))
    with op.batch_alter_table("citizen", schema=None) as batch_op:
        batch_op.add_column(sa.Column("operated_under", sa.String(length=64), nullable=True))
    with op.batch_alter_table("login_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("act", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("login_session", schema=None) as batch_op:
        batch_op.drop_column("act")
    with op.batch_alter_table("citizen", schema=None) as batch_op:
        batch_op.drop_column("operated_under")
    with op.batch_alter_table("token", schema=None) as batch_op:
        batch_op.drop_column("authorization_details")
    with op.batch_alter_table("authorization_code", schema=None) as batch_op:
        batch_op.drop_column("authorization_details")
    op.drop_index("ix_mandate_ward_pid", table_name="mandate")
    op.drop_index("ix_mandate_guardian_pid", table_name="mandate")
    op.drop_table("mandate")
