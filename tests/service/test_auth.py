"""API keys: ``Authorization: Bearer`` with the scopes ``award``, ``revoke`` and ``admin``; public reads; and no
secret (API key or signer key) in any answer or log line."""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

import httpx2
import pytest
from eth_tester.backends.pyevm.main import get_default_account_keys
from sqlalchemy import text

from tests.service.conftest import SCOPES, Service, assert_error, award_body, create_key

_award_ids: dict[int, str] = {}


def protected(service: Service) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Each endpoint that needs a key: (method, path, request arguments), by name."""
    if id(service) not in _award_ids:
        _award_ids[id(service)] = service.post_award().json()["id"]
    award_id = _award_ids[id(service)]
    return {
        "create award": (
            "POST",
            "/v1/awards",
            {"json": award_body(), "headers": {"Idempotency-Key": os.urandom(8).hex()}},
        ),
        "create batch": (
            "POST",
            "/v1/awards/batch",
            {"json": {"awards": [award_body(idempotency_key=os.urandom(8).hex())]}},
        ),
        "get award": ("GET", f"/v1/awards/{award_id}", {}),
        "create kind": ("POST", "/v1/kinds", {"json": {"slug": f"k-{os.urandom(4).hex()}", "name": "K"}}),
        "revoke": ("POST", "/v1/tokens/999999/revoke", {"json": {"reason": "mistake"}}),
        "list keys": ("GET", "/v1/keys", {}),
        "create key": ("POST", "/v1/keys", {"json": {"scopes": ["admin"], "expires_in": "1h"}}),
        "revoke key": ("POST", "/v1/keys/0123456789ab/revoke", {}),
        "update recipient": ("PATCH", "/v1/recipients/nobody.here", {"json": {"listed": True}}),
    }


NEEDS = {
    "create award": "award",
    "create batch": "award",
    "get award": "award",
    "create kind": "admin",
    "revoke": "revoke",
    "list keys": "admin",
    "create key": "admin",
    "revoke key": "admin",
    "update recipient": "admin",
}

#: The refusal of an endpoint that a key of the right scope reaches, when what it names does not exist.
NOT_FOUND = {"revoke": "token_not_found", "revoke key": "key_not_found", "update recipient": "recipient_not_found"}


def call(service: Service, endpoint: str, authorization: str | None) -> httpx2.Response:
    method, path, kwargs = protected(service)[endpoint]
    headers = dict(kwargs.pop("headers", {}))
    if authorization is not None:
        headers["Authorization"] = authorization
    response: httpx2.Response = service.client.request(method, path, headers=headers, **kwargs)
    return response


def well_formed_but_wrong(key: str) -> str:
    """``key`` with another secret: the right prefix, the wrong secret."""
    return key[: len("kudos_") + 13] + "A" * 43


@pytest.mark.parametrize("endpoint", list(NEEDS))
def test_no_key_is_401(service: Service, endpoint: str):
    response = call(service, endpoint, None)
    error = assert_error(response, 401, "unauthorized")
    assert "Authorization: Bearer" in error["message"]
    assert response.headers["WWW-Authenticate"] == "Bearer"


BAD_AUTHORIZATIONS = {
    "empty": "",
    "scheme only": "Bearer",
    "basic": "Basic dXNlcjpwYXNz",
    "not a key": "Bearer not-a-key",
    "unknown prefix": "Bearer kudos_000000000000_" + "A" * 43,
    "no scheme": "{key}",
    "wrong secret": "Bearer {wrong}",
    "key twice": "Bearer {key}{key}",
}


@pytest.mark.parametrize("endpoint", list(NEEDS))
@pytest.mark.parametrize("authorization", list(BAD_AUTHORIZATIONS.values()), ids=list(BAD_AUTHORIZATIONS))
def test_an_invalid_key_is_401(service: Service, endpoint: str, authorization: str):
    key = service.keys[NEEDS[endpoint]]
    response = call(service, endpoint, authorization.format(key=key, wrong=well_formed_but_wrong(key)))
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("endpoint", list(NEEDS))
@pytest.mark.parametrize("scope", SCOPES)
def test_each_scope_opens_its_endpoints_only(service: Service, endpoint: str, scope: str):
    protected(service)  # its award made first, so that the count below sees only what the call does
    before = service.award_count()
    response = call(service, endpoint, f"Bearer {service.keys[scope]}")
    if scope == NEEDS[endpoint]:
        assert response.status_code in (200, 201, 202, 404), response.text
        if response.status_code == 404:
            assert response.json()["error"]["code"] == NOT_FOUND[endpoint]  # past authentication
    else:
        error = assert_error(response, 403, "forbidden")
        assert repr(NEEDS[endpoint]) in error["message"]
        assert service.award_count() == before


def test_the_scheme_is_case_insensitive(service: Service):
    response = call(service, "get award", f"bearer {service.keys['award']}")
    assert response.status_code == 200


def test_a_key_with_several_scopes_opens_each(service: Service):
    key = create_key(service.data_dir, "award", "revoke")
    assert call(service, "create award", f"Bearer {key}").status_code == 202
    assert call(service, "revoke", f"Bearer {key}").status_code == 404  # past auth: no such token
    assert_error(call(service, "create kind", f"Bearer {key}"), 403, "forbidden")


def test_a_revoked_key_is_401_once_its_cache_entry_expires(service: Service, monkeypatch: pytest.MonkeyPatch):
    """Keys are cached for ``KUDOS_API_KEY_CACHE_S`` (5 s by default); here 0.2 s."""
    monkeypatch.setattr(service.state.api_keys, "ttl", 0.2)
    key = create_key(service.data_dir, "award")
    assert call(service, "create award", f"Bearer {key}").status_code == 202
    with service.state.db.engine.begin() as conn:
        conn.execute(text("UPDATE api_keys SET revoked = 1 WHERE prefix = :p"), {"p": key.split("_")[1]})
    time.sleep(0.3)
    assert_error(call(service, "create award", f"Bearer {key}"), 401, "key_revoked")


def test_reads_of_wallets_tokens_images_and_kinds_are_public(service: Service):
    award = service.award_confirmed()
    service.wait_wallet(award["recipient"], 1)
    for path in (
        "/v1/kinds",
        f"/v1/wallets/{award['recipient']}",
        f"/v1/tokens/{award['token_id']}",
        f"/v1/tokens/{award['token_id']}/image.svg",
        f"/v1/awards/{award['id']}/image.svg",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        response = service.client.get(path)
        assert response.status_code == 200, (path, response.text)


# ----------------------------------------------------------------------------------------------------------------
# Secrets
# ----------------------------------------------------------------------------------------------------------------


def test_no_api_key_or_signer_key_in_any_answer_or_log(service: Service, caplog: pytest.LogCaptureFixture):
    signer_key = get_default_account_keys()[0]
    assert signer_key.public_key.to_checksum_address() == service.ctx.signer.address
    caplog.set_level(logging.DEBUG)
    responses: list[httpx2.Response] = []
    client = service.client
    extra_key = create_key(service.data_dir, "award", "revoke", "admin")
    keys = [*service.keys.values(), extra_key]
    full = {"Authorization": f"Bearer {extra_key}"}

    body = award_body(message="Thanks for the secrets audit.")
    responses.append(client.post("/v1/awards", json=body, headers=full | {"Idempotency-Key": "secrets"}))
    award_id = responses[-1].json()["id"]
    responses.append(client.post("/v1/awards", json=body, headers=full | {"Idempotency-Key": "secrets"}))
    responses.append(
        client.post("/v1/awards", json=body | {"message": "x"}, headers=full | {"Idempotency-Key": "secrets"})
    )
    responses.append(client.get(f"/v1/awards/{award_id}", params={"wait": 15}, headers=full))
    award = responses[-1].json()
    assert award["status"] == "confirmed"
    service.wait_wallet(award["recipient"], 1)
    token_id = award["token_id"]
    responses.append(
        client.post("/v1/awards/batch", json={"awards": [award_body(idempotency_key="s-b")]}, headers=full)
    )
    responses.append(client.post("/v1/kinds", json={"slug": "secret-audit", "name": "Audit"}, headers=full))
    responses.append(client.get("/v1/keys", headers=full))
    for path in (
        "/v1/kinds",
        f"/v1/wallets/{award['recipient']}",
        f"/v1/tokens/{token_id}",
        f"/v1/tokens/{token_id}/image.svg",
        f"/v1/awards/{award_id}/image.svg",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
    ):
        responses.append(client.get(path))
    for key in keys:  # refusals: a wrong scope, a wrong secret, a key where a key is not expected
        responses.append(client.post("/v1/kinds", json={"slug": "x", "name": "X"}, headers={"Authorization": key}))
        responses.append(client.get(f"/v1/awards/{award_id}", headers={"Authorization": f"Bearer {key}x"}))
    responses.append(client.post("/v1/tokens/999999/revoke", json={}, headers=full))
    responses.append(
        client.post(f"/v1/tokens/{token_id}/revoke", params={"wait": 30}, json={"reason": "policy"}, headers=full)
    )
    responses.append(client.get(f"/v1/tokens/{token_id}"))
    assert [r.status_code for r in responses[:3]] == [202, 202, 409]
    assert responses[-2].status_code == 202
    assert responses[-2].json()["status"] == "confirmed"
    assert responses[-1].status_code == 410

    texts = [r.text + repr(r.headers) for r in responses]
    texts += [caplog.text, *(f"{r.getMessage()} {r.args!r} {r.exc_text}" for r in caplog.records)]
    everything = "\n".join(texts)
    assert any(r.name.startswith("web3") for r in caplog.records), "web3's DEBUG logs were not captured"

    for key in keys:
        secret = key[len("kudos_") + 13 :]
        assert key not in everything
        assert secret not in everything
    private = signer_key.to_bytes()
    hex_key = private.hex()
    standalone = re.compile(rf"(?<![0-9a-f])(0x)?{hex_key}(?![0-9a-f])", re.IGNORECASE)
    assert not standalone.search(everything)
    assert repr(private) not in everything
    assert str(signer_key) not in everything
