"""Following transactions after they are sent, until the chain holds them for good.

- **Receipts.** When the head moves, the receipts of every version of every operation in flight are read in one
  batch; whichever version was mined is the one recorded.
- **Depth and reorgs.** An operation is ``mined`` in its block, and ``done`` (its awards ``confirmed``) once the
  block is ``confirmations`` deep. The blocks of operations mined in the last ``index_reorg_depth`` blocks are
  checked to be still canonical at every new head: when a reorg removed one, the operation goes back in flight and
  its awards back to ``submitted`` (their token ids cleared, to be read again from the receipt that counts).
- **Stuck, dropped, replaced.** A transaction not mined ``replace_after_blocks`` after it was sent is signed again
  at the same nonce with higher fees (:mod:`.fees`); one without a receipt ``resend_after_s`` after it was sent is
  broadcast again (a node that forgot it takes it back; one that refuses it as under-priced gets a replacement).
- **A nonce used by another transaction** (the signer's key used elsewhere): the awards of the operation are
  looked up on chain by their request ids; those found are recorded, the rest go back to the queue.
- **Another chain.** The genesis hash and the contract's code hash are compared with those first stored; a node
  that answers with others stops delivery before anything is written.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from kudos_chain import Fees, SendOutcome, SignedTx
from kudos_chain.chain import Receipt
from kudos_chain.exceptions import FeeCapExceededError
from kudos_service.chain_access import ChainContext, chain_identity, identity_problem
from kudos_service.claims.custody import custody_address
from kudos_service.core.config import Settings
from kudos_service.core.db import Database
from kudos_service.delivery.fees import HELD_BY_FEES, HELD_BY_FUNDS, Head, fees_for_replacement, stuck_on_fees
from kudos_service.delivery.outbox import store_version
from kudos_service.metrics import Metrics
from kudos_service.models import (
    Award,
    AwardStatus,
    ChainTx,
    Deployment,
    Operation,
    OpKind,
    OpStatus,
    TxStatus,
    as_utc,
    utcnow,
)

__all__ = ["Reconciler"]

logger = logging.getLogger(__name__)

#: Versions of an operation in flight that may still be mined.
_WATCHED = (TxStatus.SIGNED, TxStatus.SENT, TxStatus.REPLACED)


class Reconciler:
    """The part of the worker that follows sent transactions (see the module's docstring)."""

    def __init__(self, settings: Settings, db: Database, metrics: Metrics) -> None:
        self.settings = settings
        self.db = db
        self.metrics = metrics
        #: Why delivery is held back in the current step (None: it is not).
        self.hold: str | None = None
        self._identity_checked = -math.inf  # never: the first step checks, whatever the clock's origin
        self._identity_error: str | None = None
        self._tracked_head: tuple[int, bytes] | None = None
        self._sent_since_track = True
        #: Operations in flight that the fee cap (or an empty signer) holds back, with the reason: what /readyz
        #: reports between the steps that try them again.
        self.held_ops: dict[int, str] = {}
        self._holds_read = False

    def sync_index(self, ctx: ChainContext) -> None:
        """Bring the wallet index up to the newest block (the worker's)."""
        raise NotImplementedError

    def note_no_funds(self) -> None:
        """A node refused a transaction for want of funds (the worker's)."""
        raise NotImplementedError

    def queue_depth(self) -> int:
        """How many awards wait to be sent (the worker's)."""
        raise NotImplementedError

    def forget_chain(self) -> None:
        """After an error: check the chain's identity and every receipt again at the next step."""
        self._identity_checked = -math.inf
        self._tracked_head = None

    def confirmations(self, ctx: ChainContext) -> int:
        """How deep a block must be before its awards read ``confirmed``."""
        return self.settings.confirmations_for(ctx.chain_id)

    # ------------------------------------------------------------------------------------------------------
    # The chain is the one it was
    # ------------------------------------------------------------------------------------------------------

    def check_identity(self, ctx: ChainContext, *, force: bool = False) -> bool:
        """False, with the reason held, when the node answers for another chain than the one the service stored
        (checked every ``chain_check_s``, after an error, and whenever ``force``)."""
        now = time.monotonic()
        if not force and self._identity_error is None and now - self._identity_checked < self.settings.chain_check_s:
            return True
        actual = chain_identity(ctx.chain, ctx.client.address)
        self._identity_checked = now
        with self.db.session() as session:
            deployment = session.scalars(select(Deployment)).first()
            if deployment is None:
                return True
            if deployment.genesis_hash is None or deployment.code_hash is None:
                deployment.genesis_hash, deployment.code_hash = actual  # first seen: remember
                return True
            stored = (bytes(deployment.genesis_hash), bytes(deployment.code_hash))
        error = identity_problem(stored, actual, ctx.client.address)
        if error != self._identity_error:
            if error is not None:
                logger.error("%s", error)
            else:
                logger.info("the node answers for the chain the service knows again; delivery resumes")
        self._identity_error = error
        self.hold = error
        return error is None

    # ------------------------------------------------------------------------------------------------------
    # Track: receipts, depth, reorgs
    # ------------------------------------------------------------------------------------------------------

    def _read_holds(self) -> None:
        """After a restart: what held operations back in flight (the fee cap, an empty signer), from the notes
        stored with them, so that ``/readyz`` says it before a step tries them again."""
        with self.db.session() as session:
            rows = session.execute(
                select(Operation.id, Operation.note).where(
                    Operation.status == OpStatus.IN_FLIGHT, Operation.note.is_not(None)
                )
            ).all()
        self.held_ops.update({op_id: note for op_id, note in rows if note and _is_hold(note)})
        self._holds_read = True

    def track(self, ctx: ChainContext, head: Head) -> bool:
        """Record receipts, check recent blocks are canonical, and finish operations deep enough. True when
        anything changed."""
        if not self._holds_read:
            self._read_holds()
        if self._tracked_head == (head.number, head.hash) and not self._sent_since_track:
            return False
        # Every signer's operations: receipts and reorgs need no key, so transactions a previous key of the service
        # left in flight are still followed to the end.
        window = self.settings.reorg_depth_for(ctx.chain_id)
        with self.db.session() as session:
            ops = list(
                session.scalars(
                    select(Operation).where(
                        or_(
                            Operation.status.in_((OpStatus.IN_FLIGHT, OpStatus.MINED)),
                            (Operation.status == OpStatus.DONE) & (Operation.block_number > head.number - window),
                        ),
                    )
                )
            )
            mined_ops = [op for op in ops if op.status != OpStatus.IN_FLIGHT]
            flying = [op for op in ops if op.status == OpStatus.IN_FLIGHT]
            versions = [v for op in flying for v in op.versions if v.status in _WATCHED]
            numbers = sorted({int(op.block_number) for op in mined_ops if op.block_number is not None})
        hashes = ctx.chain.block_hashes([n for n in numbers if n <= head.number])
        reorged = [
            op.id
            for op in mined_ops
            if op.block_number is None
            or (op.block_hash is not None and hashes.get(int(op.block_number)) != bytes(op.block_hash))
        ]
        legacy = {
            op.id: hashes.get(int(op.block_number))
            for op in mined_ops
            if op.block_hash is None and op.block_number is not None
        }
        if reorged and not self.check_identity(ctx, force=True):
            return False  # not a reorg: another chain; nothing is written
        receipts = ctx.chain.receipts_many([v.tx_hash for v in versions]) if versions else []
        self._tracked_head = (head.number, head.hash)
        self._sent_since_track = False
        changed = False
        with self.db.session() as session:
            if reorged:
                self._undo(session, reorged, head)
                changed = True
            for op_id, block_hash in legacy.items():  # recorded before block hashes were: the block as it is now
                if block_hash is not None and op_id not in reorged:
                    session.get_one(Operation, op_id).block_hash = block_hash
            for version, receipt in zip(versions, receipts, strict=True):
                if receipt is not None and receipt.block_number <= head.number:
                    self._record(ctx, session, version.id, receipt)
                    changed = True
        return self._finish(ctx, head) or changed

    def _undo(self, session: Session, op_ids: Sequence[int], head: Head) -> None:
        """A reorg removed the blocks of these operations: back in flight, their awards back to ``submitted``."""
        ops = list(session.scalars(select(Operation).where(Operation.id.in_(op_ids))))
        awards = list(session.scalars(select(Award).where(Award.operation_id.in_(op_ids))))
        for award in awards:  # clear every token id first: the same ids may come back on other awards
            if award.status in (AwardStatus.SUBMITTED, AwardStatus.CONFIRMED):
                award.token_id = None
        session.flush()
        for award in awards:
            if award.status in (AwardStatus.SUBMITTED, AwardStatus.CONFIRMED):
                award.status = AwardStatus.SUBMITTED
                award.block_number = None
                award.confirmed_at = None
                award.tx_id = None
        for op in ops:
            logger.warning(
                "a reorg removed block %s, which held operation %d (%s, nonce %s): it is in flight again",
                op.block_number,
                op.id,
                op.kind,
                op.nonce,
            )
            if op.kind == OpKind.REVOKE and op.token_id is not None:
                for award in session.scalars(select(Award).where(Award.token_id == op.token_id)):
                    award.revoked_at = None
            if op.kind == OpKind.RECOVER and op.token_id is not None:
                deployment = session.scalars(select(Deployment)).one()
                for award in session.scalars(select(Award).where(Award.token_id == op.token_id)):
                    if award.claimed_at is not None:  # back in custody until the recovery is mined again
                        award.recipient = custody_address(deployment.chain_id, deployment.contract_address)
                        award.claimed_at = None
            op.status = OpStatus.IN_FLIGHT
            op.block_number = op.block_hash = op.tx_hash = op.gas_used = op.done_at = None
            op.sent_block = head.number
            op.sent_at = utcnow()
            for version in op.versions:
                if version.status == TxStatus.MINED:
                    version.status = TxStatus.SENT
                    version.block_number = None
        self.metrics.reorgs.inc()

    def _record(self, ctx: ChainContext, session: Session, version_id: int, receipt: Receipt) -> None:
        """A version was mined: the operation is ``mined`` in its block, and its awards get their token ids."""
        version = session.get_one(ChainTx, version_id)
        op = version.operation
        if op is None or op.status != OpStatus.IN_FLIGHT:
            return
        for other in op.versions:
            if other.id != version.id and other.status in _WATCHED:
                other.status = TxStatus.REPLACED
        version.status = TxStatus.MINED
        version.block_number = receipt.block_number
        self.held_ops.pop(op.id, None)
        op.tx_hash = receipt.tx_hash
        op.block_number = receipt.block_number
        op.block_hash = receipt.block_hash
        op.gas_used = receipt.gas_used
        op.note = None
        if receipt.status != 1:
            self._reverted(session, op, version)
            return
        op.status = OpStatus.MINED
        if op.kind != OpKind.AWARD_BATCH:
            return
        minted = {e.request_id: e for e in ctx.client.award_events_in(receipt)}
        awards = list(session.scalars(select(Award).where(Award.operation_id == op.id)))
        for award in awards:
            event = minted.get(award.request_id)
            if event is None:
                award.status = AwardStatus.FAILED
                award.failure_reason = f"transaction {receipt.tx_hash} was mined without this award"
                continue
            award.token_id = event.token_id
            award.block_number = receipt.block_number
            award.tx_id = version.id

    def _reverted(self, session: Session, op: Operation, version: ChainTx) -> None:
        """A version was mined and reverted: the nonce is used; award batches go back to the queue (the next
        estimate tells which award, if any, is at fault), other operations fail."""
        op.status = OpStatus.FAILED
        version.status = TxStatus.FAILED
        if op.kind == OpKind.AWARD_BATCH:
            op.error = "reverted on chain; its awards were queued again"
            for award in session.scalars(select(Award).where(Award.operation_id == op.id)):
                award.status = AwardStatus.QUEUED
                award.operation_id = None
                award.token_id = None
        else:
            op.error = f"transaction {version.tx_hash} reverted on chain"
        logger.warning("operation %d (%s) reverted in block %s", op.id, op.kind, op.block_number)

    def _finish(self, ctx: ChainContext, head: Head) -> bool:
        """Operations ``confirmations`` deep are done: their awards confirmed, their revocations recorded."""
        deepest = head.number - self.confirmations(ctx)
        with self.db.session() as session:
            ready = list(
                session.scalars(
                    select(Operation.id).where(
                        Operation.status == OpStatus.MINED,
                        Operation.block_number <= deepest,
                    )
                )
            )
        if not ready:
            return False
        if self.queue_depth() == 0:
            # Nothing waits: index the new blocks before the awards read as confirmed, so that whoever sees
            # "confirmed" finds the kudos in the wallet too. Under load the index follows within a second.
            self.sync_index(ctx)
        now = utcnow()
        with self.db.session() as session:
            for op in session.scalars(select(Operation).where(Operation.id.in_(ready))):
                op.status = OpStatus.DONE
                op.done_at = now
                if op.kind == OpKind.REVOKE and op.token_id is not None:
                    for award in session.scalars(select(Award).where(Award.token_id == op.token_id)):
                        award.revoked_at = now
                if op.kind == OpKind.RECOVER and op.token_id is not None and op.argument is not None:
                    for award in session.scalars(select(Award).where(Award.token_id == op.token_id)):
                        award.recipient = op.argument  # the person's wallet: the kudos is theirs now
                        award.claimed_at = now
                for award in session.scalars(
                    select(Award).where(Award.operation_id == op.id, Award.status == AwardStatus.SUBMITTED)
                ):
                    award.status = AwardStatus.CONFIRMED
                    award.confirmed_at = now
                    self.metrics.confirmation_seconds.observe((now - as_utc(award.created_at)).total_seconds())
        return True

    # ------------------------------------------------------------------------------------------------------
    # Heal: stuck, dropped, and nonces used elsewhere
    # ------------------------------------------------------------------------------------------------------

    def heal(self, ctx: ChainContext, head: Head) -> bool:
        """Replace stuck transactions, send dropped ones again, reconcile nonces another transaction used."""
        resend_after = timedelta(seconds=self.settings.resend_after_s)
        now = utcnow()
        with self.db.session() as session:
            due = [
                op.id
                for op in session.scalars(
                    select(Operation).where(
                        Operation.signer == ctx.signer.address, Operation.status == OpStatus.IN_FLIGHT
                    )
                )
                if op.sent_at is None
                or now - as_utc(op.sent_at) >= resend_after
                or (op.sent_block is not None and head.number - op.sent_block >= self.settings.replace_after_blocks)
            ]
        if not due:
            return False
        mined_nonce = ctx.chain.mined_nonce(ctx.signer.address)
        changed = False
        for op_id in due:
            changed = self._heal_one(ctx, head, op_id, mined_nonce) or changed
        return changed

    def _heal_one(self, ctx: ChainContext, head: Head, op_id: int, mined_nonce: int) -> bool:
        with self.db.session() as session:
            op = session.get_one(Operation, op_id)
            if op.status != OpStatus.IN_FLIGHT or op.nonce is None:
                return False
            if op.nonce < mined_nonce:
                return self._nonce_used(ctx, session, op)
            latest = op.versions[-1]
            stuck = op.sent_block is not None and head.number - op.sent_block >= self.settings.replace_after_blocks
            if stuck and any(r is not None for r in ctx.chain.receipts_many([v.tx_hash for v in op.versions])):
                self._tracked_head = None  # mined after this step read the receipts: the next step records it
                return False
            if not stuck:
                with ctx.lock:
                    ((outcome, message),) = ctx.manager.send([bytes(latest.raw)])
                op.sent_at = utcnow()
                if outcome is not SendOutcome.UNDERPRICED:
                    self.record_send(session, ctx, latest.tx_hash, outcome, message)
                    return False
            replacement = self._replace(ctx, session, head, op)
        if replacement is None:
            return False
        # Committed: the new version is stored, and only now broadcast.
        with ctx.lock:
            ((outcome, message),) = ctx.manager.send([replacement])
        with self.db.session() as session:
            self.record_send(session, ctx, replacement.tx_hash, outcome, message)
        return True

    def _replace(self, ctx: ChainContext, session: Session, head: Head, op: Operation) -> SignedTx | None:
        """Sign ``op`` again at its nonce with higher fees and store the version in ``session`` (the caller
        broadcasts it once the session is committed); None when the cap allows no replacement."""
        latest = op.versions[-1]
        previous = Fees(int(latest.max_fee_per_gas or 0), int(latest.max_priority_fee_per_gas or 0))
        try:
            fees = fees_for_replacement(ctx.manager, head, previous)
        except FeeCapExceededError as exc:
            op.sent_block = head.number  # look again in replace_after_blocks
            if head.base_fee <= previous.max_fee_per_gas:  # it can be mined as it is: no bump is possible or needed
                op.note = None
                self.held_ops.pop(op.id, None)
            else:
                op.note = stuck_on_fees(exc)
                self.hold = op.note
                self.held_ops[op.id] = op.note
            # Still send what there is: a node that dropped it takes it back once the base fee allows.
            with ctx.lock:
                ctx.manager.send([bytes(latest.raw)])
            return None
        assert op.nonce is not None
        assert op.gas_limit is not None
        with ctx.lock:
            signed = ctx.manager.sign_at(
                {"to": op.to_address, "data": op.data}, nonce=op.nonce, gas=int(op.gas_limit), fees=fees
            )
        store_version(session, op, signed, head=head.number)
        op.replacements += 1
        op.note = None
        self.held_ops.pop(op.id, None)
        self.metrics.replacements.inc()
        logger.info(
            "operation %d (nonce %d) replaced: max fee %d → %d wei, tip %d → %d wei",
            op.id,
            op.nonce,
            previous.max_fee_per_gas,
            fees.max_fee_per_gas,
            previous.max_priority_fee_per_gas,
            fees.max_priority_fee_per_gas,
        )
        return signed

    def record_send(
        self, session: Session, ctx: ChainContext, tx_hash: str, outcome: SendOutcome, message: str
    ) -> None:
        """Record what a node said to a broadcast version."""
        self._sent_since_track = True
        version = session.scalars(select(ChainTx).where(ChainTx.tx_hash == tx_hash)).one()
        op = version.operation
        if outcome is SendOutcome.SENT:
            if version.status == TxStatus.SIGNED:
                version.status = TxStatus.SENT
            if op is not None and op.note and op.note.endswith(HELD_BY_FUNDS):
                self.held_ops.pop(op.id, None)
            if op is not None and op.note and op.note.startswith("the node refused"):
                op.note = None
            return
        if op is None:
            return
        if outcome is SendOutcome.NO_FUNDS:
            self.note_no_funds()
            op.note = f"the node refused it: the signer {ctx.signer.address} {HELD_BY_FUNDS}"
            self.held_ops[op.id] = op.note
        elif outcome is SendOutcome.NONCE_USED:
            op.nonce_used_at = op.nonce_used_at or utcnow()
            op.note = f"the node says nonce {op.nonce} is used: checking the chain for its awards"
        else:
            op.note = f"the node refused it ({message}); it is sent again in {self.settings.resend_after_s:g} s"
        logger.warning("operation %d (nonce %s): %s", op.id, op.nonce, op.note)

    def _nonce_used(self, ctx: ChainContext, session: Session, op: Operation) -> bool:
        """``op``'s nonce is used on chain and no version of it has a receipt. The first time, wait: a receipt of
        one of its versions may not have been read yet. After ``resend_after_s``, read its receipts once more, and
        then look its awards up by request id: those found are recorded, the rest go back to the queue."""
        now = utcnow()
        if op.nonce_used_at is None:
            op.nonce_used_at = now
            return False
        if now - as_utc(op.nonce_used_at) < timedelta(seconds=self.settings.resend_after_s):
            return False
        hashes = [v.tx_hash for v in op.versions]
        if any(r is not None for r in ctx.chain.receipts_many(hashes)):
            self._tracked_head = None  # a version was mined after all: the next track records it
            return False
        for version in op.versions:
            if version.status in _WATCHED:
                version.status = TxStatus.FAILED
                version.error = f"nonce {op.nonce} was used by another transaction"
        self.held_ops.pop(op.id, None)
        if op.kind == OpKind.AWARD_BATCH:
            op.status = OpStatus.SUPERSEDED
            op.error = (
                f"nonce {op.nonce} was used by another transaction of the signer; its awards went back to the queue"
            )
            awards = list(session.scalars(select(Award).where(Award.operation_id == op.id)))
            found = ctx.client.awards_by_request_id(
                [a.request_id for a in awards],
                from_block=max(0, (op.sent_block or 0) - self.settings.reorg_depth_for(ctx.chain_id)),
            )
            for award in awards:
                event = found.get(award.request_id)
                if event is not None:  # awarded by some other transaction: it is on chain, once
                    award.status = AwardStatus.CONFIRMED
                    award.token_id = event.token_id
                    award.block_number = event.block_number
                    award.confirmed_at = now
                else:
                    award.status = AwardStatus.QUEUED
                    award.operation_id = None
            logger.warning(
                "nonce %d of operation %d was used by another transaction: %d of its %d awards were found on chain, "
                "the others are queued again",
                op.nonce,
                op.id,
                len(found),
                len(awards),
            )
        else:  # a revocation or a call: signed again, with a new nonce and a fresh estimate
            op.note = f"nonce {op.nonce} was used by another transaction of the signer: it will be sent again"
            op.status = OpStatus.PENDING
            op.nonce = None
            op.sent_block = None
            op.sent_at = None
            op.nonce_used_at = None
            op.error = None
            logger.warning("nonce used by another transaction: operation %d (%s) is pending again", op.id, op.kind)
        return True


def _is_hold(note: str) -> bool:
    """Whether an operation's note says it is held back (:func:`stuck_on_fees`, or an empty signer)."""
    return note.endswith(HELD_BY_FEES) or note.endswith(HELD_BY_FUNDS)
