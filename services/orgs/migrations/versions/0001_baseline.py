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
    op.create_table('departments',
    sa.Column('department_id', sa.String(length=36), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('key_escrow_recovery_by_department_admins', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('department_id')
    )
    op.create_index(ix('departments_organization_id'), 'departments', ['organization_id'], unique=False)
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
    op.create_table('organizations',
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('name_key', sa.String(length=64), nullable=False),
    sa.Column('address1', sa.String(length=128), nullable=False),
    sa.Column('address2', sa.String(length=128), nullable=True),
    sa.Column('address3', sa.String(length=128), nullable=True),
    sa.Column('city', sa.String(length=128), nullable=False),
    sa.Column('state', sa.String(length=128), nullable=False),
    sa.Column('postal_code', sa.String(length=40), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('ev_details', sa.JSON(), nullable=True),
    sa.Column('key_escrow', sa.JSON(), nullable=False),
    sa.Column('validation_status', sa.String(length=20), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('organization_id'),
    sa.UniqueConstraint('name_key')
    )
    op.create_table('relay_state',
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('relay_state')
    op.drop_table('organizations')
    op.drop_table('events')
    op.drop_index(ix('departments_organization_id'), table_name='departments')
    op.drop_table('departments')
