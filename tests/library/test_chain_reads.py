"""The reads of :class:`kudos_chain.Chain` that the service's delivery relies on, held against web3's own answers
on both chains: the newest block, the genesis, deployed code, block hashes, nonces with a transaction waiting in
the pool; the embedded chain on disk, closed and reopened in one process; and a node that refuses a read (a
loopback JSON-RPC proxy in front of anvil), which raises a :class:`~kudos_chain.exceptions.ChainError` naming it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from eth_tester.exceptions import TransactionFailed
from eth_typing import HexStr
from web3 import HTTPProvider, Web3
from web3.types import TxParams, Wei

from kudos_chain import Chain, FeePolicy, Signer, TransactionManager
from kudos_chain.chain import Receipt, redact_url, revert_data
from kudos_chain.exceptions import ChainError
from kudos_chain.testing import AnvilNode
from tests.conftest import fund
from tests.utils.rpc_proxy import RpcProxy

from .conftest import Deployment, frugal_deployment


@pytest.fixture(scope="module")
def deployment(chain: Chain) -> Deployment:
    """This module's KudosToken, with wallets of 1 ETH each (:func:`frugal_deployment`)."""
    return frugal_deployment(chain)


def latest(chain: Chain) -> Any:
    return chain.w3.eth.get_block("latest")


class RefusingProxy(RpcProxy):
    """A proxy of a node that answers each request of a method in ``refuse`` with an error (in its place in a
    batch), refuses every batch whole with ``refuse_batches`` (as a provider without batches does), and keeps every
    request it saw in :attr:`seen`."""

    def __init__(
        self, upstream: str, *, refuse: Sequence[str] = (), refuse_batches: bool = False, error: Any = None
    ) -> None:
        super().__init__(upstream, code=-32601, message="the method is not available on this plan")
        self.error = error  # the refusal's "error" as given, instead of {"code": ..., "message": ...}
        self.refuse = set(refuse)
        self.refuse_batches = refuse_batches
        self.seen: list[dict[str, Any]] = []
        self.batches: list[int] = []  # the size of each batch

    def __enter__(self) -> RefusingProxy:
        self.start()
        return self

    def _refusal(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.error is None:
            return super()._refusal(request)
        return {"jsonrpc": "2.0", "id": request.get("id"), "error": self.error}

    def handle(self, body: Any) -> Any:
        requests: list[dict[str, Any]] = body if isinstance(body, list) else [body]
        self.seen += requests
        if isinstance(body, list):
            self.batches.append(len(body))
        if isinstance(body, list) and self.refuse_batches:
            return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "batches are not supported"}}
        refused = {i for i, request in enumerate(requests) if request.get("method") in self.refuse}
        forwarded = [request for i, request in enumerate(requests) if i not in refused]
        answers = iter(super().handle(forwarded) if forwarded else [])
        out = [self._refusal(request) if i in refused else next(answers) for i, request in enumerate(requests)]
        return out if isinstance(body, list) else out[0]


@pytest.fixture(scope="module")
def node() -> Iterator[AnvilNode]:
    """An anvil node of this module's own: its tests stop mining and set base fees, which the session's node keeps."""
    with AnvilNode() as running:
        yield running


def connect(url: str, node: AnvilNode) -> Chain:
    chain = Chain.connect(url, chain_id=node.chain_id)
    chain.dev_accounts = [Signer.from_key(key) for key in node.private_keys]
    return chain


# ----------------------------------------------------------------------------------------------------------------
# Blocks
# ----------------------------------------------------------------------------------------------------------------


def test_head_is_the_newest_blocks_number_hash_base_fee_and_gas_limit(chain: Chain):
    fund(chain, Signer.create().address, 1)  # at least one block after the genesis
    number, block_hash, base_fee, gas_limit = chain.head()
    block = latest(chain)
    assert number == block["number"] == chain.block_number() > 0
    assert block_hash == bytes(block["hash"])
    assert len(block_hash) == 32
    assert base_fee == block["baseFeePerGas"] > 0
    assert gas_limit == block["gasLimit"] > 0
    assert isinstance(number, int)


def test_a_block_without_base_fee_is_read_as_a_base_fee_of_zero(node: AnvilNode):
    chain = connect(node.url, node)
    node.set_next_base_fee(0)
    node.mine()
    try:
        number, _, base_fee, _ = chain.head()
        assert latest(chain)["baseFeePerGas"] == 0
        assert (number, base_fee) == (node.block_number(), 0)
        manager = TransactionManager(chain, Signer.create(), fees=FeePolicy(max_priority_fee_per_gas=3))
        assert manager.current_fees() == (3, 3)  # twice nothing, plus the tip
    finally:
        node.set_next_base_fee(10**9)
        node.mine()


