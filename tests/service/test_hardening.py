"""Hostile and sloppy input, in the app: every refusal is a documented 4xx in the envelope, and nothing is stored.

The inputs that could kill a process (bodies nested 100,000 deep, bodies of many megabytes) are sent to a real
``kudos serve`` in ``tests/service_process/test_hostile.py``; here are the rules each field and path follows.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from kudos_service.api.middleware import json_depth
from kudos_service.awards import _request_hash
from kudos_service.models import Award
from kudos_service.schemas import AwardCreate
from sqlalchemy import event, select

from kudos_chain import KudosClient
from tests.service.conftest import Service, assert_error, award_body, new_address

PRECOMPILES = ["0x" + f"{n:040x}" for n in (0, 1, 9, 0x11, 0x100, 0xFFFF)]


# ----------------------------------------------------------------------------------------------------------------
# Text
# ----------------------------------------------------------------------------------------------------------------

CONTROL = {
    "NUL": "\x00",
    "BEL": "\x07",
    "ESC": "\x1b",
    "tab": "\t",
    "DEL": "\x7f",
    "C1 NEL": "\x85",
    "lone surrogate": "\ud800",
    "noncharacter FFFE": "\ufffe",
    "noncharacter FDD0": "\ufdd0",
    "astral noncharacter": "\U0010ffff",
    "carriage return": "\r",
}


@pytest.mark.parametrize("field", ["message", "awarded_by", "recipient_name"])
@pytest.mark.parametrize("char", CONTROL.values(), ids=CONTROL.keys())
def test_a_control_character_in_an_award_text_is_a_422_naming_the_field(service: Service, field: str, char: str):
    before = service.award_count()
    body = award_body(**{field: f"Thanks{char}for everything"})
    # json.dumps writes a lone surrogate as the escape \ud800, as a hostile client would.
    response = service.client.post(
        "/v1/awards",
        content=json.dumps(body),
        headers=service.auth(**{"Idempotency-Key": f"ctl-{field}-{ord(char[0])}", "Content-Type": "application/json"}),
    )
    error = assert_error(response, 422, "invalid_request")
    assert [d["field"] for d in error["details"]] == [field]
    assert service.award_count() == before


def test_a_newline_is_taken_in_a_message_only(service: Service):
    ok = service.post_award(award_body(message="Line one\r\nLine two\nLine three"))
    assert ok.status_code == 202, ok.text
    with service.state.db.session() as session:
        stored = session.get_one(Award, ok.json()["id"])
        assert stored.message == "Line one\nLine two\nLine three"  # CRLF read as LF, so it hashes the same
    error = assert_error(service.post_award(award_body(awarded_by="Grace\nHopper")), 422, "invalid_request")
    assert error["details"][0]["field"] == "awarded_by"
    assert "newline" in error["details"][0]["message"]


def test_text_is_stored_and_hashed_in_unicode_nfc(service: Service):
    decomposed = service.post_award(award_body(message="Merci, Rene\u0301e !", awarded_by="Zoe\u0308"))
    composed = service.post_award(award_body(message="Merci, Ren\u00e9e !", awarded_by="Zo\u00eb"))
    assert decomposed.status_code == composed.status_code == 202
    with service.state.db.session() as session:
        first = session.get_one(Award, decomposed.json()["id"])
        second = session.get_one(Award, composed.json()["id"])
        assert first.message == second.message == "Merci, Ren\u00e9e !"
        assert first.awarded_by == "Zo\u00eb"
        meta_first, meta_second = json.loads(first.metadata_json), json.loads(second.metadata_json)
    assert meta_first["message"] == meta_second["message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("external_id", "hr-\x0017"), ("display_name", "Ada\x1b[31m"), ("display_name", "Ada\nLovelace")],
)
def test_directory_text_refuses_control_characters(service: Service, field: str, value: str):
    body = {"handle": "ctl-" + new_address()[2:10].lower(), "external_id": "x-" + new_address(), "display_name": "A"}
    body[field] = value
    response = service.client.post("/v1/recipients", json=body, headers=service.auth("admin"))
    error = assert_error(response, 422, "invalid_request")
    assert error["details"][0]["field"] == field


@pytest.mark.parametrize(("field", "value"), [("name", "Star\x07"), ("emoji", "\x1b"), ("description", "a\x00b")])
def test_kind_text_refuses_control_characters(service: Service, field: str, value: str):
    body = {"slug": "ctl-kind", "name": "Control", field: value}
    response = service.client.post("/v1/kinds", json=body, headers=service.auth("admin"))
    error = assert_error(response, 422, "invalid_request")
    assert error["details"][0]["field"] == field


# ----------------------------------------------------------------------------------------------------------------
# Types, addresses, recipients
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, "1", None])
def test_transferable_is_a_json_boolean(service: Service, value: Any):
    response = service.post_award(award_body(transferable=value))
    if value is None:
        assert response.status_code == 202  # null: the kind's default
        return
    error = assert_error(response, 422, "invalid_request")
    assert error["details"][0]["field"] == "transferable"


@pytest.mark.parametrize(
    "recipient",
    [
        "2B5AD5c4795c026514f8317c7a215E218DcCD6cF",  # no 0x
        "0X2B5AD5c4795c026514f8317c7a215E218DcCD6cF",  # 0X
        " 0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF",
        "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cf",  # a checksum letter's case changed
        "0x2B5AD5c4795c026514f8317c7a215E218DcCD6c",  # 39 digits
        "0x2b5ad5c4795c026514f8317c7a215e218dccd6cf0",  # 41 digits
        *PRECOMPILES,
    ],
)
def test_a_recipient_address_is_exactly_0x_and_40_hex_digits_and_usable(service: Service, recipient: str):
    error = assert_error(service.post_award(award_body(recipient=recipient)), 422, "invalid_request")
    assert error["details"][0]["field"] == "recipient"


def test_lower_and_upper_case_addresses_are_taken_and_checksummed(service: Service):
    address = new_address()
    for spelled in (address.lower(), "0x" + address[2:].upper()):
        response = service.post_award(award_body(recipient=spelled))
        assert response.status_code == 202, response.text
        assert response.json()["recipient"] == address


def test_the_kudos_token_itself_is_refused_even_when_a_contract_is_meant(service: Service):
    token = service.ctx.client.address
    before = service.award_count()
    for means_contract in (False, True):
        response = service.post_award(award_body(recipient=token, recipient_is_contract=means_contract))
        error = assert_error(response, 422, "invalid_recipient")
        assert error["details"] == [{"field": "recipient", "message": error["message"]}]
    assert service.award_count() == before


def test_a_contract_recipient_needs_recipient_is_contract(service: Service):
    chain = service.ctx.chain
    with service.ctx.lock:  # the embedded chain mines one transaction at a time: not beside the worker's
        other = KudosClient.deploy(chain, chain.dev_accounts[5], name="Other", symbol="OTH")  # any contract
    error = assert_error(service.post_award(award_body(recipient=other.address)), 422, "contract_recipient")
    assert "recipient_is_contract" in error["message"]

    meant = service.post_award(award_body(recipient=other.address, recipient_is_contract=True))
    assert meant.status_code == 202, meant.text
    assert service.wait_confirmed(meant.json()["id"])["token_id"] is not None


def test_a_batch_names_every_recipient_that_cannot_hold_a_kudos(service: Service):
    token = service.ctx.client.address
    items = [award_body(idempotency_key=f"bad-rcpt-{i}") for i in range(3)]
    items[1]["recipient"] = token
    before = service.award_count()
    error = assert_error(service.post_batch(items), 422, "invalid_recipient")
    assert [d["index"] for d in error["details"]] == [1]
    assert service.award_count() == before


@pytest.mark.parametrize("wallet", [PRECOMPILES[1], "2B5AD5c4795c026514f8317c7a215E218DcCD6cF"])
def test_a_directory_wallet_follows_the_same_rules(service: Service, wallet: str):
    body = {"handle": "w" + new_address()[2:10].lower(), "external_id": "w-" + new_address(), "display_name": "W"}
    response = service.client.post(
        "/v1/recipients", json=body | {"wallet_address": wallet}, headers=service.auth("admin")
    )
    assert_error(response, 422, "invalid_request")


# ----------------------------------------------------------------------------------------------------------------
# Paths and queries
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token_id", ["1.0", "+1", "1_0", " 1", "1e0", "0x1", "\u0661"]
)  # the last: ARABIC-INDIC DIGIT ONE
def test_a_token_id_in_a_path_is_digits_only(service: Service, token_id: str):
    service.award_confirmed()
    for path in (f"/v1/tokens/{token_id}", f"/v1/tokens/{token_id}/image.svg"):
        error = assert_error(service.client.get(path), 422, "invalid_request")
        assert error["details"][0]["field"] == "path.token_id"
    revoke = service.client.post(
        f"/v1/tokens/{token_id}/revoke", json={"reason": "mistake"}, headers=service.auth("revoke")
    )
    assert_error(revoke, 422, "invalid_request")


@pytest.mark.parametrize(("name", "value"), [("limit", "1.0"), ("offset", "+0"), ("limit", "²")])
def test_paging_numbers_are_digits_only(service: Service, name: str, value: str):
    response = service.client.get(f"/v1/wallets/{new_address()}", params={name: value})
    assert_error(response, 422, "invalid_request")


@pytest.mark.parametrize("page", ["²", "1.0", "-1", "0", "x", "9" * 40])
def test_a_bad_wallet_page_number_is_an_html_400(service: Service, page: str):
    response = service.client.get(f"/wallet/{new_address()}", params={"page": page})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "not a page number" in response.text


# ----------------------------------------------------------------------------------------------------------------
# Bodies, methods, headers
# ----------------------------------------------------------------------------------------------------------------


def test_json_depth_is_counted_without_recursion():
    assert json_depth(b"[" * 200_000, 32) > 32
    assert json_depth(b'{"a": "[[[[[[[[[["}', 2) == 1
    assert json_depth(b'["\\"[[[[["]', 2) == 1  # an escaped quote does not end the string
    assert json_depth(json.dumps({"awards": [award_body()]}).encode(), 32) == 3


@pytest.mark.parametrize("key", [True, False])
def test_a_body_nested_too_deep_is_a_413_before_authentication(service: Service, key: bool):
    body = "[" * 40 + "]" * 40
    headers = {"Content-Type": "application/json", "Idempotency-Key": "deep"}
    if key:
        headers |= service.auth()
    response = service.client.post("/v1/awards", content=body, headers=headers)
    assert_error(response, 413, "payload_too_deep")


def test_a_body_over_the_limit_is_a_413(service: Service):
    limit = service.state.settings.max_anonymous_body_bytes
    response = service.client.post(
        "/v1/awards", content=b" " * (limit + 1), headers={"Content-Type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large")
    # With a key there is room for a batch, and the limit is the larger one.
    big = service.state.settings.max_body_bytes
    response = service.client.post(
        "/v1/awards/batch", content=b" " * (big + 1), headers=service.auth(**{"Content-Type": "application/json"})
    )
    error = assert_error(response, 413, "payload_too_large")
    assert f"{big:,}" in error["message"]


def test_options_names_every_method_of_the_path(service: Service):
    response = service.client.options("/v1/awards/batch")
    assert response.status_code == 204
    assert set(response.headers["allow"].split(", ")) == {"POST", "OPTIONS"}  # not /{award_id}'s GET
    response = service.client.options("/v1/kinds")
    assert set(response.headers["allow"].split(", ")) == {"GET", "POST", "OPTIONS"}
    assert_error(service.client.options("/no/such/path"), 404, "not_found")


def test_a_wrong_method_is_a_405_naming_the_allowed_ones(service: Service):
    response = service.client.delete("/v1/kinds")
    assert_error(response, 405, "method_not_allowed")
    assert set(response.headers["allow"].split(", ")) == {"GET", "POST", "OPTIONS"}


def test_every_answer_says_nosniff(service: Service):
    token_id = service.award_confirmed()["token_id"]
    for response in (
        service.client.get("/healthz"),
        service.client.get(f"/v1/tokens/{token_id}"),
        service.client.get(f"/v1/tokens/{token_id}/image.svg"),
        service.client.get(f"/wallet/{new_address()}"),
        service.client.get("/v1/awards/none"),
        service.client.post("/v1/awards", content="[" * 64, headers={"Content-Type": "application/json"}),
        service.client.options("/v1/kinds"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff", response.request.url


# ----------------------------------------------------------------------------------------------------------------
# Storage
# ----------------------------------------------------------------------------------------------------------------


def test_a_full_database_is_a_503_and_readyz_says_so_until_it_takes_writes_again(service: Service):
    """SQLite's ``max_page_count`` makes the database file full, exactly as a full disk does: every write that
    needs a page fails with SQLITE_FULL ("database or disk is full")."""
    engine = service.state.db.engine
    full = {"on": True}

    def cap(dbapi_connection: Any, _record: Any) -> None:
        if full["on"]:
            pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(engine, "connect", cap)
    engine.dispose()  # every connection from now on is capped
    try:
        before = service.award_count()
        for attempt in range(3):
            many = [award_body(idempotency_key=f"full-{attempt}-{i}", message="x" * 500) for i in range(200)]
            response = service.post_batch(many)
            if response.status_code != 202:
                break
        error = assert_error(response, 503, "storage_unavailable")
        assert response.headers["retry-after"] == "5"
        assert "database" in error["message"]
        ready = service.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"]["ok"] is False
        assert "full" in ready.json()["checks"]["database"]["error"]
        assert service.client.get("/healthz").status_code == 200
    finally:
        full["on"] = False
        event.remove(engine, "connect", cap)
        engine.dispose()
    assert service.client.get("/readyz").json()["checks"]["database"] == {"ok": True}
    assert service.post_award().status_code == 202
    with service.state.db.session() as session:
        keys = set(session.scalars(select(Award.idempotency_key)))
    assert not any(k.startswith(f"full-{attempt}-") for k in keys)  # the refused batch stored nothing
    assert service.award_count() == before + 200 * attempt + 1


def test_a_request_without_recipient_is_contract_hashes_as_before_the_field_existed():
    """Idempotency compares request hashes, and keys never expire: a body sent again after the upgrade must hash
    as the stored award did, or its replay would become a 409."""
    body = award_body(recipient_name="Ada", transferable=True)
    before_the_field = {"recipient_name": None, "transferable": None} | body
    old = hashlib.sha256(json.dumps(before_the_field, sort_keys=True, default=str).encode()).digest()
    assert _request_hash(AwardCreate(**body)) == old
    assert _request_hash(AwardCreate(**body, recipient_is_contract=True)) != old
