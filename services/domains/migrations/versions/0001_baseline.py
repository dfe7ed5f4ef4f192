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
    op.create_table('dcv_mail_secrets',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('delegation_grants',
    sa.Column('delegation_id', sa.String(length=36), nullable=False),
    sa.Column('cert_type', sa.String(length=20), nullable=False),
    sa.Column('domain_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('department_id', sa.String(length=36), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('delegation_id', 'cert_type')
    )
    op.create_index(ix('delegation_grants_department_id'), 'delegation_grants', ['department_id'], unique=False)
    op.create_index(ix('delegation_grants_domain_id'), 'delegation_grants', ['domain_id'], unique=False)
    op.create_index(ix('delegation_grants_name'), 'delegation_grants', ['name'], unique=False)
    op.create_index(ix('delegation_grants_organization_id'), 'delegation_grants', ['organization_id'], unique=False)
    op.create_table('delegations',
    sa.Column('delegation_id', sa.String(length=36), nullable=False),
    sa.Column('domain_id', sa.String(length=36), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('department_id', sa.String(length=36), nullable=True),
    sa.Column('cert_types', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('requested_by', sa.String(length=80), nullable=False),
    sa.Column('decided_by', sa.String(length=80), nullable=True),
    sa.Column('reason', sa.String(length=1024), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('delegation_id')
    )
    op.create_index(ix('delegations_domain_id'), 'delegations', ['domain_id'], unique=False)
    op.create_table('domains',
    sa.Column('domain_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=1024), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('dcv_id', sa.String(length=36), nullable=True),
    sa.Column('dcv_method', sa.String(length=10), nullable=True),
    sa.Column('dcv_email_address', sa.String(length=254), nullable=True),
    sa.Column('dcv_http_url', sa.String(length=600), nullable=True),
    sa.Column('dcv_dns_name', sa.String(length=300), nullable=True),
    sa.Column('dcv_expected_value', sa.String(length=300), nullable=True),
    sa.Column('dcv_token_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dcv_used', sa.Boolean(), nullable=False),
    sa.Column('dcv_last_failure', sa.String(length=1200), nullable=True),
    sa.Column('evidence_method', sa.String(length=10), nullable=True),
    sa.Column('validated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('evidence_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('caa', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('domain_id'),
    sa.UniqueConstraint('name')
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
    op.create_table('network_delegations',
    sa.Column('delegation_id', sa.String(length=36), nullable=False),
    sa.Column('network_id', sa.String(length=36), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('department_id', sa.String(length=36), nullable=True),
    sa.Column('cert_types', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('requested_by', sa.String(length=80), nullable=False),
    sa.Column('decided_by', sa.String(length=80), nullable=True),
    sa.Column('reason', sa.String(length=1024), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('delegation_id')
    )
    op.create_index(ix('network_delegations_network_id'), 'network_delegations', ['network_id'], unique=False)
    op.create_table('network_grants',
    sa.Column('delegation_id', sa.String(length=36), nullable=False),
    sa.Column('cert_type', sa.String(length=20), nullable=False),
    sa.Column('network_id', sa.String(length=36), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('department_id', sa.String(length=36), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('delegation_id', 'cert_type')
    )
    op.create_index(ix('network_grants_department_id'), 'network_grants', ['department_id'], unique=False)
    op.create_index(ix('network_grants_network_id'), 'network_grants', ['network_id'], unique=False)
    op.create_index(ix('network_grants_organization_id'), 'network_grants', ['organization_id'], unique=False)
    op.create_table('networks',
    sa.Column('network_id', sa.String(length=36), nullable=False),
    sa.Column('cidr', sa.String(length=50), nullable=False),
    sa.Column('ip_version', sa.Integer(), nullable=False),
    sa.Column('first_address', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('last_address', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('description', sa.String(length=1024), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('network_id'),
    sa.UniqueConstraint('cidr')
    )
    op.create_index('networks_range', 'networks', ['ip_version', 'first_address', 'last_address'], unique=False)
    op.create_table('relay_state',
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('relay_state')
    op.drop_index('networks_range', table_name='networks')
    op.drop_table('networks')
    op.drop_index(ix('network_grants_organization_id'), table_name='network_grants')
    op.drop_index(ix('network_grants_network_id'), table_name='network_grants')
    op.drop_index(ix('network_grants_department_id'), table_name='network_grants')
    op.drop_table('network_grants')
    op.drop_index(ix('network_delegations_network_id'), table_name='network_delegations')
    op.drop_table('network_delegations')
    op.drop_table('events')
    op.drop_table('domains')
    op.drop_index(ix('delegations_domain_id'), table_name='delegations')
    op.drop_table('delegations')
    op.drop_index(ix('delegation_grants_organization_id'), table_name='delegation_grants')
    op.drop_index(ix('delegation_grants_name'), table_name='delegation_grants')
    op.drop_index(ix('delegation_grants_domain_id'), table_name='delegation_grants')
    op.drop_index(ix('delegation_grants_department_id'), table_name='delegation_grants')
    op.drop_table('delegation_grants')
    op.drop_table('dcv_mail_secrets')
