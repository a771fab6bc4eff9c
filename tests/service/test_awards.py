"""``POST /v1/awards`` and ``GET /v1/awards/{id}``: acceptance, delivery to ``confirmed``, bad input, idempotency."""

from __future__ import annotations

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest
from kudos_service.awards import accept_awards
from kudos_service.models import ApiKey, Award
from kudos_service.schemas import AwardCreate
from sqlalchemy import func, select

from kudos_chain import content_hash
from tests.service.conftest import Service, assert_error, award_body, create_key, new_address

HEX32 = re.compile(r"^0x[0-9a-f]{64}$")

#: 0x52908400098527886E0F7030069857D2E4169EE7 (EIP-55's example) with one letter's case changed.
BAD_CHECKSUM = "0x52908400098527886e0F7030069857D2E4169EE7"


def rows_with_key(service: Service, key: str) -> int:
    with service.state.db.session() as session:
        query = select(func.count()).select_from(Award).where(Award.idempotency_key == key)
        return int(session.scalar(query) or 0)


# ----------------------------------------------------------------------------------------------------------------
# The happy path
# ----------------------------------------------------------------------------------------------------------------


def test_an_award_is_accepted_then_confirmed_on_chain(service: Service):
    body = award_body(kind="mentor", recipient_name="Grace Hopper")
    response = service.post_award(body)

    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] in ("queued", "submitted", "confirmed")
    assert accepted["recipient"] == body["recipient"]
    assert accepted["kind"] == "mentor"
    assert accepted["transferable"] is False
    assert "Idempotent-Replayed" not in response.headers

    award = service.wait_confirmed(accepted["id"])
    ctx = service.ctx
    assert award["id"] == accepted["id"]
    assert isinstance(award["token_id"], int)
    assert award["token_id"] >= 1
    assert HEX32.match(award["tx_hash"])
    assert award["chain_id"] == ctx.chain_id
    assert award["contract_address"] == ctx.client.address
    assert award["token_uri"].endswith(f"/v1/tokens/{award['token_id']}")
    assert award["block_number"] >= 1
    assert award["failure_reason"] is None
    moments = [datetime.fromisoformat(award[f"{m}_at"]) for m in ("created", "submitted", "confirmed")]
    assert moments == sorted(moments)

    # The chain agrees: the recipient holds the token, of the kind, with the award's content hash.
    kudos = ctx.client.kudos(award["token_id"])
    assert kudos.owner == body["recipient"]
    assert kudos.kind == 3
    assert kudos.transferable is False
    assert "0x" + kudos.content_hash.hex() == award["content_hash"] == accepted["content_hash"]
    (receipt,) = ctx.chain.receipts_many([award["tx_hash"]])
    assert receipt is not None
    assert receipt.status == 1
    assert receipt.block_number == award["block_number"]


def test_the_kinds_default_and_an_explicit_transferable(service: Service):
    loyal = service.post_award(award_body(kind="loyal-customer")).json()
    soulbound = service.post_award(award_body(kind="loyal-customer", transferable=False)).json()
    movable = service.post_award(award_body(kind=1, transferable=True)).json()
    assert (loyal["transferable"], soulbound["transferable"], movable["transferable"]) == (True, False, True)
    assert service.wait_confirmed(movable["id"])["kind"] == "team-player"
    assert service.ctx.client.kudos(service.wait_confirmed(loyal["id"])["token_id"]).transferable is True


def test_a_message_of_exactly_500_characters_is_accepted(service: Service):
    response = service.post_award(award_body(message="x" * 500))
    assert response.status_code == 202, response.text


def test_post_with_wait_answers_once_confirmed(service: Service):
    response = service.post_award(wait=15)
    assert response.status_code == 202, response.text
    award = response.json()
    assert award["status"] == "confirmed"
    assert award["token_id"] is not None
    assert award["tx_hash"] is not None


