"""``POST /integrations/slack/commands``: ``/kudos @someone <kind> <message>`` from Slack.

Requests are signed here as Slack signs them (HMAC-SHA256 of ``v0:{timestamp}:{body}`` with the app's Signing
Secret), independently of the code under test. The award is followed to the chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx2
import pytest
from eth_utils.crypto import keccak
from fastapi.testclient import TestClient
from kudos_service.api.routes.slack import DEDUPE_WINDOW_SECONDS, SLACK_KEY_PREFIX
from kudos_service.claims.custody import custody_address
from kudos_service.core.config import Settings
from kudos_service.main import create_app
from kudos_service.models import ApiKey, Award, AwardStatus, Recipient
from pydantic import SecretStr
from sqlalchemy import func, select

from tests.service.conftest import CONFIRM_TIMEOUT, Service, assert_error, new_address, start_service

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # Slack's documented example format; a test value
PUBLIC_URL = "https://kudos.example.test"
PATH = "/integrations/slack/commands"


@pytest.fixture(scope="module")
def slack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A running service with the Slack integration configured."""
    with start_service(
        tmp_path_factory.mktemp("kudos-slack"), slack_signing_secret=SECRET, public_url=PUBLIC_URL
    ) as running:
        yield running


# ----------------------------------------------------------------------------------------------------------------
# Building Slack's requests
# ----------------------------------------------------------------------------------------------------------------


def slack_id() -> str:
    return "U" + os.urandom(5).hex().upper()


def form(text: str, *, user_id: str | None = None, user_name: str = "grace", **extra: str) -> str:
    """The form body Slack posts for a slash command."""
    fields = {
        "token": "deprecated-verification-token",
        "team_id": "T0001",
        "team_domain": "acme",
        "channel_id": "C2147483705",
        "channel_name": "general",
        "user_id": user_id or slack_id(),
        "user_name": user_name,
        "command": "/kudos",
        "text": text,
        "api_app_id": "A123456",
        "is_enterprise_install": "false",
        "response_url": "https://hooks.slack.com/commands/1234/5678",
        "trigger_id": f"13345224609.738474920.{os.urandom(16).hex()}",
    }
    fields.update(extra)
    return urlencode(fields)


def sign(body: str, *, secret: str = SECRET, timestamp: int | str | None = None) -> dict[str, str]:
    """Slack's headers for ``body``: its v0 signature, made here with the standard library."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def post(service: Service, body: str, headers: dict[str, str] | None = None) -> httpx2.Response:
    response: httpx2.Response = service.client.post(
        PATH, content=body.encode(), headers=sign(body) if headers is None else headers
    )
    return response


def command(service: Service, text: str, **fields: Any) -> dict[str, Any]:
    """Send a genuinely signed ``/kudos text``; Slack's 200 answer."""
    response = post(service, form(text, **fields))
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def person(service: Service, *, wallet: bool = True, **overrides: Any) -> dict[str, Any]:
    """Someone added to the directory with a Slack user id."""
    tag = os.urandom(4).hex()
    body: dict[str, Any] = {
        "handle": f"p-{tag}",
        "external_id": f"hris-{tag}",
        "display_name": f"Person {tag}",
        "wallet_address": new_address() if wallet else None,
        "slack_user_id": slack_id(),
    } | overrides
    response = service.client.post("/v1/recipients", json=body, headers=service.auth("admin"))
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


def slack_awards(service: Service) -> int:
    with service.state.db.session() as session:
        query = select(func.count()).select_from(Award).join(ApiKey).where(ApiKey.prefix == SLACK_KEY_PREFIX)
        return int(session.scalar(query) or 0)


def confirmed_award(service: Service, address: str) -> Award:
    """The award to ``address``, once confirmed on chain."""
    deadline = time.monotonic() + CONFIRM_TIMEOUT
    while True:
        with service.state.db.session() as session:
            awards = list(session.scalars(select(Award).where(Award.recipient == address)))
        assert len(awards) == 1, awards
        if awards[0].status == AwardStatus.CONFIRMED:
            return awards[0]
        assert awards[0].status != AwardStatus.FAILED, awards[0].failure_reason
        assert time.monotonic() < deadline, "the award was not confirmed in time"
        time.sleep(0.05)


