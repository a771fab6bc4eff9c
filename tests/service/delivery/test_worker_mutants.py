"""The delivery worker (:mod:`kudos_service.delivery.worker`): the bounds and the corners that mutation testing
found untested. What the node said to a new transaction it refused, the balance a signer needs to hold and how
often it is read, no room in flight (nothing asked of the chain), the gas in flight when a transaction is replaced
after two blocks, when the wallet index is refreshed (the worker's clock held), the log lines that say once when
delivery begins and ends waiting, how many awards of a batch are failed, and how long ``stop`` waits. On an anvil
node of the module's own, or on the embedded chain; the worker's steps run one by one."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from kudos_service.delivery import worker as worker_module
from kudos_service.delivery.fees import eth, fees_for_new
from kudos_service.models import AwardStatus, Operation, OpKind, OpStatus

from kudos_chain.testing import AnvilNode
from tests.service.delivery.conftest import Rig, anvil_rig, blocked, embedded_rig

GWEI = 10**9
ZERO_ADDRESS = "0x" + "00" * 20
WORKER_LOG = "kudos_service.delivery.worker"


@pytest.fixture(scope="module")
def node(kudos_anvil_binary: Path) -> Iterator[AnvilNode]:
    """An anvil node for this module alone: its mining mode, balances and block gas limit are the tests' to change."""
    with AnvilNode(binary=kudos_anvil_binary) as running:
        yield running


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
        assert op.note is not None
        assert op.note == "the node refused it (max fee per gas less than block base fee); it is sent again in 3600 s"
        assert rig.statuses(ids) == [AwardStatus.SUBMITTED]
        node.set_next_base_fee(GWEI)  # the tests after this one start from a base fee of a gwei again
        node.mine(1)


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
        with rig.db.session() as session:  # a transaction of the signer in flight, as large as a block
            held = Operation(
                kind=OpKind.CALL,
                status=OpStatus.IN_FLIGHT,
                signer=rig.ctx.signer.address,
                to_address=rig.ctx.client.address,
                data=b"",
                gas_limit=head.gas_limit,
                replacements=0,
            )
            session.add(held)
        ids = rig.queue(2)
        assert not rig.step()  # one block before it counts as stuck, and that block is full
        assert rig.statuses(ids) == [AwardStatus.QUEUED] * 2
        with rig.db.session() as session:  # room for one small batch
            session.get_one(Operation, held.id).gas_limit = head.gas_limit - 1_000
        assert rig.step()
        assert rig.statuses(ids) == [AwardStatus.SUBMITTED] * 2


# ----------------------------------------------------------------------------------------------------------------
# The wallet index (embedded chain: refreshed in the worker's own step), the worker's clock held


def test_the_index_is_refreshed_when_deliveries_were_recorded_and_nothing_was_sent(tmp_path: Path, clock: _Clock) -> None:
    with embedded_rig(tmp_path) as rig:
        first = rig.queue(1)
        rig.step()  # sent (and mined); the index was never refreshed: refreshed now
        indexer = rig.worker.indexer(rig.ctx)
        assert indexer.last_block() == rig.head().number
        second = rig.queue(1)
        rig.step()  # the first recorded, the second sent: the index waits (the clock has not moved)
        assert rig.statuses(first + second) == [AwardStatus.CONFIRMED, AwardStatus.SUBMITTED]
        behind = indexer.last_block()
        assert behind is not None
        assert behind < rig.head().number
        rig.step()  # the second recorded, nothing sent: the index follows at once
        assert rig.statuses(second) == [AwardStatus.CONFIRMED]
        assert indexer.last_block() == rig.head().number


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


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with embedded_rig(tmp_path) as running:
        yield running


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
