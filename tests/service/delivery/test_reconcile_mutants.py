"""Following sent transactions (:mod:`kudos_service.delivery.reconcile`): the bounds and the corners that mutation
testing found untested. What a node says to a broadcast that is refused in its own words or for want of funds, a
hold that ends when its transaction is mined or that never began, the reason of this step reported among several,
a restart between a refusal and the next send, how deep the blocks of done operations are checked, the instant a
used nonce stops being waited on, a reorg of a claimed kudos' revocation. On an anvil node of the module's own (one
test on the embedded chain), the worker's steps run one by one."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from kudos_service.claims.custody import custody_address
from kudos_service.claims.service import move_held
from kudos_service.delivery import reconcile
from kudos_service.models import ApiKey, Award, AwardStatus, Deployment, OpStatus, Recipient, TxStatus
from kudos_service.state import AppState, build_state
from sqlalchemy import select

from kudos_chain import SendOutcome, Signer
from kudos_chain.testing import AnvilNode
from tests.service.delivery.conftest import AnvilRig, anvil_rig, blocked, embedded_rig, new_award

GWEI = 10**9


@pytest.fixture
def automine(node: AnvilNode) -> Iterator[None]:
    """Mining each transaction as it comes again after the test, an empty pool, and the block gas limit it had."""
    gas_limit = int(node.rpc("eth_getBlockByNumber", ["latest", False])["gasLimit"], 16)
    try:
        yield
    finally:
        node.rpc("evm_setBlockGasLimit", [hex(gas_limit)])
        node.drop_all_transactions()
        node.set_automine(True)


def send_as(node: AnvilNode, signer: Signer, *, to: str, nonce: int, data: bytes = b"") -> str:
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
            "maxPriorityFeePerGas": 2 * GWEI,
        }
    )
    tx_hash: str = node.rpc("eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()])
    return tx_hash


def make_admin(node: AnvilNode, rig: AnvilRig, account: str | None = None) -> None:
    """Give ``account`` (the service's signer) the contract's admin role (revocations and recoveries need it)."""
    admin = rig.admin.signer
    assert admin is not None
    grant = keccak(text="grantRole(bytes32,address)")[:4] + abi_encode(
        ["bytes32", "address"], [bytes(32), account or rig.signer.address]
    )
    send_as(node, admin, to=rig.admin.address, nonce=rig.ctx.chain.pending_nonce(admin.address), data=grant)


@contextmanager
def restarted(rig: AnvilRig, **changes: Any) -> Iterator[AppState]:
    """The service stopped and started again on the rig's database, its settings changed by ``changes`` (its
    worker's steps are the test's to run): nothing of the old one's memory is left."""
    rig.worker.stop(timeout=5)
    state = build_state(rig.state.settings.model_copy(update=changes))
    try:
        yield state
    finally:
        state.worker.stop(timeout=5)
        state.db.dispose()


# ----------------------------------------------------------------------------------------------------------------
# What the node said to a version sent again, or to a replacement


def test_a_resend_and_a_replacement_the_node_refuses_are_noted_in_its_words(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, resend_after_s=0.2, replace_after_blocks=2) as rig:
        node.set_automine(False)
        ids = rig.queue(1)
        rig.step()
        (op,) = rig.operations()
        assert op.gas_limit is not None
        node.drop_all_transactions()
        node.rpc("evm_setBlockGasLimit", [hex(int(op.gas_limit) - 1)])  # the node now refuses it, in words of its own
        time.sleep(0.25)
        assert not rig.step()  # sent again (not stuck: no block since), and refused
        note = rig.operation(op.id).note
        assert note is not None
        assert note.startswith("the node refused it (intrinsic gas too high")
        assert note.endswith("); it is sent again in 0.2 s")
        node.mine(2)
        assert rig.step()  # stuck: replaced (the next step comes at once), and the replacement refused
        op = rig.operation(op.id)
        assert [v.status for v in op.versions] == [TxStatus.REPLACED, TxStatus.SIGNED]
        assert op.note is not None
        assert op.note.startswith("the node refused it (intrinsic gas too high")
        assert op.note.endswith("); it is sent again in 0.2 s")
        node.rpc("evm_setBlockGasLimit", [hex(30_000_000)])
        node.set_automine(True)
        time.sleep(0.25)
        rig.deliver(ids)
        assert rig.operation(op.id).tx_hash == op.versions[1].tx_hash
        assert rig.admin.total_awarded() == 1


