"""Migrations: a database written by the service before the outbox (revision 0003) is carried over whole, and the
new worker finishes what the old one left in flight, exactly once; the API keys and the directory of revision 0004
are carried over to 0005 (key expiry, revocation time, last use; the directory's ``listed``), and back."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from eth_account import Account
from kudos_service.core.db import Database, alembic_config
from kudos_service.models import (
    ApiKey,
    Award,
    ChainTx,
    Deployment,
    KeyStatus,
    Operation,
    OpKind,
    OpStatus,
    Recipient,
    TxStatus,
)
from sqlalchemy import inspect, select, text

from kudos_chain.client import request_id_bytes

CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
SIGNER = Account.create()


def _signed(nonce: int) -> tuple[str, bytes]:
    tx = {
        "type": 2,
        "chainId": 31337,
        "nonce": nonce,
        "to": CONTRACT,
        "data": bytes([nonce]) * 36,
        "value": 0,
        "gas": 500_000,
        "maxFeePerGas": 3_000_000_000 + nonce,
        "maxPriorityFeePerGas": 1_000_000_000,
    }
    signed = SIGNER.sign_transaction(tx)
    return signed.hash.to_0x_hex(), bytes(signed.raw_transaction)


def _old_database(path: Path) -> Database:
    """A database at revision 0003 holding a mined, a failed and a sent transaction, with one award each."""
    db = Database(f"sqlite:///{path}")
    cfg = alembic_config(db.url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
    now = datetime.now(UTC)
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO api_keys (id, prefix, secret_hash, scopes, created_at, revoked)"
                " VALUES (1, 'p', :h, 'award', :t, 0)"
            ),
            {"h": bytes(32), "t": now},
        )
        kind_id = conn.execute(text("SELECT min(id) FROM kinds")).scalar_one()  # the kinds migration 0001 seeds
        conn.execute(
            text(
                "INSERT INTO deployment (id, chain_id, contract_address, from_block, created_at)"
                " VALUES (1, 31337, :c, 1, :t)"
            ),
            {"c": CONTRACT, "t": now},
        )
        for nonce, status, award_status in (
            (0, "MINED", "CONFIRMED"),
            (1, "FAILED", "QUEUED"),
            (2, "SENT", "SUBMITTED"),
        ):
            tx_hash, raw = _signed(nonce)
            conn.execute(
                text(
                    "INSERT INTO chain_txs (id, nonce, tx_hash, raw, status, block_number, created_at)"
                    " VALUES (:id, :n, :h, :r, :s, :b, :t)"
                ),
                {
                    "id": nonce + 1,
                    "n": nonce,
                    "h": tx_hash,
                    "r": raw,
                    "s": status,
                    "b": 5 if status == "MINED" else None,
                    "t": now,
                },
            )
            award_id = f"award-{nonce}"
            conn.execute(
                text(
                    "INSERT INTO awards (id, api_key_id, idempotency_key, request_hash, request_id, recipient, kind_id,"
                    " message, awarded_by, transferable, metadata_json, content_hash, status, tx_id, token_id,"
                    " created_at) VALUES (:id, 1, :id, :h, :rid, :to, :kind, 'm', 'a', 0, '{}', :h, :s, :tx, :tok, :t)"
                ),
                {
                    "id": award_id,
                    "h": bytes(32),
                    "kind": kind_id,
                    "rid": request_id_bytes(award_id),
                    "to": "0x" + os.urandom(20).hex(),
                    "s": award_status,
                    "tx": None if award_status == "QUEUED" else nonce + 1,
                    "tok": 1 if award_status == "CONFIRMED" else None,
                    "t": now,
                },
            )
    return db


def test_the_outbox_migration_turns_each_stored_transaction_into_an_operation(tmp_path: Path):
    db = _old_database(tmp_path / "kudos.db")
    db.migrate()
    with db.session() as session:
        ops = {op.nonce: op for op in session.scalars(select(Operation))}
        assert {n: op.status for n, op in ops.items()} == {
            0: OpStatus.DONE,
            1: OpStatus.FAILED,
            2: OpStatus.IN_FLIGHT,
        }
        for nonce, op in ops.items():
            assert nonce is not None
            assert op.kind == OpKind.AWARD_BATCH
            assert op.signer == SIGNER.address  # read back from the signed bytes
            assert op.to_address == CONTRACT
            assert op.data == bytes([nonce]) * 36
            (version,) = op.versions
            assert version.nonce == nonce
            assert version.max_fee_per_gas == 3_000_000_000 + nonce  # a replacement can bump from it
            assert version.max_priority_fee_per_gas == 1_000_000_000
        assert ops[0].tx_hash == ops[0].versions[0].tx_hash  # the mined version is the one recorded
        assert ops[2].tx_hash is None
        awards = {a.id: a for a in session.scalars(select(Award))}
        assert awards["award-0"].operation_id == ops[0].id
        assert awards["award-2"].operation_id == ops[2].id
        assert awards["award-1"].operation_id is None  # queued again by the old worker
        assert session.scalars(select(Deployment)).one().genesis_hash is None  # learnt at the next start
        assert {v.status for v in session.scalars(select(ChainTx))} == {TxStatus.MINED, TxStatus.FAILED, TxStatus.SENT}
    db.migrate()  # a second start changes nothing
    with db.session() as session:
        assert len(session.scalars(select(Operation)).all()) == 3


def test_the_key_lifecycle_migration_keeps_keys_and_leaves_everyone_unlisted(tmp_path: Path):
    """0005 adds ``revoked_at``, ``expires_at`` and ``last_used_at`` to API keys and ``listed`` to the directory, in
    place: a key revoked before keeps working as revoked (without a time), and every person starts unlisted."""
    db = Database(f"sqlite:///{tmp_path / 'kudos.db'}")
    cfg = alembic_config(db.url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
    now = datetime.now(UTC)
    with db.engine.begin() as conn:
        for key_id, prefix, revoked in ((1, "0123456789ab", 1), (2, "ba9876543210", 0)):
            conn.execute(
                text(
                    "INSERT INTO api_keys (id, prefix, secret_hash, scopes, created_at, revoked)"
                    " VALUES (:id, :p, :h, 'award', :t, :r)"
                ),
                {"id": key_id, "p": prefix, "h": bytes(32), "t": now, "r": revoked},
            )
        conn.execute(
            text(
                "INSERT INTO recipients (handle, external_id, display_name, wallet_address, show_name, created_at,"
                " updated_at) VALUES ('ada', 'hris-1', 'Ada', :w, 1, :t, :t)"
            ),
            {"w": CONTRACT, "t": now},
        )
    db.migrate()
    with db.session() as session:
        keys = {k.prefix: k for k in session.scalars(select(ApiKey))}
        assert keys["0123456789ab"].status() is KeyStatus.REVOKED
        assert keys["ba9876543210"].status() is KeyStatus.ACTIVE
        assert all(k.revoked_at is k.expires_at is k.last_used_at is None for k in keys.values())
        ada = session.scalars(select(Recipient)).one()
        assert (ada.listed, ada.show_name) == (False, True)

    with db.engine.begin() as conn:  # and back, and forth again
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
        columns = inspect(conn)
        assert "listed" not in {c["name"] for c in columns.get_columns("recipients")}
        assert "expires_at" not in {c["name"] for c in columns.get_columns("api_keys")}
    db.migrate()
    with db.session() as session:
        assert len(session.scalars(select(ApiKey)).all()) == 2
        assert session.scalars(select(Recipient)).one().listed is False
    db.dispose()
