"""Every error kudos_chain raises, rooted at :class:`KudosError`.

Each exception composes its own message from its arguments, and none ever carries key material::

    KudosError
    ├── ConfigurationError (ValueError)
    │   └── KeystoreError                      a keystore file that cannot be read or decrypted
    ├── MetadataError (ValueError)             metadata that cannot be hashed or does not validate
    ├── ChainError
    │   ├── NodeUnreachableError               no answer from the node at a URL
    │   ├── ChainIdMismatchError               the node is on another chain than expected
    │   └── NotAKudosTokenError                the code at an address is not a KudosToken
    └── TransactionError
        ├── FeeCapExceededError                the network's fee is above the caller's cap
        ├── TransactionTimeoutError            no receipt within the timeout
        ├── TransactionFailedError             mined with status 0 and no reason to decode
        └── ContractRevertError                the contract refused, decoded from its custom error
            ├── MissingRoleError               AccessControlUnauthorizedAccount
            ├── ContractPausedError            EnforcedPause
            ├── ContractNotPausedError         ExpectedPause
            ├── SoulboundError                 KudosSoulbound
            ├── TokenNotFoundError             ERC721NonexistentToken, TokenDoesNotExist
            ├── InvalidRecipientError          ERC721InvalidReceiver, TransferToZeroAddress
            ├── NotTokenOwnerError             ERC721IncorrectOwner, NotOwnerNorApproved, ...
            ├── InvalidBatchError              KudosEmptyBatch, KudosBatchLengthMismatch
            └── InvalidAdminError              KudosInvalidAdmin
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from eth_abi.abi import decode as abi_decode
from eth_typing import ABI
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

__all__ = [
    "ChainError",
    "ChainIdMismatchError",
    "ConfigurationError",
    "ContractNotPausedError",
    "ContractPausedError",
    "ContractRevertError",
    "FeeCapExceededError",
    "InvalidAdminError",
    "InvalidBatchError",
    "InvalidRecipientError",
    "KeystoreError",
    "KudosError",
    "MetadataError",
    "MissingRoleError",
    "NodeUnreachableError",
    "NotAKudosTokenError",
    "NotTokenOwnerError",
    "SoulboundError",
    "TokenNotFoundError",
    "TransactionError",
    "TransactionFailedError",
    "TransactionTimeoutError",
]


class KudosError(Exception):
    """The root of every error raised by kudos_chain."""


class ConfigurationError(KudosError, ValueError):
    """A setting or an argument that cannot work."""


class KeystoreError(ConfigurationError):
    """A keystore file that cannot be read, or a password that does not decrypt it."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cannot use keystore {path}: {reason}")


class MetadataError(KudosError, ValueError):
    """Kudos metadata that is invalid or cannot be serialized canonically."""


class ChainError(KudosError):
    """The chain or the node cannot be used as asked."""


