"""Fixtures and helpers for the KudosToken tests: one py-evm chain per session, one KudosToken deployed on it,
and an eth-tester snapshot around every test so that each test starts from the freshly deployed contract.

Reverts are checked with :func:`expect_revert`, which decodes the revert data against the ABI's custom errors
and asserts the exact error name and arguments (the ``reverts`` fixture is the same, for tests).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi.abi import decode, encode
from eth_tester.exceptions import TransactionFailed
from eth_typing import ABI, ChecksumAddress
from eth_utils.abi import abi_to_signature, filter_abi_by_type
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.types import TxReceipt

from kudos_chain import load_artifact
from scripts.gas import Compiled, compile_baselines, new_chain, toolchain_problem
from tests.utils.ci import tool_missing

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
MAX_UINT256 = 2**256 - 1
NAME = "Kudos"
SYMBOL = "KUDOS"
BASE_URI = "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi/"

DEFAULT_ADMIN_ROLE = b"\x00" * 32
MINTER_ROLE = keccak(b"MINTER_ROLE")
PAUSER_ROLE = keccak(b"PAUSER_ROLE")


# ----------------------------------------------------------------------------------------------------------------
# Custom errors
# ----------------------------------------------------------------------------------------------------------------


def _split_types(types: str) -> list[str]:
    """Split ``uint256,(address,bool)[],bytes`` at its top-level commas."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(types):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(types[start:i])
            start = i + 1
    if types:
        parts.append(types[start:])
    return parts


@dataclass(frozen=True)
class CustomError:
    name: str
    signature: str

    @property
    def types(self) -> tuple[str, ...]:
        inner = self.signature[len(self.name) + 1 : -1]
        return tuple(_split_types(inner))

    @property
    def selector(self) -> bytes:
        return keccak(text=self.signature)[:4]


def custom_errors(abi: ABI) -> dict[bytes, CustomError]:
    """The ABI's custom errors by 4-byte selector."""
    errors = [CustomError(entry["name"], abi_to_signature(entry)) for entry in filter_abi_by_type("error", abi)]
    return {error.selector: error for error in errors}


def revert_data(exc: BaseException) -> bytes:
    """The raw revert data carried by a failed call or transaction.

    A JSON-RPC node raises web3's ``ContractCustomError`` with the data as hex in ``.data``. web3's
    ``EthereumTesterProvider`` instead raises eth-tester's ``TransactionFailed`` whose message is
    ``execution reverted: b'...'``: the repr of the data, which web3's own eth-tester glue also parses with
    ``ast.literal_eval``.
    """
    if isinstance(exc, ContractLogicError) and isinstance(exc.data, str) and exc.data.startswith("0x"):
        return bytes.fromhex(exc.data[2:])
    if isinstance(exc, TransactionFailed) and exc.args and isinstance(exc.args[0], str):
        prefix = "execution reverted: "
        message = exc.args[0]
        if message.startswith(prefix):
            try:
                value = ast.literal_eval(message[len(prefix) :])
            except (ValueError, SyntaxError):
                value = None
            if isinstance(value, bytes):
                return value
    raise AssertionError(f"no revert data could be read from {exc!r}")


def _normalise(value: Any, abi_type: str) -> Any:
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type.startswith("bytes"):
        return bytes(value)
    return value


def decode_revert(abi: ABI, data: bytes) -> tuple[str, tuple[Any, ...]]:
    """Decode revert data into (error name, arguments); fail unless it is exactly one of the ABI's errors."""
    errors = custom_errors(abi)
    assert len(data) >= 4, f"revert data too short for a custom error: 0x{data.hex()}"
    error = errors.get(data[:4])
    assert error is not None, f"revert data 0x{data.hex()} is none of the ABI's custom errors"
    args = decode(list(error.types), data[4:], strict=True)
    assert encode(list(error.types), args) == data[4:], f"{error.signature} has trailing or malformed data"
    return error.name, tuple(_normalise(v, t) for v, t in zip(args, error.types, strict=True))


