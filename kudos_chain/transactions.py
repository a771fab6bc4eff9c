"""Sending transactions: local signing, EIP-1559 fees under a cap, a local nonce manager, pipelining.

A :class:`TransactionManager` owns one signer's nonces. It signs many transactions before any is mined
(pipelined), so that a hundred awards cost a hundred sends and one wait, not a hundred round trips of
send-and-wait. Signing and broadcasting are separate steps, so that a caller can store a signed transaction
(and its nonce) before it is broadcast, and broadcast it again after a crash: the nonce lets the chain mine it
only once.
"""

from __future__ import annotations

import enum
import logging
import re
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

__all__ = ["FeePolicy", "Fees", "SendOutcome", "SignedTx", "TransactionManager", "classify_refusal"]

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


#: Nodes accept a transaction that replaces a pending one (same sender and nonce) only when both its max fee and
#: its tip are at least this much higher (geth's and anvil's ``--txpool.pricebump`` default: 10 %).
REPLACEMENT_BUMP = 0.10


@dataclass(frozen=True, slots=True)
class Fees:
    """The EIP-1559 fees of one transaction, in wei per gas."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int

    def bumped(self) -> Fees:
        """The least fees a node accepts to replace a transaction priced at these (10 % more on both, rounded up)."""
        return Fees(_bump(self.max_fee_per_gas), _bump(self.max_priority_fee_per_gas))


def _bump(wei: int) -> int:
    percent = 100 + round(REPLACEMENT_BUMP * 100)
    return max(wei + 1, -(-wei * percent // 100))  # in integers: a float would round 100 x 1.1 up to 111


@dataclass(frozen=True, slots=True)
class SignedTx:
    """A transaction signed and ready to broadcast; store ``raw`` to broadcast it again later."""

    tx_hash: HexStr
    nonce: int
    sender: ChecksumAddress
    raw: bytes
    gas: int
    fees: Fees | None = None


class SendOutcome(enum.Enum):
    """What a node said to a signed transaction (:meth:`TransactionManager.send`)."""

    #: In the node's pool now, or already there, or already mined.
    SENT = "sent"
    #: Its nonce is used by a mined transaction (this one, or another with the same nonce).
    NONCE_USED = "nonce_used"
    #: Its fees are too low: below the block's base fee, or not enough above a pending one with its nonce.
    UNDERPRICED = "underpriced"
    #: The sender cannot pay its gas.
    NO_FUNDS = "no_funds"
    #: Refused for another reason (the message says which).
    REFUSED = "refused"


_PY_EVM_NONCE = re.compile(r"invalid transaction nonce: expected (\d+), but got (\d+)")


def classify_refusal(message: str) -> SendOutcome:
    """The :class:`SendOutcome` of a node's refusal of ``eth_sendRawTransaction``, from its message (geth, anvil,
    reth, Nethermind and Erigon word them alike).

    >>> classify_refusal("replacement transaction underpriced")
    <SendOutcome.UNDERPRICED: 'underpriced'>
    >>> classify_refusal("nonce too low: next nonce 7, tx nonce 5")
    <SendOutcome.NONCE_USED: 'nonce_used'>
    """
    text = message.lower()
    if "already known" in text or "known transaction" in text or "already imported" in text:
        return SendOutcome.SENT
    if "nonce too low" in text or "nonce has already been used" in text or "oldnonce" in text:
        return SendOutcome.NONCE_USED
    expected = _PY_EVM_NONCE.search(text)  # py-evm (the embedded chain): "expected 4, but got 2"
    if expected is not None and int(expected.group(2)) < int(expected.group(1)):
        return SendOutcome.NONCE_USED
    if "insufficient funds" in text or "insufficient balance" in text or "cannot afford" in text:
        return SendOutcome.NO_FUNDS  # py-evm: "Sender b'...' cannot afford txn gas 42000 with account balance 0"
    # "base fee": geth's and anvil's "max fee per gas less than block base fee", Erigon's "fee cap less than block
    # base fee", py-evm's "max fee per gas (1) is lower than block's base fee per gas (7)".
    if any(s in text for s in ("underpriced", "base fee", "fee too low", "feecap", "fee cap", "max fee per gas less")):
        return SendOutcome.UNDERPRICED
    return SendOutcome.REFUSED


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

    def tip(self) -> int:
        """The priority fee to offer: the policy's, else the node's suggestion, else 1 gwei."""
        if self.fees.max_priority_fee_per_gas is not None:
            return self.fees.max_priority_fee_per_gas
        try:
            return int(self.chain.w3.eth.max_priority_fee)
        except (Web3RPCError, ValueError, NotImplementedError):
            return GWEI

    def fees_for(self, base_fee: int, *, tip: int | None = None, at_least: Fees | None = None) -> Fees:
        """The fees of a transaction for a block of ``base_fee``: twice the base fee plus the tip (room for six
        full blocks of rising fees), within the cap; with ``at_least``, never below those fees (a replacement).

        :raises FeeCapExceededError: when the base fee and tip alone, or the least replacement, are above the cap.
        """
        tip = self.tip() if tip is None else tip
        max_fee = 2 * base_fee + tip
        if at_least is not None:
            tip = max(tip, at_least.max_priority_fee_per_gas)
            max_fee = max(max_fee, at_least.max_fee_per_gas, base_fee + tip)
        cap = self.fees.max_fee_per_gas
        if cap is not None and max_fee > cap:
            least = base_fee + tip if at_least is None else max(base_fee + tip, at_least.max_fee_per_gas)
            if least > cap:
                raise FeeCapExceededError(least, cap, base_fee=base_fee)
            max_fee = cap
        return Fees(max_fee, min(tip, max_fee))

    def current_fees(self) -> tuple[int, int]:
        """``(max_fee_per_gas, max_priority_fee_per_gas)`` for the next block, within the cap.

        :raises FeeCapExceededError: when the base fee and tip alone are above the cap.
        """
        base_fee = int(self.chain.w3.eth.get_block("latest").get("baseFeePerGas") or 0)
        fees = self.fees_for(base_fee)
        return fees.max_fee_per_gas, fees.max_priority_fee_per_gas

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
            given = None if gas is None else gas[i]
            if given is not None:
                limits.append(int(given))
                continue
            estimate = by_index[i]
            if isinstance(estimate, Exception):
                raise self._as_error(estimate) from None
            limits.append(int(estimate * self.fees.gas_headroom))
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
            signed.append(
                SignedTx(
                    HexStr(s.hash.to_0x_hex()),
                    first + offset,
                    sender,
                    bytes(s.raw_transaction),
                    limit,
                    Fees(max_fee, tip),
                )
            )
        return signed

    def sign_at(self, call: TxParams, *, nonce: int, gas: int, fees: Fees) -> SignedTx:
        """Sign ``call`` with the nonce, gas limit and fees given: for a caller that allocates nonces itself (an
        outbox), and for a replacement (the same nonce and calldata, higher fees). Nothing is estimated or sent."""
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.chain.chain_id,
            "nonce": nonce,
            "to": call["to"],
            "data": call.get("data", b""),
            "value": int(call.get("value", 0)),
            "gas": gas,
            "maxFeePerGas": fees.max_fee_per_gas,
            "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
        }
        s = self.signer.sign_transaction(tx)
        return SignedTx(HexStr(s.hash.to_0x_hex()), nonce, self.signer.address, bytes(s.raw_transaction), gas, fees)

    def send(self, txs: Sequence[SignedTx | bytes]) -> list[tuple[SendOutcome, str]]:
        """Broadcast signed transactions in one batch and say, for each, what the node made of it, without
        raising: ``(outcome, the node's message)``. A refused one does not stop the others being sent.

        Each is a :class:`SignedTx` or the raw bytes stored from one: what was stored is broadcast again as it
        was signed (only the bytes reach the node)."""
        out: list[tuple[SendOutcome, str]] = []
        for result in self.chain.send_raw_many([t if isinstance(t, bytes) else t.raw for t in txs]):
            if isinstance(result, Exception):
                message = _message(result)
                out.append((classify_refusal(message), message))
            else:
                out.append((SendOutcome.SENT, ""))
        return out

    def broadcast_many(self, txs: Sequence[SignedTx]) -> list[HexStr]:
        """Send signed transactions to the node, in nonce order.

        A transaction the node already knows, or already mined, counts as sent: broadcasting again after a
        crash is safe.
        """
        answers = list(zip(txs, self.chain.send_raw_many([t.raw for t in txs]), strict=True))
        refused = [t.tx_hash for t, r in answers if isinstance(r, Exception) and not _already_sent(r)]
        # A node refuses a transaction it already mined as one whose nonce is too low: its receipt tells them apart.
        mined = {h for h, r in zip(refused, self.chain.receipts_many(refused), strict=True) if r is not None}
        for tx, result in answers:
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
    return classify_refusal(_message(exc)) is SendOutcome.SENT
