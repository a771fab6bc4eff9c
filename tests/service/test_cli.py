"""``kudos keys create``: the key alone on stdout, only its hash stored; a failure is one line on stderr."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from kudos_service.cli import app
from kudos_service.core.security import hash_secret
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

KEY = re.compile(r"^kudos_[0-9a-f]{12}_[A-Za-z0-9_-]{43}\n$")


def stored_keys(data_dir: Path) -> list[tuple[str, bytes, str, str | None, bool]]:
    engine = create_engine(f"sqlite:///{data_dir / 'kudos.db'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT prefix, secret_hash, scopes, name, revoked FROM api_keys ORDER BY id"))
            return [(r[0], bytes(r[1]), r[2], r[3], bool(r[4])) for r in rows]
    finally:
        engine.dispose()


def test_keys_create_prints_the_key_alone_and_stores_only_its_hash(tmp_path: Path):
    args = ["keys", "create", "--scope", "revoke", "--scope", "award", "--scope", "award", "--name", "HR tool"]
    result = CliRunner().invoke(app, [*args, "--data-dir", str(tmp_path)])

    assert result.exit_code == 0, result.stderr
    assert KEY.match(result.stdout), result.stdout
    assert result.stderr == ""
    key = result.stdout.strip()
    ((prefix, secret_hash, scopes, name, revoked),) = stored_keys(tmp_path)
    assert key.startswith(f"kudos_{prefix}_")
    assert secret_hash == hash_secret(key)
    assert scopes == "award,revoke"
    assert name == "HR tool"
    assert revoked is False
    assert key.encode() not in (tmp_path / "kudos.db").read_bytes()


def test_each_key_is_new(tmp_path: Path):
    runner = CliRunner()
    keys = {
        runner.invoke(app, ["keys", "create", "--scope", "admin", "--data-dir", str(tmp_path)]).stdout for _ in "ab"
    }
    assert len(keys) == 2
    assert len(stored_keys(tmp_path)) == 2


@pytest.mark.parametrize("scopes", [["root"], ["award", "everything"]], ids=["unknown", "one of two unknown"])
def test_a_bad_scope_is_one_line_on_stderr_and_no_key(tmp_path: Path, scopes: list[str]):
    args = ["keys", "create", "--data-dir", str(tmp_path)]
    for scope in scopes:
        args += ["--scope", scope]

    result = CliRunner().invoke(app, args)

    assert result.exit_code != 0
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "unknown scope" in result.stderr
    assert scopes[-1] in result.stderr
    assert "award, revoke, admin" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "kudos.db").exists() or stored_keys(tmp_path) == []


def test_the_installed_command_behaves_the_same(tmp_path: Path):
    """The real process: ``python -m kudos_service`` is the ``kudos`` command."""
    command = [sys.executable, "-m", "kudos_service", "keys", "create", "--data-dir", str(tmp_path)]
    bad = subprocess.run([*command, "--scope", "root"], capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode != 0
    assert bad.stdout == ""
    assert bad.stderr.count("\n") == 1, bad.stderr
    assert bad.stderr.startswith("error: unknown scope root")
    assert "Traceback" not in bad.stderr

    good = subprocess.run([*command, "--scope", "award"], capture_output=True, text=True, timeout=60, check=False)
    assert good.returncode == 0, good.stderr
    assert KEY.match(good.stdout), good.stdout
    assert "Traceback" not in good.stderr
    assert hash_secret(good.stdout.strip()) == stored_keys(tmp_path)[0][1]
