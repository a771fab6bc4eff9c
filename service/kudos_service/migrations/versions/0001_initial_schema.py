"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 03:48:18.017914
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("scopes", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prefix"),
    )
    op.create_table(
        "chain_txs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("SIGNED", "SENT", "MINED", "FAILED", name="txstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tx_hash"),
    )
    with op.batch_alter_table("chain_txs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chain_txs_status"), ["status"], unique=False)

    op.create_table(
        "deployment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract_address", sa.String(length=42), nullable=False),
        sa.Column("from_block", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "kinds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("audience", sa.String(length=20), nullable=False),
        sa.Column("color", sa.String(length=7), nullable=False),
        sa.Column("emoji", sa.String(length=16), nullable=False),
        sa.Column("default_transferable", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
    )
    op.create_table(
        "awards",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("request_id", sa.LargeBinary(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=42), nullable=False),
        sa.Column("kind_id", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("awarded_by", sa.String(length=200), nullable=False),
        sa.Column("recipient_name", sa.String(length=200), nullable=True),
        sa.Column("transferable", sa.Boolean(), nullable=False),
        sa.Column("metadata_json", sa.LargeBinary(), nullable=False),
        sa.Column("content_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum("QUEUED", "SUBMITTED", "CONFIRMED", "FAILED", name="awardstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("tx_id", sa.Integer(), nullable=True),
        sa.Column("token_id", sa.BigInteger(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
        ),
        sa.ForeignKeyConstraint(
            ["kind_id"],
            ["kinds.id"],
        ),
        sa.ForeignKeyConstraint(
            ["tx_id"],
            ["chain_txs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("api_key_id", "idempotency_key", name="uq_awards_idempotency"),
        sa.UniqueConstraint("request_id"),
        sa.UniqueConstraint("token_id"),
    )
    with op.batch_alter_table("awards", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_awards_recipient"), ["recipient"], unique=False)
        batch_op.create_index("ix_awards_status_created", ["status", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_awards_tx_id"), ["tx_id"], unique=False)

    op.create_table(
        "kudos_index_blocks",
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("contract", "number"),
    )
    op.create_table(
        "kudos_index_state",
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("last_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("contract"),
    )
    op.create_table(
        "kudos_index_tokens",
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("token_id", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.String(length=42), nullable=True),
        sa.Column("kind", sa.BigInteger(), nullable=True),
        sa.Column("issued_at", sa.BigInteger(), nullable=True),
        sa.Column("transferable", sa.Boolean(), nullable=True),
        sa.Column("content_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("request_id", sa.LargeBinary(length=32), nullable=False),
        sa.Column("awarded_block", sa.BigInteger(), nullable=False),
        sa.Column("awarded_tx", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("contract", "token_id"),
    )
    with op.batch_alter_table("kudos_index_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kudos_index_tokens_owner"), ["owner"], unique=False)
        batch_op.create_index(batch_op.f("ix_kudos_index_tokens_request_id"), ["request_id"], unique=False)

    op.create_table(
        "kudos_index_transfers",
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.BigInteger(), nullable=False),
        sa.Column("from_address", sa.String(length=42), nullable=False),
        sa.Column("to_address", sa.String(length=42), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("contract", "block_number", "log_index"),
    )
    with op.batch_alter_table("kudos_index_transfers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kudos_index_transfers_token_id"), ["token_id"], unique=False)

    kinds = sa.table(
        "kinds",
        sa.column("id", sa.Integer),
        sa.column("slug", sa.String),
        sa.column("name", sa.String),
        sa.column("description", sa.String),
        sa.column("audience", sa.String),
        sa.column("color", sa.String),
        sa.column("emoji", sa.String),
        sa.column("default_transferable", sa.Boolean),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    op.bulk_insert(kinds, [{**k, "created_at": now} for k in STARTER_KINDS])


STARTER_KINDS = [
    # Employees
    {
        "id": 1,
        "slug": "team-player",
        "name": "Team Player",
        "audience": "employee",
        "color": "#2563eb",
        "emoji": "🤝",
        "default_transferable": False,
        "description": "Made the people around them better: helped, unblocked, shared the credit.",
    },
    {
        "id": 2,
        "slug": "above-and-beyond",
        "name": "Above and Beyond",
        "audience": "employee",
        "color": "#7c3aed",
        "emoji": "🚀",
        "default_transferable": False,
        "description": "Went well past what the role asked, when it mattered.",
    },
    {
        "id": 3,
        "slug": "mentor",
        "name": "Mentor",
        "audience": "employee",
        "color": "#0d9488",
        "emoji": "🌱",
        "default_transferable": False,
        "description": "Grew someone else's skills with patience and care.",
    },
    # Candidates
    {
        "id": 4,
        "slug": "great-interview",
        "name": "Great Interview",
        "audience": "candidate",
        "color": "#d97706",
        "emoji": "🎯",
        "default_transferable": False,
        "description": "Thank you for a thoughtful, well-prepared interview with us.",
    },
    # Customers
    {
        "id": 5,
        "slug": "valued-partner",
        "name": "Valued Partner",
        "audience": "customer",
        "color": "#be123c",
        "emoji": "💎",
        "default_transferable": False,
        "description": "Thank you for building with us as a partner.",
    },
    {
        "id": 6,
        "slug": "loyal-customer",
        "name": "Loyal Customer",
        "audience": "customer",
        "color": "#15803d",
        "emoji": "🏅",
        "default_transferable": True,
        "description": "Thank you for years of loyalty; this one is yours to keep or give.",
    },
]


def downgrade() -> None:
    with op.batch_alter_table("kudos_index_transfers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kudos_index_transfers_token_id"))

    op.drop_table("kudos_index_transfers")
    with op.batch_alter_table("kudos_index_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kudos_index_tokens_request_id"))
        batch_op.drop_index(batch_op.f("ix_kudos_index_tokens_owner"))

    op.drop_table("kudos_index_tokens")
    op.drop_table("kudos_index_state")
    op.drop_table("kudos_index_blocks")
    with op.batch_alter_table("awards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_awards_tx_id"))
        batch_op.drop_index("ix_awards_status_created")
        batch_op.drop_index(batch_op.f("ix_awards_recipient"))

    op.drop_table("awards")
    op.drop_table("kinds")
    op.drop_table("deployment")
    with op.batch_alter_table("chain_txs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chain_txs_status"))

    op.drop_table("chain_txs")
    op.drop_table("api_keys")
