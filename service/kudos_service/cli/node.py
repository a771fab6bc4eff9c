"""Commands on a chain's node, straight over its JSON-RPC (``--rpc-url``/``KUDOS_RPC_URL``), signed with a keystore
in this process: ``kudos deploy`` (a KudosToken) and ``kudos roles`` (its minter role).

The library (kudos_chain, web3) is imported inside each command, so that ``kudos --help`` and the commands over
HTTP start without it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer

from kudos_service.cli._output import err, fail, show

if TYPE_CHECKING:
    from kudos_chain import Chain, KudosClient, Signer

__all__ = ["TOKENS_PATH", "app"]

#: Where these commands appear in ``kudos --help``.
PANEL = "On a chain's node"

app = typer.Typer()
roles_app = typer.Typer(help="Grant, revoke and show the minter role of a KudosToken.", no_args_is_help=True)
app.add_typer(roles_app, name="roles", rich_help_panel=PANEL)

#: Where the kudos service serves token metadata: a token's URI is the contract's base URI and the token id.
TOKENS_PATH = "/v1/tokens/"

_ADDRESS_RULE = "0x and 40 hex digits, with a valid checksum if mixed-case"

RpcUrl = Annotated[
    str | None,
    typer.Option(
        "--rpc-url",
        envvar="KUDOS_RPC_URL",
        show_envvar=True,
        show_default=False,
        metavar="URL",
        help="The node's JSON-RPC URL, http(s) (prefer KUDOS_RPC_URL: a provider's URL holds its API key, and other "
        "users can see a command line). Only its scheme, host and port are ever printed.",
    ),
]
ChainId = Annotated[
    str | None,
    typer.Option(
        "--chain-id",
        envvar="KUDOS_CHAIN_ID",
        show_envvar=True,
        show_default=False,
        metavar="N",
        help="The chain id the node must answer with (a check against the wrong network).",
    ),
]
Keystore = Annotated[
    Path | None,
    typer.Option(
        "--keystore",
        envvar="KUDOS_SIGNER_KEYSTORE",
        show_envvar=True,
        show_default=False,
        metavar="FILE",
        help="The encrypted keystore (Web3 Secret Storage JSON) of the key that signs.",
    ),
]
PasswordFile = Annotated[
    Path | None,
    typer.Option(
        "--password-file",
        envvar="KUDOS_SIGNER_PASSWORD_FILE",
        show_envvar=True,
        show_default=False,
        metavar="FILE",
        help="A file holding the keystore's password (one trailing newline is ignored). Without it: "
        "KUDOS_SIGNER_PASSWORD, else a prompt on a terminal. Never a command-line argument.",
    ),
]
MaxFee = Annotated[
    str | None,
    typer.Option(
        "--max-fee-per-gas",
        envvar="KUDOS_MAX_FEE_PER_GAS",
        show_envvar=True,
        show_default=False,
        metavar="WEI",
        help="The most one unit of gas may cost, in wei; a network asking more is refused. Default: no cap.",
    ),
]
Contract = Annotated[
    str | None,
    typer.Option(
        "--contract",
        envvar="KUDOS_CONTRACT_ADDRESS",
        show_envvar=True,
        show_default=False,
        metavar="ADDRESS",
        help="The KudosToken's address.",
    ),
]
AccountArg = Annotated[str, typer.Argument(metavar="ADDRESS", help="The account (0x and 40 hex digits).")]


def _whole(value: str | None, option: str, envvar: str) -> int | None:
    """The positive whole number of ``option`` (or its environment variable), or None when it is not given."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        fail(f"{option} ({envvar}) must be a positive whole number, not {text!r}")
    return int(text)


def _address_of(value: str, what: str) -> str:
    """``value`` when it is an address, else the command ends naming ``what``."""
    from kudos_service.schemas import is_valid_address

    value = value.strip()
    if not is_valid_address(value):
        fail(f"{what} {value!r} is not an address ({_ADDRESS_RULE})")
    return value


def _need(value: str | Path | None, missing: str) -> str:
    """``value``, stripped; when it is not given the command ends with ``missing``."""
    if value is None or not str(value).strip():
        fail(missing)
    return str(value).strip()


def _rpc_url(value: str | None) -> str:
    url = _need(value, "the node's URL is needed: pass --rpc-url or set KUDOS_RPC_URL")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        fail("the node's URL (--rpc-url, KUDOS_RPC_URL) must start with http:// or https:// and name a host")
    return url


