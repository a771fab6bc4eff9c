"""Connections to a chain: the embedded py-evm chain, or any EVM JSON-RPC node.

>>> chain = Chain.embedded()
>>> chain.chain_id
131277322940537
>>> len(chain.dev_accounts)
10
"""

from __future__ import annotations

import ast
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast
from urllib.parse import urlsplit

import requests
from eth_typing import ChecksumAddress, HexStr
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.exceptions import BlockNotFound, TransactionNotFound, Web3Exception, Web3RPCError
from web3.types import FilterParams, RPCEndpoint, TxParams

from kudos_chain.exceptions import ChainError, ChainIdMismatchError, NodeUnreachableError
from kudos_chain.keys import Signer

__all__ = ["Chain", "Log", "Receipt", "redact_url", "revert_data"]

logger = logging.getLogger(__name__)

#: The widest block range requested in one ``eth_getLogs`` (what public providers accept).
MAX_LOG_BLOCK_RANGE = 2_000

#: The most requests sent in one JSON-RPC batch (geth's default ``--rpc.batch-request-limit``).
MAX_BATCH_REQUESTS = 1_000


def redact_url(url: str) -> str:
    """The URL without its path, query or credentials, which often carry a provider's API key.

    >>> redact_url("https://user:secret@eth.example/v2/KEY?x=1")
    'https://eth.example/…'
    >>> redact_url("http://127.0.0.1:8545")
    'http://127.0.0.1:8545'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address, written in brackets as in the URL
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    hidden = parts.path not in ("", "/") or parts.query or parts.username
    return f"{parts.scheme}://{host}{'/…' if hidden else ''}"


class Chain:
    """A web3 connection with the helpers kudos_chain needs: batched requests and paged logs.

    Use :meth:`embedded` for an in-process py-evm chain, :meth:`connect` for a node, or wrap a ``Web3``
    of your own.
    """

    def __init__(
        self,
        w3: Web3,
        *,
        name: str = "custom",
        dev_accounts: Sequence[Signer] = (),
        batch_limit: int = MAX_BATCH_REQUESTS,
    ) -> None:
        self.w3 = w3
        self.batch_limit = batch_limit
        self.name = name
        self.dev_accounts: list[Signer] = list(dev_accounts)
        self._chain_id: int | None = None
        self._close: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"Chain({self.name!r})"

    @classmethod
    def embedded(cls, *, accounts: int = 10, path: str | os.PathLike[str] | None = None) -> Chain:
        """An in-process py-evm chain, each block mined as a transaction arrives, with funded dev accounts.

        The dev accounts are eth-tester's deterministic keys, the same on every chain and in every process.

        :param accounts: how many dev accounts the genesis funds.
        :param path: None (the default) keeps the chain in memory, gone with the process. A file path keeps it
            on disk: the file is created on first use and reopened after, at the same blocks (same hashes),
            contracts, balances and nonces, even after the process was killed. Call :meth:`close` (or use the
            chain in a ``with`` block) to release the file within the process: dropping the chain does not.

        On disk, py-evm's key-value database is a SQLite table (see :mod:`kudos_chain.embedded`): each block
        is committed in one SQLite transaction, in WAL mode with ``synchronous=NORMAL``, so a killed process
        (SIGKILL included) reopens at its last mined block, never at half a block; only a power loss or an
        operating system crash may lose the last blocks (still never half of one). One :class:`Chain` at a time
        owns the file, through an exclusive ``flock`` on ``<path>.lock``. As such a chain grows across restarts,
        it finds transactions through py-evm's hash index and logs through the header blooms, where eth-tester
        reads every block.

        :raises ConfigurationError: when another process (or another open :class:`Chain`) holds the file, when
            the file is not a kudos-chain database, or when it was created with another number of accounts.
        """
        close: Callable[[], None] | None = None
        if path is None:
            from kudos_chain.embedded import EmbeddedBackend, EmbeddedTester  # noqa: PLC0415 - heavy, only when embedded

            backend = EmbeddedBackend(genesis_parameters=None, genesis_state=None, vm_configuration=None)
            if accounts != len(backend.account_keys):
                backend.reset_to_genesis(num_accounts=accounts)
            tester = EmbeddedTester(backend=backend)
        else:
            from kudos_chain.embedded import open_tester  # noqa: PLC0415 - heavy, only when on disk

            tester, db = open_tester(path, accounts=accounts)
            close = db.close
        signers = [Signer.from_key(key.to_bytes()) for key in tester.backend.account_keys]
        chain = cls(Web3(EthereumTesterProvider(tester)), name="embedded", dev_accounts=signers)
        chain._close = close
        return chain

    def close(self) -> None:
        """Release what the chain holds: the file of an embedded chain on disk, and its lock. Idempotent; does
        nothing for other chains."""
        close, self._close = self._close, None
        if close is not None:
            close()

    def __enter__(self) -> Chain:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @classmethod
    def connect(
        cls, url: str, *, chain_id: int | None = None, timeout: float = 10.0, batch_limit: int = MAX_BATCH_REQUESTS
    ) -> Chain:
        """Connect to a JSON-RPC node over HTTP(S).

        :param url: the node's URL; only its scheme, host and port ever appear in messages.
        :param chain_id: the chain the caller expects; another one raises :class:`ChainIdMismatchError`.
        :param timeout: seconds to wait for each answer.
        :param batch_limit: the most requests sent in one JSON-RPC batch (providers' limits vary; geth's is 1,000).
        :raises NodeUnreachableError: when the node does not answer.
        """
        w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": timeout}))
        chain = cls(w3, name=redact_url(url), batch_limit=batch_limit)
        try:
            actual = chain.chain_id
        except (requests.RequestException, OSError, ValueError, Web3Exception) as exc:  # no JSON-RPC answer
            raise NodeUnreachableError(redact_url(url), exc.__class__.__name__) from None
        if chain_id is not None and actual != chain_id:
            raise ChainIdMismatchError(chain_id, actual)
        return chain

    @property
    def chain_id(self) -> int:
        """The chain id, asked once."""
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def balance(self, address: str) -> int:
        """The balance of ``address`` in wei."""
        return int(self.w3.eth.get_balance(Web3.to_checksum_address(address)))

    def block_number(self) -> int:
        """The number of the newest block."""
        return int(self.w3.eth.block_number)

    # ------------------------------------------------------------------------------------------------------
    # Batched requests
    # ------------------------------------------------------------------------------------------------------

    @property
    def supports_batching(self) -> bool:
        """True when the provider sends many requests in one round trip (HTTP JSON-RPC batches)."""
        return isinstance(self.w3.provider, HTTPProvider)

    def _batch(
        self,
        method: str,
        params: Sequence[Sequence[Any]],
        fallback: Callable[..., Any],
    ) -> list[Any]:
        """Call ``method`` once per item of ``params``: one JSON-RPC batch per ``batch_limit`` items over HTTP, else one
        ``fallback(*item)`` call each (the embedded chain answers in-process, so batching gains nothing).

        An item that failed is returned as its exception, so that one refusal does not hide the other answers.
        """
        results: list[Any] = []
        if not self.supports_batching:
            failures = _call_errors()
            for item in params:
                try:
                    results.append(fallback(*item))
                except failures as exc:
                    results.append(exc)
            return results
        http = cast(HTTPProvider, self.w3.provider)
        chunk = self.batch_limit
        for start in range(0, len(params), chunk):
            part = [(RPCEndpoint(method), list(p)) for p in params[start : start + chunk]]
            responses = http.make_batch_request(part)
            if not isinstance(responses, list):
                raise ChainError(f"the node refused a batch request: {responses.get('error')}")
            results.extend(_result_of(r) for r in responses)
        return results

    def estimate_gas_many(self, txs: Sequence[TxParams]) -> list[int | Exception]:
        """``eth_estimateGas`` for each transaction; a refused one is returned as its exception."""
        raw = self._batch(
            "eth_estimateGas", [[_hex_tx(tx)] for tx in txs], lambda tx: self.w3.eth.estimate_gas(tx_of(tx))
        )
        return [r if isinstance(r, Exception) else int(r, 16) if isinstance(r, str) else int(r) for r in raw]

    def call_many(self, calls: Sequence[tuple[ChecksumAddress, bytes]]) -> list[bytes | Exception]:
        """``eth_call`` at the newest block for each ``(to, data)``; a reverted one is returned as its exception."""
        params = [[{"to": to, "data": "0x" + data.hex()}, "latest"] for to, data in calls]
        raw = self._batch("eth_call", params, lambda tx, block: self.w3.eth.call(tx_of(tx), block))
        return [r if isinstance(r, Exception) else _to_bytes(r) for r in raw]

    def codes_many(self, addresses: Sequence[str]) -> list[bytes]:
        """The code deployed at each address (``b""`` for an account without code), at the newest block."""
        checksummed = [Web3.to_checksum_address(a) for a in addresses]
        raw = self._batch("eth_getCode", [[a, "latest"] for a in checksummed], self.w3.eth.get_code)
        for r in raw:
            if isinstance(r, Exception):
                raise ChainError(f"the node refused eth_getCode: {r}") from None
        return [_to_bytes(r) for r in raw]

    def send_raw_many(self, raws: Sequence[bytes]) -> list[HexStr | Exception]:
        """``eth_sendRawTransaction`` for each signed transaction, in order."""
        raw = self._batch(
            "eth_sendRawTransaction",
            [["0x" + r.hex()] for r in raws],
            self.w3.eth.send_raw_transaction,
        )
        return [r if isinstance(r, Exception) else HexStr("0x" + _to_bytes(r).hex()) for r in raw]

    def receipts_many(self, tx_hashes: Sequence[str]) -> list[Receipt | None]:
        """The receipt of each transaction, or None for one not mined yet."""

        def one(tx_hash: str) -> Any:
            try:
                return self.w3.eth.get_transaction_receipt(HexStr(tx_hash))
            except TransactionNotFound:
                return None

        raw = self._batch("eth_getTransactionReceipt", [[h] for h in tx_hashes], one)
        out: list[Receipt | None] = []
        for r in raw:
            if isinstance(r, Exception):
                raise r
            out.append(None if r is None else Receipt.from_rpc(r))
        return out

    def block_hashes(self, numbers: Sequence[int]) -> dict[int, bytes]:
        """The hash of each block, in one batch; a block the node does not have is left out."""

        def one(number: str, full: bool) -> Any:
            try:
                return self.w3.eth.get_block(int(number, 16), full)
            except BlockNotFound:  # as a node over HTTP answers null: left out below
                return None

        raw = self._batch("eth_getBlockByNumber", [[hex(n), False] for n in numbers], one)
        out: dict[int, bytes] = {}
        for number, block in zip(numbers, raw, strict=True):
            if isinstance(block, Exception):
                raise ChainError(f"the node refused eth_getBlockByNumber: {block}") from None
            if block is not None:
                out[number] = _to_bytes(block["hash"])
        return out

    def pending_nonce(self, address: ChecksumAddress) -> int:
        """The next nonce of ``address``, counting its transactions in the node's pool."""
        return int(self.w3.eth.get_transaction_count(address, "pending"))

    def mined_nonce(self, address: str) -> int:
        """How many transactions of ``address`` the newest block holds: every nonce below it is used for good
        (unless a reorg takes blocks back)."""
        return int(self.w3.eth.get_transaction_count(Web3.to_checksum_address(address), "latest"))

    def head(self) -> tuple[int, bytes, int, int]:
        """``(number, hash, base fee per gas, gas limit)`` of the newest block, in one request."""
        block = self.w3.eth.get_block("latest")
        return (
            int(block["number"]),
            _to_bytes(block["hash"]),
            int(block.get("baseFeePerGas") or 0),
            int(block["gasLimit"]),
        )

    def genesis_hash(self) -> bytes:
        """The hash of block 0: what tells one chain from another with the same id (a development node started
        again without its state has a new one)."""
        return _to_bytes(self.w3.eth.get_block(0)["hash"])

    # ------------------------------------------------------------------------------------------------------
    # Logs
    # ------------------------------------------------------------------------------------------------------

    def get_logs(
        self,
        *,
        address: ChecksumAddress,
        topic_sets: Sequence[Sequence[Any]],
        from_block: int,
        to_block: int | None = None,
        max_range: int = MAX_LOG_BLOCK_RANGE,
    ) -> list[Log]:
        """Every log of ``address`` matching any of ``topic_sets`` in ``[from_block, to_block]``, in chain order.

        Each topic set is one ``eth_getLogs`` filter; the range is cut into pages of at most ``max_range``
        blocks, and all the requests go in one JSON-RPC batch. A page the node refuses as too large (the
        10,000-log limit of public providers) is split in half and asked again.
        """
        last = self.block_number() if to_block is None else to_block
        pending: list[tuple[list[Any], int, int]] = [
            (list(topics), lo, min(lo + max_range - 1, last))
            for topics in topic_sets
            for lo in range(from_block, last + 1, max_range)
        ]
        found: dict[tuple[int, int], Log] = {}
        while pending:
            params = [
                [{"address": address, "topics": _hex_topics(t), "fromBlock": hex(lo), "toBlock": hex(hi)}]
                for t, lo, hi in pending
            ]
            answers = self._batch("eth_getLogs", params, lambda f: self.w3.eth.get_logs(_filter_of(f)))
            retry: list[tuple[list[Any], int, int]] = []
            for (topics, lo, hi), answer in zip(pending, answers, strict=True):
                if isinstance(answer, Exception):
                    if hi == lo or not _is_too_many_results(answer):
                        raise ChainError(f"the node refused eth_getLogs: {answer}") from None
                    mid = (lo + hi) // 2
                    retry += [(topics, lo, mid), (topics, mid + 1, hi)]
                    continue
                for raw in answer:
                    log = Log.from_rpc(raw)
                    found[(log.block_number, log.log_index)] = log
            pending = retry
        return [found[k] for k in sorted(found)]


