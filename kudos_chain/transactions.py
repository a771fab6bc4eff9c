"""Sending transactions: local signing, EIP-1559 fees under a cap, a local nonce manager, pipelining.

A :class:`TransactionManager` owns one signer's nonces. It signs many transactions before any is mined
(pipelined), so that a hundred awards cost a hundred sends and one wait, not a hundred round trips of
send-and-wait. Signing and broadcasting are separate steps, so that a caller can store a signed transaction
(and its nonce) before it is broadcast, and broadcast it again after a crash: the nonce lets the chain mine it
only once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_typing import ChecksumAddress, HexStr
from web3.exceptions import ContractLogicError, Web3RPCError
from web3.types import TxParams

from kudos_chain.chain import Chain, Receipt, _call_errors, revert_data
from kudos_chain.exceptions import (
    ContractRevertError,
    FeeCapExceededError,
    TransactionError,
    TransactionFailedError,
    TransactionTimeoutError,
)
from kudos_chain.exceptions import RevertDecoder as _RevertDecoder
from kudos_chain.keys import Signer

__all__ = ["FeePolicy", "SignedTx", "TransactionManager"]

logger = logging.getLogger(__name__)

GWEI = 10**9


@dataclass(frozen=True, slots=True)
class FeePolicy:
    """How fees are chosen.

    :param max_fee_per_gas: the cap, in wei, on what one unit of gas may cost; None for no cap.
    :param max_priority_fee_per_gas: the tip; None to ask the node (``eth_maxPriorityFeePerGas``).
    :param gas_headroom: the factor applied to each gas estimate.
    """

    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    gas_headroom: float = 1.2


@dataclass(frozen=True, slots=True)
class SignedTx:
    """A transaction signed and ready to broadcast; store ``raw`` to broadcast it again later."""

    tx_hash: HexStr
    nonce: int
    sender: ChecksumAddress
    raw: bytes
    gas: int


class TransactionManager:
    """Signs, sends and follows the transactions of one signer.

    :param chain: where to send.
    :param signer: the key that signs; its nonces are issued here, so use one manager per key.
    :param fees: the fee policy.
    :param decoder: turns revert data into typed exceptions.
    """

    def __init__(
        self,
        chain: Chain,
        signer: Signer,
        *,
        fees: FeePolicy | None = None,
        decoder: _RevertDecoder | None = None,
        receipt_timeout: float = 120.0,
        poll_interval: float = 0.05,
    ) -> None:
        self.chain = chain
        self.signer = signer
        self.fees = fees or FeePolicy()
        self.decoder = decoder
        self.receipt_timeout = receipt_timeout
        self.poll_interval = poll_interval
        self._lock = threading.Lock()
        self._next_nonce: int | None = None

    def __repr__(self) -> str:
        return f"TransactionManager({self.chain!r}, {self.signer!r})"

    # ------------------------------------------------------------------------------------------------------
    # Nonces and fees
    # ------------------------------------------------------------------------------------------------------

    def _take_nonces(self, count: int) -> int:
        with self._lock:
            if self._next_nonce is None:
                self._next_nonce = self.chain.pending_nonce(self.signer.address)
            first = self._next_nonce
            self._next_nonce += count
            return first

    def resync_nonce(self) -> None:
        """Forget the local nonce; the next transaction asks the node for it again."""
        with self._lock:
            self._next_nonce = None

    def current_fees(self) -> tuple[int, int]:
        """``(max_fee_per_gas, max_priority_fee_per_gas)`` for the next block, within the cap.

        :raises FeeCapExceededError: when the base fee and tip alone are above the cap.
        """
        base_fee = int(self.chain.w3.eth.get_block("latest").get("baseFeePerGas") or 0)
        tip = self.fees.max_priority_fee_per_gas
        if tip is None:
            try:
                tip = int(self.chain.w3.eth.max_priority_fee)
            except (Web3RPCError, ValueError, NotImplementedError):
                tip = GWEI
        max_fee = 2 * base_fee + tip
        cap = self.fees.max_fee_per_gas
        if cap is not None and max_fee > cap:
            if base_fee + tip > cap:
                raise FeeCapExceededError(base_fee + tip, cap)
            max_fee = cap
        return max_fee, min(tip, max_fee)

    # ------------------------------------------------------------------------------------------------------
    # Signing and sending
    # ------------------------------------------------------------------------------------------------------

    def sign_many(self, calls: Sequence[TxParams], *, gas: Sequence[int | None] | None = None) -> list[SignedTx]:
        """Estimate, price, number and sign each call (``to``, ``data``, optional ``value``), in order.

        Every call is estimated before any nonce is taken, so a call that would revert raises its
        :class:`ContractRevertError` and leaves no gap in the nonces.
        """
        if not calls:
            return []
        sender = self.signer.address
        limits: list[int] = []
        todo = [i for i, _ in enumerate(calls) if gas is None or gas[i] is None]
        estimates = self.chain.estimate_gas_many([{**c, "from": sender} for c in (calls[i] for i in todo)])
        by_index = dict(zip(todo, estimates, strict=True))
        for i in range(len(calls)):
            if i in by_index:
                estimate = by_index[i]
                if isinstance(estimate, Exception):
                    raise self._as_error(estimate) from None
                limits.append(int(estimate * self.fees.gas_headroom))
            else:
                assert gas is not None
                limits.append(int(gas[i] or 0))
        max_fee, tip = self.current_fees()
        first = self._take_nonces(len(calls))
        signed = []
        for offset, (call, limit) in enumerate(zip(calls, limits, strict=True)):
            tx: dict[str, Any] = {
                "type": 2,
                "chainId": self.chain.chain_id,
                "nonce": first + offset,
                "to": call["to"],
                "data": call.get("data", b""),
                "value": int(call.get("value", 0)),
                "gas": limit,
                "maxFeePerGas": max_fee,
                "maxPriorityFeePerGas": tip,
            }
            s = self.signer.sign_transaction(tx)
            signed.append(SignedTx(HexStr(s.hash.to_0x_hex()), first + offset, sender, bytes(s.raw_transaction), limit))
        return signed

    def broadcast_many(self, txs: Sequence[SignedTx]) -> list[HexStr]:
        """Send signed transactions to the node, in nonce order.

        A transaction the node already knows, or already mined, counts as sent: broadcasting again after a
        crash is safe.
        """
        results = self.chain.send_raw_many([t.raw for t in txs])
        refused = [
            t.tx_hash for t, r in zip(txs, results, strict=True) if isinstance(r, Exception) and not _already_sent(r)
        ]
        # A node refuses a transaction it already mined as one whose nonce is too low: its receipt tells them apart.
        mined = {h for h, r in zip(refused, self.chain.receipts_many(refused), strict=True) if r is not None}
        for tx, result in zip(txs, results, strict=True):
            if isinstance(result, Exception) and tx.tx_hash in refused and tx.tx_hash not in mined:
                # Later nonces cannot be mined before this one: ask the node again next time.
                self.resync_nonce()
                raise TransactionError(f"the node refused transaction {tx.tx_hash}: {_message(result)}") from None
        return [tx.tx_hash for tx in txs]

    def wait_many(self, tx_hashes: Sequence[str], *, timeout: float | None = None) -> list[Receipt]:
        """Wait for every receipt, polling in batches; raise the decoded error of the first that failed."""
        deadline = time.monotonic() + (self.receipt_timeout if timeout is None else timeout)
        receipts: dict[str, Receipt] = {}
        pending = list(dict.fromkeys(tx_hashes))
        while pending:
            for tx_hash, receipt in zip(pending, self.chain.receipts_many(pending), strict=True):
                if receipt is not None:
                    receipts[tx_hash] = receipt
            pending = [h for h in pending if h not in receipts]
            if not pending:
                break
            if time.monotonic() > deadline:
                raise TransactionTimeoutError(pending[0], self.receipt_timeout if timeout is None else timeout)
            time.sleep(self.poll_interval)
        out = [receipts[h] for h in tx_hashes]
        for receipt in out:
            if receipt.status != 1:
                raise self._failure(receipt)
        return out

    def transact_many(self, calls: Sequence[TxParams], *, timeout: float | None = None) -> list[Receipt]:
        """Sign, send and wait for many calls, pipelined.

        All are signed at once; they are sent in waves that fit one block's gas limit, each wave sent whole
        before its receipts are awaited (a node that mines on demand, such as anvil, may otherwise leave the
        transactions that did not fit its block waiting for a next transaction that never comes).
        """
        signed = self.sign_many(calls)
        receipts: list[Receipt] = []
        for wave in self._waves(signed):
            receipts += self.wait_many(self.broadcast_many(wave), timeout=timeout)
        return receipts

    def _waves(self, signed: Sequence[SignedTx]) -> list[list[SignedTx]]:
        if len(signed) <= 1:
            return [list(signed)]
        block_gas = int(self.chain.w3.eth.get_block("latest")["gasLimit"])
        waves: list[list[SignedTx]] = [[]]
        used = 0
        for tx in signed:
            if waves[-1] and used + tx.gas > block_gas:
                waves.append([])
                used = 0
            waves[-1].append(tx)
            used += tx.gas
        return waves

    def transact(self, call: TxParams, *, timeout: float | None = None) -> Receipt:
        """Sign, send and wait for one call."""
        return self.transact_many([call], timeout=timeout)[0]

    # ------------------------------------------------------------------------------------------------------
    # Errors
    # ------------------------------------------------------------------------------------------------------

    def _as_error(self, exc: Exception) -> Exception:
        data = revert_data(exc)
        if self.decoder is not None and data is not None:
            decoded = self.decoder.decode(data)
            if decoded is not None:
                return decoded
        if isinstance(exc, ContractLogicError):
            return ContractRevertError("unknown", {}, f"the contract reverted: {exc.message or exc}")
        return TransactionError(f"the node refused the transaction: {_message(exc)}")

    def _failure(self, receipt: Receipt) -> Exception:
        """Replay a failed transaction as a call on its block's parent, to recover the revert reason."""
        tx = self.chain.w3.eth.get_transaction(receipt.tx_hash)
        call: TxParams = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "value": tx["value"]}
        try:
            self.chain.w3.eth.call(call, receipt.block_number - 1)
        except _call_errors() as exc:
            error = self._as_error(exc)
            if isinstance(error, ContractRevertError):
                return error
        return TransactionFailedError(receipt.tx_hash)


def _message(exc: Exception) -> str:
    return str(getattr(exc, "message", None) or exc)


def _already_sent(exc: Exception) -> bool:
    text = _message(exc).lower()
    return "already known" in text or "known transaction" in text or "already imported" in text
