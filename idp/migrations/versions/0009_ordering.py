"""ordering: the embedded population register

Revision ID: 0009
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa


revision = "0009"
down_revision = "0006"
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


def downgrade():
    op.drop_table("population_register")
