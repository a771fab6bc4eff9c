"""API keys over the API (``/v1/keys``, ``admin`` scope) and in authentication: listing never shows a secret, a
created key is answered once, a key cannot hand out more than it holds, a revoked key stops working within the
key cache time (``KUDOS_API_KEY_CACHE_S``, here 0.2 s) and at once when revoked through the API, an expired key is
refused, and a key's last use is written at most once per interval, in the background, never failing a request.

Hostile input to each new endpoint (oversized, deeply nested, control characters, wrong types) is a documented 4xx.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import httpx2
import pytest
from kudos_service.cli import app as cli_app
from kudos_service.core.db import Database
from kudos_service.core.security import SCOPES, hash_secret
from kudos_service.keys import create_key as store_key
from kudos_service.models import ApiKey, utcnow
from kudos_service.schemas import KeyCreated, Scope
from kudos_service.state import ApiKeyCache
from sqlalchemy import event, select
from typer.testing import CliRunner

from tests.service.conftest import Service, assert_error, award_body, create_key, start_service

#: The key cache time of this module's service: small, so that a revocation from outside shows quickly.
CACHE_S = 0.2

KEY = re.compile(r"^kudos_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A service whose key cache time is :data:`CACHE_S`, and whose body limit is small (64 KiB); beside its key of
    each scope, ``keys["all"]`` holds every scope."""
    data_dir = tmp_path_factory.mktemp("kudos-keys")
    with start_service(data_dir, api_key_cache_s=CACHE_S, max_body_bytes=64 * 1024) as running:
        running.keys["all"] = create_key(data_dir, *SCOPES, name="all scopes")
        yield running


def prefix_of(key: str) -> str:
    found = KEY.match(key)
    assert found, key
    return found.group(1)


def secret_of(key: str) -> str:
    return key[len("kudos_") + 13 :]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def authed(service: Service, key: str) -> httpx2.Response:
    """A cheap request that needs an ``award`` key: 404 ``award_not_found`` when the key is let in."""
    response: httpx2.Response = service.client.get("/v1/awards/none", headers=bearer(key))
    return response


def award_with(service: Service, key: str) -> httpx2.Response:
    """An award made with ``key`` (an ``award`` key), or its refusal."""
    response: httpx2.Response = service.client.post(
        "/v1/awards", json=award_body(), headers=bearer(key) | {"Idempotency-Key": utcnow().isoformat()}
    )
    return response


def new_key(service: Service, body: dict[str, Any], *, key: str | None = None) -> httpx2.Response:
    """``POST /v1/keys`` with ``body``, as the key of every scope (or ``key``)."""
    headers = bearer(key) if key is not None else service.auth("all")
    response: httpx2.Response = service.client.post("/v1/keys", json=body, headers=headers)
    return response


def listed(service: Service) -> dict[str, dict[str, Any]]:
    """``GET /v1/keys`` by prefix."""
    response = service.client.get("/v1/keys", headers=service.auth("admin"))
    assert response.status_code == 200, response.text
    return {item["prefix"]: item for item in response.json()}


def revoke(service: Service, prefix: str, *, key: str | None = None) -> httpx2.Response:
    headers = bearer(key) if key is not None else service.auth("admin")
    response: httpx2.Response = service.client.post(f"/v1/keys/{prefix}/revoke", headers=headers)
    return response


# ----------------------------------------------------------------------------------------------------------------
# Listing and creating
# ----------------------------------------------------------------------------------------------------------------


def test_the_listing_shows_every_key_and_never_a_secret(service: Service):
    extra = create_key(service.data_dir, "award", "revoke", name="HR tool")
    listing = service.client.get("/v1/keys", headers=service.auth("admin"))
    assert listing.status_code == 200, listing.text

    items = {item["prefix"]: item for item in listing.json()}
    for key in [*service.keys.values(), extra]:
        item = items[prefix_of(key)]
        assert set(item) == {
            "prefix",
            "name",
            "scopes",
            "status",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        }
        assert item["status"] == "active"
        assert datetime.fromisoformat(item["created_at"]).utcoffset() == timedelta(0)
        assert secret_of(key) not in listing.text
        assert hash_secret(key).hex() not in listing.text
    assert items[prefix_of(extra)]["name"] == "HR tool"
    assert items[prefix_of(extra)]["scopes"] == ["award", "revoke"]
    assert items[prefix_of(extra)]["expires_at"] is None


