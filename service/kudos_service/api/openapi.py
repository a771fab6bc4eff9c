"""The OpenAPI document: every refusal each route can answer, the error envelope as a schema, authentication as a
security scheme, and examples a generated client can send as they are.

Routes name what they can refuse in their decorators, by error code::

    @router.post("", status_code=202, responses=error_responses(*AUTH, *JSON_BODY, "unknown_kind", *STORAGE))

:func:`error_responses` groups the codes by status into OpenAPI responses whose schema is :class:`ErrorEnvelope`,
each code with its meaning and an example. :func:`install_openapi` then completes what FastAPI generates from the
routes (see :func:`complete_openapi`): the ``Authorization`` header parameters become the ``bearerAuth`` security
scheme (with the scope each route needs), ``Idempotency-Key`` is required and has its pattern, ``500
internal_error`` is listed on every operation, and FastAPI's own 422 schema is replaced by the envelope that
:mod:`kudos_service.api.errors` actually sends.

Refusals that belong to no operation are described in the document's introduction: 404 ``not_found`` for a path
the API does not have and 405 ``method_not_allowed`` (with ``Allow``) for a method a path does not take.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from starlette.routing import BaseRoute

from kudos_service.api.deps import require_scope
from kudos_service.core.security import SCOPES
from kudos_service.schemas import ADDRESS_PATTERN, EXAMPLE_ADDRESS

__all__ = [
    "AUTH",
    "AWARD_EXAMPLE",
    "AWARD_REFUSALS",
    "BATCH_EXAMPLE",
    "ERROR_CODES",
    "IDEMPOTENCY_KEY_PATTERN",
    "JSON_BODY",
    "KEY_EXAMPLE",
    "KIND_EXAMPLE",
    "RECIPIENT_EXAMPLE",
    "RECIPIENT_UPDATE_EXAMPLE",
    "SECURITY_SCHEME",
    "STORAGE",
    "SVG_BADGE",
    "ErrorCode",
    "ErrorEnvelope",
    "Readiness",
    "TokenMetadata",
    "api_operations",
    "complete_openapi",
    "error_responses",
    "install_openapi",
    "request_examples",
    "response_headers",
    "route_scopes",
]

#: An ``Idempotency-Key``: 1 to 255 printable ASCII characters, no spaces (what ``schemas.IdempotencyKey`` takes).
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"

#: The name of the API-key security scheme in ``components.securitySchemes``.
SECURITY_SCHEME = "bearerAuth"

_REF = "#/components/schemas/"


# ----------------------------------------------------------------------------------------------------------------
# The error envelope
# ----------------------------------------------------------------------------------------------------------------


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # absent, never null: the JSON schema says "optional", not "null by default"


class ErrorDetail(BaseModel):
    """One problem of a refused request: the field it is about, and the item of a batch."""

    field: str | SkipJsonSchema[None] = Field(
        default=None,
        description="Where the problem is: a field (`recipient`), a batch item's field (`awards[3].kind`), a header "
        "(`Idempotency-Key`), or `body`. Absent when the problem is not about one place.",
        examples=["recipient", "awards[3].kind"],
        json_schema_extra=_no_default,
    )
    message: str = Field(description="What is wrong, for people.")
    index: int | SkipJsonSchema[None] = Field(
        default=None,
        description="The index of the item in a batch (`awards[index]`), for batch requests.",
        json_schema_extra=_no_default,
    )


class Error(BaseModel):
    """A refusal: a code for programs and a sentence for people."""

    code: str = Field(
        description="What went wrong, machine-readable and stable; each response lists the codes it can carry.",
        examples=["invalid_request"],
    )
    message: str = Field(description="What went wrong, for people; the wording may change.")
    details: list[ErrorDetail] = Field(description="Each problem found, possibly none (an empty list).")


class ErrorEnvelope(BaseModel):
    """Every refusal of the API, 4xx or 5xx: an object with one member, `error`."""

    error: Error


@dataclass(frozen=True)
class ErrorCode:
    """One refusal the API can answer: its status, its code, when it is answered, and an example message."""

    status: int
    code: str
    meaning: str
    message: str
    details: tuple[Mapping[str, Any], ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)

    def example(self) -> dict[str, Any]:
        """The response body of this refusal, as an OpenAPI example object."""
        details = [dict(d) for d in self.details]
        return {
            "summary": self.meaning,
            "value": {"error": {"code": self.code, "message": self.message, "details": details}},
        }


_CHALLENGE = {"WWW-Authenticate": "`Bearer`: the request needs an API key (RFC 6750)."}
_RETRY = {"Retry-After": "Seconds to wait before trying again."}

#: Every error code the API answers with, by code. Routes pick theirs with :func:`error_responses`.
ERROR_CODES: dict[str, ErrorCode] = {
    c.code: c
    for c in (
        # 400: the request cannot be read
        ErrorCode(400, "invalid_json", "The body is not valid JSON.", "the body is not valid JSON"),
        ErrorCode(
            400,
            "bad_request",
            "The body cannot be read at all: it is not UTF-8, or its `Content-Length` is not a number.",
            "There was an error parsing the body",
        ),
        ErrorCode(
            400,
            "missing_idempotency_key",
            "No `Idempotency-Key` header.",
            "send an Idempotency-Key header, unique per award",
        ),
        ErrorCode(
            400,
            "invalid_idempotency_key",
            "The `Idempotency-Key` is not 1 to 255 printable ASCII characters without spaces.",
            "an Idempotency-Key is 1 to 255 printable ASCII characters without spaces",
        ),
        ErrorCode(
            400,
            "invalid_address",
            "The address in the path is not `0x` and 40 hex digits (with a valid EIP-55 checksum when mixed-case), nor "
            "a `@handle` where one is taken.",
            "'0x123' is not an Ethereum address",
        ),
        # 401, 403: who is asking
        ErrorCode(
            401,
            "unauthorized",
            "No API key, or not one this service knows (a wrong secret): `Authorization: Bearer <key>`.",
            "an API key is needed: Authorization: Bearer <key>",
            headers=_CHALLENGE,
        ),
        ErrorCode(
            401,
            "key_revoked",
            "The API key was revoked (`kudos keys revoke`, `POST /v1/keys/{prefix}/revoke`): it opens nothing any "
            "more. Answered only to a request with the key's right secret.",
            "this API key was revoked; use another one",
            headers=_CHALLENGE,
        ),
        ErrorCode(
            401,
            "key_expired",
            "The API key's expiry has passed: it opens nothing any more. Answered only to a request with the key's "
            "right secret.",
            "this API key expired at 2027-01-31T00:00:00+00:00; use another one",
            headers=_CHALLENGE,
        ),
        ErrorCode(
            403,
            "forbidden",
            "The API key lacks the scope this operation needs.",
            "this API key lacks the 'award' scope",
        ),
        ErrorCode(
            403,
            "key_escalation",
            "A key can create keys only with scopes it holds itself, expiring no later than itself; `details` names "
            "each scope it lacks (and `expires_at`).",
            "a key can only create keys with scopes it holds, expiring no later than itself",
            ({"field": "scopes", "message": "the calling key lacks the 'award' scope"},),
        ),
        ErrorCode(
            401,
            "invalid_slack_signature",
            "The `X-Slack-Signature` does not match the body under the app's Signing Secret, or a header is missing.",
            "the request's signature is not valid",
        ),
        ErrorCode(
            401,
            "stale_slack_request",
            "`X-Slack-Request-Timestamp` is more than five minutes from now (a replay).",
            "the request's timestamp is more than five minutes from now",
        ),
        # 404, 409, 410: the resource
        ErrorCode(
            404,
            "award_not_found",
            "No award has this id (made with this API key, for `GET /v1/awards/{award_id}`).",
            "no award '5f0c2b9e-3d1a-4c1e-9a57-0b3f1e7c9d21' was made with this API key",
        ),
        ErrorCode(404, "token_not_found", "No kudos has this id: never awarded by this service.", "no kudos 7 exists"),
        ErrorCode(
            404,
            "operation_not_found",
            "No operation has this id (made with this API key).",
            "no operation 12 was made with this API key",
        ),
        ErrorCode(
            404,
            "key_not_found",
            "No API key has this prefix.",
            "no API key has the prefix '3f9a1c0b7d2e'",
        ),
        ErrorCode(
            404,
            "wallet_not_found",
            "No wallet is known for the `@handle`: no one has it, their directory entry is not `listed`, or it holds "
            "no wallet (one answer for all three).",
            "no wallet is known for @ada",
        ),
        ErrorCode(
            404,
            "claim_not_found",
            "No claim link has this token (or it is not a token: a link cut short by a mail client, say).",
            "this claim link does not exist: check that it was copied whole",
        ),
        ErrorCode(
            404,
            "recipient_not_found",
            "No one in the directory has this handle.",
            "no one in the directory has the handle 'ada'",
        ),
        ErrorCode(
            404,
            "not_found",
            "Nothing is here: the Slack integration is not configured on this service "
            "(`KUDOS_SLACK_SIGNING_SECRET`), or the API has no such path.",
            "the Slack integration is not configured on this service",
        ),
        ErrorCode(
            405,
            "method_not_allowed",
            "The path does not take this method; `Allow` names those it takes. Belongs to no operation.",
            "DELETE is not allowed here; allowed: OPTIONS, POST",
            headers={"Allow": "The methods the path takes."},
        ),
        ErrorCode(
            409,
            "idempotency_key_reused",
            "The idempotency key was used before with a different body: a new award needs a new key.",
            "an idempotency key was already used with a different body: use a new key for a new award",
            ({"field": "Idempotency-Key", "message": "'hr-2026-0001' was used for another award"},),
        ),
        ErrorCode(
            409,
            "idempotency_conflict",
            "Concurrent requests used the same idempotency keys; retry the request.",
            "concurrent requests used these idempotency keys; retry",
        ),
        ErrorCode(
            409,
            "kind_exists",
            "A kind with this slug exists already.",
            "a kind with slug 'release-hero' exists already",
        ),
        ErrorCode(
            409,
            "recipient_exists",
            "Someone in the directory has this handle, external_id, slack_user_id or email already.",
            "someone in the directory has this handle already",
            ({"field": "handle", "message": "taken"},),
        ),
        ErrorCode(
            409,
            "recipient_has_held_kudos",
            "Kudos are held for the person: send them a claim link, or revoke what is held, before removing them.",
            "kudos are held for 'ada': send a claim link or revoke them before removing the entry",
        ),
        ErrorCode(
            409,
            "metadata_mismatch",
            "The stored metadata does not hash to the content hash on chain: it is not served.",
            "the stored metadata of kudos 7 does not match its content hash on chain",
        ),
        ErrorCode(
            410,
            "claim_used",
            "The claim link was used: its kudos went to the wallet that signed.",
            "this claim link was used already: its kudos went to the wallet that signed",
        ),
        ErrorCode(
            410,
            "claim_expired",
            "The claim link has expired; an admin sends a new one.",
            "this claim link has expired: ask the sender for a new one",
        ),
        ErrorCode(
            410,
            "claim_revoked",
            "A newer link replaced this claim link, or an admin withdrew it.",
            "this claim link was replaced by a newer one or withdrawn: use the newest",
        ),
        ErrorCode(410, "token_revoked", "The kudos was revoked or burnt.", "kudos 7 was revoked or burnt"),
        # 413, 415: the body as a whole
        ErrorCode(
            413,
            "payload_too_large",
            "The body is larger than the limit (larger still without an API key); refused before it is read.",
            "the request body is larger than the limit",
        ),
        ErrorCode(
            413,
            "payload_too_deep",
            "The JSON body nests arrays and objects deeper than the limit; refused before it is parsed.",
            "the JSON body nests deeper than the limit",
        ),
        ErrorCode(
            415,
            "unsupported_media_type",
            "The body is not declared as `Content-Type: application/json` (a Slack command: form-encoded).",
            "send the body as JSON with Content-Type: application/json",
        ),
        # 422: the body is read, but what it says cannot be done
        ErrorCode(
            422,
            "invalid_request",
            "A field, parameter or header is missing or invalid; `details` names each (with `index` in a batch).",
            "the request is invalid: message",
            ({"field": "message", "message": "String should have at least 1 character"},),
        ),
        ErrorCode(422, "missing_body", "The request has no JSON body.", "this request needs a JSON body"),
        ErrorCode(
            422,
            "unknown_kind",
            "The kind is neither the id nor the slug of a kind of `GET /v1/kinds`.",
            "a kind is not one of GET /v1/kinds",
            ({"field": "kind", "message": "unknown kind 'team-playr'"},),
        ),
        ErrorCode(
            422,
            "unknown_recipient",
            "No one in the directory has the `@handle`.",
            "no one in the directory has the handle 'ada'",
            ({"field": "recipient", "message": "no one in the directory has the handle 'ada'"},),
        ),
        ErrorCode(
            422,
            "chain_not_ready",
            "A kudos for a person without a wallet is held at the contract's custody address, which the service "
            "knows once it has reached its chain; retry shortly.",
            "a kudos can be held only once the service has its contract",
            ({"field": "recipient", "message": "a kudos can be held only once the service has its contract"},),
        ),
        ErrorCode(
            422,
            "recipient_name_held",
            "A kudos held for a person without a wallet does not name them in its public metadata: leave "
            "`recipient_name` out (an email recipient's name goes in `recipient.name`, for the directory only).",
            "a kudos held for someone does not name them in its public metadata",
            ({"field": "recipient", "message": "a kudos held for someone does not name them in its public metadata"},),
        ),
        ErrorCode(
            422,
            "wallet_is_custody",
            "The sign-in message names the custody address: a claim goes to the person's own wallet.",
            "the custody address cannot claim: sign with your own wallet",
        ),
        *(
            ErrorCode(422, code, meaning, example)
            for code, meaning, example in (
                (
                    "siwe_malformed",
                    "The sign-in message is not in the EIP-4361 form.",
                    "the sign-in message is not in the EIP-4361 form: 'Nonce: ' is missing or out of order",
                ),
                (
                    "siwe_domain_mismatch",
                    "The sign-in message is for another domain than this service's.",
                    "the sign-in message is for 'evil.example', not 'kudos.example'",
                ),
                (
                    "siwe_uri_mismatch",
                    "The sign-in message names another URI than the claim's.",
                    "the sign-in message names another URI than the claim's",
                ),
                (
                    "siwe_chain_mismatch",
                    "The sign-in message is for another chain than the contract's.",
                    "the sign-in message is for chain 1, not 8453",
                ),
                (
                    "siwe_nonce_mismatch",
                    "The sign-in message's nonce is not this link's.",
                    "the sign-in message's nonce is not the one this claim gave",
                ),
                (
                    "siwe_expired",
                    "The sign-in message is past its expiration time (or 15 minutes old): sign anew.",
                    "the sign-in message has expired: sign a new one",
                ),
                (
                    "siwe_not_yet_valid",
                    "The sign-in message is dated in the future (`Not Before`, a wrong clock).",
                    "the sign-in message is not valid yet: check the device's clock",
                ),
                (
                    "siwe_signature_invalid",
                    "The signature is not one, or not by the address the message names.",
                    "the sign-in message was not signed by the address it names",
                ),
            )
        ),
        ErrorCode(
            422,
            "recipient_has_no_wallet",
            "The person of the `@handle` has no wallet address in the directory yet.",
            "'ada' has no wallet address in the directory yet",
            ({"field": "recipient", "message": "'ada' has no wallet address in the directory yet"},),
        ),
        ErrorCode(
            422,
            "invalid_recipient",
            "A recipient can never hold a kudos (the KudosToken contract itself), or the recipients of a batch are "
            "refused for different reasons; `details` names each by `index`.",
            "the KudosToken contract itself cannot hold a kudos",
            ({"field": "recipient", "message": "the KudosToken contract itself cannot hold a kudos"},),
        ),
        ErrorCode(
            422,
            "contract_recipient",
            "The recipient address has code (a contract) and the award does not say `recipient_is_contract: true`.",
            "0x5FbDB2315678afecb367f032d93F642f64180aa3 is a contract, which may never show or move a kudos; send "
            '"recipient_is_contract": true if it is meant',
            ({"field": "recipient", "message": "0x5FbDB2315678afecb367f032d93F642f64180aa3 is a contract"},),
        ),
        ErrorCode(
            422,
            "duplicate_idempotency_key",
            "Two awards of one batch have the same `idempotency_key`.",
            "each award of a batch needs its own idempotency key",
            ({"index": 1, "field": "idempotency_key", "message": "repeated in this batch"},),
        ),
        ErrorCode(
            429,
            "claim_rate_limited",
            "Too many claim attempts for this link or from this client; `Retry-After` says when to try again.",
            "too many claim attempts: try again in 42 s",
            headers=_RETRY,
        ),
        # 500, 503: the service
        ErrorCode(
            500,
            "internal_error",
            "The service failed unexpectedly; the failure is logged, nothing is said about it.",
            "the service failed to handle this request; it has been logged",
        ),
        ErrorCode(
            503,
            "storage_unavailable",
            "The database cannot be used right now (disk full, locked, gone); nothing was changed: retry.",
            "the service cannot use its database right now; nothing was changed, try again shortly",
            headers=_RETRY,
        ),
        ErrorCode(
            503,
            "chain_unavailable",
            "The chain's node cannot be reached right now; retry.",
            "the chain cannot be read to verify this kudos: the node at http://127.0.0.1:8545 does not answer",
        ),
        ErrorCode(
            503,
            "not_deployed",
            "The service has not reached its chain yet.",
            "the service has not reached its chain yet",
        ),
    )
}

#: What a route that needs an API key can answer.
AUTH = ("unauthorized", "key_revoked", "key_expired", "forbidden")
#: What a route that takes a JSON body can answer before it looks at what the body says.
JSON_BODY = (
    "invalid_json",
    "bad_request",
    "payload_too_large",
    "payload_too_deep",
    "unsupported_media_type",
    "missing_body",
    "invalid_request",
)
#: What a route that reads or writes the database can answer when the database fails.
STORAGE = ("storage_unavailable",)
#: What any route can answer; :func:`complete_openapi` lists it on every operation.
#: (``bad_request``: the body limits refuse a ``Content-Length`` that is not a number on any request, a GET too.)
EVERYWHERE = ("bad_request", "internal_error")
#: Why an award (or an award of a batch) is refused for what it says.
AWARD_REFUSALS = (
    "unknown_kind",
    "unknown_recipient",
    "chain_not_ready",
    "recipient_name_held",
    "invalid_recipient",
    "contract_recipient",
    "idempotency_key_reused",
    "idempotency_conflict",
)

_TITLES = {
    400: "The request cannot be read.",
    401: "Who is asking is not known.",
    403: "Not allowed with this API key.",
    404: "Not found.",
    405: "Method not allowed.",
    409: "Conflicts with what exists.",
    410: "Gone.",
    413: "The body is too large or too deep.",
    429: "Too many attempts.",
    415: "The body is not of the media type this operation reads.",
    422: "The request is read but cannot be done as it says.",
    500: "The service failed.",
    503: "The service cannot do it right now; retry later.",
}


def error_responses(*codes: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI responses of these error codes, grouped by status, for a route's ``responses=``.

    Each response is an :class:`ErrorEnvelope` whose description lists its codes, with one example per code.

    >>> sorted(error_responses("unauthorized", "forbidden", "invalid_request"))
    [401, 403, 422]

    :raises KeyError: for a code :data:`ERROR_CODES` does not have.
    """
    by_status: dict[int, list[ErrorCode]] = {}
    for code in dict.fromkeys(codes):  # in order, once each
        error = ERROR_CODES[code]
        by_status.setdefault(error.status, []).append(error)
    return {status: _error_response(status, errors) for status, errors in sorted(by_status.items())}