def test_get_with_wait_answers_once_confirmed(service: Service):
    award_id = service.post_award().json()["id"]
    response = service.client.get(f"/v1/awards/{award_id}", params={"wait": 15}, headers=service.auth())
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "confirmed"


def test_get_without_wait_answers_at_once(service: Service):
    award_id = service.post_award().json()["id"]
    response = service.client.get(f"/v1/awards/{award_id}", headers=service.auth())
    assert response.status_code == 200
    assert response.json()["id"] == award_id
    assert response.json()["status"] in ("queued", "submitted", "confirmed")


@pytest.mark.parametrize("wait", ["-1", "61", "soon"])
def test_a_bad_wait_is_refused(service: Service, wait: str):
    award_id = service.post_award().json()["id"]
    got = service.client.get(f"/v1/awards/{award_id}", params={"wait": wait}, headers=service.auth())
    assert_error(got, 422, "invalid_request")
    before = service.award_count()
    posted = service.client.post(
        "/v1/awards", params={"wait": wait}, json=award_body(), headers=service.auth(**{"Idempotency-Key": "w-" + wait})
    )
    assert_error(posted, 422, "invalid_request")
    assert service.award_count() == before


def test_an_unknown_award_is_404(service: Service):
    error = assert_error(
        service.client.get("/v1/awards/00000000-0000-0000-0000-000000000000", headers=service.auth()),
        404,
        "award_not_found",
    )
    assert "00000000-0000-0000-0000-000000000000" in error["message"]


def test_an_award_of_another_api_key_is_404(service: Service):
    award_id = service.post_award().json()["id"]
    other = create_key(service.data_dir, "award")
    response = service.client.get(f"/v1/awards/{award_id}", headers={"Authorization": f"Bearer {other}"})
    assert_error(response, 404, "award_not_found")


# ----------------------------------------------------------------------------------------------------------------
# Bad input: a 4xx with a code and a sentence, never a 500, never a write
# ----------------------------------------------------------------------------------------------------------------

BAD_BODIES: list[tuple[str, dict[str, Any], int, str, str | None]] = [
    ("malformed address", {"recipient": "0x1234"}, 422, "invalid_request", "recipient"),
    ("not an address", {"recipient": "alice@example.com"}, 422, "invalid_request", "recipient"),
    ("bad checksum", {"recipient": BAD_CHECKSUM}, 422, "invalid_request", "recipient"),
    ("zero address", {"recipient": "0x" + "0" * 40}, 422, "invalid_request", "recipient"),
    ("unknown kind slug", {"kind": "no-such-kind"}, 422, "unknown_kind", "kind"),
    ("unknown kind id", {"kind": 999}, 422, "unknown_kind", "kind"),
    ("kind true", {"kind": True}, 422, "invalid_request", "kind"),
    ("message over 500", {"message": "x" * 501}, 422, "invalid_request", "message"),
    ("empty message", {"message": ""}, 422, "invalid_request", "message"),
    ("blank message", {"message": "   "}, 422, "invalid_request", "message"),
    ("message not a string", {"message": 42}, 422, "invalid_request", "message"),
    ("awarded_by over 200", {"awarded_by": "x" * 201}, 422, "invalid_request", "awarded_by"),
    ("unknown field", {"colour": "red"}, 422, "invalid_request", "colour"),
    ("transferable not a bool", {"transferable": "maybe"}, 422, "invalid_request", "transferable"),
]


@pytest.mark.parametrize(
    ("change", "status", "code", "field"), [b[1:] for b in BAD_BODIES], ids=[b[0] for b in BAD_BODIES]
)
def test_a_bad_field_is_refused_with_its_code_and_nothing_is_written(
    service: Service, change: dict[str, Any], status: int, code: str, field: str | None
):
    before = service.award_count()
    error = assert_error(service.post_award(award_body(**change)), status, code)
    # A union (kind: an id or a slug) names each of its members: kind.int, kind.constrained-str.
    assert {d["field"].split(".")[0] for d in error["details"]} == {field}
    assert all(d["message"] for d in error["details"])
    assert service.award_count() == before


