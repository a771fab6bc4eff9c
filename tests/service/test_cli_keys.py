"""``kudos keys list``, ``kudos keys revoke`` and ``kudos keys create --expires-in/--expires-at`` on a data
directory: the listing (a table, or JSON) never shows a secret, a revocation is stored, and every failure is one
line on stderr with exit code 1 and no key in it."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kudos_service.cli import app
from kudos_service.core.security import hash_secret
from sqlalchemy import create_engine, text
from typer.testing import CliRunner, Result

from tests.service.conftest import create_key


def kudos(data_dir: Path, *args: str) -> Result:
    """``kudos <args> --data-dir data_dir``, on a wide terminal without colour."""
    env = {"COLUMNS": "250", "TTY_COMPATIBLE": None, "FORCE_COLOR": None, "KUDOS_API_KEY_CACHE_S": None}
    return CliRunner().invoke(app, [*args, "--data-dir", str(data_dir)], env=env)


def one_line_failure(result: Result, *fragments: str) -> str:
    """Exit code 1, nothing on stdout, one line on stderr (with ``fragments``), no traceback."""
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    line = result.stderr.strip()
    assert line.startswith("error: "), line
    for fragment in fragments:
        assert fragment in line, line
    return line


def prefix_of(key: str) -> str:
    return key.split("_")[1]


def stored(data_dir: Path, prefix: str) -> dict[str, Any]:
    engine = create_engine(f"sqlite:///{data_dir / 'kudos.db'}")
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT revoked, revoked_at, expires_at, last_used_at FROM api_keys WHERE prefix = :p"),
                {"p": prefix},
            ).one()
            return dict(row._mapping)
    finally:
        engine.dispose()


def listing(data_dir: Path) -> dict[str, dict[str, Any]]:
    result = kudos(data_dir, "keys", "list", "--json")
    assert result.exit_code == 0, result.stderr
    return {item["prefix"]: item for item in json.loads(result.stdout)}


def test_the_list_is_a_table_of_every_key_without_its_secret(tmp_path: Path):
    award = create_key(tmp_path, "award", name="HR tool")
    admin = create_key(tmp_path, "admin", "revoke")
    assert kudos(tmp_path, "keys", "revoke", prefix_of(admin)).exit_code == 0

    result = kudos(tmp_path, "keys", "list")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for header in ("prefix", "name", "scopes", "status", "created", "last used", "expires", "revoked"):
        assert header in out
    (award_row,) = [line for line in out.splitlines() if prefix_of(award) in line]
    (admin_row,) = [line for line in out.splitlines() if prefix_of(admin) in line]
    assert "HR tool" in award_row
    assert "active" in award_row
    assert "admin,revoke" in admin_row
    assert "revoked" in admin_row
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", admin_row.split("revoked", 1)[1])  # when
    for key in (award, admin):
        assert key.split("_", 2)[2] not in out + result.stderr
        assert hash_secret(key).hex() not in out


def test_the_list_as_json_has_each_key_s_fields_and_no_secret(tmp_path: Path):
    key = create_key(tmp_path, "award")
    result = kudos(tmp_path, "keys", "list", "--json")
    assert result.exit_code == 0, result.stderr
    (item,) = json.loads(result.stdout)
    assert item["prefix"] == prefix_of(key)
    assert set(item) == {
        "prefix",
        "name",
        "scopes",
        "status",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    }
    assert (item["scopes"], item["status"], item["expires_at"], item["revoked_at"]) == (["award"], "active", None, None)
    assert key.split("_", 2)[2] not in result.stdout


def test_an_empty_list_says_how_to_make_a_key(tmp_path: Path):
    result = kudos(tmp_path, "keys", "list")
    assert result.exit_code == 0, result.stderr
    assert "kudos keys create" in result.stdout
    assert json.loads(kudos(tmp_path, "keys", "list", "--json").stdout) == []


def test_revoke_stores_the_revocation_and_states_the_cache_time(tmp_path: Path):
    key = create_key(tmp_path, "award", name="HR tool")
    result = kudos(tmp_path, "keys", "revoke", prefix_of(key))
    assert result.exit_code == 0, result.stderr
    assert f"revoked API key {prefix_of(key)} (HR tool)" in result.stdout
    assert "within 5 s (KUDOS_API_KEY_CACHE_S)" in result.stdout
    row = stored(tmp_path, prefix_of(key))
    assert row["revoked"]
    assert row["revoked_at"] is not None
    assert listing(tmp_path)[prefix_of(key)]["status"] == "revoked"

    again = kudos(tmp_path, "keys", "revoke", prefix_of(key))
    assert again.exit_code == 0, again.stderr
    assert "revoked already" in again.stdout
    assert stored(tmp_path, prefix_of(key))["revoked_at"] == row["revoked_at"]


def test_revoke_takes_a_whole_key_and_never_prints_it(tmp_path: Path):
    key = create_key(tmp_path, "award")
    result = kudos(tmp_path, "keys", "revoke", key)
    assert result.exit_code == 0, result.stderr
    assert key.split("_", 2)[2] not in result.stdout + result.stderr
    assert stored(tmp_path, prefix_of(key))["revoked"]


def test_revoking_an_unknown_prefix_is_one_line_and_exit_1(tmp_path: Path):
    create_key(tmp_path, "award")
    one_line_failure(kudos(tmp_path, "keys", "revoke", "0123456789ab"), "no API key has the prefix '0123456789ab'")


@pytest.mark.parametrize(
    "prefix", ["slack", "0123", "kudos_0123456789ab", "kudos_nothex_" + "s3cr3t" * 8, "zz" * 6, "\x1b[31m"]
)
def test_a_malformed_prefix_is_one_line_that_does_not_repeat_it(tmp_path: Path, prefix: str):
    create_key(tmp_path, "award")
    line = one_line_failure(kudos(tmp_path, "keys", "revoke", prefix), "12 hex digits")
    assert "s3cr3t" not in line
    assert "\x1b" not in line


def test_create_with_expires_in_and_expires_at(tmp_path: Path):
    result = kudos(tmp_path, "keys", "create", "--scope", "award", "--expires-in", "30d")
    assert result.exit_code == 0, result.stderr
    item = listing(tmp_path)[prefix_of(result.stdout.strip())]
    expires = datetime.fromisoformat(item["expires_at"])
    assert timedelta(days=29, hours=23) < expires - datetime.now(UTC) <= timedelta(days=30)

    day = (datetime.now(UTC) + timedelta(days=3)).date()
    result = kudos(tmp_path, "keys", "create", "--scope", "award", "--expires-at", day.isoformat())
    assert result.exit_code == 0, result.stderr
    item = listing(tmp_path)[prefix_of(result.stdout.strip())]
    assert datetime.fromisoformat(item["expires_at"]) == datetime(day.year, day.month, day.day, tzinfo=UTC)

    result = kudos(tmp_path, "keys", "create", "--scope", "award", "--expires-at", "2030-06-30T17:00:00+02:00")
    assert result.exit_code == 0, result.stderr
    item = listing(tmp_path)[prefix_of(result.stdout.strip())]
    assert datetime.fromisoformat(item["expires_at"]) == datetime(2030, 6, 30, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--expires-in", "1y"], "--expires-in: a lifetime is a whole number and a unit"),
        (["--expires-in", "0d"], "--expires-in"),
        (["--expires-in", "99999w"], "at most 3650 days"),
        (["--expires-at", "2020-01-01"], "--expires-at: the expiry is not in the future"),
        (["--expires-at", "2999-01-01"], "more than 3650 days ahead"),
        (["--expires-at", "next tuesday"], "is not an ISO 8601 date or time"),
        (["--expires-in", "1d", "--expires-at", "2030-01-01"], "not both"),
        (["--name", "HR\x1b[31m"], "--name: Value error, control character U+001B"),
        (["--name", "x" * 201], "--name"),
    ],
    ids=["years", "zero", "too long", "past", "too far", "not a date", "both", "control character", "long name"],
)
def test_a_bad_expiry_or_name_is_one_line_and_no_key(tmp_path: Path, args: list[str], fragment: str):
    one_line_failure(kudos(tmp_path, "keys", "create", "--scope", "award", *args), fragment)
    assert not (tmp_path / "kudos.db").exists()


@pytest.mark.parametrize("command", [["keys", "list"], ["keys", "revoke"]], ids=" ".join)
def test_the_new_commands_have_help(command: list[str]):
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    assert "Usage:" in result.stdout