def _error_response(status: int, errors: list[ErrorCode]) -> dict[str, Any]:
    lines = "\n".join(f"- `{e.code}`: {e.meaning}" for e in errors)
    response: dict[str, Any] = {
        "model": ErrorEnvelope,
        "description": f"{_TITLES.get(status, 'Refused.')} `error.code` is one of:\n\n{lines}",
        "content": {"application/json": {"examples": {e.code: e.example() for e in errors}}},
    }
    headers = {name: text for e in errors for name, text in e.headers.items()}
    if headers:
        response["headers"] = response_headers(headers)
    return response


# ----------------------------------------------------------------------------------------------------------------
# Bodies the routes answer without a response model, and request examples
# ----------------------------------------------------------------------------------------------------------------


class TokenAttribute(BaseModel):
    """An attribute of the ERC-721 metadata, as wallets and marketplaces show it."""

    trait_type: str
    value: str


class TokenMetadata(BaseModel):
    """The ERC-721 metadata JSON of a kudos (what `tokenURI` points to) with the kudos fields. Its canonical
    serialization (keys sorted, no whitespace, UTF-8) hashes to the content hash on chain."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(examples=["Team Player"])
    description: str = Field(description="The words of thanks.")
    image: str = Field(description="The URL of the badge picture.")
    attributes: list[TokenAttribute]
    kind: str = Field(description="The kind's name.", examples=["Team Player"])
    message: str
    awarded_by: str
    awarded_at: str = Field(
        description="When the issuer made the award (the service accepted it), ISO 8601 in UTC. It is hashed into "
        "the content hash, so it is fixed before the kudos is minted; the chain's date of the kudos (`issuedAt`, the "
        "wallet's `issued_at`) is the timestamp of the block that minted it, the same second or later. Kudos "
        "awarded by earlier versions of the service carry this date as `issued_at`."
    )
    recipient_name: str | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_no_default)
    external_url: str | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_no_default)


class Readiness(BaseModel):
    """Whether the service can accept and deliver awards, check by check (chain, database, signer, delivery); each
    check has `ok` and, when not ok, `error`."""

    model_config = ConfigDict(extra="allow")

    ready: bool
    checks: dict[str, dict[str, Any]]


#: The 200 of a route that answers a badge picture.
SVG_BADGE: dict[str, Any] = {
    "description": "The badge, an SVG picture drawn from the verified metadata.",
    "content": {"image/svg+xml": {"schema": {"type": "string"}}},
}


#: An award a generated client can send as it is: a kind of the starter set and a recipient that can hold it.
AWARD_EXAMPLE: dict[str, Any] = {
    "recipient": EXAMPLE_ADDRESS,
    "kind": "team-player",
    "message": "Thank you for carrying the launch!",
    "awarded_by": "Grace (HR)",
}

#: A batch of two awards, each with its own idempotency key.
BATCH_EXAMPLE: dict[str, Any] = {
    "awards": [
        {**AWARD_EXAMPLE, "idempotency_key": "hr-2026-0002"},
        {**AWARD_EXAMPLE, "message": "Thank you for the onboarding guide!", "idempotency_key": "hr-2026-0003"},
    ]
}

#: A kudos type to add.
KIND_EXAMPLE: dict[str, Any] = {
    "slug": "release-hero",
    "name": "Release Hero",
    "description": "For someone who carried a release over the line.",
    "audience": "employee",
    "color": "#7c3aed",
    "emoji": "🧭",
    "default_transferable": False,
}

#: A person to add to the directory.
RECIPIENT_EXAMPLE: dict[str, Any] = {
    "handle": "ada",
    "external_id": "hris-1001",
    "display_name": "Ada Lovelace",
    "wallet_address": EXAMPLE_ADDRESS,
    "show_name": False,
    "listed": False,
}

#: What a person allows the public pages to show.
RECIPIENT_UPDATE_EXAMPLE: dict[str, Any] = {"listed": True}

#: An API key to create.
KEY_EXAMPLE: dict[str, Any] = {"scopes": ["award"], "name": "HR tool", "expires_in": "90d"}


def response_headers(descriptions: Mapping[str, str]) -> dict[str, Any]:
    """OpenAPI header objects (optional strings) of a response, from their descriptions."""
    return {name: {"description": text, "schema": {"type": "string"}} for name, text in descriptions.items()}


def request_examples(summary: str, value: Any, media_type: str = "application/json") -> dict[str, Any]:
    """A route's ``openapi_extra`` that gives its request body an example (merged into FastAPI's document)."""
    return {"requestBody": {"content": {media_type: {"examples": {"example": {"summary": summary, "value": value}}}}}}


# ----------------------------------------------------------------------------------------------------------------
# Completing FastAPI's document
# ----------------------------------------------------------------------------------------------------------------


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _walk(dependency)


def route_scopes(dependant: Dependant) -> list[str]:
    """The scopes the API key of a request needs, from its route's dependencies (none: the route is public)."""
    checks = {require_scope(scope): scope for scope in SCOPES}
    found = {checks[d.call] for d in _walk(dependant) if d.call in checks}
    return sorted(found)