def _hex_topics(topics: Sequence[Any]) -> list[Any]:
    def one(t: Any) -> Any:
        if t is None:
            return None
        if isinstance(t, list | tuple):
            return [one(x) for x in t]
        return "0x" + bytes(t).hex() if isinstance(t, bytes) else t

    return [one(t) for t in topics]


def _filter_of(hex_filter: dict[str, Any]) -> FilterParams:
    return cast(
        FilterParams,
        {
            **hex_filter,
            "fromBlock": int(hex_filter["fromBlock"], 16),
            "toBlock": int(hex_filter["toBlock"], 16),
        },
    )


#: Words of the refusals providers give for an ``eth_getLogs`` too large to answer (Alchemy's "Log response size
#: exceeded", Infura's "query returned more than 10000 results" and "range 1000000 exceeds limit of 10000",
#: QuickNode's "limited to a 10,000 range", ...): the range is split and asked again.
_TOO_LARGE = ("more than", "too many", "limit", "exceed", "range", "response size")

#: Words of a rate limit ("rate limit exceeded", "too many requests", HTTP 429): splitting would only ask more.
_RATE_LIMITED = ("rate limit", "rate-limit", "ratelimit", "too many requests", "429", "per second", "compute units")


def _is_too_many_results(exc: Exception) -> bool:
    """True when the node refused an ``eth_getLogs`` as too large (not when it is limiting the request rate)."""
    text = str(exc).lower()
    if any(s in text for s in _RATE_LIMITED):
        return False
    return any(s in text for s in _TOO_LARGE)


