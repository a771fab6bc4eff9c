"""``kudos deploy`` and ``kudos roles`` against a real anvil node.

The commands run in process (Typer's CliRunner) with only the ``KUDOS_*`` variables a test gives; one runs as a
real process. Every signer is a fresh key funded with ``anvil_setBalance``, so that nothing here takes a nonce
of the dev accounts other tests of the session use. A failure must be one line on stderr, never a traceback, and
no password, whether right or wrong, and no secret of the RPC URL may ever be printed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from kudos_service.cli import app
from kudos_service.core.config import Settings
from typer.testing import CliRunner, Result

from kudos_chain import Chain, KudosClient, MissingRoleError, Signer, content_hash
from tests.utils.anvil import AnvilNode, free_port
from tests.utils.service import kudos_command

PASSWORD = "correct horse battery staple 7e1f"
WRONG_PASSWORD = "incorrect pony 90c2"
BASE_URI = "https://kudos.acme.example/v1/tokens/"
THANKS = content_hash({"name": "Thanks"})


@dataclass(frozen=True)
class Key:
    """A fresh funded key, its keystore and the file holding the keystore's password."""

    signer: Signer
    keystore: Path
    password_file: Path

    @property
    def address(self) -> str:
        return self.signer.address


def new_key(node: AnvilNode, directory: Path) -> Key:
    signer = Signer.create()
    node.rpc("anvil_setBalance", [signer.address, hex(10**20)])
    keystore = signer.to_keystore(directory / f"{signer.address}.json", PASSWORD, kdf="pbkdf2", iterations=2)
    password_file = directory / f"{signer.address}.password"
    password_file.write_text(PASSWORD + "\n", "utf-8")
    return Key(signer, keystore, password_file)


def kudos(*args: str, env: Mapping[str, str | None] | None = None) -> Result:
    """``kudos <args>`` with no ``KUDOS_*`` variable but those of ``env``."""
    environment: dict[str, str | None] = {k: None for k in os.environ if k.startswith("KUDOS_")}
    environment |= {"COLUMNS": "200", "TTY_COMPATIBLE": None, "FORCE_COLOR": None}
    environment |= dict(env or {})
    return CliRunner().invoke(app, list(args), env=environment)


def signing_env(node: AnvilNode, key: Key, contract: str | None = None) -> dict[str, str]:
    """The settings of a ``kudos roles`` command signed with ``key``, as the service reads them."""
    env = {
        "KUDOS_RPC_URL": node.url,
        "KUDOS_CHAIN_ID": str(node.chain_id),
        "KUDOS_SIGNER_KEYSTORE": str(key.keystore),
        "KUDOS_SIGNER_PASSWORD_FILE": str(key.password_file),
    }
    if contract is not None:
        env["KUDOS_CONTRACT_ADDRESS"] = contract
    return env


def assert_one_line_failure(result: Result, *fragments: str, exit_code: int = 1) -> str:
    """``exit_code``, one line on stderr containing ``fragments``, no traceback and no password."""
    assert result.exit_code == exit_code, (result.exit_code, result.stdout, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert len(result.stderr.splitlines()) == 1, result.stderr
    line = result.stderr.strip()
    assert line.startswith("error: "), line
    assert "Traceback" not in result.stdout + result.stderr
    assert_no_secret(result)
    for fragment in fragments:
        assert fragment in line, line
    return line


def assert_no_secret(result: Result) -> None:
    for secret in (PASSWORD, WRONG_PASSWORD, "apikey-zz9", "SECRET-KEY-7"):
        assert secret not in result.stdout + result.stderr


def settings_of(stdout: str) -> dict[str, str]:
    """The ``KUDOS_*=value`` lines of ``kudos deploy``."""
    pairs = (line.partition("=") for line in stdout.splitlines() if line.startswith("KUDOS_"))
    return {key: value for key, _, value in pairs}


def labels_of(stdout: str) -> dict[str, str]:
    """The ``label: value`` lines of a command."""
    pairs = (line.partition(":") for line in stdout.splitlines() if line and not line.startswith(("#", "KUDOS_")))
    return {key.strip(): value.strip() for key, sep, value in pairs if sep}


@pytest.fixture(scope="module")
def node(anvil: AnvilNode) -> AnvilNode:
    return anvil


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="module")
def admin(node: AnvilNode, keys_dir: Path) -> Key:
    return new_key(node, keys_dir)


