"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Created: ${create_date}

Written without a schema: on PostgreSQL the migration runs with search_path set to the service's schema
(services/runtime/migrations.py).
"""
import sqlalchemy as sa
from alembic import op

from services.runtime.migrations import index_name as ix  # noqa: F401 (for the names of index=True indexes)
${imports if imports else ""}
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