@dataclass(frozen=True, slots=True)
class Log:
    """A log as a receipt or ``eth_getLogs`` returns it, in plain bytes."""

    address: ChecksumAddress
    topics: tuple[bytes, ...]
    data: bytes
    block_number: int
    tx_hash: HexStr
    log_index: int

    @classmethod
    def from_rpc(cls, raw: Any) -> Log:
        """Normalize a log from either a JSON-RPC answer (hex) or web3's formatted one."""
        return cls(
            address=_checksum(raw["address"]),
            topics=tuple(_to_bytes(t) for t in raw["topics"]),
            data=_to_bytes(raw["data"]),
            block_number=_to_int(raw["blockNumber"]),
            tx_hash=HexStr("0x" + _to_bytes(raw["transactionHash"]).hex()),
            log_index=_to_int(raw["logIndex"]),
        )


@dataclass(frozen=True, slots=True)
class Receipt:
    """The parts of a transaction receipt kudos_chain uses."""

    tx_hash: HexStr
    status: int
    block_number: int
    gas_used: int
    logs: tuple[Log, ...]
    #: None when the receipt has none (the receipt of every mined transaction has one)
    block_hash: bytes | None = None

    @classmethod
    def from_rpc(cls, raw: Any) -> Receipt:
        """Normalize a receipt from either a JSON-RPC answer (hex) or web3's formatted one."""
        return cls(
            tx_hash=HexStr("0x" + _to_bytes(raw["transactionHash"]).hex()),
            status=_to_int(raw["status"]),
            block_number=_to_int(raw["blockNumber"]),
            gas_used=_to_int(raw["gasUsed"]),
            logs=tuple(Log.from_rpc(log) for log in raw["logs"]),
            block_hash=_to_bytes(block_hash) if (block_hash := raw.get("blockHash")) else None,
        )


