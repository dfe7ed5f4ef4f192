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
    op.create_table('admins',
    sa.Column('admin_id', sa.String(length=36), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('username_key', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('forename', sa.String(length=254), nullable=True),
    sa.Column('surname', sa.String(length=254), nullable=True),
    sa.Column('title', sa.String(length=254), nullable=True),
    sa.Column('telephone', sa.String(length=254), nullable=True),
    sa.Column('street', sa.String(length=254), nullable=True),
    sa.Column('locality', sa.String(length=254), nullable=True),
    sa.Column('state', sa.String(length=254), nullable=True),
    sa.Column('postal_code', sa.String(length=254), nullable=True),
    sa.Column('country', sa.String(length=254), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('privileges', sa.JSON(), nullable=False),
    sa.Column('is_mrao', sa.Boolean(), nullable=False),
    sa.Column('credential_id', sa.String(length=36), nullable=True),
    sa.Column('password_history', sa.JSON(), nullable=False),
    sa.Column('must_change_password', sa.Boolean(), nullable=False),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=80), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('admin_id'),
    sa.UniqueConstraint('username_key')
    )
    op.create_table('api_keys',
    sa.Column('key_id', sa.String(length=36), nullable=False),
    sa.Column('admin_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('key_id')
    )
    op.create_index(ix('api_keys_admin_id'), 'api_keys', ['admin_id'], unique=False)
    op.create_table('credentials',
    sa.Column('credential_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('hash', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('credential_id')
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
    op.create_table('known_departments',
    sa.Column('department_id', sa.String(length=36), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('name_key', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('department_id')
    )
    op.create_index(ix('known_departments_organization_id'), 'known_departments', ['organization_id'], unique=False)
    op.create_table('known_organizations',
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.PrimaryKeyConstraint('organization_id')
    )
    op.create_table('persons',
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('department_id', sa.String(length=36), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('email_key', sa.String(length=254), nullable=False),
    sa.Column('first_name', sa.String(length=64), nullable=False),
    sa.Column('middle_name', sa.String(length=64), nullable=True),
    sa.Column('last_name', sa.String(length=64), nullable=False),
    sa.Column('alternative_emails', sa.JSON(), nullable=False),
    sa.Column('validation_type', sa.String(length=20), nullable=False),
    sa.Column('has_secret_id', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('person_id'),
    sa.UniqueConstraint('organization_id', 'email_key', name='persons_email_per_organization')
    )
    op.create_table('relay_state',
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('tracking',
    sa.Column('source', sa.String(length=50), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('source')
    )


def downgrade() -> None:
    op.drop_table('tracking')
    op.drop_table('relay_state')
    op.drop_table('persons')
    op.drop_table('known_organizations')
    op.drop_index(ix('known_departments_organization_id'), table_name='known_departments')
    op.drop_table('known_departments')
    op.drop_table('events')
    op.drop_table('credentials')
    op.drop_index(ix('api_keys_admin_id'), table_name='api_keys')
    op.drop_table('api_keys')
    op.drop_table('admins')
