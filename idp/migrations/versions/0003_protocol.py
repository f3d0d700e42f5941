"""protocol: logout, request object, PAR and registration metadata; requested claims

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.add_column(sa.Column("backchannel_logout_uri", sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column("backchannel_logout_session_required", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column("frontchannel_logout_uri", sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column("frontchannel_logout_session_required", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column("request_uris", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("request_object_signing_alg", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("require_pushed_authorization_requests", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column("sector_identifier_uri", sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column("registration_access_token_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("extra_metadata", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("authorization_code", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claims", sa.JSON(), nullable=True))
    with op.batch_alter_table("token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claims", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("token", schema=None) as batch_op:
        batch_op.drop_column("claims")
    with op.batch_alter_table("authorization_code", schema=None) as batch_op:
        batch_op.drop_column("claims")
    with op.batch_alter_table("client", schema=None) as batch_op:
        for name in ("extra_metadata", "registration_access_token_hash", "sector_identifier_uri",
                     "require_pushed_authorization_requests", "request_object_signing_alg", "request_uris",
                     "frontchannel_logout_session_required", "frontchannel_logout_uri",
                     "backchannel_logout_session_required", "backchannel_logout_uri"):
            batch_op.drop_column(name)
