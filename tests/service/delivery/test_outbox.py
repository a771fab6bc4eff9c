"""The outbox (:mod:`kudos_service.delivery.outbox`) against the service's SQL store: a revocation is requested
once per kudos and once per idempotency key of an API key, every field the worker signs from is stored, nonces
follow the chain's and those still in flight, and each signed version is stored with its fees before it is sent."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from datetime import timedelta

import pytest
from kudos_service.core.db import Database
from kudos_service.delivery.outbox import (
    OperationNotFoundError,
    Requested,
    TokenNotAwardedError,
    next_nonce,
    request_call,
    request_revoke,
    store_version,
)
from kudos_service.errors import ConflictError, GoneError, NotFoundError
from kudos_service.models import AwardStatus, ChainTx, Operation, OpKind, OpStatus, TxStatus, utcnow
from sqlalchemy.orm import Session

from kudos_chain import Fees, RevokeReason, SignedTx, Signer
from kudos_chain.client import revoke_calldata
from tests.service.delivery.conftest import new_api_key, new_award

SIGNER = Signer.create().address
CONTRACT = Signer.create().address
_token_ids = itertools.count(1000)


def confirmed_token(session: Session, *, revoked: bool = False) -> int:
    """The token id of a new confirmed award (revoked on chain when ``revoked``)."""
    token_id = next(_token_ids)
    award = new_award(session, new_api_key(session, "award"), status=AwardStatus.CONFIRMED, token_id=token_id)
    if revoked:
        award.revoked_at = utcnow()
    return token_id


def revoke(
    session: Session, token_id: int, *, api_key_id: int, key: str | None = None, reason: str = "fraud"
) -> Requested:
    return request_revoke(
        session,
        signer=SIGNER,
        contract=CONTRACT,
        token_id=token_id,
        reason=reason,
        api_key_id=api_key_id,
        idempotency_key=key,
    )


FEES = Fees(30, 2)


def signed(nonce: int, *, fees: Fees | None = FEES, gas: int = 90_000) -> SignedTx:
    """A signed transaction as the library returns one (its hash unique to this test run)."""
    return SignedTx("0x" + os.urandom(32).hex(), nonce, SIGNER, os.urandom(100), gas, fees)  # type: ignore[arg-type]


def operation(session: Session, *, status: OpStatus, nonce: int | None, signer: str = SIGNER) -> Operation:
    op = Operation(
        kind=OpKind.CALL, status=status, signer=signer, to_address=CONTRACT, data=b"\x01", nonce=nonce, replacements=0
    )
    session.add(op)
    session.flush()
    return op


# ----------------------------------------------------------------------------------------------------------------
# Revocations


def test_a_revocation_is_stored_with_everything_the_worker_signs_from(db: Database) -> None:
    with db.session() as session:
        key = new_api_key(session)
        token_id = confirmed_token(session)
        requested = revoke(session, token_id, api_key_id=key.id, key="rv-1", reason="requested_by_holder")
        assert requested.created
        op = requested.operation
        assert op.id is not None
        assert (op.kind, op.status, op.signer, op.to_address) == (OpKind.REVOKE, OpStatus.PENDING, SIGNER, CONTRACT)
        assert op.data == revoke_calldata(token_id, RevokeReason.REQUESTED_BY_HOLDER)
        assert (op.token_id, op.argument, op.api_key_id, op.idempotency_key) == (
            token_id,
            "requested_by_holder",
            key.id,
            "rv-1",
        )
        assert op.replacements == 0
        assert op.nonce is None
        # The request's hash is stored: it must read the same in every version, or a retried request stored by an
        # older one would be refused.
        expected = hashlib.sha256(json.dumps(["revoke", str(token_id), "requested_by_holder"]).encode()).digest()
        assert op.request_hash == expected


def test_the_same_idempotency_key_and_request_returns_the_operation_it_made(db: Database) -> None:
    with db.session() as session:
        key = new_api_key(session)
        token_id = confirmed_token(session)
        first = revoke(session, token_id, api_key_id=key.id, key="same")
        again = revoke(session, token_id, api_key_id=key.id, key="same")
        assert (first.created, again.created) == (True, False)
        assert again.operation.id == first.operation.id


def test_an_idempotency_key_used_for_another_request_is_refused(db: Database) -> None:
    with db.session() as session:
        key = new_api_key(session)
        token_id = confirmed_token(session)
        revoke(session, token_id, api_key_id=key.id, key="reused", reason="fraud")
        with pytest.raises(ConflictError) as raised:
            revoke(session, token_id, api_key_id=key.id, key="reused", reason="mistake")
        assert raised.value.code == "idempotency_key_reused"
        assert raised.value.message == "an idempotency key was already used with a different request: use a new key"
        assert raised.value.details == [
            {"field": "Idempotency-Key", "message": "'reused' was used for another request"}
        ]
        other_token = confirmed_token(session)
        with pytest.raises(ConflictError):
            revoke(session, other_token, api_key_id=key.id, key="reused", reason="fraud")


def test_idempotency_keys_belong_to_one_api_key(db: Database) -> None:
    with db.session() as session:
        alice, bob = new_api_key(session), new_api_key(session)
        first_token, second_token = confirmed_token(session), confirmed_token(session)
        alices = revoke(session, first_token, api_key_id=alice.id, key="shared")
        # Bob's key "shared" is his own: another request under it is not a conflict with Alice's.
        bobs = revoke(session, second_token, api_key_id=bob.id, key="shared", reason="policy")
        assert bobs.created
        assert bobs.operation.id != alices.operation.id
        assert (bobs.operation.token_id, bobs.operation.api_key_id) == (second_token, bob.id)
        # And Bob's same key on Alice's kudos is no retry of Alice's request: it finds her revocation as anyone does.
        again = revoke(session, first_token, api_key_id=bob.id, key="bob-2")
        assert (again.created, again.operation.id) == (False, alices.operation.id)


@pytest.mark.parametrize("status", [OpStatus.PENDING, OpStatus.IN_FLIGHT, OpStatus.MINED, OpStatus.DONE])
def test_a_kudos_is_revoked_once_whoever_asks(db: Database, status: OpStatus) -> None:
    with db.session() as session:
        token_id = confirmed_token(session)
        first = revoke(session, token_id, api_key_id=new_api_key(session).id, key=None)
        first.operation.status = status
        again = revoke(session, token_id, api_key_id=new_api_key(session).id, key=None, reason="mistake")
        assert (again.created, again.operation.id) == (False, first.operation.id)


@pytest.mark.parametrize("status", [OpStatus.FAILED, OpStatus.SUPERSEDED, OpStatus.ABANDONED])
def test_a_revocation_that_will_not_happen_is_asked_again(db: Database, status: OpStatus) -> None:
    with db.session() as session:
        key = new_api_key(session)
        token_id = confirmed_token(session)
        first = revoke(session, token_id, api_key_id=key.id, key=None)
        first.operation.status = status
        again = revoke(session, token_id, api_key_id=key.id, key=None)
        assert again.created
        assert again.operation.id != first.operation.id


def test_the_oldest_standing_revocation_is_the_one_returned(db: Database) -> None:
    with db.session() as session:
        key = new_api_key(session)
        token_id = confirmed_token(session)
        first = revoke(session, token_id, api_key_id=key.id, key="a").operation
        # A second standing one (made while the first had failed and then came back in flight after a reorg).
        first.status = OpStatus.FAILED
        second = revoke(session, token_id, api_key_id=key.id, key="b").operation
        first.status = OpStatus.IN_FLIGHT
        assert second.id > first.id
        found = revoke(session, token_id, api_key_id=key.id, key=None)
        assert found.operation.id == first.id


@pytest.mark.parametrize("status", [AwardStatus.QUEUED, AwardStatus.SUBMITTED, AwardStatus.FAILED])
def test_only_a_confirmed_kudos_of_this_service_can_be_revoked(db: Database, status: AwardStatus) -> None:
    with db.session() as session:
        key = new_api_key(session)
        token_id = next(_token_ids)
        new_award(session, key, status=status, token_id=token_id)
        with pytest.raises(TokenNotAwardedError) as raised:
            revoke(session, token_id, api_key_id=key.id)
        assert raised.value.code == "token_not_found"
        assert raised.value.message == f"no confirmed kudos {token_id} was awarded by this service"
        with pytest.raises(TokenNotAwardedError):
            revoke(session, next(_token_ids), api_key_id=key.id)


def test_a_kudos_revoked_is_gone(db: Database) -> None:
    with db.session() as session:
        key = new_api_key(session)
        token_id = confirmed_token(session, revoked=True)
        with pytest.raises(GoneError) as raised:
            revoke(session, token_id, api_key_id=key.id, key="late")
        assert (raised.value.code, raised.value.message) == ("token_revoked", f"kudos {token_id} was revoked")


def test_the_refusals_are_the_api_s_not_found() -> None:
    assert issubclass(TokenNotAwardedError, NotFoundError)
    assert issubclass(OperationNotFoundError, NotFoundError)


# ----------------------------------------------------------------------------------------------------------------
# Other calls


def test_a_call_is_stored_pending_with_its_data_and_label(db: Database) -> None:
    with db.session() as session:
        op = request_call(session, signer=SIGNER, contract=CONTRACT, data=b"\xca\x11", label="grant minter")
        assert op.id is not None  # flushed: the caller can answer with its id
        assert (op.kind, op.status, op.signer, op.to_address) == (OpKind.CALL, OpStatus.PENDING, SIGNER, CONTRACT)
        assert (op.data, op.argument, op.replacements, op.nonce) == (b"\xca\x11", "grant minter", 0, None)
    with db.session() as session:
        stored = session.get_one(Operation, op.id)
        assert (stored.kind, stored.status, stored.argument, stored.replacements) == (
            OpKind.CALL,
            OpStatus.PENDING,
            "grant minter",
            0,
        )


# ----------------------------------------------------------------------------------------------------------------
# Nonces


def test_the_next_nonce_follows_the_chain_and_the_operations_in_flight(db: Database) -> None:
    signer = Signer.create().address
    with db.session() as session:
        assert next_nonce(session, signer, 0) == 0
        assert next_nonce(session, signer, 5) == 5
        operation(session, status=OpStatus.IN_FLIGHT, nonce=5, signer=signer)
        assert next_nonce(session, signer, 5) == 6  # nonce 5 is taken, not yet mined
        operation(session, status=OpStatus.MINED, nonce=6, signer=signer)
        assert next_nonce(session, signer, 5) == 7  # mined, not yet counted by the node the worker asked
        assert next_nonce(session, signer, 9) == 9  # the chain is ahead (another sender of the key)
        assert next_nonce(session, signer, 0) == 7


@pytest.mark.parametrize(
    "status", [OpStatus.PENDING, OpStatus.DONE, OpStatus.FAILED, OpStatus.SUPERSEDED, OpStatus.ABANDONED]
)
def test_nonces_of_operations_no_longer_in_flight_are_the_chain_s_to_count(db: Database, status: OpStatus) -> None:
    signer = Signer.create().address
    with db.session() as session:
        operation(session, status=status, nonce=40, signer=signer)
        assert next_nonce(session, signer, 3) == 3


def test_nonces_are_per_signer(db: Database) -> None:
    mine, other = Signer.create().address, Signer.create().address
    with db.session() as session:
        operation(session, status=OpStatus.IN_FLIGHT, nonce=20, signer=other)
        assert next_nonce(session, mine, 2) == 2
        operation(session, status=OpStatus.IN_FLIGHT, nonce=2, signer=mine)
        assert next_nonce(session, mine, 2) == 3


# ----------------------------------------------------------------------------------------------------------------
# Signed versions


def test_a_version_is_stored_with_its_nonce_fees_and_gas(db: Database) -> None:
    with db.session() as session:
        op = operation(session, status=OpStatus.PENDING, nonce=None)
        op.nonce_used_at = utcnow()
        tx = signed(12, fees=Fees(31_000, 2_000), gas=123_456)
        before = utcnow()
        version = store_version(session, op, tx, head=77)
        assert version.id is not None  # flushed: stored before it is broadcast
        assert (version.nonce, version.tx_hash, version.raw) == (12, tx.tx_hash, tx.raw)
        assert version.status == TxStatus.SIGNED
        assert (version.max_fee_per_gas, version.max_priority_fee_per_gas) == (31_000, 2_000)
        assert version.operation_id == op.id
        assert (op.nonce, op.gas_limit, op.status, op.sent_block) == (12, 123_456, OpStatus.IN_FLIGHT, 77)
        assert session.get_one(Operation, op.id).nonce_used_at is None  # no longer seen used: a new nonce
        assert op.sent_at is not None
        assert before <= op.sent_at <= utcnow() + timedelta(seconds=1)
        assert op.versions == [version]


def test_a_version_without_fees_stores_none(db: Database) -> None:
    with db.session() as session:
        op = operation(session, status=OpStatus.PENDING, nonce=None)
        version = store_version(session, op, signed(3, fees=None), head=1)
        assert (version.max_fee_per_gas, version.max_priority_fee_per_gas) == (None, None)


def test_a_new_version_replaces_those_that_may_still_be_sent(db: Database) -> None:
    with db.session() as session:
        op = operation(session, status=OpStatus.PENDING, nonce=None)
        first = store_version(session, op, signed(4), head=10)
        second = store_version(session, op, signed(4, fees=Fees(40, 3)), head=11)
        second.status = TxStatus.SENT
        failed = store_version(session, op, signed(4, fees=Fees(50, 4)), head=12)
        failed.status = TxStatus.FAILED
        latest = store_version(session, op, signed(4, fees=Fees(60, 5)), head=13)
        assert [v.status for v in op.versions] == [
            TxStatus.REPLACED,
            TxStatus.REPLACED,
            TxStatus.FAILED,
            TxStatus.SIGNED,
        ]
        assert (first.status, latest.status) == (TxStatus.REPLACED, TxStatus.SIGNED)
        assert op.sent_block == 13
    with db.session() as session:
        stored = session.get_one(Operation, op.id)
        assert [v.max_fee_per_gas for v in stored.versions] == [30, 40, 50, 60]
        assert session.get_one(ChainTx, second.id).status == TxStatus.REPLACED


def test_another_operation_on_the_kudos_is_no_revocation(db: Database) -> None:
    with db.session() as session:
        key = new_api_key(session)
        token_id = confirmed_token(session)
        recovery = Operation(
            kind=OpKind.RECOVER,
            status=OpStatus.PENDING,
            signer=SIGNER,
            to_address=CONTRACT,
            data=b"\x02",
            token_id=token_id,
            replacements=0,
        )
        session.add(recovery)
        session.flush()
        requested = revoke(session, token_id, api_key_id=key.id)
        assert requested.created
        assert requested.operation.kind == OpKind.REVOKE
        assert requested.operation.id != recovery.id
