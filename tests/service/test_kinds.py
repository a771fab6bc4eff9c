"""``GET /v1/kinds`` (public) and ``POST /v1/kinds`` (``admin`` scope)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.service.conftest import Service, assert_error, award_body

STARTER = ["team-player", "above-and-beyond", "mentor", "great-interview", "valued-partner", "loyal-customer"]


def new_kind(**overrides: Any) -> dict[str, Any]:
    kind = {
        "slug": "on-call-hero",
        "name": "On-call Hero",
        "description": "Kept production up through the night.",
        "audience": "employee",
        "color": "#b91c1c",
        "emoji": "🚒",
        "default_transferable": True,
    }
    return kind | overrides


def test_the_starter_kinds_cover_employees_candidates_and_customers(service: Service):
    response = service.client.get("/v1/kinds")  # public: no key
    assert response.status_code == 200
    kinds = response.json()
    assert [k["slug"] for k in kinds[:6]] == STARTER
    assert [k["id"] for k in kinds[:6]] == [1, 2, 3, 4, 5, 6]
    assert {k["audience"] for k in kinds[:6]} == {"employee", "candidate", "customer"}
    for kind in kinds:
        assert set(kind) == {
            "id",
            "slug",
            "name",
            "description",
            "audience",
            "color",
            "emoji",
            "default_transferable",
        }
        assert kind["name"]
        assert kind["description"]
        assert kind["color"].startswith("#")


def test_an_admin_adds_a_kind_and_awards_of_it_are_delivered(service: Service):
    before = [k["id"] for k in service.client.get("/v1/kinds").json()]
    assert_error(service.post_award(award_body(kind="on-call-hero")), 422, "unknown_kind")

    response = service.client.post("/v1/kinds", json=new_kind(), headers=service.auth("admin"))

    assert response.status_code == 201, response.text
    created = response.json()
    assert created == {"id": max(before) + 1, **new_kind()}
    listed = service.client.get("/v1/kinds").json()
    assert listed[-1] == created
    by_slug = service.award_confirmed(award_body(kind="on-call-hero"))
    by_id = service.award_confirmed(award_body(kind=created["id"]))
    assert by_slug["kind"] == by_id["kind"] == "on-call-hero"
    assert by_slug["transferable"] is True  # the kind's default
    assert service.ctx.client.kudos(by_id["token_id"]).kind == created["id"]


def test_a_kind_with_only_the_required_fields_gets_the_defaults(service: Service):
    response = service.client.post("/v1/kinds", json={"slug": "bare", "name": "Bare"}, headers=service.auth("admin"))
    assert response.status_code == 201, response.text
    kind = response.json()
    assert kind["audience"] == "employee"
    assert kind["default_transferable"] is False
    assert kind["description"] == ""


def test_a_slug_taken_is_409(service: Service):
    count = len(service.client.get("/v1/kinds").json())
    response = service.client.post("/v1/kinds", json=new_kind(slug="mentor"), headers=service.auth("admin"))
    error = assert_error(response, 409, "kind_exists")
    assert "mentor" in error["message"]
    assert len(service.client.get("/v1/kinds").json()) == count


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"slug": "Not A Slug"}, "slug"),
        ({"slug": "-leading-dash"}, "slug"),
        ({"slug": "x" * 64}, "slug"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"description": "x" * 501}, "description"),
        ({"audience": "robots"}, "audience"),
        ({"color": "red"}, "color"),
        ({"emoji": ""}, "emoji"),
        ({"id": 99}, "id"),
    ],
    ids=lambda v: next(iter(v)) if isinstance(v, dict) else v,
)
def test_a_bad_kind_is_refused(service: Service, change: dict[str, Any], field: str):
    count = len(service.client.get("/v1/kinds").json())
    response = service.client.post("/v1/kinds", json=new_kind(slug="bad-kind") | change, headers=service.auth("admin"))
    error = assert_error(response, 422, "invalid_request")
    assert [d["field"] for d in error["details"]] == [field]
    assert len(service.client.get("/v1/kinds").json()) == count


def test_a_kind_without_its_name_is_refused(service: Service):
    body = new_kind(slug="nameless")
    del body["name"]
    error = assert_error(
        service.client.post("/v1/kinds", json=body, headers=service.auth("admin")), 422, "invalid_request"
    )
    assert [d["field"] for d in error["details"]] == ["name"]


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"", "application/json", 422, "missing_body"),
        (b"{nope", "application/json", 400, "invalid_json"),
        (b'{"slug": "form", "name": "Form"}', "text/plain", 415, "unsupported_media_type"),
    ],
    ids=["empty body", "malformed JSON", "wrong content type"],
)
def test_a_bad_kind_body_is_refused(service: Service, content: bytes, content_type: str, status: int, code: str):
    headers = service.auth("admin", **{"Content-Type": content_type})
    assert_error(service.client.post("/v1/kinds", content=content, headers=headers), status, code)
