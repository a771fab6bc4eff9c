"""The event indexer: incremental, resumable, and rolled back on a reorganization (embedded chain)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kudos_chain import Award, Chain, KudosClient, Signer
from kudos_chain.indexer import KudosIndexer, ReorgTooDeepError


@pytest.fixture
def setup():
    chain = Chain.embedded()
    client = KudosClient.deploy(chain, chain.dev_accounts[0], base_uri="https://k.example/t/")
    return chain, client


def _awards(owner: str, n: int, tag: str, kind: int = 1) -> list[Award]:
    return [Award(owner, kind, bytes([i % 256]) * 32, f"{tag}-{i}") for i in range(n)]


def test_sync_indexes_awards_transfers_and_revokes(setup, tmp_path: Path):
    chain, client = setup
    alice, bob = chain.dev_accounts[1], chain.dev_accounts[2]
    client.award_batch(_awards(alice.address, 3, "a", kind=5))
    moved = client.award(alice.address, 9, content_hash=b"\x09" * 32, request_id="gift", transferable=True)
    index = KudosIndexer(client, f"sqlite:///{tmp_path / 'index.db'}")
    index.sync()
    wallet = index.wallet(alice.address)
    assert [k.token_id for k in wallet] == [4, 3, 2, 1]
    assert wallet[0].kind == 9
    assert wallet[0].transferable is True
    assert wallet[1].kind == 5
    assert wallet[1].transferable is False
    assert wallet[0].issued_at == client.kudos(4).issued_at

    client.transfer(moved.token_id, bob.address, owner=alice)
    client.revoke(1)
    index.sync()
    assert [k.token_id for k in index.wallet(alice.address)] == [3, 2]
    assert [k.token_id for k in index.wallet(bob.address)] == [4]
    revoked = index.token(1)
    assert revoked is not None
    assert revoked.owner is None
    assert [k.token_id for k in index.by_request_id("gift")] == [4]
    assert index.count(alice.address) == 2
    assert index.wallet(alice.address, limit=1, offset=1)[0].token_id == 2


def test_sync_resumes_from_the_last_block_after_a_restart(setup, tmp_path: Path):
    chain, client = setup
    alice = chain.dev_accounts[1]
    url = f"sqlite:///{tmp_path / 'index.db'}"
    client.award_batch(_awards(alice.address, 2, "first"))
    first = KudosIndexer(client, url)
    assert first.sync() == 4  # two Transfer and two KudosAwarded events
    last = first.last_block()
    first.engine.dispose()

    client.award_batch(_awards(alice.address, 3, "second"))
    again = KudosIndexer(client, url)  # a new process: only the database is shared
    assert again.last_block() == last
    assert again.sync() == 6  # only the new events are read
    assert again.sync() == 0
    assert [k.token_id for k in again.wallet(alice.address)] == [5, 4, 3, 2, 1]


def test_a_reorganization_is_rolled_back_and_reindexed(setup):
    chain, client = setup
    alice, bob = chain.dev_accounts[1], chain.dev_accounts[2]
    tester = chain.w3.provider.ethereum_tester
    client.award(alice.address, 1, content_hash=b"\x01" * 32, request_id="kept")
    index = KudosIndexer(client, "sqlite://", reorg_depth=16)
    index.sync()
    fork_point = tester.take_snapshot()

    client.award(alice.address, 2, content_hash=b"\x02" * 32, request_id="orphaned")
    index.sync()
    assert [k.token_id for k in index.wallet(alice.address)] == [2, 1]

    # The chain drops the second award and mines another history of the same height and more.
    tester.revert_to_snapshot(fork_point)
    client.manager().resync_nonce()
    client.award(bob.address, 3, content_hash=b"\x03" * 32, request_id="replacement")
    tester.mine_blocks(2)
    index.sync()
    assert [k.token_id for k in index.wallet(alice.address)] == [1]
    replacement = index.wallet(bob.address)
    assert [(k.token_id, k.kind) for k in replacement] == [(2, 3)]
    assert index.by_request_id("orphaned") == []


def test_a_reorganization_of_exactly_the_depth_is_rolled_back(setup):
    """``reorg_depth`` blocks may be replaced, all of them: the block below them is remembered too, as the one the
    new history shares with the old."""
    chain, client = setup
    alice, bob = chain.dev_accounts[1], chain.dev_accounts[2]
    tester = chain.w3.provider.ethereum_tester
    tester.mine_blocks(5)
    client.award(alice.address, 1, content_hash=b"\x01" * 32, request_id="kept")
    fork_point = tester.take_snapshot()
    client.award(alice.address, 2, content_hash=b"\x02" * 32, request_id="orphaned")
    tester.mine_blocks(2)
    index = KudosIndexer(client, "sqlite://", reorg_depth=3)
    index.sync()
    assert [k.token_id for k in index.wallet(alice.address)] == [2, 1]

    tester.revert_to_snapshot(fork_point)  # the three newest blocks indexed are replaced
    client.manager().resync_nonce()
    client.award(bob.address, 3, content_hash=b"\x03" * 32, request_id="replacement")
    tester.mine_blocks(3)
    index.sync()
    assert [k.token_id for k in index.wallet(alice.address)] == [1]
    assert [(k.token_id, k.kind) for k in index.wallet(bob.address)] == [(2, 3)]
    assert index.by_request_id("orphaned") == []


def test_a_reorganization_deeper_than_the_depth_is_refused(setup):
    chain, client = setup
    alice = chain.dev_accounts[1]
    tester = chain.w3.provider.ethereum_tester
    tester.mine_blocks(5)
    fork_point = tester.take_snapshot()
    tester.mine_blocks(5)
    client.award(alice.address, 1, content_hash=b"\x01" * 32, request_id="x")
    index = KudosIndexer(client, "sqlite://", reorg_depth=3)
    index.sync()
    tester.revert_to_snapshot(fork_point)
    tester.mine_blocks(12)
    with pytest.raises(ReorgTooDeepError, match="deeper than the 3 blocks"):
        index.sync()


def test_repr_names_no_secret(setup):
    _, client = setup
    index = KudosIndexer(client, "sqlite://")
    assert "KudosIndexer(0x" in repr(index)
    assert Signer.create().address not in repr(index)