@pytest.mark.parametrize("missing", ["recipient", "kind", "message", "awarded_by"])
def test_a_missing_field_is_refused(service: Service, missing: str):
    body = award_body()
    del body[missing]
    error = assert_error(service.post_award(body), 422, "invalid_request")
    assert [d["field"] for d in error["details"]] == [missing]


BAD_REQUESTS: list[tuple[str, bytes, str | None, int, str]] = [
    ("empty body", b"", "application/json", 422, "missing_body"),
    ("malformed JSON", b'{"recipient": ', "application/json", 400, "invalid_json"),
    ("not UTF-8", b"\xff\xfe\x00", "application/json", 400, "invalid_json"),
    ("JSON array", b"[]", "application/json", 422, "invalid_request"),
    ("JSON string", b'"hello"', "application/json", 422, "invalid_request"),
    ("text/plain", b"{}", "text/plain", 415, "unsupported_media_type"),
    ("form", b"recipient=0x1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ("no content type", b"{}", None, 415, "unsupported_media_type"),
]


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"), [b[1:] for b in BAD_REQUESTS], ids=[b[0] for b in BAD_REQUESTS]
)
def test_a_bad_body_is_refused_with_its_code_and_nothing_is_written(
    service: Service, content: bytes, content_type: str | None, status: int, code: str
):
    headers = service.auth(**{"Idempotency-Key": "bad-body"})
    if content_type is not None:
        headers["Content-Type"] = content_type
    before = service.award_count()
    assert_error(service.client.post("/v1/awards", content=content, headers=headers), status, code)
    assert service.award_count() == before


def test_valid_json_sent_as_text_is_refused(service: Service):
    headers = service.auth(**{"Idempotency-Key": "as-text", "Content-Type": "text/plain"})
    before = service.award_count()
    response = service.client.post("/v1/awards", content=json.dumps(award_body()), headers=headers)
    assert_error(response, 415, "unsupported_media_type")
    assert service.award_count() == before


@pytest.mark.parametrize(
    ("key", "code"),
    [
        (None, "missing_idempotency_key"),
        (b"", "invalid_idempotency_key"),
        (b"x" * 256, "invalid_idempotency_key"),
        (b"two words", "invalid_idempotency_key"),
        (b"tab\there", "invalid_idempotency_key"),
        ("caf\u00e9".encode("latin-1"), "invalid_idempotency_key"),
        ("caf\u00e9".encode(), "invalid_idempotency_key"),
    ],
    ids=["missing", "empty", "256 characters", "space", "tab", "latin-1", "utf-8"],
)
def test_a_bad_idempotency_key_is_refused(service: Service, key: bytes | None, code: str):
    headers: dict[str, Any] = service.auth()
    if key is not None:
        headers["Idempotency-Key"] = key
    before = service.award_count()
    assert_error(service.client.post("/v1/awards", json=award_body(), headers=headers), 400, code)
    assert service.award_count() == before


def test_an_idempotency_key_of_255_printable_characters_is_accepted(service: Service):
    key = "".join(chr(c) for c in range(0x21, 0x7F)) * 3
    response = service.post_award(key=key[:255])
    assert response.status_code == 202, response.text


# ----------------------------------------------------------------------------------------------------------------
# Idempotency
# ----------------------------------------------------------------------------------------------------------------


def test_a_replay_returns_the_same_award(service: Service):
    body = award_body()
    first = service.post_award(body, key="replay-1")
    assert first.status_code == 202
    assert "Idempotent-Replayed" not in first.headers
    again = service.post_award(body, key="replay-1")
    assert again.status_code == 202
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["content_hash"] == first.json()["content_hash"]
    assert rows_with_key(service, "replay-1") == 1


