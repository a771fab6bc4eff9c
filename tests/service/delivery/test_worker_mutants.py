"""The delivery worker (:mod:`kudos_service.delivery.worker`): the bounds and the corners that mutation testing
found untested. What the node said to a new transaction it refused; the balance a signer needs to hold and how
often it is read; no room in flight, by count or by gas, asking the chain for nothing (no fees, no balance); an
operation asked under a previous key; the room that pending operations take and the batches that take what they
leave; when the wallet index is refreshed (the worker's clock held); the log lines that say once when delivery
begins and ends waiting; how many awards of a batch are failed; how long ``stop`` waits. On an anvil node of the
module's own, or on the embedded chain; the worker's steps run one by one."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from fractions import Fraction
from pathlib import Path

import pytest
from eth_utils.address import to_checksum_address
from kudos_service.delivery import worker as worker_module
from kudos_service.delivery.fees import HELD_BY_FEES, Head, eth, fees_for_new, stuck_on_fees
from kudos_service.delivery.outbox import request_call
from kudos_service.models import Award, AwardStatus, Operation, OpKind, OpStatus

from kudos_chain import Award as ChainAward
from kudos_chain import Signer
from kudos_chain.exceptions import FeeCapExceededError
from kudos_chain.testing import AnvilNode
from tests.service.delivery.conftest import Rig, anvil_rig, blocked, embedded_rig

GWEI = 10**9
ZERO_ADDRESS = "0x" + "00" * 20
WORKER_LOG = "kudos_service.delivery.worker"


@pytest.fixture
def automine(node: AnvilNode) -> Iterator[None]:
    """Mining each transaction as it comes again after the test, an empty pool, and a base fee of a gwei."""
    try:
        yield
    finally:
        node.set_next_base_fee(GWEI)
        node.drop_all_transactions()
        node.set_automine(True)


class _Clock:
    """The worker module's ``time``, held still: ``monotonic`` reads ``now`` until a test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    held = _Clock(1000.0)
    monkeypatch.setattr(worker_module, "time", held)
    return held


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with embedded_rig(tmp_path) as running:
        yield running


def _needed(rig: Rig) -> int:
    """What one full batch costs at the fees of a new transaction on the current head, as the worker reckons it."""
    fees = fees_for_new(rig.ctx.manager, rig.head())
    per_batch = math.ceil(rig.worker._gas_per_kudos * 1.03 * rig.worker.settings.batch_max_size)
    return per_batch * fees.max_fee_per_gas


def _funds_hold(rig: Rig, balance: int, needed: int) -> str:
    return (
        f"the signer {rig.ctx.signer.address} holds {eth(balance)}, less than one batch needs at the current fees "
        f"(about {eth(needed)}): awards wait in the queue until it is funded"
    )


def _in_flight_of(rig: Rig, gas: int) -> int:
    """A transaction of the signer in flight (not on chain) whose gas limit is ``gas``; its operation's id."""
    with rig.db.session() as session:
        held = Operation(
            kind=OpKind.CALL,
            status=OpStatus.IN_FLIGHT,
            signer=rig.ctx.signer.address,
            to_address=rig.ctx.client.address,
            data=b"",
            gas_limit=gas,
            replacements=0,
        )
        session.add(held)
        session.flush()
        return held.id


def _calls(rig: Rig, count: int) -> list[int]:
    """``count`` pending calls, each of an award of its own to the signer; their operations' ids."""
    with rig.db.session() as session:
        return [
            request_call(
                session,
                signer=rig.ctx.signer.address,
                contract=rig.ctx.client.address,
                data=rig.ctx.client.award_calldata(
                    ChainAward(rig.ctx.signer.address, 1, bytes([n + 1]) * 32, bytes([n + 101]) * 32, False)
                ),
                label=f"award {n}",
            ).id
            for n in range(count)
        ]


# ----------------------------------------------------------------------------------------------------------------
# What the node said to a new transaction