def _scrub(text: str, url: str) -> str:
    """``text`` without the path, query or credentials of ``url`` (requests and urllib3 quote the URL they fail to
    reach in their messages, and providers put their API keys there)."""
    from kudos_chain.chain import redact_url

    parts = urlsplit(url)
    secrets = {url, parts.netloc if parts.username else "", parts.query, parts.password or ""}
    secrets |= {parts.path + (f"?{parts.query}" if parts.query else ""), parts.path.strip("/")}
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, redact_url(url) if secret == url else "…")
    return text


@contextmanager
def on_chain(url: str) -> Iterator[None]:
    """Errors of the node or the contract end the command with one line, without the URL's secrets."""
    import requests
    from web3.exceptions import Web3Exception

    from kudos_chain import KudosError
    from kudos_chain.chain import redact_url

    try:
        yield
    except KudosError as exc:  # composes its own message, the URL redacted and no key material
        fail(str(exc))
    except (requests.RequestException, OSError) as exc:
        fail(f"the node at {redact_url(url)} stopped answering: {exc.__class__.__name__}")
    except Web3Exception as exc:
        first_line = (str(exc).strip().splitlines() or [""])[0]
        fail(f"the node at {redact_url(url)} refused a request: {_scrub(first_line, url) or exc.__class__.__name__}")


def _keystore(keystore: Path | None) -> Path:
    return Path(_need(keystore, "a keystore is needed: pass --keystore FILE or set KUDOS_SIGNER_KEYSTORE"))


def _signer(path: Path, password_file: Path | None) -> Signer:
    """The key of keystore ``path``, decrypted with the password of the file, of KUDOS_SIGNER_PASSWORD or of a
    prompt on a terminal."""
    from kudos_chain import KudosError, Signer

    if password_file is not None:
        try:
            password = password_file.read_text("utf-8").rstrip("\n")  # as the service reads it
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc.__class__.__name__
            fail(f"cannot read the password file {password_file}: {reason}")
    elif os.environ.get("KUDOS_SIGNER_PASSWORD"):
        password = os.environ["KUDOS_SIGNER_PASSWORD"]
    elif sys.stdin.isatty():
        password = typer.prompt(f"Password of {path}", hide_input=True, err=True)
    else:
        fail(
            "the keystore's password is needed: --password-file FILE, KUDOS_SIGNER_PASSWORD_FILE or "
            "KUDOS_SIGNER_PASSWORD (or run on a terminal to be asked)"
        )
    try:
        return Signer.from_keystore(path, password)
    except KudosError as exc:  # KeystoreError: the path and the reason, never the password
        fail(str(exc))


def connect(url: str, chain_id: int | None) -> Chain:
    """The chain of the node at ``url``; a node that does not answer, or answers for another chain, ends the
    command."""
    from kudos_chain import Chain

    with on_chain(url):
        return Chain.connect(url, chain_id=chain_id)


def _status(message: str) -> AbstractContextManager[Any]:
    """A spinner on stderr while the chain works, on a terminal only (elsewhere stderr is for the error line)."""
    return err.status(message) if err.is_terminal else nullcontext()


def _check_base_uri(base_uri: str | None) -> str:
    value = _need(
        base_uri, f"--base-uri is needed: the URL token URIs start with, e.g. https://kudos.example.com{TOKENS_PATH}"
    )
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or not value.endswith("/"):
        fail(
            f"--base-uri must start with http:// or https://, name a host and end with / (a token's URI is the base "
            f"and its id): the service's is https://<public host>{TOKENS_PATH}"
        )
    return value