@pytest.fixture(scope="module")
def deployed(node: AnvilNode, admin: Key) -> Result:
    """``kudos deploy`` by ``admin``, its password in a file, once for the module."""
    return kudos(
        "deploy",
        "--rpc-url",
        node.url,
        "--keystore",
        str(admin.keystore),
        "--password-file",
        str(admin.password_file),
        "--base-uri",
        BASE_URI,
        "--chain-id",
        str(node.chain_id),
        "--max-fee-per-gas",
        str(100 * 10**9),
    )


@pytest.fixture(scope="module")
def contract(deployed: Result) -> str:
    assert deployed.exit_code == 0, deployed.stderr
    return settings_of(deployed.stdout)["KUDOS_CONTRACT_ADDRESS"]


def test_deploy_prints_settings_that_serve_the_contract(
    node: AnvilNode, admin: Key, deployed: Result, monkeypatch: pytest.MonkeyPatch
):
    assert deployed.exit_code == 0, deployed.stderr
    assert deployed.stderr == ""
    assert_no_secret(deployed)
    shown = labels_of(deployed.stdout)
    settings = settings_of(deployed.stdout)
    assert set(settings) == {
        "KUDOS_RPC_URL",
        "KUDOS_CHAIN_ID",
        "KUDOS_CONTRACT_ADDRESS",
        "KUDOS_CONTRACT_FROM_BLOCK",
        "KUDOS_SIGNER_KEYSTORE",
        "KUDOS_SIGNER_PASSWORD_FILE",
        "KUDOS_PUBLIC_URL",
    }
    assert shown["contract"] == settings["KUDOS_CONTRACT_ADDRESS"]
    assert shown["block"] == settings["KUDOS_CONTRACT_FROM_BLOCK"]
    assert shown["chain id"] == settings["KUDOS_CHAIN_ID"] == str(node.chain_id)
    assert shown["admin"] == admin.address
    assert settings["KUDOS_RPC_URL"] == node.url
    assert settings["KUDOS_SIGNER_KEYSTORE"] == str(admin.keystore.resolve())
    assert settings["KUDOS_SIGNER_PASSWORD_FILE"] == str(admin.password_file.resolve())
    assert settings["KUDOS_PUBLIC_URL"] == "https://kudos.acme.example"
    last = deployed.stdout.strip().splitlines()[-1]
    assert "grant-minter" in last
    assert "offline" in last

    # The service accepts the settings as they are, and its signer is the admin, which may award.
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    served = Settings()
    assert served.signer_keystore is not None
    assert Signer.from_keystore(served.signer_keystore, served.signer_password_value()).address == admin.address
    assert f"{served.base_url}/v1/tokens/" == BASE_URI

    # They name a KudosToken, deployed in that very block, with the base URI given, whose admin holds every role.
    assert served.rpc_url is not None
    chain = Chain.connect(served.rpc_url.get_secret_value(), chain_id=served.chain_id)
    block = served.contract_from_block
    assert served.contract_address is not None
    address = chain.w3.to_checksum_address(served.contract_address)
    assert chain.w3.eth.get_code(address, block - 1) == b""
    assert chain.w3.eth.get_code(address, block) != b""
    client = KudosClient.attach(chain, served.contract_address, signer=admin.signer, from_block=block)
    awarded = client.award(Signer.create().address, request_id="deploy-test", kind=1, content_hash=THANKS)
    assert client.kudos(awarded.token_id).token_uri == f"{BASE_URI}{awarded.token_id}"
    roles = kudos("roles", "show", admin.address, env=signing_env(node, admin, served.contract_address))
    assert roles.exit_code == 0, roles.stderr
    assert {k: labels_of(roles.stdout)[k] for k in ("minter", "pauser", "admin")} == dict.fromkeys(
        ("minter", "pauser", "admin"), "yes"
    )


