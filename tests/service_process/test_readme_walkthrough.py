"""The README's service walkthrough, run as written against a real ``kudos serve``.

The shell block under "The service in five minutes" is what a new user pastes first. It runs here with bash
(``set -euo pipefail``), in a directory where ``.venv/bin/kudos`` is this environment's ``kudos``, against a server
on a temporary data directory (``KUDOS_DATA_DIR``, which the README names, points the key commands at it); only
the ``API=`` line changes, to the server's port.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from kudos_chain.testing import KudosServer

ROOT = Path(__file__).resolve().parents[2]


def walkthrough() -> str:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("## The service in five minutes", 1)[1]
    found = re.search(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert found, "the walkthrough has no shell block"
    return found.group(1)


def command_line_blocks() -> tuple[str, str]:
    """The shell block of "Command line" and its CSV example."""
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("\n## Command line\n", 1)[1].split("\n## ", 1)[0]
    shell = re.search(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    example = re.search(r"```csv\n(.*?)```", section, flags=re.DOTALL)
    assert shell, "the command-line section has no shell block"
    assert example, "the command-line section has no CSV example"
    return shell.group(1), example.group(1)


def json_documents(text: str) -> list[object]:
    """The JSON documents curl printed one after the other (curl adds no newline after a body)."""
    decoder, found, i = json.JSONDecoder(), [], 0
    while (start := min((p for p in (text.find("{", i), text.find("[", i)) if p >= 0), default=-1)) >= 0:
        document, i = decoder.raw_decode(text, start)
        found.append(document)
    return found


def user_directory(tmp_path: Path) -> Path:
    """A directory as a new user has it after the install: ``.venv/bin/kudos`` and ``.venv/bin/python`` are this
    environment's (python by a wrapper: a link would lose the environment, which Python finds beside its real
    path only)."""
    user = tmp_path / "user"
    bin_dir = user / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "kudos").symlink_to(Path(sys.executable).parent / "kudos")
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n', "utf-8")
    python.chmod(0o755)
    return user


def server_env(server: KudosServer) -> dict[str, str]:
    """This environment without its ``KUDOS_`` settings, pointed at ``server``'s data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUDOS_")}
    env["KUDOS_DATA_DIR"] = str(server.data_dir)
    return env


def run_pasted(script: str, server: KudosServer, user: Path, *, timeout: float) -> subprocess.CompletedProcess[str]:
    """``script`` run by bash as pasted (``set -euo pipefail``) in ``user``, with the README's URL made the
    server's."""
    return subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script.replace("http://127.0.0.1:8000", server.url)],
        cwd=user,
        env=server_env(server),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_readme_walkthrough_runs_as_written(tmp_path: Path):
    script = walkthrough()
    assert "API=http://127.0.0.1:8000\n" in script
    user = user_directory(tmp_path)
    with KudosServer(tmp_path / "data") as server:
        run = run_pasted(script, server, user, timeout=120)
        assert run.returncode == 0, run.stderr
        answers = json_documents(run.stdout)
        assert answers, run.stdout
        assert not [a for a in answers if isinstance(a, dict) and "error" in a], run.stdout

        alice = re.search(r"^ALICE=(0x[0-9a-fA-F]{40})$", script, flags=re.MULTILINE)
        assert alice
        deadline = time.monotonic() + 20  # the batch may still be on its way
        while (wallet := httpx2.get(f"{server.url}/v1/wallets/{alice.group(1)}", timeout=10).json())["total"] < 2:
            assert time.monotonic() < deadline, f"the batch's two kudos never reached the wallet: {wallet}"
            time.sleep(0.1)
        kinds = {k["slug"] for k in httpx2.get(f"{server.url}/v1/kinds", timeout=10).json()}
        badge = (user / "badge.svg").read_text("utf-8")

    dicts = [a for a in answers if isinstance(a, dict)]
    award = next(a for a in dicts if a.get("status") and a.get("kind") == "team-player")
    assert (award["status"], award["token_id"]) == ("confirmed", 1)
    revoked = [a for a in dicts if a.get("kind") == "revoke"]
    assert revoked[-1]["status"] == "confirmed"
    assert (revoked[-1]["token_id"], revoked[-1]["reason"]) == (1, "mistake")
    batch = next(a for a in answers if isinstance(a, list))
    assert [a["kind"] for a in batch] == ["mentor", "loyal-customer"]
    assert "hackathon" in kinds
    assert badge.startswith("<svg")
    assert wallet["total"] == 2  # the batch's two; the first kudos is revoked


