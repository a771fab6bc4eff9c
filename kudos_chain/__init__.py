"""kudos-chain: recognition as non-fungible tokens on any EVM chain."""

from kudos_chain._artifacts import ContractArtifact, load_artifact

__all__ = ["ContractArtifact", "load_artifact"]