def test_the_genesis_hash_is_block_zeros(chain: Chain):
    fund(chain, Signer.create().address, 1)
    genesis = chain.genesis_hash()
    assert genesis == bytes(chain.w3.eth.get_block(0)["hash"])
    assert genesis != bytes(chain.w3.eth.get_block(1)["hash"])
    assert len(genesis) == 32


def test_block_hashes_are_each_blocks_and_a_block_not_there_is_left_out(chain: Chain):
    fund(chain, Signer.create().address, 1)
    head = chain.block_number()
    numbers = [0, head - 1, head, head + 1000]
    hashes = chain.block_hashes(numbers)
    assert hashes == {n: bytes(chain.w3.eth.get_block(n)["hash"]) for n in (0, head - 1, head)}
    assert chain.block_hashes([]) == {}


def test_block_hashes_ask_one_batch_for_the_headers_alone(node: AnvilNode):
    with RefusingProxy(node.url) as proxy:
        chain = connect(proxy.url, node)
        node.mine(3)
        head = chain.block_number()
        proxy.seen.clear()
        assert set(chain.block_hashes([head - 2, head - 1, head])) == {head - 2, head - 1, head}
    asked = [request for request in proxy.seen if request["method"] == "eth_getBlockByNumber"]
    assert [request["params"] for request in asked] == [[hex(n), False] for n in (head - 2, head - 1, head)]


# ----------------------------------------------------------------------------------------------------------------
# Code and nonces
# ----------------------------------------------------------------------------------------------------------------


def test_codes_many_gives_each_contracts_code_and_nothing_for_an_account(deployment: Deployment):
    chain, contract = deployment.chain, deployment.client.address
    account = deployment.alice.address
    codes = chain.codes_many([contract, account.lower(), contract])
    deployed = bytes(chain.w3.eth.get_code(contract))
    assert len(deployed) > 100
    assert codes == [deployed, b"", deployed]
    assert chain.codes_many([]) == []


def test_a_transaction_waiting_in_the_pool_counts_for_the_pending_nonce_not_the_mined_one(node: AnvilNode):
    chain = connect(node.url, node)
    sender = chain.dev_accounts[0]
    mined = chain.mined_nonce(sender.address)
    assert chain.pending_nonce(sender.address) == mined
    node.set_automine(False)
    try:
        tx: TxParams = {"from": sender.address, "to": chain.dev_accounts[1].address, "value": Wei(1)}
        chain.w3.eth.send_transaction(tx)
        assert chain.pending_nonce(sender.address) == mined + 1
        assert chain.mined_nonce(sender.address.lower()) == mined
        node.mine()
        assert chain.mined_nonce(sender.address) == mined + 1
    finally:
        node.set_automine(True)


# ----------------------------------------------------------------------------------------------------------------
# A node that refuses a read
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "read"),
    [
        ("eth_getCode", lambda chain: chain.codes_many([chain.dev_accounts[0].address])),
        ("eth_getBlockByNumber", lambda chain: chain.block_hashes([0, 1])),
    ],
    ids=["code", "block hashes"],
)
def test_a_refused_read_raises_a_chain_error_naming_the_method(node: AnvilNode, method: str, read: Any):
    with RefusingProxy(node.url, refuse=[method]) as proxy:
        chain = connect(proxy.url, node)
        with pytest.raises(ChainError) as caught:
            read(chain)
    assert str(caught.value) == f"the node refused {method}: the method is not available on this plan"
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_a_refused_receipt_read_raises_the_nodes_error(node: AnvilNode):
    with RefusingProxy(node.url, refuse=["eth_getTransactionReceipt"]) as proxy:
        chain = connect(proxy.url, node)
        with pytest.raises(Exception, match="the method is not available on this plan"):
            chain.receipts_many(["0x" + "11" * 32])


def test_a_node_that_refuses_batches_is_a_chain_error(node: AnvilNode):
    with RefusingProxy(node.url, refuse_batches=True) as proxy:
        chain = connect(proxy.url, node)
        assert chain.block_number() >= 0  # single requests are answered
        with pytest.raises(ChainError) as caught:
            chain.block_hashes([0])
    assert "the node refused a batch request" in str(caught.value)
    assert "batches are not supported" in str(caught.value)


def test_a_batch_larger_than_the_limit_is_sent_in_several(node: AnvilNode):
    with RefusingProxy(node.url) as proxy:
        chain = Chain.connect(proxy.url, chain_id=node.chain_id, batch_limit=2)
        node.mine(4)
        head = chain.block_number()
        numbers = list(range(head - 4, head + 1))
        proxy.batches.clear()
        hashes = chain.block_hashes(numbers)
    direct = connect(node.url, node)
    assert hashes == {n: bytes(direct.w3.eth.get_block(n)["hash"]) for n in numbers}
    assert proxy.batches == [2, 2, 1]