def test_a_replacement_refused_for_want_of_funds_holds_delivery_until_one_is_taken(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, resend_after_s=3600, replace_after_blocks=2) as rig:
        node.set_automine(False)
        ids = rig.queue(1)
        rig.step()
        (op,) = rig.operations()
        node.drop_all_transactions()
        node.set_balance(rig.signer.address, 0)
        node.mine(2)
        rig.step()  # stuck: replaced, and the node says the signer cannot pay for it
        op = rig.operation(op.id)
        note = f"the node refused it: the signer {rig.signer.address} cannot pay for its gas"
        assert (len(op.versions), op.note) == (2, note)
        assert rig.worker.held_ops == {op.id: note}
        assert blocked(rig) == note
        node.set_balance(rig.signer.address, 100 * 10**18)
        node.mine(2)
        rig.step()  # stuck again: replaced, and taken
        op = rig.operation(op.id)
        assert (len(op.versions), op.note) == (3, None)
        assert rig.worker.held_ops == {}
        assert blocked(rig) is None
        node.mine(1)
        rig.deliver(ids)
        assert rig.admin.total_awarded() == 1


# ----------------------------------------------------------------------------------------------------------------
# Holds: how they end, and which is reported


def test_a_held_transaction_that_is_mined_holds_nothing_back_and_keeps_no_note(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path) as rig:
        node.set_automine(False)
        ids = rig.queue(1)
        rig.step()
        (op,) = rig.operations()
        with rig.db.session() as session:  # one node of several said the signer cannot pay; another took it
            rig.worker.record_send(session, rig.ctx, op.versions[0].tx_hash, SendOutcome.NO_FUNDS, "")
        rig.step()
        assert blocked(rig) is not None
        node.mine(1)
        rig.step()  # its receipt is read: mined (and done: no confirmations on a development chain)
        op = rig.operation(op.id)
        assert op.status == OpStatus.DONE
        assert op.note is None
        assert rig.worker.held_ops == {}
        assert blocked(rig) is None
        assert rig.statuses(ids) == [AwardStatus.CONFIRMED]


def test_a_transaction_at_the_cap_that_can_be_mined_as_it_is_is_sent_again_without_a_hold(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, max_fee_per_gas=2 * GWEI, replace_after_blocks=1, resend_after_s=3600) as rig:
        node.set_automine(False)
        node.set_next_base_fee(GWEI)
        node.mine(1)
        ids = rig.queue(1)
        rig.step()
        (op,) = rig.operations()
        assert op.versions[0].max_fee_per_gas == 2 * GWEI
        node.drop_all_transactions()
        node.set_next_base_fee(GWEI)
        node.mine(1)
        rig.step()  # stuck, no replacement fits the cap, none is needed: the same version again, never held
        op = rig.operation(op.id)
        assert (len(op.versions), op.note) == (1, None)
        assert rig.worker.held_ops == {}
        assert blocked(rig) is None
        assert node.pending_transactions() == 1
        node.mine(1)
        rig.deliver(ids)
        assert rig.admin.total_awarded() == 1


