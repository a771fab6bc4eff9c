"""A usage error (a missing argument or option, a bad value, an unknown command or option) is one ``error:`` line on
stderr naming the command's ``--help``, and exit code 1, like every other refusal of ``kudos``: never Click's
boxed usage panel, never exit code 2. The command alone prints its help, and exits 1 (nothing was done)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from kudos_service.cli import app
from kudos_service.core.limits import MAX_BATCH, MAX_WALLET_PAGE
from typer.testing import CliRunner, Result

ALICE = "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"
KEY = "kudos_0123456789ab_sekret-do-not-print"


def kudos(*args: str) -> Result:
    env = {"KUDOS_API_KEY": KEY, "COLUMNS": "80", "KUDOS_API_URL": "http://127.0.0.1:9"}
    return CliRunner().invoke(app, list(args), env=env)


def assert_usage_error(result: Result, *fragments: str) -> str:
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    line = result.stderr.strip()
    assert line.startswith("error: "), line
    for box in "╭│╰─":
        assert box not in line, line
    assert "Traceback" not in line
    assert "sekret" not in line
    for fragment in fragments:
        assert fragment in line, line
    return line


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["award", ALICE, "mentor", "Thanks!"], ["missing option '--from'", "kudos award --help"]),
        (["award"], ["missing argument", "kudos award --help"]),
        (["wallet"], ["missing argument", "kudos wallet --help"]),
        (["wallet", ALICE, "--limit", "0"], ["--limit", "kudos wallet --help"]),
        (["wallet", ALICE, "--limit", str(MAX_WALLET_PAGE + 1)], ["--limit", str(MAX_WALLET_PAGE)]),
        (["wallet", ALICE, "--limit", "100000"], ["--limit", str(MAX_WALLET_PAGE)]),
        (["wallet", ALICE, "--offset", "-1"], ["--offset"]),
        (["wallet", ALICE, "--limit", "ten"], ["--limit", "integer"]),
        (["import", "awards.csv", "--batch-size", str(MAX_BATCH + 1)], ["--batch-size", str(MAX_BATCH)]),
        (["award", ALICE, "mentor", "Thanks!", "--from", "G", "--wait", "-1"], ["--wait"]),
        (["frobnicate"], ["no such command 'frobnicate'", "kudos --help"]),
        (["wallet", ALICE, "--frm", "x"], ["no such option: --frm", "kudos wallet --help"]),
        (["keys", "create"], ["missing option '--scope'", "kudos keys create --help"]),
        (["keys", "nope"], ["no such command 'nope'", "kudos keys --help"]),
        (["roles", "show"], ["missing argument", "kudos roles show --help"]),
    ],
    ids=[
        "missing option",
        "missing argument",
        "wallet without address",
        "limit 0",
        "limit above the API's page",
        "limit 100000",
        "negative offset",
        "limit not a number",
        "batch above the API's",
        "negative wait",
        "unknown command",
        "unknown option",
        "keys create without scope",
        "unknown keys command",
        "roles show without address",
    ],
)
def test_a_usage_error_is_one_line_and_exit_1(args: list[str], fragments: list[str]):
    assert_usage_error(kudos(*args), *fragments)


@pytest.mark.parametrize("args", [[], ["keys"], ["roles"], ["chain"]], ids=["kudos", "keys", "roles", "chain"])
def test_a_command_alone_prints_its_help_and_exits_1(args: list[str]):
    result = kudos(*args)
    assert result.exit_code == 1, result.stderr
    assert "Usage:" in result.stdout
    assert result.stderr == ""


def test_the_installed_command_gives_the_same_line(tmp_path: Path):
    """The real process (``python -m kudos_service`` is the ``kudos`` command), stderr not a terminal."""
    done = subprocess.run(
        [sys.executable, "-m", "kudos_service", "wallet", ALICE, "--limit", "500"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: invalid value for '--limit'"), done.stderr
    assert f"{MAX_WALLET_PAGE}" in done.stderr
    assert done.stderr.endswith("(see `python -m kudos_service wallet --help`)\n"), done.stderr