def tx_of(hex_tx: dict[str, Any]) -> TxParams:
    """The web3 form of a transaction written in JSON-RPC hex."""
    out: dict[str, Any] = {}
    for key, value in hex_tx.items():
        out[key] = int(value, 16) if key in ("value", "gas", "nonce") else value
    return cast(TxParams, out)


def _hex_tx(tx: TxParams) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in dict(tx).items():
        if isinstance(value, int):
            out[key] = hex(value)
        elif isinstance(value, bytes):
            out[key] = "0x" + value.hex()
        else:
            out[key] = value
    return out


@lru_cache(maxsize=4096)
def _checksum(address: str) -> ChecksumAddress:
    """``Web3.to_checksum_address``, remembered: a batch award's receipt repeats one address in hundreds of logs,
    and each checksum costs a keccak."""
    return Web3.to_checksum_address(address)


def _to_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return bytes(value)
    return bytes.fromhex(str(value).removeprefix("0x"))


def _to_int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def _call_errors() -> tuple[type[Exception], ...]:
    """What a refused request raises in-process: web3's errors, eth-tester's ``TransactionFailed``, which web3's
    ``EthereumTesterProvider`` raises for a revert (with the revert data in its message), and the
    ``ValidationError`` of eth-tester and py-evm for a transaction they refuse (a nonce too low...)."""
    from eth_tester.exceptions import TransactionFailed  # noqa: PLC0415 - heavy, only without batching
    from eth_tester.exceptions import ValidationError as TesterValidationError  # noqa: PLC0415
    from eth_utils.exceptions import ValidationError  # noqa: PLC0415

    return (Web3Exception, ValueError, TransactionFailed, TesterValidationError, ValidationError)


