"""The delivery worker's steps (:mod:`kudos_service.delivery.worker`) run one by one on an embedded chain:
batches sized and numbered, an award that would revert failed alone, pending operations signed or failed, what
holds delivery back (the fee cap, a paused contract, another chain) reported once, and the thread that runs the
steps, with its back-off after errors."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from kudos_service.chain_access import ChainContext, ChainHolder, chain_identity
from kudos_service.delivery.fees import Head
from kudos_service.delivery.outbox import request_call, request_revoke
from kudos_service.delivery.worker import Worker
from kudos_service.models import ApiKey, Award, AwardStatus, Deployment, Operation, OpKind, OpStatus, TxStatus, utcnow
from sqlalchemy import select

from kudos_chain import Award as ChainAward
from kudos_chain import ContractRevertError, RevokeReason
from kudos_chain.client import revoke_calldata
from kudos_chain.exceptions import TokenNotFoundError
from tests.service.delivery.conftest import Rig, blocked, embedded_rig, new_award

ZERO_ADDRESS = "0x" + "00" * 20


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with embedded_rig(tmp_path) as running:
        yield running


def test_queued_awards_are_signed_in_one_batch_and_confirmed_from_its_receipt(rig: Rig) -> None:
    ids = rig.queue(2) + rig.queue(1, transferable=True)
    assert rig.worker.queue_depth() == 3
    assert rig.step()
    (op,) = rig.operations()
    assert (op.kind, op.status, op.signer, op.to_address) == (
        OpKind.AWARD_BATCH,
        OpStatus.IN_FLIGHT,
        rig.ctx.signer.address,
        rig.ctx.client.address,
    )
    assert op.nonce == 1  # the deployment used nonce 0
    assert op.replacements == 0
    assert [v.status for v in op.versions] == [TxStatus.SENT]
    for award_id in ids:
        award = rig.award(award_id)
        assert (award.status, award.operation_id) == (AwardStatus.SUBMITTED, op.id)
        assert award.submitted_at is not None
    assert rig.worker.queue_depth() == 0
    assert rig.worker.in_flight_count() == 1
    assert rig.worker.metrics.in_flight._value.get() == 1

    assert rig.step()
    awards = [rig.award(award_id) for award_id in ids]
    assert [a.status for a in awards] == [AwardStatus.CONFIRMED] * 3
    op = rig.operation(op.id)
    assert op.status == OpStatus.DONE
    assert op.block_number is not None
    assert op.done_at is not None
    token_ids = [a.token_id for a in awards]
    assert len(set(token_ids)) == 3
    for award in awards:
        assert award.token_id is not None
        kudos = rig.ctx.client.kudos(award.token_id)
        assert (kudos.owner, kudos.request_id, kudos.content_hash) == (
            award.recipient,
            award.request_id,
            award.content_hash,
        )
        assert (kudos.kind, kudos.transferable) == (award.kind_id, award.transferable)
        assert (award.block_number, award.tx_id) == (op.block_number, op.versions[0].id)
        assert award.confirmed_at is not None
    assert [a.transferable for a in awards] == [False, False, True]
    assert rig.worker.in_flight_count() == 0
    assert rig.worker.blocked_reason is None
    assert not rig.step()  # nothing left to do


def test_a_quiet_step_does_nothing(rig: Rig) -> None:
    assert not rig.step()
    assert rig.operations() == []
    assert rig.worker.metrics.head_block._value.get() == rig.head().number


@pytest.mark.parametrize(
    ("limit", "gas_per_kudos", "gas_limit", "size"),
    [
        (100, 55_000, 30_000_000, 88),  # 6 batches of 88 fill a block; 5 of 100 would leave a sixth out
        (200, 55_000, 60_000_000, 176),
        (100, 55_000, 1_000_000, 17),  # a small block: as many as fit
        (100, 55_000, 50_000, 1),  # not even one fits: one all the same
        (2, 55_000, 30_000_000, 1),
        (100, 200_000, 60_000_000, 72),  # within EIP-7825's 2**24 gas of one transaction
        (100, 30_000, 36_000_000, 97),
    ],
)
def test_a_batch_is_sized_so_that_whole_batches_fill_a_block(
    rig: Rig, limit: int, gas_per_kudos: int, gas_limit: int, size: int
) -> None:
    rig.worker.settings.batch_max_size = limit
    rig.worker._gas_per_kudos = float(gas_per_kudos)
    assert rig.worker._batch_size(Head(1, b"", 10**9, gas_limit)) == size


def test_batches_hold_at_most_the_batch_size_and_take_consecutive_nonces(tmp_path: Path) -> None:
    with embedded_rig(tmp_path, batch_max_size=4) as rig:
        ids = rig.queue(7)
        rig.step()
        ops = rig.operations()
        assert [op.nonce for op in ops] == [1, 2, 3]
        sizes = [[rig.award(i).operation_id for i in ids].count(op.id) for op in ops]
        assert sizes == [3, 3, 1]  # three fill a block better than four (see the sizes above)
        # The gas limit of each is its estimate and a margin of 3 %.
        for op in ops:
            estimate = rig.ctx.chain.estimate_gas_many(
                [{"from": rig.ctx.signer.address, "to": op.to_address, "data": op.data}]
            )
            assert op.gas_limit is not None
            assert isinstance(estimate[0], int)
        rig.deliver(ids)
        assert rig.statuses(ids) == [AwardStatus.CONFIRMED] * 7
        gas_used = [rig.operation(op.id).gas_used for op in ops]
        assert all(g is not None for g in gas_used)
        for op, used in zip(ops[:2], gas_used[:2], strict=True):
            assert op.gas_limit is not None
            assert used is not None
            assert used < op.gas_limit < used * 1.25  # a margin over an estimate a little above the use


def test_the_gas_of_one_kudos_is_learnt_from_the_estimate(rig: Rig) -> None:
    assert rig.worker._gas_per_kudos == 55_000
    ids = rig.queue(4)
    rig.step()
    (op,) = rig.operations()
    assert op.gas_limit is not None
    assert rig.worker._gas_per_kudos == pytest.approx(op.gas_limit / 1.03 / 4, rel=0.01)
    rig.deliver(ids)


def test_a_batch_that_is_not_full_waits_for_the_longest_wait(tmp_path: Path) -> None:
    with embedded_rig(tmp_path, batch_max_size=4, batch_max_wait_ms=60_000) as rig:
        ids = rig.queue(4)
        rig.step()
        assert rig.statuses(ids) == [AwardStatus.SUBMITTED] * 3 + [AwardStatus.QUEUED]
        assert len(rig.operations()) == 1


def test_no_more_than_max_in_flight_are_in_flight(tmp_path: Path) -> None:
    with embedded_rig(tmp_path, batch_max_size=4, max_in_flight=1) as rig:
        ids = rig.queue(6)
        rig.step()
        assert len(rig.operations()) == 1
        assert rig.statuses(ids).count(AwardStatus.SUBMITTED) == 3
        rig.step()  # the first is recorded (mined), the room it leaves is filled
        assert len(rig.operations()) == 2
        rig.deliver(ids)
        assert rig.statuses(ids) == [AwardStatus.CONFIRMED] * 6


def test_an_award_that_would_revert_fails_alone_and_the_others_are_delivered(rig: Rig) -> None:
    good = rig.queue(2)
    (bad,) = rig.queue(1, recipient=ZERO_ADDRESS)
    good += rig.queue(1)
    rig.step()
    failed = rig.award(bad)
    assert failed.status == AwardStatus.FAILED
    assert failed.failure_reason == f"{ZERO_ADDRESS} cannot receive a kudos"
    assert rig.statuses(good) == [AwardStatus.QUEUED] * 3  # the good ones wait for the next step
    assert rig.operations() == []
    rig.deliver(good)
    assert rig.statuses(good) == [AwardStatus.CONFIRMED] * 3
    assert rig.award(bad).status == AwardStatus.FAILED


def test_a_revocation_is_signed_sent_and_recorded_when_done(rig: Rig) -> None:
    (award_id,) = rig.queue(1)
    rig.deliver([award_id])
    token_id = rig.award(award_id).token_id
    assert token_id is not None
    with rig.db.session() as session:
        op_id = request_revoke(
            session,
            signer="",  # requested while the chain was closed: the worker signs with its key
            contract=rig.ctx.client.address,
            token_id=token_id,
            reason="fraud",
            api_key_id=rig.api_key.id,
            idempotency_key=None,
        ).operation.id
        data = session.get_one(Operation, op_id).data
    (estimate,) = rig.ctx.chain.estimate_gas_many(
        [{"from": rig.ctx.signer.address, "to": rig.ctx.client.address, "data": data}]
    )
    assert isinstance(estimate, int)
    assert rig.step()
    op = rig.operation(op_id)
    assert (op.status, op.signer, op.note) == (OpStatus.IN_FLIGHT, rig.ctx.signer.address, None)
    assert op.gas_limit == math.ceil(estimate * 1.2)  # the policy's headroom over the estimate
    rig.step()
    assert rig.operation(op_id).status == OpStatus.DONE
    assert rig.award(award_id).revoked_at is not None
    assert revoked_on_chain(rig, token_id)


def revoked_on_chain(rig: Rig, token_id: int) -> bool:
    try:
        rig.ctx.client.kudos(token_id)
    except TokenNotFoundError:
        return True
    return False


def test_a_pending_operation_that_would_revert_fails_and_awards_go_on(rig: Rig) -> None:
    with rig.db.session() as session:
        op_id = request_call(
            session,
            signer=rig.ctx.signer.address,
            contract=rig.ctx.client.address,
            data=revoke_calldata(424242, RevokeReason.MISTAKE),
            label="revoke a kudos that does not exist",
        ).id
        good_id = request_call(
            session,
            signer=rig.ctx.signer.address,
            contract=rig.ctx.client.address,
            data=rig.ctx.client.award_calldata(_chain_award(rig)),
            label="one award",
        ).id
    ids = rig.queue(2)
    rig.step()
    failed = rig.operation(op_id)
    assert failed.status == OpStatus.FAILED
    assert failed.error == "kudos 424242 does not exist"
    assert failed.versions == []
    good = rig.operation(good_id)
    assert good.status == OpStatus.IN_FLIGHT
    assert good.nonce == 1  # the failed one took no nonce
    assert rig.statuses(ids) == [AwardStatus.SUBMITTED] * 2
    (batch,) = rig.operations(OpKind.AWARD_BATCH)
    assert batch.nonce == 2


def _chain_award(rig: Rig) -> ChainAward:
    return ChainAward(rig.ctx.signer.address, 1, b"\x11" * 32, b"\x22" * 32, False)


def test_a_paused_contract_holds_delivery_back_until_it_is_unpaused(rig: Rig) -> None:
    rig.ctx.client.pause()
    with rig.db.session() as session:
        op_id = request_call(
            session,
            signer=rig.ctx.signer.address,
            contract=rig.ctx.client.address,
            data=rig.ctx.client.award_calldata(_chain_award(rig)),
            label="one award",
        ).id
    ids = rig.queue(2)
    assert not rig.step()
    assert rig.worker.blocked_reason is not None
    assert "paused" in rig.worker.blocked_reason
    assert rig.operation(op_id).status == OpStatus.PENDING
    assert rig.statuses(ids) == [AwardStatus.QUEUED] * 2
    rig.ctx.client.unpause()
    rig.deliver(ids)
    assert blocked(rig) is None
    assert rig.operation(op_id).status == OpStatus.DONE


def test_another_chain_stops_delivery_before_anything_is_written(rig: Rig) -> None:
    assert not rig.step()
    client = rig.ctx.client
    with rig.db.session() as session:
        deployment = session.scalars(select(Deployment)).one()
        # remembered at the first check
        assert (deployment.genesis_hash, deployment.code_hash) == chain_identity(client.chain, client.address)
        genesis = deployment.genesis_hash
        deployment.genesis_hash = b"\x07" * 32
    first = rig.queue(1)
    assert rig.step()  # checked every chain_check_s (5 s), not at every step
    assert rig.statuses(first) == [AwardStatus.SUBMITTED]
    rig.worker.forget_chain()  # as after an error: checked at the next step
    ids = rig.queue(1)
    waits = _Waits(stop_after=1000)
    rig.worker._stop = waits
    assert not rig.step()
    assert waits.waits == [1.0]  # a second before the next look
    assert blocked(rig) == (
        f"the node answers for another chain: its genesis block is 0x{rig.ctx.chain.genesis_hash().hex()[:16]}…, "
        "not 0x0707070707070707… as when the service started on it (a development node started again without its "
        "state, or another network); delivery stopped and nothing was written. Deploy the contract again and run "
        "`kudos chain redeliver` to deliver the awards on this chain"
    )
    assert rig.statuses(ids) == [AwardStatus.QUEUED]
    assert rig.statuses(first) == [AwardStatus.SUBMITTED]  # nothing recorded either
    with rig.db.session() as session:
        deployment = session.scalars(select(Deployment)).one()
        deployment.genesis_hash = genesis
        code_hash = deployment.code_hash
        deployment.code_hash = b"\x09" * 32
    assert not rig.step()  # checked at every step while it is held
    assert blocked(rig) == (
        f"the node answers for another chain: the contract {client.address} has other code than when the service "
        "started (none, or another contract); delivery stopped and nothing was written. Deploy the contract again "
        "and run `kudos chain redeliver` to deliver the awards on this chain"
    )
    with rig.db.session() as session:
        session.scalars(select(Deployment)).one().code_hash = code_hash
    rig.deliver(first + ids)
    assert blocked(rig) is None


def test_a_database_without_a_deployment_has_no_identity_to_check(rig: Rig) -> None:
    with rig.db.session() as session:
        session.delete(session.scalars(select(Deployment)).one())
    assert rig.worker.check_identity(rig.ctx, force=True)
    with rig.db.session() as session:
        assert session.scalars(select(Deployment)).first() is None


def test_an_award_its_batch_was_mined_without_fails(rig: Rig) -> None:
    ids = rig.queue(1)
    rig.step()
    (op,) = rig.operations()
    with rig.db.session() as session:  # an award the batch does not hold, attached to it
        key = session.get_one(ApiKey, rig.api_key.id)
        stray = new_award(session, key, status=AwardStatus.SUBMITTED)
        stray.operation_id = op.id
        stray_id = stray.id
    rig.step()
    award = rig.award(stray_id)
    assert award.status == AwardStatus.FAILED
    assert award.failure_reason == f"transaction {op.versions[0].tx_hash} was mined without this award"
    assert rig.statuses(ids) == [AwardStatus.CONFIRMED]


def test_confirmation_times_are_measured(rig: Rig) -> None:
    ids = rig.queue(2)
    rig.deliver(ids)
    registry = rig.worker.metrics.registry
    assert registry.get_sample_value("kudos_award_confirmation_seconds_count") == 2
    total = registry.get_sample_value("kudos_award_confirmation_seconds_sum")
    assert total is not None
    assert 0 < total < 60


def test_the_wallet_index_follows_the_deliveries(rig: Rig) -> None:
    ids = rig.queue(2)
    rig.deliver(ids)
    indexer = rig.worker.indexer(rig.ctx)
    assert indexer is rig.worker.indexer(rig.ctx)  # one index per client
    last = indexer.last_block()
    assert last is not None
    assert last >= (rig.operations()[0].block_number or 0) > 0
    assert rig.worker.metrics.indexed_block._value.get() == last


# ----------------------------------------------------------------------------------------------------------------
# The thread


def test_the_thread_delivers_what_it_is_woken_for_and_stops(rig: Rig) -> None:
    rig.worker.start()
    thread = rig.worker._thread
    assert thread is not None
    assert thread.daemon
    assert thread.name == "kudos-worker"
    assert rig.worker._index_thread is None  # the embedded chain is indexed in the worker's own thread
    ids = rig.queue(2)
    rig.worker.wake()
    deadline = time.monotonic() + 20
    while rig.statuses(ids) != [AwardStatus.CONFIRMED] * 2:
        assert time.monotonic() < deadline, rig.statuses(ids)
        time.sleep(0.02)
    rig.worker.stop()
    assert not thread.is_alive()


class _Waits(threading.Event):
    """The worker's stop event, recording how long it was asked to wait (and not waiting)."""

    def __init__(self, stop_after: int, *, then: threading.Event | None = None) -> None:
        super().__init__()
        self.waits: list[float] = []
        self.stop_after = stop_after
        self.then = then

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float(timeout or 0))
        if len(self.waits) >= self.stop_after:
            (self.then or self).set()
        return self.is_set()