def test_deploy_json_for_another_admin_and_a_url_with_credentials(node: AnvilNode, keys_dir: Path, admin: Key):
    """``--json`` is one object; the password comes from KUDOS_SIGNER_PASSWORD; the RPC URL's credentials are cut
    out; with ``--admin``, the deploying key holds no role, so its keystore is not offered to the service."""
    deployer = new_key(node, keys_dir)
    rpc_url = node.url.replace("http://", "http://apikey-zz9:pw@")
    result = kudos(
        "deploy",
        "--json",
        "--base-uri",
        "https://kudos.acme.example/kudos/v1/tokens/",
        "--admin",
        admin.address,
        "--name",
        "Acme Kudos",
        "--symbol",
        "ACK",
        env={
            "KUDOS_RPC_URL": rpc_url,
            "KUDOS_SIGNER_KEYSTORE": str(deployer.keystore),
            "KUDOS_SIGNER_PASSWORD": PASSWORD,
        },
    )

    assert result.exit_code == 0, result.stderr
    assert_no_secret(result)
    out = json.loads(result.stdout)
    assert out["chain_id"] == node.chain_id
    assert out["admin"] == admin.address
    assert out["deployer"] == deployer.address
    assert (out["name"], out["symbol"]) == ("Acme Kudos", "ACK")
    assert out["rpc_url_redacted"] is True
    assert out["env"] == {
        "KUDOS_RPC_URL": f"http://127.0.0.1:{node.port}/…",
        "KUDOS_CHAIN_ID": str(node.chain_id),
        "KUDOS_CONTRACT_ADDRESS": out["contract_address"],
        "KUDOS_CONTRACT_FROM_BLOCK": str(out["block"]),
        "KUDOS_PUBLIC_URL": "https://kudos.acme.example/kudos",
    }
    client = KudosClient.attach(Chain.connect(node.url), out["contract_address"])
    assert client.is_minter(admin.address)
    assert not client.is_minter(deployer.address)


@pytest.mark.parametrize("how", ["file", "environment"])
def test_a_wrong_password_is_one_line_that_never_shows_it(node: AnvilNode, admin: Key, tmp_path: Path, how: str):
    wrong = tmp_path / "wrong.password"
    wrong.write_text(WRONG_PASSWORD + "\n", "utf-8")
    env = {"KUDOS_RPC_URL": node.url, "KUDOS_SIGNER_KEYSTORE": str(admin.keystore)}
    env |= {"KUDOS_SIGNER_PASSWORD_FILE": str(wrong)} if how == "file" else {"KUDOS_SIGNER_PASSWORD": WRONG_PASSWORD}
    start = node.block_number()

    deploy = kudos("deploy", "--base-uri", BASE_URI, env=env)
    grant = kudos("roles", "grant-minter", Signer.create().address, "--contract", admin.address, env=env)

    for result in (deploy, grant):
        assert_one_line_failure(result, f"cannot use keystore {admin.keystore}", "password does not decrypt")
    assert node.block_number() == start


def test_without_a_password_and_no_terminal_the_command_says_how_to_give_one(node: AnvilNode, admin: Key):
    result = kudos("deploy", "--base-uri", BASE_URI, "--rpc-url", node.url, "--keystore", str(admin.keystore))
    assert_one_line_failure(result, "--password-file", "KUDOS_SIGNER_PASSWORD")