@app.command(rich_help_panel=PANEL)
def deploy(
    base_uri: Annotated[
        str | None,
        typer.Option(
            "--base-uri",
            metavar="URL",
            show_default=False,
            help=f"Token URIs are this and the token id: the service's public URL and {TOKENS_PATH}, e.g. "
            f"https://kudos.example.com{TOKENS_PATH} (required; must end with /).",
        ),
    ] = None,
    rpc_url: RpcUrl = None,
    keystore: Keystore = None,
    password_file: PasswordFile = None,
    name: Annotated[str, typer.Option(help="The token's ERC-721 name.")] = "Kudos",
    symbol: Annotated[str, typer.Option(help="The token's ERC-721 symbol.")] = "KUDOS",
    admin: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            show_default=False,
            help="The account that holds every role (admin, minter, pauser). Default: the keystore's.",
        ),
    ] = None,
    chain_id: ChainId = None,
    max_fee_per_gas: MaxFee = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (for scripts).")] = False,
) -> None:
    """Deploy a KudosToken, and print its address, block and chain id, and the settings that serve it."""
    from kudos_chain import FeePolicy, KudosClient
    from kudos_chain.chain import redact_url

    base = _check_base_uri(base_uri)
    admin_address = _address_of(admin, "--admin") if admin is not None else None
    wanted_chain = _whole(chain_id, "--chain-id", "KUDOS_CHAIN_ID")
    fee_cap = _whole(max_fee_per_gas, "--max-fee-per-gas", "KUDOS_MAX_FEE_PER_GAS")
    url = _rpc_url(rpc_url)
    keystore_path = _keystore(keystore)
    signer = _signer(keystore_path, password_file)
    chain = connect(url, wanted_chain)
    with on_chain(url), _status(f"deploying a KudosToken on chain {chain.chain_id}…"):
        client = KudosClient.deploy(
            chain,
            signer,
            name=name,
            symbol=symbol,
            base_uri=base,
            admin=admin_address,
            fees=FeePolicy(max_fee_per_gas=fee_cap),
        )
        chain_number = chain.chain_id
    admin_address = admin_address or signer.address
    deployer_is_admin = admin_address.lower() == signer.address.lower()

    rpc_shown = redact_url(url)
    env = {
        "KUDOS_RPC_URL": rpc_shown,
        "KUDOS_CHAIN_ID": str(chain_number),
        "KUDOS_CONTRACT_ADDRESS": client.address,
        "KUDOS_CONTRACT_FROM_BLOCK": str(client.from_block),
    }
    if deployer_is_admin:  # the keystore holds MINTER_ROLE: the service can award with it as it is
        env["KUDOS_SIGNER_KEYSTORE"] = str(keystore_path.resolve())
        if password_file is not None:
            env["KUDOS_SIGNER_PASSWORD_FILE"] = str(password_file.resolve())
    public_url = base[: -len(TOKENS_PATH)] if base.endswith(TOKENS_PATH) else None
    if public_url:
        env["KUDOS_PUBLIC_URL"] = public_url
    url_hidden = rpc_shown.endswith("/…")
    notes = []
    if url_hidden:
        notes.append(
            "KUDOS_RPC_URL is shown without its path, query and credentials (where providers put their API key): "
            "set it to the full URL"
        )
    if public_url is None:
        notes.append(
            f"the base URI does not end with {TOKENS_PATH}: token URIs will not point at a kudos service's metadata"
        )
    if deployer_is_admin:
        hint = (
            "next: make the service's own key a minter (kudos roles grant-minter <its address>), point "
            "KUDOS_SIGNER_KEYSTORE at its keystore, and keep this admin key offline"
        )
    else:
        hint = (
            f"next: the admin {admin_address} makes the service's own key a minter (kudos roles grant-minter <its "
            "address>), and KUDOS_SIGNER_KEYSTORE names that key's keystore; keep the admin key offline"
        )

    if as_json:
        out = {
            "contract_address": client.address,
            "block": client.from_block,
            "chain_id": chain_number,
            "name": name,
            "symbol": symbol,
            "base_uri": base,
            "admin": admin_address,
            "deployer": signer.address,
            "env": env,
            "rpc_url_redacted": url_hidden,
            "next": hint,
        }
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return
    show(
        [
            ("contract", client.address),
            ("block", client.from_block),
            ("chain id", chain_number),
            ("admin", admin_address),
            ("deployer", None if deployer_is_admin else signer.address),
            ("base uri", base),
        ]
    )
    lines = ["", "# the settings of `kudos serve` for this contract"]
    lines += [f"{key}={value}" for key, value in env.items()]
    if deployer_is_admin and password_file is None:
        lines.append("# and KUDOS_SIGNER_PASSWORD_FILE=<a file holding the keystore's password>")
    if not deployer_is_admin:
        lines.append("# and KUDOS_SIGNER_KEYSTORE, KUDOS_SIGNER_PASSWORD_FILE: a key the admin made a minter")
    lines += [f"# {note}" for note in notes]
    lines += ["", hint]
    sys.stdout.write("\n".join(lines) + "\n")


