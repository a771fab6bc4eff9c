"""Delivering again on a chain that replaced the one the service knew (``kudos chain redeliver``).

A development node started again without its state, or a service pointed at a new network, holds none of the
kudos the database says were delivered. The worker stops at once when it sees this (:mod:`.reconcile`); an
operator then deploys a KudosToken on the new chain and runs this, with the service stopped:

- :func:`survey` says what the database holds for the old chain, and what the node answers for now;
- :func:`redeliver` adopts the new chain and contract, and puts every award back in the queue, exactly once:
  each keeps its id, request id, metadata and content hash, and gets a new token id when it is delivered.
  Awards revoked (or whose revocation was asked) on the old chain are not delivered again. The operations made
  for the old chain are ``abandoned``, and the wallet index of the old contract is cleared.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from kudos_chain import KudosClient
from kudos_chain.indexer import index_blocks, index_state, index_tokens, index_transfers
from kudos_service.chain_access import chain_identity
from kudos_service.core.db import Database
from kudos_service.models import (
    Award,
    AwardStatus,
    ChainTx,
    Deployment,
    Operation,
    OpKind,
    OpStatus,
    TxStatus,
)

__all__ = ["Survey", "redeliver", "survey"]

#: Operations that belong to the old chain once it is gone.
_OLD = (OpStatus.PENDING, OpStatus.IN_FLIGHT, OpStatus.MINED, OpStatus.DONE)


@dataclass(frozen=True)
class Survey:
    """What the database holds for the chain it knows, and what the node answers for now."""

    old_chain_id: int
    old_contract: str
    old_genesis: bytes | None
    new_chain_id: int
    new_contract: str
    new_genesis: bytes
    awards: dict[str, int]  # by status
    revoked: int  # awards revoked, or whose revocation was asked: not delivered again
    to_deliver: int  # awards that go back to the queue

    @property
    def same_chain(self) -> bool:
        """True when the node answers for the chain and contract the database knows: nothing to do."""
        return (self.old_genesis, self.old_contract) == (self.new_genesis, self.new_contract)


def _revoked_token_ids(session: Session) -> set[int]:
    rows = session.scalars(
        select(Operation.token_id).where(Operation.kind == OpKind.REVOKE, Operation.status.in_(_OLD))
    )
    return {int(t) for t in rows if t is not None}


def survey(db: Database, client: KudosClient) -> Survey:
    """Compare the database's chain with the one ``client`` is on.

    :raises LookupError: when the database knows no deployment yet (nothing was ever delivered).
    """
    genesis, _ = chain_identity(client.chain, client.address)
    with db.session() as session:
        deployment = session.scalars(select(Deployment)).first()
        if deployment is None:
            raise LookupError("the database has no deployment yet: there is nothing to deliver again")
        revoked = _revoked_token_ids(session)
        awards = list(session.scalars(select(Award)))
        counts = Counter(a.status.value for a in awards)
        gone = [a for a in awards if a.revoked_at is not None or (a.token_id is not None and a.token_id in revoked)]
        again = [a for a in awards if a.status != AwardStatus.FAILED and a not in gone]
        return Survey(
            old_chain_id=deployment.chain_id,
            old_contract=deployment.contract_address,
            old_genesis=None if deployment.genesis_hash is None else bytes(deployment.genesis_hash),
            new_chain_id=client.chain.chain_id,
            new_contract=client.address,
            new_genesis=genesis,
            awards=dict(counts),
            revoked=len(gone),
            to_deliver=len(again),
        )


def redeliver(db: Database, client: KudosClient) -> Survey:
    """Adopt the chain and contract of ``client`` and queue every award again (see the module's docstring), in one
    transaction. Run it with the service stopped.

    :returns: the survey it acted on.
    """
    found = survey(db, client)
    genesis, code_hash = chain_identity(client.chain, client.address)
    with db.session() as session:
        deployment = session.scalars(select(Deployment)).one()
        old_contract = deployment.contract_address
        revoked = _revoked_token_ids(session)
        for op in session.scalars(select(Operation).where(Operation.status.in_(_OLD))):
            op.status = OpStatus.ABANDONED
            op.error = f"made for chain {deployment.chain_id} ({old_contract}), which the node no longer serves"
        session.execute(
            sa.update(ChainTx)
            .where(ChainTx.status.in_((TxStatus.SIGNED, TxStatus.SENT, TxStatus.REPLACED)))
            .values(status=TxStatus.FAILED, error="made for a chain the node no longer serves")
        )
        for award in session.scalars(select(Award).where(Award.status != AwardStatus.FAILED)):
            if award.revoked_at is not None or (award.token_id is not None and award.token_id in revoked):
                award.status = AwardStatus.FAILED
                award.failure_reason = "revoked on the chain the service served before; not delivered again"
                award.token_id = None
                continue
            award.status = AwardStatus.QUEUED
            award.failure_reason = None
            award.operation_id = award.tx_id = award.token_id = award.block_number = None
            award.submitted_at = award.confirmed_at = None
        for table in (index_transfers, index_tokens, index_blocks, index_state):
            session.execute(sa.delete(table).where(table.c.contract == old_contract))
        deployment.chain_id = client.chain.chain_id
        deployment.contract_address = client.address
        deployment.from_block = client.from_block
        deployment.genesis_hash = genesis
        deployment.code_hash = code_hash
    return found
