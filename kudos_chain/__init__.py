"""kudos-chain: recognition as non-fungible tokens on any EVM chain.

The entry point is :class:`KudosClient`, on a :class:`Chain`, acting with a :class:`Signer`::

    from kudos_chain import Chain, KudosClient, content_hash

    chain = Chain.embedded()                       # or Chain.connect("http://127.0.0.1:8545", chain_id=31337)
    kudos = KudosClient.deploy(chain, chain.dev_accounts[0], base_uri="https://kudos.example/v1/tokens/")
"""

from kudos_chain._artifacts import ContractArtifact, load_artifact
from kudos_chain.chain import Chain
from kudos_chain.client import KUDOS_INTERFACE_ID, KudosClient
from kudos_chain.exceptions import (
    ChainError,
    ChainIdMismatchError,
    ConfigurationError,
    ContractNotPausedError,
    ContractPausedError,
    ContractRevertError,
    FeeCapExceededError,
    InvalidAdminError,
    InvalidBatchError,
    InvalidRecipientError,
    KeystoreError,
    KudosError,
    MetadataError,
    MissingRoleError,
    NodeUnreachableError,
    NotAKudosTokenError,
    NotTokenOwnerError,
    SoulboundError,
    TokenNotFoundError,
    TransactionError,
    TransactionFailedError,
    TransactionTimeoutError,
)
from kudos_chain.keys import Signer
from kudos_chain.metadata import KudosMetadata, canonical_json, content_hash
from kudos_chain.transactions import FeePolicy, Fees, SendOutcome, SignedTx, TransactionManager
from kudos_chain.types import Award, AwardEvent, AwardResult, Kudos, RevokeReason, TokenId, TransferEvent, TxResult

__all__ = [
    "KUDOS_INTERFACE_ID",
    "Award",
    "AwardEvent",
    "AwardResult",
    "Chain",
    "ChainError",
    "ChainIdMismatchError",
    "ConfigurationError",
    "ContractArtifact",
    "ContractNotPausedError",
    "ContractPausedError",
    "ContractRevertError",
    "FeeCapExceededError",
    "FeePolicy",
    "Fees",
    "InvalidAdminError",
    "InvalidBatchError",
    "InvalidRecipientError",
    "KeystoreError",
    "Kudos",
    "KudosClient",
    "KudosError",
    "KudosMetadata",
    "MetadataError",
    "MissingRoleError",
    "NodeUnreachableError",
    "NotAKudosTokenError",
    "NotTokenOwnerError",
    "RevokeReason",
    "SendOutcome",
    "SignedTx",
    "Signer",
    "SoulboundError",
    "TokenId",
    "TokenNotFoundError",
    "TransactionError",
    "TransactionFailedError",
    "TransactionManager",
    "TransactionTimeoutError",
    "TransferEvent",
    "TxResult",
    "canonical_json",
    "content_hash",
    "load_artifact",
]