@contextmanager
def expect_revert(error_name: str, *args: Any, abi: ABI | None = None) -> Iterator[None]:
    """Assert that the block reverts with the custom error ``error_name`` and exactly the arguments ``args``.

    Addresses compare case-insensitively, ``bytesN`` as bytes.
    """
    abi = abi if abi is not None else load_artifact().abi
    by_name = {e.name: e for e in custom_errors(abi).values()}
    if error_name not in by_name:
        raise ValueError(f"{error_name} is not a custom error of the ABI")
    expected_types = by_name[error_name].types
    if len(args) != len(expected_types):
        raise ValueError(f"{by_name[error_name].signature} takes {len(expected_types)} arguments")
    expected = (error_name, tuple(_normalise(v, t) for v, t in zip(args, expected_types, strict=True)))
    with pytest.raises((ContractLogicError, TransactionFailed)) as caught:
        yield
    assert decode_revert(abi, revert_data(caught.value)) == expected


# ----------------------------------------------------------------------------------------------------------------
# Events
# ----------------------------------------------------------------------------------------------------------------


def decode_events(contract: Contract, receipt: TxReceipt) -> list[tuple[str, dict[str, Any]]]:
    """Every log of ``receipt``, in order, as (event name, arguments); fail on a log the ABI does not know or
    one emitted by another address."""
    by_topic = {keccak(text=abi_to_signature(e)): e["name"] for e in filter_abi_by_type("event", contract.abi)}
    decoded = []
    for log in receipt["logs"]:
        assert log["address"] == contract.address, f"log from {log['address']}"
        name = by_topic.get(bytes(log["topics"][0]))
        assert name is not None, f"unknown event topic {log['topics'][0].hex()}"
        args = dict(contract.events[name]().process_log(log)["args"])
        decoded.append((name, {k: bytes(v) if isinstance(v, bytes) else v for k, v in args.items()}))
    return decoded


# ----------------------------------------------------------------------------------------------------------------
# The chain and the contract
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accounts:
    """eth-tester's funded, unlocked accounts, by role in the tests."""

    admin: ChecksumAddress
    minter: ChecksumAddress
    alice: ChecksumAddress
    bob: ChecksumAddress
    carol: ChecksumAddress
    operator: ChecksumAddress
    outsider: ChecksumAddress