def test_grant_minter_lets_a_key_award_and_revoke_minter_stops_it(
    node: AnvilNode, keys_dir: Path, admin: Key, contract: str
):
    minter = new_key(node, keys_dir)
    env = signing_env(node, admin, contract)
    assert labels_of(kudos("roles", "show", minter.address, env=env).stdout)["minter"] == "no"

    granted = kudos("roles", "grant-minter", minter.address, env=env)
    assert granted.exit_code == 0, granted.stderr
    assert granted.stdout.startswith(f"granted MINTER_ROLE to {minter.address} on contract {contract}")
    assert_no_secret(granted)
    shown = labels_of(kudos("roles", "show", minter.address, env=env).stdout)
    assert (shown["minter"], shown["pauser"], shown["admin"]) == ("yes", "no", "no")

    chain = Chain.connect(node.url, chain_id=node.chain_id)
    service = KudosClient.attach(chain, contract, signer=minter.signer)
    awarded = service.award(Signer.create().address, request_id="by-the-new-minter", kind=1, content_hash=THANKS)
    assert service.kudos(awarded.token_id).kind == 1

    again = kudos("roles", "grant-minter", minter.address, env=env)
    assert again.exit_code == 0, again.stderr
    assert "already a minter" in again.stdout
    assert "nothing sent" in again.stdout

    revoked = kudos("roles", "revoke-minter", minter.address, env=env)
    assert revoked.exit_code == 0, revoked.stderr
    assert revoked.stdout.startswith(f"revoked MINTER_ROLE from {minter.address} on contract {contract}")
    with pytest.raises(MissingRoleError) as refused:
        service.award(Signer.create().address, request_id="after-the-revocation", kind=1, content_hash=THANKS)
    assert refused.value.role == "MINTER_ROLE"
    assert labels_of(kudos("roles", "show", minter.address, env=env).stdout)["minter"] == "no"


def test_a_grant_by_a_key_that_is_not_the_admin_is_one_line_naming_the_role(
    node: AnvilNode, keys_dir: Path, admin: Key, contract: str
):
    outsider = new_key(node, keys_dir)
    env = signing_env(node, outsider, contract)
    start = node.block_number()

    for command in ("grant-minter", "revoke-minter"):  # the admin is a minter: revoking it would change something
        target = outsider.address if command == "grant-minter" else admin.address
        result = kudos("roles", command, target, env=env)
        assert_one_line_failure(result, outsider.address, "does not have the DEFAULT_ADMIN_ROLE")
    assert node.block_number() == start


@pytest.mark.parametrize(
    "args",
    [
        ["deploy", "--base-uri", BASE_URI],
        ["roles", "grant-minter", "0x52908400098527886E0F7030069857D2E4169EE7"],
        ["roles", "show", "0x52908400098527886E0F7030069857D2E4169EE7"],
    ],
    ids=["deploy", "grant-minter", "show"],
)
def test_an_unreachable_node_is_one_line_without_the_url_secret(admin: Key, args: list[str]):
    url = f"http://127.0.0.1:{free_port()}/v3/SECRET-KEY-7"
    env = {
        "KUDOS_RPC_URL": url,
        "KUDOS_SIGNER_KEYSTORE": str(admin.keystore),
        "KUDOS_SIGNER_PASSWORD_FILE": str(admin.password_file),
        "KUDOS_CONTRACT_ADDRESS": admin.address,
    }
    line = assert_one_line_failure(kudos(*args, env=env), "cannot be reached")
    assert f"{url.rsplit('/v3', 1)[0]}/…" in line


def test_the_real_process_fails_in_one_line_too(admin: Key):
    url = f"http://127.0.0.1:{free_port()}/v3/SECRET-KEY-7"
    done = kudos_command(
        "roles",
        "grant-minter",
        admin.address,
        env={
            "KUDOS_RPC_URL": url,
            "KUDOS_SIGNER_KEYSTORE": str(admin.keystore),
            "KUDOS_SIGNER_PASSWORD_FILE": str(admin.password_file),
            "KUDOS_CONTRACT_ADDRESS": admin.address,
        },
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: the node at http://127.0.0.1:")
    assert "SECRET-KEY-7" not in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["roles", "show", "0x123"], "the account '0x123'"),
        (["roles", "grant-minter", "0x52908400098527886e0F7030069857D2E4169EE7"], "the account"),  # bad checksum
        (["roles", "revoke-minter", "52908400098527886E0F7030069857D2E4169EE7"], "the account"),  # no 0x
        (["roles", "show", "0x52908400098527886E0F7030069857D2E4169EE7", "--contract", "kudos"], "--contract 'kudos'"),
        (["deploy", "--base-uri", BASE_URI, "--admin", "0xabc"], "--admin '0xabc'"),
    ],
    ids=["short", "checksum", "no-0x", "contract", "admin"],
)
def test_a_malformed_address_is_one_line(node: AnvilNode, admin: Key, args: list[str], named: str):
    result = kudos(*args, env=signing_env(node, admin, admin.address))
    assert_one_line_failure(result, named, "is not an address")