def kind_ids(service: Service) -> dict[str, int]:
    return {kind["slug"]: kind["id"] for kind in service.client.get("/v1/kinds").json()}


def mention(record: dict[str, Any], label: bool = True) -> str:
    user = record["slack_user_id"]
    return f"<@{user}|{record['handle']}>" if label else f"<@{user}>"


# ----------------------------------------------------------------------------------------------------------------
# A kudos given
# ----------------------------------------------------------------------------------------------------------------


def test_a_signed_command_awards_the_kudos_on_chain_and_answers_in_channel(slack: Service):
    ada, grace = person(slack), person(slack)

    answer = command(slack, f"{mention(ada)} team-player Thanks for the launch!", user_id=grace["slack_user_id"])

    assert answer["response_type"] == "in_channel"
    link = f"{PUBLIC_URL}/wallet/{ada['wallet_address']}"
    assert f"<{link}|" in answer["text"]
    assert f"<@{ada['slack_user_id']}>" in answer["text"]
    assert f"<@{grace['slack_user_id']}>" in answer["text"]
    assert "*Team Player*" in answer["text"]
    assert "Thanks for the launch!" in answer["text"]
    assert answer["blocks"][0]["text"]["text"] == answer["text"]

    award = confirmed_award(slack, ada["wallet_address"])
    kudos = slack.ctx.client.kudos(award.token_id or 0)
    assert kudos.owner == ada["wallet_address"]
    assert kudos.kind == kind_ids(slack)["team-player"]
    assert kudos.content_hash == award.content_hash
    metadata = json.loads(award.metadata_json)
    assert metadata["message"] == "Thanks for the launch!"
    assert metadata["awarded_by"] == grace["display_name"]  # the sender, as the directory names them
    assert "recipient_name" not in metadata  # the directory's data of the recipient is not made public
    assert keccak(award.metadata_json) == kudos.content_hash  # the text awarded is the text on chain


def test_a_sender_outside_the_directory_is_named_by_their_slack_user_name(slack: Service):
    ada = person(slack)
    command(slack, f"{mention(ada)} mentor Thank you for the reviews", user_name="margaret")
    award = confirmed_award(slack, ada["wallet_address"])
    assert json.loads(award.metadata_json)["awarded_by"] == "margaret"
    assert award.kind_id == kind_ids(slack)["mentor"]


@pytest.mark.parametrize(
    ("kind", "slug"),
    [
        ("Team Player", "team-player"),
        ("team player", "team-player"),
        ("TEAM-PLAYER", "team-player"),
        ("above and beyond:", "above-and-beyond"),
        ("Mentor", "mentor"),
    ],
)
def test_the_kind_is_a_slug_or_a_name_in_any_case(slack: Service, kind: str, slug: str):
    ada = person(slack)
    answer = command(slack, f"{mention(ada, label=False)} {kind} you rock")
    assert answer["response_type"] == "in_channel", answer
    with slack.state.db.session() as session:
        award = session.scalars(select(Award).where(Award.recipient == ada["wallet_address"])).one()
        assert (award.kind.slug, award.message) == (slug, "you rock")


def test_slack_markup_in_the_message_becomes_plain_text(slack: Service):
    ada = person(slack)
    text = (
        f"{mention(ada)} team-player  for pairing with <@U0BOB|bob> in <#C123|launch> on "
        "<https://docs.example/plan|the plan> &amp; fixing &lt;Header&gt; <!here>\nline two"
    )
    answer = command(slack, text)
    expected = "for pairing with @bob in #launch on the plan & fixing <Header> @here\nline two"
    with slack.state.db.session() as session:
        award = session.scalars(select(Award).where(Award.recipient == ada["wallet_address"])).one()
        assert award.message == expected
    # Echoed back escaped: the message can mention or link no one in Slack.
    echoed = "> for pairing with @bob in #launch on the plan &amp; fixing &lt;Header&gt; @here\n> line two"
    assert echoed in answer["text"]


def test_a_resent_command_awards_once(slack: Service):
    ada = person(slack)
    body = form(f"{mention(ada)} team-player Thanks!")
    before = slack_awards(slack)

    first, again = post(slack, body), post(slack, body)
    # Resent later, so signed with a new timestamp: the same invocation (trigger_id) still awards once.
    later = post(slack, body, sign(body, timestamp=int(time.time()) + 5))

    assert first.status_code == again.status_code == later.status_code == 200
    assert first.json() == again.json() == later.json()
    assert first.json()["response_type"] == "in_channel"
    assert slack_awards(slack) == before + 1
    confirmed_award(slack, ada["wallet_address"])


