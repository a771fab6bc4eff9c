"""What ``/kudos`` reads from the command's text and answers, word for word, without HTTP: the kind and the
message, each refusal the sender alone sees, and the message everyone in the channel sees for a kudos given."""

from __future__ import annotations

import pytest
from kudos_service.api.routes.slack import (
    USAGE,
    _ephemeral,
    _given,
    _kind_and_message,
    _kinds_list,
    _parse,
    _RefusalError,
)
from kudos_service.models import Kind, Recipient

TEAM = Kind(id=1, slug="team-player", name="Team Player", emoji="🤝")
ABOVE = Kind(id=2, slug="above-and-beyond", name="Above  and Beyond", emoji="🚀")  # two spaces in its name
TEAM_LEAD = Kind(id=3, slug="lead", name="Team Player Lead", emoji="⭐")
ODD = Kind(id=4, slug="r-and-d", name="R&D <Hero>", emoji="🧪")
KINDS = [TEAM, ABOVE, TEAM_LEAD, ODD]
LIST = (
    "The kinds: `team-player` (Team Player), `above-and-beyond` (Above  and Beyond), `lead` (Team Player Lead), "
    "`r-and-d` (R&amp;D &lt;Hero&gt;)."
)
ADA = "U0ADA"
SENDER = "U0GRACE"


def refused(text: str, sender: str = SENDER) -> str:
    with pytest.raises(_RefusalError) as caught:
        _parse(KINDS, text, sender)
    return str(caught.value)


def test_the_list_of_kinds_names_each_slug_and_its_name_escaped():
    assert _kinds_list(KINDS) == LIST
    assert _kinds_list([]) == "The kinds: ."


@pytest.mark.parametrize(
    ("rest", "kind", "message"),
    [
        (" team-player Thanks!", TEAM, "Thanks!"),
        (" TEAM-PLAYER thanks", TEAM, "thanks"),
        (" team player: thanks", TEAM, "thanks"),
        (" Team Player, thanks a lot ", TEAM, "thanks a lot"),
        (" team player lead you lead well", TEAM_LEAD, "you lead well"),  # the longest name that matches
        (" above and beyond  wow\nreally", ABOVE, "wow\nreally"),  # spaces in names collapse
        (" above-and-beyond", ABOVE, ""),
        (" r&d <hero> boom", ODD, "boom"),
    ],
)
def test_the_kind_is_the_longest_name_or_slug_at_the_start_and_the_message_follows(rest: str, kind: Kind, message: str):
    assert _kind_and_message(KINDS, rest) == (kind, message)


@pytest.mark.parametrize("rest", ["", " ", " teamplayer thanks", " player team", " thanks team-player"])
def test_no_kind_at_the_start_is_none(rest: str):
    assert _kind_and_message(KINDS, rest) is None
    assert _kind_and_message([], rest) is None


def test_a_command_gives_the_person_the_kind_and_the_plain_message():
    assert _parse(KINDS, f"<@{ADA}|ada> team-player Thanks for <https://x.example|the fix> &amp; more!", SENDER) == (
        ADA,
        TEAM,
        "Thanks for the fix & more!",
    )


@pytest.mark.parametrize("text", ["", "help", "HELP"])
def test_help_or_nothing_is_answered_with_the_usage_and_the_kinds(text: str):
    assert refused(text) == f"{USAGE}.\n{LIST}"


@pytest.mark.parametrize("text", ["@ada team-player hi", "ada", f"<@{ADA}>", f"<@{ADA}>   "])
def test_a_command_without_a_mention_or_a_kind_is_told_how_to_mention(text: str):
    assert refused(text) == f"{USAGE}. Mention the person with @ and pick them from Slack's list.\n{LIST}"


def test_an_unknown_kind_is_named_plainly_and_escaped():
    assert refused(f"<@{ADA}> <https://x.example|rock&star> thanks") == (
        f"`rock&amp;star` is not a kind of kudos. {LIST}\n{USAGE}."
    )


@pytest.mark.parametrize("after", ["", "   ", " \n "])
def test_a_kind_without_words_of_thanks_is_refused(after: str):
    assert refused(f"<@{ADA}> team-player{after}") == f"Add a few words of thanks after the kind. {USAGE}."


def test_a_message_is_measured_as_plain_text_up_to_five_hundred_characters():
    assert _parse(KINDS, f"<@{ADA}> team-player {'a' * 500}", SENDER)[2] == "a" * 500
    assert _parse(KINDS, f"<@{ADA}> team-player {'&amp;' * 500}", SENDER)[2] == "&" * 500
    assert refused(f"<@{ADA}> team-player {'a' * 501}") == "The message is 501 characters long; at most 500."


def test_a_kudos_to_oneself_is_refused():
    assert refused(f"<@{ADA}> team-player me!", sender=ADA) == (
        "Kudos are for someone else: you cannot give one to yourself."
    )


def test_a_refusal_is_for_the_sender_alone():
    assert _ephemeral("no") == {"response_type": "ephemeral", "text": "no"}


def test_a_kudos_given_is_announced_in_the_channel_with_the_wallet_link():
    ada = Recipient(handle="ada", slack_user_id=ADA, wallet_address="0x" + "ab" * 20, display_name="Ada")
    answer = _given(ada, SENDER, ODD, "Great <work> & more\nsecond line", "https://kudos.example")
    text = (
        f"🧪 <@{ADA}> received a *R&amp;D &lt;Hero&gt;* kudos from <@{SENDER}>!\n"
        "> Great &lt;work&gt; &amp; more\n"
        "> second line\n"
        f"<https://kudos.example/wallet/0x{'ab' * 20}|See the wallet>"
    )
    assert answer == {
        "response_type": "in_channel",
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": "A token on chain: it shows in the wallet once confirmed."}],
            },
        ],
    }
    assert _given(ada, SENDER, TEAM, "", "https://k").get("text", "").split("\n")[1] == "> "
