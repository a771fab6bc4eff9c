"""How a request's API key is read and checked (``api/deps.py``): the ``Authorization`` header in its variants,
the words and headers of each refusal, the scope checked only once the key is known to work, and bodies that
must be declared as JSON."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import httpx2
import pytest
from kudos_service.keys import create_key as store_key
from kudos_service.models import as_utc, utcnow

from tests.service.conftest import Service, assert_error, new_address

#: A read that any ``award`` key may make; the award does not exist, so a key that passes gets a 404.
UNKNOWN_AWARD = f"/v1/awards/{uuid.uuid4()}"
NEEDED = "an API key is needed: Authorization: Bearer <key>"


def get(service: Service, authorization: str | None) -> httpx2.Response:
    headers = {} if authorization is None else {"Authorization": authorization}
    response: httpx2.Response = service.client.get(UNKNOWN_AWARD, headers=headers)
    return response


def assert_challenged(response: httpx2.Response, code: str, message: str) -> None:
    error = assert_error(response, 401, code)
    assert error["message"] == message
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("form", ["Bearer {key}", "bearer {key}", "BEARER {key}", "Bearer   {key}  ", "Bearer {key}\t"])
def test_a_bearer_key_is_read_whatever_the_schemes_case_and_the_spaces_around_it(service: Service, form: str):
    response = get(service, form.format(key=service.keys["award"]))
    assert_error(response, 404, "award_not_found")


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic {key}", "Token {key}", "Bearer{key}", "{key}", "Bearer: {key}"],
)
def test_a_request_without_a_bearer_key_is_told_how_to_send_one(service: Service, authorization: str | None):
    header = None if authorization is None else authorization.format(key=service.keys["award"])
    response = get(service, header)
    if header == "Bearer ":
        assert_challenged(response, "unauthorized", "the API key is not valid")  # a bearer, of no valid key
    else:
        assert_challenged(response, "unauthorized", NEEDED)


@pytest.mark.parametrize("tamper", ["secret", "prefix", "shape"])
def test_a_key_this_service_does_not_know_is_not_valid(service: Service, tamper: str):
    key = service.keys["award"]
    prefix = key.split("_")[1]
    bad = {
        "secret": key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB"),
        "prefix": key.replace(prefix, "0" * 12 if prefix != "0" * 12 else "1" * 12),
        "shape": "kudos_short_secret",
    }[tamper]
    assert_challenged(get(service, f"Bearer {bad}"), "unauthorized", "the API key is not valid")


def test_a_key_without_the_scope_is_forbidden_without_a_challenge(service: Service):
    response = service.client.get("/v1/keys", headers=service.auth("award"))
    error = assert_error(response, 403, "forbidden")
    assert error["message"] == "this API key lacks the 'admin' scope"
    assert "WWW-Authenticate" not in response.headers
    response = service.client.post("/v1/tokens/1/revoke", json={}, headers=service.auth("admin"))
    assert assert_error(response, 403, "forbidden")["message"] == "this API key lacks the 'revoke' scope"


def test_a_revoked_key_is_told_so_before_its_scope_is_checked(service: Service):
    with service.state.db.session() as session:
        key, row = store_key(session, scopes=["award"])
        prefix = row.prefix
    response = service.client.post(f"/v1/keys/{prefix}/revoke", headers=service.auth("admin"))
    assert response.status_code == 200, response.text
    assert_challenged(get(service, f"Bearer {key}"), "key_revoked", "this API key was revoked; use another one")
    listed = service.client.get("/v1/keys", headers={"Authorization": f"Bearer {key}"})  # a scope it lacks
    assert_challenged(listed, "key_revoked", "this API key was revoked; use another one")


def test_an_expired_key_is_told_when_it_expired(service: Service):
    expired_at = (utcnow() - timedelta(minutes=5)).replace(microsecond=0)
    with service.state.db.session() as session:
        key, _ = store_key(session, scopes=["award"], expires_at=expired_at)
    when = as_utc(expired_at).isoformat(timespec="seconds")
    assert_challenged(get(service, f"Bearer {key}"), "key_expired", f"this API key expired at {when}; use another one")


# ----------------------------------------------------------------------------------------------------------------
# JSON bodies
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "Application/JSON", "application/json; charset=utf-8", "application/json ;charset=utf-8"],
)
def test_a_body_declared_as_json_in_any_case_with_parameters_is_read(service: Service, content_type: str):
    response = service.client.post(
        "/v1/awards",
        content=json.dumps({"recipient": new_address(), "kind": "no-such-kind", "message": "m", "awarded_by": "a"}),
        headers=service.auth("award", **{"Content-Type": content_type, "Idempotency-Key": uuid.uuid4().hex}),
    )
    assert_error(response, 422, "unknown_kind")  # read, then refused for what it says


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "application/jsonx", "application/json5", "json"])
def test_a_body_not_declared_as_json_is_415(service: Service, content_type: str | None):
    headers = service.auth("award", **{"Idempotency-Key": uuid.uuid4().hex})
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = service.client.post("/v1/awards", content=b"{}", headers=headers)
    error = assert_error(response, 415, "unsupported_media_type")
    assert error["message"] == "send the body as JSON with Content-Type: application/json"