# ----------------------------------------------------------------------------------------------------------------
# The embedded chain
# ----------------------------------------------------------------------------------------------------------------


def test_the_embedded_chain_has_ten_dev_accounts_by_default_and_in_memory_nothing_to_close():
    with Chain.embedded() as chain:
        assert len(chain.dev_accounts) == 10
        assert len({signer.address for signer in chain.dev_accounts}) == 10
    chain.close()
    assert chain.block_number() == 0  # closing an in-memory chain releases nothing: it still answers


def test_an_embedded_chain_on_disk_closed_reopens_in_the_same_process_where_it_was(tmp_path: Path):
    path = tmp_path / "chain.sqlite"
    with Chain.embedded(path=path, accounts=3) as chain:
        assert len(chain.dev_accounts) == 3
        fund(chain, Signer.create().address, 5)
        head = chain.head()
        assert head[0] == 1
    chain.close()  # idempotent
    assert path.exists()
    reopened = Chain.embedded(path=path, accounts=3)
    try:
        assert reopened.head() == head
        assert [s.address for s in reopened.dev_accounts] == [s.address for s in chain.dev_accounts]
    finally:
        reopened.close()
    again = Chain.embedded(path=path, accounts=3)  # the lock was released
    again.close()


def test_a_log_read_refused_for_another_reason_is_raised_at_once_not_split(node: AnvilNode):
    with RpcProxy(node.url, max_blocks=0, code=-32000, message="internal error: database is locked") as proxy:
        chain = connect(proxy.url, node)
        node.mine(8)
        with pytest.raises(ChainError) as caught:
            chain.get_logs(address=chain.dev_accounts[0].address, topic_sets=[[]], from_block=0)
    assert str(caught.value) == "the node refused eth_getLogs: internal error: database is locked"
    assert len(proxy.log_requests) == 1


# ----------------------------------------------------------------------------------------------------------------
# Connecting
# ----------------------------------------------------------------------------------------------------------------


def test_a_connection_waits_for_each_answer_as_long_as_asked(node: AnvilNode):
    def timeout(chain: Chain) -> object:
        return dict(chain.w3.provider.get_request_kwargs())["timeout"]  # type: ignore[attr-defined]

    assert timeout(Chain.connect(node.url)) == 10.0
    assert timeout(Chain.connect(node.url, timeout=2.5)) == 2.5


def test_a_chain_of_ones_own_web3_is_named_custom_and_has_nothing_to_close(node: AnvilNode):
    chain = Chain(Web3(HTTPProvider(node.url)))
    assert repr(chain) == "Chain('custom')"
    assert chain.dev_accounts == []
    chain.close()
    with Chain.connect(node.url) as connected:
        pass
    connected.close()
    assert connected.block_number() >= 0


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("file:///tmp/geth.ipc", "file:///…"),
        ("http://:8545", "http://:8545"),
        ("http://[::1]:8545/", "http://[::1]:8545"),
    ],
)
def test_a_url_without_a_host_name_or_with_an_ipv6_address_is_shown_as_written(url: str, shown: str):
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    ("error", "words"),
    [("rate limited", "rate limited"), ({"code": -32000}, "{'code': -32000}")],
    ids=["text", "no message"],
)
def test_a_refusal_in_another_form_is_reported_in_its_own_words(node: AnvilNode, error: Any, words: str):
    with RefusingProxy(node.url, refuse=["eth_getCode"], error=error) as proxy:
        chain = connect(proxy.url, node)
        with pytest.raises(ChainError) as caught:
            chain.codes_many([chain.dev_accounts[0].address])
    assert str(caught.value) == f"the node refused eth_getCode: {words}"


@pytest.mark.parametrize("arg", [42, None, ["execution reverted: b'\\x01'"]])
def test_an_eth_tester_failure_without_text_or_bytes_has_no_revert_data(arg: object):
    assert revert_data(TransactionFailed(arg)) is None


def test_a_receipt_without_a_block_hash_is_read_with_none_not_an_empty_hash():
    """A receipt as JSON-RPC writes it, with its block hash and without: without, the hash is unknown (None), which
    the service's reconciler reads as "the block as it is now", where an empty hash would look reorged."""
    rpc: dict[str, Any] = {
        "transactionHash": "0x" + "ab" * 32,
        "status": "0x1",
        "blockNumber": "0x10",
        "gasUsed": "0x5208",
        "logs": [],
        "blockHash": "0x" + "cd" * 32,
    }
    assert Receipt.from_rpc(rpc) == Receipt(
        tx_hash=HexStr("0x" + "ab" * 32), status=1, block_number=16, gas_used=21000, logs=(), block_hash=b"\xcd" * 32
    )
    for missing in ({}, {"blockHash": None}):
        assert Receipt.from_rpc({k: v for k, v in rpc.items() if k != "blockHash"} | missing).block_hash is None
