"""``/openapi.json``: every refusal documented in the one error envelope, authentication as a security scheme,
patterns that say what a valid address and idempotency key are, and examples that work as they are.

Schemathesis checks the running service against this document in ``test_openapi_fuzz.py``; these tests check
the document itself, and that what it promises a generated client holds: its request examples, sent as they are,
are accepted.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kudos_service.api.openapi import ERROR_CODES, IDEMPOTENCY_KEY_PATTERN

from tests.service.conftest import SCOPES, Service, assert_error, create_key

SERVICE_SOURCE = Path(__file__).parents[2] / "service" / "kudos_service"

#: The scopes each authenticated operation needs.
SCOPED = {
    "POST /v1/awards": ["award"],
    "POST /v1/awards/batch": ["award"],
    "GET /v1/awards/{award_id}": ["award"],
    "POST /v1/kinds": ["admin"],
    "POST /v1/recipients": ["admin"],
    "GET /v1/recipients": ["admin"],
    "GET /v1/recipients/{handle}": ["admin"],
    "PATCH /v1/recipients/{handle}": ["admin"],
    "DELETE /v1/recipients/{handle}": ["admin"],
    "GET /v1/keys": ["admin"],
    "POST /v1/keys": ["admin"],
    "POST /v1/keys/{prefix}/revoke": ["admin"],
    "POST /v1/tokens/{token_id}/revoke": ["revoke"],
    "GET /v1/operations/{operation_id}": ["revoke"],
    "POST /v1/recipients/{handle}/claim-link": ["admin"],
    "DELETE /v1/recipients/{handle}/claim-link": ["admin"],
    "POST /v1/recipients/{handle}/held/move": ["admin"],
    "GET /v1/held": ["admin"],
    "GET /v1/mails": ["admin"],
}

#: What every operation that reads a JSON body can refuse before looking at what the body says.
JSON_BODY_CODES = {
    400: {"invalid_json", "bad_request"},
    413: {"payload_too_large", "payload_too_deep"},
    415: {"unsupported_media_type"},
    422: {"invalid_request", "missing_body"},
}


@pytest.fixture(scope="module")
def document(service: Service) -> dict[str, Any]:
    """The document as the service serves it."""
    response = service.client.get("/openapi.json")
    assert response.status_code == 200, response.text
    doc: dict[str, Any] = response.json()
    return doc


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``("POST /v1/awards", operation)`` for each operation of the document."""
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def documented_codes(operation: dict[str, Any], status: int) -> set[str]:
    """The error codes an operation documents for ``status`` (its examples' names)."""
    content = operation["responses"].get(str(status), {}).get("content", {}).get("application/json", {})
    return set(content.get("examples", {}))


def request_example(operation: dict[str, Any]) -> Any:
    """The request body example of an operation, as the document gives it."""
    (example,) = operation["requestBody"]["content"]["application/json"]["examples"].values()
    return example["value"]


