"""An incremental index of a KudosToken's events in a SQL database (SQLite by default).

The indexer reads the contract's events in pages that public providers accept, keeps the token state they
imply (owner, kind, issue time, content hash, request id), and resumes from the last block it indexed. It
remembers the hashes of the newest ``reorg_depth`` blocks; when the chain reorganizes below them, it rolls the
index back to the last block both agree on and indexes again from there.

>>> from kudos_chain import Chain, KudosClient
>>> chain = Chain.embedded()
>>> kudos = KudosClient.deploy(chain, chain.dev_accounts[0])
>>> _ = kudos.award(chain.dev_accounts[1].address, 7, content_hash=bytes(32), request_id="r-1")
>>> index = KudosIndexer(kudos, "sqlite://")
>>> index.sync()  # the Transfer and the KudosAwarded events of the award
2
>>> [k.kind for k in index.wallet(chain.dev_accounts[1].address)]
[7]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from eth_typing import ChecksumAddress
from web3 import Web3

from kudos_chain.chain import Log
from kudos_chain.client import KUDOS_AWARDED_TOPIC, TRANSFER_TOPIC, KudosClient, request_id_bytes
from kudos_chain.exceptions import ChainError
from kudos_chain.types import TokenId, utc_from_timestamp

__all__ = ["IndexedKudos", "KudosIndexer", "ReorgTooDeepError"]

logger = logging.getLogger(__name__)

_ZERO = "0x0000000000000000000000000000000000000000"

metadata = sa.MetaData()

index_state = sa.Table(
    "kudos_index_state",
    metadata,
    sa.Column("contract", sa.String(42), primary_key=True),
    sa.Column("chain_id", sa.BigInteger, nullable=False),
    sa.Column("last_block", sa.BigInteger, nullable=False),
)

index_blocks = sa.Table(
    "kudos_index_blocks",
    metadata,
    sa.Column("contract", sa.String(42), primary_key=True),
    sa.Column("number", sa.BigInteger, primary_key=True),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
)

index_transfers = sa.Table(
    "kudos_index_transfers",
    metadata,
    sa.Column("contract", sa.String(42), primary_key=True),
    sa.Column("block_number", sa.BigInteger, primary_key=True),
    sa.Column("log_index", sa.Integer, primary_key=True),
    sa.Column("token_id", sa.BigInteger, nullable=False, index=True),
    sa.Column("from_address", sa.String(42), nullable=False),
    sa.Column("to_address", sa.String(42), nullable=False),
    sa.Column("tx_hash", sa.String(66), nullable=False),
)

index_tokens = sa.Table(
    "kudos_index_tokens",
    metadata,
    sa.Column("contract", sa.String(42), primary_key=True),
    sa.Column("token_id", sa.BigInteger, primary_key=True),
    sa.Column("owner", sa.String(42), nullable=True, index=True),
    sa.Column("kind", sa.BigInteger, nullable=True),
    sa.Column("issued_at", sa.BigInteger, nullable=True),
    sa.Column("transferable", sa.Boolean, nullable=True),
    sa.Column("content_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("request_id", sa.LargeBinary(32), nullable=False, index=True),
    sa.Column("awarded_block", sa.BigInteger, nullable=False),
    sa.Column("awarded_tx", sa.String(66), nullable=False),
)


class ReorgTooDeepError(ChainError):
    """The chain reorganized below every block the index remembers."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        super().__init__(f"the chain reorganized deeper than the {depth} blocks the index can roll back")


@dataclass(frozen=True, slots=True)
class IndexedKudos:
    """A kudos as the index knows it; ``owner`` is None once it is revoked or burnt."""

    token_id: TokenId
    owner: ChecksumAddress | None
    kind: int | None
    issued_at: datetime | None
    transferable: bool | None
    content_hash: bytes
    request_id: bytes
    awarded_block: int
    awarded_tx: str