def test_two_invocations_with_the_same_text_are_two_kudos(slack: Service):
    ada, grace = person(slack), person(slack)
    before = slack_awards(slack)
    for _ in range(2):
        command(slack, f"{mention(ada)} team-player Thanks!", user_id=grace["slack_user_id"])
    assert slack_awards(slack) == before + 2


def test_without_a_trigger_id_the_request_itself_is_the_idempotency_key(slack: Service):
    ada = person(slack)
    body = form(f"{mention(ada)} team-player Thanks!", trigger_id="")
    headers = sign(body)
    before = slack_awards(slack)
    assert post(slack, body, headers).json()["response_type"] == "in_channel"
    assert post(slack, body, headers).json()["response_type"] == "in_channel"
    assert slack_awards(slack) == before + 1


# Without trigger_id, a command is its signed form: the same form within the replay window awards once.


def untriggered(service: Service) -> str:
    """A command's form without ``trigger_id``, to a new person in the directory."""
    return form(f"{mention(person(service))} team-player Thanks!", trigger_id="")


def window_boundary() -> int:
    """The boundary between two replay windows nearest to now (at most half a window away, so a timestamp a few
    seconds either side of it is within the five minutes a signature is valid)."""
    now = int(time.time())
    below = now - now % DEDUPE_WINDOW_SECONDS
    return below if now - below <= DEDUPE_WINDOW_SECONDS // 2 else below + DEDUPE_WINDOW_SECONDS


def two_windows_apart() -> tuple[int, int]:
    """The last second of the window before now's and the first of the window after it: more than a window
    apart, both within the five minutes around now (after waiting a few seconds when now is at a window's edge)."""
    margin = 5
    offset = time.time() % DEDUPE_WINDOW_SECONDS
    if not margin <= offset <= DEDUPE_WINDOW_SECONDS - margin - 1:
        time.sleep((margin - offset) % DEDUPE_WINDOW_SECONDS)
    start = int(time.time()) // DEDUPE_WINDOW_SECONDS * DEDUPE_WINDOW_SECONDS
    return start - 1, start + DEDUPE_WINDOW_SECONDS


def test_without_a_trigger_id_a_command_signed_again_later_awards_once(slack: Service):
    body = untriggered(slack)
    now = int(time.time())
    before = slack_awards(slack)

    first = post(slack, body, sign(body, timestamp=now))
    again = post(slack, body, sign(body, timestamp=now + 2))  # the same form, signed again 1.5 s later

    assert first.status_code == again.status_code == 200
    assert first.json()["response_type"] == "in_channel"
    assert first.json() == again.json()
    assert slack_awards(slack) == before + 1


def test_without_a_trigger_id_a_resend_across_a_window_boundary_awards_once(slack: Service):
    body = untriggered(slack)
    edge = window_boundary()
    before = slack_awards(slack)

    answers = [post(slack, body, sign(body, timestamp=ts)).json() for ts in (edge - 1, edge + 1, edge + 3)]

    assert answers[0]["response_type"] == "in_channel"
    assert answers[0] == answers[1] == answers[2]
    assert slack_awards(slack) == before + 1


def test_without_a_trigger_id_the_same_form_after_the_window_awards_again(slack: Service):
    body = untriggered(slack)
    early, late = two_windows_apart()
    before = slack_awards(slack)

    for ts in (early, late, late + 1):
        assert post(slack, body, sign(body, timestamp=ts)).json()["response_type"] == "in_channel"

    assert late - early > DEDUPE_WINDOW_SECONDS
    assert slack_awards(slack) == before + 2  # the last one, in the window of the second, is its resend


def test_without_a_trigger_id_two_invocations_are_two_kudos(slack: Service):
    ada, grace = person(slack), person(slack)
    text = f"{mention(ada)} team-player Thanks!"
    before = slack_awards(slack)
    for n in range(2):  # Slack gives each invocation its own response_url
        url = f"https://hooks.slack.com/commands/1234/{n}"
        command(slack, text, user_id=grace["slack_user_id"], trigger_id="", response_url=url)
    assert slack_awards(slack) == before + 2


