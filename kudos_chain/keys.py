"""Signing keys, always held in this process and never sent to a node.

>>> signer = Signer.from_key("0x" + "11" * 32)
>>> signer
Signer(address='0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A')
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from eth_account import Account
from eth_account.datastructures import SignedTransaction
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress

from kudos_chain.exceptions import KeystoreError

__all__ = ["Signer"]


class Signer:
    """A private key that signs transactions locally with eth-account.

    The key never appears in ``repr``, ``str``, logs or exception messages; only the address does.
    """

    __slots__ = ("__account",)

    def __init__(self, account: LocalAccount) -> None:
        self.__account = account

    @classmethod
    def from_key(cls, private_key: str | bytes) -> Signer:
        """A signer from a raw private key (hex string or 32 bytes)."""
        try:
            return cls(Account.from_key(private_key))
        except (ValueError, TypeError):
            # eth-account's own message may quote the key: never pass it on.
            raise ValueError("not a valid secp256k1 private key") from None

    @classmethod
    def create(cls) -> Signer:
        """A signer with a new random key."""
        return cls(Account.create())

    @classmethod
    def from_keystore(cls, path: str | os.PathLike[str], password: str) -> Signer:
        """A signer from an encrypted keystore file (the standard Web3 Secret Storage format)."""
        path = Path(path)
        try:
            keyfile = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise KeystoreError(str(path), f"cannot read a keystore JSON: {exc.__class__.__name__}") from None
        try:
            key = Account.decrypt(keyfile, password)
        except ValueError:
            raise KeystoreError(str(path), "the password does not decrypt it (or the file is damaged)") from None
        except (KeyError, TypeError):
            raise KeystoreError(str(path), "it is not a keystore file (Web3 Secret Storage, version 3)") from None
        return cls.from_key(key)

    def to_keystore(
        self,
        path: str | os.PathLike[str],
        password: str,
        *,
        kdf: Literal["scrypt", "pbkdf2"] = "scrypt",
        iterations: int | None = None,
    ) -> Path:
        """Write the key to ``path`` as an encrypted keystore file readable by other Ethereum tools.

        The file is created with mode 0600 and is never overwritten.
        """
        path = Path(path)
        keyfile: dict[str, Any] = Account.encrypt(self.__account.key, password, kdf=kdf, iterations=iterations)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(keyfile, fh)
        return path

    @property
    def address(self) -> ChecksumAddress:
        """The account's checksummed address."""
        return self.__account.address

    def sign_transaction(self, tx: dict[str, Any]) -> SignedTransaction:
        """Sign a transaction dictionary."""
        return self.__account.sign_transaction(tx)

    def __repr__(self) -> str:
        return f"Signer(address={self.address!r})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a Signer cannot be pickled: it holds a private key")
