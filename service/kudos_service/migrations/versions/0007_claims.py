"""Kudos held for people without a wallet: the claims table, the directory's emails, held awards

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 21:40:00.000000

Every column is added in place (``ALTER TABLE ... ADD COLUMN``), as in 0005: a batch operation would copy and drop
``recipients``, ``awards`` or ``operations``, which other tables point to. SQLite adds a column with a foreign key
in place only when the key is written in the column's definition, so ``awards.held_for_id`` is added with SQL of
its own there. ``operations.claim_id`` is not a foreign key: an operation's record outlives the claim it served
(a person removed from the directory takes their claims along).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: One live recovery of a kudos at a time (the enums are stored by name).
_LIVE_RECOVER = "kind = 'RECOVER' AND status IN ('PENDING', 'IN_FLIGHT', 'MINED')"


def upgrade() -> None:
    op.create_table(
        "claims",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("recipient_id", sa.Integer(), sa.ForeignKey("recipients.id", ondelete="CASCADE"), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("nonce", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wallet_address", sa.String(42), nullable=True),
        sa.Column("api_key_id", sa.Integer(), sa.ForeignKey("api_keys.id"), nullable=True),
        sa.Column("email_wanted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sqlite_autoincrement=True,  # a claim id is never given again: operations.claim_id may outlive its claim
    )
    op.create_index("ix_claims_recipient_id", "claims", ["recipient_id"])
    op.add_column("recipients", sa.Column("email", sa.String(320), nullable=True))
    op.create_index("uq_recipients_email", "recipients", ["email"], unique=True)
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE awards ADD COLUMN held_for_id INTEGER REFERENCES recipients (id)")
    else:
        op.add_column("awards", sa.Column("held_for_id", sa.Integer(), nullable=True))
        op.create_foreign_key("fk_awards_held_for_id", "awards", "recipients", ["held_for_id"], ["id"])
    op.create_index("ix_awards_held_for_id", "awards", ["held_for_id"])
    op.add_column("awards", sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("awards", sa.Column("announced_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("operations", sa.Column("claim_id", sa.Integer(), nullable=True))
    op.create_index("ix_operations_claim_id", "operations", ["claim_id"])
    live = sa.text(_LIVE_RECOVER)
    op.create_index(
        "uq_operations_live_recover", "operations", ["token_id"], unique=True, sqlite_where=live, postgresql_where=live
    )


def downgrade() -> None:
    op.drop_index("uq_operations_live_recover", "operations")
    op.drop_index("ix_operations_claim_id", "operations")
    op.drop_column("operations", "claim_id")
    op.drop_column("awards", "announced_at")
    op.drop_column("awards", "claimed_at")
    op.drop_index("ix_awards_held_for_id", "awards")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite drops no column of a foreign key in place; nothing points to awards, so it is copied.
        with op.batch_alter_table("awards") as batch:
            batch.drop_column("held_for_id")
    else:
        op.drop_constraint("fk_awards_held_for_id", "awards", type_="foreignkey")
        op.drop_column("awards", "held_for_id")
    op.drop_index("uq_recipients_email", "recipients")
    op.drop_column("recipients", "email")
    op.drop_table("claims")
