"""The KudosToken client: deploy, attach, award, move, revoke and read kudos.

>>> from kudos_chain import Chain, KudosClient, content_hash
>>> chain = Chain.embedded()
>>> issuer = chain.dev_accounts[0]
>>> kudos = KudosClient.deploy(chain, issuer, base_uri="https://kudos.example/v1/tokens/")
>>> meta = {"name": "Team Player", "message": "Thanks!"}
>>> award = kudos.award(chain.dev_accounts[1].address, kind=1, content_hash=content_hash(meta), request_id="r-1")
>>> kudos.kudos(award.token_id).token_uri
'https://kudos.example/v1/tokens/1'
>>> kudos.verify(award.token_id, meta)
True
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_typing import ChecksumAddress
from eth_utils.address import is_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.types import TxParams

from kudos_chain._artifacts import ContractArtifact, load_artifact
from kudos_chain.chain import Chain, Log, Receipt, _checksum, revert_data
from kudos_chain.exceptions import (
    ConfigurationError,
    InvalidBatchError,
    NotAKudosTokenError,
    RevertDecoder,
    TokenNotFoundError,
    TransactionError,
)
from kudos_chain.keys import Signer
from kudos_chain.metadata import KudosMetadata, content_hash
from kudos_chain.transactions import FeePolicy, TransactionManager
from kudos_chain.types import (
    Award,
    AwardEvent,
    AwardResult,
    Kudos,
    RevokeReason,
    TokenId,
    TransferEvent,
    TxResult,
    utc_from_timestamp,
)

__all__ = ["KUDOS_INTERFACE_ID", "KudosClient", "is_valid_address", "recover_calldata", "revoke_calldata"]

logger = logging.getLogger(__name__)

_ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

MINTER_ROLE = keccak(text="MINTER_ROLE")

TRANSFER_TOPIC = keccak(text="Transfer(address,address,uint256)")
KUDOS_AWARDED_TOPIC = keccak(text="KudosAwarded(uint256,bytes32,bytes32)")

#: The largest batch award sent in one transaction: 200 kudos use about 10.5 M gas, within the 16.7 M
#: per-transaction cap of EIP-7825 and the block gas limits of the common networks.
MAX_BATCH_SIZE = 200

# The functions of IKudosToken, whose selectors XOR to its ERC-165 interface id.
_SIGNATURES = {
    "award": ("award(address,uint32,bytes32,bytes32,bool)", "(uint256)"),
    "awardBatch": ("awardBatch(address[],uint32[],bytes32[],bytes32[],bool[])", "(uint256)"),
    "revoke": ("revoke(uint256,uint32)", "()"),
    "burn": ("burn(uint256)", "()"),
    "recover": ("recover(uint256,address)", "()"),
    "setBaseURI": ("setBaseURI(string)", "()"),
    "pause": ("pause()", "()"),
    "unpause": ("unpause()", "()"),
    "kudos": ("kudos(uint256)", "(address,uint32,uint40,bool)"),
    "totalAwarded": ("totalAwarded()", "(uint256)"),
}


def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def _interface_id() -> bytes:
    acc = 0
    for signature, _ in _SIGNATURES.values():
        acc ^= int.from_bytes(_selector(signature), "big")
    return acc.to_bytes(4, "big")


#: ERC-165 id of ``IKudosToken``: :meth:`KudosClient.attach` refuses code that does not support it.
KUDOS_INTERFACE_ID = _interface_id()


def _types(signature: str) -> list[str]:
    inner = signature[signature.index("(") + 1 : -1]
    return [t for t in inner.split(",") if t] if inner else []


def _calldata(signature: str, *args: Any) -> bytes:
    return _selector(signature) + abi_encode(_types(signature), list(args))


def revoke_calldata(token_id: int, reason: int = 0) -> bytes:
    """The calldata of ``revoke(tokenId, reason)``: for a caller that signs and sends it itself (an outbox).

    >>> revoke_calldata(7, 1).hex()[:8] == _selector("revoke(uint256,uint32)").hex()
    True
    """
    return _calldata(_SIGNATURES["revoke"][0], token_id, int(reason))


def recover_calldata(token_id: int, to: str) -> bytes:
    """The calldata of ``recover(tokenId, to)``: move a kudos to a person's new wallet (admin only)."""
    return _calldata(_SIGNATURES["recover"][0], token_id, _address(to, "the new wallet"))


