"""Issue 14: ACME accounts, registrations, orders, authorizations, renewal campaigns, nonces, EAB keys; the inventory by requester

Revision ID: 0003
Revises: 0002

Written without a schema: on PostgreSQL the migration runs with search_path set to the service's schema
(services/runtime/migrations.py).
"""
import sqlalchemy as sa
from alembic import op

from services.runtime.migrations import index_name as ix  # noqa: F401 (for the names of index=True indexes)

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('acme_accounts',
    sa.Column('acme_account_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('department_id', sa.String(length=36), nullable=True),
    sa.Column('profile_ids', sa.JSON(), nullable=False),
    sa.Column('eab_kid', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_by', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('acme_account_id'),
    sa.UniqueConstraint('eab_kid')
    )
    op.create_index(ix('acme_accounts_department_id'), 'acme_accounts', ['department_id'], unique=False)
    op.create_index(ix('acme_accounts_organization_id'), 'acme_accounts', ['organization_id'], unique=False)
    op.create_table('acme_authorizations',
    sa.Column('authorization_id', sa.String(length=36), nullable=False),
    sa.Column('registration_id', sa.String(length=36), nullable=False),
    sa.Column('identifier', sa.String(length=255), nullable=False),
    sa.Column('wildcard', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('trust_class', sa.String(length=10), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('authorization_id')
    )
    op.create_index('acme_authorizations_reuse', 'acme_authorizations', ['registration_id', 'identifier', 'wildcard', 'status'], unique=False)
    op.create_table('acme_eab_keys',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('acme_nonces',
    sa.Column('nonce', sa.String(length=43), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('nonce')
    )
    op.create_index(ix('acme_nonces_expires_at'), 'acme_nonces', ['expires_at'], unique=False)
    op.create_table('acme_orders',
    sa.Column('order_id', sa.String(length=36), nullable=False),
    sa.Column('registration_id', sa.String(length=36), nullable=False),
    sa.Column('acme_account_id', sa.String(length=36), nullable=True),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('identifiers', sa.JSON(), nullable=False),
    sa.Column('ssl_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('order_id'),
    sa.UniqueConstraint('ssl_id')
    )
    op.create_index('acme_orders_account_created', 'acme_orders', ['acme_account_id', 'created_at'], unique=False)
    op.create_index('acme_orders_organization_created', 'acme_orders', ['organization_id', 'created_at'], unique=False)
    op.create_index('acme_orders_registration_created', 'acme_orders', ['registration_id', 'created_at'], unique=False)
    op.create_table('acme_registrations',
    sa.Column('registration_id', sa.String(length=36), nullable=False),
    sa.Column('acme_account_id', sa.String(length=36), nullable=True),
    sa.Column('thumbprint', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('registration_id'),
    sa.UniqueConstraint('thumbprint')
    )
    op.create_index(ix('acme_registrations_acme_account_id'), 'acme_registrations', ['acme_account_id'], unique=False)
    op.create_table('acme_renewal_campaigns',
    sa.Column('campaign_id', sa.String(length=36), nullable=False),
    sa.Column('ca_id', sa.String(length=36), nullable=True),
    sa.Column('profile_id', sa.String(length=36), nullable=True),
    sa.Column('organization_id', sa.String(length=36), nullable=True),
    sa.Column('key_type', sa.String(length=16), nullable=True),
    sa.Column('reason', sa.String(length=512), nullable=False),
    sa.Column('started_by', sa.String(length=80), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('campaign_id')
    )
    op.create_index('ssl_certificates_requested_by_created', 'ssl_certificates', ['requested_by', 'created_at', 'ssl_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ssl_certificates_requested_by_created', table_name='ssl_certificates')
    op.drop_table('acme_renewal_campaigns')
    op.drop_index(ix('acme_registrations_acme_account_id'), table_name='acme_registrations')
    op.drop_table('acme_registrations')
    op.drop_index('acme_orders_registration_created', table_name='acme_orders')
    op.drop_index('acme_orders_organization_created', table_name='acme_orders')
    op.drop_index('acme_orders_account_created', table_name='acme_orders')
    op.drop_table('acme_orders')
    op.drop_index(ix('acme_nonces_expires_at'), table_name='acme_nonces')
    op.drop_table('acme_nonces')
    op.drop_table('acme_eab_keys')
    op.drop_index('acme_authorizations_reuse', table_name='acme_authorizations')
    op.drop_table('acme_authorizations')
    op.drop_index(ix('acme_accounts_organization_id'), table_name='acme_accounts')
    op.drop_index(ix('acme_accounts_department_id'), table_name='acme_accounts')
    op.drop_table('acme_accounts')
