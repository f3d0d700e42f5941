"""client secret rotation: the previous secret and when it stops working

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
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.add_column(sa.Column("previous_client_secret_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("previous_client_secret_expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.drop_column("previous_client_secret_expires_at")
        batch_op.drop_column("previous_client_secret_hash")
