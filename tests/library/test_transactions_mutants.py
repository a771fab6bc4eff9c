"""What the mutation run of ``kudos_chain/transactions.py`` found untested (see docs/mutation-equivalents.md): a
refusal for a fee under the base fee in each node's words; a transaction waiting in a node's pool broadcast
again, awaited until it is mined, or given up after the timeout :meth:`~kudos_chain.TransactionManager.transact`
and ``transact_many`` were given; the deadline against a held clock; the receipts of every wave; the replay of a
failed transaction on its block's parent; the requests a single transaction and an accepted broadcast save; and a
node that answers a batch with fewer responses than requests (a proxy in front of anvil that drops one).

A transaction can wait in a pool only on anvil: py-evm (the embedded chain) refuses a nonce with a gap before
it, and mines every other transaction as it arrives. The tests that need one run on the session's anvil node
(``anvil``); the others on both chains."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import pytest
from web3.types import TxParams, Wei

from kudos_chain import (
    Chain,
    FeePolicy,
    Fees,
    KudosClient,
    MissingRoleError,
    SendOutcome,
    Signer,
    TransactionManager,
    TransactionTimeoutError,
)
from kudos_chain.testing import AnvilNode
from kudos_chain.transactions import SignedTx, classify_refusal
from tests.conftest import fund
from tests.utils.rpc_proxy import RpcProxy

from .conftest import Deployment, funded
from .helpers import make_award, nonce


def on_anvil(node: AnvilNode, url: str | None = None) -> Chain:
    """The session's anvil node, or a proxy of it at ``url``, with its dev accounts (the last one is the faucet)."""
    chain = Chain.connect(url or node.url, chain_id=node.chain_id)
    chain.dev_accounts = [Signer.from_key(key) for key in node.private_keys]
    return chain


def queued(chain: Chain) -> tuple[TransactionManager, TxParams, SignedTx]:
    """A manager of a fresh signer, a call, and a transaction of it signed at the signer's first nonce and held
    back: what the manager sends next waits in the node's pool, behind the gap, until :func:`release` broadcasts
    the held one."""
    signer = funded(chain)
    manager = TransactionManager(chain, signer, receipt_timeout=3.0, poll_interval=0.01)
    call: TxParams = {"to": signer.address, "value": Wei(1)}
    (held,) = manager.sign_many([call])
    return manager, call, held


def release(manager: TransactionManager, held: SignedTx, waiting: str) -> None:
    """Broadcast the held transaction: it and the one waiting behind it are mined."""
    manager.broadcast_many([held])
    assert [r.status for r in manager.wait_many([held.tx_hash, waiting], timeout=30)] == [1, 1]


# ----------------------------------------------------------------------------------------------------------------
# A node's words
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "Sender's max fee per gas (1) is lower than block's base fee per gas (670189612)",  # py-evm
        "fee cap less than block base fee: address 0x0, gasFeeCap: 1 baseFee: 7",  # Erigon
        "max fee per gas less than block base fee: address 0x0, maxFeePerGas: 1, baseFee: 7",  # geth, anvil, reth
        "transaction's max fee is lower than the block's BASE FEE",
    ],
)
def test_a_fee_under_the_base_fee_is_underpriced_in_every_nodes_words(message: str):
    assert classify_refusal(message) is SendOutcome.UNDERPRICED


def test_a_transaction_under_the_base_fee_is_underpriced_on_each_chain(chain: Chain):
    """On the embedded chain too, whose py-evm says "lower than block's base fee": read as a refusal for another
    reason, a delivery would not replace the transaction until it was stuck."""
    signer = funded(chain)
    manager = TransactionManager(chain, signer)
    base_fee = int(chain.w3.eth.get_block("latest").get("baseFeePerGas") or 0)
    assert base_fee > 1
    cheap = manager.sign_at(
        {"to": signer.address, "value": Wei(1)}, nonce=nonce(chain, signer), gas=21_000, fees=Fees(1, 1)
    )
    ((outcome, message),) = manager.send([cheap])
    assert outcome is SendOutcome.UNDERPRICED, message
    assert "base fee" in message.lower()
    assert nonce(chain, signer) == cheap.nonce  # nothing mined