def test_a_created_key_is_answered_once_and_works_for_its_scopes(service: Service):
    response = new_key(service, {"scopes": ["award"], "name": "HR tool", "expires_in": "90d"})
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    created = response.json()
    key = created["key"]
    assert created["prefix"] == prefix_of(key)
    assert (created["name"], created["scopes"], created["status"]) == ("HR tool", ["award"], "active")
    expires = datetime.fromisoformat(created["expires_at"])
    assert timedelta(days=89, hours=23) < expires - datetime.now(UTC) <= timedelta(days=90)

    assert award_with(service, key).status_code == 202
    assert_error(
        service.client.post("/v1/kinds", json={"slug": "x", "name": "X"}, headers=bearer(key)), 403, "forbidden"
    )
    item = listed(service)[created["prefix"]]
    del created["key"], created["last_used_at"], item["last_used_at"]  # the award above may have recorded a use
    assert item == created
    with service.state.db.session() as session:
        row = session.scalars(select(ApiKey).where(ApiKey.prefix == created["prefix"])).one()
        assert row.secret_hash == hash_secret(key)
        assert secret_of(key) not in repr(row)


def test_an_expiry_can_be_an_instant_and_a_key_without_one_never_expires(service: Service):
    when = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    at = new_key(service, {"scopes": ["revoke"], "expires_at": when.isoformat()})
    assert at.status_code == 201, at.text
    assert datetime.fromisoformat(at.json()["expires_at"]) == when
    naive = new_key(service, {"scopes": ["revoke"], "expires_at": when.replace(tzinfo=None).isoformat()})
    assert datetime.fromisoformat(naive.json()["expires_at"]) == when  # no zone: UTC
    forever = new_key(service, {"scopes": ["revoke", "revoke"]})
    assert forever.status_code == 201, forever.text
    assert (forever.json()["expires_at"], forever.json()["scopes"]) == (None, ["revoke"])


def test_the_scope_literal_is_the_list_of_scopes():
    assert set(get_args(Scope)) == set(SCOPES)


def test_the_created_key_is_not_in_the_repr_of_its_answer():
    answer = KeyCreated(
        prefix="3f9a1c0b7d2e",
        name=None,
        scopes=["award"],
        status="active",
        created_at=datetime.now(UTC),
        expires_at=None,
        last_used_at=None,
        revoked_at=None,
        key="kudos_3f9a1c0b7d2e_" + "s" * 43,
    )
    assert "s" * 43 not in repr(answer)
    assert "s" * 43 not in str(answer)


# ----------------------------------------------------------------------------------------------------------------
# No escalation
# ----------------------------------------------------------------------------------------------------------------


def test_a_key_cannot_create_a_key_with_a_scope_it_lacks(service: Service):
    admin_only = service.keys["admin"]
    before = set(listed(service))
    response = new_key(service, {"scopes": ["admin", "award", "revoke"]}, key=admin_only)
    error = assert_error(response, 403, "key_escalation")
    assert {d["message"] for d in error["details"]} == {
        "the calling key lacks the 'award' scope",
        "the calling key lacks the 'revoke' scope",
    }
    assert set(listed(service)) == before
    assert new_key(service, {"scopes": ["admin"]}, key=admin_only).status_code == 201


def test_a_key_cannot_create_a_key_that_outlives_it(service: Service):
    response = new_key(service, {"scopes": ["admin", "award"], "expires_in": "1d"})
    short_lived = response.json()["key"]
    for body in ({"scopes": ["award"]}, {"scopes": ["award"], "expires_in": "2d"}):
        error = assert_error(new_key(service, body, key=short_lived), 403, "key_escalation")
        assert [d["field"] for d in error["details"]] == ["expires_at"]
    assert new_key(service, {"scopes": ["award"], "expires_in": "12h"}, key=short_lived).status_code == 201


def test_managing_keys_needs_the_admin_scope(service: Service):
    for scope in ("award", "revoke"):
        headers = service.auth(scope)
        assert_error(service.client.get("/v1/keys", headers=headers), 403, "forbidden")
        assert_error(service.client.post("/v1/keys", json={"scopes": [scope]}, headers=headers), 403, "forbidden")
        prefix = prefix_of(service.keys[scope])
        assert_error(service.client.post(f"/v1/keys/{prefix}/revoke", headers=headers), 403, "forbidden")
    assert_error(service.client.get("/v1/keys"), 401, "unauthorized")


# ----------------------------------------------------------------------------------------------------------------
# Revocation and expiry
# ----------------------------------------------------------------------------------------------------------------


