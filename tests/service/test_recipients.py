"""The directory, ``POST /v1/recipients`` and ``GET /v1/recipients/{handle}`` (``admin`` scope: personal data), and
awards to ``@handle``: delivered to the person's wallet, refused by name for an unknown handle or a person without a
wallet, and the directory's data never shown on the public endpoints."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx2
import pytest
from kudos_service.claims.custody import custody_address

from tests.service.conftest import Service, assert_error, award_body, new_address

#: 0x52908400098527886E0F7030069857D2E4169EE7 (EIP-55's example) with one letter's case changed.
BAD_CHECKSUM = "0x52908400098527886e0F7030069857D2E4169EE7"


def person(**overrides: Any) -> dict[str, Any]:
    """A new person for the directory: unique handle, external id and Slack user id, and a fresh wallet."""
    tag = os.urandom(4).hex()
    body: dict[str, Any] = {
        "handle": f"ada.{tag}",
        "external_id": f"hris-{tag}",
        "display_name": f"Ada Lovelace {tag}",
        "wallet_address": new_address(),
        "slack_user_id": f"U{tag.upper()}",
    }
    body.update(overrides)
    return body


def add(service: Service, body: dict[str, Any], *, scope: str = "admin") -> httpx2.Response:
    response: httpx2.Response = service.client.post("/v1/recipients", json=body, headers=service.auth(scope))
    return response


def added(service: Service, **overrides: Any) -> dict[str, Any]:
    """A person added to the directory; their record as the API returns it."""
    response = add(service, person(**overrides))
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


# ----------------------------------------------------------------------------------------------------------------
# The directory
# ----------------------------------------------------------------------------------------------------------------


def test_a_person_is_added_and_read_back_by_an_admin(service: Service):
    body = person(show_name=True)
    response = add(service, body)

    assert response.status_code == 201, response.text
    created = response.json()
    assert {k: created[k] for k in body} == body
    fetched = service.client.get(f"/v1/recipients/{body['handle']}", headers=service.auth("admin"))
    assert fetched.status_code == 200, fetched.text
    assert fetched.json() == created
    assert datetime.fromisoformat(created["created_at"]).utcoffset() is not None


def test_the_optional_fields_default_to_no_wallet_no_slack_no_public_name_and_unlisted(service: Service):
    body = person()
    del body["wallet_address"], body["slack_user_id"]
    created = add(service, body).json()
    assert (created["wallet_address"], created["slack_user_id"], created["show_name"]) == (None, None, False)
    assert created["listed"] is False


def test_handles_are_case_insensitive_and_stored_in_lower_case(service: Service):
    tag = os.urandom(4).hex()
    created = added(service, handle=f"Grace.Hopper-{tag}")
    assert created["handle"] == f"grace.hopper-{tag}"
    fetched = service.client.get(f"/v1/recipients/GRACE.HOPPER-{tag}", headers=service.auth("admin"))
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["handle"] == created["handle"]


def test_a_mixed_case_wallet_is_checked_and_a_lower_case_one_checksummed(service: Service):
    address = new_address()
    assert added(service, wallet_address=address.lower())["wallet_address"] == address


def test_an_unknown_handle_is_404(service: Service):
    response = service.client.get("/v1/recipients/nobody-here", headers=service.auth("admin"))
    assert_error(response, 404, "recipient_not_found")


@pytest.mark.parametrize("scope", ["award", "revoke"])
def test_keys_without_the_admin_scope_are_403(service: Service, scope: str):
    body = person()
    assert_error(add(service, body, scope=scope), 403, "forbidden")
    handle = added(service)["handle"]
    response = service.client.get(f"/v1/recipients/{handle}", headers=service.auth(scope))
    assert_error(response, 403, "forbidden")
    missing = service.client.get(f"/v1/recipients/{body['handle']}", headers=service.auth("admin"))
    assert_error(missing, 404, "recipient_not_found")  # the refused POST wrote nothing


@pytest.mark.parametrize("authorization", [None, "Bearer kudos_000000000000_wrong", "Basic abc"])
def test_no_key_or_a_bad_key_is_401(service: Service, authorization: str | None):
    headers = {} if authorization is None else {"Authorization": authorization}
    assert_error(service.client.post("/v1/recipients", json=person(), headers=headers), 401, "unauthorized")
    handle = added(service)["handle"]
    assert_error(service.client.get(f"/v1/recipients/{handle}", headers=headers), 401, "unauthorized")


def test_no_key_is_401_before_a_bad_body(service: Service):
    response = service.client.post("/v1/recipients", content=b"not json", headers={"Content-Type": "text/plain"})
    assert_error(response, 401, "unauthorized")


@pytest.mark.parametrize("field", ["handle", "external_id", "slack_user_id"])
def test_a_taken_handle_external_id_or_slack_id_is_409(service: Service, field: str):
    first = added(service)
    again = person(**{field: first[field].upper() if field == "handle" else first[field]})

    error = assert_error(add(service, again), 409, "recipient_exists")
    assert error["details"] == [{"field": field, "message": "taken"}]
    kept = service.client.get(f"/v1/recipients/{first['handle']}", headers=service.auth("admin"))
    assert kept.json() == first
    if field != "handle":
        missing = service.client.get(f"/v1/recipients/{again['handle']}", headers=service.auth("admin"))
        assert_error(missing, 404, "recipient_not_found")


def test_every_taken_field_is_named(service: Service):
    first = added(service)
    again = {k: first[k] for k in ("handle", "external_id", "slack_user_id")} | {"display_name": "Someone"}
    error = assert_error(add(service, person(**again)), 409, "recipient_exists")
    assert [d["field"] for d in error["details"]] == ["handle", "external_id", "slack_user_id"]


def test_concurrent_adds_of_one_person_make_one_record_and_409s(service: Service):
    body = person()
    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(lambda _: add(service, body).status_code, range(8)))
    assert statuses == [201] + [409] * 7


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"wallet_address": BAD_CHECKSUM}, "wallet_address"),
        ({"wallet_address": "0x1234"}, "wallet_address"),
        ({"wallet_address": "0x" + "0" * 40}, "wallet_address"),
        ({"handle": "ada lovelace"}, "handle"),
        ({"handle": "-ada"}, "handle"),
        ({"handle": "@ada"}, "handle"),
        ({"handle": "a" * 65}, "handle"),
        ({"handle": ""}, "handle"),
        ({"slack_user_id": "u123abc"}, "slack_user_id"),
        ({"slack_user_id": "C123ABC"}, "slack_user_id"),
        ({"external_id": "  "}, "external_id"),
        ({"display_name": ""}, "display_name"),
        ({"show_name": "maybe"}, "show_name"),
        ({"email": "ada@"}, "email"),
        ({"email": "ada example.com"}, "email"),
        ({"email": "a" * 250 + "@example.com"}, "email"),
        ({"emails": "ada@example.com"}, "emails"),
    ],
)
def test_an_invalid_field_is_422_and_named(service: Service, overrides: dict[str, Any], field: str):
    error = assert_error(add(service, person(**overrides)), 422, "invalid_request")
    assert [d["field"] for d in error["details"]] == [field]


@pytest.mark.parametrize("missing", ["handle", "external_id", "display_name"])
def test_a_missing_required_field_is_422(service: Service, missing: str):
    body = person()
    del body[missing]
    error = assert_error(add(service, body), 422, "invalid_request")
    assert [d["field"] for d in error["details"]] == [missing]


def test_a_body_that_is_not_json_is_415(service: Service):
    response = service.client.post(
        "/v1/recipients", content=b"handle=ada", headers=service.auth("admin", **{"Content-Type": "text/plain"})
    )
    assert_error(response, 415, "unsupported_media_type")


# ----------------------------------------------------------------------------------------------------------------
# Awards to @handle
# ----------------------------------------------------------------------------------------------------------------


def test_an_award_to_a_handle_is_confirmed_to_their_wallet(service: Service):
    someone = added(service)
    response = service.post_award(award_body(recipient="@" + someone["handle"].upper(), kind="mentor"))

    assert response.status_code == 202, response.text
    assert response.json()["recipient"] == someone["wallet_address"]
    award = service.wait_confirmed(response.json()["id"])
    assert award["recipient"] == someone["wallet_address"]
    assert service.ctx.client.kudos(award["token_id"]).owner == someone["wallet_address"]


def test_a_replayed_award_to_a_handle_returns_the_same_award(service: Service):
    someone = added(service)
    body = award_body(recipient="@" + someone["handle"])
    first = service.post_award(body, key=f"replay-{someone['handle']}")
    again = service.post_award(body, key=f"replay-{someone['handle']}")
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"


def test_an_unknown_handle_is_422_unknown_recipient(service: Service):
    before = service.award_count()
    error = assert_error(service.post_award(award_body(recipient="@no.such.person")), 422, "unknown_recipient")
    assert error["details"] == [{"field": "recipient", "message": error["message"]}]
    assert "'no.such.person'" in error["message"]
    assert service.award_count() == before


def test_a_person_without_a_wallet_has_the_kudos_held_at_the_custody_address(service: Service):
    someone = added(service, wallet_address=None)
    response = service.post_award(award_body(recipient="@" + someone["handle"]))
    assert response.status_code == 202, response.text
    award = response.json()
    with service.state.db.session() as session:
        chain_id, contract = service.state.catalog.deployment(session) or (0, "")
    assert (award["held"], award["recipient"]) == (True, custody_address(chain_id, contract))


def test_an_invalid_handle_in_an_award_is_422(service: Service):
    error = assert_error(service.post_award(award_body(recipient="@not a handle")), 422, "invalid_request")
    assert [d["field"] for d in error["details"]] == ["recipient"]


def test_a_batch_names_every_unknown_handle_by_index_and_writes_nothing(service: Service):
    someone, walletless = added(service), added(service, wallet_address=None)
    items = [
        award_body(recipient="@" + someone["handle"], idempotency_key=os.urandom(8).hex()),
        award_body(recipient="@nobody.one", idempotency_key=os.urandom(8).hex()),
        award_body(idempotency_key=os.urandom(8).hex()),
        award_body(recipient="@" + walletless["handle"], idempotency_key=os.urandom(8).hex()),  # held: not refused
        award_body(recipient="@nobody.two", idempotency_key=os.urandom(8).hex()),
    ]
    before = service.award_count()

    error = assert_error(service.post_batch(items), 422, "unknown_recipient")

    assert [d["index"] for d in error["details"]] == [1, 4]
    assert {d["field"] for d in error["details"]} == {"recipient"}
    assert "'nobody.one'" in error["details"][0]["message"]
    assert service.award_count() == before


def test_a_batch_whose_only_problem_is_unknown_handles_says_unknown_recipient(service: Service):
    items = [award_body(recipient=f"@nobody.{i}", idempotency_key=os.urandom(8).hex()) for i in range(2)]
    error = assert_error(service.post_batch(items), 422, "unknown_recipient")
    assert [d["index"] for d in error["details"]] == [0, 1]


def test_a_batch_to_handles_and_addresses_is_delivered_to_each_wallet(service: Service):
    people = [added(service), added(service)]
    address = new_address()
    items = [award_body(recipient="@" + p["handle"], idempotency_key=os.urandom(8).hex()) for p in people]
    items.append(award_body(recipient=address, idempotency_key=os.urandom(8).hex()))

    response = service.post_batch(items)

    assert response.status_code == 202, response.text
    expected = [people[0]["wallet_address"], people[1]["wallet_address"], address]
    assert [a["recipient"] for a in response.json()] == expected
    owners = [service.ctx.client.kudos(service.wait_confirmed(a["id"])["token_id"]).owner for a in response.json()]
    assert owners == expected


# ----------------------------------------------------------------------------------------------------------------
# Personal data stays in the directory
# ----------------------------------------------------------------------------------------------------------------


def public_texts(service: Service, award: dict[str, Any]) -> list[str]:
    """Every public answer about an award: the wallet, the token metadata and both badge pictures."""
    service.wait_wallet(award["recipient"], 1)
    paths = [
        f"/v1/wallets/{award['recipient']}",
        f"/v1/tokens/{award['token_id']}",
        f"/v1/tokens/{award['token_id']}/image.svg",
        f"/v1/awards/{award['id']}/image.svg",
    ]
    texts = []
    for path in paths:
        response = service.client.get(path)
        assert response.status_code == 200, (path, response.text)
        texts.append(response.text)
    return texts


def test_the_directory_data_of_a_recipient_appears_on_no_public_endpoint(service: Service):
    someone = added(service, show_name=True)
    response = service.post_award(award_body(recipient="@" + someone["handle"]))
    award = service.wait_confirmed(response.json()["id"])

    secrets = [someone["handle"], someone["external_id"], someone["display_name"], someone["slack_user_id"]]
    for text in [*public_texts(service, award), response.text, str(award)]:
        for secret in secrets:
            assert secret not in text
    metadata = service.client.get(f"/v1/tokens/{award['token_id']}").json()
    assert "recipient_name" not in metadata


def test_a_recipient_name_given_explicitly_is_in_the_metadata(service: Service):
    someone = added(service)
    body = award_body(recipient="@" + someone["handle"], recipient_name="Ada")
    award = service.wait_confirmed(service.post_award(body).json()["id"])
    metadata = service.client.get(f"/v1/tokens/{award['token_id']}").json()
    assert metadata["recipient_name"] == "Ada"
    assert someone["display_name"] not in str(metadata)
