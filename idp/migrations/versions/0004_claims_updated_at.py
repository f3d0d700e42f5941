"""citizen.claims_updated_at: when a value relying parties receive last changed (the updated_at claim)

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("citizen", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claims_updated_at", sa.DateTime(timezone=True), nullable=True))
    # Until now updated_at was all there was: the best known bound for existing citizens.
    op.execute("UPDATE citizen SET claims_updated_at = updated_at")
    with op.batch_alter_table("citizen", schema=None) as batch_op:
        batch_op.alter_column("claims_updated_at", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade():
    with op.batch_alter_table("citizen", schema=None) as batch_op:
        batch_op.drop_column("claims_updated_at")