def test_a_new_transaction_the_node_refuses_is_noted_in_its_words(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, resend_after_s=3600) as rig:
        node.set_automine(False)
        node.set_next_base_fee(1000 * GWEI)  # the next block's: the head still says about 1 gwei
        ids = rig.queue(1)
        assert rig.step()  # estimated, signed, stored and sent: refused
        (op,) = rig.operations()
        assert op.status == OpStatus.IN_FLIGHT
        assert op.note == "the node refused it (max fee per gas less than block base fee); it is sent again in 3600 s"
        assert rig.statuses(ids) == [AwardStatus.SUBMITTED]


# ----------------------------------------------------------------------------------------------------------------
# The signer's balance


def test_the_signer_must_hold_one_full_batch_at_the_current_fees(node: AnvilNode, tmp_path: Path) -> None:
    with anvil_rig(node, tmp_path) as rig:
        needed = _needed(rig)
        node.set_balance(rig.signer.address, needed - 1)
        ids = rig.queue(1)
        assert not rig.step()
        assert blocked(rig) == _funds_hold(rig, needed - 1, needed)
        assert rig.operations() == []
        assert rig.statuses(ids) == [AwardStatus.QUEUED]
        node.set_balance(rig.signer.address, needed)  # exactly one batch (no block mined: the same fees)
        rig.worker.note_no_funds()  # read the balance again now
        assert rig.step()
        assert blocked(rig) is None
        assert len(rig.operations()) == 1
        assert rig.statuses(ids) == [AwardStatus.SUBMITTED]
        assert rig.worker.metrics.signer_balance._value.get() == needed


def test_the_balance_is_read_again_once_two_seconds_have_passed(node: AnvilNode, tmp_path: Path, clock: _Clock) -> None:
    with anvil_rig(node, tmp_path) as rig:
        first = rig.queue(1)
        assert rig.step()  # the balance read now, at 1000 s
        assert rig.statuses(first) == [AwardStatus.SUBMITTED]
        low = _needed(rig) // 5  # enough for a batch of one, not for a full batch
        node.set_balance(rig.signer.address, low)
        clock.now = 1002.0
        second = rig.queue(1)
        assert rig.step()  # two seconds exactly: the balance read at 1000 s still holds
        assert blocked(rig) is None
        assert rig.statuses(second) == [AwardStatus.SUBMITTED]
        clock.now = 1002.5
        third = rig.queue(1)
        needed, left = _needed(rig), rig.ctx.chain.balance(rig.signer.address)  # less the second batch's gas
        assert left < low
        rig.step()  # read again: too little for a full batch
        assert blocked(rig) == _funds_hold(rig, left, needed)
        assert rig.statuses(third) == [AwardStatus.QUEUED]
        assert rig.worker.metrics.signer_balance._value.get() == left


# ----------------------------------------------------------------------------------------------------------------
# Room in flight


def test_with_no_room_in_flight_nothing_is_signed_and_nothing_asked_of_the_chain(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path, max_in_flight=1, resend_after_s=3600) as rig:
        node.set_automine(False)
        first = rig.queue(1)
        assert rig.step()
        (op,) = rig.operations()
        second = rig.queue(1)
        assert not rig.step()  # the one transaction in flight is not mined: no room
        assert [o.id for o in rig.operations()] == [op.id]
        assert rig.statuses(first + second) == [AwardStatus.SUBMITTED, AwardStatus.QUEUED]
        node.set_balance(rig.signer.address, 0)
        rig.worker.note_no_funds()
        assert not rig.step()  # no room: neither fees nor the balance are read, so nothing holds delivery back
        assert blocked(rig) is None
        assert rig.statuses(second) == [AwardStatus.QUEUED]