def test_a_key_revoked_through_the_api_is_refused_at_once(service: Service, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(service.state.api_keys, "ttl", 3600.0)  # only the revocation itself may refresh the cache
    key = create_key(service.data_dir, "award")
    assert award_with(service, key).status_code == 202  # cached now
    service.state.api_keys.close()  # its last use is written in the background: written now, before the revocation

    response = revoke(service, prefix_of(key))
    assert response.status_code == 200, response.text
    revoked = response.json()
    assert revoked["status"] == "revoked"
    assert datetime.fromisoformat(revoked["revoked_at"]) <= datetime.now(UTC)
    assert "key" not in revoked

    error = assert_error(award_with(service, key), 401, "key_revoked")
    assert secret_of(key) not in error["message"]
    assert award_with(service, key).headers["WWW-Authenticate"] == "Bearer"
    # Only the right secret learns that the key was revoked.
    wrong = key[: len("kudos_") + 13] + "A" * 43
    assert_error(award_with(service, wrong), 401, "unauthorized")
    # Revoking it again changes nothing.
    again = revoke(service, prefix_of(key))
    assert again.status_code == 200
    assert again.json() == revoked
    assert listed(service)[prefix_of(key)]["status"] == "revoked"


def test_a_key_revoked_from_the_command_line_stops_working_within_the_cache_time(service: Service):
    assert service.state.settings.api_key_cache_s == CACHE_S
    key = create_key(service.data_dir, "award")
    assert award_with(service, key).status_code == 202
    revoked_at = time.monotonic()
    args = ["keys", "revoke", prefix_of(key), "--data-dir", str(service.data_dir)]
    result = CliRunner().invoke(cli_app, args, env={"KUDOS_API_KEY_CACHE_S": str(CACHE_S)})  # as the service's
    assert result.exit_code == 0, result.stderr
    assert f"within {CACHE_S:g} s" in result.stdout

    while (response := authed(service, key)).status_code == 404:
        assert time.monotonic() - revoked_at < CACHE_S + 0.5, "the revoked key still works after the cache time"
        time.sleep(0.02)
    assert_error(response, 401, "key_revoked")
    assert_error(authed(service, key), 401, "key_revoked")


def test_revoking_an_unknown_prefix_is_a_404(service: Service):
    error = assert_error(revoke(service, "0123456789ab"), 404, "key_not_found")
    assert "0123456789ab" in error["message"]


def test_an_expired_key_is_refused_even_while_cached(service: Service, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(service.state.api_keys, "ttl", 3600.0)
    when = datetime.now(UTC) + timedelta(seconds=1.5)
    response = new_key(service, {"scopes": ["award"], "expires_at": when.isoformat()})
    assert response.status_code == 201, response.text
    key = response.json()["key"]
    assert award_with(service, key).status_code == 202
    time.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()) + 0.05)

    error = assert_error(award_with(service, key), 401, "key_expired")
    assert when.isoformat(timespec="seconds")[:16] in error["message"]
    assert_error(award_with(service, key[:-1] + ("A" if key[-1] != "A" else "B")), 401, "unauthorized")
    assert listed(service)[prefix_of(key)]["status"] == "expired"


def test_a_key_stored_already_expired_is_refused(service: Service):
    with service.state.db.session() as session:
        key, _ = store_key(session, scopes=["award"], expires_at=utcnow() - timedelta(seconds=1))
    assert_error(award_with(service, key), 401, "key_expired")


# ----------------------------------------------------------------------------------------------------------------
# Last use
# ----------------------------------------------------------------------------------------------------------------


def _last_used(service: Service, key: str) -> datetime | None:
    with service.state.db.session() as session:
        row = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix_of(key))).one()
        return row.last_used_at


def _wait_last_used(service: Service, key: str) -> datetime:
    deadline = time.monotonic() + 5
    while (found := _last_used(service, key)) is None:
        assert time.monotonic() < deadline, "the last use was not recorded"
        time.sleep(0.02)
    return found


def test_the_last_use_is_written_once_per_interval_not_per_request(service: Service):
    key = create_key(service.data_dir, "award")
    assert _last_used(service, key) is None
    writes: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_KEYS"):
            writes.append(statement)

    engine = service.state.db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(10):
            assert authed(service, key).status_code == 404
        first = _wait_last_used(service, key)
        time.sleep(0.2)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(writes) == 1, writes
    assert datetime.now(UTC) - first.replace(tzinfo=UTC) < timedelta(seconds=10)
    assert listed(service)[prefix_of(key)]["last_used_at"] is not None


