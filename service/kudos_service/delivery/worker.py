"""The delivery worker: one loop that carries out the outbox, several transactions in flight.

Each step, in this order:

1. **The chain is the one it was** (:meth:`~.reconcile.Reconciler.check_identity`): its genesis hash and the
   contract's code hash are compared with those stored at the first start; a node that answers for another chain
   stops delivery before anything is read or written.
2. **Track** (:meth:`~.reconcile.Reconciler.track`): when the head moved, the receipts of every version of every
   operation in flight are read in one batch; the blocks of recent receipts are checked to be still canonical
   (a reorg sends their operations back in flight); operations ``confirmations`` deep are done, and their
   awards confirmed.
3. **Heal** (:meth:`~.reconcile.Reconciler.heal`): a transaction not mined ``replace_after_blocks`` after it was
   sent is signed again at the same nonce with higher fees; one the node no longer knows is sent again; one whose
   nonce another transaction used is reconciled by the request ids of its awards.
4. **Fill** (:meth:`Worker.fill`): while fewer than ``max_in_flight`` transactions are in flight, the next
   pending operations and batches of queued awards are estimated, signed with the next nonces, stored (with
   their awards' move to ``submitted``) in one commit, and then broadcast in one request.

The order of writes is what makes delivery exactly-once: an award is committed ``queued`` before the API answers;
a signed transaction is committed, with its nonce and its awards, before it is broadcast; an award is recorded
from the ``KudosAwarded`` event that carries its request id. A crash at any point leaves either awards still
queued (never signed) or a stored transaction that is followed, sent again or reconciled: the nonce lets the chain
mine one of its versions at most once.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kudos_chain import Award as ChainAward
from kudos_chain import ContractRevertError, Fees, KudosError, SendOutcome, SignedTx
from kudos_chain.exceptions import ContractPausedError, FeeCapExceededError, MissingRoleError
from kudos_chain.indexer import KudosIndexer
from kudos_service.chain_access import ChainContext, ChainHolder, describe_error
from kudos_service.core.config import Settings
from kudos_service.core.db import Database
from kudos_service.delivery.fees import Head, eth, fees_for_new, stuck_on_fees
from kudos_service.delivery.outbox import next_nonce, store_version
from kudos_service.delivery.reconcile import Reconciler
from kudos_service.metrics import Metrics
from kudos_service.models import Award, AwardStatus, Operation, OpKind, OpStatus, as_utc, utcnow

__all__ = ["Worker"]

logger = logging.getLogger(__name__)

#: Errors of the chain that leave the outbox as it is, to be tried again when the chain is back.
_TRANSIENT = (KudosError, OSError, ConnectionError, TimeoutError)

#: While awards keep coming, the wallet index is refreshed at most this often (and as soon as the queue drains).
_INDEX_EVERY_S = 1.0

#: How often the signer's balance is read.
_BALANCE_EVERY_S = 2.0

#: EIP-7825 (Fusaka): the most gas one transaction may use.
MAX_TX_GAS = 2**24

#: The gas limit of an award batch over its estimate. The estimate is exact for the state it was made on; the
#: margin covers a state that changed meanwhile (a recipient's first kudos mined by an earlier batch makes this one
#: cheaper, never dearer). Kept small: a block takes a transaction only while its gas *limit* fits.
_BATCH_GAS_MARGIN = 1.03

#: Gas of one kudos in a batch, before the first estimate tells the real figure.
_GAS_PER_KUDOS_GUESS = 55_000


class Worker(Reconciler):
    """A background thread that delivers the outbox; one per signer key."""

    def __init__(self, settings: Settings, db: Database, chain: ChainHolder, metrics: Metrics) -> None:
        super().__init__(settings, db, metrics)
        self.chain = chain
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._indexer: KudosIndexer | None = None
        self._last_index = -math.inf  # never refreshed: the first step does, whatever the clock's origin
        self._unindexed = False  # transactions were mined since the index was last refreshed
        self._index_lock = threading.Lock()
        self._index_wake = threading.Event()
        self._index_thread: threading.Thread | None = None
        self._balance: tuple[float, int] | None = None  # (when read, wei)
        self._gas_per_kudos = float(_GAS_PER_KUDOS_GUESS)
        self.blocked_reason: str | None = None

    # ------------------------------------------------------------------------------------------------------
    # Thread
    # ------------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start delivering in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="kudos-worker", daemon=True)
        self._thread.start()
        if not self.settings.embedded:
            # On a real chain the wallet index is refreshed beside delivery, so that reading a second's worth of
            # new kudos never delays the next batch. The embedded chain is refreshed in the worker's own thread:
            # py-evm is not safe to read while a block is being written.
            self._index_thread = threading.Thread(target=self._run_index, name="kudos-index", daemon=True)
            self._index_thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current step."""
        self._stop.set()
        self._wake.set()
        self._index_wake.set()
        for thread in (self._thread, self._index_thread):
            if thread is not None:
                thread.join(timeout)

    def wake(self) -> None:
        """Look at the outbox now (an award or an operation was accepted)."""
        self._wake.set()

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                worked = self.run_once()
                backoff = 0.5
            except _TRANSIENT as exc:
                reason = describe_error(exc, self.settings)
                logger.warning("delivery paused: %s", reason)
                self.blocked_reason = reason
                self.chain.reset(reason)
                self.forget_chain()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            except Exception:
                logger.exception("unexpected error in the delivery worker")
                self.forget_chain()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            if not worked:
                self._wake.wait(self.settings.worker_poll_ms / 1000)
                self._wake.clear()

    def _run_index(self) -> None:
        """Refresh the wallet index when the worker saw new blocks, at most every second under load."""
        while not self._stop.is_set():
            self._index_wake.wait(_INDEX_EVERY_S)
            self._index_wake.clear()
            ctx = self.chain.peek()
            if ctx is None or self._stop.is_set():
                continue
            try:
                self.sync_index(ctx)
            except Exception as exc:  # the worker reports the chain's state; the next round tries again
                logger.warning("the wallet index could not be refreshed: %s", describe_error(exc, self.settings))
            self._stop.wait(max(0.0, _INDEX_EVERY_S - (time.monotonic() - self._last_index)))

    def run_once(self) -> bool:
        """One step (see the module's docstring). True when it changed something, so the next step comes at once."""
        ctx = self.chain.get()
        self.hold = None
        if not self.check_identity(ctx):
            self.blocked_reason = self.hold
            self._stop.wait(1.0)
            return False
        number, block_hash, base_fee, gas_limit = ctx.chain.head()
        head = Head(number, block_hash, base_fee, gas_limit)
        self.metrics.head_block.set(head.number)
        worked = self.track(ctx, head)
        if self._identity_error is not None:  # a reorg's forced check found another chain: write nothing more
            self.blocked_reason = self.hold
            return False
        worked = self.heal(ctx, head) or worked
        sent = self.fill(ctx, head)
        self._unindexed = self._unindexed or worked
        if self._index_thread is not None:
            if worked:
                self._index_wake.set()
        elif (self._unindexed and not sent) or time.monotonic() - self._last_index > _INDEX_EVERY_S:
            self.sync_index(ctx)  # when the outbox is quiet, and at most every second while it is not
        # The node answered this step: an error of an earlier step no longer holds; only what holds delivery back
        # now (the fee cap, an empty signer, a paused contract, a missing role) is reported.
        if self.hold is None and self.held_ops:
            self.hold = next(iter(self.held_ops.values()))  # held back in flight, though not tried this step
        if self.hold != self.blocked_reason and self.hold is not None:
            logger.warning("delivery waits: %s", self.hold)  # once a reason, not once a step
        elif self.hold is None and self.blocked_reason is not None:
            logger.info("delivery resumed (it waited: %s)", self.blocked_reason)
        self.blocked_reason = self.hold
        self.metrics.in_flight.set(self.in_flight_count())
        return worked or sent

    # ------------------------------------------------------------------------------------------------------
    # Fill: new transactions
    # ------------------------------------------------------------------------------------------------------

    def fill(self, ctx: ChainContext, head: Head) -> bool:
        """Sign, store and broadcast new transactions while there is room in flight. True when any was sent."""
        signer = ctx.signer.address
        with self.db.session() as session:
            in_flight, gas_in_flight = self._in_flight(session, signer)
            room = self.settings.max_in_flight - in_flight
            # No more in the pool than the chain mines in the blocks before a transaction counts as stuck: one that
            # waits its turn behind the service's own is mined before it would be replaced. (A node may show a new
            # head a moment before its receipts, so a transaction mined in the very block that makes it "stuck"
            # would be replaced for nothing.)
            gas_room = max(1, self.settings.replace_after_blocks - 1) * head.gas_limit - gas_in_flight
            if room <= 0 or gas_room <= 0 or not self._has_work(session):
                return False
        try:
            fees = fees_for_new(ctx.manager, head)
        except FeeCapExceededError as exc:
            self.hold = stuck_on_fees(exc)
            return False
        if not self._can_pay(ctx, fees):
            return False
        signed: list[SignedTx] = []
        with ctx.lock, self.db.session() as session:
            nonce = next_nonce(session, signer, ctx.chain.mined_nonce(signer))
            while len(signed) < room and gas_room > 0:
                one = self._next_pending(ctx, session, head, nonce, fees)
                if one is None:
                    break
                signed.append(one)
                gas_room -= one.gas
                nonce += 1
            if len(signed) < room and gas_room > 0:
                batches = self._next_batches(ctx, session, head, nonce, fees, room - len(signed), gas_room)
                signed += batches
        # Committed: now, and only now, the transactions may reach the chain.
        if signed:
            with ctx.lock:
                outcomes = ctx.manager.send(signed)
            self._after_send(ctx, signed, outcomes)
        return bool(signed)

    @staticmethod
    def _has_work(session: Session) -> bool:
        pending = session.scalar(select(Operation.id).where(Operation.status == OpStatus.PENDING).limit(1))
        queued = session.scalar(select(Award.id).where(Award.status == AwardStatus.QUEUED).limit(1))
        return pending is not None or queued is not None

    def _next_pending(self, ctx: ChainContext, session: Session, head: Head, nonce: int, fees: Fees) -> SignedTx | None:
        """Sign the oldest pending operation (a revocation, a call), or fail it if it would revert. Whoever signs it
        is the key that delivers it, whichever the service had when it was asked (the key may have been rotated
        since, or was not known while the chain was closed)."""
        while True:
            op = session.scalars(
                select(Operation).where(Operation.status == OpStatus.PENDING).order_by(Operation.id).limit(1)
            ).first()
            if op is None:
                return None
            call = {"from": ctx.signer.address, "to": op.to_address, "data": op.data}
            (estimate,) = ctx.chain.estimate_gas_many([call])  # type: ignore[list-item]
            if isinstance(estimate, Exception):
                error = ctx.client.decode_error(estimate)
                if isinstance(error, ContractPausedError):
                    self.hold = str(error)
                    return None
                # A role the service's key lacks (a revocation needs the admin's) fails this operation alone:
                # awards, which need only the minter role, go on.
                op.status = OpStatus.FAILED
                op.error = str(error)
                logger.warning("operation %d (%s) would revert: %s", op.id, op.kind, error)
                continue
            gas = min(math.ceil(estimate * ctx.manager.fees.gas_headroom), MAX_TX_GAS, head.gas_limit)
            signed = ctx.manager.sign_at({"to": op.to_address, "data": op.data}, nonce=nonce, gas=gas, fees=fees)
            op.signer = ctx.signer.address
            store_version(session, op, signed, head=head.number)
            op.note = None
            return signed

    def _next_batches(
        self, ctx: ChainContext, session: Session, head: Head, nonce: int, fees: Fees, most: int, gas_room: int
    ) -> list[SignedTx]:
        """Sign up to ``most`` award batches of queued awards, sized to fill blocks and within ``gas_room``: all
        estimated in one request, signed with consecutive nonces from ``nonce``. A batch that would revert is
        taken apart (:meth:`_isolate_failures`), and its good awards wait for the next step."""
        size = self._batch_size(head)
        per_batch = max(1, int(self._gas_per_kudos * _BATCH_GAS_MARGIN * size))
        count = max(1, min(most, gas_room // per_batch))
        batches = self._take_batches(session, size, count)
        if not batches:
            return []
        on_chain = [[_chain_award(a) for a in batch] for batch in batches]
        datas = [ctx.client.award_batch_calldata(awards) for awards in on_chain]
        estimates = ctx.chain.estimate_gas_many(
            [{"from": ctx.signer.address, "to": ctx.client.address, "data": data} for data in datas]
        )
        signed: list[SignedTx] = []
        now = utcnow()
        for batch, awards, data, estimate in zip(batches, on_chain, datas, estimates, strict=True):
            if isinstance(estimate, Exception):
                error = ctx.client.decode_error(estimate)
                if isinstance(error, ContractPausedError | MissingRoleError):
                    self.hold = str(error)  # logged once, when it begins (run_once)
                    break
                if not isinstance(error, ContractRevertError):
                    raise error
                self._isolate_failures(ctx, session, batch, awards, error)
                break  # the nonces after this one are not taken: the next step signs the rest
            self._gas_per_kudos = estimate / len(batch)
            gas = min(math.ceil(estimate * _BATCH_GAS_MARGIN), MAX_TX_GAS, head.gas_limit)
            if gas > gas_room and signed:
                break
            one = ctx.manager.sign_at({"to": ctx.client.address, "data": data}, nonce=nonce, gas=gas, fees=fees)
            op = Operation(  # in flight from store_version on
                kind=OpKind.AWARD_BATCH,
                signer=ctx.signer.address,
                to_address=ctx.client.address,
                data=data,
                replacements=0,
            )
            session.add(op)
            store_version(session, op, one, head=head.number)
            for award in batch:
                award.status = AwardStatus.SUBMITTED
                award.operation_id = op.id
                award.submitted_at = now
            signed.append(one)
            gas_room -= gas
            nonce += 1
        session.flush()
        return signed

    def _batch_size(self, head: Head) -> int:
        """How many awards one batch holds: as many as fit, with the batches sized so that whole batches fill a
        block (a block takes a transaction only while its gas limit fits in what is left)."""
        limit = self.settings.batch_max_size
        per_kudos = self._gas_per_kudos * _BATCH_GAS_MARGIN
        largest = min(limit * per_kudos, MAX_TX_GAS)
        per_block = max(1, math.ceil(head.gas_limit / largest))  # one when the largest batch fills a block or more
        budget = head.gas_limit / per_block
        return max(1, min(limit, int(budget // per_kudos)))

    def _take_batches(self, session: Session, size: int, count: int) -> list[list[Award]]:
        """Up to ``count`` batches of the oldest queued awards: full ones, and a last one that is not full only
        when its oldest award has waited ``batch_max_wait_ms``."""
        query = (
            select(Award)
            .where(Award.status == AwardStatus.QUEUED)
            .order_by(Award.created_at, Award.id)
            .limit(size * count)
        )
        awards = list(session.scalars(query))
        batches = [awards[i : i + size] for i in range(0, len(awards), size)]
        if batches and len(batches[-1]) < size:
            oldest = as_utc(batches[-1][0].created_at)
            if (datetime.now(UTC) - oldest).total_seconds() * 1000 < self.settings.batch_max_wait_ms:
                batches.pop()
        return batches

    def _isolate_failures(
        self,
        ctx: ChainContext,
        session: Session,
        batch: Sequence[Award],
        awards: Sequence[ChainAward],
        batch_error: Exception,
    ) -> None:
        """A batch would revert: estimate each award alone, fail those that revert, leave the rest queued."""
        calls = [
            {"from": ctx.signer.address, "to": ctx.client.address, "data": ctx.client.award_calldata(a)} for a in awards
        ]
        estimates = ctx.chain.estimate_gas_many(calls)  # type: ignore[arg-type]
        failed = 0
        for award, estimate in zip(batch, estimates, strict=True):
            if isinstance(estimate, Exception):
                award.status = AwardStatus.FAILED
                award.failure_reason = str(ctx.client.decode_error(estimate))
                failed += 1
        if not failed:  # the batch reverts though no award alone does: fail none, and wait for the next step
            self.hold = f"an award batch would revert: {batch_error}"
            raise batch_error
        session.flush()
        logger.warning("a batch would revert (%s); %d awards that revert alone are failed", batch_error, failed)

    def _after_send(
        self, ctx: ChainContext, signed: Sequence[SignedTx], outcomes: Sequence[tuple[SendOutcome, str]]
    ) -> None:
        """Record what the node said to each new transaction (a refused one is followed by :meth:`heal`)."""
        with self.db.session() as session:
            for tx, (outcome, message) in zip(signed, outcomes, strict=True):
                self.record_send(session, ctx, tx.tx_hash, outcome, message)

    def _can_pay(self, ctx: ChainContext, fees: Fees) -> bool:
        """False, with the reason held, while the signer cannot pay for a full batch at these fees."""
        now = time.monotonic()
        if self._balance is None or now - self._balance[0] > _BALANCE_EVERY_S:
            self._balance = (now, ctx.chain.balance(ctx.signer.address))
            self.metrics.signer_balance.set(self._balance[1])
        balance = self._balance[1]
        needed = (
            math.ceil(self._gas_per_kudos * _BATCH_GAS_MARGIN * self.settings.batch_max_size) * fees.max_fee_per_gas
        )
        if balance >= needed:
            return True
        self.hold = (
            f"the signer {ctx.signer.address} holds {eth(balance)}, less than one batch needs at the current fees "
            f"(about {eth(needed)}): awards wait in the queue until it is funded"
        )
        return False

    def note_no_funds(self) -> None:
        """A node refused a transaction for want of funds: read the balance again next time."""
        self._balance = None

    # ------------------------------------------------------------------------------------------------------
    # Index and counts
    # ------------------------------------------------------------------------------------------------------

    def indexer(self, ctx: ChainContext) -> KudosIndexer:
        """The event index of the contract, in the service's database."""
        if self._indexer is None or self._indexer.client is not ctx.client:
            self._indexer = KudosIndexer(
                ctx.client, self.db.engine, reorg_depth=self.settings.reorg_depth_for(ctx.chain_id)
            )
        return self._indexer

    def sync_index(self, ctx: ChainContext) -> None:
        """Bring the wallet index up to the newest block."""
        with self._index_lock:
            indexer = self.indexer(ctx)
            indexer.sync()
            self._unindexed = False
            self._last_index = time.monotonic()
            last = indexer.last_block()
            if last is not None:
                self.metrics.indexed_block.set(last)

    def queue_depth(self) -> int:
        """How many awards wait to be sent."""
        with self.db.session() as session:
            return int(
                session.scalar(select(func.count()).select_from(Award).where(Award.status == AwardStatus.QUEUED)) or 0
            )

    def in_flight_count(self) -> int:
        """How many transactions are sent and not yet mined."""
        with self.db.session() as session:
            return int(
                session.scalar(
                    select(func.count()).select_from(Operation).where(Operation.status == OpStatus.IN_FLIGHT)
                )
                or 0
            )

    @staticmethod
    def _in_flight(session: Session, signer: str) -> tuple[int, int]:
        """How many of ``signer``'s transactions are in flight, and their gas limits together."""
        count, gas = session.execute(
            select(func.count(), func.coalesce(func.sum(Operation.gas_limit), 0)).where(
                Operation.signer == signer, Operation.status == OpStatus.IN_FLIGHT
            )
        ).one()
        return int(count), int(gas or 0)


def _chain_award(award: Award) -> ChainAward:
    """An accepted award as the contract takes it."""
    return ChainAward(award.recipient, award.kind_id, award.content_hash, award.request_id, award.transferable)