def test_with_replacement_after_two_blocks_the_gas_in_flight_fills_one_block(tmp_path: Path) -> None:
    with embedded_rig(tmp_path, replace_after_blocks=2) as rig:
        head = rig.head()
        held = _in_flight_of(rig, head.gas_limit)  # as large as a block
        ids = rig.queue(2)
        assert not rig.step()  # one block before it counts as stuck, and that block is full
        assert rig.statuses(ids) == [AwardStatus.QUEUED] * 2
        with rig.db.session() as session:  # room for one small batch
            session.get_one(Operation, held).gas_limit = head.gas_limit - 1_000
        assert rig.step()
        assert rig.statuses(ids) == [AwardStatus.SUBMITTED] * 2


def test_the_fee_cap_is_read_only_while_there_is_gas_room_in_flight(node: AnvilNode, tmp_path: Path) -> None:
    with anvil_rig(node, tmp_path, max_fee_per_gas=1) as rig:  # a cap below any base fee
        head = rig.head()
        with pytest.raises(FeeCapExceededError) as raised:
            fees_for_new(rig.ctx.manager, head)
        held = _in_flight_of(rig, 2 * head.gas_limit)  # the two blocks before a replacement are full
        ids = rig.queue(1)
        assert not rig.step()
        assert blocked(rig) is None  # no room: nothing is priced, so the cap holds nothing back
        with rig.db.session() as session:  # one gas of room: priced, and held back by the cap
            session.get_one(Operation, held).gas_limit = 2 * head.gas_limit - 1
        assert not rig.step()
        assert blocked(rig) == stuck_on_fees(raised.value)
        assert rig.statuses(ids) == [AwardStatus.QUEUED]


def test_a_pending_operation_asked_under_another_key_is_work_for_this_one(node: AnvilNode, tmp_path: Path) -> None:
    with anvil_rig(node, tmp_path, max_fee_per_gas=1) as rig:  # a cap below any base fee
        other = Signer.create().address  # the service's key when it was asked, rotated since
        with rig.db.session() as session:
            op_id = request_call(
                session,
                signer=other,
                contract=rig.ctx.client.address,
                data=rig.ctx.client.award_calldata(ChainAward(other, 1, b"\x11" * 32, b"\x22" * 32, False)),
                label="an award asked under another key",
            ).id
        assert not rig.step()
        reason = blocked(rig)  # something to sign: priced, and held back by the cap
        assert reason is not None
        assert reason.endswith(HELD_BY_FEES)
        assert rig.operation(op_id).status == OpStatus.PENDING


def test_pending_operations_take_one_room_in_flight_each(tmp_path: Path) -> None:
    with embedded_rig(tmp_path, max_in_flight=1) as rig:
        first, second = _calls(rig, 2)
        head = rig.head()
        assert rig.step()
        assert rig.operation(first).sent_block == head.number  # signed on this head (what "stuck" counts from)
        assert (rig.operation(first).status, rig.operation(second).status) == (OpStatus.IN_FLIGHT, OpStatus.PENDING)
        rig.step()  # the first recorded (and done), the second signed in its room
        assert (rig.operation(first).status, rig.operation(second).status) == (OpStatus.DONE, OpStatus.IN_FLIGHT)


def test_a_pending_operation_asked_under_another_key_is_signed_by_this_one(rig: Rig) -> None:
    other = Signer.create().address  # the service's key when it was asked, rotated since
    with rig.db.session() as session:
        op_id = request_call(
            session,
            signer=other,
            contract=rig.ctx.client.address,
            data=rig.ctx.client.award_calldata(ChainAward(other, 1, b"\x11" * 32, b"\x22" * 32, False)),
            label="an award asked under another key",
        ).id
    ids = rig.queue(1)
    assert rig.step()
    assert rig.statuses(ids) == [AwardStatus.SUBMITTED]
    op = rig.operation(op_id)
    assert (op.signer, len(op.versions)) == (rig.ctx.signer.address, 1)
    assert op.status in (OpStatus.IN_FLIGHT, OpStatus.MINED, OpStatus.DONE)


