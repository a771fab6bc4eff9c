"""The directory, edited: ``GET /v1/recipients`` (paged, searched), ``PATCH`` of every field but the handle and the
external id, and ``DELETE``; all of it ``admin`` only, and every bad input a 4xx that changes nothing."""

from __future__ import annotations

import os
import time
from typing import Any

import httpx2
import pytest

from tests.service.conftest import CONFIRM_TIMEOUT, Service, assert_error, award_body, new_address


def person(**overrides: Any) -> dict[str, Any]:
    tag = os.urandom(4).hex()
    body: dict[str, Any] = {"handle": f"dir.{tag}", "external_id": f"hris-{tag}", "display_name": f"Dir {tag}"}
    return body | overrides


def add(service: Service, **overrides: Any) -> dict[str, Any]:
    response = service.client.post("/v1/recipients", json=person(**overrides), headers=service.auth("admin"))
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


def listing(service: Service, **params: Any) -> httpx2.Response:
    response: httpx2.Response = service.client.get("/v1/recipients", params=params, headers=service.auth("admin"))
    return response


def patch(service: Service, handle: str, body: Any) -> httpx2.Response:
    response: httpx2.Response = service.client.patch(
        f"/v1/recipients/{handle}", json=body, headers=service.auth("admin")
    )
    return response


def test_a_person_added_without_a_wallet_is_given_one_and_their_held_kudos_move_there(service: Service):
    ada = add(service)
    held = service.award_confirmed(award_body(recipient=f"@{ada['handle']}"))
    assert held["held"] is True
    not_yet = service.client.post(f"/v1/recipients/{ada['handle']}/held/move", headers=service.auth("admin"))
    assert_error(not_yet, 422, "recipient_has_no_wallet")
    gone = service.client.delete(f"/v1/recipients/{ada['handle']}", headers=service.auth("admin"))
    assert_error(gone, 409, "recipient_has_held_kudos")  # not while something is held for them
    wallet = new_address()
    response = patch(service, ada["handle"], {"wallet_address": wallet, "display_name": "Ada L.", "show_name": True})
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["held"] == 1  # the answer offers the move
    assert changed["wallet_address"].lower() == wallet.lower()
    assert (changed["display_name"], changed["show_name"], changed["external_id"]) == (
        "Ada L.",
        True,
        ada["external_id"],
    )
    fetched = service.client.get(f"/v1/recipients/{ada['handle']}", headers=service.auth("admin")).json()
    assert fetched["display_name"] == "Ada L."
    assert fetched["show_name"] is True
    assert fetched["wallet_address"].lower() == wallet.lower()
    accepted = service.post_award(award_body(recipient=f"@{ada['handle']}"))
    assert accepted.status_code == 202, accepted.text
    assert (accepted.json()["recipient"], accepted.json()["held"]) == (changed["wallet_address"], False)

    moved = service.client.post(f"/v1/recipients/{ada['handle']}/held/move", headers=service.auth("admin"))
    assert moved.status_code == 202, moved.text
    assert moved.json() == {"wallet_address": changed["wallet_address"], "moving": 1}
    again = service.client.post(f"/v1/recipients/{ada['handle']}/held/move", headers=service.auth("admin"))
    assert again.json()["moving"] == 0  # already on its way: never moved twice
    deadline = time.monotonic() + CONFIRM_TIMEOUT
    while service.client.get(f"/v1/awards/{held['id']}", headers=service.auth()).json()["held"]:
        assert time.monotonic() < deadline, "the held kudos did not move"
        time.sleep(0.05)
    after = service.client.get(f"/v1/awards/{held['id']}", headers=service.auth()).json()
    assert after["recipient"] == changed["wallet_address"]
    assert service.client.get(f"/v1/recipients/{ada['handle']}", headers=service.auth("admin")).json()["held"] == 0
    assert service.ctx.client.kudos(held["token_id"]).owner == changed["wallet_address"]


def test_a_field_left_out_is_kept(service: Service):
    ada = add(service, wallet_address=new_address(), listed=True)
    after = patch(service, ada["handle"], {"display_name": "Renamed"}).json()
    assert after["display_name"] == "Renamed"
    assert {k: after[k] for k in ("wallet_address", "listed", "show_name", "external_id")} == {
        k: ada[k] for k in ("wallet_address", "listed", "show_name", "external_id")
    }