class _Failing(Worker):
    """A worker whose steps raise ``errors`` in turn (then work)."""

    def __init__(self, worker: Worker, errors: list[BaseException | None]) -> None:
        super().__init__(worker.settings, worker.db, worker.chain, worker.metrics)
        self.errors = errors
        self.steps = 0

    def run_once(self) -> bool:
        self.steps += 1
        if self.steps > 50:  # a loop that no longer waits: end it, and let the assertions say so
            self._stop.set()
        error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error
        return True


def test_errors_back_off_doubling_to_ten_seconds_and_reset_after_a_step(rig: Rig) -> None:
    errors: list[BaseException | None] = [OSError("connection refused")] * 6 + [None] + [RuntimeError("bug")] * 6
    worker = _Failing(rig.worker, errors)
    worker._stop = _Waits(stop_after=12)
    worker._identity_checked = 123.0
    worker._tracked_head = (1, b"x")
    worker._run()
    assert worker._stop.waits == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0] * 2
    assert worker.blocked_reason == "OSError: connection refused"
    assert rig.state.chain.last_error == "OSError: connection refused"
    assert worker._identity_checked == -math.inf  # checked again after an error
    assert worker._tracked_head is None


def test_a_step_that_did_nothing_waits_for_the_poll_interval_or_a_wake(rig: Rig) -> None:
    class Idle(Worker):
        steps = 0

        def run_once(self) -> bool:
            self.steps += 1
            if self.steps > 50:  # a loop that no longer waits: end it, and let the assertions say so
                self._stop.set()
            return False

    worker = Idle(rig.worker.settings, rig.worker.db, rig.worker.chain, rig.worker.metrics)
    worker._wake = _Waits(stop_after=1000)
    worker._stop = _Waits(stop_after=1000)
    calls = 0

    def wait(timeout: float | None = None) -> bool:
        nonlocal calls
        calls += 1
        assert timeout == pytest.approx(0.01)
        if calls == 3:
            worker._stop.set()
        worker._wake.set()  # cleared after each wait
        return True

    worker._wake.wait = wait  # type: ignore[method-assign]
    worker._run()
    assert calls == 3
    assert not worker._wake.is_set()


