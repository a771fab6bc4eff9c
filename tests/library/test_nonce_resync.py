"""A TransactionManager whose local nonce is really stale, on both chains: after it sent and mined transactions,
another client with the same key (web3 and eth-account, no kudos_chain) sends several, so the chain's nonce is
ahead of the manager's counter by more than one. The node refuses the manager's next transaction ("nonce too
low"); the manager forgets its counter, and its next transaction is numbered with the chain's next nonce and
mined, leaving no gap. (The one-nonce clash of two managers is in ``test_transactions.py``.)"""

from __future__ import annotations

import pytest
from eth_account import Account
from web3.types import TxParams, Wei

from kudos_chain import Chain, Signer, TransactionError, TransactionManager
from tests.conftest import fund

#: How many transactions the other client sends: the manager's counter ends this many behind the chain.
ELSEWHERE = 3


def send_elsewhere(chain: Chain, key: bytes, count: int) -> None:
    """``count`` 1-wei transfers signed with ``key`` by plain eth-account at the chain's next nonces, each mined."""
    address = Account.from_key(key).address
    for _ in range(count):
        base_fee = int(chain.w3.eth.get_block("latest").get("baseFeePerGas") or 0)
        tx = {
            "type": 2,
            "chainId": chain.chain_id,
            "nonce": chain.w3.eth.get_transaction_count(address, "pending"),
            "to": address,
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 2 * base_fee + 10**9,
            "maxPriorityFeePerGas": 10**9,
        }
        tx_hash = chain.w3.eth.send_raw_transaction(Account.sign_transaction(tx, key).raw_transaction)
        assert chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)["status"] == 1


def transfer(signer: Signer, wei: int) -> TxParams:
    return {"to": signer.address, "value": Wei(wei)}


def test_a_manager_behind_the_chain_by_several_nonces_is_refused_once_then_uses_the_chains_next(chain: Chain):
    key = Account.create().key
    signer = Signer.from_key(key)
    fund(chain, signer.address)
    manager = TransactionManager(chain, signer)
    mined = manager.transact_many([transfer(signer, i) for i in range(1, 4)])
    assert [chain.w3.eth.get_transaction(r.tx_hash)["nonce"] for r in mined] == [0, 1, 2]

    send_elsewhere(chain, key, ELSEWHERE)  # nonces 3, 4, 5: the manager still counts from 3
    chain_next = chain.mined_nonce(signer.address)
    stale = manager.sign_many([transfer(signer, 11)])
    with pytest.raises(TransactionError, match="refused") as refusal:
        manager.broadcast_many(stale)
    receipt = manager.transact(transfer(signer, 12))
    after = manager.transact_many([transfer(signer, 13), transfer(signer, 14)])

    assert chain_next == 3 + ELSEWHERE
    assert stale[0].nonce == 3  # the counter is behind the chain by ELSEWHERE nonces
    assert stale[0].tx_hash in str(refusal.value)
    assert receipt.status == 1
    assert chain.w3.eth.get_transaction(receipt.tx_hash)["nonce"] == chain_next
    assert [chain.w3.eth.get_transaction(r.tx_hash)["nonce"] for r in after] == [chain_next + 1, chain_next + 2]
    assert chain.mined_nonce(signer.address) == chain_next + 3  # nothing skipped, nothing waiting in a gap


def test_a_pipelined_batch_behind_the_chain_is_refused_whole_then_numbered_from_the_chains_nonce(chain: Chain):
    key = Account.create().key
    signer = Signer.from_key(key)
    fund(chain, signer.address)
    manager = TransactionManager(chain, signer)
    manager.transact(transfer(signer, 1))  # nonce 0; the counter is at 1

    send_elsewhere(chain, key, 5)  # nonces 1-5
    chain_next = chain.mined_nonce(signer.address)
    refused = manager.sign_many([transfer(signer, i) for i in range(10, 13)])  # nonces 1-3: used; the counter at 4
    with pytest.raises(TransactionError, match="refused"):
        manager.broadcast_many(refused)
    receipts = manager.transact_many([transfer(signer, i) for i in range(20, 24)])

    assert [tx.nonce for tx in refused] == [1, 2, 3]
    assert [chain.w3.eth.get_transaction(r.tx_hash)["nonce"] for r in receipts] == [chain_next + i for i in range(4)]
    assert all(r.status == 1 for r in receipts)
