"""Reading events through a node that refuses large ``eth_getLogs``, as public providers do (anvil behind
:class:`tests.utils.rpc_proxy.RpcProxy`).

About 75 blocks of awards (one award a block, batches of three a block, and empty blocks between) are read
through a proxy that refuses any ``eth_getLogs`` over a few blocks, or any answer of more than a few logs, with
the error one provider or another gives. :meth:`kudos_chain.Chain.get_logs` splits each refused range in half and
asks again, several times over; every event must come back exactly once (none skipped at the seams of the
halves, none doubled), the same as anvil answers when asked directly for the whole range in one request: the
award events by token id and by request id, a wallet's transfers, every log of the contract, and the index of
:class:`kudos_chain.KudosIndexer`, which reads through the same path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from kudos_chain import AwardResult, Chain, KudosClient, Signer
from kudos_chain.client import KUDOS_AWARDED_TOPIC, TRANSFER_TOPIC
from kudos_chain.exceptions import ChainError
from kudos_chain.indexer import KudosIndexer
from kudos_chain.testing import AnvilNode
from tests.conftest import fund
from tests.utils.chain_truth import rpc
from tests.utils.rpc_proxy import RpcProxy

from .conftest import BASE_URI
from .helpers import make_award

#: What the proxy refuses: ranges over this many blocks, or answers of more than this many logs (a block of a
#: three-award batch holds 3 KudosAwarded and 3 Transfer logs, and the soulbound ones a Locked log each: at most
#: 9 logs, under the limit, so a single block is always answered).
MAX_BLOCKS = 5
MAX_RESULTS = 10


@dataclass(frozen=True)
class Awarded:
    """A KudosToken on the session's anvil node with awards over many blocks, each block with its own awards."""

    node: AnvilNode
    client: KudosClient
    results: list[AwardResult]
    recipients: list[str]
    first_block: int
    last_block: int


@pytest.fixture(scope="module")
def awarded(anvil: AnvilNode) -> Awarded:
    """40 single awards (a block each), 5 empty blocks, 10 batches of 3 (a block each), 20 single awards: 90
    awards in 70 blocks."""
    chain = Chain.connect(anvil.url, chain_id=anvil.chain_id)
    chain.dev_accounts = [Signer.from_key(key) for key in anvil.private_keys]
    admin = Signer.create()
    fund(chain, admin.address)
    client = KudosClient.deploy(chain, admin, base_uri=BASE_URI)
    recipients: list[str] = [Signer.create().address for _ in range(3)]

    def some(count: int, offset: int) -> list[Any]:
        return [make_award(recipients[(offset + i) % 3], transferable=(offset + i) % 2 == 0) for i in range(count)]

    # One transaction at a time: anvil mines a flood of them into fewer blocks.
    results = [r for one in some(40, 0) for r in client.award_many([one])]
    anvil.mine(5)
    batches = some(30, 40)
    results += [r for i in range(0, 30, 3) for r in client.award_batch(batches[i : i + 3])]
    results += [r for one in some(20, 70) for r in client.award_many([one])]
    blocks = Counter(r.block_number for r in results)
    assert len(blocks) == 70, f"the awards are not spread one transaction a block: {len(blocks)} blocks"
    assert max(blocks.values()) == 3
    per_block = Counter(
        int(log["blockNumber"], 16) for log in raw_logs(anvil.url, client.address, [], 0, chain.block_number())
    )
    assert max(per_block.values()) <= MAX_RESULTS, "a single block holds more logs than the proxy answers"
    return Awarded(anvil, client, results, recipients, client.from_block, chain.block_number())


def raw_logs(url: str, address: str, topics: list[Any], lo: int, hi: int) -> list[dict[str, Any]]:
    """What the node holds, asked directly in one request, without kudos_chain."""
    found: list[dict[str, Any]] = rpc(
        url, "eth_getLogs", [{"address": address, "topics": topics, "fromBlock": hex(lo), "toBlock": hex(hi)}]
    )
    return found


