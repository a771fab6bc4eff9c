"""Kudos held for people without a wallet: claiming them (``/v1/claims/{token}``, the link is the credential) and
managing them (``admin`` scope: links, what is held for whom, the mail outbox).

A claim is three calls, which the claim page (``/claim/{token}``) makes for a browser wallet and an HR tool's own
portal can make too:

1. ``GET /v1/claims/{token}``: the kudos held, and what the sign-in message must say;
2. ``POST /v1/claims/{token}/message`` with the wallet's address: the EIP-4361 message to sign, whole;
3. ``POST /v1/claims/{token}`` with the message and its signature: the claim. The kudos move through the outbox;
   ``GET /v1/claims/{token}`` follows them until each is ``in_wallet``.

Attempts are limited per link and per client address (``KUDOS_CLAIM_ATTEMPTS_PER_MINUTE``), and a claim token
never reaches a log line (:func:`~kudos_service.claims.links.redact_links`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BeforeValidator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kudos_service.api.deps import SessionDep, StateDep, json_if_any, require_json, require_scope
from kudos_service.api.errors import ApiError
from kudos_service.api.openapi import AUTH, JSON_BODY, STORAGE, error_responses
from kudos_service.api.routes.recipients import find_person
from kudos_service.chain_access import chain_name
from kudos_service.claims.custody import custody_address
from kudos_service.claims.links import token_hash
from kudos_service.claims.service import (
    CLAIM_STATEMENT,
    claim_progress,
    claim_state,
    end_links,
    find_claim,
    held_awards,
    issue_link,
    move_held,
    queue_claim_mail,
    redeem,
    refuse_closed,
    siwe_message,
)
from kudos_service.models import (
    ApiKey,
    Award,
    AwardStatus,
    Claim,
    Kind,
    Mail,
    MailStatus,
    Operation,
    OpKind,
    OpStatus,
    Recipient,
    as_utc,
    still_held,
    utcnow,
)
from kudos_service.schemas import (
    ClaimLinkOut,
    ClaimLinkRequest,
    ClaimMessageOut,
    ClaimMessageRequest,
    ClaimOut,
    ClaimRequest,
    HeldItem,
    HeldKudosOut,
    HeldPage,
    HeldStatus,
    MailOut,
    MailPage,
    MovedOut,
    SignInRequest,
    whole_number,
)
from kudos_service.state import AppState

__all__ = ["admin_router", "check_attempt", "claim_view", "redeem_claim", "router"]

router = APIRouter(prefix="/v1/claims", tags=["claims"])
admin_router = APIRouter(tags=["claims"])

AdminKey = Annotated[ApiKey, Depends(require_scope("admin"))]
Limit = Annotated[int, Query(ge=1, le=200), BeforeValidator(whole_number)]
Offset = Annotated[int, Query(ge=0, lt=2**63), BeforeValidator(whole_number)]

CLAIM_ERRORS = ("claim_not_found", "claim_used", "claim_expired", "claim_revoked")
SIWE_ERRORS = (
    "siwe_malformed",
    "siwe_domain_mismatch",
    "siwe_uri_mismatch",
    "siwe_chain_mismatch",
    "siwe_nonce_mismatch",
    "siwe_expired",
    "siwe_not_yet_valid",
    "siwe_signature_invalid",
    "wallet_is_custody",
)


def _deployment(state: AppState, session: Session) -> tuple[int, str]:
    deployment = state.catalog.deployment(session)
    if deployment is None:
        raise ApiError(503, "not_deployed", "the service has not reached its chain yet", headers={"Retry-After": "5"})
    return deployment


def _statuses(session: Session, awards: list[Award]) -> dict[str, HeldStatus]:
    """Where each award is, for a person: on its way, held, moving (its ``recover`` in the outbox), in the wallet,
    or failed (the move refused by the chain)."""
    tokens = [a.token_id for a in awards if a.token_id is not None]
    moves: dict[int, OpStatus] = {}
    if tokens:
        for op in session.scalars(
            select(Operation)
            .where(Operation.kind == OpKind.RECOVER, Operation.token_id.in_(tokens))
            .order_by(Operation.id)
        ):
            if op.token_id is not None:
                moves[op.token_id] = op.status  # the newest move of each kudos
    found: dict[str, HeldStatus] = {}
    for award in awards:
        move = moves.get(award.token_id) if award.token_id is not None else None
        if award.claimed_at is not None:
            found[award.id] = "in_wallet"
        elif move in (OpStatus.FAILED, OpStatus.ABANDONED):
            found[award.id] = "failed"
        elif move is not None and move != OpStatus.SUPERSEDED:
            found[award.id] = "moving"
        elif award.status == AwardStatus.CONFIRMED:
            found[award.id] = "held"
        else:
            found[award.id] = "on_its_way"
    return found


def _kudos(session: Session, awards: list[Award], base_url: str) -> list[HeldKudosOut]:
    kinds = {k.id: k for k in session.scalars(select(Kind).where(Kind.id.in_({a.kind_id for a in awards})))}
    statuses = _statuses(session, awards)
    return [
        HeldKudosOut(
            award_id=a.id,
            kind=kinds[a.kind_id].name,
            color=kinds[a.kind_id].color,
            message=a.message,
            awarded_by=a.awarded_by,
            awarded_at=as_utc(a.created_at),
            token_id=a.token_id,
            status=statuses[a.id],
            image_url=f"{base_url}/v1/awards/{a.id}/image.svg",
        )
        for a in awards
    ]


def claim_view(state: AppState, session: Session, claim: Claim) -> ClaimOut:
    """What ``GET /v1/claims/{token}`` and the claim page show of a claim."""
    chain_id, contract = _deployment(state, session)
    current = claim_state(claim)
    if current == "used":
        tokens = [op.token_id for op in claim_progress(session, claim) if op.token_id is not None]
        awards = list(session.scalars(select(Award).where(Award.token_id.in_(tokens)).order_by(Award.created_at)))
    elif current == "open":
        awards = held_awards(session, claim.recipient_id)
    else:  # a link withdrawn (sent to a wrong address, say) or expired shows nothing of the person's kudos
        awards = []
    kudos = _kudos(session, awards, state.settings.base_url)
    sign_in = None
    if current == "open":
        template = siwe_message(claim, custody_address(chain_id, contract), settings=state.settings,
                                chain_id=chain_id, now=utcnow())  # fmt: skip
        sign_in = SignInRequest(
            domain=template.domain,
            uri=template.uri,
            chain_id=chain_id,
            nonce=claim.nonce,
            statement=CLAIM_STATEMENT,
        )
    return ClaimOut(
        state=current,  # type: ignore[arg-type]
        expires_at=as_utc(claim.expires_at),
        wallet_address=claim.wallet_address,
        done=current == "used" and bool(kudos) and all(k.status in ("in_wallet", "failed") for k in kudos),
        kudos=kudos,
        sign_in=sign_in,
        chain_id=chain_id,
        contract_address=contract,
    )


def _client_key(request: Request) -> str:
    return f"ip:{request.client.host if request.client else '?'}"


def check_attempt(state: AppState, request: Request, token: str) -> None:
    """Count a claim attempt against the link and the client: 429 ``claim_rate_limited`` past the limit."""
    wait = state.claim_limits.allow("link:" + token_hash(token).hex(), _client_key(request))
    if wait > 0:
        seconds = max(1, int(wait + 0.999))
        raise ApiError(
            429,
            "claim_rate_limited",
            f"too many claim attempts: try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )


@router.get("/{token}", response_model=ClaimOut, responses=error_responses("claim_not_found", "not_deployed", *STORAGE))
def get_claim(token: str, state: StateDep, session: SessionDep, response: Response) -> ClaimOut:
    """The kudos a claim link is for and where they are; for an open link, what the sign-in message must say.
    No API key: the link is the credential."""
    response.headers["Cache-Control"] = "no-store"
    return claim_view(state, session, find_claim(session, token))


@router.post(
    "/{token}/message",
    response_model=ClaimMessageOut,
    dependencies=[Depends(require_json)],
    responses=error_responses(*JSON_BODY, *CLAIM_ERRORS, "claim_rate_limited", "not_deployed", *STORAGE),
)
def claim_message(
    token: str, body: ClaimMessageRequest, request: Request, state: StateDep, session: SessionDep, response: Response
) -> ClaimMessageOut:
    """The EIP-4361 message the wallet ``address`` signs (`personal_sign`) to claim; valid for 10 minutes. Counted
    in the claim attempts' limit, as the claim is."""
    check_attempt(state, request, token)
    response.headers["Cache-Control"] = "no-store"
    claim = find_claim(session, token)
    refuse_closed(claim, utcnow())
    chain_id, _ = _deployment(state, session)
    message = siwe_message(claim, body.address, settings=state.settings, chain_id=chain_id, now=utcnow())
    return ClaimMessageOut(message=message.text())