def test_a_last_use_that_cannot_be_written_never_fails_or_holds_a_request(
    service: Service, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    monkeypatch.setattr(service.state.api_keys, "last_used_every", 0.0)  # every request tries to write
    key = create_key(service.data_dir, "award")
    release = threading.Event()
    blocked: list[str] = []

    def fail(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_KEYS"):
            blocked.append(statement)
            release.wait(10)  # the database holds the write (a lock) ...
            raise sqlite3.OperationalError("database is locked")  # ... and then refuses it

    engine = service.state.db.engine
    event.listen(engine, "before_cursor_execute", fail)
    caplog.set_level(logging.WARNING, logger="kudos_service.state")
    try:
        started = time.monotonic()
        for _ in range(3):
            assert authed(service, key).status_code == 404
        assert time.monotonic() - started < 5  # no request waited for the held write
        assert blocked
    finally:
        release.set()
        service.state.api_keys.close()  # the queued writes finish (and fail)
        event.remove(engine, "before_cursor_execute", fail)
    assert _last_used(service, key) is None
    messages = [r.getMessage() for r in caplog.records if "last use" in r.getMessage()]
    assert messages
    assert all(prefix_of(key) in m and secret_of(key) not in m for m in messages)
    assert authed(service, key).status_code == 404  # a new writer starts
    _wait_last_used(service, key)


def test_the_cache_writes_a_key_s_last_use_at_most_once_per_interval(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'kudos.db'}")
    db.migrate()
    with db.session() as session:
        _key, row = store_key(session, scopes=["award"])
        session.expunge(row)
    cache = ApiKeyCache(db, ttl=1.0, last_used_every=0.3)
    try:
        cache.used(row)
        cache.close()
        first = _stored_use(db, row.id)
        assert first is not None
        cache.used(row)  # within the interval: nothing written
        cache.close()
        assert _stored_use(db, row.id) == first
        time.sleep(0.35)
        cache.used(row)
        cache.close()
        later = _stored_use(db, row.id)
        assert later is not None
        assert later > first
    finally:
        db.dispose()


def _stored_use(db: Database, key_id: int) -> datetime | None:
    with db.session() as session:
        found: datetime | None = session.get_one(ApiKey, key_id).last_used_at
        return found


# ----------------------------------------------------------------------------------------------------------------
# Hostile input
# ----------------------------------------------------------------------------------------------------------------

BAD_BODIES: dict[str, tuple[Any, str]] = {
    "scopes as a string": ({"scopes": "admin"}, "scopes"),
    "scopes of numbers": ({"scopes": [1]}, "scopes[0]"),
    "scopes null": ({"scopes": None}, "scopes"),
    "scopes an object": ({"scopes": {"admin": True}}, "scopes"),
    "no scope": ({"scopes": []}, "scopes"),
    "an unknown scope": ({"scopes": ["root"]}, "scopes[0]"),
    "four scopes": ({"scopes": ["award"] * 4}, "scopes"),
    "no scopes field": ({"name": "x"}, "scopes"),
    "a name of a number": ({"scopes": ["award"], "name": 5}, "name"),
    "a name with ESC": ({"scopes": ["award"], "name": "HR\x1b[31m"}, "name"),
    "a name with NUL": ({"scopes": ["award"], "name": "HR\x00"}, "name"),
    "a name with a newline": ({"scopes": ["award"], "name": "HR\ntool"}, "name"),
    "a name with a lone surrogate": ({"scopes": ["award"], "name": "HR\ud800"}, "name"),
    "a name too long": ({"scopes": ["award"], "name": "x" * 201}, "name"),
    "a lifetime of a number": ({"scopes": ["award"], "expires_in": 30}, "expires_in"),
    "a lifetime without unit": ({"scopes": ["award"], "expires_in": "30"}, "expires_in"),
    "a lifetime in years": ({"scopes": ["award"], "expires_in": "1y"}, "expires_in"),
    "a lifetime of zero": ({"scopes": ["award"], "expires_in": "0d"}, "expires_in"),
    "a negative lifetime": ({"scopes": ["award"], "expires_in": "-1d"}, "expires_in"),
    "a lifetime past ten years": ({"scopes": ["award"], "expires_in": "999999d"}, "expires_in"),
    "an instant of a number": ({"scopes": ["award"], "expires_at": 1_900_000_000}, "expires_at"),
    "an instant of a boolean": ({"scopes": ["award"], "expires_at": True}, "expires_at"),
    "an instant that is not one": ({"scopes": ["award"], "expires_at": "next tuesday"}, "expires_at"),
    "an instant in the past": ({"scopes": ["award"], "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
    "an instant past year 9999 in UTC": (
        {"scopes": ["award"], "expires_at": "9999-12-31T23:00:00-05:00"},
        "expires_at",
    ),
    "an instant past ten years": ({"scopes": ["award"], "expires_at": "2999-01-01T00:00:00Z"}, "expires_at"),
    "both expiries": ({"scopes": ["award"], "expires_in": "1d", "expires_at": "2099-01-01T00:00:00Z"}, "body"),
    "an unknown field": ({"scopes": ["award"], "secret": "mine"}, "secret"),
    "a list": ([{"scopes": ["award"]}], "body"),
    "a string": ("award", "body"),
}


@pytest.mark.parametrize(("body", "field"), list(BAD_BODIES.values()), ids=list(BAD_BODIES))
def test_a_bad_key_request_is_a_422_naming_the_field_and_creates_nothing(service: Service, body: Any, field: str):
    before = set(listed(service))
    response = service.client.post(
        "/v1/keys", content=json.dumps(body), headers=service.auth("all", **{"Content-Type": "application/json"})
    )
    error = assert_error(response, 422, "invalid_request")
    assert field in [d["field"] for d in error["details"]], error
    assert set(listed(service)) == before


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        ('{"scopes": ["award"]', "application/json", 400, "invalid_json"),
        (b'{"scopes": ["\xff"]}', "application/json", 400, "invalid_json"),
        ('{"scopes": ["award"]}', "text/plain", 415, "unsupported_media_type"),
        ("", "application/json", 422, "missing_body"),
        ('{"scopes": ' + "[" * 40 + "]" * 40 + "}", "application/json", 413, "payload_too_deep"),
        ('{"scopes": ["award"], "name": "' + "x" * 70_000 + '"}', "application/json", 413, "payload_too_large"),
    ],
    ids=["truncated", "not utf-8", "not json", "empty", "nested 41 deep", "over 64 KiB"],
)
def test_a_key_request_that_cannot_be_read_is_a_documented_4xx(
    service: Service, content: str | bytes, content_type: str, status: int, code: str
):
    before = set(listed(service))
    response = service.client.post(
        "/v1/keys", content=content, headers=service.auth("all", **{"Content-Type": content_type})
    )
    assert_error(response, status, code)
    assert set(listed(service)) == before


@pytest.mark.parametrize(
    "prefix",
    ["slack", "SLACK", "0123456789AB", "0123456789a", "0123456789abc", "0123456789a%00", "x" * 5000, "%00", "%0a" * 4],
)
def test_a_bad_prefix_to_revoke_is_a_422_and_revokes_nothing(service: Service, prefix: str):
    before = listed(service)
    response = service.client.post(f"/v1/keys/{prefix}/revoke", headers=service.auth("admin"))
    error = assert_error(response, 422, "invalid_request")
    assert error["details"][0]["field"] == "path.prefix"
    assert listed(service) == before


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [("[" * 40 + "]" * 40, 413, "payload_too_deep"), ('"' + "x" * 70_000 + '"', 413, "payload_too_large")],
    ids=["deep", "large"],
)
def test_a_hostile_body_to_revoke_is_refused_before_anything(service: Service, content: str, status: int, code: str):
    key = create_key(service.data_dir, "award")
    response = service.client.post(
        f"/v1/keys/{prefix_of(key)}/revoke",
        content=content,
        headers=service.auth("admin", **{"Content-Type": "application/json"}),
    )
    assert_error(response, status, code)
    assert listed(service)[prefix_of(key)]["status"] == "active"


def test_other_methods_on_the_key_paths_are_405(service: Service):
    for method, path in (("DELETE", "/v1/keys"), ("PUT", "/v1/keys"), ("GET", "/v1/keys/0123456789ab/revoke")):
        response = service.client.request(method, path, headers=service.auth("admin"))
        assert_error(response, 405, "method_not_allowed")


def test_no_key_secret_in_any_answer_or_log_line_but_its_creation(service: Service, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    created = new_key(service, {"scopes": ["award"], "name": "audit"})
    key = created.json()["key"]
    texts = [
        award_with(service, key).text,
        service.client.get("/v1/keys", headers=service.auth("admin")).text,
        revoke(service, prefix_of(key)).text,
        award_with(service, key).text,
        service.client.get("/openapi.json").text,
        repr(listed(service)),
    ]
    texts += [caplog.text, *(f"{r.getMessage()} {r.args!r}" for r in caplog.records)]
    for text in texts:
        assert secret_of(key) not in text
        assert key not in text