def test_an_address_without_a_kudos_token_is_one_line(node: AnvilNode, admin: Key):
    for command in ("show", "grant-minter"):
        result = kudos("roles", command, admin.address, env=signing_env(node, admin, admin.address))
        assert_one_line_failure(result, f"{admin.address} is not a KudosToken")


def test_another_chain_id_is_one_line(node: AnvilNode, admin: Key, contract: str):
    env = signing_env(node, admin, contract) | {"KUDOS_CHAIN_ID": "1"}
    result = kudos("roles", "show", admin.address, env=env)
    assert_one_line_failure(result, f"expected chain id 1, but the node is on chain {node.chain_id}")


@pytest.mark.parametrize(
    "base_uri",
    [
        None,
        "ipfs://bafybeigdyrzt/",
        "https://kudos.acme.example/v1/tokens",
        "kudos.acme.example/v1/tokens/",
        "https:///",
    ],
    ids=["missing", "ipfs", "no-slash", "no-scheme", "no-host"],
)
def test_the_base_uri_is_required_and_checked(node: AnvilNode, admin: Key, base_uri: str | None):
    args = ["deploy"] if base_uri is None else ["deploy", "--base-uri", base_uri]
    start = node.block_number()
    result = kudos(*args, env=signing_env(node, admin))
    assert_one_line_failure(result, "--base-uri")
    assert node.block_number() == start


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"KUDOS_RPC_URL": None}, "--rpc-url or set KUDOS_RPC_URL"),
        ({"KUDOS_RPC_URL": "ws://127.0.0.1:8545"}, "http:// or https://"),
        ({"KUDOS_SIGNER_KEYSTORE": None}, "--keystore FILE or set KUDOS_SIGNER_KEYSTORE"),
        ({"KUDOS_CHAIN_ID": "mainnet"}, "--chain-id (KUDOS_CHAIN_ID) must be a positive whole number"),
        ({"KUDOS_MAX_FEE_PER_GAS": "1e9"}, "--max-fee-per-gas (KUDOS_MAX_FEE_PER_GAS)"),
    ],
    ids=["no-url", "ws-url", "no-keystore", "chain-id", "max-fee"],
)
def test_missing_or_bad_settings_are_one_line(node: AnvilNode, admin: Key, env: dict[str, str | None], named: str):
    environment: dict[str, str | None] = {**signing_env(node, admin), **env}
    assert_one_line_failure(kudos("deploy", "--base-uri", BASE_URI, env=environment), named)


@pytest.mark.parametrize(
    "command",
    [["deploy"], ["roles"], ["roles", "grant-minter"], ["roles", "revoke-minter"], ["roles", "show"]],
    ids=" ".join,
)
def test_every_command_has_help_that_names_its_settings_and_never_their_values(command: list[str]):
    secrets = {
        "KUDOS_RPC_URL": "https://eth.example/v3/SECRET-KEY-7",
        "KUDOS_SIGNER_PASSWORD": PASSWORD,
        "KUDOS_SIGNER_PASSWORD_FILE": "/run/secrets/password-file-3c1",
    }
    result = kudos(*command, "--help", env=secrets)
    assert result.exit_code == 0, result.stderr
    assert "Usage:" in result.stdout
    assert_no_secret(result)
    assert "password-file-3c1" not in result.stdout
    if command[-1] in ("deploy", "grant-minter", "revoke-minter"):
        for name in ("--rpc-url", "KUDOS_RPC_URL", "--keystore", "KUDOS_SIGNER_KEYSTORE", "KUDOS_SIGNER_PASSWORD"):
            assert name in result.stdout
