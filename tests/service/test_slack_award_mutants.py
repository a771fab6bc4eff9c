"""``/kudos`` from the form on, without HTTP: what :func:`kudos_service.api.routes.slack._handle` answers and
whether it created an award, for the edges the mutation run of ``api/routes/slack.py`` found untested (a form
without a sender or a text, a long sender name, a command handled already, a kudos that cannot be held yet), and
which commands wait for one another.

A state of its own (an embedded chain, not opened: no contract is deployed), people added straight to its database.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from kudos_service.api.routes import slack
from kudos_service.api.routes.slack import USAGE, _handle
from kudos_service.core.config import Settings
from kudos_service.models import Award, Kind, Recipient
from kudos_service.state import AppState, build_state
from sqlalchemy import select

NOW = "1900000000"


@pytest.fixture
def state(tmp_path: Path) -> Iterator[AppState]:
    built = build_state(Settings(data_dir=tmp_path / "data", rpc_url=None, database_url=None))
    try:
        yield built
    finally:
        built.db.dispose()


def person(state: AppState, *, wallet: bool = True) -> Recipient:
    tag = os.urandom(4).hex()
    with state.db.session() as session:
        row = Recipient(
            handle=f"p-{tag}",
            external_id=f"hris-{tag}",
            display_name=f"Person {tag}",
            wallet_address="0x" + os.urandom(20).hex() if wallet else None,
            slack_user_id="U" + tag.upper(),
        )
        session.add(row)
        session.flush()
        session.expunge(row)
    return row


def send(state: AppState, fields: dict[str, str]) -> tuple[dict[str, Any], bool]:
    raw = urlencode(fields).encode()
    answer = _handle(state, fields, raw, NOW)
    return answer.body, answer.created


def awards(state: AppState) -> list[Award]:
    with state.db.session() as session:
        found = list(session.scalars(select(Award)))
        for award in found:
            session.expunge(award)
        return found


def text_for(who: Recipient, message: str = "Thanks!") -> str:
    return f"<@{who.slack_user_id}> team-player {message}"


def test_a_new_award_is_created_once_and_its_resend_is_not(state: AppState):
    ada = person(state)
    fields = {"user_id": "U0GRACE", "user_name": "grace", "text": text_for(ada), "trigger_id": "t.1"}
    first, created = send(state, fields)
    again, created_again = send(state, fields)
    assert first["response_type"] == "in_channel"
    assert again == first
    assert (created, created_again) == (True, False)  # the worker is woken for the first alone
    assert len(awards(state)) == 1


def test_a_form_without_a_text_is_answered_with_the_usage(state: AppState):
    body, created = send(state, {"user_id": "U0GRACE", "trigger_id": "t.2"})
    with state.db.session() as session:
        kinds = list(session.scalars(select(Kind).order_by(Kind.id)))
    listed = ", ".join(f"`{k.slug}` ({k.name})" for k in kinds)
    assert body == {"response_type": "ephemeral", "text": f"{USAGE}.\nThe kinds: {listed}."}
    assert created is False


def test_a_form_without_a_sender_cannot_be_given_as_written(state: AppState):
    ada = person(state)
    body, created = send(state, {"text": text_for(ada), "trigger_id": "t.3"})  # no user_id, no user_name
    assert body == {"response_type": "ephemeral", "text": f"This kudos cannot be given as written. {USAGE}."}
    assert created is False
    assert awards(state) == []


def test_a_sender_s_long_slack_name_is_cut_to_two_hundred_characters(state: AppState):
    ada = person(state)
    name = "g" * 250
    body, created = send(state, {"user_id": "U0GRACE", "user_name": name, "text": text_for(ada), "trigger_id": "t.4"})
    assert body["response_type"] == "in_channel"
    assert created is True
    (award,) = awards(state)
    assert award.awarded_by == "g" * 200


def test_the_same_trigger_with_another_text_was_handled_already(state: AppState):
    ada = person(state)
    fields = {"user_id": "U0GRACE", "user_name": "grace", "text": text_for(ada), "trigger_id": "t.5"}
    send(state, fields)
    body, created = send(state, fields | {"text": text_for(ada, "Another message")})
    assert body == {"response_type": "ephemeral", "text": "This command was handled already."}
    assert created is False
    assert len(awards(state)) == 1


def test_a_kudos_that_cannot_be_held_yet_is_explained(state: AppState):
    ada = person(state, wallet=False)  # held for them: only once the service has its contract, which it has not
    body, created = send(state, {"user_id": "U0GRACE", "text": text_for(ada), "trigger_id": "t.6"})
    assert body == {
        "response_type": "ephemeral",
        "text": "The kudos could not be given: a kudos can be held only once the service has its contract.",
    }
    assert created is False


def test_only_commands_keyed_by_their_form_wait_for_one_another(state: AppState):
    ada = person(state)
    base = {"user_id": "U0GRACE", "user_name": "grace", "text": text_for(ada)}
    done: dict[str, threading.Event] = {"trigger": threading.Event(), "form": threading.Event()}

    def run(name: str, fields: dict[str, str]) -> None:
        send(state, fields)
        done[name].set()

    with slack._BODY_KEYED:  # a form-keyed command being handled
        triggered = threading.Thread(target=run, args=("trigger", base | {"trigger_id": "t.7"}))
        keyed_by_form = threading.Thread(target=run, args=("form", base | {"response_url": "https://h/1"}))
        triggered.start()
        keyed_by_form.start()
        assert done["trigger"].wait(10)  # a trigger_id is its own key: it does not wait
        assert not done["form"].wait(0.3)  # the next form-keyed one waits its turn
    assert done["form"].wait(10)
    triggered.join()
    keyed_by_form.join()
    assert len(awards(state)) == 2
