"""The committed artifact kudos_chain/artifacts/KudosToken.json: reproducible from the sources, well formed,
and what the chain runs."""

from __future__ import annotations

import hashlib
import json

import pytest
from eth_utils.crypto import keccak

from kudos_chain import load_artifact
from scripts.gas import ROOT, run_compile

from .conftest import require_toolchain

ARTIFACT = ROOT / "kudos_chain" / "artifacts" / "KudosToken.json"
NODE_MODULES = ROOT / "contracts" / "node_modules"


@pytest.fixture(scope="module")
def raw():
    return json.loads(ARTIFACT.read_text("utf-8"))


def test_recompiling_gives_the_committed_artifact_byte_for_byte(tmp_path):
    require_toolchain()
    run_compile(tmp_path, baselines=False)
    fresh = (tmp_path / "KudosToken.json").read_bytes()
    committed = ARTIFACT.read_bytes()
    if fresh != committed:
        fresh_raw, committed_raw = json.loads(fresh), json.loads(committed)
        differing = sorted(
            k for k in fresh_raw.keys() | committed_raw.keys() if fresh_raw.get(k) != committed_raw.get(k)
        )
        pytest.fail(
            f"kudos_chain/artifacts/KudosToken.json is stale (differs in {differing or 'formatting'}): "
            "run `node scripts/compile.mjs` and commit the result"
        )


def test_artifact_fields(raw):
    assert raw["contractName"] == "KudosToken"
    assert raw["sourceName"] == "contracts/KudosToken.sol"
    assert isinstance(raw["abi"], list)
    assert raw["abi"]
    for key in ("bytecode", "deployedBytecode"):
        assert raw[key].startswith("0x")
        assert len(raw[key]) > 2
        bytes.fromhex(raw[key][2:])
    assert raw["compiler"]["name"] == "solc"
    assert raw["compiler"]["version"].startswith("0.8.37+commit.")
    assert raw["settings"] == {
        "evmVersion": "cancun",
        "optimizer": {"enabled": True, "runs": 10000},
        "viaIR": False,
    }


def test_source_hash_is_the_sha256_of_the_source_keccaks(raw):
    """``sourceHash`` is sha256 of the JSON of ``sources`` (path -> keccak256 of the file), as compile.mjs
    writes it with JSON.stringify."""
    assert raw["sourceHash"].startswith("sha256:")
    digest = hashlib.sha256(json.dumps(raw["sources"], separators=(",", ":")).encode()).hexdigest()
    assert raw["sourceHash"] == f"sha256:{digest}"
    assert "contracts/KudosToken.sol" in raw["sources"]


def test_own_sources_are_those_compiled(raw):
    """Without a compiler, this still catches a contract edited without recompiling the artifact."""
    own = {path: digest for path, digest in raw["sources"].items() if path.startswith("contracts/")}
    assert set(own) == {
        "contracts/KudosToken.sol",
        "contracts/interfaces/IERC4906.sol",
        "contracts/interfaces/IERC5192.sol",
        "contracts/interfaces/IKudosToken.sol",
    }
    for path, digest in own.items():
        assert "0x" + keccak((ROOT / path).read_bytes()).hex() == digest, f"{path} changed since the artifact"


def test_library_sources_are_those_compiled(raw):
    libraries = {path: digest for path, digest in raw["sources"].items() if not path.startswith("contracts/")}
    assert libraries
    if not NODE_MODULES.is_dir():
        require_toolchain()
    for path, digest in libraries.items():
        assert "0x" + keccak((NODE_MODULES / path).read_bytes()).hex() == digest, f"{path} is not the pinned one"


def test_method_identifiers_are_the_abis(raw):
    functions = [e for e in raw["abi"] if e["type"] == "function"]
    signatures = {f"{e['name']}({','.join(i['type'] for i in e['inputs'])})" for e in functions}
    assert set(raw["methodIdentifiers"]) == signatures
    for signature, identifier in raw["methodIdentifiers"].items():
        assert keccak(text=signature)[:4].hex() == identifier


def test_load_artifact_reads_the_committed_file(raw):
    artifact = load_artifact()
    assert artifact.contract_name == raw["contractName"]
    assert artifact.abi == raw["abi"]
    assert artifact.bytecode == raw["bytecode"]
    assert artifact.deployed_bytecode == raw["deployedBytecode"]
    assert artifact.compiler_version == raw["compiler"]["version"]
    assert artifact.settings == raw["settings"]
    assert artifact.source_hash == raw["sourceHash"]


def test_deployed_code_is_the_deployed_bytecode(w3, kudos, raw):
    """KudosToken has no immutables, so the runtime code on chain is exactly ``deployedBytecode``."""
    deployed = bytes.fromhex(raw["deployedBytecode"][2:])
    assert bytes(w3.eth.get_code(kudos.address)) == deployed
    assert deployed in bytes.fromhex(raw["bytecode"][2:])
