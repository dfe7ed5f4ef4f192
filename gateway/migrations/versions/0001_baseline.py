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
    op.create_table('api_key_usage',
    sa.Column('key_id', sa.String(length=36), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key_id')
    )
    op.create_table('certificate_status',
    sa.Column('serial', sa.String(length=42), nullable=False),
    sa.Column('ca_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('serial')
    )
    op.create_table('console_session_activity',
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('session_id')
    )
    op.create_table('directory_departments',
    sa.Column('department_id', sa.String(length=36), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('name_key', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('department_id')
    )
    op.create_index(ix('directory_departments_organization_id'), 'directory_departments', ['organization_id'], unique=False)
    op.create_table('directory_organizations',
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('name_key', sa.String(length=64), nullable=False),
    sa.Column('city', sa.String(length=128), nullable=False),
    sa.Column('state', sa.String(length=128), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('validation_status', sa.String(length=20), nullable=False),
    sa.Column('department_count', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('organization_id')
    )
    op.create_index(ix('directory_organizations_name_key'), 'directory_organizations', ['name_key'], unique=False)
    op.create_table('idempotency_keys',
    sa.Column('scope_key', sa.String(length=64), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('response', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('scope_key')
    )
    op.create_table('principal_admins',
    sa.Column('admin_id', sa.String(length=36), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('forename', sa.String(length=64), nullable=False),
    sa.Column('surname', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('privileges', sa.JSON(), nullable=False),
    sa.Column('must_change_password', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=80), nullable=True),
    sa.PrimaryKeyConstraint('admin_id')
    )
    op.create_table('principal_api_keys',
    sa.Column('key_sha256', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=36), nullable=False),
    sa.Column('admin_id', sa.String(length=36), nullable=False),
    sa.PrimaryKeyConstraint('key_sha256'),
    sa.UniqueConstraint('key_id')
    )
    op.create_index(ix('principal_api_keys_admin_id'), 'principal_api_keys', ['admin_id'], unique=False)
    op.create_table('principal_sessions',
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('admin_id', sa.String(length=36), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('token_sha256'),
    sa.UniqueConstraint('session_id')
    )
    op.create_index(ix('principal_sessions_admin_id'), 'principal_sessions', ['admin_id'], unique=False)
    op.create_table('tracking',
    sa.Column('source', sa.String(length=50), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('source')
    )


def downgrade() -> None:
    op.drop_table('tracking')
    op.drop_index(ix('principal_sessions_admin_id'), table_name='principal_sessions')
    op.drop_table('principal_sessions')
    op.drop_index(ix('principal_api_keys_admin_id'), table_name='principal_api_keys')
    op.drop_table('principal_api_keys')
    op.drop_table('principal_admins')
    op.drop_table('idempotency_keys')
    op.drop_index(ix('directory_organizations_name_key'), table_name='directory_organizations')
    op.drop_table('directory_organizations')
    op.drop_index(ix('directory_departments_organization_id'), table_name='directory_departments')
    op.drop_table('directory_departments')
    op.drop_table('console_session_activity')
    op.drop_table('certificate_status')
    op.drop_table('api_key_usage')