def _attach(
    url: str, chain_id: str | None, contract: str | None, *, signer: Signer | None = None, fee_cap: int | None = None
) -> KudosClient:
    from kudos_chain import FeePolicy, KudosClient

    needed = "the contract is needed: pass --contract or set KUDOS_CONTRACT_ADDRESS"
    address = _address_of(_need(contract, needed), "--contract")
    chain = connect(url, _whole(chain_id, "--chain-id", "KUDOS_CHAIN_ID"))
    with on_chain(url):
        return KudosClient.attach(chain, address, signer=signer, fees=FeePolicy(max_fee_per_gas=fee_cap))


def _change_minter(
    grant: bool,
    account: str,
    rpc_url: str | None,
    keystore: Path | None,
    password_file: Path | None,
    contract: str | None,
    chain_id: str | None,
    max_fee_per_gas: str | None,
) -> None:
    address = _address_of(account, "the account")
    fee_cap = _whole(max_fee_per_gas, "--max-fee-per-gas", "KUDOS_MAX_FEE_PER_GAS")
    url = _rpc_url(rpc_url)
    if contract is not None:  # before the password is asked
        _address_of(contract, "--contract")
    signer = _signer(_keystore(keystore), password_file)
    client = _attach(url, chain_id, contract, signer=signer, fee_cap=fee_cap)
    where = f"contract {client.address} (chain {client.chain.chain_id})"
    with on_chain(url):
        if client.is_minter(address) == grant:
            state = "already" if grant else "not"
            sys.stdout.write(f"{address} is {state} a minter of {where}: nothing sent\n")
            return
        with _status(f"{'granting' if grant else 'revoking'} MINTER_ROLE…"):
            tx = client.grant_minter(address) if grant else client.revoke_minter(address)
    done = f"granted MINTER_ROLE to {address}" if grant else f"revoked MINTER_ROLE from {address}"
    sys.stdout.write(f"{done} on {where}: transaction {tx.tx_hash}, block {tx.block_number}\n")


@roles_app.command("grant-minter")
def roles_grant_minter(
    account: AccountArg,
    rpc_url: RpcUrl = None,
    keystore: Keystore = None,
    password_file: PasswordFile = None,
    contract: Contract = None,
    chain_id: ChainId = None,
    max_fee_per_gas: MaxFee = None,
) -> None:
    """Let ADDRESS award kudos (MINTER_ROLE); the keystore must be the contract's admin."""
    _change_minter(True, account, rpc_url, keystore, password_file, contract, chain_id, max_fee_per_gas)


@roles_app.command("revoke-minter")
def roles_revoke_minter(
    account: AccountArg,
    rpc_url: RpcUrl = None,
    keystore: Keystore = None,
    password_file: PasswordFile = None,
    contract: Contract = None,
    chain_id: ChainId = None,
    max_fee_per_gas: MaxFee = None,
) -> None:
    """Stop ADDRESS awarding kudos; the keystore must be the contract's admin."""
    _change_minter(False, account, rpc_url, keystore, password_file, contract, chain_id, max_fee_per_gas)


@roles_app.command("show")
def roles_show(
    account: AccountArg,
    rpc_url: RpcUrl = None,
    contract: Contract = None,
    chain_id: ChainId = None,
) -> None:
    """Show whether ADDRESS is a minter (and a pauser, an admin) of the contract: read-only, no keystore."""
    from eth_abi.abi import encode as abi_encode
    from eth_utils.crypto import keccak

    has_role = keccak(text="hasRole(bytes32,address)")[:4]
    roles = [keccak(text="PAUSER_ROLE"), b"\x00" * 32]  # PAUSER_ROLE, DEFAULT_ADMIN_ROLE
    address = _address_of(account, "the account")
    url = _rpc_url(rpc_url)
    client = _attach(url, chain_id, contract)
    with on_chain(url):
        minter = client.is_minter(address)
        calls = [(client.address, has_role + abi_encode(["bytes32", "address"], [role, address])) for role in roles]
        held = []
        for answer in client.chain.call_many(calls):
            if isinstance(answer, Exception):
                raise client.decode_error(answer) from None
            held.append(answer[-1:] == b"\x01")
        pauser, admin = held
    yes = {True: "yes", False: "no"}
    show(
        [
            ("account", address),
            ("contract", client.address),
            ("chain id", client.chain.chain_id),
            ("minter", yes[minter]),
            ("pauser", yes[pauser]),
            ("admin", yes[admin]),
        ]
    )
