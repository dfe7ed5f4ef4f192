"""Issue 15: client, code-signing and device certificates; invitations; sealed and escrowed keys; form accounts and device endpoints

Revision ID: 0004
Revises: 0003

Written without a schema: on PostgreSQL the migration runs with search_path set to the service's schema
(services/runtime/migrations.py).
"""
import sqlalchemy as sa
from alembic import op

from services.runtime.migrations import index_name as ix  # noqa: F401 (for the names of index=True indexes)

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cert_collection_ids',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('cert_escrowed_keys',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('cert_invitation_tokens',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('cert_sealed_keys',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('certificates',
    sa.Column('cert_id', sa.String(length=36), nullable=False),
    sa.Column('cert_type', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('department_id', sa.String(length=36), nullable=True),
    sa.Column('profile_id', sa.String(length=36), nullable=False),
    sa.Column('term_days', sa.Integer(), nullable=False),
    sa.Column('requested_via', sa.String(length=12), nullable=False),
    sa.Column('subject', sa.String(length=1024), nullable=True),
    sa.Column('common_name', sa.String(length=64), nullable=True),
    sa.Column('sans', sa.JSON(), nullable=False),
    sa.Column('emails', sa.JSON(), nullable=False),
    sa.Column('names', sa.String(length=4096), nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=True),
    sa.Column('name', sa.String(length=256), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('key_type', sa.String(length=16), nullable=True),
    sa.Column('key_origin', sa.String(length=8), nullable=True),
    sa.Column('custom_fields', sa.JSON(), nullable=False),
    sa.Column('comments', sa.String(length=1024), nullable=True),
    sa.Column('requested_by', sa.String(length=80), nullable=False),
    sa.Column('approved_by', sa.String(length=80), nullable=True),
    sa.Column('declined_reason', sa.String(length=1024), nullable=True),
    sa.Column('last_error', sa.String(length=2048), nullable=True),
    sa.Column('last_error_code', sa.String(length=64), nullable=True),
    sa.Column('last_findings', sa.JSON(), nullable=True),
    sa.Column('serial', sa.String(length=64), nullable=True),
    sa.Column('ca_id', sa.String(length=36), nullable=True),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=True),
    sa.Column('not_after', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sha256_fingerprint', sa.String(length=64), nullable=True),
    sa.Column('certificate_pem', sa.Text(), nullable=True),
    sa.Column('chain_pem', sa.JSON(), nullable=True),
    sa.Column('revocation_reason', sa.String(length=32), nullable=True),
    sa.Column('escrowed', sa.Boolean(), nullable=False),
    sa.Column('recovery', sa.JSON(), nullable=True),
    sa.Column('invitation_sha256', sa.String(length=64), nullable=True),
    sa.Column('invitation_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('collection_sha256', sa.String(length=64), nullable=True),
    sa.Column('collection_to', sa.String(length=320), nullable=True),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('downloaded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('cert_id'),
    sa.UniqueConstraint('collection_sha256'),
    sa.UniqueConstraint('invitation_sha256'),
    sa.UniqueConstraint('serial')
    )
    op.create_index('certificates_person', 'certificates', ['person_id'], unique=False)
    op.create_index('certificates_type_created', 'certificates', ['cert_type', 'created_at', 'cert_id'], unique=False)
    op.create_index('certificates_type_organization', 'certificates', ['cert_type', 'organization_id'], unique=False)
    op.create_table('device_endpoints',
    sa.Column('endpoint_id', sa.String(length=36), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('department_id', sa.String(length=36), nullable=True),
    sa.Column('profile_ids', sa.JSON(), nullable=False),
    sa.Column('uri_extension', sa.String(length=64), nullable=False),
    sa.Column('help_link_text', sa.String(length=128), nullable=True),
    sa.Column('help_text', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_by', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('endpoint_id'),
    sa.UniqueConstraint('uri_extension')
    )
    op.create_index(ix('device_endpoints_department_id'), 'device_endpoints', ['department_id'], unique=False)
    op.create_index(ix('device_endpoints_organization_id'), 'device_endpoints', ['organization_id'], unique=False)
    op.create_table('escrow_keys',
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('public_key_pem', sa.Text(), nullable=False),
    sa.Column('public_key_sha256', sa.String(length=64), nullable=False),
    sa.Column('key_origin', sa.String(length=16), nullable=False),
    sa.Column('initialized_by', sa.String(length=80), nullable=False),
    sa.Column('initialized_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('organization_id')
    )
    op.create_table('form_access_codes',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('form_accounts',
    sa.Column('form_account_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('cert_type', sa.String(length=20), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('department_id', sa.String(length=36), nullable=True),
    sa.Column('profile_ids', sa.JSON(), nullable=False),
    sa.Column('csr_generation', sa.JSON(), nullable=False),
    sa.Column('auto_approve', sa.Boolean(), nullable=False),
    sa.Column('auto_renew', sa.Boolean(), nullable=False),
    sa.Column('allow_empty_pkcs12_password', sa.Boolean(), nullable=False),
    sa.Column('access_code_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('form_account_id')
    )
    op.create_index('form_accounts_type_created', 'form_accounts', ['cert_type', 'created_at'], unique=False)
    op.create_index(ix('form_accounts_department_id'), 'form_accounts', ['department_id'], unique=False)
    op.create_index(ix('form_accounts_organization_id'), 'form_accounts', ['organization_id'], unique=False)
    op.add_column('facts_organizations', sa.Column('key_escrow', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('facts_organizations', 'key_escrow')
    op.drop_index(ix('form_accounts_organization_id'), table_name='form_accounts')
    op.drop_index(ix('form_accounts_department_id'), table_name='form_accounts')
    op.drop_index('form_accounts_type_created', table_name='form_accounts')
    op.drop_table('form_accounts')
    op.drop_table('form_access_codes')
    op.drop_table('escrow_keys')
    op.drop_index(ix('device_endpoints_organization_id'), table_name='device_endpoints')
    op.drop_index(ix('device_endpoints_department_id'), table_name='device_endpoints')
    op.drop_table('device_endpoints')
    op.drop_index('certificates_type_organization', table_name='certificates')
    op.drop_index('certificates_type_created', table_name='certificates')
    op.drop_index('certificates_person', table_name='certificates')
    op.drop_table('certificates')
    op.drop_table('cert_sealed_keys')
    op.drop_table('cert_invitation_tokens')
    op.drop_table('cert_escrowed_keys')
    op.drop_table('cert_collection_ids')