def _tester_revert_data(arg: object) -> str | None:
    """The revert data of an eth-tester ``TransactionFailed``: raw bytes, or web3's ``execution reverted: b'...'``."""
    if isinstance(arg, bytes):
        return "0x" + arg.hex()
    prefix = "execution reverted: "
    if isinstance(arg, str) and arg.startswith(prefix):
        try:
            value = ast.literal_eval(arg[len(prefix) :])
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None
        if isinstance(value, bytes):
            return "0x" + value.hex()
    return None


def revert_data(exc: BaseException) -> str | None:
    """The revert data carried by a web3 error, a JSON-RPC error answer or an eth-tester failure, if any."""
    if type(exc).__name__ == "TransactionFailed" and exc.args:
        return _tester_revert_data(exc.args[0])
    data = getattr(exc, "data", None)
    if isinstance(data, str):
        return data
    response = getattr(exc, "rpc_response", None)
    if isinstance(response, dict):
        error = response.get("error")
        if isinstance(error, dict):
            found = error.get("data")
            if isinstance(found, dict):
                found = found.get("data")
            if isinstance(found, str):
                return found
    return None


def _result_of(response: Any) -> Any:
    if response.get("error"):
        error = response["error"]
        message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
        return Web3RPCError(message, rpc_response=response)
    return response.get("result")
