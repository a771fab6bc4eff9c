"""``/v1/keys``: API keys, with the ``admin`` scope: list them, create one (the key answered once), revoke one.

A key is revoked with ``POST /v1/keys/{prefix}/revoke``, as a kudos is with ``POST /v1/tokens/{token_id}/revoke``:
the key is not deleted (it stays in the listing, ``revoked``, and its awards keep their owner), so ``DELETE``
would promise what does not happen, and a second revocation answers the same key again rather than a 404. A key
revoked here is refused by this process at once and by other processes within ``KUDOS_API_KEY_CACHE_S``.

A key cannot hand out more than it holds: a new key's scopes must be the calling key's, and it may not outlive it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response

from kudos_service.api.deps import SessionDep, StateDep, require_json, require_scope
from kudos_service.api.openapi import AUTH, JSON_BODY, KEY_EXAMPLE, STORAGE, error_responses, request_examples
from kudos_service.core.security import PREFIX_PATTERN
from kudos_service.keys import check_grant, create_key, expiry, key_view, list_keys, revoke_key
from kudos_service.models import ApiKey, utcnow
from kudos_service.schemas import KeyCreate, KeyCreated, KeyOut

__all__ = ["router"]

router = APIRouter(prefix="/v1/keys", tags=["keys"])

AdminKey = Annotated[ApiKey, Depends(require_scope("admin"))]
Prefix = Annotated[
    str,
    Path(
        pattern=PREFIX_PATTERN,
        description="The key's prefix: the 12 hex digits after `kudos_`, as `GET /v1/keys` lists them.",
        examples=["3f9a1c0b7d2e"],
    ),
]

#: The created key can be revoked with its prefix (for generated clients and stateful testing).
_CREATED: dict[int | str, dict[str, Any]] = {
    201: {
        "description": "The new key, with the key itself: shown this once. `Cache-Control: no-store`.",
        "links": {
            "revoke": {
                "operationId": "revoke_api_key",
                "parameters": {"prefix": "$response.body#/prefix"},
                "description": "Revoke the key just made.",
            }
        },
    }
}


@router.get("", response_model=list[KeyOut], responses=error_responses(*AUTH, *STORAGE))
def list_api_keys(session: SessionDep, _: AdminKey) -> list[KeyOut]:
    """Every API key, oldest first, revoked and expired ones included: prefix, name, scopes, status, when it was
    created, last used (recorded at most once a minute), expires and was revoked. Never a key's secret."""
    now = utcnow()
    return [key_view(key, now) for key in list_keys(session)]


@router.post(
    "",
    status_code=201,
    response_model=KeyCreated,
    dependencies=[Depends(require_scope("admin")), Depends(require_json)],  # a missing key is 401 before a bad body
    responses=_CREATED | error_responses(*AUTH, "key_escalation", *JSON_BODY, *STORAGE),
    openapi_extra=request_examples("An award key for the HR tool, for 90 days", KEY_EXAMPLE),
)
def create_api_key(body: KeyCreate, session: SessionDep, caller: AdminKey, response: Response) -> KeyCreated:
    """Create an API key and answer it, the one time it is ever shown (only its hash is stored).

    Its scopes must be scopes the calling key holds, and it expires no later than the calling key (403
    `key_escalation`). `expires_in` (`30d`) or `expires_at` (ISO 8601) sets its expiry; neither: it never
    expires (when the calling key never does)."""
    expires_at = expiry(expires_in=body.expires_in, expires_at=body.expires_at)
    check_grant(caller, body.scopes, expires_at)
    key, row = create_key(session, scopes=body.scopes, name=body.name, expires_at=expires_at)
    response.headers["Cache-Control"] = "no-store"
    return KeyCreated(**key_view(row).model_dump(), key=key)


@router.post("/{prefix}/revoke", response_model=KeyOut, responses=error_responses(*AUTH, "key_not_found", *STORAGE))
def revoke_api_key(prefix: Prefix, state: StateDep, _: AdminKey) -> KeyOut:
    """Revoke an API key for good, and answer it as the listing shows it. This service refuses it at once (401
    `key_revoked`); other processes sharing the database within their key cache time (`KUDOS_API_KEY_CACHE_S`, 5 s
    by default). Revoking a revoked key changes nothing and answers it again. A key may revoke itself."""
    with state.db.session() as session:
        key, _changed = revoke_key(session, prefix)
        view = key_view(key)
    state.api_keys.forget(prefix)  # after the commit: a request reading it now sees it revoked
    return view