def test_the_hold_found_in_a_step_is_the_one_reported_and_a_node_taking_it_back_does_not_lift_the_cap(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, max_fee_per_gas=10 * GWEI, replace_after_blocks=2, resend_after_s=3600) as rig:
        node.set_automine(False)
        node.set_next_base_fee(GWEI)
        node.mine(1)
        rig.queue(1)
        rig.step()
        (capped,) = rig.operations()
        node.drop_all_transactions()
        node.set_next_base_fee(GWEI)
        node.mine(1)
        rig.queue(1)
        rig.step()  # a second batch; the first is one block old: not stuck yet
        (_, poor) = rig.operations()
        with rig.db.session() as session:  # held first, for another reason
            rig.worker.record_send(session, rig.ctx, poor.versions[0].tx_hash, SendOutcome.NO_FUNDS, "")
        cannot_pay = f"the node refused it: the signer {rig.signer.address} cannot pay for its gas"
        node.set_next_base_fee(20 * GWEI)
        node.mine(1)
        assert not rig.step()  # the first is stuck, and the cap allows no replacement: held, nothing to do at once
        capped = rig.operation(capped.id)
        assert capped.note is not None
        assert capped.note.startswith("base fee 20 gwei is above the cap of 10 gwei")
        assert rig.worker.held_ops == {poor.id: cannot_pay, capped.id: capped.note}
        assert blocked(rig) == capped.note  # what this step found, not the older hold
        again = build_state(rig.state.settings)  # both holds are read back from the notes after a restart
        try:
            again.worker._read_holds()
            assert again.worker.held_ops == {poor.id: cannot_pay, capped.id: capped.note}
        finally:
            again.db.dispose()
        with rig.db.session() as session:  # a node takes both back: funds are proven, the fee is still too high
            rig.worker.record_send(session, rig.ctx, capped.versions[0].tx_hash, SendOutcome.SENT, "")
            rig.worker.record_send(session, rig.ctx, poor.versions[0].tx_hash, SendOutcome.SENT, "")
        assert rig.worker.held_ops == {capped.id: capped.note}
        assert rig.operation(capped.id).note == capped.note


def test_a_signer_found_unable_to_pay_before_a_restart_resumes_after_it(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, resend_after_s=0.2, replace_after_blocks=100) as rig:
        rig.deliver(rig.queue(1))  # the balance is read, and is enough
        node.set_balance(rig.signer.address, 0)
        node.set_automine(False)
        ids = rig.queue(1)
        rig.step()  # the balance read a moment ago says it can pay; the node says otherwise
        (_, op) = rig.operations()
        assert rig.operation(op.id).note == (
            f"the node refused it: the signer {rig.signer.address} cannot pay for its gas"
        )
        with restarted(rig) as again:  # the service again, on the same database: nothing held in memory
            node.set_balance(rig.signer.address, 100 * 10**18)
            time.sleep(0.25)
            again.worker.run_once()  # sent again, and taken
            assert again.worker.held_ops == {}
            with again.db.session() as session:
                assert session.scalars(select(Award.status).where(Award.id == ids[0])).one() == AwardStatus.SUBMITTED
            assert rig.operation(op.id).note is None
            assert again.worker.blocked_reason is None


def test_a_hold_noted_before_a_restart_is_reported_after_it_before_anything_is_tried_again(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, resend_after_s=600, replace_after_blocks=100) as rig:
        rig.deliver(rig.queue(1))
        node.set_balance(rig.signer.address, 0)
        node.set_automine(False)
        rig.queue(1)
        rig.step()
        (_, op) = rig.operations()
        note = f"the node refused it: the signer {rig.signer.address} cannot pay for its gas"
        assert rig.operation(op.id).note == note
        assert rig.worker.blocked_reason == note
        with restarted(rig) as again:  # nothing held in memory; the note is in the database
            again.worker.run_once()  # tries nothing again for resend_after_s
            assert again.worker.held_ops == {op.id: note}
            assert again.worker.blocked_reason == note


# ----------------------------------------------------------------------------------------------------------------
# Receipts read again after a send; how deep done operations are checked