def test_without_a_trigger_id_a_form_encoded_another_way_is_the_same_command(slack: Service):
    body = untriggered(slack)
    reordered = "&".join(reversed(body.split("&"))).replace("+", "%20")
    assert reordered != body
    before = slack_awards(slack)
    post(slack, body)
    post(slack, reordered)
    assert slack_awards(slack) == before + 1


def test_the_integrations_key_row_cannot_be_used_over_http(slack: Service):
    command(slack, f"{mention(person(slack))} team-player Thanks!")
    with slack.state.db.session() as session:
        key = session.scalars(select(ApiKey).where(ApiKey.prefix == SLACK_KEY_PREFIX)).one()
        assert key.scope_set == frozenset()
    for attempt in ("slack", f"kudos_{SLACK_KEY_PREFIX}_x", f"kudos_{SLACK_KEY_PREFIX}0000000_x"):
        response = slack.client.post(
            "/v1/awards",
            json={"recipient": new_address(), "kind": 1, "message": "m", "awarded_by": "x"},
            headers={"Authorization": f"Bearer {attempt}", "Idempotency-Key": os.urandom(4).hex()},
        )
        assert_error(response, 401, "unauthorized")


# ----------------------------------------------------------------------------------------------------------------
# What the sender alone is told
# ----------------------------------------------------------------------------------------------------------------


def refused(service: Service, text: str, **fields: Any) -> str:
    """The ephemeral answer to ``/kudos text``, asserting that nothing was awarded."""
    before = slack_awards(service)
    answer = command(service, text, **fields)
    assert answer["response_type"] == "ephemeral", answer
    assert set(answer) == {"response_type", "text"}
    assert slack_awards(service) == before
    text_out: str = answer["text"]
    return text_out


def test_someone_not_in_the_directory_is_explained(slack: Service):
    text = refused(slack, "<@U0NOBODY|nobody> team-player Thanks!")
    assert "<@U0NOBODY> is not in the kudos directory" in text
    assert "U0NOBODY" in text


def test_someone_without_a_wallet_has_the_kudos_held_for_them(slack: Service):
    ada = person(slack, wallet=False)
    answer = command(slack, f"{mention(ada)} team-player Thanks!")
    assert answer["response_type"] == "in_channel"
    assert "/wallet/" not in answer["text"]  # no wallet to link to
    assert "kept for them until they claim it" in answer["blocks"][1]["elements"][0]["text"]
    assert ada["display_name"] not in answer["text"]
    custody = custody_address(slack.ctx.chain.chain_id, slack.ctx.client.address)
    award = confirmed_award(slack, custody)
    assert slack.ctx.client.kudos(award.token_id or 0).owner == custody
    with slack.state.db.session() as session:
        held_for = session.get_one(Recipient, award.held_for_id)
        assert held_for.handle == ada["handle"]


def test_an_unknown_kind_is_explained_with_the_list_of_kinds(slack: Service):
    ada = person(slack)
    text = refused(slack, f"{mention(ada)} rockstar Thanks!")
    assert "`rockstar` is not a kind of kudos" in text
    for kind in slack.client.get("/v1/kinds").json():
        assert f"`{kind['slug']}`" in text


@pytest.mark.parametrize(
    "text",
    ["", "help", "team-player Thanks!", "@ada team-player Thanks!", "ada team-player Thanks!", "<@U0ADA|ada>"],
)
def test_a_malformed_command_is_answered_with_the_usage(slack: Service, text: str):
    answer = refused(slack, text)
    assert "Usage: `/kudos @someone <kind> <message>`" in answer
    assert "`team-player`" in answer


def test_a_kind_without_a_message_is_explained(slack: Service):
    assert "Add a few words of thanks" in refused(slack, f"{mention(person(slack))} team-player")


def test_a_message_over_500_characters_is_explained(slack: Service):
    assert "at most 500" in refused(slack, f"{mention(person(slack))} team-player {'a' * 501}")


def test_a_kudos_to_oneself_is_refused(slack: Service):
    ada = person(slack)
    assert "yourself" in refused(slack, f"{mention(ada)} team-player me!", user_id=ada["slack_user_id"])


