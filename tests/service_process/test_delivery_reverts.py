"""Award batches the chain refuses, with a real ``kudos serve`` delivering to anvil (the rig of
:mod:`tests.service_process.test_delivery_faults`), each test ending with the chain read over JSON-RPC
(:func:`tests.utils.chain_truth.assert_exactly_once`):

- a batch that **reverts on chain**: mined in the same block as, and after, a transaction of another admin that
  took the service's minter role away. Its awards go back to the queue (never ``failed``), wait while the role is
  missing, and are delivered once when it is granted again; the reverted operation reads ``failed``.
- a batch holding **one award that would revert**, to the zero address, stored as a version of the service
  before the API refused that address could have stored it (a row written into the database): that award alone
  is ``failed``, with the contract's reason, and every other award of the batch is delivered once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils.crypto import keccak
from kudos_service.models import Award, AwardStatus, ChainTx, Kind, OpStatus, TxStatus
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from kudos_chain import KudosMetadata, canonical_json, content_hash
from kudos_chain.client import request_id_bytes
from kudos_chain.testing import AnvilNode
from tests.service_process import test_delivery_faults as faults
from tests.service_process.test_delivery_faults import GWEI, MakeRig, Rig, nonce_of, sign
from tests.utils.chain_truth import assert_exactly_once, awarded_on_chain, request_id

pytestmark = faults.pytestmark

#: The rig fixture of the fault tests: a node, a contract, a server delivering with the node's first key.
rig = faults.rig

DEFAULT_ADMIN_ROLE = bytes(32)
MINTER_ROLE = keccak(text="MINTER_ROLE")
ZERO_ADDRESS = "0x" + "00" * 20


def role_call(function: str, role: bytes, account: str) -> bytes:
    """The calldata of ``grantRole`` or ``revokeRole``."""
    return keccak(text=f"{function}(bytes32,address)")[:4] + abi_encode(["bytes32", "address"], [role, account])


def send(node: AnvilNode, key: str, data: bytes, to: str, *, tip: int = 2 * GWEI) -> str:
    """Sign a call with ``key`` at its next nonce (pool included) and broadcast it; its hash."""
    sender = Account.from_key(key).address
    raw = sign(node, key, to=to, nonce=nonce_of(node, sender, "pending"), data=data, max_fee=200 * GWEI, tip=tip)
    tx_hash: str = node.rpc("eth_sendRawTransaction", [raw])
    return tx_hash


def receipt_of(node: AnvilNode, tx_hash: str, *, timeout: float = 10) -> dict[str, Any]:
    """The receipt of ``tx_hash`` once it is mined."""
    deadline = time.monotonic() + timeout
    while (receipt := node.rpc("eth_getTransactionReceipt", [tx_hash])) is None:
        assert time.monotonic() < deadline, f"transaction {tx_hash} was not mined within {timeout:g} s"
        time.sleep(0.05)
    found: dict[str, Any] = receipt
    return found


@contextlib.contextmanager
def database(r: Rig) -> Iterator[Session]:
    """A session on the server's SQLite database."""
    engine = create_engine(f"sqlite:///{r.server.data_dir / 'kudos.db'}")
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


# ----------------------------------------------------------------------------------------------------------------
# A batch that reverts on chain
# ----------------------------------------------------------------------------------------------------------------


def test_a_batch_that_reverts_on_chain_is_queued_again_and_delivered_once(rig: MakeRig):
    """Mining paused, a batch of 10 awards broadcast; another admin's ``revokeRole(MINTER_ROLE, signer)`` with a
    higher tip is mined first in the same block, so the batch reverts for the missing role. Its awards read
    ``queued`` (not ``failed``) while the role is missing; granted again, they are confirmed once, with the API's
    token ids the chain's, by another transaction; the reverted one's operation and version read ``failed``."""
    r = rig()
    other_key = r.node.private_keys[1]
    other_admin = Account.from_key(other_key).address
    granted = send(r.node, r.node.private_keys[0], role_call("grantRole", DEFAULT_ADMIN_ROLE, other_admin), r.contract)
    assert receipt_of(r.node, granted)["status"] == "0x1"

    r.node.set_automine(False)
    ids = r.post_batch(range(10), "revert")
    submitted = r.wait_status(ids, {"submitted"}, timeout=10)
    batch_txs = {v["tx_hash"] for v in submitted}
    r.wait_for("the batch is in the pool", lambda: r.node.pending_transactions() >= len(batch_txs), timeout=5)
    revoked = send(r.node, other_key, role_call("revokeRole", MINTER_ROLE, r.signer), r.contract, tip=50 * GWEI)
    r.wait_for("the revocation is in the pool", lambda: r.node.pending_transactions() > len(batch_txs), timeout=5)
    r.node.mine(1)
    revocation = receipt_of(r.node, revoked)
    reverted = [receipt_of(r.node, h) for h in batch_txs]
    r.node.set_automine(True)

    queued_again = r.wait_status(ids, {"queued"}, timeout=15)  # never failed on the way (wait_status checks)
    regranted = send(r.node, other_key, role_call("grantRole", MINTER_ROLE, r.signer), r.contract)
    assert receipt_of(r.node, regranted)["status"] == "0x1"
    views = r.settle(ids, timeout=20)
    with database(r) as session:
        versions = list(session.scalars(select(ChainTx).where(ChainTx.tx_hash.in_(batch_txs))))
        operations = [(v.status, v.operation.status, v.operation.error) for v in versions if v.operation]

    assert revocation["status"] == "0x1"
    assert {x["status"] for x in reverted} == {"0x0"}, "the batch did not revert"
    assert {x["blockNumber"] for x in reverted} == {revocation["blockNumber"]}
    assert all(int(x["transactionIndex"], 16) > int(revocation["transactionIndex"], 16) for x in reverted)
    assert {v["token_id"] for v in queued_again} == {None}
    assert_exactly_once(r.node.url, r.contract, views)
    assert not batch_txs & {v["tx_hash"] for v in views}, "confirmed by the transaction that reverted"
    assert len(operations) == len(batch_txs)
    for version_status, op_status, error in operations:
        assert (version_status, op_status) == (TxStatus.FAILED, OpStatus.FAILED)
        assert "reverted" in (error or ""), error
    r.close()