# ----------------------------------------------------------------------------------------------------------------
# A transaction waiting in the pool (anvil)
# ----------------------------------------------------------------------------------------------------------------


def test_a_transaction_waiting_in_the_pool_broadcast_again_counts_as_sent(anvil: AnvilNode):
    """anvil answers "transaction already imported" to a transaction it holds: broadcasting it again (after a
    crash) is no refusal, and does not make the manager forget its nonces."""
    chain = on_anvil(anvil)
    manager, call, held = queued(chain)
    (waiting,) = manager.sign_many([call])
    assert manager.broadcast_many([waiting]) == [waiting.tx_hash]
    ((outcome, message),) = manager.send([waiting])
    assert (outcome, message) == (SendOutcome.SENT, "transaction already imported")
    assert manager.broadcast_many([waiting]) == [waiting.tx_hash]  # the same words: sent, nothing raised
    assert manager._next_nonce == waiting.nonce + 1  # not resynced
    release(manager, held, waiting.tx_hash)


def test_transact_waits_as_long_as_it_is_told_not_the_managers_timeout(anvil: AnvilNode):
    chain = on_anvil(anvil)
    manager, call, held = queued(chain)
    started = time.monotonic()
    with pytest.raises(TransactionTimeoutError) as caught:
        manager.transact(call, timeout=0.2)
    assert time.monotonic() - started < 2.5  # not the manager's 3 s
    assert caught.value.timeout == 0.2
    release(manager, held, caught.value.tx_hash)


def test_transact_many_waits_as_long_as_it_is_told_not_the_managers_timeout(anvil: AnvilNode):
    chain = on_anvil(anvil)
    manager, call, held = queued(chain)
    started = time.monotonic()
    with pytest.raises(TransactionTimeoutError) as caught:
        manager.transact_many([call], timeout=0.2)
    assert time.monotonic() - started < 2.5
    assert caught.value.timeout == 0.2
    release(manager, held, caught.value.tx_hash)


def test_waiting_polls_until_a_receipt_comes_within_the_managers_timeout(anvil: AnvilNode):
    """The transaction waits in the pool until the held one is broadcast, 0.3 s later: its receipt is awaited
    (the manager's 3 s), not given up at the first poll."""
    chain = on_anvil(anvil)
    manager, call, held = queued(chain)
    (waiting,) = manager.sign_many([call])
    manager.broadcast_many([waiting])
    later = threading.Timer(0.3, chain.send_raw_many, args=([held.raw],))
    started = time.monotonic()
    later.start()
    try:
        (receipt,) = manager.wait_many([waiting.tx_hash])
    finally:
        later.join()
    assert time.monotonic() - started >= 0.3
    assert (receipt.tx_hash, receipt.status) == (waiting.tx_hash, 1)
    assert manager.wait_many([held.tx_hash])[0].status == 1


def test_a_manager_waits_two_minutes_for_a_receipt_and_polls_every_50_ms_by_default(chain: Chain):
    manager = TransactionManager(chain, Signer.create())
    assert (manager.receipt_timeout, manager.poll_interval) == (120.0, 0.05)


def test_waiting_gives_up_only_once_the_clock_is_past_the_deadline(monkeypatch: pytest.MonkeyPatch):
    """The clock reads the deadline exactly at the first check: one more poll, and the timeout at the next."""
    chain = Chain.embedded(accounts=1)
    manager = TransactionManager(chain, Signer.create(), receipt_timeout=0.5, poll_interval=0)
    readings: list[float] = []
    real = time.monotonic

    def clock() -> float:  # 100.0, 100.5, 101.0... for kudos_chain.transactions: the deadline is 100.5
        if sys._getframe(1).f_globals.get("__name__") != "kudos_chain.transactions":
            return real()
        readings.append(100.0 + 0.5 * len(readings))
        return readings[-1]

    monkeypatch.setattr(time, "monotonic", clock)
    with pytest.raises(TransactionTimeoutError):
        manager.wait_many(["0x" + "ef" * 32])
    monkeypatch.undo()
    assert readings == [100.0, 100.5, 101.0]


# ----------------------------------------------------------------------------------------------------------------
# Waves and failures (both chains)
# ----------------------------------------------------------------------------------------------------------------