def test_no_batch_is_signed_while_the_gas_in_flight_fills_the_blocks_before_a_replacement(rig: Rig) -> None:
    head = rig.head()
    with rig.db.session() as session:  # a transaction of the signer in flight, as large as two blocks
        held = Operation(
            kind=OpKind.CALL,
            status=OpStatus.IN_FLIGHT,
            signer=rig.ctx.signer.address,
            to_address=rig.ctx.client.address,
            data=b"",
            gas_limit=2 * head.gas_limit,
            replacements=0,
        )
        session.add(held)
    assert rig.worker._in_flight(rig.db.sessions(), rig.ctx.signer.address) == (1, 2 * head.gas_limit)
    ids = rig.queue(2)
    assert not rig.step()
    assert rig.statuses(ids) == [AwardStatus.QUEUED] * 2
    with rig.db.session() as session:  # room for one small batch: one is signed, all the same
        session.get_one(Operation, held.id).gas_limit = 2 * head.gas_limit - 1_000
    assert rig.step()
    assert rig.statuses(ids) == [AwardStatus.SUBMITTED] * 2
    assert len(rig.operations(OpKind.AWARD_BATCH)) == 1


def test_a_batch_that_reverts_though_no_award_alone_does_fails_none(rig: Rig) -> None:
    ids = rig.queue(2)
    error = ContractRevertError("KudosEmptyBatch", {}, "the batch is empty")
    with rig.db.session() as session:
        awards = [session.get_one(Award, i) for i in ids]
        with pytest.raises(ContractRevertError) as raised:
            rig.worker._isolate_failures(rig.ctx, session, awards, [_chain_award_of(a) for a in awards], error)
        assert raised.value is error
    assert rig.worker.hold == f"an award batch would revert: {error}"
    assert rig.statuses(ids) == [AwardStatus.QUEUED] * 2


