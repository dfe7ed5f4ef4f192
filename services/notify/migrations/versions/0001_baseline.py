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
    op.create_table('mail_requests',
    sa.Column('causation_event_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=50), nullable=False),
    sa.Column('reference', sa.String(length=36), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('correlation_id', sa.String(length=100), nullable=True),
    sa.Column('actor', sa.String(length=100), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('causation_event_id')
    )
    op.create_index('mail_requests_due', 'mail_requests', ['status', 'due_at'], unique=False)
    op.create_table('messages',
    sa.Column('message_id', sa.String(length=36), nullable=False),
    sa.Column('causation_event_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=50), nullable=True),
    sa.Column('to_address', sa.String(length=320), nullable=True),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('transport', sa.String(length=10), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('retry_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('message_id'),
    sa.UniqueConstraint('causation_event_id')
    )
    op.create_index(ix('messages_created_at'), 'messages', ['created_at'], unique=False)
    op.create_table('outbox',
    sa.Column('message_id', sa.String(length=36), nullable=False),
    sa.Column('causation_event_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=50), nullable=False),
    sa.Column('to_address', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('message_id')
    )
    op.create_index(ix('outbox_created_at'), 'outbox', ['created_at'], unique=False)
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
    op.drop_index(ix('outbox_created_at'), table_name='outbox')
    op.drop_table('outbox')
    op.drop_index(ix('messages_created_at'), table_name='messages')
    op.drop_table('messages')
    op.drop_index('mail_requests_due', table_name='mail_requests')
    op.drop_table('mail_requests')
    op.drop_table('events')
