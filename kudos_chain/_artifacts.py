"""The compiled KudosToken, as ``scripts/compile.mjs`` wrote it into ``kudos_chain/artifacts/``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from eth_typing import ABI, HexStr

__all__ = ["ContractArtifact", "load_artifact"]


@dataclass(frozen=True, slots=True)
class ContractArtifact:
    """A compiled contract: its ABI, its bytecode and how it was built."""

    contract_name: str
    abi: ABI
    bytecode: HexStr
    deployed_bytecode: HexStr
    compiler_version: str
    settings: dict[str, Any]
    source_hash: str


@cache
def load_artifact(name: str = "KudosToken") -> ContractArtifact:
    """Load a committed artifact by contract name.

    >>> load_artifact().contract_name
    'KudosToken'
    """
    text = resources.files("kudos_chain").joinpath("artifacts", f"{name}.json").read_text("utf-8")
    raw = json.loads(text)
    return ContractArtifact(
        contract_name=raw["contractName"],
        abi=raw["abi"],
        bytecode=raw["bytecode"],
        deployed_bytecode=raw["deployedBytecode"],
        compiler_version=raw["compiler"]["version"],
        settings=raw["settings"],
        source_hash=raw["sourceHash"],
    )