@router.post(
    "/{token}",
    status_code=202,
    response_model=ClaimOut,
    dependencies=[Depends(require_json)],
    responses=error_responses(*JSON_BODY, *CLAIM_ERRORS, *SIWE_ERRORS, "claim_rate_limited", "not_deployed", *STORAGE),
)
async def claim(token: str, body: ClaimRequest, request: Request, state: StateDep, response: Response) -> ClaimOut:
    """Claim: the signed sign-in message proves the wallet is the person's; every kudos held for them moves to it
    (the contract's `recover`, through the outbox). A link claims once: of two concurrent claims one wins, the
    other is refused `claim_used`. Follow the move with `GET /v1/claims/{token}`."""
    check_attempt(state, request, token)
    view = await run_in_threadpool(redeem_claim, state, token, body)
    state.worker.wake()
    response.headers["Cache-Control"] = "no-store"
    return view


def redeem_claim(state: AppState, token: str, body: ClaimRequest) -> ClaimOut:
    """Claim with ``token`` (:func:`~kudos_service.claims.service.redeem`) in a transaction of its own; the view."""
    context = state.chain.peek()
    with state.db.session() as session:
        chain_id, contract = _deployment(state, session)
        claimed = redeem(
            session,
            token,
            message=body.message,
            signature=body.signature,
            settings=state.settings,
            chain_id=chain_id,
            contract=contract,
            signer=context.signer.address if context is not None else "",
        )
        return claim_view(state, session, claimed)