def test_a_replay_after_confirmation_returns_the_confirmed_award(service: Service):
    body = award_body()
    first = service.post_award(body, key="replay-2", wait=15).json()
    assert first["status"] == "confirmed"
    again = service.post_award(body, key="replay-2")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first
    assert rows_with_key(service, "replay-2") == 1


def test_a_replay_with_an_equivalent_body_is_a_replay(service: Service):
    body = award_body()
    first = service.post_award(body, key="replay-3").json()
    lower = body | {"recipient": body["recipient"].lower(), "message": f"  {body['message']} "}
    again = service.post_award(lower, key="replay-3")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first["id"]


def test_a_key_reused_with_another_body_is_409_and_changes_nothing(service: Service):
    body = award_body()
    first = service.post_award(body, key="reused-1").json()
    before = service.award_count()
    for change in ({"message": "Something else."}, {"recipient": new_address()}, {"kind": "mentor"}):
        error = assert_error(service.post_award(body | change, key="reused-1"), 409, "idempotency_key_reused")
        assert error["details"][0]["field"] == "Idempotency-Key"
        assert "reused-1" in error["details"][0]["message"]
    assert service.award_count() == before
    award = service.wait_confirmed(first["id"])
    assert award["recipient"] == body["recipient"]
    assert award["content_hash"] == first["content_hash"]


def test_one_idempotency_key_under_two_api_keys_makes_two_awards(service: Service):
    other = create_key(service.data_dir, "award")
    body = award_body()
    mine = service.post_award(body, key="shared-key").json()
    headers = {"Authorization": f"Bearer {other}", "Idempotency-Key": "shared-key"}
    theirs = service.client.post("/v1/awards", json=body, headers=headers)
    assert theirs.status_code == 202
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.json()["id"] != mine["id"]


def test_concurrent_duplicates_through_the_api_make_one_award(service: Service):
    body = award_body()
    start = threading.Barrier(20)

    def post(_: int) -> Any:
        start.wait()
        return service.post_award(body, key="concurrent-1")

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(post, range(20)))

    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 19
    assert rows_with_key(service, "concurrent-1") == 1
    service.wait_confirmed(responses[0].json()["id"])


def test_concurrent_duplicates_with_two_bodies_make_one_award(service: Service):
    bodies = [award_body(), award_body()]
    start = threading.Barrier(20)

    def post(i: int) -> Any:
        start.wait()
        return service.post_award(bodies[i % 2], key="concurrent-2")

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(post, range(20)))

    accepted = [r for r in responses if r.status_code == 202]
    for refused in (r for r in responses if r.status_code != 202):
        assert_error(refused, 409, "idempotency_key_reused")
    assert len(accepted) == 10
    assert len({r.json()["id"] for r in accepted}) == 1
    assert rows_with_key(service, "concurrent-2") == 1


def test_concurrent_duplicates_in_the_database_make_one_award(service: Service):
    """The API's handler runs on one event loop; the unique constraint is what holds across processes, so race
    ``accept_awards`` itself from 20 threads, each with its own connection."""
    with service.state.db.session() as session:
        api_key = session.scalars(select(ApiKey)).first()
    assert api_key is not None
    body = AwardCreate(**award_body())
    start = threading.Barrier(20)

    def accept(_: int) -> tuple[str, bool]:
        start.wait()
        with service.state.db.session() as session:
            (accepted,) = accept_awards(
                session, settings=service.state.settings, api_key=api_key, items=[("concurrent-3", body)]
            )
            return accepted.award.id, accepted.created

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(accept, range(20)))

    assert len({award_id for award_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert rows_with_key(service, "concurrent-3") == 1


def test_the_stored_content_hash_is_the_hash_of_the_stored_metadata(service: Service):
    award_id = service.post_award().json()["id"]
    with service.state.db.session() as session:
        award = session.get_one(Award, award_id)
        assert content_hash(json.loads(award.metadata_json)) == award.content_hash
