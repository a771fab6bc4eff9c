"""Delivering again on a chain that replaced the one the service knew (:mod:`kudos_service.delivery.redeliver`):
awards delivered on an embedded chain, then a new contract on another chain (an anvil node): the survey says what
each side holds, and redelivery queues every award once, except those revoked, abandons the old operations and
clears the old contract's wallet index."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from kudos_service.chain_access import chain_identity
from kudos_service.core.db import Database
from kudos_service.delivery.outbox import request_call
from kudos_service.delivery.redeliver import Survey, redeliver, survey
from kudos_service.models import AwardStatus, ChainTx, Deployment, Operation, OpKind, OpStatus, TxStatus
from sqlalchemy import func, select

from kudos_chain import KudosClient
from kudos_chain.indexer import index_blocks, index_state, index_tokens, index_transfers
from tests.service.delivery.conftest import Rig, embedded_rig, new_api_key, new_award

INDEX_TABLES = (index_transfers, index_tokens, index_blocks, index_state)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with embedded_rig(tmp_path) as running:
        yield running


def index_rows(db: Database, contract: str) -> int:
    with db.session() as session:
        return sum(
            int(session.scalar(select(func.count()).select_from(t).where(t.c.contract == contract)) or 0)
            for t in INDEX_TABLES
        )


def test_a_database_that_never_delivered_has_nothing_to_deliver_again(
    tmp_path: Path, kudos_anvil_token: KudosClient
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'kudos.db'}")
    db.migrate()
    try:
        with pytest.raises(
            LookupError, match=r"^the database has no deployment yet: there is nothing to deliver again$"
        ):
            survey(db, kudos_anvil_token)
    finally:
        db.dispose()


def test_the_same_chain_needs_nothing(rig: Rig) -> None:
    ids = rig.queue(1)
    rig.deliver(ids)
    found = survey(rig.db, rig.ctx.client)
    assert found.same_chain
    assert (found.old_chain_id, found.old_contract) == (found.new_chain_id, found.new_contract)
    assert found.old_genesis == found.new_genesis == rig.ctx.chain.genesis_hash()


def test_awards_are_queued_again_on_the_new_chain_once_and_revoked_ones_not(
    rig: Rig, kudos_anvil_token: KudosClient
) -> None:
    delivered = rig.queue(3)
    rig.deliver(delivered)
    tokens = [rig.award(i).token_id for i in delivered]
    assert None not in tokens
    revoked_done, revoke_asked = int(tokens[0] or 0), int(tokens[1] or 0)
    rig.step()
    done_op = rig.revoke(revoked_done)
    rig.step(2)
    assert rig.operation(done_op).status == OpStatus.DONE
    assert rig.award(delivered[0]).revoked_at is not None
    asked_op = rig.revoke(revoke_asked)  # pending: asked, not yet sent
    with rig.db.session() as session:
        key = new_api_key(session, "award")
        failed = new_award(session, key, status=AwardStatus.FAILED).id
        failed_revoke = request_call(
            session, signer=rig.ctx.signer.address, contract=rig.ctx.client.address, data=b"", label="x"
        )
        failed_revoke.kind, failed_revoke.status, failed_revoke.token_id = OpKind.REVOKE, OpStatus.FAILED, 999
        ghost_award = new_award(session, key, status=AwardStatus.CONFIRMED, token_id=999).id
        # A recovery of the third kudos (to its owner's new wallet) is no revocation: it is delivered again.
        recovery = request_call(
            session, signer=rig.ctx.signer.address, contract=rig.ctx.client.address, data=b"", label="recover"
        )
        recovery.kind, recovery.status, recovery.token_id = OpKind.RECOVER, OpStatus.DONE, int(tokens[2] or 0)
        recovery_id = recovery.id
    queued = rig.queue(1)
    in_flight = rig.queue(1)
    rig.step()  # in flight: signed and sent, not yet recorded
    with rig.db.session() as session:
        sent = list(session.scalars(select(ChainTx).where(ChainTx.status == TxStatus.SENT)))
        assert len(sent) == 2  # the batch, and the revocation asked
        sent[0].status = TxStatus.REPLACED  # a version a replacement made obsolete, still watched
        sent_versions = [v.id for v in sent]
    old = rig.ctx.client
    old_genesis = rig.ctx.chain.genesis_hash()
    assert index_rows(rig.db, old.address) > 0

    new = kudos_anvil_token
    found = survey(rig.db, new)
    assert not found.same_chain
    expected = Survey(
        old_chain_id=old.chain.chain_id,
        old_contract=old.address,
        old_genesis=old_genesis,
        new_chain_id=new.chain.chain_id,
        new_contract=new.address,
        new_genesis=new.chain.genesis_hash(),
        awards={"confirmed": 4, "failed": 1, "submitted": 2},
        revoked=2,  # one revoked, one whose revocation was asked
        to_deliver=4,  # one delivered, one whose revocation failed, and two not yet delivered
    )
    assert found == expected
    assert redeliver(rig.db, new) == expected

    revoked_reason = "revoked on the chain the service served before; not delivered again"
    for award_id in delivered[:2]:
        award = rig.award(award_id)
        assert (award.status, award.failure_reason, award.token_id) == (AwardStatus.FAILED, revoked_reason, None)
    for award_id in [delivered[2], ghost_award, *queued, *in_flight]:
        award = rig.award(award_id)
        assert award.status == AwardStatus.QUEUED
        assert award.failure_reason is None
        assert (award.operation_id, award.tx_id, award.token_id, award.block_number) == (None, None, None, None)
        assert (award.submitted_at, award.confirmed_at) == (None, None)
    assert rig.award(failed).status == AwardStatus.FAILED
    with rig.db.session() as session:
        ops = {op.id: op for op in session.scalars(select(Operation))}
        reason = f"made for chain {old.chain.chain_id} ({old.address}), which the node no longer serves"
        for op in ops.values():
            if op.id == failed_revoke.id:  # failed already: left as it is
                assert (op.status, op.error) == (OpStatus.FAILED, None)
            else:
                assert (op.status, op.error) == (OpStatus.ABANDONED, reason), op.kind
        assert asked_op in ops
        assert ops[recovery_id].status == OpStatus.ABANDONED
        for version_id in sent_versions:
            version = session.get_one(ChainTx, version_id)
            assert (version.status, version.error) == (TxStatus.FAILED, "made for a chain the node no longer serves")
        mined = list(session.scalars(select(ChainTx).where(ChainTx.status == TxStatus.MINED)))
        assert mined  # what was mined on the old chain stays as it was
        assert all(v.error is None for v in mined)
        deployment = session.scalars(select(Deployment)).one()
        assert (deployment.chain_id, deployment.contract_address, deployment.from_block) == (
            new.chain.chain_id,
            new.address,
            new.from_block,
        )
        assert (deployment.genesis_hash, deployment.code_hash) == chain_identity(new.chain, new.address)
    assert index_rows(rig.db, old.address) == 0
    with rig.db.session() as session:
        assert session.execute(sa.select(func.count()).select_from(index_state)).scalar() == 0


def test_a_deployment_whose_chain_was_never_checked_has_no_genesis_yet(
    rig: Rig, kudos_anvil_token: KudosClient
) -> None:
    with rig.db.session() as session:
        assert session.scalars(select(Deployment)).one().genesis_hash is None  # the worker has not looked yet
    found = survey(rig.db, kudos_anvil_token)
    assert found.old_genesis is None
    assert not found.same_chain
