"""API keys expire, are revoked at a time and record their last use; a directory entry can be listed publicly

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 09:00:00.000000

Every column is added in place (``ALTER TABLE ... ADD COLUMN``, on SQLite as on PostgreSQL): a batch operation
would copy and drop ``api_keys``, which awards and operations point to. Keys revoked before this revision keep
``revoked_at`` empty (when is not known), and every person already in the directory starts unlisted: a handle
that used to open a wallet on the public lookup page no longer does until the person's entry allows it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_KEY_COLUMNS = ("revoked_at", "expires_at", "last_used_at")


def upgrade() -> None:
    for column in _KEY_COLUMNS:
        op.add_column("api_keys", sa.Column(column, sa.DateTime(timezone=True), nullable=True))
    op.add_column("recipients", sa.Column("listed", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35 and later), for the reason above.
    op.drop_column("recipients", "listed")
    for column in reversed(_KEY_COLUMNS):
        op.drop_column("api_keys", column)