def _chain_award_of(award: Award) -> ChainAward:
    return ChainAward(award.recipient, award.kind_id, award.content_hash, award.request_id, award.transferable)


def test_the_index_thread_refreshes_when_woken_and_at_most_every_second(tmp_path: Path) -> None:
    class Counting(Worker):
        def __init__(self, worker: Worker, failures: int) -> None:
            super().__init__(worker.settings, worker.db, worker.chain, worker.metrics)
            self.synced = 0
            self.failures = failures

        def sync_index(self, ctx: ChainContext) -> None:
            self.synced += 1
            if self.failures:
                self.failures -= 1
                raise OSError("the node hung up")
            super().sync_index(ctx)

    with embedded_rig(tmp_path) as rig:
        worker = Counting(rig.worker, failures=1)
        worker._stop = _Waits(stop_after=3)
        worker._index_wake = _Waits(stop_after=50, then=worker._stop)  # ends a loop that no longer refreshes
        worker._run_index()
        assert worker._index_wake.waits == [1.0, 1.0, 1.0]
        assert worker.synced == 3  # the failed refresh is tried again at the next round
        assert len(worker._stop.waits) == 3
        assert all(0.9 < w < 1.0 for w in worker._stop.waits[1:])  # a second from the last refresh, less the time since
        assert worker.indexer(rig.ctx).last_block() == rig.head().number


