"""Fixtures of the delivery tests: a migrated service database of the module's own, and rows made in it as the
service makes them (an API key by :func:`kudos_service.keys.create_key`, awards with their content hash and request
id)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address
from kudos_service.chain_access import ChainContext
from kudos_service.core.config import Settings
from kudos_service.core.db import Database
from kudos_service.delivery import Worker
from kudos_service.delivery.fees import Head
from kudos_service.delivery.outbox import request_revoke
from kudos_service.keys import create_key
from kudos_service.models import ApiKey, Award, AwardStatus, Kind, Operation, OpKind, utcnow
from kudos_service.state import AppState, build_state
from sqlalchemy import select
from sqlalchemy.orm import Session

from kudos_chain import Chain, KudosClient, Signer
from kudos_chain.client import request_id_bytes
from kudos_chain.testing import AnvilNode


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A service database (SQLite, migrated to the newest schema) for the test module."""
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('delivery-db') / 'kudos.db'}")
    database.migrate()
    try:
        yield database
    finally:
        database.dispose()


def new_api_key(session: Session, *scopes: str) -> ApiKey:
    """A stored API key with ``scopes`` (``revoke`` by default)."""
    _, row = create_key(session, scopes=scopes or ("revoke",))
    return row


def new_award(
    session: Session,
    api_key: ApiKey,
    *,
    status: AwardStatus = AwardStatus.QUEUED,
    token_id: int | None = None,
    recipient: str | None = None,
    transferable: bool = False,
) -> Award:
    """A stored award of the ``team-player`` kind, as the service accepts one (then moved to ``status``)."""
    kind = session.scalars(select(Kind).where(Kind.slug == "team-player")).one()
    award_id = str(uuid.uuid4())
    award = Award(
        id=award_id,
        api_key_id=api_key.id,
        idempotency_key=uuid.uuid4().hex,
        request_hash=os.urandom(32),
        request_id=request_id_bytes(award_id),
        recipient=recipient or to_checksum_address("0x" + os.urandom(20).hex()),
        kind_id=kind.id,
        message="Thank you for unblocking the release.",
        awarded_by="Ada Lovelace",
        recipient_name=None,
        transferable=transferable,
        metadata_json=b"{}",
        content_hash=os.urandom(32),
        status=status,
        token_id=token_id,
        created_at=utcnow(),
    )
    session.add(award)
    session.flush()
    return award


# ----------------------------------------------------------------------------------------------------------------
# A worker driven step by step


@dataclass
class Rig:
    """The service's state with its delivery worker not started: a test runs the worker's steps itself."""

    state: AppState
    api_key: ApiKey

    @property
    def worker(self) -> Worker:
        return self.state.worker

    @property
    def db(self) -> Database:
        return self.state.db

    @property
    def ctx(self) -> ChainContext:
        return self.state.chain.get()

    def queue(self, count: int = 1, *, recipient: str | None = None, transferable: bool = False) -> list[str]:
        """``count`` new queued awards; their ids."""
        with self.db.session() as session:
            key = session.get_one(ApiKey, self.api_key.id)
            return [new_award(session, key, recipient=recipient, transferable=transferable).id for _ in range(count)]

    def revoke(self, token_id: int, *, reason: str = "mistake") -> int:
        """Request the revocation of kudos ``token_id`` (signed by the worker's key); the operation's id."""
        with self.db.session() as session:
            return request_revoke(
                session,
                signer=self.ctx.signer.address,
                contract=self.ctx.client.address,
                token_id=token_id,
                reason=reason,
                api_key_id=self.api_key.id,
                idempotency_key=None,
            ).operation.id

    def award(self, award_id: str) -> Award:
        with self.db.session() as session:
            return session.get_one(Award, award_id)

    def statuses(self, award_ids: Sequence[str]) -> list[AwardStatus]:
        return [self.award(award_id).status for award_id in award_ids]

    def operation(self, op_id: int) -> Operation:
        with self.db.session() as session:
            op = session.get_one(Operation, op_id)
            _ = op.versions  # loaded while the session is open
            return op

    def operations(self, *kinds: OpKind) -> list[Operation]:
        with self.db.session() as session:
            query = select(Operation).order_by(Operation.id)
            if kinds:
                query = query.where(Operation.kind.in_(kinds))
            ops = list(session.scalars(query))
            for op in ops:
                _ = op.versions
            return ops

    def head(self) -> Head:
        number, block_hash, base_fee, gas_limit = self.ctx.chain.head()
        return Head(number, block_hash, base_fee, gas_limit)

    def step(self, times: int = 1) -> bool:
        """Run the worker's step ``times`` times; whether the last changed anything."""
        worked = False
        for _ in range(times):
            worked = self.worker.run_once()
        return worked

    def deliver(self, award_ids: Sequence[str], *, steps: int = 10) -> None:
        """Step until every award of ``award_ids`` is final (confirmed or failed)."""
        for _ in range(steps):
            if all(s in (AwardStatus.CONFIRMED, AwardStatus.FAILED) for s in self.statuses(award_ids)):
                return
            self.step()
        raise AssertionError(f"not final after {steps} steps: {self.statuses(award_ids)}")


