"""Following sent transactions to the end (:mod:`kudos_service.delivery.reconcile`), the worker's steps run one
by one against an anvil node of this module's own, which the tests make misbehave as networks do: blocks that
come only when mined, transactions the pool forgets, a fee spike, a reorg, a nonce used by another transaction of
the key, a batch that reverts on chain. Each test ends with the awards on chain exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from kudos_service.claims.custody import custody_address
from kudos_service.claims.service import move_held
from kudos_service.delivery.fees import eth, fees_for_new
from kudos_service.delivery.outbox import request_call
from kudos_service.models import (
    Award,
    AwardStatus,
    ChainTx,
    Operation,
    OpKind,
    OpStatus,
    Recipient,
    TxStatus,
    as_utc,
    utcnow,
)
from sqlalchemy import select

from kudos_chain import Award as ChainAward
from kudos_chain import Fees, SendOutcome, Signer
from kudos_chain.exceptions import TokenNotFoundError
from kudos_chain.testing import AnvilNode
from tests.service.delivery.conftest import AnvilRig, anvil_rig, blocked, tracked_head

GWEI = 10**9
MINTER_ROLE = keccak(text="MINTER_ROLE")


@pytest.fixture
def automine(node: AnvilNode) -> Iterator[None]:
    """Mining each transaction as it comes again after the test, and an empty pool."""
    try:
        yield
    finally:
        node.drop_all_transactions()
        node.set_automine(True)


def on_chain(rig: AnvilRig) -> int:
    """How many kudos the contract has awarded."""
    return rig.admin.total_awarded()


def send_as(node: AnvilNode, signer: Signer, *, to: str, nonce: int, data: bytes = b"", tip: int = 2 * GWEI) -> str:
    """Sign a call with ``signer`` at ``nonce`` and broadcast it; its hash."""
    signed = signer.sign_transaction(
        {
            "type": 2,
            "chainId": node.chain_id,
            "nonce": nonce,
            "to": to,
            "data": data,
            "value": 0,
            "gas": 300_000,
            "maxFeePerGas": 500 * GWEI,
            "maxPriorityFeePerGas": tip,
        }
    )
    tx_hash: str = node.rpc("eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()])
    return tx_hash


def test_an_award_is_confirmed_only_when_its_block_is_deep_enough(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, confirmations=2) as rig:
        ids = rig.queue(2)
        rig.step()  # signed, stored, sent (and mined at once)
        rig.step()  # its receipt read: mined
        (op,) = rig.operations()
        assert op.status == OpStatus.MINED
        node.set_automine(False)
        later = rig.queue(1)
        rig.step()  # sent; no new block: the batch's block is still the newest, and still canonical
        rig.step()
        assert rig.operation(op.id).status == OpStatus.MINED
        assert rig.worker.metrics.reorgs._value.get() == 0
        node.drop_all_transactions()
        node.set_automine(True)
        ids_later = later
        assert [v.status for v in op.versions] == [TxStatus.MINED]
        assert op.versions[0].block_number == op.block_number
        assert (op.tx_hash, op.gas_used) == (op.versions[0].tx_hash, op.gas_used)
        assert op.gas_used is not None
        assert op.gas_used > 0
        assert op.block_hash is not None
        awards = [rig.award(i) for i in ids]
        assert [a.status for a in awards] == [AwardStatus.SUBMITTED] * 2
        assert all(a.token_id is not None and a.block_number == op.block_number for a in awards)
        block_hash = op.block_hash
        with rig.db.session() as session:  # recorded by a version that stored no block hash
            session.get_one(Operation, op.id).block_hash = None
        node.mine(1)
        rig.step()
        assert rig.operation(op.id).status == OpStatus.MINED  # one block deep
        assert rig.operation(op.id).block_hash == block_hash  # the block as it is now
        node.mine(1)
        rig.step()
        assert rig.operation(op.id).status == OpStatus.DONE
        assert rig.statuses(ids) == [AwardStatus.CONFIRMED] * 2
        assert on_chain(rig) == 2
        assert rig.statuses(ids_later) == [AwardStatus.SUBMITTED]  # dropped from the pool: sent again later


def test_a_reorg_sends_a_mined_batch_back_in_flight_and_it_is_delivered_once(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, confirmations=3, resend_after_s=0.2) as rig:
        ids = rig.queue(2)
        rig.step()
        rig.step()
        (op,) = rig.operations()
        assert op.status == OpStatus.MINED
        node.set_automine(False)
        node.reorg(1)  # the block of the batch is replaced by an empty one
        rig.step()
        op = rig.operation(op.id)
        assert op.status == OpStatus.IN_FLIGHT
        assert (op.block_number, op.block_hash, op.tx_hash, op.gas_used) == (None, None, None, None)
        assert [v.status for v in op.versions] == [TxStatus.SENT]
        assert op.versions[0].block_number is None
        assert op.sent_block == rig.head().number
        assert op.sent_at is not None
        assert utcnow() - as_utc(op.sent_at) < timedelta(seconds=0.2)
        assert node.pending_transactions() == 0  # sent again only after resend_after_s
        for award in (rig.award(i) for i in ids):
            assert (award.status, award.token_id, award.block_number, award.tx_id) == (
                AwardStatus.SUBMITTED,
                None,
                None,
                None,
            )
        assert rig.worker.metrics.reorgs._value.get() == 1
        node.set_automine(True)
        time.sleep(0.25)
        rig.step()  # sent again: the node forgot it with its block
        node.mine(3)
        rig.deliver(ids)
        assert rig.statuses(ids) == [AwardStatus.CONFIRMED] * 2
        assert on_chain(rig) == 2


def test_a_transaction_not_mined_is_replaced_with_higher_fees_at_its_nonce(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, replace_after_blocks=3, resend_after_s=3600) as rig:
        node.set_automine(False)
        ids = rig.queue(1)
        rig.step()
        (op,) = rig.operations()
        first = op.versions[0]
        node.rpc("anvil_dropTransaction", [first.tx_hash])
        node.mine(2)
        rig.step()
        assert len(rig.operation(op.id).versions) == 1  # two blocks: not yet stuck
        node.mine(1)
        rig.step()
        op = rig.operation(op.id)
        assert op.replacements == 1
        assert [v.status for v in op.versions] == [TxStatus.REPLACED, TxStatus.SENT]
        second = op.versions[1]
        assert second.nonce == first.nonce
        assert first.max_fee_per_gas is not None
        assert first.max_priority_fee_per_gas is not None
        assert second.max_fee_per_gas is not None
        assert second.max_priority_fee_per_gas is not None
        assert second.max_fee_per_gas * 10 >= first.max_fee_per_gas * 11
        assert second.max_priority_fee_per_gas * 10 >= first.max_priority_fee_per_gas * 11
        assert op.sent_block == rig.head().number
        assert rig.worker.metrics.replacements._value.get() == 1
        assert node.pending_transactions() == 1
        node.rpc("anvil_dropTransaction", [second.tx_hash])
        node.mine(3)
        rig.step()  # stuck again: replaced again, higher still
        op = rig.operation(op.id)
        assert op.replacements == 2
        third = op.versions[2]
        assert third.max_fee_per_gas is not None
        assert third.max_fee_per_gas * 10 >= second.max_fee_per_gas * 11
        node.mine(1)
        rig.deliver(ids)
        op = rig.operation(op.id)
        assert op.tx_hash == third.tx_hash
        assert [v.status for v in op.versions] == [TxStatus.REPLACED, TxStatus.REPLACED, TxStatus.MINED]
        assert rig.award(ids[0]).tx_id == third.id
        assert on_chain(rig) == 1


def test_a_transaction_the_pool_forgot_is_sent_again(node: AnvilNode, tmp_path: Path, automine: None) -> None:
    # Replaced after 5 blocks: none is mined here, so it is never stuck, only forgotten.
    with anvil_rig(node, tmp_path, resend_after_s=0.6, replace_after_blocks=5) as rig:
        node.set_automine(False)
        ids = rig.queue(1)
        rig.step()
        (op,) = rig.operations()
        sent_at = op.sent_at
        node.drop_all_transactions()
        assert node.pending_transactions() == 0
        rig.step()
        assert node.pending_transactions() == 0  # not yet: it may only be slow
        time.sleep(0.65)
        assert not rig.step()  # sent again: nothing in the outbox changed
        assert node.pending_transactions() == 1
        op = rig.operation(op.id)
        assert op.replacements == 0
        assert len(op.versions) == 1
        assert op.sent_at is not None
        assert sent_at is not None
        assert op.sent_at > sent_at
        node.mine(1)
        rig.deliver(ids)
        assert on_chain(rig) == 1


def test_a_transaction_the_node_refuses_as_underpriced_is_replaced(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, resend_after_s=0.2, replace_after_blocks=100) as rig:
        node.set_automine(False)
        ids = rig.queue(1)
        rig.step()
        (op,) = rig.operations()
        first = op.versions[0]
        assert first.max_fee_per_gas is not None
        node.drop_all_transactions()
        node.set_next_base_fee(int(first.max_fee_per_gas) * 3)
        node.mine(1)  # the base fee is now above what it offers
        time.sleep(0.25)
        rig.step()
        op = rig.operation(op.id)
        assert op.replacements == 1
        assert len(op.versions) == 2
        base_fee = rig.head().base_fee
        assert op.versions[1].max_fee_per_gas is not None
        assert op.versions[1].max_fee_per_gas > base_fee
        node.mine(1)
        rig.deliver(ids)
        assert rig.operation(op.id).tx_hash == op.versions[1].tx_hash
        assert on_chain(rig) == 1


def test_awards_of_a_nonce_used_by_another_transaction_go_back_to_the_queue(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, resend_after_s=0.2, replace_after_blocks=100) as rig:
        node.set_automine(False)
        ids = rig.queue(2)
        rig.step()
        (op,) = rig.operations()
        assert op.nonce is not None
        node.drop_all_transactions()
        # The key is used elsewhere: a transaction of its own takes the nonce.
        send_as(node, rig.signer, to=rig.signer.address, nonce=op.nonce)
        node.mine(1)
        time.sleep(0.25)
        rig.step()  # the nonce is seen used: the worker waits for a receipt it may not have read yet
        assert rig.operation(op.id).status == OpStatus.IN_FLIGHT
        assert rig.operation(op.id).nonce_used_at is not None
        assert not rig.worker.heal(rig.ctx, rig.head())  # within resend_after_s of seeing it: still waiting
        with rig.db.session() as session:  # held back meanwhile (the node said the signer cannot pay)
            rig.worker.record_send(session, rig.ctx, op.versions[0].tx_hash, SendOutcome.NO_FUNDS, "")
        assert op.id in rig.worker.held_ops
        time.sleep(0.25)
        rig.step()
        assert rig.worker.held_ops == {}  # superseded: nothing of it holds delivery back
        op = rig.operation(op.id)
        assert op.status == OpStatus.SUPERSEDED
        assert op.error == (
            f"nonce {op.nonce} was used by another transaction of the signer; its awards went back to the queue"
        )
        assert [(v.status, v.error) for v in op.versions] == [
            (TxStatus.FAILED, f"nonce {op.nonce} was used by another transaction")
        ]
        node.set_automine(True)
        rig.deliver(ids)
        assert rig.statuses(ids) == [AwardStatus.CONFIRMED] * 2
        assert on_chain(rig) == 2
        (_, again) = rig.operations()
        assert op.nonce is not None
        assert again.nonce == op.nonce + 1


def test_awards_already_on_chain_by_another_transaction_are_confirmed_not_sent_again(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, resend_after_s=0.2, replace_after_blocks=100) as rig:
        node.set_automine(False)
        ids = rig.queue(2)
        rig.step()
        (op,) = rig.operations()
        assert op.nonce is not None
        node.drop_all_transactions()
        # Another process with the key sent the same batch at the same nonce, priced otherwise.
        other = send_as(node, rig.signer, to=op.to_address, nonce=op.nonce, data=op.data, tip=3 * GWEI)
        node.mine(1)
        time.sleep(0.25)
        rig.step()
        time.sleep(0.25)
        rig.step()
        op = rig.operation(op.id)
        assert op.status == OpStatus.SUPERSEDED
        awards = [rig.award(i) for i in ids]
        assert [a.status for a in awards] == [AwardStatus.CONFIRMED] * 2
        receipt = node.rpc("eth_getTransactionReceipt", [other])
        assert {a.block_number for a in awards} == {int(receipt["blockNumber"], 16)}
        assert sorted(a.token_id for a in awards if a.token_id is not None) == [1, 2]
        assert all(a.confirmed_at is not None for a in awards)
        node.set_automine(True)
        assert not rig.step()
        assert on_chain(rig) == 2


def test_a_batch_that_reverts_on_chain_goes_back_to_the_queue_and_is_delivered_once(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path) as rig:
        node.set_automine(False)
        with rig.db.session() as session:
            call_id = request_call(
                session,
                signer=rig.signer.address,
                contract=rig.admin.address,
                data=rig.admin.award_calldata(ChainAward(rig.signer.address, 1, b"\x11" * 32, b"\x22" * 32, False)),
                label="one award",
            ).id
        ids = rig.queue(2)
        rig.step()
        (op,) = rig.operations(OpKind.AWARD_BATCH)
        # The admin takes the minter role away in the same block, before the batch (a higher tip).
        admin = rig.admin.signer
        assert admin is not None
        revoke_role = keccak(text="revokeRole(bytes32,address)")[:4] + abi_encode(
            ["bytes32", "address"], [MINTER_ROLE, rig.signer.address]
        )
        nonce = rig.ctx.chain.pending_nonce(admin.address)
        send_as(node, admin, to=rig.admin.address, nonce=nonce, data=revoke_role, tip=100 * GWEI)
        node.mine(1)
        rig.step()
        op = rig.operation(op.id)
        assert op.status == OpStatus.FAILED
        assert op.error == "reverted on chain; its awards were queued again"
        assert [v.status for v in op.versions] == [TxStatus.FAILED]
        for award in (rig.award(i) for i in ids):
            assert (award.status, award.operation_id, award.token_id) == (AwardStatus.QUEUED, None, None)
        reason = rig.worker.blocked_reason
        assert reason is not None
        assert "MINTER_ROLE" in reason  # the next estimate says why: the awards wait
        call = rig.operation(call_id)
        assert (call.status, call.error) == (
            OpStatus.FAILED,
            f"transaction {call.versions[0].tx_hash} reverted on chain",
        )
        assert [v.status for v in call.versions] == [TxStatus.FAILED]
        assert len(rig.operations()) == 2
        node.set_automine(True)
        rig.admin.manager().resync_nonce()  # its revocation was signed outside its manager
        rig.admin.grant_minter(rig.signer.address)
        rig.deliver(ids)
        assert rig.statuses(ids) == [AwardStatus.CONFIRMED] * 2
        assert on_chain(rig) == 2
        assert blocked(rig) is None


def test_a_signer_that_cannot_pay_holds_the_queue_until_it_is_funded(node: AnvilNode, tmp_path: Path) -> None:
    with anvil_rig(node, tmp_path) as rig:
        node.set_balance(rig.signer.address, 10**15)
        ids = rig.queue(1)
        assert not rig.step()
        fees = fees_for_new(rig.ctx.manager, rig.head())
        needed = 55_000 * 103 * fees.max_fee_per_gas  # 100 kudos of the first guess, with the 3 % margin
        assert rig.worker.blocked_reason == (
            f"the signer {rig.signer.address} holds {eth(10**15)}, less than one batch needs at the current fees "
            f"(about {eth(needed)}): awards wait in the queue until it is funded"
        )
        assert rig.worker.metrics.signer_balance._value.get() == 10**15
        assert rig.statuses(ids) == [AwardStatus.QUEUED]
        node.set_balance(rig.signer.address, 100 * 10**18)
        assert not rig.step()  # the balance is read again only now and then
        rig.worker.note_no_funds()
        rig.deliver(ids)
        assert blocked(rig) is None
        assert on_chain(rig) == 1


def test_on_a_real_chain_the_wallet_index_is_refreshed_in_a_thread_of_its_own(node: AnvilNode, tmp_path: Path) -> None:
    with anvil_rig(node, tmp_path) as rig:
        ids = rig.queue(1)
        rig.worker.start()
        assert rig.worker._index_thread is not None
        assert rig.worker._index_thread.name == "kudos-index"
        assert rig.worker._index_thread.daemon
        rig.worker.wake()
        deadline = time.monotonic() + 20
        while rig.statuses(ids) != [AwardStatus.CONFIRMED] or rig.worker.indexer(rig.ctx).last_block() is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert rig.worker._index_thread.is_alive()  # refreshing the index until it is stopped
        rig.worker.stop()
        assert not rig.worker._index_thread.is_alive()
        assert rig.worker._thread is not None
        assert not rig.worker._thread.is_alive()


def test_fees_of_a_stored_version_are_what_was_signed(node: AnvilNode, tmp_path: Path) -> None:
    with anvil_rig(node, tmp_path) as rig:
        ids = rig.queue(1)
        head = rig.head()
        rig.step()
        (op,) = rig.operations()
        version = op.versions[0]
        expected: Fees = fees_for_new(rig.ctx.manager, head)
        tx = node.rpc("eth_getTransactionByHash", [version.tx_hash])
        assert (int(tx["maxFeePerGas"], 16), int(tx["maxPriorityFeePerGas"], 16)) == (
            version.max_fee_per_gas,
            version.max_priority_fee_per_gas,
        )
        assert version.max_priority_fee_per_gas == expected.max_priority_fee_per_gas
        assert int(tx["nonce"], 16) == op.nonce
        assert int(tx["gas"], 16) == op.gas_limit
        rig.deliver(ids)
        assert rig.award(ids[0]).kind_id is not None
        assert op.kind == OpKind.AWARD_BATCH


def test_the_fee_cap_holds_new_and_replacement_transactions_until_the_fee_falls(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, max_fee_per_gas=10 * GWEI, replace_after_blocks=1, resend_after_s=3600) as rig:
        node.set_automine(False)
        node.set_next_base_fee(GWEI)
        node.mine(1)
        first_ids = rig.queue(1)
        rig.step()
        (op,) = rig.operations()
        node.drop_all_transactions()
        node.set_next_base_fee(20 * GWEI)
        node.mine(1)  # a spike above the cap: the transaction can be neither mined nor replaced
        later_ids = rig.queue(1)
        rig.step()
        op = rig.operation(op.id)
        assert len(op.versions) == 1
        assert op.note is not None
        assert op.note.startswith("base fee 20 gwei is above the cap of 10 gwei")
        assert op.note.endswith("; delivery resumes when the fee falls")
        assert rig.worker.held_ops == {op.id: op.note}
        assert op.sent_block == rig.head().number  # looked at again in replace_after_blocks
        reason = rig.worker.blocked_reason
        assert reason is not None
        assert reason.endswith("; delivery resumes when the fee falls")
        assert rig.statuses(later_ids) == [AwardStatus.QUEUED]
        node.set_next_base_fee(GWEI)
        node.mine(1)
        rig.step()
        op = rig.operation(op.id)
        assert len(op.versions) == 2
        assert (op.note, op.replacements) == (None, 1)
        assert rig.worker.held_ops == {}
        assert blocked(rig) is None
        assert rig.statuses(later_ids) == [AwardStatus.SUBMITTED]
        node.mine(1)
        rig.deliver(first_ids + later_ids)
        assert on_chain(rig) == 2


def test_a_transaction_at_the_cap_is_sent_again_as_it_is_when_it_can_be_mined(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, max_fee_per_gas=2 * GWEI, replace_after_blocks=1, resend_after_s=3600) as rig:
        node.set_automine(False)
        node.set_next_base_fee(GWEI)
        node.mine(1)
        ids = rig.queue(1)
        rig.step()
        (op,) = rig.operations()
        assert op.versions[0].max_fee_per_gas == 2 * GWEI  # twice the base fee and a tip, capped
        node.drop_all_transactions()
        node.set_next_base_fee(3 * GWEI)
        node.mine(1)
        rig.step()  # the base fee is above what it offers, and no replacement fits the cap: held
        op = rig.operation(op.id)
        assert op.note is not None
        assert rig.worker.held_ops == {op.id: op.note}
        node.drop_all_transactions()
        node.set_next_base_fee(2 * GWEI)
        node.mine(1)
        rig.step()  # exactly what it offers: no replacement within the cap, and none needed: the same version again
        op = rig.operation(op.id)
        assert len(op.versions) == 1
        assert op.note is None
        assert rig.worker.held_ops == {}
        assert blocked(rig) is None
        assert node.pending_transactions() == 1
        node.mine(1)
        rig.deliver(ids)
        assert on_chain(rig) == 1


def test_a_signer_the_node_finds_unable_to_pay_is_reported_until_a_send_succeeds(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, resend_after_s=0.2, replace_after_blocks=100) as rig:
        first = rig.queue(1)
        rig.step()  # the balance is read, and is enough
        node.set_balance(rig.signer.address, 0)
        node.set_automine(False)
        later = rig.queue(1)
        rig.step()  # the balance read a moment ago says it can pay; the node says otherwise
        (_, op) = rig.operations()
        note = f"the node refused it: the signer {rig.signer.address} cannot pay for its gas"
        assert rig.operation(op.id).note == note
        assert rig.worker.held_ops == {op.id: note}
        assert blocked(rig) == note
        assert rig.worker._balance is None  # read again at the next step
        time.sleep(0.25)
        rig.step()  # sent again, and refused again
        assert rig.operation(op.id).note == note
        node.set_balance(rig.signer.address, 100 * 10**18)
        time.sleep(0.25)
        rig.step()  # sent again, and taken
        assert rig.operation(op.id).note is None
        assert rig.worker.held_ops == {}
        assert blocked(rig) is None
        node.mine(1)
        rig.deliver(first + later)
        assert on_chain(rig) == 2


def test_what_the_node_said_to_a_broadcast_is_recorded(node: AnvilNode, tmp_path: Path, automine: None) -> None:
    with anvil_rig(node, tmp_path, resend_after_s=7) as rig:
        node.set_automine(False)
        rig.queue(1)
        rig.step()
        (op,) = rig.operations()
        tx_hash = op.versions[0].tx_hash
        with rig.db.session() as session:
            rig.worker.record_send(session, rig.ctx, tx_hash, SendOutcome.REFUSED, "txpool is full")
        assert rig.operation(op.id).note == "the node refused it (txpool is full); it is sent again in 7 s"
        with rig.db.session() as session:
            rig.worker.record_send(session, rig.ctx, tx_hash, SendOutcome.SENT, "")
        assert rig.operation(op.id).note is None
        with rig.db.session() as session:
            rig.worker.record_send(session, rig.ctx, tx_hash, SendOutcome.NONCE_USED, "nonce too low")
        seen = rig.operation(op.id)
        assert seen.note == f"the node says nonce {op.nonce} is used: checking the chain for its awards"
        assert seen.nonce_used_at is not None
        with rig.db.session() as session:
            rig.worker.record_send(session, rig.ctx, tx_hash, SendOutcome.NONCE_USED, "nonce too low")
        assert rig.operation(op.id).nonce_used_at == seen.nonce_used_at  # when it was first seen
        with rig.db.session() as session:
            rig.worker.record_send(session, rig.ctx, tx_hash, SendOutcome.SENT, "")
        assert rig.operation(op.id).note == seen.note  # not a refusal: it stays
        with rig.db.session() as session:
            assert session.scalars(select(ChainTx).where(ChainTx.tx_hash == tx_hash)).one().status == TxStatus.SENT


def test_a_call_whose_nonce_another_transaction_used_is_signed_again_with_a_new_one(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, resend_after_s=0.2, replace_after_blocks=100) as rig:
        node.set_automine(False)
        with rig.db.session() as session:
            call_id = request_call(
                session,
                signer=rig.signer.address,
                contract=rig.admin.address,
                data=rig.admin.award_calldata(ChainAward(rig.signer.address, 1, b"\x11" * 32, b"\x33" * 32, False)),
                label="one award",
            ).id
        rig.step()
        nonce = rig.operation(call_id).nonce
        assert nonce is not None
        node.drop_all_transactions()
        send_as(node, rig.signer, to=rig.signer.address, nonce=nonce)
        node.mine(1)
        time.sleep(0.25)
        rig.step()
        time.sleep(0.25)
        assert rig.worker.heal(rig.ctx, rig.head())
        op = rig.operation(call_id)
        assert op.status == OpStatus.PENDING
        assert op.note == f"nonce {nonce} was used by another transaction of the signer: it will be sent again"
        assert (op.nonce, op.sent_block, op.sent_at, op.nonce_used_at, op.error) == (None, None, None, None, None)
        assert [v.status for v in op.versions] == [TxStatus.FAILED]
        node.set_automine(True)
        rig.step()
        op = rig.operation(call_id)
        assert (op.status, op.nonce, op.note) == (OpStatus.IN_FLIGHT, nonce + 1, None)
        rig.step()
        op = rig.operation(call_id)
        assert op.status == OpStatus.DONE
        assert [v.status for v in op.versions] == [TxStatus.FAILED, TxStatus.MINED]  # the failed one stays failed
        assert on_chain(rig) == 1


def test_a_transaction_mined_after_its_receipt_was_read_is_not_replaced(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, replace_after_blocks=2, resend_after_s=3600) as rig:
        node.set_automine(False)
        ids = rig.queue(1)
        rig.step()
        node.mine(2)  # mined in the first of them: stuck, as far as the last step knows
        (op,) = rig.operations()
        assert op.nonce is not None
        rig.worker._tracked_head = (rig.head().number, rig.head().hash)  # as if the receipts were read before
        # A node behind the one that mined it (providers balance requests over several) still counts its nonce
        # as free.
        assert not rig.worker._heal_one(rig.ctx, rig.head(), op.id, op.nonce)
        assert tracked_head(rig) is None  # the next step reads them
        (op,) = rig.operations()
        assert (len(op.versions), op.replacements) == (1, 0)
        rig.deliver(ids)
        assert on_chain(rig) == 1


def test_a_used_nonce_whose_version_was_mined_after_all_is_recorded_not_superseded(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, resend_after_s=0.2, replace_after_blocks=100) as rig:
        node.set_automine(False)
        ids = rig.queue(1)
        rig.step()
        node.mine(1)
        time.sleep(0.25)
        assert not rig.worker.heal(rig.ctx, rig.head())  # the nonce is used: noted, and looked at again later
        time.sleep(0.25)
        rig.worker._tracked_head = (rig.head().number, rig.head().hash)
        assert not rig.worker.heal(rig.ctx, rig.head())
        assert tracked_head(rig) is None
        (op,) = rig.operations()
        assert op.status == OpStatus.IN_FLIGHT
        rig.deliver(ids)
        assert rig.operation(op.id).status == OpStatus.DONE
        assert on_chain(rig) == 1


def test_a_reorg_undoes_a_revocation_that_was_done_and_it_is_done_again(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, confirmations=0, resend_after_s=0.2) as rig:
        admin = rig.admin.signer
        assert admin is not None
        grant_admin = keccak(text="grantRole(bytes32,address)")[:4] + abi_encode(
            ["bytes32", "address"], [bytes(32), rig.signer.address]
        )
        send_as(node, admin, to=rig.admin.address, nonce=rig.ctx.chain.pending_nonce(admin.address), data=grant_admin)
        ids = rig.queue(1)
        rig.deliver(ids)
        token_id = rig.award(ids[0]).token_id
        assert token_id is not None
        op_id = rig.revoke(token_id)
        rig.step(2)
        assert rig.operation(op_id).status == OpStatus.DONE
        assert rig.award(ids[0]).revoked_at is not None
        node.set_automine(False)
        node.reorg(1)  # the block of the revocation is replaced by an empty one
        rig.step()
        op = rig.operation(op_id)
        assert op.status == OpStatus.IN_FLIGHT
        assert (op.block_number, op.done_at) == (None, None)
        assert op.sent_block == rig.head().number
        award = rig.award(ids[0])
        assert award.revoked_at is None
        assert (award.status, award.token_id) == (AwardStatus.CONFIRMED, token_id)  # its own block stays
        assert rig.worker.metrics.reorgs._value.get() == 1
        node.set_automine(True)
        time.sleep(0.25)
        rig.step(3)
        assert rig.operation(op_id).status == OpStatus.DONE
        assert rig.award(ids[0]).revoked_at is not None
        assert rig.admin.total_awarded() == 1
        with pytest.raises(TokenNotFoundError):
            rig.admin.kudos(token_id)


def test_whichever_version_is_mined_is_the_one_recorded(node: AnvilNode, tmp_path: Path, automine: None) -> None:
    with anvil_rig(node, tmp_path, replace_after_blocks=2, resend_after_s=3600) as rig:
        node.set_automine(False)
        ids = rig.queue(1)
        rig.step()
        (op,) = rig.operations()
        first = op.versions[0]
        node.drop_all_transactions()
        node.mine(2)
        rig.step()  # stuck: replaced
        op = rig.operation(op.id)
        assert [v.status for v in op.versions] == [TxStatus.REPLACED, TxStatus.SENT]
        node.drop_all_transactions()
        node.rpc("eth_sendRawTransaction", ["0x" + bytes(first.raw).hex()])  # the first comes back, and is mined
        node.mine(1)
        rig.step()
        op = rig.operation(op.id)
        assert [v.status for v in op.versions] == [TxStatus.MINED, TxStatus.REPLACED]
        assert op.tx_hash == first.tx_hash
        assert rig.award(ids[0]).tx_id == first.id
        rig.deliver(ids)
        assert on_chain(rig) == 1


def test_a_reorg_takes_a_claimed_kudos_back_to_custody_until_its_move_is_mined_again(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    """A claim's ``recover`` mined and done, then reorged out: the kudos reads as held again (at the custody address,
    not claimed), its move goes back in flight, and it reaches the wallet once."""
    with anvil_rig(node, tmp_path, confirmations=0, resend_after_s=0.2) as rig:
        admin = rig.admin.signer
        assert admin is not None
        grant_admin = keccak(text="grantRole(bytes32,address)")[:4] + abi_encode(
            ["bytes32", "address"], [bytes(32), rig.signer.address]
        )
        send_as(node, admin, to=rig.admin.address, nonce=rig.ctx.chain.pending_nonce(admin.address), data=grant_admin)
        custody = custody_address(rig.ctx.chain.chain_id, rig.admin.address)
        with rig.db.session() as session:
            person = Recipient(handle="held.one", external_id="mailto:held@example.com", display_name="H")
            session.add(person)
        ids = rig.queue(1, recipient=custody)
        with rig.db.session() as session:
            session.get_one(Award, ids[0]).held_for_id = session.scalars(select(Recipient.id)).one()
        rig.deliver(ids)
        token_id = rig.award(ids[0]).token_id
        assert token_id is not None
        assert rig.admin.kudos(token_id).owner == custody
        wallet = Signer.create().address
        with rig.db.session() as session:
            person = session.scalars(select(Recipient)).one()
            (move,) = move_held(session, person, wallet, signer=rig.signer.address, contract=rig.admin.address)
            op_id = move.id
        rig.step(2)
        assert rig.operation(op_id).status == OpStatus.DONE
        award = rig.award(ids[0])
        assert (award.recipient, award.claimed_at is not None) == (wallet, True)

        node.set_automine(False)
        node.reorg(1)  # the block of the move is replaced by an empty one
        rig.step()
        assert rig.operation(op_id).status == OpStatus.IN_FLIGHT
        award = rig.award(ids[0])
        assert (award.recipient, award.claimed_at) == (custody, None)  # held again, as the chain says
        assert rig.admin.kudos(token_id).owner == custody
        node.set_automine(True)
        time.sleep(0.25)
        rig.step(3)
        assert rig.operation(op_id).status == OpStatus.DONE
        award = rig.award(ids[0])
        assert (award.recipient, award.claimed_at is not None) == (wallet, True)
        assert rig.admin.kudos(token_id).owner == wallet
        with rig.db.session() as session:
            moves = session.scalars(select(Operation).where(Operation.kind == OpKind.RECOVER)).all()
            assert [op.status for op in moves] == [OpStatus.DONE]  # one move, mined once
