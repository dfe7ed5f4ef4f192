"""Issue 15: enrollment's copy of orgs' facts is read again from orgs' first event (it keeps the organizations'
key-escrow options now, which the rows made before lack)

Revision ID: 0005
Revises: 0004

A read model is rebuilt by emptying it and moving its tracking row back to 0 (DESIGN §3.2): at its next start
enrollment pulls orgs' events again. Written without a schema: on PostgreSQL the migration runs with search_path
set to the service's schema (services/runtime/migrations.py).
"""
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM facts_departments")
    op.execute("DELETE FROM facts_organizations")
    op.execute("UPDATE tracking SET position = 0 WHERE source = 'orgs'")


def downgrade() -> None:
    pass