def blocked(rig: Rig) -> str | None:
    """Why the worker says delivery waits (None: it does not)."""
    return rig.worker.blocked_reason


def tracked_head(rig: Rig) -> tuple[int, bytes] | None:
    """The head whose receipts the worker read last (None: they are read again at the next step)."""
    return rig.worker._tracked_head


def _settings(data_dir: Path, **values: Any) -> Settings:
    defaults: dict[str, Any] = {"batch_max_wait_ms": 0, "worker_poll_ms": 10, "run_worker": False}
    return Settings(data_dir=data_dir, database_url=None, **(defaults | values))


def _rig(settings: Settings) -> Rig:
    state = build_state(settings)
    with state.db.session() as session:
        api_key = new_api_key(session, "award", "revoke")
    return Rig(state, api_key)


def _close(rig: Rig) -> None:
    rig.worker.stop(timeout=5)
    ctx = rig.state.chain.peek()
    if ctx is not None and rig.state.settings.embedded:
        ctx.chain.close()
    rig.db.dispose()


@contextmanager
def embedded_rig(data_dir: Path, **settings: Any) -> Iterator[Rig]:
    """A worker on an embedded chain in ``data_dir`` (the contract deployed by ``dev_accounts[0]``, which signs)."""
    rig = _rig(_settings(data_dir, rpc_url=None, **settings))
    rig.state.chain.get()
    try:
        yield rig
    finally:
        _close(rig)


@dataclass
class AnvilRig(Rig):
    """A worker on an anvil node: the contract's admin is a key of its own, the service's signer a minter."""

    node: AnvilNode
    admin: KudosClient
    signer: Signer


@contextmanager
def anvil_rig(node: AnvilNode, data_dir: Path, **settings: Any) -> Iterator[AnvilRig]:
    """A worker delivering to ``node`` with a fresh signer (a keystore in ``data_dir``) on a fresh contract."""
    chain = Chain.connect(node.url, chain_id=node.chain_id)
    admin = Signer.create()
    node.set_balance(admin.address, 100 * 10**18)
    client = KudosClient.deploy(chain, admin, base_uri="https://kudos.example/v1/tokens/")
    signer = Signer.create()
    node.set_balance(signer.address, 100 * 10**18)
    client.grant_minter(signer.address)
    data_dir.mkdir(parents=True, exist_ok=True)
    keystore = signer.to_keystore(data_dir / "signer.json", "delivery-test", kdf="pbkdf2", iterations=2)
    values: dict[str, Any] = {
        "rpc_url": node.url,
        "chain_id": node.chain_id,
        "contract_address": client.address,
        "contract_from_block": client.from_block,
        "signer_keystore": keystore,
        "signer_password": "delivery-test",
    }
    base = _rig(_settings(data_dir, **(values | settings)))
    rig = AnvilRig(base.state, base.api_key, node, client, signer)
    rig.state.chain.get()
    try:
        yield rig
    finally:
        _close(rig)


@pytest.fixture(scope="module")
def node(kudos_anvil_binary: Path) -> Iterator[AnvilNode]:
    """An anvil node for each test module that asks for one: its mining mode, fees, balances and block gas limit are
    that module's tests to change (each module's ``automine`` puts back what its tests change)."""
    with AnvilNode(binary=kudos_anvil_binary) as running:
        yield running