# ----------------------------------------------------------------------------------------------------------------
# Admin: links, what is held, the mail outbox
# ----------------------------------------------------------------------------------------------------------------


@admin_router.post(
    "/v1/recipients/{handle}/claim-link",
    status_code=201,
    dependencies=[Depends(require_scope("admin")), Depends(json_if_any)],  # a missing key is 401 before a bad body
    response_model=ClaimLinkOut,
    responses=error_responses(*AUTH, *JSON_BODY, "recipient_not_found", "not_deployed", *STORAGE),
)
def new_claim_link(
    handle: str,
    state: StateDep,
    session: SessionDep,
    api_key: AdminKey,
    response: Response,
    body: Annotated[ClaimLinkRequest | None, Body()] = None,
) -> ClaimLinkOut:
    """A new claim link for a person: for what is held for them now and later (an employee who leaves takes their
    kudos). Every earlier link of theirs ends. It is emailed to them when they have an address (`send_email`), and
    answered here once: only its hash is stored."""
    chain_id, _ = _deployment(state, session)
    person = find_person(session, handle)
    link = issue_link(session, person, settings=state.settings, api_key_id=api_key.id)
    held = held_awards(session, person.id)
    mail = None
    if (body is None or body.send_email) and person.email is not None:
        ready = [a for a in held if a.status == AwardStatus.CONFIRMED]
        link.claim.email_wanted = not ready  # nothing on chain to announce yet: emailed when something is
        if ready:
            mail = queue_claim_mail(session, person, link, ready, settings=state.settings,
                                    chain_name=chain_name(chain_id))  # fmt: skip
            state.mailer.wake()
    response.headers["Cache-Control"] = "no-store"
    return ClaimLinkOut(
        url=link.url,
        expires_at=as_utc(link.claim.expires_at),
        held=len(held),
        mail_status="queued" if mail is not None else "when_confirmed" if link.claim.email_wanted else "none",
    )


@admin_router.delete(
    "/v1/recipients/{handle}/claim-link",
    status_code=204,
    response_class=Response,
    responses=error_responses(*AUTH, "recipient_not_found", *STORAGE),
)
def revoke_claim_links(handle: str, session: SessionDep, _: AdminKey) -> Response:
    """End every open claim link of a person (a link sent to a wrong address, say), and withdraw the claim emails not
    yet sent. What is held stays held; the next kudos confirmed for them is announced with a new link, to the email
    address the directory has then."""
    person = find_person(session, handle)
    end_links(session, person.id, now=utcnow(), why="an admin withdrew the person's links")
    return Response(status_code=204)