def test_transact_many_returns_the_receipts_of_every_wave_in_order(chain: Chain):
    """Three transfers whose gas limits (the estimate times a large headroom) are each 40 % of a block: two
    waves, [two, one], and a receipt for each of the three."""
    signer = funded(chain)
    block_gas = int(chain.w3.eth.get_block("latest")["gasLimit"])
    headroom = 0.4 * block_gas / 21_000
    manager = TransactionManager(chain, signer, fees=FeePolicy(gas_headroom=headroom), poll_interval=0.01)
    calls: list[TxParams] = [{"to": signer.address, "value": Wei(v)} for v in (1, 2, 3)]
    start = nonce(chain, signer)
    receipts = manager.transact_many(calls)
    assert len(receipts) == 3
    txs = [chain.w3.eth.get_transaction(r.tx_hash) for r in receipts]
    assert [(tx["nonce"], tx["value"]) for tx in txs] == [(start, 1), (start + 1, 2), (start + 2, 3)]
    assert all(tx["gas"] > block_gas // 3 for tx in txs)  # more than two per block would not fit
    assert all(r.status == 1 for r in receipts)


def test_a_failed_transaction_is_replayed_on_its_blocks_parent_not_the_newest_block(fresh: Deployment):
    """The outsider's award is mined and fails (no minter role); the role is granted before its receipt is
    awaited. Replayed on the newest block the call would succeed, and say nothing; on the parent of its own
    block it fails as it did."""
    outsider = fresh.outsider
    manager = KudosClient(fresh.chain, fresh.client.address, signer=outsider).manager()
    call: TxParams = {"to": fresh.client.address, "data": fresh.client.award_calldata(make_award(fresh.bob.address))}
    (signed,) = manager.sign_many([call], gas=[300_000])  # no estimate: the node takes it
    manager.broadcast_many([signed])
    assert fresh.chain.w3.eth.wait_for_transaction_receipt(signed.tx_hash, timeout=30)["status"] == 0
    fresh.client.grant_minter(outsider.address)
    with pytest.raises(MissingRoleError) as caught:
        manager.wait_many([signed.tx_hash])
    assert caught.value.account == outsider.address
    assert fresh.chain.w3.eth.call({**call, "from": outsider.address})  # it would succeed now


# ----------------------------------------------------------------------------------------------------------------
# Requests
# ----------------------------------------------------------------------------------------------------------------


class WatchingProxy(RpcProxy):
    """A proxy of a node that notes the method of every request it forwards."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.methods: list[str] = []

    def __enter__(self) -> WatchingProxy:
        self.start()
        return self

    def handle(self, body: Any) -> Any:
        self.methods += [request.get("method") for request in (body if isinstance(body, list) else [body])]
        return super().handle(body)


def test_a_single_transaction_does_not_read_the_blocks_gas_limit(anvil: AnvilNode):
    """One transaction is one wave whatever its gas: ``transact`` reads the newest block once (its base fee), and
    many transactions read it once more (the gas limit their waves must fit)."""
    with WatchingProxy(anvil.url) as proxy:
        chain = on_anvil(anvil, proxy.url)
        signer = Signer.create()
        fund(chain, signer.address, 10**18)
        manager = TransactionManager(chain, signer, fees=FeePolicy(max_priority_fee_per_gas=1), poll_interval=0.01)
        proxy.methods.clear()
        assert manager.transact({"to": signer.address, "value": Wei(1)}).status == 1
        assert proxy.methods.count("eth_getBlockByNumber") == 1
        proxy.methods.clear()
        receipts = manager.transact_many([{"to": signer.address, "value": Wei(v)} for v in (2, 3)])
        assert [r.status for r in receipts] == [1, 1]
        assert proxy.methods.count("eth_getBlockByNumber") == 2


class ShortBatchProxy(WatchingProxy):
    """A proxy of a node that breaks JSON-RPC 2.0's batch contract: it answers a batch of ``method`` (two requests
    or more) with one response fewer than it was asked for."""

    def __init__(self, upstream: str, method: str) -> None:
        super().__init__(upstream)
        self.method = method

    def __enter__(self) -> ShortBatchProxy:
        self.start()
        return self

    def handle(self, body: Any) -> Any:
        answer = super().handle(body)
        if isinstance(body, list) and len(body) > 1 and all(r.get("method") == self.method for r in body):
            return answer[:-1]
        return answer


def test_estimates_missing_from_a_nodes_batch_are_an_error_before_any_nonce_is_taken(anvil: AnvilNode):
    """Two calls to estimate, one estimate back: the shortfall is said as such (not as a missing index), and no
    nonce is taken, nothing signed."""
    with ShortBatchProxy(anvil.url, "eth_estimateGas") as proxy:
        chain = on_anvil(anvil, proxy.url)
        signer = Signer.create()
        manager = TransactionManager(chain, signer, fees=FeePolicy(max_priority_fee_per_gas=1))
        calls: list[TxParams] = [{"to": signer.address, "value": Wei(0)} for _ in range(2)]
        with pytest.raises(ValueError, match="shorter"):
            manager.sign_many(calls, gas=[None, None])
        assert "eth_getTransactionCount" not in proxy.methods
        assert manager._next_nonce is None


def two_transfers(chain: Chain) -> tuple[TransactionManager, list[SignedTx]]:
    signer = funded(chain)
    manager = TransactionManager(chain, signer, fees=FeePolicy(max_priority_fee_per_gas=1), poll_interval=0.01)
    return manager, manager.sign_many([{"to": signer.address, "value": Wei(v)} for v in (1, 2)])


def test_a_send_a_node_does_not_answer_is_an_error_not_a_transaction_sent(anvil: AnvilNode):
    """Two transactions broadcast, one answer: the other is not counted as sent."""
    with ShortBatchProxy(anvil.url, "eth_sendRawTransaction") as proxy:
        manager, signed = two_transfers(on_anvil(anvil, proxy.url))
        with pytest.raises(ValueError, match="shorter"):
            manager.broadcast_many(signed)
    direct = TransactionManager(on_anvil(anvil), manager.signer, poll_interval=0.01)
    assert [r.status for r in direct.wait_many([s.tx_hash for s in signed])] == [1, 1]  # the node had them both


def test_a_receipt_a_node_does_not_answer_is_an_error_not_a_refusal(anvil: AnvilNode):
    """Both transactions are mined; broadcast again, both are refused (their nonce is used) and their receipts are
    asked for in one batch, answered with one: said as such, not as a refusal of the one without an answer."""
    chain = on_anvil(anvil)
    manager, signed = two_transfers(chain)
    manager.wait_many(manager.broadcast_many(signed))
    with ShortBatchProxy(anvil.url, "eth_getTransactionReceipt") as proxy:
        again = TransactionManager(on_anvil(anvil, proxy.url), manager.signer, poll_interval=0.01)
        with pytest.raises(ValueError, match="shorter"):
            again.broadcast_many(signed)
        assert again._next_nonce is None  # no refusal: nothing resynced, nothing taken


def test_receipts_a_node_does_not_answer_are_an_error_not_a_wait_until_the_timeout(anvil: AnvilNode):
    chain = on_anvil(anvil)
    manager, signed = two_transfers(chain)
    hashes = manager.broadcast_many(signed)
    manager.wait_many(hashes)
    with ShortBatchProxy(anvil.url, "eth_getTransactionReceipt") as proxy:
        again = TransactionManager(on_anvil(anvil, proxy.url), manager.signer, receipt_timeout=2.0, poll_interval=0.01)
        started = time.monotonic()
        with pytest.raises(ValueError, match="shorter"):
            again.wait_many(hashes)
        assert time.monotonic() - started < 1.0


def test_a_broadcast_the_node_takes_asks_for_nothing_else(anvil: AnvilNode):
    """Receipts are asked for only of the transactions the node refused (to tell one it already mined): a
    broadcast it takes whole is the one batch of sends."""
    with WatchingProxy(anvil.url) as proxy:
        manager, signed = two_transfers(on_anvil(anvil, proxy.url))
        proxy.methods.clear()
        assert manager.broadcast_many(signed) == [s.tx_hash for s in signed]
        assert proxy.methods == ["eth_sendRawTransaction"] * 2
        assert [r.status for r in manager.wait_many([s.tx_hash for s in signed])] == [1, 1]