def test_every_refusal_is_the_error_envelope_with_its_codes(document: dict[str, Any]):
    for label, operation in operations(document):
        responses = operation["responses"]
        assert "500" in responses, label
        assert "default" not in responses, f"{label}: a default response would document every status"
        for status, response in responses.items():
            if int(status) < 400 or label == "GET /readyz":  # /readyz answers its checks, 503 included
                continue
            content = response["content"]["application/json"]
            assert content["schema"] == {"$ref": "#/components/schemas/ErrorEnvelope"}, (label, status)
            codes = set(content["examples"])
            assert codes, (label, status)
            for code in codes:
                assert ERROR_CODES[code].status == int(status), (label, status, code)
                assert f"`{code}`" in response["description"], (label, status, code)
                assert content["examples"][code]["value"]["error"]["code"] == code
    envelope = document["components"]["schemas"]["ErrorEnvelope"]
    assert envelope["required"] == ["error"]
    error = document["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"code", "message", "details"}
    assert document["components"]["schemas"]["ErrorDetail"]["required"] == ["message"]
    assert "HTTPValidationError" not in document["components"]["schemas"]  # FastAPI's, which is never sent


def test_authentication_is_a_bearer_scheme_with_the_scope_each_operation_needs(document: dict[str, Any]):
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    scoped = {}
    for label, operation in operations(document):
        names = {p["name"].lower() for p in operation.get("parameters", [])}
        assert not names & {"authorization", "content-type"}, label  # OpenAPI ignores them as parameters
        if "security" in operation:
            (requirement,) = operation["security"]
            scoped[label] = requirement["bearerAuth"]
            assert documented_codes(operation, 401) == {"unauthorized", "key_revoked", "key_expired"}, label
            assert "forbidden" in documented_codes(operation, 403), label
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"], label
    assert scoped == SCOPED


def test_every_operation_that_reads_json_documents_the_refusals_of_a_body(document: dict[str, Any]):
    for label, operation in operations(document):
        if "application/json" not in operation.get("requestBody", {}).get("content", {}):
            continue
        for status, codes in JSON_BODY_CODES.items():
            assert codes <= documented_codes(operation, status), (label, status)


def test_every_error_code_the_service_raises_is_documented_with_its_status():
    """Each ``ApiError(status, "code", ...)`` and middleware refusal in the source, and each code the error
    handlers answer with, has an entry in ERROR_CODES with the same status."""
    raised: set[tuple[int | None, str]] = set()
    for source in SERVICE_SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name | ast.Attribute):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
            args = [a.value if isinstance(a, ast.Constant) else None for a in node.args]
            if name in ("ApiError", "_error") and len(args) >= 2 and isinstance(args[1], str):
                raised.add((args[0] if isinstance(args[0], int) else None, args[1]))
            elif name == "error_body" and args and isinstance(args[0], str):
                raised.add((None, args[0]))
    assert len(raised) > 20  # the scan found the service's refusals
    for status, code in sorted(raised, key=str):
        assert code in ERROR_CODES, f"{code!r} ({status}) is not in kudos_service.api.openapi.ERROR_CODES"
        if status is not None:
            assert ERROR_CODES[code].status == status, code


def test_patterns_say_what_an_address_and_an_idempotency_key_are(document: dict[str, Any]):
    schemas = document["components"]["schemas"]
    forms = schemas["AwardCreate"]["properties"]["recipient"]["oneOf"]
    (recipient,) = (form for form in forms if form.get("type") == "string")  # the other: {"email": …}
    wallet = next(s for s in schemas["RecipientCreate"]["properties"]["wallet_address"]["anyOf"] if "pattern" in s)
    award = document["paths"]["/v1/awards"]["post"]
    (key,) = (p for p in award["parameters"] if p["name"] == "Idempotency-Key")
    assert key["required"] is True
    assert key["schema"]["pattern"] == IDEMPOTENCY_KEY_PATTERN
    (address,) = document["paths"]["/v1/wallets/{address}"]["get"]["parameters"][:1]
    batch_key = schemas["AwardBatchItem"]["properties"]["idempotency_key"]

    good = "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"
    bad = [good[2:], "0X" + good[2:], good + "0", good[:-1], " " + good, good.replace("B", "G")]
    for schema in (wallet, address["schema"]):
        assert re.fullmatch(schema["pattern"], good)
        assert not any(re.search(schema["pattern"], b) for b in bad)
    assert re.search(recipient["pattern"], good)
    assert re.search(recipient["pattern"], "@ada.lovelace")
    assert not any(re.search(recipient["pattern"], b) for b in [*bad, "ada", "@", "@-ada"])
    for schema in (key["schema"], batch_key):

        def valid(value: str, schema: dict[str, Any] = schema) -> bool:
            fits = schema["minLength"] <= len(value) <= schema["maxLength"]
            return fits and re.search(schema["pattern"], value) is not None

        assert valid("hr-2026-0001")
        assert valid("~" * 255)
        assert not any(valid(k) for k in ["", "with space", "tab\t", "é", "x" * 256])


