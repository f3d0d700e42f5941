"""ordering: the embedded population register; whether an account is activated

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "population_register",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pid", sa.String(length=11), nullable=False),
        sa.Column("given_name", sa.String(length=200), nullable=False),
        sa.Column("family_name", sa.String(length=200), nullable=False),
        sa.Column("street_address", sa.String(length=200), nullable=False),
        sa.Column("postal_code", sa.String(length=16), nullable=False),
        sa.Column("locality", sa.String(length=100), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pid"),
    )
    with op.batch_alter_table("citizen", schema=None) as batch_op:
        # Every account so far was added by an operator, who saw who the citizen is.
        batch_op.add_column(sa.Column("activated", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade():
    with op.batch_alter_table("citizen", schema=None) as batch_op:
        batch_op.drop_column("activated")
    op.drop_table("population_register")
