"""The delivery worker: takes queued awards, joins them into batch awards and delivers each exactly once.

The order of writes is what makes delivery exactly-once:

1. An award is committed as ``queued`` before the API answers 202 (with the awards of other requests, in one
   group commit: :class:`~kudos_service.awards.AcceptQueue`).
2. The worker signs one ``awardBatch`` transaction for up to ``batch_max_size`` queued awards, and commits the
   signed transaction (with its nonce) and the awards' move to ``submitted`` together, *before* broadcasting.
3. It broadcasts, then records the receipt: each award's token id comes from the ``KudosAwarded`` event that
   carries its request id.

After a crash, :meth:`Worker.recover` looks at every stored transaction that has no receipt yet: if it was
mined, it is recorded; if not, the very same signed bytes are broadcast again. The nonce lets the chain mine it
at most once, so an award is never minted twice, and an award that was never in a stored transaction is still
``queued``, so none is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from eth_typing import HexStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kudos_chain import Award as ChainAward
from kudos_chain import ContractRevertError, KudosError, SignedTx, TransactionError
from kudos_chain.chain import Receipt
from kudos_chain.client import KUDOS_AWARDED_TOPIC
from kudos_chain.exceptions import ContractPausedError, MissingRoleError, TransactionTimeoutError
from kudos_chain.indexer import KudosIndexer
from kudos_service.chain import ChainContext, ChainHolder, describe_error
from kudos_service.core.config import Settings
from kudos_service.core.db import Database
from kudos_service.metrics import Metrics
from kudos_service.models import Award, AwardStatus, ChainTx, TxStatus, as_utc, utcnow

__all__ = ["Worker"]

logger = logging.getLogger(__name__)

#: Errors of the chain that leave awards queued, to be tried again when the chain is back.
_TRANSIENT = (KudosError, OSError, ConnectionError, TimeoutError)

#: While awards keep coming, the wallet index is refreshed at most this often (and as soon as the queue drains).
_INDEX_EVERY_S = 1.0


class Worker:
    """A background thread that delivers queued awards; one per signer key."""

    def __init__(self, settings: Settings, db: Database, chain: ChainHolder, metrics: Metrics) -> None:
        self.settings = settings
        self.db = db
        self.chain = chain
        self.metrics = metrics
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._recovered = False
        self._indexer: KudosIndexer | None = None
        self._last_index = 0.0
        self._unindexed = False  # batches were delivered since the index was last refreshed
        self._index_lock = threading.Lock()
        self.blocked_reason: str | None = None
        self._hold: str | None = None  # why delivery is held back in the current step

    # ------------------------------------------------------------------------------------------------------
    # Thread
    # ------------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start delivering in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="kudos-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current step."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """Look at the queue now (an award was accepted)."""
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
                self._recovered = False
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            except Exception:
                logger.exception("unexpected error in the delivery worker")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            if not worked:
                self._wake.wait(self.settings.worker_poll_ms / 1000)
                self._wake.clear()

    def run_once(self) -> bool:
        """One step: recover if needed, deliver one batch, refresh the wallet index if due. True when a batch was
        sent."""
        ctx = self.chain.get()
        if not self._recovered:
            self.recover(ctx)
            self._recovered = True
        self._hold = None
        worked = self.deliver_batch(ctx)
        self._unindexed = self._unindexed or worked
        if (self._unindexed and not worked) or time.monotonic() - self._last_index > _INDEX_EVERY_S:
            self.sync_index(ctx)  # when the queue is drained, and at most every second while it is not
        # The node answered this step: an error of an earlier step no longer holds, whether or not awards were
        # waiting; only what holds delivery back now (a paused contract, a missing role) is reported.
        self.blocked_reason = self._hold
        return worked

    # ------------------------------------------------------------------------------------------------------
    # Recovery
    # ------------------------------------------------------------------------------------------------------

    def recover(self, ctx: ChainContext) -> None:
        """Finish every stored transaction that has no receipt: record it if mined, else broadcast it again."""
        with self.db.session() as session:
            pending = session.scalars(
                select(ChainTx).where(ChainTx.status.in_([TxStatus.SIGNED, TxStatus.SENT])).order_by(ChainTx.nonce)
            ).all()
            stored = [(tx.id, SignedTx(HexStr(tx.tx_hash), tx.nonce, ctx.signer.address, tx.raw, 0)) for tx in pending]
        if not stored:
            return
        logger.info("recovering %d stored transactions", len(stored))
        receipts = ctx.chain.receipts_many([s.tx_hash for _, s in stored])
        with ctx.lock:
            for (tx_id, signed), found in zip(stored, receipts, strict=True):
                receipt = found
                if receipt is None:
                    try:
                        ctx.manager.broadcast_many([signed])
                    except TransactionError as exc:
                        self._reconcile_dropped(ctx, tx_id, str(exc))
                        continue
                    self._set_tx(tx_id, TxStatus.SENT)
                    receipt = self._wait(ctx, signed.tx_hash)
                    if receipt is None:
                        continue
                self._record(ctx, tx_id, receipt)
            ctx.manager.resync_nonce()

    def _reconcile_dropped(self, ctx: ChainContext, tx_id: int, reason: str) -> None:
        """A stored transaction the node refuses and never mined: find its awards on chain by request id;
        those not found go back to the queue."""
        with self.db.session() as session:
            awards = session.scalars(select(Award).where(Award.tx_id == tx_id)).all()
            found = self._awarded_on_chain(ctx, [a.request_id for a in awards])
            for award in awards:
                if award.request_id in found:
                    token_id, block = found[award.request_id]
                    self._confirm(award, token_id, block)
                else:
                    award.status = AwardStatus.QUEUED
                    award.tx_id = None
            tx = session.get_one(ChainTx, tx_id)
            tx.status = TxStatus.FAILED
            tx.error = reason
        logger.warning("transaction %d was dropped (%s); its awards were reconciled", tx_id, reason)

    def _awarded_on_chain(self, ctx: ChainContext, request_ids: Sequence[bytes]) -> dict[bytes, tuple[int, int]]:
        topic_sets = [
            [KUDOS_AWARDED_TOPIC, None, list(request_ids[i : i + 100])] for i in range(0, len(request_ids), 100)
        ]
        logs = ctx.chain.get_logs(address=ctx.client.address, topic_sets=topic_sets, from_block=ctx.client.from_block)
        return {log.topics[2]: (int.from_bytes(log.topics[1], "big"), log.block_number) for log in logs}

    # ------------------------------------------------------------------------------------------------------
    # Delivery
    # ------------------------------------------------------------------------------------------------------

    def deliver_batch(self, ctx: ChainContext) -> bool:
        """Sign, store, broadcast and confirm one batch of queued awards. False when nothing was ready."""
        with self.db.session() as session:
            batch = self._take_batch(session)
            if not batch:
                return False
            awards = [ChainAward(a.recipient, a.kind_id, a.content_hash, a.request_id, a.transferable) for a in batch]
            ids = [a.id for a in batch]
        with ctx.lock:
            try:
                signed = ctx.manager.sign_many(
                    [{"to": ctx.client.address, "data": ctx.client.award_batch_calldata(awards)}]
                )[0]
            except (ContractPausedError, MissingRoleError) as exc:
                self._hold = str(exc)
                logger.warning("awards wait: %s", exc)
                self._stop.wait(1.0)
                return False
            except ContractRevertError as exc:
                self._isolate_failures(ctx, ids, awards, exc)
                return True
            with self.db.session() as session:
                tx = ChainTx(nonce=signed.nonce, tx_hash=signed.tx_hash, raw=signed.raw, status=TxStatus.SIGNED)
                session.add(tx)
                session.flush()
                now = utcnow()
                for award in session.scalars(select(Award).where(Award.id.in_(ids))):
                    award.status = AwardStatus.SUBMITTED
                    award.tx_id = tx.id
                    award.submitted_at = now
                tx_id = tx.id
            ctx.manager.broadcast_many([signed])
        self._set_tx(tx_id, TxStatus.SENT)
        receipt = self._wait(ctx, signed.tx_hash)
        if receipt is not None:
            if self.queue_depth() == 0:
                # Nothing waits: index the new block before the awards read as confirmed, so that whoever sees
                # "confirmed" finds the kudos in the wallet too. Under load the index follows within a second.
                self.sync_index(ctx)
            self._record(ctx, tx_id, receipt)
        return True

    def _take_batch(self, session: Session) -> list[Award]:
        query = (
            select(Award)
            .where(Award.status == AwardStatus.QUEUED)
            .order_by(Award.created_at, Award.id)
            .limit(self.settings.batch_max_size)
        )
        batch = list(session.scalars(query))
        if not batch or len(batch) >= self.settings.batch_max_size:
            return batch
        oldest = as_utc(batch[0].created_at)
        waited_ms = (datetime.now(UTC) - oldest).total_seconds() * 1000
        return batch if waited_ms >= self.settings.batch_max_wait_ms else []

    def _isolate_failures(
        self, ctx: ChainContext, ids: Sequence[str], awards: Sequence[ChainAward], batch_error: Exception
    ) -> None:
        """A batch would revert: estimate each award alone, fail those that revert, leave the rest queued."""
        calls = [
            {"from": ctx.signer.address, "to": ctx.client.address, "data": ctx.client.award_calldata(a)} for a in awards
        ]
        estimates = ctx.chain.estimate_gas_many(calls)  # type: ignore[arg-type]
        with self.db.session() as session:
            for award_id, estimate in zip(ids, estimates, strict=True):
                if not isinstance(estimate, Exception):
                    continue
                error = ctx.client.decode_error(estimate)
                award = session.get_one(Award, award_id)
                award.status = AwardStatus.FAILED
                award.failure_reason = str(error)
        logger.warning("a batch would revert (%s); failing awards are marked failed", batch_error)

    def _wait(self, ctx: ChainContext, tx_hash: str) -> Receipt | None:
        try:
            return ctx.manager.wait_many([tx_hash], timeout=self.settings.receipt_timeout_s)[0]
        except TransactionTimeoutError:
            logger.warning("no receipt yet for %s; it stays pending and is checked again after a restart", tx_hash)
            self._recovered = False
            return None
        except (ContractRevertError, TransactionError):
            (receipt,) = ctx.chain.receipts_many([tx_hash])
            return receipt

    def _set_tx(self, tx_id: int, status: TxStatus) -> None:
        with self.db.session() as session:
            session.get_one(ChainTx, tx_id).status = status

    def _record(self, ctx: ChainContext, tx_id: int, receipt: Receipt) -> None:
        """Record a mined transaction: confirm its awards from the events, or queue them again if it reverted."""
        minted = {
            log.topics[2]: int.from_bytes(log.topics[1], "big")
            for log in receipt.logs
            if log.address == ctx.client.address and log.topics and log.topics[0] == KUDOS_AWARDED_TOPIC
        }
        with self.db.session() as session:
            tx = session.get_one(ChainTx, tx_id)
            tx.block_number = receipt.block_number
            tx.status = TxStatus.MINED if receipt.status == 1 else TxStatus.FAILED
            for award in session.scalars(select(Award).where(Award.tx_id == tx_id)):
                if award.request_id in minted:
                    self._confirm(award, minted[award.request_id], receipt.block_number)
                elif receipt.status == 1:
                    award.status = AwardStatus.FAILED
                    award.failure_reason = f"transaction {receipt.tx_hash} was mined without this award"
                else:
                    award.status = AwardStatus.QUEUED
                    award.tx_id = None
            if receipt.status != 1:
                tx.error = "reverted on chain; its awards were queued again"

    def _confirm(self, award: Award, token_id: int, block: int) -> None:
        award.status = AwardStatus.CONFIRMED
        award.token_id = token_id
        award.block_number = block
        award.confirmed_at = utcnow()
        self.metrics.confirmation_seconds.observe((award.confirmed_at - as_utc(award.created_at)).total_seconds())

    # ------------------------------------------------------------------------------------------------------
    # Index
    # ------------------------------------------------------------------------------------------------------

    def indexer(self, ctx: ChainContext) -> KudosIndexer:
        """The event index of the contract, in the service's database."""
        if self._indexer is None or self._indexer.client is not ctx.client:
            self._indexer = KudosIndexer(ctx.client, self.db.engine, reorg_depth=self.settings.index_reorg_depth)
        return self._indexer

    def sync_index(self, ctx: ChainContext) -> None:
        """Bring the wallet index up to the newest block."""
        with self._index_lock:
            self.indexer(ctx).sync()
            self._unindexed = False
            self._last_index = time.monotonic()

    def queue_depth(self) -> int:
        """How many awards wait to be sent."""
        with self.db.session() as session:
            return int(
                session.scalar(select(func.count()).select_from(Award).where(Award.status == AwardStatus.QUEUED)) or 0
            )