# ----------------------------------------------------------------------------------------------------------------
# A batch holding one award that would revert
# ----------------------------------------------------------------------------------------------------------------


def store_award_to_the_zero_address(data_dir: Path, like: str, created_at: datetime) -> str:
    """Write an award to the zero address into the server's database (stopped), with every column the API
    writes, as the award ``like`` (its API key and kind) but accepted at ``created_at``; its id."""
    award_id = "00000000-0000-4000-8000-000000000000"
    engine = create_engine(f"sqlite:///{data_dir / 'kudos.db'}")
    with Session(engine) as session, session.begin():
        model = session.get_one(Award, like)
        kind = session.get_one(Kind, model.kind_id)
        metadata = KudosMetadata(
            kind=kind.name,
            message="thanks, stored before the API refused the zero address",
            awarded_by="an older version",
            awarded_at=created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            image=f"http://127.0.0.1/v1/awards/{award_id}/image.svg",
            recipient_name=None,
            external_url=f"http://127.0.0.1/wallet/{ZERO_ADDRESS}",
        )
        session.add(
            Award(
                id=award_id,
                api_key_id=model.api_key_id,
                idempotency_key="zero-address",
                request_hash=keccak(text="zero-address"),
                request_id=request_id_bytes(award_id),
                recipient=ZERO_ADDRESS,
                kind_id=kind.id,
                message=metadata.message,
                awarded_by=metadata.awarded_by,
                recipient_name=None,
                transferable=kind.default_transferable,
                metadata_json=canonical_json(metadata),
                content_hash=content_hash(metadata),
                status=AwardStatus.QUEUED,
                created_at=created_at,
            )
        )
    engine.dispose()
    return award_id


def test_a_batch_with_an_award_that_would_revert_fails_that_award_alone(rig: MakeRig):
    """The server started without its worker accepts 10 awards; an award to the zero address is stored among
    them (accepted between the 5th and the 6th); started again with its worker, the server takes the 11 in one
    batch, whose estimate reverts: estimated one by one, the zero-address award alone fails, with the contract's
    reason, and the 10 others are delivered once."""
    r = rig(env={"KUDOS_RUN_WORKER": "false"})
    good = r.post_batch(range(5), "isolate-a") + r.post_batch(range(5, 10), "isolate-b")
    views = r.awards(good)
    assert {v["status"] for v in views} == {"queued"}
    r.server.stop()
    fifth, sixth = (datetime.fromisoformat(views[i]["created_at"]) for i in (4, 5))
    between = fifth + (sixth - fifth) / 2 if sixth > fifth else fifth + timedelta(microseconds=1)
    zero = store_award_to_the_zero_address(r.server.data_dir, good[0], between)
    r.server.env = {k: v for k, v in r.server.env.items() if k != "KUDOS_RUN_WORKER"}
    r.server.start()

    def decided() -> bool:  # the zero-address award final, or a good one failed (settle names it at once)
        views = r.awards([zero, *good])
        return views[0]["status"] in ("failed", "confirmed") or any(v["status"] == "failed" for v in views)

    r.wait_for("the zero-address award is final", decided, timeout=20)
    confirmed = r.settle(good, timeout=20)
    failed = r.award(zero)

    assert failed["status"] == "failed", failed
    assert failed["recipient"] == ZERO_ADDRESS
    assert failed["token_id"] is None
    assert failed["failure_reason"] == f"{ZERO_ADDRESS} cannot receive a kudos", failed
    assert_exactly_once(r.node.url, r.contract, confirmed)  # the zero-address award is not among them...
    assert request_id(zero) not in awarded_on_chain(r.node.url, r.contract)  # ...and not on chain
    r.close()