def test_the_index_thread_waits_for_the_chain_to_be_opened(tmp_path: Path) -> None:
    with embedded_rig(tmp_path) as rig:
        closed = ChainHolder(rig.worker.settings, rig.db)
        worker = Worker(rig.worker.settings, rig.worker.db, closed, rig.worker.metrics)
        worker._stop = _Waits(stop_after=1000)
        worker._index_wake = _Waits(stop_after=3, then=worker._stop)
        worker._run_index()
        assert worker._index_wake.waits == [1.0, 1.0, 1.0]
        assert worker._stop.waits == []  # nothing refreshed, nothing to wait for


def test_a_step_that_recorded_deliveries_refreshes_the_index_while_awards_wait(tmp_path: Path) -> None:
    with embedded_rig(tmp_path, batch_max_size=4, batch_max_wait_ms=60_000) as rig:
        ids = rig.queue(4)  # a full batch of three, and one that waits for more
        rig.step()
        assert rig.statuses(ids) == [AwardStatus.SUBMITTED] * 3 + [AwardStatus.QUEUED]
        rig.step()  # recorded and confirmed; nothing sent: the index follows at once, not within the second
        assert rig.statuses(ids) == [AwardStatus.CONFIRMED] * 3 + [AwardStatus.QUEUED]
        assert rig.worker.indexer(rig.ctx).last_block() == rig.head().number