def api_operations(routes: Iterable[BaseRoute]) -> Iterator[tuple[str, str, str, Dependant]]:
    """``(path, method, name, dependant)`` of each API route's operations, ``method`` in lower case.

    FastAPI ≥ 0.16x keeps an included router as one nested entry of ``app.routes``; its
    ``iter_route_contexts`` gives each route with the path the app serves it at. Older versions list the routes.
    """
    contexts: Any = getattr(fastapi.routing, "iter_route_contexts", None)
    entries: Iterable[Any] = contexts(list(routes)) if contexts is not None else routes
    for entry in entries:
        route = getattr(entry, "original_route", entry)
        if isinstance(route, APIRoute):
            for method in entry.methods:
                yield entry.path_format, method.lower(), entry.name, entry.dependant


_BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": "An API key, made with `kudos keys create --scope ...` (or `POST /v1/keys`), in "
    "`Authorization: Bearer <key>`. Each operation that needs one names its scope (`award`, `revoke` or `admin`). "
    "A revoked key is refused (401 `key_revoked`) within the service's key cache time, 5 s by default "
    "(`KUDOS_API_KEY_CACHE_S`); an expired one at once (401 `key_expired`).",
}

_INTRODUCTION = """\
Award kudos, recognition as non-fungible tokens, exactly once.

Every refusal is a 4xx or 5xx whose body is an `ErrorEnvelope`: `{"error": {"code", "message", "details"}}`. Each
operation lists the codes it can answer. Two refusals belong to no operation: 404 `not_found` for a path the API
does not have, and 405 `method_not_allowed`, with `Allow`, for a method the path does not take.
"""