class Chain:
    """The session's chain, with the few helpers every test uses."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3

    def send(self, call: Any, sender: str, **tx: Any) -> TxReceipt:
        """Transact ``call`` from ``sender`` and return its receipt, which must be a success."""
        receipt = self.w3.eth.wait_for_transaction_receipt(call.transact({"from": sender, **tx}))
        assert receipt["status"] == 1
        return receipt

    def timestamp(self, receipt: TxReceipt) -> int:
        return int(self.w3.eth.get_block(receipt["blockNumber"])["timestamp"])

    def deploy(self, sender: str, *args: Any) -> tuple[Contract, TxReceipt]:
        artifact = load_artifact()
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = self.send(factory.constructor(*args), sender)
        address = receipt["contractAddress"]
        assert address is not None
        return self.w3.eth.contract(address=address, abi=artifact.abi), receipt


@pytest.fixture(scope="session")
def w3() -> Web3:
    return new_chain()


@pytest.fixture(scope="session")
def chain(w3: Web3) -> Chain:
    return Chain(w3)


@pytest.fixture(scope="session")
def accounts(w3: Web3) -> Accounts:
    a = list(w3.eth.accounts)
    return Accounts(admin=a[0], minter=a[1], alice=a[2], bob=a[3], carol=a[4], operator=a[5], outsider=a[6])


@pytest.fixture(scope="session")
def deployment(chain: Chain, accounts: Accounts) -> tuple[Contract, TxReceipt]:
    return chain.deploy(accounts.admin, NAME, SYMBOL, BASE_URI, accounts.admin)


@pytest.fixture(scope="session")
def kudos(deployment: tuple[Contract, TxReceipt]) -> Contract:
    """The KudosToken of the session, as deployed: each test sees it fresh (see ``_isolate``)."""
    return deployment[0]


@pytest.fixture(autouse=True)
def _isolate(w3: Web3, kudos: Contract) -> Iterator[None]:
    """Run each test in an eth-tester snapshot taken after the deployment, and revert to it afterwards."""
    tester = w3.provider.ethereum_tester  # type: ignore[attr-defined]
    snapshot = tester.take_snapshot()
    yield
    tester.revert_to_snapshot(snapshot)


@pytest.fixture
def reverts() -> Callable[..., Any]:
    """:func:`expect_revert`, as a fixture: ``with reverts("KudosSoulbound", 1): ...``."""
    return expect_revert


def require_toolchain() -> None:
    """Skip the calling test when Node or the pinned solc is missing, unless in CI (``CI=true``): there, fail."""
    problem = toolchain_problem()
    if problem is None:
        return
    tool_missing(f"cannot compile the contracts: {problem}")


@pytest.fixture(scope="session")
def baseline_artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Compiled]:
    """``BareERC721`` and ``NaiveKudos``, compiled by ``node scripts/compile.mjs --baselines``."""
    require_toolchain()
    return compile_baselines(tmp_path_factory.mktemp("baselines"))


@dataclass(frozen=True)
class Awarded:
    token_id: int
    receipt: TxReceipt
    content_hash: bytes
    request_id: bytes


@pytest.fixture
def award(chain: Chain, kudos: Contract, accounts: Accounts) -> Callable[..., Awarded]:
    """Award one kudos as the admin and return its id, receipt, content hash and request id."""
    serial = iter(range(1, 1_000_000))

    def _award(
        to: str,
        *,
        kind: int = 1,
        transferable: bool = False,
        content_hash: bytes | None = None,
        request_id: bytes | None = None,
        sender: str | None = None,
    ) -> Awarded:
        i = next(serial)
        content_hash = content_hash if content_hash is not None else keccak(text=f"content {i}")
        request_id = request_id if request_id is not None else keccak(text=f"request {i}")
        call = kudos.functions.award(to, kind, content_hash, request_id, transferable)
        receipt = chain.send(call, sender or accounts.admin)
        (token_id,) = [args["id"] for name, args in decode_events(kudos, receipt) if name == "Transfer"]
        return Awarded(token_id, receipt, content_hash, request_id)

    return _award


def batch_args(
    recipients: Sequence[str], *, transferable: Sequence[bool] | None = None, salt: str = "batch"
) -> tuple[list[str], list[int], list[bytes], list[bytes], list[bool]]:
    """The five arrays of an ``awardBatch`` to ``recipients``: kinds 1, 2, ..., random-looking hashes."""
    n = len(recipients)
    return (
        list(recipients),
        [i + 1 for i in range(n)],
        [keccak(text=f"{salt} content {i}") for i in range(n)],
        [keccak(text=f"{salt} request {i}") for i in range(n)],
        list(transferable) if transferable is not None else [False] * n,
    )


def transfer_call(kudos: Contract, how: str, sender_from: str, to: str, token_id: int) -> Any:
    """One of the three ERC-721 transfer functions, by name: ``transferFrom``, ``safeTransferFrom`` or
    ``safeTransferFrom+data`` (the overload with a ``bytes`` argument)."""
    if how == "transferFrom":
        return kudos.functions.transferFrom(sender_from, to, token_id)
    if how == "safeTransferFrom":
        return kudos.get_function_by_signature("safeTransferFrom(address,address,uint256)")(sender_from, to, token_id)
    if how == "safeTransferFrom+data":
        return kudos.get_function_by_signature("safeTransferFrom(address,address,uint256,bytes)")(
            sender_from, to, token_id, b"kudos"
        )
    raise ValueError(how)


TRANSFER_FUNCTIONS = ("transferFrom", "safeTransferFrom", "safeTransferFrom+data")
