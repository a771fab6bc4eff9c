"""At scale, on anvil only (a node over HTTP, where round trips and pipelining are real): 500 awards pipelined,
and the wallet of an owner of 1,000 kudos read in at most five JSON-RPC round trips."""

from __future__ import annotations

from typing import Any

import pytest
from web3 import HTTPProvider, Web3
from web3.types import RPCEndpoint, RPCResponse

from kudos_chain import Chain, KudosClient, Signer
from kudos_chain.testing import AnvilNode
from tests.conftest import fund

from .conftest import BASE_URI
from .helpers import make_award, nonce


class CountingProvider(HTTPProvider):
    """An HTTP provider that counts its round trips to the node: one per request, and one per batch."""

    def __init__(self, endpoint_uri: str) -> None:
        super().__init__(endpoint_uri)
        self.round_trips: list[str] = []

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        self.round_trips.append(method)
        return super().make_request(method, params)

    def make_batch_request(self, requests: list[tuple[RPCEndpoint, Any]]) -> list[RPCResponse] | RPCResponse:
        self.round_trips.append(f"batch of {len(requests)} {requests[0][0] if requests else ''}")
        return super().make_batch_request(requests)


@pytest.fixture(scope="module")
def node_chain(anvil: AnvilNode) -> Chain:
    chain = Chain.connect(anvil.url, chain_id=anvil.chain_id)
    chain.dev_accounts = [Signer.from_key(key) for key in anvil.private_keys]
    return chain


def counting_chain(anvil: AnvilNode) -> tuple[Chain, CountingProvider]:
    provider = CountingProvider(anvil.url)
    return Chain(Web3(provider), name="counted"), provider


def test_500_awards_pipelined_all_succeed_with_consecutive_nonces(anvil: AnvilNode, node_chain: Chain):
    admin = Signer.create()
    fund(node_chain, admin.address)
    chain, provider = counting_chain(anvil)
    client = KudosClient.deploy(chain, admin, base_uri=BASE_URI)
    recipients = [Signer.create().address for _ in range(7)]
    awards = [make_award(recipients[i % 7], kind=i) for i in range(500)]
    start = nonce(chain, admin)
    provider.round_trips.clear()

    results = client.award_many(awards)

    # Pipelined: a few batches (estimates, sends, receipt polls), not a send-and-wait per award.
    assert len(provider.round_trips) < 50, provider.round_trips
    assert [r.token_id for r in results] == list(range(1, 501))
    assert [r.recipient for r in results] == [a.recipient for a in awards]
    hashes = [r.tx_hash for r in results]
    assert len(set(hashes)) == 500
    receipts = chain.receipts_many(hashes)
    assert all(r is not None and r.status == 1 for r in receipts)
    answers = provider.make_batch_request([(RPCEndpoint("eth_getTransactionByHash"), [h]) for h in hashes])
    assert isinstance(answers, list)
    txs = [a["result"] for a in answers]
    assert [int(tx["nonce"], 16) for tx in txs] == list(range(start, start + 500))
    assert {Web3.to_checksum_address(tx["from"]) for tx in txs} == {admin.address}
    assert nonce(chain, admin) == start + 500
    assert client.total_awarded() == 500
    kudos = client.kudos_many([1, 250, 500])
    assert [(k.kind, k.owner) for k in kudos if k is not None] == [
        (a.kind, a.recipient) for a in (awards[0], awards[249], awards[499])
    ]


def test_the_wallet_of_an_owner_of_1000_kudos_is_read_in_at_most_5_round_trips(anvil: AnvilNode, node_chain: Chain):
    admin = Signer.create()
    fund(node_chain, admin.address)
    client = KudosClient.deploy(node_chain, admin, base_uri=BASE_URI)
    owner, other = Signer.create(), Signer.create()
    client.award_batch([make_award(other.address) for _ in range(10)])
    awards = [make_award(owner.address, kind=i % 5, transferable=i % 3 == 0) for i in range(1000)]
    # Five 200-kudos batches do not fit one 30M-gas anvil block: the library sends them in waves that do.
    awarded = client.award_batch(awards)
    client.award_batch([make_award(other.address) for _ in range(10)])
    assert [r.recipient for r in awarded] == [owner.address] * 1000
    ids = [r.token_id for r in awarded]

    chain, provider = counting_chain(anvil)
    reader = KudosClient(chain, client.address, from_block=client.from_block)
    wallet = reader.wallet(owner.address)

    assert len(provider.round_trips) <= 5, provider.round_trips
    assert len(wallet) == 1000
    assert [k.token_id for k in wallet] == sorted(ids, reverse=True)
    assert all(k.owner == owner.address for k in wallet)
    by_id = {r.token_id: a for r, a in zip(awarded, awards, strict=True)}
    for k in wallet:
        a = by_id[k.token_id]
        assert (k.kind, k.transferable, k.content_hash) == (a.kind, a.transferable, a.content_hash)
        assert k.token_uri == f"{BASE_URI}{k.token_id}"
    assert reader.balance_of(owner.address) == 1000
