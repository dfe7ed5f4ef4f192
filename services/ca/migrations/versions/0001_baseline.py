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
    op.create_table('ca_certificates',
    sa.Column('serial', sa.String(length=42), nullable=False),
    sa.Column('ca_id', sa.String(length=36), nullable=False),
    sa.Column('certificate_pem', sa.Text(), nullable=False),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=False),
    sa.Column('not_after', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sha256_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('serial')
    )
    op.create_index(ix('ca_certificates_ca_id'), 'ca_certificates', ['ca_id'], unique=False)
    op.create_table('ca_keys',
    sa.Column('key_ref', sa.String(length=36), nullable=False),
    sa.Column('algorithm', sa.String(length=32), nullable=False),
    sa.Column('nonce', sa.LargeBinary(), nullable=False),
    sa.Column('wrapped', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key_ref')
    )
    op.create_table('ca_states',
    sa.Column('ca_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('revocation_status', sa.String(length=10), nullable=True),
    sa.Column('revocation_reason', sa.String(length=30), nullable=True),
    sa.Column('revocation_requested_by', sa.String(length=80), nullable=True),
    sa.Column('revocation_requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revocation_approved_by', sa.String(length=80), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('ca_id')
    )
    op.create_table('cas',
    sa.Column('ca_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('parent_ca_id', sa.String(length=36), nullable=True),
    sa.Column('key_ref', sa.String(length=64), nullable=False),
    sa.Column('key_algorithm', sa.String(length=16), nullable=False),
    sa.Column('certificate_pem', sa.Text(), nullable=False),
    sa.Column('serial', sa.String(length=42), nullable=False),
    sa.Column('subject', sa.String(length=400), nullable=False),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=False),
    sa.Column('not_after', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sha256_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('ca_id')
    )
    op.create_table('certificates',
    sa.Column('serial', sa.String(length=42), nullable=False),
    sa.Column('ca_id', sa.String(length=36), nullable=False),
    sa.Column('request_id', sa.String(length=80), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=False),
    sa.Column('not_after', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.String(length=30), nullable=True),
    sa.Column('certificate_pem', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('serial')
    )
    op.create_index(ix('certificates_ca_id'), 'certificates', ['ca_id'], unique=False)
    op.create_table('crl_entries',
    sa.Column('ca_id', sa.String(length=36), nullable=False),
    sa.Column('serial', sa.String(length=42), nullable=False),
    sa.Column('der', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('ca_id', 'serial'),
    sqlite_with_rowid=False
    )
    op.create_table('crl_files',
    sa.Column('ca_id', sa.String(length=36), nullable=False),
    sa.Column('crl_number', sa.Integer(), nullable=False),
    sa.Column('der', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('ca_id')
    )
    op.create_table('crls',
    sa.Column('ca_id', sa.String(length=36), nullable=False),
    sa.Column('crl_number', sa.Integer(), nullable=False),
    sa.Column('this_update', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_update', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('ca_id')
    )
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
    op.create_table('relay_state',
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    if op.get_bind().dialect.name == "postgresql":
        # a large CRL is stored apart and uncompressed (services/ca/service.py CrlFiles._store_uncompressed)
        op.execute("ALTER TABLE crl_files ALTER COLUMN der SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table('relay_state')
    op.drop_table('events')
    op.drop_table('crls')
    op.drop_table('crl_files')
    op.drop_table('crl_entries')
    op.drop_index(ix('certificates_ca_id'), table_name='certificates')
    op.drop_table('certificates')
    op.drop_table('cas')
    op.drop_table('ca_states')
    op.drop_table('ca_keys')
    op.drop_index(ix('ca_certificates_ca_id'), table_name='ca_certificates')
    op.drop_table('ca_certificates')
