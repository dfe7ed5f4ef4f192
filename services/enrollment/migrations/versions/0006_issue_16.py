"""issue 16: SCEP and EST endpoints' credentials and one-time challenges, device certificates' endpoint

Revision ID: 0006
Revises: 0005

Written without a schema: on PostgreSQL the migration runs with search_path set to the service's schema
(services/runtime/migrations.py).
"""
import sqlalchemy as sa
from alembic import op

from services.runtime.migrations import index_name as ix  # noqa: F401 (for the names of index=True indexes)

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('device_challenge_secrets',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('device_challenges',
    sa.Column('challenge_id', sa.String(length=36), nullable=False),
    sa.Column('endpoint_id', sa.String(length=36), nullable=False),
    sa.Column('device_name', sa.String(length=128), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_by', sa.String(length=80), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('used_via', sa.String(length=8), nullable=True),
    sa.Column('cert_id', sa.String(length=36), nullable=True),
    sa.PrimaryKeyConstraint('challenge_id')
    )
    op.create_index(ix('device_challenges_endpoint_id'), 'device_challenges', ['endpoint_id'], unique=False)
    op.create_table('device_endpoint_credentials',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('scep_ra_keys',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.add_column('certificates', sa.Column('endpoint_id', sa.String(length=36), nullable=True))
    op.add_column('certificates', sa.Column('protocol_ref', sa.String(length=128), nullable=True))
    op.create_index(ix('certificates_endpoint_id'), 'certificates', ['endpoint_id'], unique=False)
    op.create_index(ix('certificates_protocol_ref'), 'certificates', ['protocol_ref'], unique=False)
    op.create_index(ix('certificates_sha256_fingerprint'), 'certificates', ['sha256_fingerprint'], unique=False)
    op.add_column('device_endpoints', sa.Column('credential_set_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('device_endpoints', 'credential_set_at')
    op.drop_index(ix('certificates_sha256_fingerprint'), table_name='certificates')
    op.drop_index(ix('certificates_protocol_ref'), table_name='certificates')
    op.drop_index(ix('certificates_endpoint_id'), table_name='certificates')
    op.drop_column('certificates', 'protocol_ref')
    op.drop_column('certificates', 'endpoint_id')
    op.drop_table('scep_ra_keys')
    op.drop_table('device_endpoint_credentials')
    op.drop_index(ix('device_challenges_endpoint_id'), table_name='device_challenges')
    op.drop_table('device_challenges')
    op.drop_table('device_challenge_secrets')