@pytest.mark.parametrize(
    "body",
    [
        {"handle": "new.handle"},
        {"external_id": "other"},
        {"wallet_address": "0x123"},
        {"wallet_address": 5},
        {"display_name": ""},
        {"display_name": "a\x00b"},
        {"display_name": "x" * 10_000},
        {"show_name": "yes"},
        {"slack_user_id": "lowercase"},
        [],
        "text",
    ],
)
def test_a_bad_change_is_422_and_changes_nothing(service: Service, body: Any):
    ada = add(service)
    assert_error(patch(service, ada["handle"], body), 422, "invalid_request")
    assert service.client.get(f"/v1/recipients/{ada['handle']}", headers=service.auth("admin")).json() == ada


def test_a_slack_user_id_someone_else_has_is_409(service: Service):
    slack = "U" + os.urandom(4).hex().upper()
    add(service, slack_user_id=slack)
    other = add(service)
    error = assert_error(patch(service, other["handle"], {"slack_user_id": slack}), 409, "recipient_exists")
    assert error["details"] == [{"field": "slack_user_id", "message": "taken"}]
    # one's own id again is no conflict
    mine = add(service, slack_user_id="W" + os.urandom(4).hex().upper())
    assert patch(service, mine["handle"], {"slack_user_id": mine["slack_user_id"]}).status_code == 200


def test_the_list_is_paged_by_handle_and_counts_every_match(service: Service):
    tag = os.urandom(3).hex()
    handles = sorted(add(service, handle=f"page{tag}.{i}")["handle"] for i in range(5))
    first = listing(service, q=f"page{tag}", limit=2).json()
    assert first["total"] == 5
    assert [p["handle"] for p in first["items"]] == handles[:2]
    rest = listing(service, q=f"page{tag}", limit=200, offset=2).json()
    assert [p["handle"] for p in rest["items"]] == handles[2:]
    assert (rest["limit"], rest["offset"]) == (200, 2)


def test_the_search_matches_handle_name_or_external_id_case_insensitively_and_literally(service: Service):
    tag = os.urandom(3).hex()
    by_name = add(service, display_name=f"Grace {tag.upper()} Hopper")
    by_external = add(service, external_id=f"emp-{tag}-100%")
    found = {p["handle"] for p in listing(service, q=tag).json()["items"]}
    assert found == {by_name["handle"], by_external["handle"]}
    assert [p["handle"] for p in listing(service, q=f"{tag}-100%").json()["items"]] == [by_external["handle"]]
    assert listing(service, q=f"{tag}-100_").json()["total"] == 0  # "_" is a letter here, not LIKE's wildcard
    assert listing(service, q=f"{tag}%").json()["total"] == 0


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 201}, {"limit": "1.0"}, {"offset": -1}, {"offset": "x"}, {"q": "a\x00"}, {"q": "x" * 101}],
)
def test_bad_paging_or_search_is_422(service: Service, params: dict[str, Any]):
    assert_error(listing(service, **params), 422, "invalid_request")


def test_deleting_a_person_removes_the_entry_and_their_handle(service: Service):
    ada = add(service, wallet_address=new_address())
    response = service.client.delete(f"/v1/recipients/{ada['handle']}", headers=service.auth("admin"))
    assert response.status_code == 204
    assert response.content == b""
    gone = service.client.get(f"/v1/recipients/{ada['handle']}", headers=service.auth("admin"))
    assert_error(gone, 404, "recipient_not_found")
    assert_error(service.post_award(award_body(recipient=f"@{ada['handle']}")), 422, "unknown_recipient")
    again = service.client.delete(f"/v1/recipients/{ada['handle']}", headers=service.auth("admin"))
    assert_error(again, 404, "recipient_not_found")
    # the handle and the external id are free again
    assert add(service, handle=ada["handle"], external_id=ada["external_id"])["handle"] == ada["handle"]


@pytest.mark.parametrize("scope", ["award", "revoke"])
def test_only_admin_keys_read_or_edit_the_directory(service: Service, scope: str):
    ada = add(service)
    headers = service.auth(scope)
    for response in (
        service.client.get("/v1/recipients", headers=headers),
        service.client.patch(f"/v1/recipients/{ada['handle']}", json={"listed": True}, headers=headers),
        service.client.delete(f"/v1/recipients/{ada['handle']}", headers=headers),
    ):
        assert_error(response, 403, "forbidden")
    assert_error(service.client.get("/v1/recipients"), 401, "unauthorized")
    assert service.client.get(f"/v1/recipients/{ada['handle']}", headers=service.auth("admin")).json() == ada