def test_constraints_are_json_schema_keywords(document: dict[str, Any]):
    """Pydantic writes a constraint it cannot place (``ge`` after a ``BeforeValidator``) under its own name,
    which no JSON Schema tool reads: ``minimum``, ``maximum`` and their exclusive forms are the keywords."""

    def walk(value: Any, where: str) -> Iterator[str]:
        if isinstance(value, dict):
            if "type" in value or "$ref" in value or "anyOf" in value:
                yield from (f"{where}.{k}" for k in ("ge", "le", "gt", "lt", "multiple_of") if k in value)
            for key, item in value.items():
                if key not in ("examples", "example"):
                    yield from walk(item, f"{where}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                yield from walk(item, f"{where}[{i}]")

    assert list(walk(document, "$")) == []


def test_operation_ids_are_the_route_names(document: dict[str, Any]):
    ids = [operation["operationId"] for _, operation in operations(document)]
    assert len(ids) == len(set(ids))
    assert document["paths"]["/v1/awards"]["post"]["operationId"] == "create_award"
    assert all(re.fullmatch(r"[a-z][a-z_]*", i) for i in ids), ids


def test_the_request_examples_are_accepted_as_they_are(service: Service, document: dict[str, Any]):
    """A generated client that sends the document's examples gets a person, a kind, an award, a batch and a
    revocation, in that order."""
    paths = document["paths"]
    admin, award = service.auth("admin"), service.auth("award")

    person = service.client.post("/v1/recipients", json=request_example(paths["/v1/recipients"]["post"]), headers=admin)
    assert person.status_code == 201, person.text
    handle = person.json()["handle"]
    update = request_example(paths["/v1/recipients/{handle}"]["patch"])
    assert service.client.patch(f"/v1/recipients/{handle}", json=update, headers=admin).status_code == 200
    kind = service.client.post("/v1/kinds", json=request_example(paths["/v1/kinds"]["post"]), headers=admin)
    assert kind.status_code == 201, kind.text

    operation = paths["/v1/awards"]["post"]
    (key,) = (p["example"] for p in operation["parameters"] if p["name"] == "Idempotency-Key")
    accepted = service.client.post(
        "/v1/awards", json=request_example(operation), headers={**award, "Idempotency-Key": key}
    )
    assert accepted.status_code == 202, accepted.text
    batch = service.client.post(
        "/v1/awards/batch", json=request_example(paths["/v1/awards/batch"]["post"]), headers=award
    )
    assert batch.status_code == 202, batch.text

    token_id = service.wait_confirmed(accepted.json()["id"])["token_id"]
    revoke = paths["/v1/tokens/{token_id}/revoke"]["post"]
    revoked = service.client.post(
        f"/v1/tokens/{token_id}/revoke", json=request_example(revoke), headers=service.auth("revoke")
    )
    assert revoked.status_code == 202, revoked.text
    assert set(revoked.json()) == set(document["components"]["schemas"]["OperationOut"]["properties"])


def test_the_key_example_is_accepted_and_its_link_revokes_the_key(service: Service, document: dict[str, Any]):
    """An admin key that holds the example's scopes creates the example key; the 201's link names the revocation
    with the answer's ``prefix``."""
    paths = document["paths"]
    every_scope = {"Authorization": f"Bearer {create_key(service.data_dir, *SCOPES)}"}
    create = paths["/v1/keys"]["post"]
    created = service.client.post("/v1/keys", json=request_example(create), headers=every_scope)
    assert created.status_code == 201, created.text
    assert set(created.json()) == set(document["components"]["schemas"]["KeyCreated"]["properties"])
    (link,) = create["responses"]["201"]["links"].values()
    assert link["operationId"] == paths["/v1/keys/{prefix}/revoke"]["post"]["operationId"]
    assert link["parameters"] == {"prefix": "$response.body#/prefix"}
    revoked = service.client.post(f"/v1/keys/{created.json()['prefix']}/revoke", headers=every_scope)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"


def test_a_documented_refusal_reads_as_documented(service: Service, document: dict[str, Any]):
    """The 401 of an award without a key is the envelope and code the document shows."""
    response = service.client.post("/v1/awards", json={}, headers={"Idempotency-Key": "k"})
    error = assert_error(response, 401, "unauthorized")
    assert error["code"] in documented_codes(document["paths"]["/v1/awards"]["post"], 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