class NodeUnreachableError(ChainError):
    """No JSON-RPC answer from the node at ``url``."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"the node at {url} cannot be reached: {reason}")


class ChainIdMismatchError(ChainError):
    """The node serves another chain than the one the caller expects."""

    def __init__(self, expected: int, actual: int) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(f"expected chain id {expected}, but the node is on chain {actual}")


class NotAKudosTokenError(ChainError):
    """The code at ``address`` does not answer as a KudosToken."""

    def __init__(self, address: str, reason: str) -> None:
        self.address = address
        self.reason = reason
        super().__init__(f"{address} is not a KudosToken: {reason}")


class TransactionError(KudosError):
    """A transaction could not be sent, or did not succeed."""


class FeeCapExceededError(TransactionError):
    """The fee the network asks is above the cap the caller set."""

    def __init__(self, required_wei: int, cap_wei: int, *, base_fee: int | None = None) -> None:
        self.required_wei = required_wei
        self.cap_wei = cap_wei
        self.base_fee = base_fee
        if base_fee is not None and base_fee > cap_wei:
            message = f"base fee {_gwei(base_fee)} is above the cap of {_gwei(cap_wei)}"
        else:
            message = f"the network needs a max fee of {_gwei(required_wei)}, above the cap of {_gwei(cap_wei)}"
        super().__init__(message)


def _gwei(wei: int) -> str:
    """``41 gwei``, ``0.5 gwei``: a fee per gas in words."""
    return f"{wei / 10**9:.9g} gwei"


class TransactionTimeoutError(TransactionError):
    """No receipt arrived within the timeout; the transaction may still be mined later."""

    def __init__(self, tx_hash: str, timeout: float) -> None:
        self.tx_hash = tx_hash
        self.timeout = timeout
        super().__init__(f"transaction {tx_hash} was not mined within {timeout:g} s")


class TransactionFailedError(TransactionError):
    """A transaction was mined with status 0 and its revert reason could not be recovered."""

    def __init__(self, tx_hash: str) -> None:
        self.tx_hash = tx_hash
        super().__init__(f"transaction {tx_hash} failed on chain")


class ContractRevertError(TransactionError):
    """The contract refused a call or a transaction with the custom error ``error_name``.

    The subclasses name the refusals a caller is expected to handle; any other custom error of the contract
    (or a panic) arrives as this class itself, with its name and decoded arguments.
    """

    def __init__(self, error_name: str, args: Mapping[str, Any], message: str | None = None) -> None:
        self.error_name = error_name
        self.error_args = dict(args)
        if message is None:
            shown = ", ".join(f"{k}={v}" for k, v in self.error_args.items())
            message = f"the contract reverted with {error_name}({shown})"
        super().__init__(message)


class MissingRoleError(ContractRevertError):
    """The sender lacks the role the function requires."""

    def __init__(self, error_name: str, args: Mapping[str, Any]) -> None:
        self.account: str = args["account"]
        self.role: str = _role_name(args["neededRole"])
        super().__init__(error_name, args, f"{self.account} does not have the {self.role}")


class ContractPausedError(ContractRevertError):
    """The contract is paused: no award, transfer or recovery until a pauser unpauses it."""

    def __init__(self, error_name: str, args: Mapping[str, Any]) -> None:
        super().__init__(error_name, args, "the contract is paused")


class ContractNotPausedError(ContractRevertError):
    """The contract is not paused, so it cannot be unpaused."""

    def __init__(self, error_name: str, args: Mapping[str, Any]) -> None:
        super().__init__(error_name, args, "the contract is not paused")


class SoulboundError(ContractRevertError):
    """The kudos is soulbound: it can be neither transferred nor approved."""

    def __init__(self, error_name: str, args: Mapping[str, Any]) -> None:
        self.token_id: int = args["tokenId"]
        super().__init__(error_name, args, f"kudos {self.token_id} is soulbound and cannot be transferred")


class TokenNotFoundError(ContractRevertError):
    """No kudos has this id: it was never awarded, or it was revoked or burnt."""

    def __init__(self, error_name: str, args: Mapping[str, Any]) -> None:
        self.token_id: int | None = args.get("tokenId")
        what = "the kudos" if self.token_id is None else f"kudos {self.token_id}"
        super().__init__(error_name, args, f"{what} does not exist")


class InvalidRecipientError(ContractRevertError):
    """The recipient cannot receive a kudos (the zero address)."""

    def __init__(self, error_name: str, args: Mapping[str, Any]) -> None:
        self.recipient: str = args.get("receiver", "0x0000000000000000000000000000000000000000")
        super().__init__(error_name, args, f"{self.recipient} cannot receive a kudos")


class NotTokenOwnerError(ContractRevertError):
    """The sender neither owns the kudos nor is approved to manage it."""

    def __init__(self, error_name: str, args: Mapping[str, Any]) -> None:
        self.token_id: int | None = args.get("tokenId")
        what = "the kudos" if self.token_id is None else f"kudos {self.token_id}"
        super().__init__(error_name, args, f"the sender does not own {what} nor is approved for it")


class InvalidBatchError(ContractRevertError):
    """A batch award that is empty or whose arrays differ in length."""

    def __init__(self, error_name: str, args: Mapping[str, Any]) -> None:
        if error_name == "KudosEmptyBatch":
            message = "a batch award needs at least one recipient"
        else:
            message = "the arrays of a batch award differ in length: " + ", ".join(f"{k}={v}" for k, v in args.items())
        super().__init__(error_name, args, message)


class InvalidAdminError(ContractRevertError):
    """The admin given to the constructor is the zero address."""

    def __init__(self, error_name: str, args: Mapping[str, Any]) -> None:
        super().__init__(error_name, args, "the admin of a KudosToken cannot be the zero address")


_ERROR_CLASSES: dict[str, type[ContractRevertError]] = {
    "AccessControlUnauthorizedAccount": MissingRoleError,
    "EnforcedPause": ContractPausedError,
    "ExpectedPause": ContractNotPausedError,
    "KudosSoulbound": SoulboundError,
    "ERC721NonexistentToken": TokenNotFoundError,
    "TokenDoesNotExist": TokenNotFoundError,
    "ERC721InvalidReceiver": InvalidRecipientError,
    "TransferToZeroAddress": InvalidRecipientError,
    "ERC721IncorrectOwner": NotTokenOwnerError,
    "NotOwnerNorApproved": NotTokenOwnerError,
    "TransferFromIncorrectOwner": NotTokenOwnerError,
    "KudosEmptyBatch": InvalidBatchError,
    "KudosBatchLengthMismatch": InvalidBatchError,
    "KudosInvalidAdmin": InvalidAdminError,
}

_ROLE_NAMES = {
    b"\x00" * 32: "DEFAULT_ADMIN_ROLE",
    keccak(text="MINTER_ROLE"): "MINTER_ROLE",
    keccak(text="PAUSER_ROLE"): "PAUSER_ROLE",
}

_PANIC_SELECTOR = keccak(text="Panic(uint256)")[:4]
_ERROR_STRING_SELECTOR = keccak(text="Error(string)")[:4]


def _role_name(role: bytes) -> str:
    return _ROLE_NAMES.get(bytes(role), "0x" + bytes(role).hex())


class RevertDecoder:
    """Turns the revert data of a contract into the matching :class:`ContractRevertError`."""

    def __init__(self, abi: ABI) -> None:
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for raw_entry in abi:
            entry = cast(dict[str, Any], raw_entry)
            if entry.get("type") != "error":
                continue
            inputs = entry.get("inputs", [])
            types = [str(i["type"]) for i in inputs]
            names = [str(i["name"]) for i in inputs]
            name = str(entry["name"])
            selector = keccak(text=f"{name}({','.join(types)})")[:4]
            self._errors[selector] = (name, names, types)

    def decode(self, data: bytes | str | None) -> ContractRevertError | None:
        """Return the exception for revert ``data``, or None when there is nothing to decode."""
        raw = _as_bytes(data)
        if raw is None or len(raw) < 4:
            return None
        selector, body = raw[:4], raw[4:]
        if selector == _PANIC_SELECTOR:
            (code,) = abi_decode(["uint256"], body)
            return ContractRevertError("Panic", {"code": code}, f"the contract panicked with code {code:#x}")
        if selector == _ERROR_STRING_SELECTOR:
            (reason,) = abi_decode(["string"], body)
            return ContractRevertError("Error", {"reason": reason}, f"the contract reverted: {reason}")
        known = self._errors.get(selector)
        if known is None:
            return ContractRevertError("unknown", {"data": "0x" + raw.hex()})
        name, names, types = known
        values = abi_decode(types, body)
        args = {
            n: to_checksum_address(v) if t == "address" else v for n, t, v in zip(names, types, values, strict=True)
        }
        cls = _ERROR_CLASSES.get(name)
        if cls is None:
            return ContractRevertError(name, args)
        return cls(name, args)


def _as_bytes(data: bytes | str | None) -> bytes | None:
    if data is None:
        return None
    if isinstance(data, bytes):
        return data
    text = data[2:] if data.startswith(("0x", "0X")) else data
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None
