"""Recipients that could never use a kudos, refused before an award is accepted.

The schema already refuses what it can tell from the address alone (the zero address, precompiles: see
:data:`~kudos_service.schemas.LOWEST_USABLE_ADDRESS`). What needs the chain is checked here:

- **The KudosToken contract itself** is refused always: a kudos sent there is stuck for ever.
- **An address with code** (a contract) is refused unless the award says ``"recipient_is_contract": true``:
  most contracts can neither show nor move an ERC-721, and a soulbound kudos sent to one is lost. An account
  whose code is an EIP-7702 delegation (``0xef0100`` and an address) is a person's wallet, and is taken.

Code is read with one ``eth_getCode`` batch per request for the addresses not seen in the last
:data:`CODE_TTL_S` seconds; answers are cached, at most :data:`CACHE_SIZE` of them. When the chain cannot be read
(a real node that is down), the contract's own address is still refused, and the code check is skipped rather
than refusing every award: accepting while the node is down is what the queue is for.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from kudos_chain import Chain
from kudos_service.errors import InvalidRequestError

__all__ = ["CACHE_SIZE", "CODE_TTL_S", "RecipientCheck", "is_contract_code"]

logger = logging.getLogger(__name__)

#: How long an address's code (or its absence) is trusted.
CODE_TTL_S = 600.0

#: The most addresses whose code is remembered.
CACHE_SIZE = 100_000

_DELEGATION = bytes.fromhex("ef0100")  # EIP-7702: an EOA whose code points at an implementation


def is_contract_code(code: bytes) -> bool:
    """True for the code of a contract; False for none, and for an EIP-7702 delegation (a person's account).

    >>> is_contract_code(b""), is_contract_code(bytes.fromhex("ef0100") + bytes(20))
    (False, False)
    >>> is_contract_code(bytes.fromhex("6000"))
    True
    """
    return bool(code) and not (len(code) == 23 and code.startswith(_DELEGATION))


class RecipientCheck:
    """Refuses the recipients described in the module's docstring. Thread-safe.

    :param chain: the chain to read code from, or None while it cannot be reached.
    :param describe: an error met on the chain as text fit for logs (no secrets of the node's URL).
    """

    def __init__(
        self,
        chain: Callable[[], Chain | None],
        *,
        describe: Callable[[BaseException], str] = repr,
        ttl: float = CODE_TTL_S,
        size: int = CACHE_SIZE,
    ) -> None:
        self.chain = chain
        self.describe = describe
        self.ttl = ttl
        self.size = size
        self._has_code: OrderedDict[str, tuple[float, bool]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, recipients: Sequence[tuple[str, bool]], *, contract_address: str | None) -> None:
        """Refuse the awards whose recipient cannot use a kudos.

        :param recipients: each award's recipient (a checksummed address, or ``@handle``, which is not checked
            here) and whether the award says it means a contract.
        :param contract_address: the KudosToken's address, when known.
        :raises InvalidRequestError: ``invalid_recipient`` (the KudosToken itself) or ``contract_recipient``, naming
            every refused award by its index.
        """
        addresses = [a for a, _ in recipients if not a.startswith("@")]
        if not addresses:
            return
        has_code = self._codes(addresses)
        token = (contract_address or "").lower()
        problems: list[tuple[int, str, str]] = []
        for index, (address, means_contract) in enumerate(recipients):
            if address.startswith("@"):
                continue
            if address.lower() == token:
                problems.append((index, "invalid_recipient", "the KudosToken contract itself cannot hold a kudos"))
            elif has_code.get(address) and not means_contract:
                problems.append(
                    (
                        index,
                        "contract_recipient",
                        f"{address} is a contract, which may never show or move a kudos; send "
                        '"recipient_is_contract": true if it is meant',
                    )
                )
        if not problems:
            return
        codes = {code for _, code, _ in problems}
        code = codes.pop() if len(codes) == 1 else "invalid_recipient"
        details: list[dict[str, Any]] = [{"index": i, "field": "recipient", "message": m} for i, _, m in problems]
        if len(recipients) == 1:
            details = [{"field": "recipient", "message": problems[0][2]}]
        summary = problems[0][2] if len(problems) == 1 else "some recipients cannot hold a kudos"
        raise InvalidRequestError(code, summary, details)

    def _codes(self, addresses: Sequence[str]) -> dict[str, bool]:
        """Whether each address has code (a delegation does not count), from the cache or the chain; addresses
        the chain could not be asked about are left out."""
        now = time.monotonic()
        known: dict[str, bool] = {}
        with self._lock:
            for address in addresses:
                entry = self._has_code.get(address)
                if entry is not None and now - entry[0] <= self.ttl:
                    known[address] = entry[1]
                    self._has_code.move_to_end(address)
        unknown = sorted({a for a in addresses if a not in known})
        if not unknown:
            return known
        chain = self.chain()
        if chain is None:
            return known
        try:
            codes = chain.codes_many(unknown)
        except Exception as exc:  # the node: down, slow, refusing; the worker finds out and says so in /readyz
            logger.info("recipient code not checked: %s", self.describe(exc))
            return known
        with self._lock:
            for address, code in zip(unknown, codes, strict=True):
                contract = is_contract_code(code)
                known[address] = contract
                self._has_code[address] = (now, contract)
                self._has_code.move_to_end(address)
            while len(self._has_code) > self.size:
                self._has_code.popitem(last=False)
        return known
