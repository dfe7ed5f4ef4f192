"""Baseline: the schema of main before migrations (d472f08)

Revision ID: 0001
Revises: none

Written without a schema: on PostgreSQL the migration runs with search_path set to the service's schema
(services/runtime/migrations.py).
"""
import sqlalchemy as sa
from alembic import op

from services.runtime.migrations import index_name as ix

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('events',
    sa.Column('position', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('stream_id', sa.String(length=200), nullable=False),
    sa.Column('stream_version', sa.Integer(), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=False),
    sa.Column('schema_version', sa.Integer(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('position'),
    sa.UniqueConstraint('event_id'),
    sa.UniqueConstraint('stream_id', 'stream_version', name='events_stream_version_key')
    )
    op.create_table('profiles',
    sa.Column('profile_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('cert_type', sa.String(length=20), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('profile_id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('relay_state',
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('ssl_certificates',
    sa.Column('ssl_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('department_id', sa.String(length=36), nullable=True),
    sa.Column('profile_id', sa.String(length=36), nullable=False),
    sa.Column('term_days', sa.Integer(), nullable=False),
    sa.Column('common_name', sa.String(length=64), nullable=False),
    sa.Column('sans', sa.JSON(), nullable=False),
    sa.Column('names', sa.Text(), nullable=False),
    sa.Column('key_type', sa.String(length=16), nullable=False),
    sa.Column('comments', sa.String(length=1024), nullable=True),
    sa.Column('external_requester', sa.String(length=254), nullable=True),
    sa.Column('auto_renew', sa.Boolean(), nullable=False),
    sa.Column('requested_by', sa.String(length=80), nullable=False),
    sa.Column('approved_by', sa.String(length=80), nullable=True),
    sa.Column('declined_reason', sa.String(length=1024), nullable=True),
    sa.Column('last_error', sa.String(length=2000), nullable=True),
    sa.Column('serial', sa.String(length=42), nullable=True),
    sa.Column('ca_id', sa.String(length=36), nullable=True),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=True),
    sa.Column('not_after', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sha256_fingerprint', sa.String(length=64), nullable=True),
    sa.Column('certificate_pem', sa.Text(), nullable=True),
    sa.Column('chain_pem', sa.JSON(), nullable=True),
    sa.Column('revocation_reason', sa.String(length=30), nullable=True),
    sa.Column('requester_email', sa.String(length=254), nullable=True),
    sa.Column('collection_sha256', sa.String(length=64), nullable=True),
    sa.Column('renewal_of', sa.String(length=36), nullable=True),
    sa.Column('renewed_by', sa.String(length=36), nullable=True),
    sa.Column('trust_class', sa.String(length=10), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('ssl_id')
    )
    op.create_index(ix('ssl_certificates_collection_sha256'), 'ssl_certificates', ['collection_sha256'], unique=False)
    op.create_index(ix('ssl_certificates_department_id'), 'ssl_certificates', ['department_id'], unique=False)
    op.create_index(ix('ssl_certificates_serial'), 'ssl_certificates', ['serial'], unique=False)
    op.create_index('ssl_certificates_common_name', 'ssl_certificates', ['common_name', 'ssl_id'], unique=False)
    op.create_index('ssl_certificates_created_names', 'ssl_certificates', ['created_at', 'ssl_id', 'names'], unique=False)
    op.create_index('ssl_certificates_not_after', 'ssl_certificates', ['not_after', 'ssl_id'], unique=False)
    op.create_index('ssl_certificates_organization_created', 'ssl_certificates', ['organization_id', 'created_at', 'ssl_id'], unique=False)
    op.create_index('ssl_certificates_organization_status', 'ssl_certificates', ['organization_id', 'status', 'not_after', 'created_at', 'ssl_id'], unique=False)
    op.create_index('ssl_certificates_status_not_after', 'ssl_certificates', ['status', 'not_after', 'created_at', 'ssl_id'], unique=False)
    op.create_table('ssl_collection_ids',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )


def downgrade() -> None:
    op.drop_table('ssl_collection_ids')
    op.drop_index('ssl_certificates_status_not_after', table_name='ssl_certificates')
    op.drop_index('ssl_certificates_organization_status', table_name='ssl_certificates')
    op.drop_index('ssl_certificates_organization_created', table_name='ssl_certificates')
    op.drop_index('ssl_certificates_not_after', table_name='ssl_certificates')
    op.drop_index('ssl_certificates_created_names', table_name='ssl_certificates')
    op.drop_index('ssl_certificates_common_name', table_name='ssl_certificates')
    op.drop_index(ix('ssl_certificates_serial'), table_name='ssl_certificates')
    op.drop_index(ix('ssl_certificates_department_id'), table_name='ssl_certificates')
    op.drop_index(ix('ssl_certificates_collection_sha256'), table_name='ssl_certificates')
    op.drop_table('ssl_certificates')
    op.drop_table('relay_state')
    op.drop_table('profiles')
    op.drop_table('events')
