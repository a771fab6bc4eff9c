"""Slack's commands at the edges the mutation run of ``kudos_service/api/routes/slack.py`` found untested: the
idempotency keys as they are stored (a command with a ``trigger_id`` is keyed by its workspace and trigger alone,
whatever its form and timestamp; the hash of a form with non-ASCII text is of its UTF-8 JSON), a mention's label
read as plain text, the integration's own key row as ``kudos keys list`` shows it, and the channel's message for a
kudos held for someone without a wallet.

Keys are stored with the awards: a resend that arrives after an upgrade is recognised only if the key is derived
the same way, so the derivations are pinned here (as ``test_slack_signature.py`` pins the form's ASCII hash).
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from kudos_service.api.routes.slack import (
    DEDUPE_WINDOW_SECONDS,
    SLACK_KEY_PREFIX,
    _form_digest,
    _given,
    _idempotency_key,
    _plain,
    slack_api_key,
)
from kudos_service.core.db import Database
from kudos_service.core.security import hash_secret
from kudos_service.keys import list_keys
from kudos_service.models import ApiKey, Kind, Recipient
from sqlalchemy import event
from sqlalchemy.orm import Session

TRIGGER = "13345224609.738474920.8088930838d88f008e0"
NOW = 1_900_000_000


def trigger_key(team: str, trigger: str) -> str:
    return "slack-" + hashlib.sha256(f"trigger\n{team}\n{trigger}".encode()).hexdigest()


def key_of(form: dict[str, str], body: bytes = b"text=hi", timestamp: int = NOW) -> str:
    # a command with a trigger_id never reads the database: no session nor API key is needed
    none: Any = None
    return _idempotency_key(none, none, form, body, str(timestamp))


def test_a_command_with_a_trigger_id_is_keyed_by_its_workspace_and_trigger():
    form = {"team_id": "T0001", "trigger_id": TRIGGER, "text": "<@U1> team-player Thanks!"}
    assert key_of(form) == trigger_key("T0001", TRIGGER)


def test_a_resend_of_a_triggered_command_has_its_key_in_any_window_and_with_any_form():
    form = {"team_id": "T0001", "trigger_id": TRIGGER, "text": "<@U1> team-player Thanks!"}
    first = key_of(form, b"text=one", NOW)
    later = NOW + 3 * DEDUPE_WINDOW_SECONDS  # signed again much later: a form-keyed command would award again
    assert key_of(form, b"text=two&response_url=elsewhere", later) == first


def test_the_same_trigger_id_in_two_workspaces_is_two_commands():
    one = key_of({"team_id": "T0001", "trigger_id": TRIGGER})
    other = key_of({"team_id": "T0002", "trigger_id": TRIGGER})
    assert one != other
    assert other == trigger_key("T0002", TRIGGER)


def test_a_triggered_command_without_a_team_id_is_keyed_with_an_empty_workspace():
    assert key_of({"trigger_id": TRIGGER}) == trigger_key("", TRIGGER)
    assert key_of({"trigger_id": TRIGGER, "team_id": ""}) == trigger_key("", TRIGGER)


def test_the_hash_of_a_form_with_non_ascii_text_is_of_its_utf8_json():
    digest = _form_digest(b"text=d%C3%A9j%C3%A0+vu+%E2%9C%A8&user_id=U1")
    expected = '[["text", "déjà vu ✨"], ["user_id", "U1"]]'.encode()
    assert digest == hashlib.sha256(expected).hexdigest()
    assert digest != hashlib.sha256(b'[["text", "d\\u00e9j\\u00e0 vu \\u2728"], ["user_id", "U1"]]').hexdigest()


@pytest.mark.parametrize(
    ("markup", "plain"),
    [
        ("<@U1|Xavier> and <#C1|XR-team>", "@Xavier and #XR-team"),  # only the @ or # before a label goes
        ("<@U1|@Xena>", "@Xena"),
    ],
)
def test_a_mention_s_label_is_kept_whole(markup: str, plain: str):
    assert _plain(markup) == plain


def test_the_integration_s_key_row_is_made_once_and_listed_with_what_it_is(db: Database):
    first = slack_api_key(db)
    again = slack_api_key(db)
    assert again.id == first.id
    with db.session() as session:
        (row,) = [key for key in list_keys(session) if key.prefix == SLACK_KEY_PREFIX]
        assert row.id == first.id
        assert row.name == "Slack /kudos (internal; cannot be used over HTTP)"  # what `kudos keys list` shows
        assert row.scopes == ""
        assert row.secret_hash not in (hash_secret(""), hash_secret(SLACK_KEY_PREFIX))  # random: no key hashes to it


def test_two_first_commands_at_once_share_the_row_the_other_made(db: Database):
    """The race of two first commands, made to happen: the other request's row is written and committed on a
    connection of its own just before this one's INSERT, which then fails on the unique prefix."""
    other: list[int] = []

    def the_other_request_first(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT INTO api_keys") and not other:
            other.append(0)
            with Session(db.engine) as session:  # a connection of its own: another request's session
                row = ApiKey(prefix=SLACK_KEY_PREFIX, secret_hash=b"\x00" * 32, scopes="", name="made first")
                session.add(row)
                session.commit()
                other[0] = row.id

    event.listen(db.engine, "before_cursor_execute", the_other_request_first)
    try:
        key = slack_api_key(db)
    finally:
        event.remove(db.engine, "before_cursor_execute", the_other_request_first)
    assert other[0] > 0
    assert (key.id, key.name) == (other[0], "made first")
    with db.session() as session:
        assert [k.id for k in list_keys(session) if k.prefix == SLACK_KEY_PREFIX] == [other[0]]


def test_a_kudos_held_for_someone_without_a_wallet_is_announced_without_a_wallet_link():
    kind = Kind(id=1, slug="team-player", name="Team Player", emoji="🤝")
    ada = Recipient(handle="ada", slack_user_id="U0ADA", wallet_address=None, display_name="Ada")
    answer = _given(ada, "U0GRACE", kind, "Thanks & more", "https://kudos.example")
    text = "🤝 <@U0ADA> received a *Team Player* kudos from <@U0GRACE>!\n> Thanks &amp; more"
    note = "A token on chain, kept for them until they claim it into a wallet of their own."
    assert answer == {
        "response_type": "in_channel",
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]},
        ],
    }