def test_a_step_that_worked_wakes_the_index_thread(rig: Rig) -> None:
    rig.worker._index_thread = threading.Thread(target=lambda: None)  # as on a real chain (not started)
    try:
        assert not rig.step()
        assert not rig.worker._index_wake.is_set()
        rig.queue(1)
        rig.step()  # sent: nothing recorded yet
        assert not rig.worker._index_wake.is_set()
        rig.step()  # recorded
        assert rig.worker._index_wake.is_set()
        # Nothing waits: the new blocks are indexed before the awards read as confirmed.
        assert rig.worker.indexer(rig.ctx).last_block() == rig.head().number
    finally:
        rig.worker._index_thread = None


def test_pending_operations_take_the_room_in_flight_before_batches(tmp_path: Path) -> None:
    with embedded_rig(tmp_path, max_in_flight=1) as rig:
        with rig.db.session() as session:
            op_id = request_call(
                session,
                signer=rig.ctx.signer.address,
                contract=rig.ctx.client.address,
                data=rig.ctx.client.award_calldata(_chain_award(rig)),
                label="one award",
            ).id
        ids = rig.queue(1)
        rig.step()
        assert rig.operation(op_id).status == OpStatus.IN_FLIGHT
        assert rig.statuses(ids) == [AwardStatus.QUEUED]
        rig.deliver(ids)


def test_the_oldest_awards_are_batched_first_and_a_batch_that_waited_long_enough_goes(tmp_path: Path) -> None:
    with embedded_rig(tmp_path, batch_max_size=4, batch_max_wait_ms=60_000) as rig:
        new = rig.queue(3)
        (old,) = rig.queue(1)
        with rig.db.session() as session:  # accepted two minutes ago (stored last)
            session.get_one(Award, old).created_at = utcnow() - timedelta(minutes=2)
        rig.step()
        # Batches of three: the old award and the two oldest new ones; the last new one waits for more.
        assert rig.statuses([old, *new]) == [AwardStatus.SUBMITTED] * 3 + [AwardStatus.QUEUED]
    with embedded_rig(tmp_path / "second", batch_max_size=4, batch_max_wait_ms=60_000) as rig:
        (waited,) = rig.queue(1)
        with rig.db.session() as session:
            session.get_one(Award, waited).created_at = utcnow() - timedelta(minutes=2)
        rig.step()
        assert rig.statuses([waited]) == [AwardStatus.SUBMITTED]  # not full, but it waited long enough


