"""``GET /v1/wallets/{address}``: the kudos an address holds, newest first, paged; public."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.service.conftest import Service, assert_error, award_body, new_address


@pytest.fixture(scope="module")
def holder(service: Service) -> tuple[str, list[dict[str, Any]]]:
    """An address that received five kudos, one at a time (oldest first), and those awards, confirmed."""
    address = new_address()
    awards = []
    for n, kind in enumerate(["team-player", "mentor", "above-and-beyond", "valued-partner", "loyal-customer"]):
        award = service.award_confirmed(award_body(recipient=address, kind=kind, message=f"Kudos number {n}."))
        awards.append(award)
    service.wait_wallet(address, len(awards))
    return address, awards


def test_a_wallet_lists_its_kudos_newest_first(service: Service, holder: tuple[str, list[dict[str, Any]]]):
    address, awards = holder
    response = service.client.get(f"/v1/wallets/{address}")  # public: no key

    assert response.status_code == 200
    wallet = response.json()
    ctx = service.ctx
    assert wallet["address"] == address
    assert wallet["chain_id"] == ctx.chain_id
    assert wallet["contract_address"] == ctx.client.address
    assert wallet["total"] == 5
    assert (wallet["limit"], wallet["offset"]) == (50, 0)
    items = wallet["items"]
    assert [i["token_id"] for i in items] == [a["token_id"] for a in reversed(awards)]
    assert [i["message"] for i in items] == [f"Kudos number {n}." for n in range(4, -1, -1)]
    assert [i["kind"] for i in items][:2] == ["loyal-customer", "valued-partner"]
    newest = items[0]
    assert newest["kind_name"] == "Loyal Customer"
    assert newest["emoji"] == "🏅"
    assert newest["color"] == "#15803d"
    assert newest["awarded_by"] == "Ada Lovelace"
    assert newest["transferable"] is True
    assert newest["issued_at"] is not None
    assert newest["token_uri"].endswith(f"/v1/tokens/{newest['token_id']}")
    assert newest["image_url"].endswith(f"/v1/tokens/{newest['token_id']}/image.svg")


def test_a_wallet_is_paged(service: Service, holder: tuple[str, list[dict[str, Any]]]):
    address, awards = holder
    pages = [service.client.get(f"/v1/wallets/{address}", params={"limit": 2, "offset": o}).json() for o in (0, 2, 4)]
    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    assert {p["total"] for p in pages} == {5}
    assert [(p["limit"], p["offset"]) for p in pages] == [(2, 0), (2, 2), (2, 4)]
    ids = [i["token_id"] for p in pages for i in p["items"]]
    assert ids == sorted((a["token_id"] for a in awards), reverse=True)
    beyond = service.client.get(f"/v1/wallets/{address}", params={"offset": 5}).json()
    assert beyond["items"] == []
    assert beyond["total"] == 5


def test_a_lower_case_address_is_the_same_wallet(service: Service, holder: tuple[str, list[dict[str, Any]]]):
    address, _ = holder
    wallet = service.client.get(f"/v1/wallets/{address.lower()}").json()
    assert wallet["address"] == address
    assert wallet["total"] == 5


def test_an_address_without_kudos_has_an_empty_wallet(service: Service):
    wallet = service.client.get(f"/v1/wallets/{new_address()}").json()
    assert wallet["total"] == 0
    assert wallet["items"] == []


@pytest.mark.parametrize(
    "address",
    ["0x1234", "not-an-address", "0x" + "g" * 40, "0x52908400098527886e0F7030069857D2E4169EE7"],
    ids=["short", "not hex", "bad digit", "bad checksum"],
)
def test_a_malformed_address_is_400(service: Service, address: str):
    error = assert_error(service.client.get(f"/v1/wallets/{address}"), 400, "invalid_address")
    assert address in error["message"]


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 201}, {"limit": "ten"}, {"offset": -1}, {"offset": 2**63}, {"offset": 10**30}],
    ids=["limit 0", "limit 201", "limit not a number", "negative offset", "offset 2**63", "offset 10**30"],
)
def test_bad_paging_is_refused(service: Service, params: dict[str, Any]):
    response = service.client.get(f"/v1/wallets/{new_address()}", params=params)
    assert_error(response, 422, "invalid_request")


# ----------------------------------------------------------------------------------------------------------------
# A wallet by @handle: only of a person whose directory entry is listed, as on the lookup page
# ----------------------------------------------------------------------------------------------------------------


def add_person(service: Service, *, listed: bool, wallet: str | None) -> str:
    """A person in the directory; their handle."""
    handle = f"wal.{os.urandom(4).hex()}"
    body: dict[str, Any] = {"handle": handle, "external_id": f"hris-{handle}", "display_name": "Wal Let"}
    if wallet is not None:
        body["wallet_address"] = wallet
    response = service.client.post("/v1/recipients", json=body, headers=service.auth("admin"))
    assert response.status_code == 201, response.text
    if listed:
        patched = service.client.patch(f"/v1/recipients/{handle}", json={"listed": True}, headers=service.auth("admin"))
        assert patched.status_code == 200, patched.text
    return handle


def test_a_listed_handle_reads_its_wallet(service: Service, holder: tuple[str, list[dict[str, Any]]]):
    address, _ = holder
    handle = add_person(service, listed=True, wallet=address.lower())

    by_handle = service.client.get(f"/v1/wallets/@{handle.upper()}", params={"limit": 2})  # handles ignore case
    by_address = service.client.get(f"/v1/wallets/{address}", params={"limit": 2})

    assert by_handle.status_code == 200, by_handle.text
    assert by_handle.json() == by_address.json()
    assert by_handle.json()["address"] == address


def test_unknown_unlisted_and_walletless_handles_answer_alike(service: Service):
    unlisted = add_person(service, listed=False, wallet=new_address())
    walletless = add_person(service, listed=True, wallet=None)
    answers = []
    for handle in ("nobody.here.at.all", unlisted, walletless):
        response = service.client.get(f"/v1/wallets/@{handle}")
        error = assert_error(response, 404, "wallet_not_found")
        assert error["message"] == f"no wallet is known for @{handle}"
        answers.append((response.status_code, sorted(k for k in response.headers if k != "content-length")))
    assert len(set(map(repr, answers))) == 1


@pytest.mark.parametrize("handle", ["@", "@-dash-first", "@with space", "@" + "a" * 65])
def test_a_malformed_handle_is_400(service: Service, handle: str):
    assert_error(service.client.get(f"/v1/wallets/{handle}"), 400, "invalid_address")