def test_another_signer_s_transactions_in_flight_take_no_room_of_this_one(tmp_path: Path) -> None:
    with embedded_rig(tmp_path, max_in_flight=1) as rig:
        with rig.db.session() as session:  # another key's, in flight, as large as the blocks before a replacement
            session.add(
                Operation(
                    kind=OpKind.CALL,
                    status=OpStatus.IN_FLIGHT,
                    signer=Signer.create().address,
                    to_address=rig.ctx.client.address,
                    data=b"",
                    gas_limit=2 * rig.head().gas_limit,
                    replacements=0,
                )
            )
        assert rig.worker._in_flight(rig.db.sessions(), rig.ctx.signer.address) == (0, 0)
        ids = rig.queue(1)
        assert rig.step()
        assert rig.statuses(ids) == [AwardStatus.SUBMITTED]


def test_a_paused_contract_holds_a_pending_operation_back(rig: Rig) -> None:
    rig.ctx.client.pause()
    (op_id,) = _calls(rig, 1)
    assert not rig.step()
    assert blocked(rig) == "the contract is paused"
    assert rig.operation(op_id).status == OpStatus.PENDING


#: A contract that counts 600 000 down and stops: a call to it uses about 15.6 M gas (init code, then runtime:
#: ``PUSH3 600000; JUMPDEST; PUSH1 1; SWAP1; SUB; DUP1; PUSH1 4; JUMPI; STOP``).
_BURNER = bytes.fromhex("600e600c600039600e6000f3" + "620927c05b600190038060045700")


