"""Slack's request signature as the service checks it, and the command text as it reads it, without HTTP.

Requests are signed here as Slack signs them (HMAC-SHA256 of ``v0:{timestamp}:{body}``), with the standard
library. The clock is fixed where a test sits on the five-minute boundary, so that it cannot pass or fail by the
second the test happens to run in.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest
import slack_sdk.signature
from kudos_service.api.errors import ApiError
from kudos_service.api.routes.slack import (
    MAX_SKEW_SECONDS,
    Command,
    _escape,
    _form,
    _form_digest,
    _form_key,
    _plain,
    _verify,
    parse_command,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_900_000_000


def signed(body: bytes, timestamp: str, *, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"x-slack-request-timestamp": timestamp, "x-slack-signature": f"v0={digest}"}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> int:
    """The clock of the service and of slack-sdk, stopped at :data:`NOW`."""
    monkeypatch.setattr(time, "time", lambda: float(NOW))
    monkeypatch.setattr(slack_sdk.signature, "time", lambda: float(NOW))  # its own ``from time import time``
    return NOW


def refusal(body: bytes, headers: dict[str, str]) -> tuple[int, str, str]:
    with pytest.raises(ApiError) as caught:
        _verify(SECRET, body, headers)
    return caught.value.status, caught.value.code, caught.value.message


# ----------------------------------------------------------------------------------------------------------------
# The signature
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("skew", [0, 1, -1, MAX_SKEW_SECONDS, -MAX_SKEW_SECONDS])
def test_a_genuine_signature_within_five_minutes_gives_its_timestamp(clock: int, skew: int):
    body = b"command=%2Fkudos&text=hi"
    timestamp = str(clock - skew)
    assert _verify(SECRET, body, signed(body, timestamp)) == timestamp


@pytest.mark.parametrize("skew", [MAX_SKEW_SECONDS + 1, -MAX_SKEW_SECONDS - 1, NOW - 1])
def test_a_timestamp_more_than_five_minutes_away_is_stale(clock: int, skew: int):
    body = b"text=hi"
    assert refusal(body, signed(body, str(clock - skew))) == (
        401,
        "stale_slack_request",
        "the request's timestamp is more than five minutes from now",
    )


@pytest.mark.parametrize("missing", ["x-slack-request-timestamp", "x-slack-signature"])
@pytest.mark.parametrize("empty", [False, True])
def test_without_both_headers_nothing_is_checked(clock: int, missing: str, empty: bool):
    body = b"text=hi"
    headers = signed(body, str(clock))
    if empty:
        headers[missing] = ""
    else:
        del headers[missing]
    assert refusal(body, headers) == (
        401,
        "invalid_slack_signature",
        "X-Slack-Request-Timestamp and X-Slack-Signature headers are needed",
    )


@pytest.mark.parametrize("timestamp", ["soon", f"{NOW}.0", f" {NOW}", f"-{NOW}", "1" * 13, f"0x{NOW:x}"])
def test_a_timestamp_that_is_not_unix_time_is_refused_even_when_signed(clock: int, timestamp: str):
    body = b"text=hi"
    assert refusal(body, signed(body, timestamp)) == (
        401,
        "invalid_slack_signature",
        "X-Slack-Request-Timestamp is not a Unix time",
    )


def test_a_twelve_digit_timestamp_is_read_as_unix_time(clock: int):
    body = b"text=hi"
    far = "0" * 2 + str(clock)  # 12 digits, the same second
    assert _verify(SECRET, body, signed(body, far)) == far


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"text=hi", signed(b"text=hi", str(NOW), secret="another secret")),
        (b"text=hi!", signed(b"text=hi", str(NOW))),
        (b"text=hi", signed(b"text=hi", str(NOW - 1)) | {"x-slack-request-timestamp": str(NOW)}),  # another second
        (b"text=\xff\xfe", signed(b"text=\xff\xfe", str(NOW))),  # not UTF-8: slack-sdk signs text
    ],
    ids=["another secret", "another body", "another timestamp", "not utf-8"],
)
def test_any_other_signature_is_refused_in_the_same_words(clock: int, body: bytes, headers: dict[str, str]):
    assert refusal(body, headers) == (401, "invalid_slack_signature", "the request's signature is not valid")


# ----------------------------------------------------------------------------------------------------------------
# The form and the command text
# ----------------------------------------------------------------------------------------------------------------


def test_the_form_gives_the_first_value_of_each_field_blank_ones_included():
    assert _form(b"text=a+b%21&user_id=U1&text=second&empty=&bad=%ff") == {
        "text": "a b!",
        "user_id": "U1",
        "empty": "",
        "bad": "\ufffd",
    }


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("<@U123ABC|ada> team-player Thanks!", Command("U123ABC", ["team-player", "Thanks!"], " team-player Thanks!")),
        ("  <@W9> mentor  two\nlines", Command("W9", ["mentor", "two", "lines"], " mentor  two\nlines")),
        ("<@U1>", Command("U1", [], "")),
    ],
)
def test_a_command_is_the_mention_and_what_follows(text: str, command: Command):
    assert parse_command(text) == command


@pytest.mark.parametrize("text", ["", "help", "@ada team-player hi", "<#C1|general> hi", "<@u1> lower", "x <@U1> hi"])
def test_a_text_that_does_not_start_with_a_mention_is_no_command(text: str):
    assert parse_command(text) is None


@pytest.mark.parametrize(
    ("markup", "plain"),
    [
        ("<@U1|ada> helped", "@ada helped"),
        ("<@U1|@ada>", "@ada"),
        ("<@U1>", "@U1"),
        ("<#C1|general>", "#general"),
        ("<#C1|#general>", "#general"),
        ("<#C1>", "#C1"),
        ("<!here> all", "@here all"),
        ("<!subteam^S1|@team>", "@team"),
        ("<!subteam^S1>", "@subteam"),
        ("<!date^1392734382^{date}|Feb 18>", "Feb 18"),
        ("<https://example.com|the docs>", "the docs"),
        ("<https://example.com>", "https://example.com"),
        ("<mailto:ada@example.com>", "ada@example.com"),
        ("<mailto:ada@example.com|Ada>", "Ada"),
        ("1 &lt; 2 &amp;&amp; 3 &gt; 2", "1 < 2 && 3 > 2"),
        ("&amp;lt;", "&lt;"),
    ],
)
def test_slack_markup_is_read_as_plain_text(markup: str, plain: str):
    assert _plain(markup) == plain


def test_text_shown_in_slack_cannot_mention_or_link():
    assert _escape("<@U1> & <!here> <https://x>") == "&lt;@U1&gt; &amp; &lt;!here&gt; &lt;https://x&gt;"
    assert _escape("&lt;") == "&amp;lt;"


# ----------------------------------------------------------------------------------------------------------------
# The key of a command without trigger_id
# ----------------------------------------------------------------------------------------------------------------


def test_a_form_is_the_same_command_whatever_its_encoding_or_field_order():
    one = _form_digest(b"text=thanks+a+lot&user_id=U1&response_url=https%3A%2F%2Fh%2F1")
    assert one == _form_digest(b"user_id=U1&response_url=https://h/1&text=thanks%20a%20lot")
    assert one != _form_digest(b"text=thanks+a+lot&user_id=U1&response_url=https%3A%2F%2Fh%2F2")
    assert one != _form_digest(b"text=thanks+a+lot&user_id=U1&response_url=https%3A%2F%2Fh%2F1&extra=")
    expected = hashlib.sha256(
        b'[["response_url", "https://h/1"], ["text", "thanks a lot"], ["user_id", "U1"]]'
    ).hexdigest()
    assert one == expected


def test_a_forms_key_is_per_window():
    digest = "ab" * 32
    key = _form_key(digest, 7)
    assert key == "slack-form-" + hashlib.sha256(f"7\n{digest}".encode()).hexdigest()
    assert key != _form_key(digest, 8)
    assert key != _form_key("cd" * 32, 7)