def complete_openapi(schema: dict[str, Any], routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """Complete FastAPI's document of ``routes`` in place, and return it.

    - ``Authorization`` header parameters become the ``bearerAuth`` security scheme, with the route's scopes;
      ``Content-Type`` header parameters go (OpenAPI ignores both: the body's ``content`` says the media type).
    - ``Idempotency-Key`` has its pattern; it is required where the route needs it (awards: a missing one is
      refused with 400 anyway) and optional where it does not (a revocation).
    - A path parameter ``address`` is a wallet address, with its pattern.
    - FastAPI's 422 (its own ``HTTPValidationError``, which this service never sends) becomes ``invalid_request``
      in the envelope; 500 ``internal_error`` is added to every operation.
    - Operation ids are the routes' function names (``create_award``), for generated clients.
    """
    by_operation = {(path, method): (name, dependant) for path, method, name, dependant in api_operations(routes)}
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            found = by_operation.get((path, method))
            if found is not None:
                name, dependant = found
                operation["operationId"] = name
                scopes = route_scopes(dependant)
                if scopes:
                    operation["security"] = [{SECURITY_SCHEME: scopes}]
                    needs = " and ".join(f"`{s}`" for s in scopes)
                    scope_words = "scopes" if len(scopes) > 1 else "scope"
                    text = f"Needs an API key with the {needs} {scope_words}."
                    before = operation.get("description")
                    operation["description"] = f"{before}\n\n{text}" if before else text
            _complete_parameters(operation)
            _complete_responses(operation)
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    envelope = ErrorEnvelope.model_json_schema(ref_template=_REF + "{model}")
    schemas.update(envelope.pop("$defs", {}))
    schemas.setdefault("ErrorEnvelope", envelope)
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = _BEARER
    schema.setdefault("info", {})["description"] = _INTRODUCTION
    return schema


#: Operations whose ``Idempotency-Key`` is optional: a revocation is made once per kudos anyway.
OPTIONAL_IDEMPOTENCY_KEY = frozenset({"revoke_token"})


def _complete_parameters(operation: dict[str, Any]) -> None:
    parameters = []
    for parameter in operation.get("parameters", []):
        name = parameter["name"].lower()
        where = parameter["in"]
        if where == "header" and name in ("authorization", "content-type"):
            continue
        if where == "header" and name == "idempotency-key":
            required = operation.get("operationId") not in OPTIONAL_IDEMPOTENCY_KEY
            parameter.update(
                required=required,
                description=(
                    "Unique per award and API key: the same key with the same body returns the same award "
                    "(`Idempotent-Replayed: true`); with another body it is refused (409 `idempotency_key_reused`)."
                    if required
                    else "Optional. The same key with the same request returns the same operation "
                    "(`Idempotent-Replayed: true`); with another request it is refused (409 "
                    "`idempotency_key_reused`)."
                ),
                schema={"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN, "minLength": 1, "maxLength": 255},
                example="hr-2026-0001",
            )
        if where == "path" and name == "address":
            parameter.update(
                description="A wallet address: `0x` and 40 hex digits, with a valid EIP-55 checksum when mixed-case.",
                schema={"type": "string", "pattern": ADDRESS_PATTERN},
                example=EXAMPLE_ADDRESS,
            )
        parameters.append(parameter)
    if parameters:
        operation["parameters"] = parameters
    else:
        operation.pop("parameters", None)


def _complete_responses(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    validation = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if validation.get("$ref") == _REF + "HTTPValidationError":
        responses["422"] = _openapi_response(422, ["invalid_request"])
    for code in EVERYWHERE:
        error = ERROR_CODES[code]
        responses.setdefault(str(error.status), _openapi_response(error.status, [code]))
    operation["responses"] = dict(sorted(responses.items()))


def _openapi_response(status: int, codes: list[str]) -> dict[str, Any]:
    """A response of :func:`error_responses` as it reads in the document (its model as a ``$ref``)."""
    response = _error_response(status, [ERROR_CODES[c] for c in codes])
    del response["model"]
    response["content"]["application/json"]["schema"] = {"$ref": _REF + "ErrorEnvelope"}
    return response


def install_openapi(app: FastAPI) -> None:
    """Serve :func:`complete_openapi`'s document at ``/openapi.json`` (and in ``/docs``): built once, on first use,
    when every route is included."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            complete_openapi(FastAPI.openapi(app), app.routes)  # FastAPI.openapi caches it in app.openapi_schema
        return app.openapi_schema  # type: ignore[return-value]  # set by FastAPI.openapi above

    app.openapi = openapi  # type: ignore[method-assign]
