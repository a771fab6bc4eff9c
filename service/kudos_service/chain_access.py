"""The service's view of the chain: which contract, which signer, and one lock over the signer's nonces."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from eth_utils.crypto import keccak
from sqlalchemy import select

from kudos_chain import Chain, KudosClient, Signer, TransactionManager
from kudos_chain.chain import redact_url
from kudos_chain.exceptions import ConfigurationError
from kudos_chain.transactions import FeePolicy
from kudos_service.core.config import Settings
from kudos_service.core.db import Database
from kudos_service.core.files import private_dir, private_file
from kudos_service.models import Deployment

__all__ = [
    "CHAIN_NAMES",
    "ChainContext",
    "ChainHolder",
    "ChainReplacedError",
    "chain_identity",
    "chain_name",
    "describe_error",
    "identity_problem",
]

logger = logging.getLogger(__name__)

#: Names of well-known chains; the page always shows the numeric id too.
CHAIN_NAMES = {
    1: "Ethereum",
    10: "OP Mainnet",
    8453: "Base",
    42161: "Arbitrum One",
    11155111: "Sepolia",
    84532: "Base Sepolia",
    31337: "Anvil (local)",
    131277322940537: "Embedded chain",
}


def chain_name(chain_id: int) -> str:
    """A chain's name for people: its well-known name, or ``chain <id>``."""
    return CHAIN_NAMES.get(chain_id) or f"chain {chain_id}"


def describe_error(exc: BaseException, settings: Settings) -> str:
    """``Class: message`` of an error met on the chain, fit for logs and ``/readyz``: the path, query and
    credentials of ``KUDOS_RPC_URL``, where providers put their API keys, are cut out (requests and urllib3 quote
    the URL they failed to reach in their messages)."""
    text = f"{exc.__class__.__name__}: {exc}"
    if settings.rpc_url is None:
        return text
    url = settings.rpc_url.get_secret_value()
    parts = urlsplit(url)
    secrets = [url, parts.netloc if parts.username else "", parts.query, parts.password or ""]
    secrets += [parts.path + (f"?{parts.query}" if parts.query else ""), parts.path.strip("/")]
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, redact_url(url) if secret == url else "…")
    return text


class ChainReplacedError(ConfigurationError):
    """The node answers for another chain than the one the service stored (see :func:`identity_problem`)."""


def identity_problem(stored: tuple[bytes, bytes], actual: tuple[bytes, bytes], contract: str) -> str | None:
    """Why the chain ``actual`` (genesis hash, contract code hash) is not the chain ``stored``, or None."""
    if actual[0] != stored[0]:
        return (
            f"the node answers for another chain: its genesis block is 0x{actual[0].hex()[:16]}…, not "
            f"0x{stored[0].hex()[:16]}… as when the service started on it (a development node started again without "
            "its state, or another network); delivery stopped and nothing was written. Deploy the contract again "
            "and run `kudos chain redeliver` to deliver the awards on this chain"
        )
    if actual[1] != stored[1]:
        return (
            f"the node answers for another chain: the contract {contract} has other code than when the service "
            "started (none, or another contract); delivery stopped and nothing was written. Deploy the contract "
            "again and run `kudos chain redeliver` to deliver the awards on this chain"
        )
    return None


def chain_identity(chain: Chain, contract: str) -> tuple[bytes, bytes]:
    """``(genesis hash, keccak256 of the contract's code)`` of the chain the node answers for."""
    (code,) = chain.codes_many([contract])
    return chain.genesis_hash(), keccak(code)


@dataclass
class ChainContext:
    """A connected chain, the KudosToken on it, and the signer that awards."""

    chain: Chain
    client: KudosClient
    signer: Signer
    lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def manager(self) -> TransactionManager:
        """The signer's transaction manager (its nonces)."""
        return self.client.manager()

    @property
    def chain_id(self) -> int:
        """The chain's id."""
        return self.chain.chain_id


def open_chain(settings: Settings, db: Database) -> ChainContext:
    """Connect to the chain the settings name, deploying the contract on an embedded chain's first start.

    :raises NodeUnreachableError: when a real chain's node does not answer.
    :raises ConfigurationError: when the database belongs to another contract or chain.
    """
    fees = FeePolicy(max_fee_per_gas=settings.max_fee_per_gas)
    with db.session() as session:
        deployment = session.scalars(select(Deployment)).first()
        known = (
            None if deployment is None else (deployment.chain_id, deployment.contract_address, deployment.from_block)
        )
        stored = (
            None
            if deployment is None or deployment.genesis_hash is None or deployment.code_hash is None
            else (bytes(deployment.genesis_hash), bytes(deployment.code_hash))
        )
    if settings.embedded:
        private_dir(settings.data_dir)
        private_file(settings.chain_path)  # the library creates it 0600; this tightens one an older version made
        chain = Chain.embedded(path=settings.chain_path)
        signer = chain.dev_accounts[0]
        if known is None:
            client = KudosClient.deploy(
                chain, signer, name="Kudos", symbol="KUDOS", base_uri=f"{settings.base_url}/v1/tokens/", fees=fees
            )
            _remember(db, chain.chain_id, client.address, client.from_block)
            logger.info("deployed KudosToken at %s on the embedded chain", client.address)
        else:
            client = KudosClient.attach(chain, known[1], signer=signer, fees=fees, from_block=known[2])
        return ChainContext(chain, client, signer)

    assert settings.rpc_url is not None
    assert settings.contract_address is not None
    assert settings.signer_keystore is not None
    signer = Signer.from_keystore(settings.signer_keystore, settings.signer_password_value())
    chain = Chain.connect(settings.rpc_url.get_secret_value(), chain_id=settings.chain_id)
    if stored is not None and known is not None:
        problem = identity_problem(stored, chain_identity(chain, known[1]), known[1])
        if problem is not None:
            raise ChainReplacedError(problem)
    client = KudosClient.attach(
        chain, settings.contract_address, signer=signer, fees=fees, from_block=settings.contract_from_block
    )
    if known is None:
        _remember(db, chain.chain_id, client.address, client.from_block)
    elif (known[0], known[1]) != (chain.chain_id, client.address):
        raise ConfigurationError(
            f"the database belongs to contract {known[1]} on chain {known[0]}, "
            f"not {client.address} on chain {chain.chain_id}: use another data directory or database"
        )
    return ChainContext(chain, client, signer)


def _remember(db: Database, chain_id: int, address: str, from_block: int) -> None:
    with db.session() as session:
        session.add(Deployment(id=1, chain_id=chain_id, contract_address=address, from_block=from_block))


class ChainHolder:
    """Opens the chain on first use and again after a failure, so the API runs while the node is down."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self._context: ChainContext | None = None
        self._lock = threading.Lock()
        self.last_error: str | None = None

    def get(self) -> ChainContext:
        """The chain context, connecting if needed (raises what :func:`open_chain` raises)."""
        with self._lock:
            if self._context is None:
                try:
                    self._context = open_chain(self.settings, self.db)
                    self.last_error = None
                except Exception as exc:
                    self.last_error = describe_error(exc, self.settings)
                    raise
            return self._context

    def peek(self) -> ChainContext | None:
        """The chain context if it is open, without connecting."""
        return self._context

    def reset(self, reason: str) -> None:
        """Forget a real chain's connection after a failure; it is opened again on next use."""
        self.last_error = reason
        if not self.settings.embedded:
            with self._lock:
                self._context = None