def test_the_readme_command_line_runs_as_written_after_the_walkthrough(tmp_path: Path):
    """The command-line section's block, pasted after the walkthrough (it uses its KEY and ALICE) where
    ``.venv/bin/kudos`` is this environment's ``kudos``, with its CSV example as ``awards.csv``. Its ``@ada`` is in
    the directory, as the README's directory section adds her."""
    commands, example = command_line_blocks()
    assert all(line.startswith(("#", "export ", ".venv/bin/kudos ")) for line in commands.splitlines() if line)
    user = user_directory(tmp_path)
    (user / "awards.csv").write_text(example, "utf-8")
    with KudosServer(tmp_path / "data") as server:
        admin = subprocess.run(
            [str(user / ".venv" / "bin" / "kudos"), "keys", "create", "--scope", "admin"],
            env=server_env(server),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        ada = {"handle": "ada", "external_id": "hris-ada", "display_name": "Ada", "wallet_address": "0x" + "ad" * 20}
        added = httpx2.post(
            f"{server.url}/v1/recipients", json=ada, headers={"Authorization": f"Bearer {admin}"}, timeout=10
        )
        assert added.status_code == 201, added.text
        run = run_pasted(walkthrough() + commands, server, user, timeout=180)
    assert run.returncode == 0, run.stderr
    assert "token id:" in run.stdout
    assert "awards.csv: 2 rows; 2 new, 0 already awarded, 2 confirmed; 0 refused" in run.stdout, run.stdout


def claim_block() -> str:
    """The shell block of "People without a wallet"."""
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("\n## People without a wallet\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert found, "the section has no shell block"
    return found.group(1)


def test_the_readme_claim_walkthrough_runs_as_written_after_the_first(tmp_path: Path):
    """A candidate thanked by email, the kept email, a new link, and the claim through the API, pasted after the
    first walkthrough (its KEY, ADMIN and API), against a real ``kudos serve`` without a mail server."""
    user = user_directory(tmp_path)
    block = claim_block()
    sam = re.search(r"^SAM=(0x[0-9a-fA-F]{40})", block, flags=re.MULTILINE)
    assert sam
    with KudosServer(tmp_path / "data") as server:
        run = run_pasted(walkthrough() + block, server, user, timeout=180)
        assert run.returncode == 0, run.stderr
        answers = [a for a in json_documents(run.stdout) if isinstance(a, dict)]
        assert not [a for a in answers if "error" in a], run.stdout
        held = next(a for a in answers if a.get("kind") == "great-interview")
        assert (held["status"], held["held"]) == ("confirmed", True)
        directory = next(a for a in answers if "items" in a and a["items"] and "handle" in a["items"][0])
        assert [(p["handle"], p["email"], p["held"]) for p in directory["items"]] == [("sam", "sam@example.com", 1)]
        claimed = next(a for a in answers if a.get("state") == "used")
        assert claimed["wallet_address"] == sam.group(1)
        deadline = time.monotonic() + 20
        while (wallet := httpx2.get(f"{server.url}/v1/wallets/{sam.group(1)}", timeout=10).json())["total"] < 1:
            assert time.monotonic() < deadline, f"the claimed kudos never reached Sam's wallet: {wallet}"
            time.sleep(0.1)
        assert wallet["items"][0]["token_id"] == held["token_id"]
