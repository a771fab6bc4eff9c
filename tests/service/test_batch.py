"""``POST /v1/awards/batch``: up to 1,000 awards, each with its own idempotency key, all or none."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.service.conftest import Service, assert_error, award_body, start_service


def item(**overrides: Any) -> dict[str, Any]:
    """A valid batch item with a fresh idempotency key."""
    return award_body(idempotency_key=os.urandom(8).hex()) | overrides


def indexes(error: dict[str, Any]) -> set[int]:
    return {d["index"] for d in error["details"]}


def test_a_batch_is_accepted_in_order_and_confirmed(service: Service):
    items = [item(kind="mentor"), item(kind=4), item(kind="valued-partner", transferable=True)]
    response = service.post_batch(items)

    assert response.status_code == 202, response.text
    accepted = response.json()
    assert [a["recipient"] for a in accepted] == [i["recipient"] for i in items]
    assert [a["kind"] for a in accepted] == ["mentor", "great-interview", "valued-partner"]
    assert [a["transferable"] for a in accepted] == [False, False, True]
    assert len({a["id"] for a in accepted}) == 3
    confirmed = [service.wait_confirmed(a["id"]) for a in accepted]
    assert len({a["token_id"] for a in confirmed}) == 3
    for award, sent in zip(confirmed, items, strict=True):
        assert service.ctx.client.kudos(award["token_id"]).owner == sent["recipient"]


def test_a_replayed_batch_returns_the_same_awards(service: Service):
    items = [item(), item()]
    first = service.post_batch(items).json()
    before = service.award_count()
    again = service.post_batch(items)
    assert again.status_code == 202
    assert [a["id"] for a in again.json()] == [a["id"] for a in first]
    assert service.award_count() == before


def test_a_batch_says_how_many_of_its_awards_existed_already(service: Service):
    items = [item(), item()]
    assert service.post_batch(items).headers["Idempotent-Replayed-Count"] == "0"
    assert service.post_batch([items[1], item(), items[0]]).headers["Idempotent-Replayed-Count"] == "2"


def test_a_batch_can_mix_new_awards_and_replays_of_single_awards(service: Service):
    body = award_body()
    single = service.post_award(body, key="single-then-batch").json()
    before = service.award_count()
    response = service.post_batch([item(), body | {"idempotency_key": "single-then-batch"}])
    assert response.status_code == 202, response.text
    assert response.json()[1]["id"] == single["id"]
    assert service.award_count() == before + 1


def test_a_reused_key_with_another_body_refuses_the_whole_batch(service: Service):
    kept = [item(), item()]
    service.post_batch(kept)
    before = service.award_count()
    items = [item(), kept[0] | {"message": "Changed."}, item(), kept[1] | {"kind": "mentor"}]
    error = assert_error(service.post_batch(items), 409, "idempotency_key_reused")
    assert indexes(error) == {1, 3}
    assert service.award_count() == before


def test_several_bad_items_are_all_named_and_nothing_is_written(service: Service):
    items = [item() for _ in range(10)]
    items[1]["recipient"] = "0x1234"  # malformed address
    items[2]["recipient"] = "0x" + "0" * 40  # the zero address
    items[4]["message"] = "x" * 501  # message over 500 characters
    items[5]["kind"] = "no-such-kind"  # unknown kind
    del items[6]["awarded_by"]  # missing field
    items[7]["idempotency_key"] = "has space"  # bad idempotency key
    items[8]["kind"] = 999  # unknown kind id
    items[9]["idempotency_key"] = items[0]["idempotency_key"]  # key repeated in the batch
    before = service.award_count()

    error = assert_error(service.post_batch(items), 422, "invalid_request")

    assert indexes(error) == {1, 2, 4, 5, 6, 7, 8, 9}
    fields = {(d["index"], d["field"]) for d in error["details"]}
    assert {(1, "awards[1].recipient"), (5, "awards[5].kind"), (8, "awards[8].kind")} <= fields
    assert (9, "awards[9].idempotency_key") in fields
    assert [d["index"] for d in error["details"]] == sorted(d["index"] for d in error["details"])
    assert service.award_count() == before


def test_unknown_kinds_are_all_named(service: Service):
    items = [item(), item(kind="nope"), item(), item(kind=12345)]
    before = service.award_count()
    error = assert_error(service.post_batch(items), 422, "unknown_kind")
    assert indexes(error) == {1, 3}
    assert service.award_count() == before


def test_a_key_repeated_in_a_batch_is_refused(service: Service):
    items = [item(), item(), item()]
    items[2]["idempotency_key"] = items[0]["idempotency_key"]
    before = service.award_count()
    error = assert_error(service.post_batch(items), 422, "duplicate_idempotency_key")
    assert indexes(error) == {2}
    assert service.award_count() == before


def test_a_batch_of_1001_is_refused(service: Service):
    before = service.award_count()
    error = assert_error(service.post_batch([item() for _ in range(1001)]), 422, "invalid_request")
    assert [d["field"] for d in error["details"]] == ["awards"]
    assert "1000" in error["details"][0]["message"]
    assert service.award_count() == before


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b'{"awards": []}', "application/json", 422, "invalid_request"),
        (b"[]", "application/json", 422, "invalid_request"),
        (b"{}", "application/json", 422, "invalid_request"),
        (b"", "application/json", 422, "missing_body"),
        (b'{"awards": [', "application/json", 400, "invalid_json"),
        (b'{"awards": []}', "text/plain", 415, "unsupported_media_type"),
    ],
    ids=["empty list", "not an object", "no awards", "empty body", "malformed JSON", "wrong content type"],
)
def test_a_bad_batch_body_is_refused(service: Service, content: bytes, content_type: str, status: int, code: str):
    before = service.award_count()
    headers = service.auth(**{"Content-Type": content_type})
    assert_error(service.client.post("/v1/awards/batch", content=content, headers=headers), status, code)
    assert service.award_count() == before


@pytest.fixture(scope="module")
def idle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A service whose worker does not run: accepted awards stay queued."""
    with start_service(tmp_path_factory.mktemp("idle"), run_worker=False) as running:
        yield running


def test_a_batch_of_1000_is_accepted_at_once(idle: Service):
    items = [item() for _ in range(1000)]
    response = idle.post_batch(items)
    assert response.status_code == 202, response.text[:500]
    accepted = response.json()
    assert len(accepted) == 1000
    assert {a["status"] for a in accepted} == {"queued"}
    assert [a["recipient"] for a in accepted] == [i["recipient"] for i in items]
    assert idle.award_count() == 1000
    metrics = idle.client.get("/metrics").text
    assert 'kudos_awards{status="queued"} 1000.0' in metrics
    assert "kudos_queue_depth 1000.0" in metrics
    ready = idle.client.get("/readyz").json()
    assert ready["checks"]["delivery"]["queue_depth"] == 1000