def request_id_bytes(request_id: bytes | str) -> bytes:
    """The 32-byte request id of an award: 32 bytes as they are, anything else hashed with keccak256.

    >>> request_id_bytes("order-17").hex()[:8]
    '4111470c'
    """
    if isinstance(request_id, bytes) and len(request_id) == 32:
        return request_id
    if isinstance(request_id, bytes):
        return keccak(request_id)
    return keccak(text=request_id)


_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def is_valid_address(value: str) -> bool:
    """True for exactly ``0x`` and 40 hex digits: all lower-case, all upper-case, or mixed-case with a valid EIP-55
    checksum. Nothing else: no missing or upper-case ``0X`` prefix, no surrounding spaces (eth-utils 6's
    ``is_address`` accepts those, and no longer checks the checksum of a mixed-case address).

    >>> is_valid_address("0x52908400098527886E0F7030069857D2E4169EE7")
    True
    >>> is_valid_address("0x52908400098527886e0F7030069857D2E4169EE7")  # one letter's case changed
    False
    >>> is_valid_address("52908400098527886E0F7030069857D2E4169EE7")  # no 0x
    False
    """
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        return False
    digits = value[2:]
    return digits in (digits.lower(), digits.upper()) or is_checksum_address(value)


def _address(value: str, what: str) -> ChecksumAddress:
    if not is_valid_address(value):
        raise ConfigurationError(f"{what} is not an Ethereum address: {value!r}")
    return Web3.to_checksum_address(value)


