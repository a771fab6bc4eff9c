"""The outbox: every write to the chain is an :class:`~kudos_service.models.Operation`, stored before anything is
sent, and every signed version of its transaction a :class:`~kudos_service.models.ChainTx`, stored before it is
broadcast.

Only the delivery worker gives nonces (:func:`next_nonce`), so one key's nonces come from one place. An operation
is requested here (:func:`request_revoke`, :func:`request_call`), with an idempotency key where a client sends
one; award batches are made by the worker from the queue of accepted awards.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kudos_chain import RevokeReason, SignedTx
from kudos_chain.client import revoke_calldata
from kudos_service.errors import ConflictError, GoneError, NotFoundError, ServiceError
from kudos_service.models import (
    LIVE_OPS,
    Award,
    AwardStatus,
    ChainTx,
    Operation,
    OpKind,
    OpStatus,
    TxStatus,
    utcnow,
)

__all__ = [
    "DeliveryError",
    "OperationNotFoundError",
    "Requested",
    "TokenNotAwardedError",
    "next_nonce",
    "request_call",
    "request_revoke",
    "store_version",
]


class DeliveryError(ServiceError):
    """The outbox refused an operation."""


class OperationNotFoundError(NotFoundError):
    """No operation has this id (for this API key)."""


class TokenNotAwardedError(NotFoundError):
    """The kudos was not awarded by this service, or not yet confirmed."""


@dataclass(frozen=True)
class Requested:
    """An operation and whether it was created now (False: the same request again)."""

    operation: Operation
    created: bool


#: Operations that will still happen, or happened: a second revocation of the same kudos returns the first.
_STANDING = (OpStatus.PENDING, *LIVE_OPS)


def _request_hash(*parts: object) -> bytes:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).digest()


def request_revoke(
    session: Session,
    *,
    signer: str,
    contract: str,
    token_id: int,
    reason: str,
    api_key_id: int,
    idempotency_key: str | None,
) -> Requested:
    """Put the revocation of ``token_id`` in the outbox, once.

    The same idempotency key with the same request returns the operation it made; with another request it is
    refused. Without a key, a kudos whose revocation is already in the outbox (or done) returns that operation:
    a kudos is revoked once, whoever asks.

    :raises TokenNotAwardedError: for a kudos this service has not confirmed.
    :raises GoneError: for a kudos already revoked.
    :raises ConflictError: for an idempotency key used for another request.
    """
    digest = _request_hash("revoke", token_id, reason)
    if idempotency_key is not None:
        found = session.scalars(
            select(Operation).where(Operation.api_key_id == api_key_id, Operation.idempotency_key == idempotency_key)
        ).first()
        if found is not None:
            if found.request_hash != digest:
                raise ConflictError(
                    "idempotency_key_reused",
                    "an idempotency key was already used with a different request: use a new key",
                    [{"field": "Idempotency-Key", "message": f"{idempotency_key!r} was used for another request"}],
                )
            return Requested(found, created=False)
    award = session.scalars(select(Award).where(Award.token_id == token_id)).first()
    if award is None or award.status != AwardStatus.CONFIRMED:
        raise TokenNotAwardedError("token_not_found", f"no confirmed kudos {token_id} was awarded by this service")
    standing = session.scalars(
        select(Operation)
        .where(Operation.kind == OpKind.REVOKE, Operation.token_id == token_id, Operation.status.in_(_STANDING))
        .order_by(Operation.id)
    ).first()
    if standing is not None:
        return Requested(standing, created=False)
    if award.revoked_at is not None:
        raise GoneError("token_revoked", f"kudos {token_id} was revoked")
    code = RevokeReason[reason.upper()]
    op = Operation(
        kind=OpKind.REVOKE,
        status=OpStatus.PENDING,
        signer=signer,
        to_address=contract,
        data=revoke_calldata(token_id, code),
        token_id=token_id,
        argument=reason,
        api_key_id=api_key_id,
        idempotency_key=idempotency_key,
        request_hash=digest,
        replacements=0,
    )
    session.add(op)
    session.flush()
    return Requested(op, created=True)


def request_call(session: Session, *, signer: str, contract: str, data: bytes, label: str) -> Operation:
    """Put any other call of the contract by the service's signer in the outbox (a role, the base URI)."""
    op = Operation(
        kind=OpKind.CALL, status=OpStatus.PENDING, signer=signer, to_address=contract, data=data, argument=label
    )
    op.replacements = 0
    session.add(op)
    session.flush()
    return op


def next_nonce(session: Session, signer: str, mined: int) -> int:
    """The nonce of the next new transaction of ``signer``: after every nonce the chain has mined (``mined``, the
    node's count at the newest block) and after every nonce of an operation still in flight or not yet deep.

    The one place nonces are given: a nonce stays with its operation until it is mined, or until another
    transaction is seen to have used it (then the operation's work goes back to the queue).
    """
    highest = session.scalar(
        select(func.max(Operation.nonce)).where(
            Operation.signer == signer, Operation.status.in_((OpStatus.IN_FLIGHT, OpStatus.MINED))
        )
    )
    return max(mined, -1 if highest is None else int(highest) + 1)


def store_version(session: Session, op: Operation, signed: SignedTx, *, head: int) -> ChainTx:
    """Store a signed version of ``op``'s transaction (before it is broadcast); earlier versions are now
    ``replaced`` (and still watched: whichever version is mined is the one recorded)."""
    for earlier in op.versions:
        if earlier.status in (TxStatus.SIGNED, TxStatus.SENT):
            earlier.status = TxStatus.REPLACED
    version = ChainTx(
        nonce=signed.nonce,
        tx_hash=signed.tx_hash,
        raw=signed.raw,
        status=TxStatus.SIGNED,
        max_fee_per_gas=signed.fees.max_fee_per_gas if signed.fees else None,
        max_priority_fee_per_gas=signed.fees.max_priority_fee_per_gas if signed.fees else None,
    )
    op.versions.append(version)
    op.nonce = signed.nonce
    op.gas_limit = signed.gas
    op.status = OpStatus.IN_FLIGHT
    op.sent_block = head
    op.sent_at = utcnow()
    op.nonce_used_at = None
    session.flush()
    return version
