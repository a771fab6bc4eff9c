"""``kudos award``, ``kudos wallet`` and ``kudos import`` against a real service over HTTP.

The commands run in process (Typer's CliRunner) with ``KUDOS_API_URL`` and ``KUDOS_API_KEY`` in their
environment; the service is uvicorn in a thread on a loopback port (``live_service``), with its delivery worker
on the embedded chain. A failure must be exit code 1 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx2
import pytest
from kudos_service.claims.custody import custody_address
from kudos_service.cli import app
from kudos_service.models import Award
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from tests.service.conftest import LiveService, new_address
from tests.utils.anvil import free_port

HEADER = ["recipient", "kind", "message", "awarded_by"]


def kudos(
    live: LiveService, *args: str, scope: str | None = "award", env: Mapping[str, str | None] | None = None
) -> Result:
    """Run ``kudos <args>`` against ``live`` with the key of ``scope`` (None: no key) in the environment."""
    environment: dict[str, str | None] = {
        "KUDOS_API_URL": live.url,
        "KUDOS_API_KEY": None if scope is None else live.keys[scope],
        "COLUMNS": "250",
        "TTY_COMPATIBLE": None,
        "FORCE_COLOR": None,
    }
    environment.update(env or {})
    return CliRunner().invoke(app, list(args), env=environment)


def assert_one_line_failure(result: Result, *fragments: str) -> str:
    """Exit code 1, nothing but one line on stderr (containing ``fragments``), and no traceback."""
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert len(result.stderr.splitlines()) == 1, result.stderr
    line = result.stderr.strip()
    assert line.startswith("error: "), line
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in line, line
    return line


def shown(stdout: str) -> dict[str, str]:
    """The ``label: value`` lines of ``kudos award``."""
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in stdout.splitlines()) if v}


def write_csv(
    path: Path, rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER, *, newline: str = "\n"
) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(out.getvalue(), "utf-8")
    return path


def keys_by_recipient(live: LiveService, recipients: Sequence[str]) -> dict[str, int]:
    """How many awards the database holds for each of ``recipients``."""
    with live.state.db.session() as session:
        rows = session.execute(
            select(Award.recipient, func.count()).where(Award.recipient.in_(recipients)).group_by(Award.recipient)
        ).all()
    return {r: int(n) for r, n in rows}


def owned(live: LiveService, address: str) -> int:
    """How many kudos ``address`` holds on chain."""
    return live.state.chain.get().client.balance_of(address)


# ----------------------------------------------------------------------------------------------------------------
# --help, settings and failures
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [[], ["award"], ["wallet"], ["import"], ["serve"], ["keys"], ["keys", "create"]], ids=" ".join
)
def test_every_command_has_help_and_never_shows_the_key(command: list[str]):
    result = CliRunner().invoke(app, [*command, "--help"], env={"KUDOS_API_KEY": "kudos_sekret_do-not-print"})
    assert result.exit_code == 0, result.stderr
    assert "Usage:" in result.stdout
    assert "sekret" not in result.stdout


def test_the_import_help_documents_the_csv_format():
    result = CliRunner().invoke(app, ["import", "--help"], env={"COLUMNS": "250"})
    for column in [*HEADER, "recipient_name", "transferable", "key", "line 1"]:
        assert column in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["award", new_address(), "team-player", "Thanks!", "--from", "Grace"],
        ["wallet", new_address()],
        ["import", "FILE"],
    ],
    ids=["award", "wallet", "import"],
)
def test_an_unreachable_service_is_one_line(live_service: LiveService, tmp_path: Path, args: list[str]):
    csv_file = write_csv(tmp_path / "a.csv", [[new_address(), "team-player", "Thanks!", "Grace"]])
    args = [str(csv_file) if a == "FILE" else a for a in args]
    url = f"http://user:pa55word@127.0.0.1:{free_port()}/kudos?token=abc"
    result = kudos(live_service, *args, env={"KUDOS_API_URL": url})
    line = assert_one_line_failure(result, "cannot reach the kudos service at http://127.0.0.1:")
    assert "pa55word" not in line
    assert "token=abc" not in line
    assert live_service.keys["award"] not in line


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("kudos_000000000000_" + "A" * 43, "the API key was refused"),
        ("not-a-key", "the API key was refused"),
        ("revoke", "lacks the 'award' scope"),
        (None, "an API key is needed"),
    ],
    ids=["unknown key", "malformed key", "key without the award scope", "no key"],
)
@pytest.mark.parametrize("command", ["award", "import"])
def test_a_refused_or_missing_key_is_one_line_and_awards_nothing(
    live_service: LiveService, tmp_path: Path, key: str | None, expected: str, command: str
):
    secret = live_service.keys.get(key or "", key)
    if command == "award":
        args = ["award", new_address(), "team-player", "Thanks!", "--from", "Grace"]
    else:
        args = ["import", str(write_csv(tmp_path / "a.csv", [[new_address(), "mentor", "Thanks!", "Grace"]]))]
    before = live_service.award_count()
    result = kudos(live_service, *args, env={"KUDOS_API_KEY": secret})
    line = assert_one_line_failure(result, expected)
    assert secret is None or secret not in line
    assert live_service.award_count() == before


# ----------------------------------------------------------------------------------------------------------------
# kudos award
# ----------------------------------------------------------------------------------------------------------------


def test_award_with_wait_prints_the_token_and_transaction(live_service: LiveService):
    alice = new_address()
    before = live_service.award_count()
    result = kudos(
        live_service, "award", alice, "mentor", "Thank you for the reviews!", "--from", "Grace", "--name", "Alice",
        "--wait", "20",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    out = shown(result.stdout)
    assert out["status"] == "confirmed"
    assert out["recipient"] == alice
    assert out["kind"] == "mentor"
    assert out["soulbound"] == "yes"
    assert out["tx hash"].startswith("0x")
    assert len(out["tx hash"]) == 66
    ctx = live_service.state.chain.get()
    assert out["contract"] == ctx.client.address
    assert int(out["chain id"]) == ctx.chain_id
    token = ctx.client.kudos(int(out["token id"]))
    assert token.owner == alice
    assert live_service.award_count() == before + 1

    # The key printed is the one to retry with: the same award, nothing new.
    again = kudos(
        live_service, "award", alice, "mentor", "Thank you for the reviews!", "--from", "Grace", "--name", "Alice",
        "--idempotency-key", out["idempotency key"],
    )  # fmt: skip
    assert again.exit_code == 0, again.stderr
    assert shown(again.stdout)["award"] == out["award"]
    assert live_service.award_count() == before + 1


def test_award_without_wait_answers_at_once_with_the_award_and_its_key(live_service: LiveService):
    result = kudos(live_service, "award", new_address(), "2", "Thanks!", "--from", "Grace", "--transferable")
    assert result.exit_code == 0, result.stderr
    out = shown(result.stdout)
    assert out["status"] in ("queued", "submitted", "confirmed")
    assert out["soulbound"] == "no"
    assert len(out["idempotency key"]) == 36  # a uuid4


def test_award_to_an_email_address_holds_the_kudos_for_the_person(live_service: LiveService):
    address = f"cand.{os.urandom(4).hex()}@example.com"
    result = kudos(live_service, "award", address, "mentor", "Thanks for the interview!", "--from", "Grace",
                   "--name", "Sam", "--wait", "20")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    out = shown(result.stdout)
    ctx = live_service.state.chain.get()
    custody = custody_address(ctx.chain_id, ctx.client.address)
    assert out["recipient"] == f"{custody} (custody: held until they claim it)"
    assert ctx.client.kudos(int(out["token id"])).owner == custody
    with live_service.state.db.session() as session:  # the name went to the directory, not to the metadata
        award = session.get_one(Award, out["award"])
        assert award.recipient_name is None
        assert award.held_for is not None
        assert award.held_for.display_name == "Sam"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["0x1234", "team-player", "Thanks!"], "recipient: not an Ethereum address"),
        (["ada@", "team-player", "Thanks!"], "recipient.email: value is not a valid email address"),
        (["@-nope", "team-player", "Thanks!"], "recipient: a handle is"),
        ([new_address(), "team-player", " "], "message: is empty"),
        ([new_address(), "team-player", "x" * 501], "message: String should have at most 500 characters"),
        ([new_address(), "no-such-kind", "Thanks!"], "unknown kind 'no-such-kind'"),
    ],
    ids=["bad address", "bad email", "bad handle", "empty message", "long message", "unknown kind"],
)
def test_a_bad_award_is_one_line_and_awards_nothing(live_service: LiveService, args: list[str], expected: str):
    before = live_service.award_count()
    result = kudos(live_service, "award", *args, "--from", "Grace")
    assert_one_line_failure(result, expected)
    assert live_service.award_count() == before


# ----------------------------------------------------------------------------------------------------------------
# kudos wallet
# ----------------------------------------------------------------------------------------------------------------


def test_wallet_shows_a_table_of_the_kudos_with_the_chain_and_contract(live_service: LiveService):
    bob = new_address()
    for kind, message in [("team-player", "Thanks for the launch!"), ("mentor", "Great reviews.")]:
        awarded = kudos(live_service, "award", bob, kind, message, "--from", "Grace Hopper", "--wait", "20")
        assert awarded.exit_code == 0, awarded.stderr
    with httpx2.Client(base_url=live_service.url) as http:
        assert http.get(f"/v1/wallets/{bob}").json()["total"] == 2

    result = kudos(live_service, "wallet", bob.lower(), scope=None)

    assert result.exit_code == 0, result.stderr
    ctx = live_service.state.chain.get()
    table = result.stdout
    assert f"{bob}: 2 kudos" in table
    assert f"chain {ctx.chain_id}" in table
    assert ctx.client.address in table
    for header in ("token id", "kind", "message", "from", "issued", "verified", "soulbound"):
        assert header in table
    assert "Thanks for the launch!" in table
    assert "Great reviews." in table
    assert table.count("Grace Hopper") == 2
    rows = [line for line in table.splitlines() if "Grace Hopper" in line]
    assert "Great reviews." in rows[0]  # newest first
    assert all(" yes " in row for row in rows)  # verified, soulbound

    first = kudos(live_service, "wallet", bob, "--limit", "1", scope=None)
    assert first.exit_code == 0, first.stderr
    assert "the newest 1" in first.stdout
    assert "Great reviews." in first.stdout
    assert "Thanks for the launch!" not in first.stdout


def test_wallet_of_a_bad_address_is_one_line(live_service: LiveService):
    assert_one_line_failure(kudos(live_service, "wallet", "0xnope", scope=None), "'0xnope' is not a wallet address")
    assert_one_line_failure(
        kudos(live_service, "wallet", "ada", scope=None), "'ada' is not a wallet address", "@handle"
    )
    assert_one_line_failure(kudos(live_service, "wallet", "@-ada", scope=None), "'@-ada' is not a handle")


def add_person(live: LiveService, *, listed: bool) -> tuple[str, str]:
    """A person in the directory with a new wallet: their handle and wallet address."""
    tag = os.urandom(4).hex()
    wallet = new_address()
    person = {"handle": f"cli.{tag}", "external_id": f"hris-{tag}", "display_name": "Cli", "wallet_address": wallet}
    admin = {"Authorization": f"Bearer {live.keys['admin']}"}
    with httpx2.Client(base_url=live.url, headers=admin) as http:
        assert http.post("/v1/recipients", json=person).status_code == 201
        if listed:
            assert http.patch(f"/v1/recipients/{person['handle']}", json={"listed": True}).status_code == 200
    return person["handle"], wallet


def test_wallet_of_a_listed_handle_is_their_wallet(live_service: LiveService):
    handle, wallet = add_person(live_service, listed=True)
    awarded = kudos(
        live_service, "award", f"@{handle}", "mentor", "Thanks, by handle!", "--from", "Grace", "--wait", "20"
    )
    assert awarded.exit_code == 0, awarded.stderr

    result = kudos(live_service, "wallet", f"@{handle}", scope=None)

    assert result.exit_code == 0, result.stderr
    assert f"@{handle} ({wallet}): 1 kudos" in result.stdout
    assert "Thanks, by handle!" in result.stdout


def test_wallet_of_an_unlisted_or_unknown_handle_is_the_same_line(live_service: LiveService):
    unlisted, _ = add_person(live_service, listed=False)
    lines = [
        assert_one_line_failure(kudos(live_service, "wallet", f"@{handle}", scope=None), "wallet_not_found")
        for handle in (unlisted, "nobody.at.all")
    ]
    assert lines[0].replace(unlisted, "HANDLE") == lines[1].replace("nobody.at.all", "HANDLE")


def test_wallet_pages_as_the_api_does(live_service: LiveService):
    carol = new_address()
    for n in range(3):
        assert (
            kudos(live_service, "award", carol, "mentor", f"Kudos {n}.", "--from", "G", "--wait", "20").exit_code == 0
        )

    second = kudos(live_service, "wallet", carol, "--limit", "1", "--offset", "1", scope=None)

    assert second.exit_code == 0, second.stderr
    assert f"{carol}: 3 kudos, newest first: 2 to 2" in second.stdout
    assert "Kudos 1." in second.stdout
    assert "Kudos 2." not in second.stdout
    assert "Kudos 0." not in second.stdout


# ----------------------------------------------------------------------------------------------------------------
# kudos import
# ----------------------------------------------------------------------------------------------------------------


def test_an_import_with_bad_rows_lists_every_one_by_line_and_sends_nothing(live_service: LiveService, tmp_path):
    good = [new_address(), "team-player", "Thanks!", "Grace"]
    lines = [
        "recipient,kind,message,awarded_by,transferable",
        ",".join([*good, ""]),  # 2
        f'{new_address()},mentor,"a message over',  # 3: a good row over two lines
        ' two lines",Grace,true',  # 4
        "0x1234,team-player,Thanks!,Grace,",  # 5: bad address
        f"{new_address()},no-such-kind,Thanks!,Grace,",  # 6: unknown kind
        "",  # 7: blank lines are skipped
        f"{new_address()},team-player,,Grace,",  # 8: empty message
        f"{new_address()},team-player,{'x' * 501},Grace,",  # 9: message too long
        f"{new_address()},team-player,Thanks!,,",  # 10: no awarded_by
        f"{new_address()},team-player,Thanks!,Grace,maybe",  # 11: transferable not a boolean
        f"{new_address()},team-player,Thanks!,Grace,false,extra",  # 12: a field too many
        "@-bad,team-player,Thanks!,Grace,",  # 13: not a handle
        f"{new_address()},99,Thanks!,Grace,",  # 14: unknown kind id
        f"0x{'0' * 40},,,,nope",  # 15: zero address, no kind, no message, no sender, bad transferable
        ",".join([new_address(), "3", "Thanks!", "Grace", "yes"]),  # 16
    ]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    before = live_service.award_count()

    result = kudos(live_service, "import", str(path))

    assert result.exit_code == 1, result.stdout
    assert "Traceback" not in result.stderr
    *listed, last = result.stderr.splitlines()
    assert last == f"error: 10 of 13 rows of {path} are bad; nothing was sent"
    assert [int(line.split(":")[0].removeprefix("line ")) for line in listed] == [5, 6, 8, 9, 10, 11, 12, 13, 14, 15]
    by_line = dict(line.split(": ", 1) for line in listed)
    assert "recipient: not an Ethereum address" in by_line["line 5"]
    assert "kind: unknown kind 'no-such-kind'" in by_line["line 6"]
    assert by_line["line 8"] == "message: is empty"
    assert "at most 500 characters" in by_line["line 9"]
    assert by_line["line 10"] == "awarded_by: is empty"
    assert "transferable: 'maybe' is not true/false" in by_line["line 11"]
    assert "6 fields where the header has 5" in by_line["line 12"]
    assert "recipient: a handle is" in by_line["line 13"]
    assert "unknown kind '99'" in by_line["line 14"]
    for problem in ["the zero address", "kind: is empty", "message: is empty", "awarded_by: is empty", "'nope'"]:
        assert problem in by_line["line 15"]
    assert result.stdout == ""
    assert live_service.award_count() == before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty"),
        ("recipient,kind,message\n", "missing column awarded_by"),
        ("recipient,kind,message,awarded_by,colour\n", "unknown column 'colour'"),
    ],
    ids=["empty", "missing column", "unknown column"],
)
def test_a_file_without_a_good_header_is_one_line(live_service: LiveService, tmp_path: Path, text: str, expected):
    path = tmp_path / "h.csv"
    path.write_text(text, "utf-8")
    assert_one_line_failure(kudos(live_service, "import", str(path)), expected)


def test_a_missing_file_is_one_line(live_service: LiveService, tmp_path: Path):
    assert_one_line_failure(kudos(live_service, "import", str(tmp_path / "nope.csv")), "cannot read", "nope.csv")


def test_a_clean_import_awards_every_row_and_waits_for_confirmation(live_service: LiveService, tmp_path: Path):
    with httpx2.Client(base_url=live_service.url) as http:
        carol = new_address()
        person = {"handle": "carol", "external_id": "E-1", "display_name": "Carol", "wallet_address": carol}
        response = http.post(
            "/v1/recipients", json=person, headers={"Authorization": f"Bearer {live_service.keys['admin']}"}
        )
        assert response.status_code == 201, response.text
    recipients = [new_address() for _ in range(3)]
    rows = [
        [recipients[0], "team-player", "Thanks for the launch!", "Grace", "Ann", ""],
        [recipients[1], "MENTOR", "Great reviews.", "Grace", "", "true"],
        [recipients[2], "4", "A great interview.", "Hiring team", "", "soulbound"],
        ["@Carol", "team-player", "Welcome aboard!", "Grace", "", ""],
        [recipients[0], "team-player", "Thanks for the launch!", "Grace", "Ann", ""],  # identical: a second award
    ]
    path = write_csv(tmp_path / "clean.csv", rows, [*HEADER, "recipient_name", "transferable"])
    before = live_service.award_count()

    result = kudos(live_service, "import", str(path), "--wait", "--batch-size", "2")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{path}: 5 rows; 5 new, 0 already awarded, 5 confirmed; 0 refused\n"
    assert live_service.award_count() == before + 5
    assert [owned(live_service, a) for a in [*recipients, carol]] == [2, 1, 1, 1]
    with live_service.state.db.session() as session:
        (award,) = session.scalars(select(Award).where(Award.recipient == recipients[1]))
        assert (award.kind_id, award.transferable, award.idempotency_key[:4]) == (3, True, "csv-")


def test_the_same_import_again_awards_nothing_new(live_service: LiveService, tmp_path: Path):
    recipients = [new_address() for _ in range(4)]
    rows = [[r, "team-player", f"Thanks, {i}!", "Grace"] for i, r in enumerate(recipients)]
    path = write_csv(tmp_path / "again.csv", rows)
    first = kudos(live_service, "import", str(path))
    assert first.exit_code == 0, first.stderr
    assert first.stdout.startswith(f"{path}: 4 rows; 4 new, 0 already awarded")
    after_first = live_service.award_count()

    again = kudos(live_service, "import", str(path), "--wait")

    assert again.exit_code == 0, again.stderr
    assert again.stdout == f"{path}: 4 rows; 0 new, 4 already awarded, 4 confirmed; 0 refused\n"
    assert live_service.award_count() == after_first
    assert keys_by_recipient(live_service, recipients) == dict.fromkeys(recipients, 1)

    # The same rows in another file (another name, other line endings, a changed order) are the same awards.
    other = write_csv(tmp_path / "other.csv", list(reversed(rows)), newline="\r\n")
    moved = kudos(live_service, "import", str(other))
    assert moved.exit_code == 0, moved.stderr
    assert "0 new, 4 already awarded" in moved.stdout
    assert live_service.award_count() == after_first


def _interrupt_second_batch(monkeypatch: pytest.MonkeyPatch, how: str) -> list[int]:
    """Make the second ``POST /v1/awards/batch`` of this process fail: Ctrl-C before it is sent, or the
    connection lost after the service accepted it (the answer never read)."""
    calls: list[int] = []
    real = httpx2.Client.request

    def request(self: httpx2.Client, method: str, url: Any, **kwargs: Any) -> httpx2.Response:
        if method == "POST" and str(url).endswith("/v1/awards/batch"):
            calls.append(len(kwargs["json"]["awards"]))
            if len(calls) == 2:
                if how == "ctrl-c before sending":
                    raise KeyboardInterrupt
                real(self, method, url, **kwargs)
                raise httpx2.ReadError("connection reset by peer")
        return real(self, method, url, **kwargs)

    monkeypatch.setattr(httpx2.Client, "request", request)
    return calls


@pytest.mark.parametrize("how", ["ctrl-c before sending", "answer lost after sending"])
def test_an_interrupted_import_run_again_finishes_and_awards_nothing_twice(
    live_service: LiveService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
):
    recipients = [new_address() for _ in range(7)]
    rows = [[r, "team-player", "Thanks!", "Grace"] for r in recipients]
    path = write_csv(tmp_path / "big.csv", rows)
    before = live_service.award_count()

    with monkeypatch.context() as patch:
        calls = _interrupt_second_batch(patch, how)
        stopped = kudos(live_service, "import", str(path), "--batch-size", "3")
    line = assert_one_line_failure(stopped, "3 of 7 rows are known to be accepted", "run the same import again")
    assert line.startswith("error: interrupted" if how.startswith("ctrl-c") else "error: the connection")
    assert calls == [3, 3]
    accepted = 3 if how.startswith("ctrl-c") else 6
    assert live_service.award_count() == before + accepted

    resumed = kudos(live_service, "import", str(path), "--batch-size", "3", "--wait")

    assert resumed.exit_code == 0, resumed.stderr
    assert resumed.stdout == f"{path}: 7 rows; {7 - accepted} new, {accepted} already awarded, 7 confirmed; 0 refused\n"
    assert live_service.award_count() == before + 7
    assert keys_by_recipient(live_service, recipients) == dict.fromkeys(recipients, 1)
    assert [owned(live_service, r) for r in recipients] == [1] * 7


def test_rows_the_service_refuses_are_named_by_line_and_the_others_awarded(live_service: LiveService, tmp_path):
    recipients = [new_address() for _ in range(3)]
    rows = [
        [recipients[0], "team-player", "Thanks!", "Grace", ""],
        ["@nobody-here", "team-player", "Thanks!", "Grace", ""],  # line 3: not in the directory
        [recipients[1], "team-player", "Thanks!", "Grace", "reused-key"],  # line 4: a key used for another award
        [recipients[2], "team-player", "Thanks!", "Grace", ""],
    ]
    reused_key = ["--idempotency-key", "reused-key"]
    reused = kudos(live_service, "award", new_address(), "mentor", "Hi", "--from", "X", *reused_key)
    assert reused.exit_code == 0, reused.stderr
    path = write_csv(tmp_path / "refused.csv", rows, [*HEADER, "key"])
    before = live_service.award_count()

    result = kudos(live_service, "import", str(path), "--batch-size", "2")

    assert result.exit_code == 1
    assert result.stdout == f"{path}: 4 rows; 2 new, 0 already awarded; 2 refused\n"
    refused_3, refused_4, last = result.stderr.splitlines()
    assert refused_3.startswith("line 3: refused: recipient: no one in the directory has the handle 'nobody-here'")
    assert refused_4 == "line 4: refused: idempotency_key: 'reused-key' was used for another award"
    assert last.startswith("error: the service refused 2 rows")
    assert live_service.award_count() == before + 2
    assert keys_by_recipient(live_service, recipients) == {recipients[0]: 1, recipients[2]: 1}


def test_an_import_shows_a_progress_bar_on_a_terminal(live_service: LiveService, tmp_path: Path):
    path = write_csv(tmp_path / "p.csv", [[new_address(), "team-player", "Thanks!", "Grace"] for _ in range(3)])
    result = kudos(live_service, "import", str(path), "--batch-size", "1", env={"TTY_COMPATIBLE": "1"})
    assert result.exit_code == 0, result.stderr
    assert "sending" in result.stderr
    assert "3/3" in result.stderr
    assert result.stdout == f"{path}: 3 rows; 3 new, 0 already awarded; 0 refused\n"