def test_a_pending_operation_s_gas_limit_is_at_most_what_one_transaction_may_use(
    node: AnvilNode, tmp_path: Path, automine: None
) -> None:
    with anvil_rig(node, tmp_path) as rig:
        (dev, *_) = node.rpc("eth_accounts")
        tx_hash = node.rpc("eth_sendTransaction", [{"from": dev, "data": "0x" + _BURNER.hex()}])
        receipt = None
        for _ in range(200):  # anvil mines it at once, and may answer for its receipt a moment later
            receipt = node.rpc("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                break
            time.sleep(0.01)
        assert receipt is not None
        burner = to_checksum_address(receipt["contractAddress"])
        node.set_automine(False)
        with rig.db.session() as session:
            op_id = request_call(
                session, signer=rig.ctx.signer.address, contract=burner, data=b"", label="a call that burns gas"
            ).id
        (estimate,) = rig.ctx.chain.estimate_gas_many([{"from": rig.ctx.signer.address, "to": burner, "data": b""}])
        assert isinstance(estimate, int)
        assert estimate * rig.ctx.manager.fees.gas_headroom > 2**24
        assert rig.head().gas_limit > 2**24
        assert rig.step()
        assert rig.operation(op_id).gas_limit == 2**24  # EIP-7825's bound, below the block's and the headroom's


@pytest.mark.parametrize(
    ("left", "calls", "signed", "batched"),
    [
        (0, 2, [True, False], False),  # the first call fills the room: nothing more
        (1, 2, [True, True], False),  # one gas left: the next call is signed all the same, and it fills the room
        (1, 1, [True], True),  # one gas left and no call: a batch is signed all the same
    ],
)
def test_pending_operations_use_up_the_gas_room_and_a_batch_takes_what_is_left(
    tmp_path: Path, left: int, calls: int, signed: list[bool], batched: bool
) -> None:
    with embedded_rig(tmp_path) as rig:
        op_ids = _calls(rig, calls)
        data = rig.operation(op_ids[0]).data
        (estimate,) = rig.ctx.chain.estimate_gas_many(
            [{"from": rig.ctx.signer.address, "to": rig.ctx.client.address, "data": data}]
        )
        assert isinstance(estimate, int)
        gas = math.ceil(estimate * rig.ctx.manager.fees.gas_headroom)  # the first call's gas limit
        head = rig.head()
        _in_flight_of(rig, 2 * head.gas_limit - gas - left)  # the first call leaves ``left`` gas of room
        ids = rig.queue(1)
        assert rig.step()
        assert rig.operation(op_ids[0]).gas_limit == gas
        assert [rig.operation(i).status == OpStatus.IN_FLIGHT for i in op_ids] == signed
        assert rig.statuses(ids) == [AwardStatus.SUBMITTED if batched else AwardStatus.QUEUED]


def test_with_nothing_in_flight_the_gas_room_is_the_blocks_before_a_replacement(tmp_path: Path) -> None:
    with embedded_rig(tmp_path, batch_max_size=1) as rig:
        gas_limit = rig.head().gas_limit
        # A batch of one is guessed at exactly one block (before an estimate tells better): two fit in the room.
        rig.worker._gas_per_kudos = (gas_limit + 0.5) / 1.03
        ids = rig.queue(3)
        assert rig.step()
        assert rig.statuses(ids) == [AwardStatus.SUBMITTED] * 2 + [AwardStatus.QUEUED]


@pytest.mark.parametrize(("short", "batches"), [(0, 2), (1, 1)])
def test_as_many_batches_are_taken_as_the_gas_room_holds_full_ones(rig: Rig, short: int, batches: int) -> None:
    rig.worker.settings.batch_max_size = 3
    head = rig.head()
    rig.worker._gas_per_kudos = 300_000.0
    assert rig.worker._batch_size(head) == 2  # two kudos fill a block better than three, at this gas
    full = 2 * 300_000 * 103 // 100  # the gas of a full batch: two kudos and the margin
    rig.queue(6)
    fees = rig.ctx.manager.fees_for(head.base_fee)
    with rig.db.session() as session:
        signed = rig.worker._next_batches(rig.ctx, session, head, 1, fees, 32, 2 * full - short)
        assert len(signed) == batches
        session.rollback()


def test_batches_are_signed_while_their_gas_fits_the_room_and_the_first_all_the_same(tmp_path: Path) -> None:
    with embedded_rig(tmp_path, batch_max_size=1) as rig:  # batches of one
        rig.queue(3)
        head = rig.head()
        fees = rig.ctx.manager.fees_for(head.base_fee)

        def sign(gas_room: int) -> list[int]:
            rig.worker._gas_per_kudos = 1_000.0  # a guess that takes every batch: their gas alone decides
            with rig.db.session() as session:
                signed = rig.worker._next_batches(rig.ctx, session, head, 1, fees, 32, gas_room)
                session.rollback()
            return [tx.gas for tx in signed]

        gases = sign(10**9)
        assert len(gases) == 3
        assert sign(gases[0] + gases[1]) == gases[:2]  # the second fits exactly; the third does not
        assert sign(gases[0] + gases[1] - 1) == gases[:1]
        assert sign(1) == gases[:1]  # the first is signed whatever the room


def test_awards_accepted_at_the_same_instant_are_batched_in_the_order_of_their_ids(tmp_path: Path) -> None:
    with embedded_rig(tmp_path, batch_max_size=1, max_in_flight=1) as rig:  # one batch of one at a time
        for _ in range(20):  # until the award accepted first has the larger id (one time in two)
            first, second = rig.queue(2)
            if first > second:
                break
            with rig.db.session() as session:
                for award_id in (first, second):
                    session.delete(session.get_one(Award, award_id))
        assert first > second
        with rig.db.session() as session:
            instant = session.get_one(Award, first).created_at
            session.get_one(Award, second).created_at = instant
        rig.step()
        assert rig.statuses([second, first]) == [AwardStatus.SUBMITTED, AwardStatus.QUEUED]


_NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


class _Frozen(datetime):
    """The worker module's ``datetime``: ``now`` is always :data:`_NOW`."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _Frozen:
        return cls.fromtimestamp(_NOW.timestamp(), tz)


def test_a_full_batch_goes_at_once_however_long_its_awards_waited(tmp_path: Path) -> None:
    with embedded_rig(tmp_path, batch_max_size=4, batch_max_wait_ms=60_000) as rig:  # batches of three
        ids = rig.queue(3)
        rig.step()
        assert rig.statuses(ids) == [AwardStatus.SUBMITTED] * 3


@pytest.mark.parametrize(("waited_ms", "goes"), [(59_950, False), (60_000, True)])
def test_a_batch_that_is_not_full_goes_once_its_oldest_award_waited_the_longest_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, waited_ms: int, goes: bool
) -> None:
    monkeypatch.setattr(worker_module, "datetime", _Frozen)
    with embedded_rig(tmp_path, batch_max_size=4, batch_max_wait_ms=60_000) as rig:
        (award_id,) = rig.queue(1)
        with rig.db.session() as session:
            session.get_one(Award, award_id).created_at = _NOW - timedelta(milliseconds=waited_ms)
        rig.step()
        assert rig.statuses([award_id]) == [AwardStatus.SUBMITTED if goes else AwardStatus.QUEUED]


def test_a_batch_holds_the_floor_of_the_kudos_that_fit_even_a_hair_below_a_whole_number(rig: Rig) -> None:
    rig.worker.settings.batch_max_size = 100
    rig.worker._gas_per_kudos = 126087.50472828143  # 10 M gas holds a hair less than 77 such kudos and their margin
    per_kudos = Fraction(rig.worker._gas_per_kudos * 1.03)
    assert 76 < Fraction(10_000_000) / per_kudos < 77  # which a float division rounds to 77
    assert rig.worker._batch_size(Head(1, b"", 10**9, 10_000_000)) == 76


def test_batches_take_the_room_in_flight_that_pending_operations_leave(tmp_path: Path) -> None:
    with embedded_rig(tmp_path, max_in_flight=2, batch_max_size=4) as rig:  # batches of three
        (call,) = _calls(rig, 1)
        ids = rig.queue(9)
        assert rig.step()
        assert rig.operation(call).status == OpStatus.IN_FLIGHT
        assert len(rig.operations(OpKind.AWARD_BATCH)) == 1
        assert rig.statuses(ids) == [AwardStatus.SUBMITTED] * 3 + [AwardStatus.QUEUED] * 6


# ----------------------------------------------------------------------------------------------------------------
# The wallet index (embedded chain: refreshed in the worker's own step), the worker's clock held


def test_the_index_is_refreshed_when_deliveries_were_recorded_and_nothing_was_sent(
    tmp_path: Path, clock: _Clock
) -> None:
    with embedded_rig(tmp_path, batch_max_size=4, batch_max_wait_ms=60_000) as rig:  # batches of three
        first = rig.queue(3)
        rig.step()  # sent (and mined); the index was never refreshed: refreshed now
        indexer = rig.worker.indexer(rig.ctx)
        assert indexer.last_block() == rig.head().number
        second = rig.queue(3)
        waiting = rig.queue(1)  # a batch that is not full: it waits for more all along
        rig.step()  # the first recorded, the second sent: the index waits (the clock has not moved)
        assert rig.statuses(first + second) == [AwardStatus.CONFIRMED] * 3 + [AwardStatus.SUBMITTED] * 3
        behind = indexer.last_block()
        assert behind is not None
        assert behind < rig.head().number
        rig.step()  # the second recorded, nothing sent (awards wait): the index follows at once
        assert rig.statuses(second + waiting) == [AwardStatus.CONFIRMED] * 3 + [AwardStatus.QUEUED]
        assert indexer.last_block() == rig.head().number


def test_the_first_step_refreshes_the_index_whatever_the_clock_reads(tmp_path: Path, clock: _Clock) -> None:
    clock.now = 0.5  # a monotonic clock's origin is undefined: it may read less than a second
    with embedded_rig(tmp_path) as rig:
        assert not rig.step()
        assert rig.worker.indexer(rig.ctx).last_block() == rig.head().number


def test_a_quiet_outbox_refreshes_the_index_only_once_more_than_a_second_has_passed(
    tmp_path: Path, clock: _Clock
) -> None:
    with embedded_rig(tmp_path) as rig:
        assert not rig.step()  # the first refresh, at 1000 s
        indexer = rig.worker.indexer(rig.ctx)
        assert indexer.last_block() == rig.head().number
        rig.ctx.client.pause()  # blocks the worker did not make
        rig.ctx.client.unpause()
        clock.now = 1001.0
        assert not rig.step()  # a second exactly: not yet
        behind = indexer.last_block()
        assert behind is not None
        assert behind < rig.head().number
        clock.now = 1001.25
        assert not rig.step()
        assert indexer.last_block() == rig.head().number


def test_the_wallet_index_rolls_back_as_deep_as_delivery_follows_reorgs(tmp_path: Path) -> None:
    with embedded_rig(tmp_path, index_reorg_depth=5, confirmations=10) as rig:
        assert rig.worker.indexer(rig.ctx).reorg_depth == 11  # the confirmations and one block: more than 5


# ----------------------------------------------------------------------------------------------------------------
# What the worker logs, once a reason


def _waits_and_resumes(caplog: pytest.LogCaptureFixture) -> list[str]:
    lines = [r.getMessage() for r in caplog.records if r.name == WORKER_LOG]
    caplog.clear()
    return [line for line in lines if line.startswith(("delivery waits", "delivery resumed"))]


def test_delivery_logs_once_when_it_begins_to_wait_and_once_when_it_resumes(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=WORKER_LOG)
    assert not rig.step()
    assert _waits_and_resumes(caplog) == []  # never waited: nothing to say
    rig.ctx.client.pause()
    ids = rig.queue(1)
    assert not rig.step()
    reason = blocked(rig)
    assert reason is not None
    assert "paused" in reason
    assert _waits_and_resumes(caplog) == [f"delivery waits: {reason}"]
    assert not rig.step()
    assert blocked(rig) == reason
    assert _waits_and_resumes(caplog) == []  # the same reason: said once
    rig.ctx.client.unpause()
    assert rig.step()
    assert blocked(rig) is None
    assert _waits_and_resumes(caplog) == [f"delivery resumed (it waited: {reason})"]
    rig.deliver(ids)
    assert _waits_and_resumes(caplog) == []


def test_the_log_says_how_many_awards_of_a_batch_that_would_revert_are_failed(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=WORKER_LOG)
    good = rig.queue(1)
    bad = rig.queue(2, recipient=ZERO_ADDRESS)
    rig.step()
    assert rig.statuses(good + bad) == [AwardStatus.QUEUED] + [AwardStatus.FAILED] * 2
    lines = [r.getMessage() for r in caplog.records if r.name == WORKER_LOG]
    assert [line for line in lines if line.startswith("a batch would revert")] == [
        f"a batch would revert ({ZERO_ADDRESS} cannot receive a kudos); 2 awards that revert alone are failed"
    ]


# ----------------------------------------------------------------------------------------------------------------
# Stop


class _Joined(threading.Thread):
    """A thread that records how long it is waited for."""

    def __init__(self) -> None:
        super().__init__(target=lambda: None)
        self.timeouts: list[float | None] = []

    def join(self, timeout: float | None = None) -> None:
        self.timeouts.append(timeout)
        super().join(timeout)


def test_stop_waits_ten_seconds_at_most_for_each_thread_by_default(rig: Rig) -> None:
    worker, index = _Joined(), _Joined()
    worker.start()
    index.start()
    rig.worker._thread, rig.worker._index_thread = worker, index
    try:
        rig.worker.stop()
    finally:
        rig.worker._thread = rig.worker._index_thread = None
    assert (worker.timeouts, index.timeouts) == ([10.0], [10.0])
