"""notices: which phase-out letters were sent, so a re-run does not send twice

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "notice_sent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=16), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("letter", sa.String(length=255), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["citizen.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["recipient_id"], ["citizen.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("notice", "account_id", "recipient_id"),
    )
    op.create_index("ix_notice_sent_account_id", "notice_sent", ["account_id"])
    op.create_index("ix_notice_sent_recipient_id", "notice_sent", ["recipient_id"])


def downgrade():
    op.drop_index("ix_notice_sent_recipient_id", table_name="notice_sent")
    op.drop_index("ix_notice_sent_account_id", table_name="notice_sent")
    op.drop_table("notice_sent")
