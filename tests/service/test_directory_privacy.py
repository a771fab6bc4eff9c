"""The directory stays private: the public lookup page finds a wallet by ``@handle`` only for people whose entry is
``listed`` (off by default), and a handle nobody has, one that is not listed and one without a wallet read exactly
the same (status, body, headers, and the same database query). An address works for everyone; awards to
``@handle`` with an API key are unchanged. ``PATCH /v1/recipients/{handle}`` changes ``listed`` and ``show_name``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import pytest
from sqlalchemy import event

from tests.service.conftest import Service, assert_error, award_body, new_address


def person(**overrides: Any) -> dict[str, Any]:
    tag = os.urandom(4).hex()
    body: dict[str, Any] = {
        "handle": f"zed.{tag}",
        "external_id": f"hris-{tag}",
        "display_name": f"Zed {tag}",
        "wallet_address": new_address(),
    }
    return body | overrides


def add(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    response = service.client.post("/v1/recipients", json=body, headers=service.auth("admin"))
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


def patch(service: Service, handle: str, body: Any, **headers: str) -> httpx2.Response:
    response: httpx2.Response = service.client.patch(
        f"/v1/recipients/{handle}", json=body, headers=service.auth("admin", **headers)
    )
    return response


@contextmanager
def statements(service: Service) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements (and their parameters) on the directory the database runs inside the block (the
    delivery worker's own queries run meanwhile, on other tables)."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "recipients" in statement:
            seen.append((statement, parameters))

    engine = service.state.db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def lookup(service: Service, query: str) -> tuple[httpx2.Response, list[tuple[str, Any]]]:
    """``GET /lookup?q=query`` without following a redirect, and the statements it ran."""
    with statements(service) as seen:
        response = service.client.get("/lookup", params={"q": query}, follow_redirects=False)
    return response, list(seen)


def assert_same_answer(first: tuple[httpx2.Response, Any], second: tuple[httpx2.Response, Any]) -> None:
    (a, a_sql), (b, b_sql) = first, second
    assert a.status_code == b.status_code == 404
    assert a.content == b.content
    assert a.headers.multi_items() == b.headers.multi_items()
    assert len(a_sql) == 1  # one query by the unique handle, ...
    assert a_sql == b_sql  # ... the same with the same parameters: nothing for a stopwatch to tell apart


def test_an_unknown_handle_and_an_unlisted_person_read_exactly_the_same(service: Service):
    body = person()
    handle = body["handle"]
    unknown = lookup(service, f"@{handle}")
    unknown_upper = lookup(service, f"@{handle.upper()}")
    assert f"No wallet is known for @{handle}." in unknown[0].text

    record = add(service, body)
    assert record["listed"] is False  # off by default
    assert_same_answer(unknown, lookup(service, f"@{handle}"))
    assert_same_answer(unknown_upper, lookup(service, f"@{handle.upper()}"))
    assert body["display_name"] not in unknown[0].text


def test_a_listed_person_is_found_by_handle_and_unlisting_hides_them_again(service: Service):
    body = person()
    handle = body["handle"]
    unknown = lookup(service, f"@{handle}")
    add(service, body)

    listed = patch(service, handle, {"listed": True})
    assert listed.status_code == 200, listed.text
    assert listed.json()["listed"] is True
    found, _ = lookup(service, f"@{handle}")
    assert found.status_code == 303
    assert found.headers["location"] == f"/wallet/{body['wallet_address']}"

    assert patch(service, handle, {"listed": False}).json()["listed"] is False
    assert_same_answer(unknown, lookup(service, f"@{handle}"))


def test_a_listed_person_without_a_wallet_reads_as_unknown(service: Service):
    body = person(listed=True)
    del body["wallet_address"]
    unknown = lookup(service, f"@{body['handle']}")
    assert add(service, body)["listed"] is True
    assert_same_answer(unknown, lookup(service, f"@{body['handle']}"))


def test_a_person_listed_when_added_is_found(service: Service):
    body = person(listed=True)
    add(service, body)
    found, _ = lookup(service, f"@{body['handle']}")
    assert found.status_code == 303
    assert found.headers["location"] == f"/wallet/{body['wallet_address']}"


def test_an_address_works_for_everyone(service: Service):
    body = person()
    add(service, body)  # not listed
    found, _ = lookup(service, body["wallet_address"].lower())
    assert found.status_code == 303
    assert found.headers["location"] == f"/wallet/{body['wallet_address']}"


def test_awards_to_an_unlisted_handle_with_a_key_are_unchanged(service: Service):
    body = person()
    add(service, body)
    response = service.post_award(award_body(recipient=f"@{body['handle']}"))
    assert response.status_code == 202, response.text
    assert response.json()["recipient"] == body["wallet_address"]


# ----------------------------------------------------------------------------------------------------------------
# PATCH /v1/recipients/{handle}
# ----------------------------------------------------------------------------------------------------------------


def test_patch_changes_only_the_fields_it_names(service: Service):
    body = person(show_name=True)
    created = add(service, body)
    changed = patch(service, body["handle"], {"listed": True})
    assert changed.status_code == 200, changed.text
    assert changed.json() == created | {"listed": True}
    assert patch(service, body["handle"].upper(), {"show_name": False}).json() == created | {
        "listed": True,
        "show_name": False,
    }
    unchanged = patch(service, body["handle"], {})
    assert unchanged.json() == created | {"listed": True, "show_name": False}
    assert patch(service, body["handle"], {"listed": None}).json()["listed"] is True  # null: not changed
    fetched = service.client.get(f"/v1/recipients/{body['handle']}", headers=service.auth("admin"))
    assert fetched.json() == unchanged.json()


def test_patch_needs_the_admin_scope(service: Service):
    body = person()
    add(service, body)
    for scope in ("award", "revoke"):
        response = service.client.patch(
            f"/v1/recipients/{body['handle']}", json={"listed": True}, headers=service.auth(scope)
        )
        assert_error(response, 403, "forbidden")
    assert_error(service.client.patch(f"/v1/recipients/{body['handle']}", json={"listed": True}), 401, "unauthorized")
    assert lookup(service, f"@{body['handle']}")[0].status_code == 404


def test_patching_an_unknown_handle_is_a_404(service: Service):
    assert_error(patch(service, "nobody.at.all", {"listed": True}), 404, "recipient_not_found")


BAD_PATCHES: dict[str, tuple[Any, str]] = {
    "listed as a string": ({"listed": "true"}, "listed"),
    "listed as a number": ({"listed": 1}, "listed"),
    "listed as a list": ({"listed": [True]}, "listed"),
    "show_name as a string": ({"show_name": "yes"}, "show_name"),
    "a field that cannot change": ({"external_id": "mallory"}, "external_id"),
    "the handle": ({"handle": "mallory"}, "handle"),
    "a control character in a field name": ({"listed\x1b": True}, "listed\x1b"),
    "a list": ([{"listed": True}], "body"),
    "a string": ("listed", "body"),
}


@pytest.mark.parametrize(("body", "field"), list(BAD_PATCHES.values()), ids=list(BAD_PATCHES))
def test_a_bad_patch_is_a_422_naming_the_field_and_changes_nothing(service: Service, body: Any, field: str):
    created = add(service, person())
    response = service.client.patch(
        f"/v1/recipients/{created['handle']}",
        content=json.dumps(body),
        headers=service.auth("admin", **{"Content-Type": "application/json"}),
    )
    error = assert_error(response, 422, "invalid_request")
    assert field in [d["field"] for d in error["details"]], error
    fetched = service.client.get(f"/v1/recipients/{created['handle']}", headers=service.auth("admin"))
    assert fetched.json() == created


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        ('{"listed": true', "application/json", 400, "invalid_json"),
        ('{"listed": true}', "text/plain", 415, "unsupported_media_type"),
        ("[" * 40 + "]" * 40, "application/json", 413, "payload_too_deep"),
    ],
    ids=["truncated", "not json", "nested 40 deep"],
)
def test_a_patch_that_cannot_be_read_is_a_documented_4xx(
    service: Service, content: str, content_type: str, status: int, code: str
):
    created = add(service, person())
    response = service.client.patch(
        f"/v1/recipients/{created['handle']}",
        content=content,
        headers=service.auth("admin", **{"Content-Type": content_type}),
    )
    assert_error(response, status, code)


def test_an_oversized_patch_is_a_413_before_it_is_read(service: Service):
    created = add(service, person())
    limit = service.state.settings.max_body_bytes
    response = service.client.patch(
        f"/v1/recipients/{created['handle']}",
        content=b" " * (limit + 1),
        headers=service.auth("admin", **{"Content-Type": "application/json"}),
    )
    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize("handle", ["%00", "a%0Ab", "x" * 5000, "%F0%9F%98%80"])
def test_a_hostile_handle_in_the_path_is_a_404(service: Service, handle: str):
    response = service.client.patch(f"/v1/recipients/{handle}", json={"listed": True}, headers=service.auth("admin"))
    assert_error(response, 404, "recipient_not_found")


@pytest.mark.parametrize("value", ["true", 1, None])
def test_listed_is_a_json_boolean_when_a_person_is_added(service: Service, value: Any):
    response = service.client.post("/v1/recipients", json=person(listed=value), headers=service.auth("admin"))
    error = assert_error(response, 422, "invalid_request")
    assert error["details"][0]["field"] == "listed"