class KudosIndexer:
    """Indexes one KudosToken into a database.

    :param client: the contract to index (a read-only client is enough).
    :param database: a SQLAlchemy URL or engine; the tables are created if missing.
    :param reorg_depth: how many of the newest blocks may still be replaced by a reorganization.
    :param page_blocks: the widest block range of one ``eth_getLogs`` request.
    """

    def __init__(
        self,
        client: KudosClient,
        database: str | sa.Engine,
        *,
        reorg_depth: int = 64,
        page_blocks: int = 2_000,
    ) -> None:
        self.client = client
        self.engine = sa.create_engine(database) if isinstance(database, str) else database
        self.reorg_depth = reorg_depth
        self.page_blocks = page_blocks
        self.contract = client.address
        metadata.create_all(self.engine)

    def __repr__(self) -> str:
        return f"KudosIndexer({self.contract}, {self.engine.url.render_as_string(hide_password=True)})"

    # ------------------------------------------------------------------------------------------------------
    # Syncing
    # ------------------------------------------------------------------------------------------------------

    def last_block(self) -> int | None:
        """The newest block indexed, or None before the first sync."""
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(index_state.c.last_block).where(index_state.c.contract == self.contract)
            ).scalar_one_or_none()

    def sync(self) -> int:
        """Index every event up to the newest block, after rolling back a reorganization if there was one.

        :returns: the number of new events indexed.
        :raises ReorgTooDeepError: when the chain replaced more than ``reorg_depth`` indexed blocks.
        """
        chain = self.client.chain
        last = self.last_block()
        if last is not None:
            last = self._rollback_if_reorganized(last)
        head = chain.block_number()
        start = self.client.from_block if last is None else last + 1
        if start > head:
            return 0
        logs = chain.get_logs(
            address=self.contract,
            topic_sets=[[[TRANSFER_TOPIC, KUDOS_AWARDED_TOPIC]]],
            from_block=start,
            to_block=head,
            max_range=self.page_blocks,
        )
        recent = list(range(max(start, head - self.reorg_depth), head + 1))
        hashes = chain.block_hashes(recent)
        with self.engine.begin() as conn:
            new_tokens = self._apply(conn, logs)
            self._fill_kudos_data(conn, new_tokens)
            # Keep the hashes of the newest `reorg_depth` blocks and of the one below them: where a fork that
            # replaced all of them began (without it, a reorg of exactly `reorg_depth` blocks would find no block
            # it still shares with the chain).
            floor = head - self.reorg_depth - 1
            conn.execute(
                sa.delete(index_blocks).where(
                    index_blocks.c.contract == self.contract,
                    sa.or_(index_blocks.c.number <= floor, index_blocks.c.number.in_(list(hashes))),
                )
            )
            kept = [{"contract": self.contract, "number": n, "hash": h} for n, h in hashes.items() if n > floor]
            if kept:
                conn.execute(sa.insert(index_blocks), kept)
            self._set_last_block(conn, head)
        logger.info("indexed %d events of %s up to block %d", len(logs), self.contract, head)
        return len(logs)

    def _set_last_block(self, conn: sa.Connection, block: int) -> None:
        updated = conn.execute(
            sa.update(index_state).where(index_state.c.contract == self.contract).values(last_block=block)
        )
        if updated.rowcount == 0:
            conn.execute(
                sa.insert(index_state).values(
                    contract=self.contract, chain_id=self.client.chain.chain_id, last_block=block
                )
            )

    def _rollback_if_reorganized(self, last: int) -> int:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(index_blocks.c.number, index_blocks.c.hash).where(index_blocks.c.contract == self.contract)
            ).all()
        stored: dict[int, bytes] = {int(n): bytes(h) for n, h in rows}
        if not stored:
            return last
        actual = self.client.chain.block_hashes(sorted(stored))
        bad = [n for n in stored if actual.get(n) != stored[n]]
        if not bad:
            return last
        good = [n for n in stored if n < min(bad)]
        if good:
            good_block = max(good)
        elif min(stored) <= self.client.from_block:
            good_block = self.client.from_block - 1  # everything since the deployment: index it all again
        else:
            raise ReorgTooDeepError(self.reorg_depth)
        logger.warning("chain reorganized after block %d; rolling the index back", good_block)
        self._rollback_to(good_block)
        return good_block

    def _rollback_to(self, block: int) -> None:
        c = self.contract
        with self.engine.begin() as conn:
            touched = {
                int(t)
                for t in conn.execute(
                    sa.select(index_transfers.c.token_id).where(
                        index_transfers.c.contract == c, index_transfers.c.block_number > block
                    )
                ).scalars()
            }
            conn.execute(
                sa.delete(index_transfers).where(
                    index_transfers.c.contract == c, index_transfers.c.block_number > block
                )
            )
            conn.execute(
                sa.delete(index_tokens).where(index_tokens.c.contract == c, index_tokens.c.awarded_block > block)
            )
            conn.execute(sa.delete(index_blocks).where(index_blocks.c.contract == c, index_blocks.c.number > block))
            for token_id in touched:
                last = conn.execute(
                    sa.select(index_transfers.c.to_address)
                    .where(index_transfers.c.contract == c, index_transfers.c.token_id == token_id)
                    .order_by(index_transfers.c.block_number.desc(), index_transfers.c.log_index.desc())
                    .limit(1)
                ).scalar_one_or_none()
                owner = None if last in (None, _ZERO) else last
                conn.execute(
                    sa.update(index_tokens)
                    .where(index_tokens.c.contract == c, index_tokens.c.token_id == token_id)
                    .values(owner=owner)
                )
            self._set_last_block(conn, block)

    def _apply(self, conn: sa.Connection, logs: Sequence[Log]) -> list[int]:
        c = self.contract
        owners: dict[int, str | None] = {}
        transfers: list[dict[str, object]] = []
        awards: list[dict[str, object]] = []
        new_ids: list[int] = []
        for log in logs:
            if (transfer := self.client.transfer_event(log)) is not None:
                transfers.append(
                    {
                        "contract": c,
                        "block_number": transfer.block_number,
                        "log_index": transfer.log_index,
                        "token_id": transfer.token_id,
                        "from_address": transfer.sender,
                        "to_address": transfer.to,
                        "tx_hash": transfer.tx_hash,
                    }
                )
                owners[transfer.token_id] = None if transfer.to == _ZERO else transfer.to
            elif (award := self.client.award_event(log)) is not None:
                new_ids.append(award.token_id)
                awards.append(
                    {
                        "contract": c,
                        "token_id": award.token_id,
                        "owner": None,
                        "content_hash": award.content_hash,
                        "request_id": award.request_id,
                        "awarded_block": award.block_number,
                        "awarded_tx": award.tx_hash,
                    }
                )
        if transfers:
            conn.execute(sa.insert(index_transfers), transfers)
        if awards:
            conn.execute(sa.insert(index_tokens), awards)
        if owners:  # one statement for all (executemany): a statement each costs more than the chain's reads
            conn.execute(
                sa.update(index_tokens)
                .where(index_tokens.c.contract == c, index_tokens.c.token_id == sa.bindparam("token"))
                .values(owner=sa.bindparam("new_owner")),
                [{"token": token_id, "new_owner": owner} for token_id, owner in owners.items()],
            )
        return new_ids

    def _fill_kudos_data(self, conn: sa.Connection, token_ids: Sequence[int]) -> None:
        """Kind, issue time and transferability are in storage, not in events: read them in one batch."""
        for start in range(0, len(token_ids), 1_000):
            chunk = token_ids[start : start + 1_000]
            rows = [
                {"token": token_id, "new_kind": data[0], "new_issued_at": data[1], "new_transferable": data[2]}
                for token_id, data in zip(chunk, self.client.kudos_data_many(chunk), strict=True)
                if data is not None  # None: revoked or burnt before it was indexed; its data is gone from storage
            ]
            if rows:
                conn.execute(
                    sa.update(index_tokens)
                    .where(index_tokens.c.contract == self.contract, index_tokens.c.token_id == sa.bindparam("token"))
                    .values(
                        kind=sa.bindparam("new_kind"),
                        issued_at=sa.bindparam("new_issued_at"),
                        transferable=sa.bindparam("new_transferable"),
                    ),
                    rows,
                )

    # ------------------------------------------------------------------------------------------------------
    # Queries
    # ------------------------------------------------------------------------------------------------------

    def wallet(self, owner: str, *, limit: int = 100, offset: int = 0) -> list[IndexedKudos]:
        """The kudos ``owner`` holds, newest first, one page at a time."""
        query = (
            sa.select(index_tokens)
            .where(index_tokens.c.contract == self.contract, index_tokens.c.owner == Web3.to_checksum_address(owner))
            .order_by(index_tokens.c.token_id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self.engine.connect() as conn:
            return [_indexed(row) for row in conn.execute(query)]

    def count(self, owner: str) -> int:
        """How many kudos ``owner`` holds, as indexed."""
        query = (
            sa.select(sa.func.count())
            .select_from(index_tokens)
            .where(index_tokens.c.contract == self.contract, index_tokens.c.owner == Web3.to_checksum_address(owner))
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def token(self, token_id: int) -> IndexedKudos | None:
        """One kudos by id, revoked ones included (with ``owner`` None)."""
        query = sa.select(index_tokens).where(
            index_tokens.c.contract == self.contract, index_tokens.c.token_id == token_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _indexed(row)

    def by_request_id(self, request_id: bytes | str) -> list[IndexedKudos]:
        """The kudos awarded with this request id: how a caller reconciles its records with the chain."""
        query = sa.select(index_tokens).where(
            index_tokens.c.contract == self.contract, index_tokens.c.request_id == request_id_bytes(request_id)
        )
        with self.engine.connect() as conn:
            return [_indexed(row) for row in conn.execute(query)]


def _indexed(row: sa.Row[tuple[object, ...]]) -> IndexedKudos:
    m = row._mapping
    return IndexedKudos(
        token_id=TokenId(int(m["token_id"])),
        owner=None if m["owner"] is None else Web3.to_checksum_address(m["owner"]),
        kind=None if m["kind"] is None else int(m["kind"]),
        issued_at=None if m["issued_at"] is None else utc_from_timestamp(int(m["issued_at"])),
        transferable=None if m["transferable"] is None else bool(m["transferable"]),
        content_hash=bytes(m["content_hash"]),
        request_id=bytes(m["request_id"]),
        awarded_block=int(m["awarded_block"]),
        awarded_tx=str(m["awarded_tx"]),
    )
