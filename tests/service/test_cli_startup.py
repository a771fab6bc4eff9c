"""``kudos --help`` and the commands over HTTP start without the heavy modules (web3, py-evm, SQLAlchemy, FastAPI,
the library): each command imports them when it runs. What is checked is the imports, in a fresh interpreter,
not the time (the README's command-line section gives the time, measured).
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from eth_utils.address import to_checksum_address as eth_utils_checksum
from kudos_service.cli.api_client import _tls_for
from kudos_service.schemas import is_valid_address, to_checksum_address

from kudos_chain.client import is_valid_address as library_is_valid_address
from tests.utils.anvil import free_port

#: Top-level packages a command over HTTP must not import.
HEAVY = ("web3", "eth", "eth_account", "eth_utils", "sqlalchemy", "alembic", "fastapi", "uvicorn", "kudos_chain")

#: Runs ``kudos`` with the arguments it is given in this process, then prints which of HEAVY it imported.
PROBE = f"""
import json, sys
from kudos_service.cli import main
sys.argv = ["kudos", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
loaded = sorted({{name.split(".")[0] for name in sys.modules}} & set({HEAVY!r}))
print("\\nHEAVY=" + json.dumps(loaded))
"""

ALICE = "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"


def heavy_modules_of(*args: str, cwd: Path, env: dict[str, str] | None = None) -> list[str]:
    """The heavy packages ``kudos <args>`` imported, run in a fresh interpreter."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KUDOS_")} | (env or {})
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
        env=environment,
    )
    marker = done.stdout.rpartition("HEAVY=")[2]
    assert marker, (done.stdout, done.stderr)
    loaded: list[str] = json.loads(marker)
    return loaded


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        [],
        ["award", "--help"],
        ["wallet", "--help"],
        ["keys", "--help"],
        ["deploy", "--help"],
        ["roles", "show", "--help"],
        ["chain", "redeliver", "--help"],
    ],
    ids=" ".join,
)
def test_help_imports_nothing_heavy(tmp_path: Path, args: list[str]):
    assert heavy_modules_of(*args, cwd=tmp_path) == []


def test_the_commands_over_http_import_nothing_heavy(tmp_path: Path):
    """Each command runs to its request (to a closed port: it fails there, with its one line)."""
    url = f"http://127.0.0.1:{free_port()}"
    env = {"KUDOS_API_URL": url, "KUDOS_API_KEY": "kudos_0123456789ab_not-a-real-key"}
    csv = tmp_path / "awards.csv"
    csv.write_text(f"recipient,kind,message,awarded_by\n{ALICE},mentor,Thanks!,Grace\n@ada,1,Thanks!,Grace\n")
    commands = [
        ["award", ALICE, "mentor", "Thank you!", "--from", "Grace"],
        ["award", "@ada", "mentor", "Thank you!", "--from", "Grace", "--wait", "5"],
        ["wallet", ALICE.lower()],
        ["wallet", "@ada", "--limit", "200"],
        ["import", str(csv), "--wait"],
    ]
    for command in commands:
        assert heavy_modules_of(*command, cwd=tmp_path, env=env) == [], command


def test_a_local_command_still_finds_what_it_imports(tmp_path: Path):
    """The lazy imports are real imports: ``kudos keys list`` reaches the database."""
    assert "sqlalchemy" in heavy_modules_of("keys", "list", "--data-dir", str(tmp_path), cwd=tmp_path)


# ----------------------------------------------------------------------------------------------------------------
# The service's address rule, without the library: the same answers as the library's and eth-utils'
# ----------------------------------------------------------------------------------------------------------------


def test_the_checksum_is_eip55_as_eth_utils_computes_it():
    for _ in range(500):
        lower = "0x" + os.urandom(20).hex()
        expected = eth_utils_checksum(lower)
        assert to_checksum_address(lower) == expected
        assert to_checksum_address("0x" + lower[2:].upper()) == expected


def test_is_valid_address_is_the_librarys_rule():
    cases = ["", "0x", "0x1234", "0x" + "g" * 40, " " + ALICE, ALICE + " ", "0X" + ALICE[2:], ALICE[2:], ALICE]
    cases += [ALICE.lower(), "0x" + ALICE[2:].upper(), 12]  # type: ignore[list-item]
    for _ in range(300):
        address = to_checksum_address("0x" + os.urandom(20).hex())
        letters = [i for i, c in enumerate(address) if i > 1 and c.isalpha()]
        cases.append(address)
        if letters:
            i = letters[0]
            cases.append(address[:i] + address[i].swapcase() + address[i + 1 :])  # one letter's case changed
    for case in cases:
        assert is_valid_address(case) == library_is_valid_address(case), case


# ----------------------------------------------------------------------------------------------------------------
# No CA store to load when no TLS can happen, and never a weaker check when it can
# ----------------------------------------------------------------------------------------------------------------


def test_an_http_service_gets_a_context_that_trusts_nothing(monkeypatch: pytest.MonkeyPatch):
    for name in [n for n in os.environ if n.lower().endswith("_proxy")]:
        monkeypatch.delenv(name)
    context = _tls_for("http://127.0.0.1:8000")
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0


@pytest.mark.parametrize(
    ("url", "env"),
    [
        ("https://kudos.example.com", {}),
        ("http://127.0.0.1:8000", {"HTTPS_PROXY": "https://proxy.example:443"}),
        ("http://127.0.0.1:8000", {"http_proxy": "https://proxy.example:443"}),
    ],
    ids=["https", "proxied", "proxied, lower-case"],
)
def test_tls_that_can_happen_is_checked_with_the_system_store(
    monkeypatch: pytest.MonkeyPatch, url: str, env: dict[str, str]
):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert _tls_for(url) is True