class KudosClient:
    """A KudosToken contract on a chain, and the signer that acts on it.

    Build one with :meth:`deploy` or :meth:`attach`. Writes need a signer; reads do not.

    :param chain: the chain the contract is on.
    :param address: the contract's address.
    :param signer: the key that awards, revokes and administers (None for a read-only client).
    :param fees: the fee policy of every transaction.
    :param from_block: the block the contract was deployed in, where log scans start.
    """

    def __init__(
        self,
        chain: Chain,
        address: str,
        *,
        signer: Signer | None = None,
        fees: FeePolicy | None = None,
        from_block: int = 0,
        artifact: ContractArtifact | None = None,
    ) -> None:
        self.chain = chain
        self.address = _address(address, "the contract address")
        self.signer = signer
        self.fees = fees or FeePolicy()
        self.from_block = from_block
        self.artifact = artifact or load_artifact()
        self.decoder = RevertDecoder(self.artifact.abi)
        self._managers: dict[str, TransactionManager] = {}

    def __repr__(self) -> str:
        return f"KudosClient({self.address}, chain={self.chain!r}, signer={self.signer!r})"

    # ------------------------------------------------------------------------------------------------------
    # Deploy and attach
    # ------------------------------------------------------------------------------------------------------

    @classmethod
    def deploy(
        cls,
        chain: Chain,
        signer: Signer,
        *,
        name: str = "Kudos",
        symbol: str = "KUDOS",
        base_uri: str = "",
        admin: str | None = None,
        fees: FeePolicy | None = None,
    ) -> KudosClient:
        """Deploy a new KudosToken; ``admin`` (by default the signer) holds every role.

        :returns: a client on the new contract, acting with ``signer``.
        """
        artifact = load_artifact()
        admin_address = _address(admin or signer.address, "the admin")
        args = abi_encode(["string", "string", "string", "address"], [name, symbol, base_uri, admin_address])
        manager = TransactionManager(chain, signer, fees=fees, decoder=RevertDecoder(artifact.abi))
        data = bytes.fromhex(artifact.bytecode[2:]) + args
        signed = manager.sign_many([{"data": data, "to": None}])  # type: ignore[typeddict-item]
        receipt = manager.wait_many(manager.broadcast_many(signed))[0]
        tx = chain.w3.eth.get_transaction_receipt(receipt.tx_hash)
        address = tx["contractAddress"]
        if address is None:
            raise TransactionError(f"deployment {receipt.tx_hash} created no contract")
        client = cls(chain, address, signer=signer, fees=fees, from_block=receipt.block_number, artifact=artifact)
        client._managers[signer.address] = manager
        logger.info("deployed KudosToken at %s in block %d", address, receipt.block_number)
        return client

    @classmethod
    def attach(
        cls,
        chain: Chain,
        address: str,
        *,
        signer: Signer | None = None,
        fees: FeePolicy | None = None,
        from_block: int = 0,
    ) -> KudosClient:
        """A client on an existing KudosToken, checked through ERC-165 first.

        :raises NotAKudosTokenError: when the address holds no code, or code that is not a KudosToken.
        """
        checked = _address(address, "the contract address")
        if not chain.w3.eth.get_code(checked):
            raise NotAKudosTokenError(checked, "there is no contract code at this address")
        # ERC-165 detection: the interface must be supported, and the invalid id 0xffffffff must not be, so
        # that code answering true to every call is not mistaken for a KudosToken.
        queries = [_calldata("supportsInterface(bytes4)", i) for i in (KUDOS_INTERFACE_ID, b"\xff\xff\xff\xff")]
        supported, invalid = (_as_bool(a) for a in chain.call_many([(checked, q) for q in queries]))
        if supported is not True or invalid is not False:
            raise NotAKudosTokenError(checked, "it does not support the IKudosToken interface")
        return cls(chain, checked, signer=signer, fees=fees, from_block=from_block)

    # ------------------------------------------------------------------------------------------------------
    # Transactions
    # ------------------------------------------------------------------------------------------------------

    def manager(self, signer: Signer | None = None) -> TransactionManager:
        """The transaction manager (and so the nonce sequence) of ``signer``, by default the client's."""
        signer = signer or self.signer
        if signer is None:
            raise ConfigurationError("this client has no signer: pass one to deploy(), attach() or the call")
        manager = self._managers.get(signer.address)
        if manager is None:
            manager = TransactionManager(self.chain, signer, fees=self.fees, decoder=self.decoder)
            self._managers[signer.address] = manager
        return manager

    def _call(self, data: bytes) -> TxParams:
        return {"to": self.address, "data": data}

    def _transact(self, data: bytes, signer: Signer | None = None) -> TxResult:
        receipt = self.manager(signer).transact(self._call(data))
        return TxResult(receipt.tx_hash, receipt.block_number, receipt.gas_used)

    def award_calldata(self, award: Award) -> bytes:
        """The calldata of :meth:`award` for one kudos."""
        return _calldata(
            _SIGNATURES["award"][0],
            _address(award.recipient, "the recipient"),
            award.kind,
            _hash32(award.content_hash),
            request_id_bytes(award.request_id),
            award.transferable,
        )

    def award_batch_calldata(self, awards: Sequence[Award]) -> bytes:
        """The calldata of one ``awardBatch`` transaction for ``awards``."""
        return _calldata(
            _SIGNATURES["awardBatch"][0],
            [_address(a.recipient, "the recipient") for a in awards],
            [a.kind for a in awards],
            [_hash32(a.content_hash) for a in awards],
            [request_id_bytes(a.request_id) for a in awards],
            [a.transferable for a in awards],
        )

    def award(
        self,
        recipient: str,
        kind: int,
        *,
        content_hash: bytes,
        request_id: bytes | str,
        transferable: bool = False,
    ) -> AwardResult:
        """Award one kudos and wait until it is mined.

        :param recipient: the wallet that receives it.
        :param kind: the kudos type.
        :param content_hash: keccak256 of the canonical metadata (:func:`kudos_chain.content_hash`).
        :param request_id: the caller's idempotency key (32 bytes, or a string that is hashed).
        :param transferable: False (the default) for a soulbound kudos.
        :raises MissingRoleError: when the signer is not a minter.
        :raises ContractPausedError: when the contract is paused.
        """
        award = Award(recipient, kind, content_hash, request_id, transferable)
        return self.award_many([award])[0]

    def award_many(self, awards: Sequence[Award], *, timeout: float | None = None) -> list[AwardResult]:
        """Award each kudos in its own transaction, pipelined: all are signed and sent, then awaited."""
        if not awards:
            return []
        receipts = self.manager().transact_many([self._call(self.award_calldata(a)) for a in awards], timeout=timeout)
        return [r for receipt in receipts for r in self.awards_in(receipt)]

    def award_batch(
        self, awards: Sequence[Award], *, batch_size: int = MAX_BATCH_SIZE, timeout: float | None = None
    ) -> list[AwardResult]:
        """Award many kudos in batch transactions of at most ``batch_size`` each, pipelined.

        :raises InvalidBatchError: for an empty list.
        """
        if not awards:
            raise InvalidBatchError("KudosEmptyBatch", {})
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ConfigurationError(f"batch_size must be between 1 and {MAX_BATCH_SIZE}, not {batch_size}")
        chunks = [awards[i : i + batch_size] for i in range(0, len(awards), batch_size)]
        calls = [self._call(self.award_batch_calldata(chunk)) for chunk in chunks]
        receipts = self.manager().transact_many(calls, timeout=timeout)
        return [r for receipt in receipts for r in self.awards_in(receipt)]

    # ------------------------------------------------------------------------------------------------------
    # Events
    # ------------------------------------------------------------------------------------------------------

    def award_event(self, log: Log) -> AwardEvent | None:
        """The ``KudosAwarded`` event ``log`` carries, or None for any other log (of another contract too)."""
        if log.address != self.address or len(log.topics) != 3 or log.topics[0] != KUDOS_AWARDED_TOPIC:
            return None
        return AwardEvent(
            token_id=TokenId(int.from_bytes(log.topics[1], "big")),
            request_id=log.topics[2],
            content_hash=log.data[:32],
            tx_hash=log.tx_hash,
            block_number=log.block_number,
            log_index=log.log_index,
        )

    def transfer_event(self, log: Log) -> TransferEvent | None:
        """The ERC-721 ``Transfer`` event ``log`` carries (a mint is from the zero address, a burn to it), or None
        for any other log."""
        if log.address != self.address or len(log.topics) != 4 or log.topics[0] != TRANSFER_TOPIC:
            return None
        return TransferEvent(
            token_id=TokenId(int.from_bytes(log.topics[3], "big")),
            sender=_topic_address(log.topics[1]),
            to=_topic_address(log.topics[2]),
            tx_hash=log.tx_hash,
            block_number=log.block_number,
            log_index=log.log_index,
        )

    def award_events_in(self, receipt: Receipt) -> list[AwardEvent]:
        """The awards a mined transaction made, in order."""
        return [e for e in map(self.award_event, receipt.logs) if e is not None]

    def awards_by_request_id(
        self, request_ids: Sequence[bytes | str], *, from_block: int | None = None, to_block: int | None = None
    ) -> dict[bytes, AwardEvent]:
        """The award event of each request id that was awarded, by request id, in one batch of ``eth_getLogs``
        (the request id is an indexed topic): how a caller finds out which of its awards a chain holds.

        :param from_block: the oldest block to search (by default, the contract's deployment block).
        :param to_block: the newest block to search (by default, the chain's head).
        """
        ids = [request_id_bytes(r) for r in request_ids]
        topic_sets = [[KUDOS_AWARDED_TOPIC, None, ids[i : i + 100]] for i in range(0, len(ids), 100)]
        if not topic_sets:
            return {}
        start = self.from_block if from_block is None else max(from_block, self.from_block)
        logs = self.chain.get_logs(address=self.address, topic_sets=topic_sets, from_block=start, to_block=to_block)
        return {e.request_id: e for e in map(self.award_event, logs) if e is not None}

    def awards_in(self, receipt: Receipt) -> list[AwardResult]:
        """The kudos a mined transaction awarded, with their recipients."""
        owners: dict[int, ChecksumAddress] = {}
        results = []
        for log in receipt.logs:
            if (transfer := self.transfer_event(log)) is not None:
                owners[transfer.token_id] = transfer.to
            elif (event := self.award_event(log)) is not None:
                results.append(
                    AwardResult(
                        token_id=event.token_id,
                        request_id=event.request_id,
                        recipient=owners[event.token_id],
                        tx_hash=receipt.tx_hash,
                        block_number=receipt.block_number,
                    )
                )
        return results

    def transfer(self, token_id: int, to: str, *, owner: Signer) -> TxResult:
        """Move a transferable kudos, signed by its owner's key.

        :raises SoulboundError: when the kudos is soulbound.
        """
        to_address = _address(to, "the recipient")
        return self._transact(
            _calldata("transferFrom(address,address,uint256)", owner.address, to_address, token_id), owner
        )

    def revoke(self, token_id: int, reason: int = RevokeReason.UNSPECIFIED) -> TxResult:
        """Burn a kudos as its issuer, with a reason code (admin only; works while paused)."""
        return self._transact(_calldata(_SIGNATURES["revoke"][0], token_id, int(reason)))

    def burn(self, token_id: int, *, owner: Signer) -> TxResult:
        """Burn a kudos as its owner."""
        return self._transact(_calldata(_SIGNATURES["burn"][0], token_id), owner)

    def recover(self, token_id: int, to: str) -> TxResult:
        """Move a kudos, soulbound too, to a new wallet (admin only)."""
        return self._transact(_calldata(_SIGNATURES["recover"][0], token_id, _address(to, "the new wallet")))

    def set_base_uri(self, base_uri: str) -> TxResult:
        """Change the base of every token URI (admin only)."""
        return self._transact(_calldata(_SIGNATURES["setBaseURI"][0], base_uri))

    def pause(self) -> TxResult:
        """Pause awards, transfers and recoveries (pauser only)."""
        return self._transact(_calldata(_SIGNATURES["pause"][0]))

    def unpause(self) -> TxResult:
        """Lift a pause (pauser only)."""
        return self._transact(_calldata(_SIGNATURES["unpause"][0]))

    def grant_minter(self, account: str) -> TxResult:
        """Let ``account`` award kudos (admin only)."""
        return self._transact(_calldata("grantRole(bytes32,address)", MINTER_ROLE, _address(account, "the account")))

    def revoke_minter(self, account: str) -> TxResult:
        """Stop ``account`` from awarding kudos (admin only)."""
        return self._transact(_calldata("revokeRole(bytes32,address)", MINTER_ROLE, _address(account, "the account")))

    # ------------------------------------------------------------------------------------------------------
    # Reads
    # ------------------------------------------------------------------------------------------------------

    def _read(self, signature: str, output: list[str], *args: Any) -> tuple[Any, ...]:
        (answer,) = self.chain.call_many([(self.address, _calldata(signature, *args))])
        if isinstance(answer, Exception):
            raise self.decode_error(answer) from None
        return tuple(abi_decode(output, answer))

    def decode_error(self, exc: Exception) -> Exception:
        """The typed exception of a refused call or estimate (:class:`ContractRevertError` and its kin)."""
        decoded = self.decoder.decode(revert_data(exc))
        return decoded if decoded is not None else TransactionError(f"the call failed: {exc}")

    def is_minter(self, account: str) -> bool:
        """True when ``account`` may award kudos."""
        (ok,) = self._read("hasRole(bytes32,address)", ["bool"], MINTER_ROLE, _address(account, "the account"))
        return bool(ok)

    def paused(self) -> bool:
        """True while the contract is paused."""
        (ok,) = self._read("paused()", ["bool"])
        return bool(ok)

    def total_awarded(self) -> int:
        """How many kudos were ever awarded (the id of the newest)."""
        (count,) = self._read("totalAwarded()", ["uint256"])
        return int(count)

    def balance_of(self, owner: str) -> int:
        """How many kudos ``owner`` holds."""
        (count,) = self._read("balanceOf(address)", ["uint256"], _address(owner, "the owner"))
        return int(count)

    def kudos(self, token_id: int) -> Kudos:
        """Everything about one kudos: owner, kind, issue time, transferability, hashes and URI.

        :raises TokenNotFoundError: when no kudos has this id (never awarded, revoked or burnt).
        """
        found = self.kudos_many([token_id])
        if found[0] is None:
            raise TokenNotFoundError("ERC721NonexistentToken", {"tokenId": token_id})
        return found[0]

    def kudos_many(self, token_ids: Sequence[int], *, to_block: int | None = None) -> list[Kudos | None]:
        """:meth:`kudos` for many ids in a few round trips; None for an id that does not exist.

        :param to_block: the newest block whose award events are read (by default, the chain's head).
        """
        ids = list(token_ids)
        if not ids:
            return []
        calls = [(self.address, _calldata(_SIGNATURES["kudos"][0], i)) for i in ids]
        calls += [(self.address, _calldata("tokenURI(uint256)", i)) for i in ids]
        answers = self.chain.call_many(calls)
        events = self.award_events(ids, to_block=to_block)
        out: list[Kudos | None] = []
        stored = self._decode_kudos(answers[: len(ids)])
        for token_id, data, uri in zip(ids, stored, answers[len(ids) :], strict=True):
            if data is None:
                out.append(None)
                continue
            owner, kind, issued_at, transferable = data
            event = events.get(token_id)
            out.append(
                Kudos(
                    token_id=TokenId(token_id),
                    owner=owner,
                    kind=kind,
                    issued_at=utc_from_timestamp(issued_at),
                    transferable=transferable,
                    content_hash=event.content_hash if event else b"",
                    request_id=event.request_id if event else b"",
                    token_uri="" if isinstance(uri, Exception) else str(abi_decode(["string"], uri)[0]),
                )
            )
        return out

    def kudos_data_many(self, token_ids: Sequence[int]) -> list[tuple[int, int, bool] | None]:
        """``(kind, issued_at, transferable)`` of each id from storage, in one batch; None for a missing id."""
        calls = [(self.address, _calldata(_SIGNATURES["kudos"][0], i)) for i in token_ids]
        return [None if d is None else d[1:] for d in self._decode_kudos(self.chain.call_many(calls))]

    def _decode_kudos(
        self, answers: Sequence[bytes | Exception]
    ) -> list[tuple[ChecksumAddress, int, int, bool] | None]:
        """Decode answers of ``kudos(id)``: ``(owner, kind, issued_at, transferable)``, None for a missing id."""
        out: list[tuple[ChecksumAddress, int, int, bool] | None] = []
        for answer in answers:
            if isinstance(answer, Exception):
                error = self.decode_error(answer)
                if isinstance(error, TokenNotFoundError):
                    out.append(None)
                    continue
                raise error from None
            owner, kind, issued_at, transferable = abi_decode(["address", "uint32", "uint40", "bool"], answer)
            out.append((_checksum(owner), int(kind), int(issued_at), bool(transferable)))
        return out

    def award_events(
        self, token_ids: Sequence[int], *, from_block: int | None = None, to_block: int | None = None
    ) -> dict[int, AwardEvent]:
        """The ``KudosAwarded`` event of each id, found in one batch of ``eth_getLogs`` requests.

        :param from_block: the oldest block to search (by default, the contract's deployment block). A caller that
            knows the block an award was mined in passes it as both bounds: one request of one block, however
            long the chain.
        :param to_block: the newest block to search (by default, the chain's head).
        """
        topics = [int(i).to_bytes(32, "big") for i in token_ids]
        topic_sets = [[KUDOS_AWARDED_TOPIC, topics[i : i + 100]] for i in range(0, len(topics), 100)]
        start = self.from_block if from_block is None else max(from_block, self.from_block)
        logs = self.chain.get_logs(address=self.address, topic_sets=topic_sets, from_block=start, to_block=to_block)
        return {e.token_id: e for e in map(self.award_event, logs) if e is not None}

    def wallet(self, owner: str) -> list[Kudos]:
        """Every kudos ``owner`` holds, newest first.

        Reads the chain's head once, then the ``Transfer`` events to the owner up to it, then every candidate's
        data and award event in batches: a wallet that received up to 1,000 kudos takes five round trips over
        HTTP (the head, the transfers, two batches of calls, the award events).
        """
        owner_address = _address(owner, "the owner")
        owner_topic = bytes(12) + bytes.fromhex(owner_address[2:])
        head = self.chain.block_number()
        logs = self.chain.get_logs(
            address=self.address,
            topic_sets=[[TRANSFER_TOPIC, None, owner_topic]],
            from_block=self.from_block,
            to_block=head,
        )
        candidates = sorted({t.token_id for t in map(self.transfer_event, logs) if t is not None}, reverse=True)
        return [k for k in self.kudos_many(candidates, to_block=head) if k is not None and k.owner == owner_address]

    def verify(self, token_id: int, metadata: Mapping[str, Any] | KudosMetadata) -> bool:
        """True only when ``metadata`` hashes to the content hash awarded on chain for ``token_id``."""
        event = self.award_events([token_id]).get(token_id)
        return event is not None and event.content_hash == content_hash(metadata)


def _as_bool(answer: bytes | Exception) -> bool | None:
    """The ABI ``bool`` an ``eth_call`` returned, or None for a failure or any other answer."""
    if isinstance(answer, Exception) or len(answer) != 32 or int.from_bytes(answer, "big") > 1:
        return None
    return answer[-1] == 1


def _hash32(value: bytes) -> bytes:
    if not isinstance(value, bytes) or len(value) != 32:
        raise ConfigurationError("a content hash is 32 bytes (keccak256 of the canonical metadata)")
    return value


def _topic_address(topic: bytes) -> ChecksumAddress:
    return _checksum("0x" + topic[-20:].hex())
