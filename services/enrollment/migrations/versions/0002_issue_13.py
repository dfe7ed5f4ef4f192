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
    op.create_table('facts_departments',
    sa.Column('department_id', sa.String(length=36), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('department_id')
    )
    op.create_index(ix('facts_departments_organization_id'), 'facts_departments', ['organization_id'], unique=False)
    op.create_table('facts_domain_grants',
    sa.Column('delegation_id', sa.String(length=36), nullable=False),
    sa.Column('cert_type', sa.String(length=20), nullable=False),
    sa.Column('domain_id', sa.String(length=36), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('department_id', sa.String(length=36), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('delegation_id', 'cert_type')
    )
    op.create_index(ix('facts_domain_grants_domain_id'), 'facts_domain_grants', ['domain_id'], unique=False)
    op.create_table('facts_domains',
    sa.Column('domain_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('evidence_method', sa.String(length=10), nullable=True),
    sa.Column('evidence_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('domain_id')
    )
    op.create_index(ix('facts_domains_name'), 'facts_domains', ['name'], unique=False)
    op.create_table('facts_network_grants',
    sa.Column('delegation_id', sa.String(length=36), nullable=False),
    sa.Column('cert_type', sa.String(length=20), nullable=False),
    sa.Column('network_id', sa.String(length=36), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('department_id', sa.String(length=36), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('delegation_id', 'cert_type')
    )
    op.create_index(ix('facts_network_grants_network_id'), 'facts_network_grants', ['network_id'], unique=False)
    op.create_table('facts_networks',
    sa.Column('network_id', sa.String(length=36), nullable=False),
    sa.Column('cidr', sa.String(length=50), nullable=False),
    sa.Column('ip_version', sa.Integer(), nullable=False),
    sa.Column('first_address', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('last_address', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('network_id')
    )
    op.create_index('facts_networks_range', 'facts_networks', ['ip_version', 'first_address', 'last_address'], unique=False)
    op.create_table('facts_organizations',
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('state', sa.String(length=128), nullable=False),
    sa.Column('city', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('organization_id')
    )
    op.create_table('tracking',
    sa.Column('source', sa.String(length=50), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('source')
    )
    op.add_column('ssl_certificates', sa.Column('last_findings', sa.JSON(), nullable=True))
    op.add_column('ssl_certificates', sa.Column('last_error_code', sa.String(length=40), nullable=True))


def downgrade() -> None:
    op.drop_column('ssl_certificates', 'last_error_code')
    op.drop_column('ssl_certificates', 'last_findings')
    op.drop_table('tracking')
    op.drop_table('facts_organizations')
    op.drop_index('facts_networks_range', table_name='facts_networks')
    op.drop_table('facts_networks')
    op.drop_index(ix('facts_network_grants_network_id'), table_name='facts_network_grants')
    op.drop_table('facts_network_grants')
    op.drop_index(ix('facts_domains_name'), table_name='facts_domains')
    op.drop_table('facts_domains')
    op.drop_index(ix('facts_domain_grants_domain_id'), table_name='facts_domain_grants')
    op.drop_table('facts_domain_grants')
    op.drop_index(ix('facts_departments_organization_id'), table_name='facts_departments')
    op.drop_table('facts_departments')