def test_gas_limits_never_exceed_the_block_s(rig: Rig) -> None:
    with rig.db.session() as session:
        op = request_call(
            session,
            signer=rig.ctx.signer.address,
            contract=rig.ctx.client.address,
            data=rig.ctx.client.award_calldata(_chain_award(rig)),
            label="one award",
        )
        head = rig.head()
        small = Head(head.number, head.hash, head.base_fee, 60_000)
        fees = rig.ctx.manager.fees_for(head.base_fee)
        signed = rig.worker._next_pending(rig.ctx, session, small, 1, fees)
        assert signed is not None
        assert (signed.gas, op.gas_limit) == (60_000, 60_000)
        batch = [new_award(session, session.get_one(ApiKey, rig.api_key.id))]
        batches = rig.worker._next_batches(rig.ctx, session, small, 2, fees, 1, 10**9)
        assert [b.gas for b in batches] == [60_000]
        assert batch[0].status == AwardStatus.SUBMITTED
        session.rollback()


def test_a_reorg_on_another_chain_writes_nothing(rig: Rig) -> None:
    ids = rig.queue(1)
    rig.deliver(ids)
    (op,) = rig.operations()
    sent = rig.queue(1)
    rig.step()  # sent: the next step reads receipts
    with rig.db.session() as session:  # the first block looks replaced, and the stored chain is another one
        session.get_one(Operation, op.id).block_hash = b"\x01" * 32
        session.scalars(select(Deployment)).one().genesis_hash = b"\x07" * 32
    waiting = rig.queue(1)
    assert not rig.step()
    assert rig.operation(op.id).status == OpStatus.DONE  # not undone
    assert rig.statuses(ids) == [AwardStatus.CONFIRMED]
    assert rig.statuses(sent) == [AwardStatus.SUBMITTED]  # its receipt not recorded
    assert rig.statuses(waiting) == [AwardStatus.QUEUED]  # and nothing new signed or sent
    assert rig.worker.metrics.reorgs._value.get() == 0
    reason = blocked(rig)
    assert reason is not None
    assert reason.startswith("the node answers for another chain")


def test_stop_waits_for_a_step_that_hangs_no_longer_than_its_timeout(rig: Rig) -> None:
    release = threading.Event()

    class Hanging(Worker):
        def run_once(self) -> bool:
            release.wait(30)  # a node that does not answer
            return False

    worker = Hanging(rig.worker.settings, rig.worker.db, rig.worker.chain, rig.worker.metrics)
    worker.start()
    try:
        started = time.monotonic()
        worker.stop(timeout=0.2)
        assert time.monotonic() - started < 5
        assert worker._thread is not None
        assert worker._thread.is_alive()  # still in its step: stop returned all the same
    finally:
        release.set()
    worker._thread.join(10)
    assert not worker._thread.is_alive()  # and it ends after the step


def test_a_reorg_of_another_operation_on_a_revoked_kudos_leaves_the_revocation(rig: Rig) -> None:
    ids = rig.queue(1)
    rig.deliver(ids)
    token_id = rig.award(ids[0]).token_id
    assert token_id is not None
    revoke_id = rig.revoke(token_id)
    rig.step(2)
    assert rig.operation(revoke_id).status == OpStatus.DONE
    with rig.db.session() as session:  # a recovery of the kudos, done in a block a reorg replaced
        recovery = Operation(
            kind=OpKind.RECOVER,
            status=OpStatus.DONE,
            signer=rig.ctx.signer.address,
            to_address=rig.ctx.client.address,
            data=b"",
            token_id=token_id,
            block_number=rig.head().number,
            block_hash=b"\x01" * 32,
            replacements=0,
        )
        session.add(recovery)
    rig.worker.forget_chain()  # the receipts and blocks are read again
    rig.step()
    assert rig.operation(recovery.id).status == OpStatus.IN_FLIGHT
    assert rig.award(ids[0]).revoked_at is not None  # only undoing a revocation brings a kudos back