@admin_router.post(
    "/v1/recipients/{handle}/held/move",
    status_code=202,
    response_model=MovedOut,
    responses=error_responses(*AUTH, "recipient_not_found", "recipient_has_no_wallet", "not_deployed", *STORAGE),
)
def move_held_kudos(handle: str, state: StateDep, session: SessionDep, _: AdminKey) -> MovedOut:
    """Move every kudos held for a person to the wallet the directory has for them (given with `PATCH`): the admin
    vouches for the wallet, as for any award to it. Kudos still on their way to custody are not moved; call this
    again once they are confirmed."""
    contract = _deployment(state, session)[1]
    person = find_person(session, handle)
    if person.wallet_address is None:
        raise ApiError(422, "recipient_has_no_wallet", f"{person.handle!r} has no wallet address in the directory yet")
    context = state.chain.peek()
    signer = context.signer.address if context is not None else ""
    ops = move_held(session, person, person.wallet_address, signer=signer, contract=contract)
    if ops:
        state.worker.wake()
    return MovedOut(wallet_address=person.wallet_address, moving=len(ops))


@admin_router.get("/v1/held", response_model=HeldPage, responses=error_responses(*AUTH, "invalid_request", *STORAGE))
def list_held(session: SessionDep, _: AdminKey, limit: Limit = 50, offset: Offset = 0) -> HeldPage:
    """Every kudos held for someone and not yet claimed, oldest first, with who it is for."""
    where = still_held()
    total = int(session.scalar(select(func.count()).select_from(Award).where(*where)) or 0)
    awards = list(
        session.scalars(select(Award).where(*where).order_by(Award.created_at, Award.id).limit(limit).offset(offset))
    )
    statuses = _statuses(session, awards)
    people = {
        p.id: p for p in session.scalars(select(Recipient).where(Recipient.id.in_({a.held_for_id for a in awards})))
    }
    kinds = {k.id: k for k in session.scalars(select(Kind).where(Kind.id.in_({a.kind_id for a in awards})))}
    items = []
    for award in awards:
        person = people[award.held_for_id or 0]
        items.append(
            HeldItem(
                award_id=award.id,
                token_id=award.token_id,
                status=statuses[award.id],
                kind=kinds[award.kind_id].slug,
                awarded_by=award.awarded_by,
                awarded_at=as_utc(award.created_at),
                handle=person.handle,
                email=person.email,
                display_name=person.display_name,
                announced_at=None if award.announced_at is None else as_utc(award.announced_at),
            )
        )
    return HeldPage(total=total, limit=limit, offset=offset, items=items)


def _mail_out(mail: Mail) -> MailOut:
    return MailOut(
        id=mail.id,
        purpose=mail.purpose,
        to=mail.to_address,
        subject=mail.subject,
        status=mail.status.value,
        attempts=mail.attempts,
        last_error=mail.last_error,
        created_at=as_utc(mail.created_at),
        sent_at=None if mail.sent_at is None else as_utc(mail.sent_at),
        text=mail.text_body,
    )


@admin_router.get("/v1/mails", response_model=MailPage, responses=error_responses(*AUTH, "invalid_request", *STORAGE))
def list_mails(
    session: SessionDep,
    _: AdminKey,
    response: Response,
    status: Annotated[
        MailStatus | None, Query(description="Only messages in this state (`kept`: no mail server).")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> MailPage:
    """The mail outbox, newest first. Without a mail server (`KUDOS_SMTP_HOST`) messages are `kept` here, claim
    links and all, for an admin to pass on; once sent, a message's link is cut out of the copy kept here."""
    where = [] if status is None else [Mail.status == status]
    total = int(session.scalar(select(func.count()).select_from(Mail).where(*where)) or 0)
    mails = session.scalars(select(Mail).where(*where).order_by(Mail.id.desc()).limit(limit).offset(offset))
    response.headers["Cache-Control"] = "no-store"
    return MailPage(total=total, limit=limit, offset=offset, items=[_mail_out(m) for m in mails])