# ----------------------------------------------------------------------------------------------------------------
# Refused before anything is read: signatures and timestamps
# ----------------------------------------------------------------------------------------------------------------


def valid_body(service: Service) -> str:
    return form(f"{mention(person(service))} team-player Thanks!")


def test_a_forged_signature_is_401(slack: Service):
    body = valid_body(slack)
    before = slack_awards(slack)
    assert_error(post(slack, body, sign(body, secret="not-the-secret")), 401, "invalid_slack_signature")
    assert slack_awards(slack) == before


def test_a_body_changed_after_signing_is_401(slack: Service):
    body = valid_body(slack)
    headers = sign(body)
    assert_error(post(slack, body.replace("team-player", "mentor"), headers), 401, "invalid_slack_signature")


@pytest.mark.parametrize("age", [301, 600, -301, -3600])
def test_a_timestamp_more_than_five_minutes_away_is_401(slack: Service, age: int):
    body = valid_body(slack)
    response = post(slack, body, sign(body, timestamp=int(time.time()) - age))
    assert_error(response, 401, "stale_slack_request")


def test_a_timestamp_four_minutes_old_is_accepted(slack: Service):
    body = valid_body(slack)
    response = post(slack, body, sign(body, timestamp=int(time.time()) - 240))
    assert response.status_code == 200, response.text
    assert response.json()["response_type"] == "in_channel"


@pytest.mark.parametrize("missing", ["X-Slack-Request-Timestamp", "X-Slack-Signature"])
def test_a_missing_header_is_401(slack: Service, missing: str):
    body = valid_body(slack)
    headers = sign(body)
    del headers[missing]
    assert_error(post(slack, body, headers), 401, "invalid_slack_signature")


@pytest.mark.parametrize("timestamp", ["soon", "1e9", "-5", "", "+{now}", "{now}.0", "0x{now}"])
def test_a_timestamp_that_is_not_unix_time_is_401(slack: Service, timestamp: str):
    body = valid_body(slack)
    headers = sign(body, timestamp=timestamp.format(now=int(time.time())))  # signed, with that very timestamp
    assert_error(post(slack, body, headers), 401, "invalid_slack_signature")


def test_a_body_that_is_not_utf8_is_401(slack: Service):
    body = b"text=\xff\xfe"
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}
    response = slack.client.post(PATH, content=body, headers=headers)
    assert_error(response, 401, "invalid_slack_signature")


def test_a_signed_body_that_is_not_a_form_is_415(slack: Service):
    body = json.dumps({"text": "hello"})
    headers = sign(body) | {"Content-Type": "application/json"}
    assert_error(post(slack, body, headers), 415, "unsupported_media_type")


def test_slacks_ssl_check_is_answered(slack: Service):
    response = slack.client.post(PATH, content=b"ssl_check=1&token=x", headers={"Content-Type": "x"})
    assert response.status_code == 200
    assert response.json() == {}


def test_the_signing_secret_is_never_echoed_or_logged(slack: Service, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    body = valid_body(slack)
    answers = [
        post(slack, body).text,
        post(slack, body, sign(body, secret="wrong")).text,
        post(slack, body, sign(body, timestamp=1)).text,
        slack.client.get("/openapi.json").text,
    ]
    assert all(SECRET not in text for text in answers)
    assert SECRET not in caplog.text
    assert SECRET not in repr(slack.state.settings)
    assert SECRET not in str(slack.state.settings.model_dump())


# ----------------------------------------------------------------------------------------------------------------
# Not configured
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [None, "", "   "])
def test_without_a_signing_secret_the_endpoint_is_404(tmp_path: Path, secret: str | None):
    # No lifespan: the endpoint answers before it would need the chain.
    signing_secret = None if secret is None else SecretStr(secret)
    settings = Settings(data_dir=tmp_path, rpc_url=None, database_url=None, slack_signing_secret=signing_secret)
    app = create_app(settings)
    try:
        client = TestClient(app)
        body = form("<@U0ADA|ada> team-player Thanks!")
        assert_error(client.post(PATH, content=body.encode(), headers=sign(body)), 404, "not_found")
        assert_error(client.post(PATH, content=b""), 404, "not_found")
    finally:
        app.state.kudos.db.dispose()