def test_after_a_send_the_receipts_are_read_again_though_the_head_did_not_move(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, confirmations=1) as rig:
        node.set_automine(False)
        first = rig.queue(1)
        rig.step()
        (op,) = rig.operations()
        node.mine(1)
        head = rig.head()
        # A node that showed this head before its receipts (providers balance requests over several): the receipts
        # were read at this head, and the batch's was not there yet.
        rig.worker._tracked_head, rig.worker._sent_since_track = (head.number, head.hash), False
        assert not rig.worker.track(rig.ctx, head)  # nothing was sent since: not read again
        assert rig.operation(op.id).status == OpStatus.IN_FLIGHT
        rig.queue(1)
        assert rig.worker.fill(rig.ctx, head)  # a send: the next track reads every receipt again
        assert rig.head() == head
        assert rig.worker.track(rig.ctx, head)
        assert rig.operation(op.id).status == OpStatus.MINED
        node.mine(1)
        rig.deliver(first)


def test_a_reorg_undoes_an_operation_done_within_confirmations_and_one_block(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    """Followed ``max(index_reorg_depth, confirmations + 1)`` blocks deep: here the confirmations decide, for the
    receipts and for the wallet index alike (the index once followed ``index_reorg_depth`` blocks alone, none here,
    and the next step failed on a token it had already indexed from the block reorged out)."""
    with anvil_rig(node, tmp_path, index_reorg_depth=0, confirmations=1, resend_after_s=0.2) as rig:
        ids = rig.queue(1)
        rig.step()  # sent, and mined at once
        rig.step()  # mined
        (op,) = rig.operations()
        node.mine(1)
        rig.step()
        assert rig.operation(op.id).status == OpStatus.DONE
        assert op.block_number is not None
        assert rig.head().number == op.block_number + 1
        node.reorg(2)  # its block and the one above it replaced: done one block deep, it is checked
        assert rig.worker.track(rig.ctx, rig.head())
        assert rig.operation(op.id).status == OpStatus.IN_FLIGHT
        assert rig.statuses(ids) == [AwardStatus.SUBMITTED]
        assert rig.worker.metrics.reorgs._value.get() == 1
        recipient = rig.award(ids[0]).recipient
        rig.worker.sync_index(rig.ctx)  # the index, too, drops what the reorg took away
        assert rig.worker.indexer(rig.ctx).wallet(recipient) == []
        time.sleep(0.25)
        rig.step()  # sent again (anvil dropped it with its block), and mined at once
        node.mine(1)
        rig.deliver(ids)
        assert rig.statuses(ids) == [AwardStatus.CONFIRMED]
        rig.worker.sync_index(rig.ctx)
        (indexed,) = rig.worker.indexer(rig.ctx).wallet(recipient)
        assert indexed.token_id == rig.award(ids[0]).token_id


def test_the_window_on_a_development_chain_follows_its_own_confirmations(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    """No confirmations configured: anvil's chain id (31337) is a development chain's, with none, so with no index
    depth either only the newest block is checked (a mainnet's 12 would check it 13 blocks deep)."""
    with anvil_rig(node, tmp_path, index_reorg_depth=0) as rig:
        ids = rig.queue(1)
        rig.step()
        rig.step()
        (op,) = rig.operations()
        assert rig.operation(op.id).status == OpStatus.DONE
        node.mine(1)
        rig.step()
        node.reorg(2)  # its block, one below the head, is past the window of one block
        assert not rig.worker.track(rig.ctx, rig.head())
        assert rig.operation(op.id).status == OpStatus.DONE
        assert rig.statuses(ids) == [AwardStatus.CONFIRMED]


def test_a_head_already_tracked_is_not_read_again_until_something_is_sent(
    node: AnvilNode, tmp_path: Path, automine: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with anvil_rig(node, tmp_path) as rig:
        node.set_automine(False)
        rig.queue(1)
        rig.step()  # sent: in flight
        head = rig.head()
        assert rig.worker.track(rig.ctx, head) is False  # read after the send; nothing mined
        asked: list[list[str]] = []
        real = rig.ctx.chain.receipts_many

        def counted(hashes: Sequence[str]) -> Sequence[object]:
            asked.append(list(hashes))
            return real(hashes)

        monkeypatch.setattr(rig.ctx.chain, "receipts_many", counted)
        assert rig.worker.track(rig.ctx, head) is False
        assert asked == []  # the same head, nothing sent since: nothing to read
        node.mine(1)
        assert rig.worker.track(rig.ctx, rig.head()) is True
        assert len(asked) == 1


def test_the_block_of_an_operation_done_deeper_than_confirmations_and_one_is_not_checked_again(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, index_reorg_depth=0, confirmations=1) as rig:
        ids = rig.queue(1)
        rig.step()
        rig.step()
        (op,) = rig.operations()
        node.mine(1)
        rig.step()
        assert rig.operation(op.id).status == OpStatus.DONE
        node.mine(1)  # two blocks deep: past the window of reorgs followed (max(index_reorg_depth, confirmations + 1))
        rig.step()
        assert op.block_number is not None
        assert rig.head().number == op.block_number + 2
        node.reorg(3)  # deeper than the service was told to follow: its block is not read again
        assert not rig.worker.track(rig.ctx, rig.head())
        assert rig.operation(op.id).status == OpStatus.DONE
        assert rig.statuses(ids) == [AwardStatus.CONFIRMED]
        assert rig.worker.metrics.reorgs._value.get() == 0


# ----------------------------------------------------------------------------------------------------------------
# A used nonce: the instant its wait ends


def test_a_used_nonce_is_waited_on_for_resend_after_and_not_a_microsecond_more(
    node: AnvilNode, tmp_path: Path, automine: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with anvil_rig(node, tmp_path, resend_after_s=0.2, replace_after_blocks=100) as rig:
        node.set_automine(False)
        ids = rig.queue(1)
        rig.step()
        (op,) = rig.operations()
        assert op.nonce is not None
        node.drop_all_transactions()
        send_as(node, rig.signer, to=rig.signer.address, nonce=op.nonce)
        node.mine(1)
        now = [datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)]
        monkeypatch.setattr(reconcile, "utcnow", lambda: now[0])
        seen = now[0]
        assert not rig.worker.heal(rig.ctx, rig.head())  # seen used: waited on
        assert rig.operation(op.id).nonce_used_at is not None
        now[0] = seen + timedelta(seconds=0.2) - timedelta(microseconds=1)
        assert not rig.worker.heal(rig.ctx, rig.head())
        assert rig.operation(op.id).status == OpStatus.IN_FLIGHT
        now[0] = seen + timedelta(seconds=0.2)
        assert rig.worker.heal(rig.ctx, rig.head())  # exactly resend_after_s: no longer
        assert rig.operation(op.id).status == OpStatus.SUPERSEDED
        assert rig.statuses(ids) == [AwardStatus.QUEUED]


# ----------------------------------------------------------------------------------------------------------------
# A reorg of the revocation of a claimed kudos


def test_a_reorg_of_the_revocation_of_a_claimed_kudos_leaves_it_in_its_wallet(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, confirmations=0, resend_after_s=0.2) as rig:
        make_admin(node, rig)
        custody = custody_address(rig.ctx.chain.chain_id, rig.admin.address)
        with rig.db.session() as session:
            session.add(Recipient(handle="held.one", external_id="mailto:held@example.com", display_name="H"))
        ids = rig.queue(1, recipient=custody)
        with rig.db.session() as session:
            session.get_one(Award, ids[0]).held_for_id = session.scalars(select(Recipient.id)).one()
        rig.deliver(ids)
        token_id = rig.award(ids[0]).token_id
        assert token_id is not None
        wallet = Signer.create().address
        with rig.db.session() as session:
            person = session.scalars(select(Recipient)).one()
            move_held(session, person, wallet, signer=rig.signer.address, contract=rig.admin.address)
        rig.step(2)
        claimed = rig.award(ids[0])
        assert (claimed.recipient, claimed.claimed_at is not None) == (wallet, True)
        revoke_id = rig.revoke(token_id)
        rig.step(2)
        assert rig.operation(revoke_id).status == OpStatus.DONE
        node.set_automine(False)
        node.reorg(1)  # the block of the revocation (not of the move) is replaced by an empty one
        rig.step()
        assert rig.operation(revoke_id).status == OpStatus.IN_FLIGHT
        award = rig.award(ids[0])
        assert award.revoked_at is None
        assert (award.recipient, award.claimed_at) == (wallet, claimed.claimed_at)  # still the person's
        node.set_automine(True)
        time.sleep(0.25)
        rig.step(3)
        assert rig.operation(revoke_id).status == OpStatus.DONE
        assert rig.award(ids[0]).revoked_at is not None


# ----------------------------------------------------------------------------------------------------------------
# An award its batch was mined without, before the others


def test_the_awards_after_one_its_batch_was_mined_without_are_recorded(tmp_path: Path) -> None:
    with embedded_rig(tmp_path) as rig:
        with rig.db.session() as session:  # an award the batch does not hold, made first (so read first)
            key = session.get_one(ApiKey, rig.api_key.id)
            stray_id = new_award(session, key, status=AwardStatus.SUBMITTED).id
        ids = rig.queue(2)
        rig.step()  # signed, sent and mined
        (op,) = rig.operations()
        with rig.db.session() as session:
            session.get_one(Award, stray_id).operation_id = op.id
        rig.step()
        assert rig.award(stray_id).status == AwardStatus.FAILED
        awards = [rig.award(i) for i in ids]
        assert [a.status for a in awards] == [AwardStatus.CONFIRMED] * 2
        assert sorted(a.token_id for a in awards if a.token_id is not None) == [1, 2]
        assert all(a.tx_id == op.versions[0].id for a in awards)


# ----------------------------------------------------------------------------------------------------------------
# The chain's identity is checked at the first step, whatever the monotonic clock reads


@pytest.mark.parametrize("forgotten", [False, True], ids=["new", "after-an-error"])
def test_the_first_step_checks_the_chains_identity_whatever_the_clock_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forgotten: bool
) -> None:
    class Clock:  # a monotonic clock's origin is undefined: it may read less than chain_check_s
        @staticmethod
        def monotonic() -> float:
            return 0.5

    monkeypatch.setattr(reconcile, "time", Clock)
    with embedded_rig(tmp_path) as rig:
        if forgotten:
            rig.step()
            rig.worker._identity_checked = 0.25
            rig.worker.forget_chain()
        rig.step()
        assert rig.worker._identity_checked == 0.5


def test_a_deployment_stored_with_one_of_its_hashes_is_completed_from_the_chain(tmp_path: Path) -> None:
    with embedded_rig(tmp_path) as rig:
        rig.step()  # the first step stores both
        with rig.db.session() as session:
            deployment = session.scalars(select(Deployment)).one()
            expected = (bytes(deployment.genesis_hash or b""), bytes(deployment.code_hash or b""))
            deployment.code_hash = None  # a row restored from an older copy, or edited by hand
        rig.worker.forget_chain()
        rig.deliver(rig.queue(1))  # not an error: the missing hash is read from the chain again
        with rig.db.session() as session:
            deployment = session.scalars(select(Deployment)).one()
            assert (deployment.genesis_hash, deployment.code_hash) == expected
        assert blocked(rig) is None


# ----------------------------------------------------------------------------------------------------------------
# The step that confirms awards says it changed something; notes that are not holds are not read back as holds


def test_the_step_that_only_confirms_awards_says_it_changed_something(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, confirmations=2) as rig:
        ids = rig.queue(1)
        rig.step(2)  # sent and mined (the node mines each transaction), then its receipt recorded
        assert rig.statuses(ids) == [AwardStatus.SUBMITTED]
        assert not rig.step()  # nothing new
        node.mine(2)
        assert rig.step()  # confirmed, and nothing else: the next step comes at once
        assert rig.statuses(ids) == [AwardStatus.CONFIRMED]
        assert not rig.step()


def test_a_refusal_noted_before_a_restart_is_not_read_back_as_a_hold(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, resend_after_s=0.2, replace_after_blocks=100) as rig:
        node.set_automine(False)
        rig.queue(1)
        rig.step()
        (op,) = rig.operations()
        assert op.gas_limit is not None
        node.drop_all_transactions()
        node.rpc("evm_setBlockGasLimit", [hex(int(op.gas_limit) - 1)])
        time.sleep(0.25)
        rig.step()  # sent again, and refused in the node's words: a note, not a hold
        note = rig.operation(op.id).note
        assert note is not None
        assert note.startswith("the node refused it (intrinsic gas too high")
        assert rig.worker.held_ops == {}
        with restarted(rig, resend_after_s=3600) as again:  # the note is in the database
            again.worker.run_once()  # tries nothing again for resend_after_s
            assert again.worker.held_ops == {}
            assert again.worker.blocked_reason is None
            assert rig.operation(op.id).note == note


# ----------------------------------------------------------------------------------------------------------------
# A key rotated with a transaction of the old key in flight


def new_service_key(node: AnvilNode, rig: AnvilRig, keystore: Path) -> Signer:
    """A key for the service to rotate to: funded, a minter and an admin, in a keystore at ``keystore``."""
    key = Signer.create()
    node.set_balance(key.address, 100 * 10**18)
    rig.admin.grant_minter(key.address)
    make_admin(node, rig, key.address)
    key.to_keystore(keystore, "delivery-test", kdf="pbkdf2", iterations=2)
    return key


def test_a_transaction_a_previous_key_left_in_flight_is_never_signed_again_by_the_new_key(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    """The README asks to rotate the key once what it sent is confirmed. If not: the old key's transaction may still
    be mined (a node holds it, or the old process sends it again), so the new key must not sign the same awards at
    the old key's nonce (the contract does not refuse a request id twice: both would mint)."""
    with anvil_rig(node, tmp_path, resend_after_s=3600, replace_after_blocks=2) as rig:
        new_key = new_service_key(node, rig, tmp_path / "new-signer.json")
        node.set_automine(False)
        ids = rig.queue(1)
        rig.step()
        (op,) = rig.operations()
        old_raw = "0x" + bytes(op.versions[0].raw).hex()
        node.drop_all_transactions()  # the node forgot it; the old key's process is gone
        with restarted(rig, signer_keystore=tmp_path / "new-signer.json") as again:
            node.mine(2)  # stuck, for a key that could replace it
            again.worker.run_once()
            again.worker.run_once()
            assert len(rig.operation(op.id).versions) == 1
            node.rpc("eth_sendRawTransaction", [old_raw])  # it comes back
            node.mine(1)
            for _ in range(3):
                again.worker.run_once()
            assert rig.statuses(ids) == [AwardStatus.CONFIRMED]
            assert rig.admin.total_awarded() == 1
            assert node.rpc("eth_getTransactionCount", [new_key.address, "latest"]) == "0x0"


def test_what_a_previous_key_had_not_signed_yet_is_signed_by_the_new_key(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    """An operation waits unsigned in the outbox (a revocation requested a moment before the restart, or while the
    node was down): it is the key that delivers it that signs it, not the one the service had when it was asked."""
    with anvil_rig(node, tmp_path) as rig:
        ids = rig.queue(1)
        rig.deliver(ids)
        token_id = rig.award(ids[0]).token_id
        assert token_id is not None
        new_key = new_service_key(node, rig, tmp_path / "new-signer.json")
        rig.worker.stop(timeout=5)
        revoke_id = rig.revoke(token_id)  # asked of the service with the old key, which stops before signing it
        assert rig.operation(revoke_id).signer == rig.signer.address
        with restarted(rig, signer_keystore=tmp_path / "new-signer.json") as again:
            for _ in range(3):
                again.worker.run_once()
            revocation = rig.operation(revoke_id)
            assert (revocation.status, revocation.signer) == (OpStatus.DONE, new_key.address)
            assert rig.award(ids[0]).revoked_at is not None
            assert rig.admin.kudos_many([token_id]) == [None]  # revoked on chain
