"""Issue 13: enrollment's read models of domains' and orgs' facts, its processor's tracking, ca's applications

Revision ID: 0002
Revises: 0001

Written without a schema: on PostgreSQL the migration runs with search_path set to the service's schema
(services/runtime/migrations.py).
"""
import sqlalchemy as sa
from alembic import op

from services.runtime.migrations import index_name as ix

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('applications',
    sa.Column('application_id', sa.String(length=36), nullable=False),
    sa.Column('request_id', sa.String(length=80), nullable=False),
    sa.Column('serial', sa.String(length=42), nullable=True),
    sa.Column('code', sa.String(length=40), nullable=True),
    sa.PrimaryKeyConstraint('application_id')
    )
    op.create_index(ix('applications_request_id'), 'applications', ['request_id'], unique=False)
    op.create_table('tracking',
    sa.Column('source', sa.String(length=50), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('source')
    )


def downgrade() -> None:
    op.drop_table('tracking')
    op.drop_index(ix('applications_request_id'), table_name='applications')
    op.drop_table('applications')
