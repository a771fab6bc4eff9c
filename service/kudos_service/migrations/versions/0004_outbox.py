"""outbox: every chain write is an operation; its signed versions are chain_txs; the chain's identity is kept

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 07:00:00.000000

Each stored transaction of the old worker becomes an award-batch operation with that transaction as its one
version: a mined one is ``done``, a failed one ``failed``, one without a receipt ``in_flight`` (the new worker
finishes it as the old one would have). Its signer, destination and calldata are read back from the signed bytes.
"""

from __future__ import annotations

import rlp  # type: ignore[import-untyped]
import sqlalchemy as sa
from alembic import op
from eth_account import Account
from eth_utils.address import to_checksum_address

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: The old transaction statuses and the operation statuses they become, as SQLAlchemy stores enums: by name.
_STATUS = {"MINED": "DONE", "FAILED": "FAILED", "SIGNED": "IN_FLIGHT", "SENT": "IN_FLIGHT"}


def upgrade() -> None:
    op.create_table(
        "operations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("signer", sa.String(42), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=True),
        sa.Column("to_address", sa.String(42), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("gas_limit", sa.BigInteger(), nullable=True),
        sa.Column("token_id", sa.BigInteger(), nullable=True),
        sa.Column("argument", sa.String(100), nullable=True),
        sa.Column("api_key_id", sa.Integer(), sa.ForeignKey("api_keys.id"), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_hash", sa.LargeBinary(32), nullable=True),
        sa.Column("tx_hash", sa.String(66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", sa.LargeBinary(32), nullable=True),
        sa.Column("gas_used", sa.BigInteger(), nullable=True),
        sa.Column("sent_block", sa.BigInteger(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("nonce_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replacements", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("api_key_id", "idempotency_key", name="uq_operations_idempotency"),
    )
    op.create_index("ix_operations_status_nonce", "operations", ["status", "nonce"])
    op.create_index("ix_operations_token_id", "operations", ["token_id"])
    # Plain ADD COLUMN (a nullable column with a reference), which SQLite does in place: a batch operation would
    # copy and drop tables that other tables' foreign keys point to.
    _add_reference("chain_txs", "operation_id", "operations")
    op.add_column("chain_txs", sa.Column("max_fee_per_gas", sa.BigInteger(), nullable=True))
    op.add_column("chain_txs", sa.Column("max_priority_fee_per_gas", sa.BigInteger(), nullable=True))
    op.create_index("ix_chain_txs_operation_id", "chain_txs", ["operation_id"])
    _add_reference("awards", "operation_id", "operations")
    op.add_column("awards", sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_awards_operation_id", "awards", ["operation_id"])
    op.add_column("deployment", sa.Column("genesis_hash", sa.LargeBinary(32), nullable=True))
    op.add_column("deployment", sa.Column("code_hash", sa.LargeBinary(32), nullable=True))

    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, nonce, tx_hash, raw, status, block_number, created_at FROM chain_txs"))
    for tx_id, nonce, tx_hash, raw, status, block_number, created_at in rows.fetchall():
        signer, to, data, max_fee, tip = _decode(bytes(raw))
        conn.execute(
            sa.text(
                "INSERT INTO operations (id, kind, status, signer, nonce, to_address, data, tx_hash, block_number,"
                " replacements, created_at, updated_at, done_at)"
                " VALUES (:id, 'AWARD_BATCH', :status, :signer, :nonce, :to, :data, :tx_hash, :block, 0,"
                " :created, :created, :done)"
            ),
            {
                "id": tx_id,
                "status": _STATUS.get(status, "IN_FLIGHT"),
                "signer": signer,
                "nonce": nonce,
                "to": to,
                "data": data,
                "tx_hash": tx_hash if status == "MINED" else None,
                "block": block_number,
                "created": created_at,
                "done": created_at if status == "MINED" else None,
            },
        )
        conn.execute(
            sa.text(
                "UPDATE chain_txs SET operation_id = :id, max_fee_per_gas = :fee, max_priority_fee_per_gas = :tip"
                " WHERE id = :id"
            ),
            {"id": tx_id, "fee": max_fee, "tip": tip},
        )
    conn.execute(sa.text("UPDATE awards SET operation_id = tx_id WHERE tx_id IS NOT NULL"))


def _add_reference(table: str, column: str, target: str) -> None:
    """A nullable integer column referencing ``target.id``."""
    if op.get_bind().dialect.name == "sqlite":  # Alembic adds no constraint there; SQLite's own ALTER does
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER REFERENCES {target} (id)")
        return
    op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
    op.create_foreign_key(f"fk_{table}_{column}", table, target, [column], ["id"])


def _decode(raw: bytes) -> tuple[str, str, bytes, int | None, int | None]:
    """``(sender, to, calldata, max fee, tip)`` of a signed EIP-1559 transaction (the only type the service signs)."""
    sender = Account.recover_transaction(raw)
    if raw[:1] != b"\x02":
        return sender, "", b"", None, None
    fields = rlp.decode(raw[1:])
    _chain, _nonce, tip, max_fee, _gas, to, _value, data = fields[:8]
    return sender, to_checksum_address(to), bytes(data), int.from_bytes(max_fee, "big"), int.from_bytes(tip, "big")


def downgrade() -> None:
    op.drop_index("ix_awards_operation_id", "awards")
    op.drop_index("ix_chain_txs_operation_id", "chain_txs")
    for table, column in (
        ("deployment", "code_hash"),
        ("deployment", "genesis_hash"),
        ("awards", "revoked_at"),
        ("awards", "operation_id"),
        ("chain_txs", "max_priority_fee_per_gas"),
        ("chain_txs", "max_fee_per_gas"),
        ("chain_txs", "operation_id"),
    ):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
    op.drop_index("ix_operations_token_id", "operations")
    op.drop_index("ix_operations_status_nonce", "operations")
    op.drop_table("operations")