def positions(logs: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return [(int(log["blockNumber"], 16), int(log["logIndex"], 16)) for log in logs]


def hex32(value: bytes) -> str:
    return "0x" + value.hex()


# ----------------------------------------------------------------------------------------------------------------
# The refusals providers give
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """A provider's refusal: the proxy refuses by range (``max_blocks``) or by the number of logs."""

    by_range: bool
    code: int
    message: str


REFUSALS = {
    # Alchemy: by the size of the answer, naming a range that would work.
    "alchemy": Refusal(
        False,
        -32602,
        "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no limit on "
        "the response size, or you can request any block range with a cap of 10K logs in the response. Based on "
        "your parameters, this block range should work: [0x1, 0x5]",
    ),
    # Infura's live API (and its documentation's -32602 form): by the range.
    "infura-range": Refusal(True, -32602, "range 1000000 exceeds limit of 10000"),
    # QuickNode: by the range.
    "quicknode": Refusal(True, -32614, "eth_getLogs is limited to a 10,000 range"),
    # zkSync Era and Infura's newer form: by the number of logs, naming a range that would work.
    "results-try-range": Refusal(
        False, -32602, "Query returned more than 10000 results. Try with this block range [0x1, 0x5]."
    ),
    # Infura's documented limit, and geth-based nodes (ethermint, Aurora, ZetaChain): by the number of logs.
    "infura-results": Refusal(False, -32005, "query returned more than 10000 results"),
}


def refusal_params() -> list[Any]:
    return [pytest.param(name, id=name) for name in REFUSALS]


@pytest.fixture
def proxy(request: pytest.FixtureRequest, awarded: Awarded) -> Iterator[RpcProxy]:
    refusal = REFUSALS[request.param]
    with RpcProxy(
        awarded.node.url,
        max_blocks=MAX_BLOCKS if refusal.by_range else None,
        max_results=None if refusal.by_range else MAX_RESULTS,
        code=refusal.code,
        message=refusal.message,
    ) as running:
        yield running


def through(proxy: RpcProxy, awarded: Awarded) -> KudosClient:
    """The contract of ``awarded``, read through the proxy."""
    chain = Chain.connect(proxy.url, chain_id=awarded.node.chain_id)
    return KudosClient.attach(chain, awarded.client.address, from_block=awarded.first_block)


def assert_split_often(proxy: RpcProxy) -> None:
    """The proxy refused several ranges, and answered none it should have refused."""
    assert len(proxy.refused) >= 5, f"the proxy refused only {len(proxy.refused)} requests: nothing was split"
    answered = [r for r in proxy.log_requests if not r.refused]
    if proxy.max_blocks is not None:
        assert max(r.blocks for r in answered) <= proxy.max_blocks


# ----------------------------------------------------------------------------------------------------------------
# The reads
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("proxy", refusal_params(), indirect=True)
def test_award_events_through_a_refusing_node_are_each_returned_once(proxy: RpcProxy, awarded: Awarded):
    client = through(proxy, awarded)
    token_ids = [r.token_id for r in awarded.results]
    request_ids = [r.request_id for r in awarded.results]
    direct = raw_logs(
        awarded.node.url, client.address, [hex32(KUDOS_AWARDED_TOPIC)], awarded.first_block, awarded.last_block
    )

    by_token = client.award_events(token_ids)
    by_request = client.awards_by_request_id(request_ids)
    logs = client.chain.get_logs(
        address=client.address, topic_sets=[[KUDOS_AWARDED_TOPIC]], from_block=awarded.first_block
    )

    assert len(direct) == len(awarded.results) == 90
    assert positions(direct) == [(log.block_number, log.log_index) for log in logs]
    assert [(e.token_id, e.request_id, e.block_number) for e in by_token.values()] == [
        (r.token_id, r.request_id, r.block_number) for r in awarded.results
    ]
    assert by_request == {e.request_id: e for e in by_token.values()}
    assert_split_often(proxy)


@pytest.mark.parametrize("proxy", refusal_params(), indirect=True)
def test_every_log_and_every_wallet_through_a_refusing_node_match_the_node(proxy: RpcProxy, awarded: Awarded):
    client = through(proxy, awarded)
    direct = raw_logs(awarded.node.url, client.address, [], awarded.first_block, awarded.last_block)

    logs = client.chain.get_logs(address=client.address, topic_sets=[[]], from_block=awarded.first_block)
    wallets = {owner: [k.token_id for k in client.wallet(owner)] for owner in awarded.recipients}

    assert positions(direct) == [(log.block_number, log.log_index) for log in logs]
    assert [log["topics"] for log in direct] == [[hex32(t) for t in log.topics] for log in logs]
    for owner, held in wallets.items():
        expected = sorted((r.token_id for r in awarded.results if r.recipient == owner), reverse=True)
        assert held == expected, f"the wallet of {owner}"
    assert_split_often(proxy)


@pytest.mark.parametrize("proxy", refusal_params(), indirect=True)
def test_the_indexer_through_a_refusing_node_indexes_every_event_once(proxy: RpcProxy, awarded: Awarded):
    client = through(proxy, awarded)
    direct = raw_logs(
        awarded.node.url,
        client.address,
        [[hex32(TRANSFER_TOPIC), hex32(KUDOS_AWARDED_TOPIC)]],
        awarded.first_block,
        awarded.last_block,
    )
    indexer = KudosIndexer(client, "sqlite://", reorg_depth=8)

    indexed = indexer.sync()

    assert indexed == len(direct) == 2 * len(awarded.results)
    for result in awarded.results:
        (kudos,) = indexer.by_request_id(result.request_id)
        assert (kudos.token_id, kudos.owner, kudos.awarded_block) == (
            result.token_id,
            result.recipient,
            result.block_number,
        )
    for owner in awarded.recipients:
        assert indexer.count(owner) == sum(r.recipient == owner for r in awarded.results)
    assert_split_often(proxy)


@pytest.mark.parametrize(
    "message",
    [
        "rate limit exceeded",
        "Too Many Requests",
        "Your app has exceeded its compute units per second capacity",
        "429: too many requests, limit 25 per second",
    ],
)
def test_a_rate_limit_is_not_taken_for_a_range_too_large(awarded: Awarded, message: str):
    """A rate limit names a limit too, but halving the range would only send more requests: get_logs gives up at
    once with the node's words, and the caller (the indexer's next sync) asks again later."""
    with RpcProxy(awarded.node.url, max_blocks=MAX_BLOCKS, code=-32005, message=message) as proxy:
        client = through(proxy, awarded)
        with pytest.raises(ChainError, match="refused eth_getLogs") as refused:
            client.chain.get_logs(
                address=client.address, topic_sets=[[KUDOS_AWARDED_TOPIC]], from_block=awarded.first_block
            )
    assert message in str(refused.value)
    assert len(proxy.log_requests) == 1  # not split


def test_pages_are_at_most_max_range_blocks_end_to_end_and_stop_at_to_block(awarded: Awarded):
    """A node that refuses nothing: each page asks for ``max_range`` blocks at most, the pages meet without a gap or
    an overlap, and the last ends at ``to_block``, not at the head (no request of an unused block, no log after)."""
    lo, hi = awarded.first_block, awarded.last_block - 10  # ten blocks of awards after the range
    with RpcProxy(awarded.node.url) as proxy:
        chain = Chain.connect(proxy.url, chain_id=awarded.node.chain_id)
        logs = chain.get_logs(
            address=awarded.client.address, topic_sets=[[]], from_block=lo, to_block=hi, max_range=MAX_BLOCKS
        )
    ranges = sorted((r.from_block, r.to_block) for r in proxy.log_requests)
    assert not proxy.refused
    assert all(b - a + 1 <= MAX_BLOCKS for a, b in ranges)
    assert ranges[0][0] == lo
    assert ranges[-1][1] == hi
    assert all(ranges[i][1] + 1 == ranges[i + 1][0] for i in range(len(ranges) - 1))
    assert [(log.block_number, log.log_index) for log in logs] == positions(
        raw_logs(awarded.node.url, awarded.client.address, [], lo, hi)
    )
    assert max(log.block_number for log in logs) == hi  # the range holds logs up to its end, and none after
