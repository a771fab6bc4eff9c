"""Kudos for people without a wallet, through the API on the embedded chain: held at the custody address, announced
with a claim link, claimed with a signed EIP-4361 message, moved with ``recover`` through the outbox.

The service here has no mail server, so claim emails are ``kept`` and read from ``GET /v1/mails``, as an admin
would; the email through a real SMTP server, and the claim in a browser, are in ``test_claim_browser.py``.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from kudos_service.chain_access import chain_name
from kudos_service.claims.custody import custody_address
from kudos_service.claims.links import new_claim_token
from kudos_service.claims.service import _announce, _RacedError, move_held
from kudos_service.claims.siwe import SiweMessage
from kudos_service.core.config import Settings
from kudos_service.models import Award, Claim, Mail, Operation, OpKind, OpStatus, Recipient
from kudos_service.state import build_state
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from tests.service.conftest import CONFIRM_TIMEOUT, Service, assert_error, award_body, start_service

LINK = re.compile(r"http://[^\s/]+/claim/([A-Za-z0-9_-]{43})")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service, with a claim limit no test here reaches but the one that tests it."""
    with start_service(tmp_path_factory.mktemp("claims"), claim_attempts_per_minute=10_000) as running:
        yield running


def email() -> str:
    return f"ada.{os.urandom(4).hex()}@example.com"


def held_award(service: Service, address: str, **overrides: Any) -> dict[str, Any]:
    """An award to ``address`` by email, once confirmed at the custody address."""
    award = service.award_confirmed(award_body(recipient={"email": address, "name": "Ada"}, **overrides))
    assert award["held"] is True
    return award


def wait_link(service: Service, address: str, *, after: int = 0) -> str:
    """The token of the newest claim link the service kept for ``address`` (no mail server: ``kept``)."""
    deadline = time.monotonic() + CONFIRM_TIMEOUT
    while True:
        page = service.client.get("/v1/mails", params={"status": "kept"}, headers=service.auth("admin")).json()
        mails = [m for m in page["items"] if m["to"] == address and m["id"] > after]
        if mails:
            found = LINK.search(mails[0]["text"])
            assert found is not None, mails[0]["text"]
            return found.group(1)
        assert time.monotonic() < deadline, "no claim email was kept"
        time.sleep(0.05)


def newest_mail_id(service: Service) -> int:
    items = service.client.get("/v1/mails", headers=service.auth("admin")).json()["items"]
    return int(items[0]["id"]) if items else 0


def signed_claim(service: Service, token: str, account: LocalAccount) -> dict[str, str]:
    """The body of a claim: the message the service wrote for ``account``, signed by it."""
    response = service.client.post(f"/v1/claims/{token}/message", json={"address": account.address})
    assert response.status_code == 200, response.text
    message = response.json()["message"]
    return {"message": message, "signature": sign(message, account)}


def sign(message: str, account: LocalAccount) -> str:
    return "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()


def wait_done(service: Service, token: str) -> dict[str, Any]:
    deadline = time.monotonic() + CONFIRM_TIMEOUT
    while True:
        view: dict[str, Any] = service.client.get(f"/v1/claims/{token}").json()
        if view["done"]:
            return view
        assert time.monotonic() < deadline, f"the claim did not finish: {view}"
        time.sleep(0.05)


def custody(service: Service) -> str:
    return custody_address(service.ctx.chain.chain_id, service.ctx.client.address)


# ----------------------------------------------------------------------------------------------------------------
# The whole way
# ----------------------------------------------------------------------------------------------------------------


def test_a_candidate_thanked_by_email_claims_the_kudos_into_a_wallet(
    service: Service, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    address = email()
    first = held_award(service, address.upper(), message="Thank you for a great interview.")
    assert first["recipient"] == custody(service)
    assert service.ctx.client.kudos(first["token_id"]).owner == custody(service)  # on chain from the first second
    token = wait_link(service, address)  # the address is kept in lower case

    view = service.client.get(f"/v1/claims/{token}").json()
    assert view["state"] == "open"
    assert [(k["award_id"], k["status"], k["message"]) for k in view["kudos"]] == [
        (first["id"], "held", "Thank you for a great interview.")
    ]
    assert view["sign_in"]["nonce"]
    assert view["sign_in"]["chain_id"] == service.ctx.chain.chain_id

    wallet = Account.create()
    claimed = service.client.post(f"/v1/claims/{token}", json=signed_claim(service, token, wallet))
    assert claimed.status_code == 202, claimed.text
    assert claimed.json()["state"] == "used"
    assert claimed.json()["wallet_address"] == wallet.address

    done = wait_done(service, token)
    assert [k["status"] for k in done["kudos"]] == ["in_wallet"]
    assert service.ctx.client.kudos(first["token_id"]).owner == wallet.address
    after = service.client.get(f"/v1/awards/{first['id']}", headers=service.auth()).json()
    assert (after["recipient"], after["held"]) == (wallet.address, False)
    with service.state.db.session() as session:
        person = session.scalars(select(Recipient).where(Recipient.email == address)).one()
        assert person.wallet_address == wallet.address  # the directory learns the wallet that signed
        moves = session.scalars(select(Operation).where(Operation.kind == OpKind.RECOVER)).all()
        assert [op.status for op in moves if op.token_id == first["token_id"]] == [OpStatus.DONE]

    again = service.client.post(f"/v1/claims/{token}", json=signed_claim_text(view, token, wallet))
    assert_error(again, 410, "claim_used")
    # The token is a credential: no log line of the service holds it (the test's HTTP client logs its own URLs).
    service_lines = [r.getMessage() for r in caplog.records if not r.name.startswith("httpx")]
    assert service_lines
    assert not [line for line in service_lines if token in line]


def signed_claim_text(view: dict[str, Any], token: str, account: LocalAccount) -> dict[str, str]:
    """A claim signed without asking the service for the message: written from ``view['sign_in']``, as a
    portal of an HR tool would."""
    sign_in = view["sign_in"]
    message = SiweMessage(
        domain=sign_in["domain"],
        address=account.address,
        statement=sign_in["statement"],
        uri=sign_in["uri"],
        chain_id=sign_in["chain_id"],
        nonce=sign_in["nonce"],
        issued_at=datetime.now(UTC).replace(microsecond=0),
    ).text()
    return {"message": message, "signature": sign(message, account)}


def test_a_claim_can_be_written_from_the_sign_in_fields_alone(service: Service):
    address = email()
    award = held_award(service, address)
    token = wait_link(service, address)
    view = service.client.get(f"/v1/claims/{token}").json()
    wallet = Account.create()
    response = service.client.post(f"/v1/claims/{token}", json=signed_claim_text(view, token, wallet))
    assert response.status_code == 202, response.text
    wait_done(service, token)
    assert service.ctx.client.kudos(award["token_id"]).owner == wallet.address


def test_kudos_awarded_after_a_claim_follow_the_person_to_their_wallet(service: Service):
    address = email()
    held_award(service, address)
    token = wait_link(service, address)
    wallet = Account.create()
    assert service.client.post(f"/v1/claims/{token}", json=signed_claim(service, token, wallet)).status_code == 202
    wait_done(service, token)
    # The directory has their wallet now: a new award by email goes straight there.
    later = service.award_confirmed(award_body(recipient={"email": address}))
    assert (later["recipient"], later["held"]) == (wallet.address, False)


def test_two_awards_to_one_new_address_in_a_batch_make_one_person_and_one_email(service: Service):
    address = email()
    before = newest_mail_id(service)
    items = [
        award_body(recipient={"email": address, "name": "Ada"}, idempotency_key=os.urandom(8).hex()),
        award_body(recipient={"email": address.upper()}, idempotency_key=os.urandom(8).hex()),
    ]
    response = service.post_batch(items)
    assert response.status_code == 202, response.text
    for award in response.json():
        service.wait_confirmed(award["id"])
    token = wait_link(service, address, after=before)
    with service.state.db.session() as session:
        people = session.scalars(select(Recipient).where(Recipient.email == address)).all()
        assert [(p.display_name, p.show_name, p.listed) for p in people] == [("Ada", False, False)]
    view = service.client.get(f"/v1/claims/{token}").json()
    assert len(view["kudos"]) == 2


def test_an_award_by_email_to_someone_with_a_wallet_goes_to_the_wallet(service: Service):
    address, wallet = email(), Account.create().address
    created = service.client.post(
        "/v1/recipients",
        json={"handle": f"w{os.urandom(4).hex()}", "external_id": os.urandom(6).hex(), "display_name": "W",
              "email": address, "wallet_address": wallet},
        headers=service.auth("admin"),
    )  # fmt: skip
    assert created.status_code == 201, created.text
    award = service.post_award(award_body(recipient={"email": address}))
    assert (award.json()["recipient"], award.json()["held"]) == (wallet, False)


# ----------------------------------------------------------------------------------------------------------------
# Refusals
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def open_link(service: Service) -> tuple[str, dict[str, Any]]:
    """A link that stays open: every refusal below leaves it so."""
    address = email()
    held_award(service, address)
    token = wait_link(service, address)
    return token, service.client.get(f"/v1/claims/{token}").json()


@pytest.mark.parametrize("token", ["Q" * 43, "short", "x" * 43 + "!", "%00" * 15])  # fixed ids: mutmut runs by id
def test_a_forged_or_malformed_link_is_404_and_says_nothing_more(service: Service, token: str):
    for response in (
        service.client.get(f"/v1/claims/{token}"),
        service.client.post(f"/v1/claims/{token}/message", json={"address": Account.create().address}),
        service.client.post(f"/v1/claims/{token}", json={"message": "m", "signature": "0x" + "1" * 130}),
    ):
        error = assert_error(response, 404, "claim_not_found")
        assert error["message"] == "this claim link does not exist: check that it was copied whole"


def _message(view: dict[str, Any], account: LocalAccount, **changes: Any) -> str:
    sign_in = view["sign_in"]
    fields: dict[str, Any] = {
        "domain": sign_in["domain"],
        "address": account.address,
        "statement": sign_in["statement"],
        "uri": sign_in["uri"],
        "chain_id": sign_in["chain_id"],
        "nonce": sign_in["nonce"],
        "issued_at": datetime.now(UTC).replace(microsecond=0),
    }
    return SiweMessage(**(fields | changes)).text()


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"domain": "evil.example"}, "siwe_domain_mismatch"),
        ({"uri": "http://127.0.0.1:8000/elsewhere"}, "siwe_uri_mismatch"),
        ({"chain_id": 1}, "siwe_chain_mismatch"),
        ({"nonce": "AAAAAAAAAAAAAAAA"}, "siwe_nonce_mismatch"),
        ({"expiration_time": datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)}, "siwe_expired"),
        ({"issued_at": datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)}, "siwe_expired"),
        ({"not_before": datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)}, "siwe_not_yet_valid"),
    ],
)
def test_a_sign_in_message_for_anything_else_is_refused_and_the_link_stays_open(
    service: Service, open_link: tuple[str, dict[str, Any]], changes: dict[str, Any], code: str
):
    token, view = open_link
    wallet = Account.create()
    message = _message(view, wallet, **changes)
    response = service.client.post(f"/v1/claims/{token}", json={"message": message, "signature": sign(message, wallet)})
    assert_error(response, 422, code)
    assert service.client.get(f"/v1/claims/{token}").json()["state"] == "open"


def test_a_signature_by_another_account_is_refused(service: Service, open_link: tuple[str, dict[str, Any]]):
    token, view = open_link
    named, other = Account.create(), Account.create()
    message = _message(view, named)
    response = service.client.post(f"/v1/claims/{token}", json={"message": message, "signature": sign(message, other)})
    assert_error(response, 422, "siwe_signature_invalid")
    text = message.replace(named.address, other.address)  # signed by other, but names named: the other way round
    response = service.client.post(f"/v1/claims/{token}", json={"message": text, "signature": sign(message, named)})
    assert_error(response, 422, "siwe_signature_invalid")
    assert service.client.get(f"/v1/claims/{token}").json()["state"] == "open"


def _set_claim(service: Service, token: str, **values: Any) -> None:
    from kudos_service.claims.links import token_hash  # noqa: PLC0415

    with service.state.db.session() as session:
        session.execute(update(Claim).where(Claim.token_hash == token_hash(token)).values(**values))


def test_an_expired_link_is_410_claim_expired(service: Service):
    address = email()
    held_award(service, address)
    token = wait_link(service, address)
    _set_claim(service, token, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert service.client.get(f"/v1/claims/{token}").json()["state"] == "expired"
    assert_error(
        service.client.post(f"/v1/claims/{token}/message", json={"address": Account.create().address}),
        410,
        "claim_expired",
    )
    wallet = Account.create()
    message = _message({"sign_in": {"domain": "127.0.0.1:8000", "statement": "x", "uri": "http://127.0.0.1:8000/claim",
                                    "chain_id": service.ctx.chain.chain_id, "nonce": "AAAAAAAA"}}, wallet)  # fmt: skip
    response = service.client.post(f"/v1/claims/{token}", json={"message": message, "signature": sign(message, wallet)})
    assert_error(response, 410, "claim_expired")  # the link is checked before the message


def test_a_new_link_ends_the_old_one_and_an_admin_can_end_every_link(service: Service):
    address = email()
    held_award(service, address)
    old = wait_link(service, address)
    with service.state.db.session() as session:
        handle = session.scalars(select(Recipient.handle).where(Recipient.email == address)).one()
    before = newest_mail_id(service)
    issued = service.client.post(f"/v1/recipients/{handle}/claim-link", headers=service.auth("admin"))
    assert issued.status_code == 201, issued.text
    assert issued.headers["Cache-Control"] == "no-store"
    body = issued.json()
    assert (body["held"], body["mail_status"]) == (1, "queued")
    new = LINK.search(body["url"])
    assert new is not None
    assert wait_link(service, address, after=before) == new.group(1)  # emailed too
    revoked = service.client.get(f"/v1/claims/{old}").json()
    assert (revoked["state"], revoked["kudos"], revoked["sign_in"]) == ("revoked", [], None)  # shows nothing more
    assert_error(service.client.post(f"/v1/claims/{old}", json=signed_claim_text(
        {"sign_in": service.client.get(f"/v1/claims/{new.group(1)}").json()["sign_in"]}, old, Account.create())),
        410, "claim_revoked")  # fmt: skip

    quiet = service.client.post(
        f"/v1/recipients/{handle}/claim-link", json={"send_email": False}, headers=service.auth("admin")
    )
    assert quiet.json()["mail_status"] == "none"
    ended = service.client.delete(f"/v1/recipients/{handle}/claim-link", headers=service.auth("admin"))
    assert ended.status_code == 204
    last = LINK.search(quiet.json()["url"])
    assert last is not None
    assert service.client.get(f"/v1/claims/{last.group(1)}").json()["state"] == "revoked"


def test_the_custody_address_cannot_be_awarded_directly(service: Service):
    assert_error(service.post_award(award_body(recipient=custody(service))), 422, "invalid_recipient")


# ----------------------------------------------------------------------------------------------------------------
# Races and crashes
# ----------------------------------------------------------------------------------------------------------------


def test_two_concurrent_claims_of_one_link_one_wins_and_nothing_moves_twice(service: Service):
    address = email()
    awards = [held_award(service, address) for _ in range(2)]
    before = newest_mail_id(service)
    token = wait_link(service, address)
    if len(service.client.get(f"/v1/claims/{token}").json()["kudos"]) < 2:  # the second came in its own email
        token = wait_link(service, address, after=before)
    wallets = [Account.create() for _ in range(4)]
    bodies = [signed_claim(service, token, w) for w in wallets]
    start = threading.Barrier(len(wallets))
    answers: list[httpx2.Response] = [None] * len(wallets)  # type: ignore[list-item]

    def claim(index: int) -> None:
        start.wait()
        answers[index] = service.client.post(f"/v1/claims/{token}", json=bodies[index])

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(wallets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [202, 410, 410, 410], [a.text for a in answers]
    winner = wallets[next(i for i, a in enumerate(answers) if a.status_code == 202)]
    for loser in (a for a in answers if a.status_code == 410):
        assert loser.json()["error"]["code"] == "claim_used"
    wait_done(service, token)
    with service.state.db.session() as session:
        moves = session.scalars(
            select(Operation).where(
                Operation.kind == OpKind.RECOVER, Operation.token_id.in_([a["token_id"] for a in awards])
            )
        ).all()
        assert sorted(op.token_id or 0 for op in moves) == sorted(a["token_id"] for a in awards)  # one move each
    for award in awards:
        assert service.ctx.client.kudos(award["token_id"]).owner == winner.address


def test_a_crash_between_the_claim_and_the_move_delivers_each_kudos_once(tmp_path: Path):
    """The claim commits its ``recover`` operations with the link's use; a process that stops before sending them
    leaves them to the next one, which moves each kudos once."""
    with start_service(tmp_path) as first:
        address = email()
        award = held_award(first, address)
        token = wait_link(first, address)
        first.state.worker.stop()  # the worker is gone: nothing is sent after the claim
        response = first.client.post(f"/v1/claims/{token}", json=signed_claim(first, token, wallet := Account.create()))
        assert response.status_code == 202, response.text
        assert [k["status"] for k in response.json()["kudos"]] == ["moving"]
        assert first.ctx.client.kudos(award["token_id"]).owner == custody(first)
    with start_service(tmp_path) as second:  # the same database and chain, a new process's worth of state
        done = wait_done(second, token)
        assert [k["status"] for k in done["kudos"]] == ["in_wallet"]
        assert second.ctx.client.kudos(award["token_id"]).owner == wallet.address
        topic = "0x" + keccak(text="KudosRecovered(uint256,address,address)").hex()
        recovered = second.ctx.chain.w3.eth.get_logs(
            {"address": second.ctx.client.address, "topics": [topic], "fromBlock": 0, "toBlock": "latest"}
        )
        assert [int.from_bytes(log["topics"][1], "big") for log in recovered].count(award["token_id"]) == 1


def test_a_held_kudos_revoked_before_the_claim_is_not_moved(service: Service):
    address = email()
    kept, revoked = held_award(service, address), held_award(service, address)
    gone = service.client.post(f"/v1/tokens/{revoked['token_id']}/revoke", headers=service.auth("revoke"),
                               params={"wait": 10})  # fmt: skip
    assert gone.status_code == 202, gone.text
    with service.state.db.session() as session:
        handle = session.scalars(select(Recipient.handle).where(Recipient.email == address)).one()
    held = service.client.get("/v1/held", params={"limit": 200}, headers=service.auth("admin")).json()
    mine = [item for item in held["items"] if item["handle"] == handle]
    assert [item["award_id"] for item in mine] == [kept["id"]]
    assert mine[0]["email"] == address
    link = service.client.post(f"/v1/recipients/{handle}/claim-link", json={"send_email": False},
                               headers=service.auth("admin")).json()  # fmt: skip
    token = link["url"].rsplit("/", 1)[1]
    wallet = Account.create()
    assert service.client.post(f"/v1/claims/{token}", json=signed_claim(service, token, wallet)).status_code == 202
    done = wait_done(service, token)
    assert [k["award_id"] for k in done["kudos"]] == [kept["id"]]
    assert service.ctx.client.kudos(kept["token_id"]).owner == wallet.address


# ----------------------------------------------------------------------------------------------------------------
# Hostile input and limits
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"message": "m" * 4001, "signature": "0x" + "1" * 130}, 422, "invalid_request"),
        ({"message": "a\x00b", "signature": "0x" + "1" * 130}, 422, "siwe_malformed"),
        ({"message": "m", "signature": 12}, 422, "invalid_request"),
        ({"message": "m", "signature": "0x" + "1" * 129}, 422, "invalid_request"),
        ({"message": ["m"], "signature": "0x" + "1" * 130}, 422, "invalid_request"),
        ({"message": "m"}, 422, "invalid_request"),
        ({"message": "m", "signature": "0x" + "1" * 130, "extra": 1}, 422, "invalid_request"),
        ({"message": "m", "signature": "0x" + "1" * 130}, 422, "siwe_malformed"),
    ],
)
def test_a_bad_claim_body_is_a_4xx_and_the_link_stays_open(
    service: Service, open_link: tuple[str, dict[str, Any]], body: dict[str, Any], status: int, code: str
):
    token, _ = open_link
    assert_error(service.client.post(f"/v1/claims/{token}", json=body), status, code)
    assert service.client.get(f"/v1/claims/{token}").json()["state"] == "open"


def test_deep_oversized_and_non_json_claims_are_refused_before_they_are_read(
    service: Service, open_link: tuple[str, dict[str, Any]]
):
    token, _ = open_link
    deep = "[" * 100 + "]" * 100
    headers = {"Content-Type": "application/json"}
    assert_error(service.client.post(f"/v1/claims/{token}", content=deep, headers=headers), 413, "payload_too_deep")
    huge = '{"message": "' + "m" * 70_000 + '"}'
    assert_error(service.client.post(f"/v1/claims/{token}", content=huge, headers=headers), 413, "payload_too_large")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert_error(service.client.post(f"/v1/claims/{token}", content="a=b", headers=form), 415, "unsupported_media_type")
    assert_error(service.client.post(f"/v1/claims/{token}/message", json={"address": "0x12"}), 422, "invalid_request")
    assert service.client.get("/healthz").status_code == 200  # still serving


@pytest.mark.parametrize(
    "recipient",
    [{"email": "not an email"}, {"email": "a@"}, {"email": 5}, {"email": "a@b.c", "extra": 1}, {}, {"name": "Ada"},
     {"email": "x" * 300 + "@example.com"}, {"email": "ada@example.com", "name": "A\x00"}],
)  # fmt: skip
def test_a_bad_email_recipient_is_422_and_named(service: Service, recipient: dict[str, Any]):
    before = service.award_count()
    error = assert_error(service.post_award(award_body(recipient=recipient)), 422, "invalid_request")
    assert all(d["field"].startswith("recipient") for d in error["details"]), error
    assert service.award_count() == before


def test_claim_attempts_are_limited_per_link_and_client(tmp_path: Path):
    with start_service(tmp_path, claim_attempts_per_minute=3) as limited:
        token = new_claim_token()[0]  # attempts count whether or not the link exists
        body = {"message": "m", "signature": "0x" + "1" * 130}
        wallet = {"address": Account.create().address}
        answers = [
            limited.client.post(f"/v1/claims/{token}", json=body),
            limited.client.post(f"/v1/claims/{token}/message", json=wallet),  # asking for the message counts too
            limited.client.post(f"/v1/claims/{token}", json=body),
            limited.client.post(f"/v1/claims/{token}", json=body),
        ]
        assert [a.status_code for a in answers] == [404, 404, 404, 429]
        error = assert_error(answers[-1], 429, "claim_rate_limited")
        assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60, error
        other = limited.client.post(f"/v1/claims/{new_claim_token()[0]}", json=body)
        assert other.status_code == 429  # the same client, another link: the client's limit holds too


def test_the_admin_endpoints_need_the_admin_scope(service: Service):
    for method, path in [
        ("post", "/v1/recipients/x/claim-link"),
        ("delete", "/v1/recipients/x/claim-link"),
        ("post", "/v1/recipients/x/held/move"),
        ("get", "/v1/held"),
        ("get", "/v1/mails"),
    ]:
        assert_error(service.client.request(method, path), 401, "unauthorized")
        assert_error(service.client.request(method, path, headers=service.auth("award")), 403, "forbidden")


def test_no_claim_is_counted_twice_in_the_outbox(service: Service):
    """Across every test of this module: no kudos was ever given two live moves."""
    with service.state.db.session() as session:
        live = (OpStatus.PENDING, OpStatus.IN_FLIGHT, OpStatus.MINED, OpStatus.DONE)
        counts = session.execute(
            select(Operation.token_id, func.count())
            .where(Operation.kind == OpKind.RECOVER, Operation.status.in_(live))
            .group_by(Operation.token_id)
        ).all()
        assert all(n == 1 for _, n in counts), counts
        claimed = session.scalars(select(Award).where(Award.claimed_at.is_not(None))).all()
        assert len(claimed) == len(counts)


def test_a_kudos_still_on_its_way_at_the_claim_follows_to_the_wallet_without_a_new_email(tmp_path: Path):
    """A kudos accepted before the claim and confirmed after it is moved to the wallet the person claimed with,
    not announced with another link."""
    address = email()
    with start_service(tmp_path) as first:
        earlier = held_award(first, address)
        token = wait_link(first, address)
        first.state.worker.stop()
        later = first.post_award(award_body(recipient={"email": address}))  # held: no wallet yet, not yet minted
        assert later.json()["held"] is True
        wallet = Account.create()
        assert first.client.post(f"/v1/claims/{token}", json=signed_claim(first, token, wallet)).status_code == 202
    with start_service(tmp_path) as second:  # new keys: the awards are read from the database
        deadline = time.monotonic() + CONFIRM_TIMEOUT
        while True:
            with second.state.db.session() as session:
                row = session.get_one(Award, later.json()["id"])
                if row.claimed_at is not None:
                    break
            assert time.monotonic() < deadline, f"the later kudos did not follow to the wallet: {row.status}"
            time.sleep(0.05)
        assert row.recipient == wallet.address
        for token_id in (earlier["token_id"], row.token_id):
            assert second.ctx.client.kudos(token_id or 0).owner == wallet.address
        mails = second.client.get("/v1/mails", headers=second.auth("admin")).json()["items"]
        assert [m["to"] for m in mails] == [address]  # the first email only


def test_awards_another_process_announced_meanwhile_are_not_announced_twice(service: Service):
    """Two processes may read the same fresh awards; the second to write finds them announced and adds nothing
    (no second link, no second email)."""
    address = email()
    award = held_award(service, address)
    wait_link(service, address)  # announced by the service's own mailer
    state = service.state
    with state.db.session() as session:
        person_id = session.get_one(Award, award["id"]).held_for_id
        assert person_id is not None
        claims_before = session.scalar(select(func.count()).select_from(Claim).where(Claim.recipient_id == person_id))
    mails_before = newest_mail_id(service)
    with pytest.raises(_RacedError), state.db.session() as session:  # as a second process, from its stale read
        _announce(session, person_id, [award["id"]], settings=state.settings, chain_name="x", signer="",
                  contract=service.ctx.client.address, now=datetime.now(UTC))  # fmt: skip
    with state.db.session() as session:
        assert (
            session.scalar(select(func.count()).select_from(Claim).where(Claim.recipient_id == person_id))
            == claims_before
        )
    assert newest_mail_id(service) == mails_before
    view_tokens = service.client.get("/v1/mails", headers=service.auth("admin")).json()["items"]
    assert sum(1 for m in view_tokens if m["to"] == address) == 1


def test_a_link_an_admin_made_after_the_award_is_not_ended_by_its_announcement(tmp_path: Path):
    with start_service(tmp_path) as running:
        address = email()
        running.state.mailer.stop()  # announcements wait until the admin has made the link
        award = running.award_confirmed(award_body(recipient={"email": address}))
        with running.state.db.session() as session:
            handle = session.scalars(select(Recipient.handle).where(Recipient.email == address)).one()
        made = running.client.post(
            f"/v1/recipients/{handle}/claim-link", json={"send_email": False}, headers=running.auth("admin")
        ).json()
        token = made["url"].rsplit("/", 1)[1]
        assert running.state.announce_held() == 1
        assert running.client.get(f"/v1/claims/{token}").json()["state"] == "open"
        with running.state.db.session() as session:
            assert session.get_one(Award, award["id"]).announced_at is not None
        assert running.client.get("/v1/mails", headers=running.auth("admin")).json()["total"] == 0


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        ("x", "text/plain", 415, "unsupported_media_type"),
        ('{"send_email": "yes"}', "application/json", 422, "invalid_request"),
        ('{"send_email": true, "x": 1}', "application/json", 422, "invalid_request"),
        ("[" * 50 + "]" * 50, "application/json", 413, "payload_too_deep"),
        ("\x00", "application/json", 400, "invalid_json"),
        ('{"send_email": ' + "[" * 20 + "]" * 20 + "}", "application/json", 422, "invalid_request"),
    ],
)
def test_a_bad_claim_link_request_is_a_4xx_and_makes_no_link(
    service: Service, content: str, content_type: str, status: int, code: str
):
    address = email()
    held_award(service, address)
    wait_link(service, address)  # announced: the mailer makes no other link meanwhile
    with service.state.db.session() as session:
        person = session.scalars(select(Recipient).where(Recipient.email == address)).one()
        links = session.scalar(select(func.count()).select_from(Claim).where(Claim.recipient_id == person.id))
    response = service.client.post(
        f"/v1/recipients/{person.handle}/claim-link",
        content=content,
        headers=service.auth("admin", **{"Content-Type": content_type}),
    )
    assert_error(response, status, code)
    with service.state.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Claim).where(Claim.recipient_id == person.id)) == links


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v1/held?limit=1.5", 422, "invalid_request"),
        ("/v1/held?limit=0", 422, "invalid_request"),
        ("/v1/held?offset=-1", 422, "invalid_request"),
        ("/v1/mails?status=nope", 422, "invalid_request"),
        ("/v1/mails?limit=201", 422, "invalid_request"),
    ],
)
def test_bad_paging_of_the_admin_lists_is_422(service: Service, path: str, status: int, code: str):
    assert_error(service.client.get(path, headers=service.auth("admin")), status, code)


@pytest.mark.parametrize("handle", ["nobody.here", "a" * 300, "x%00y", "%E2%80%AE"])
def test_admin_actions_on_an_unknown_person_are_404(service: Service, handle: str):
    for method, path in [("post", "claim-link"), ("delete", "claim-link"), ("post", "held/move")]:
        response = service.client.request(method, f"/v1/recipients/{handle}/{path}", headers=service.auth("admin"))
        assert_error(response, 404, "recipient_not_found")


# ----------------------------------------------------------------------------------------------------------------
# What the review of the first version found
# ----------------------------------------------------------------------------------------------------------------


def person_of(service: Service, address: str) -> Recipient:
    with service.state.db.session() as session:
        person = session.scalars(select(Recipient).where(Recipient.email == address)).one()
        session.expunge(person)
        return person


def test_the_database_keeps_a_kudos_from_two_live_moves_whoever_queues_them(service: Service):
    address = email()
    award = held_award(service, address)
    person = person_of(service, address)
    service.state.worker.stop()  # the moves stay pending while the test looks
    try:
        with service.state.db.session() as session:
            (first,) = move_held(
                session, person, Account.create().address, signer="", contract=service.ctx.client.address
            )
        with service.state.db.session() as session:  # as a second process would
            session.add(replace_op(first, Account.create().address))
            with pytest.raises(IntegrityError):
                session.flush()
            session.rollback()
        with service.state.db.session() as session:
            assert move_held(session, person, Account.create().address, signer="",
                             contract=service.ctx.client.address) == []  # fmt: skip
            live = session.scalars(select(Operation).where(Operation.token_id == award["token_id"])).all()
            assert [op.argument for op in live if op.kind == OpKind.RECOVER] == [first.argument]
    finally:
        service.state.worker = restart_worker(service)


def replace_op(op: Operation, wallet: str) -> Operation:
    return Operation(kind=OpKind.RECOVER, status=OpStatus.PENDING, signer="", to_address=op.to_address,
                     data=b"", token_id=op.token_id, argument=wallet, replacements=0)  # fmt: skip


def restart_worker(service: Service) -> Any:
    from kudos_service.delivery import Worker  # noqa: PLC0415

    state = service.state
    worker = Worker(state.settings, state.db, state.chain, state.metrics)
    worker.start()
    return worker


def test_a_changed_email_ends_the_links_sent_to_the_old_one_and_withdraws_their_mail(service: Service):
    address = email()
    held_award(service, address)
    token = wait_link(service, address)
    person = person_of(service, address)
    changed = service.client.patch(f"/v1/recipients/{person.handle}", json={"email": email()},
                                   headers=service.auth("admin"))  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert service.client.get(f"/v1/claims/{token}").json()["state"] == "revoked"
    mails = service.client.get("/v1/mails", params={"limit": 200}, headers=service.auth("admin")).json()["items"]
    (old,) = [m for m in mails if m["to"] == address]
    assert old["status"] == "failed"
    assert old["last_error"] == "withdrawn: the person's email address changed"
    assert token not in old["text"]  # the copy kept no longer opens anything


def test_withdrawing_the_links_withdraws_their_mail_too(service: Service):
    address = email()
    held_award(service, address)
    token = wait_link(service, address)
    person = person_of(service, address)
    assert service.client.delete(f"/v1/recipients/{person.handle}/claim-link",
                                 headers=service.auth("admin")).status_code == 204  # fmt: skip
    mails = service.client.get("/v1/mails", params={"limit": 200}, headers=service.auth("admin")).json()["items"]
    (old,) = [m for m in mails if m["to"] == address]
    assert (old["status"], token in old["text"]) == ("failed", False)


def test_the_custody_address_is_nobody_s_wallet_in_the_directory(service: Service):
    body = {"handle": f"c{os.urandom(4).hex()}", "external_id": os.urandom(6).hex(), "display_name": "C",
            "wallet_address": custody(service)}  # fmt: skip
    error = assert_error(service.client.post("/v1/recipients", json=body, headers=service.auth("admin")), 422,
                         "invalid_request")  # fmt: skip
    assert error["details"][0]["field"] == "wallet_address"
    del body["wallet_address"]
    assert service.client.post("/v1/recipients", json=body, headers=service.auth("admin")).status_code == 201
    patched = service.client.patch(f"/v1/recipients/{body['handle']}", json={"wallet_address": custody(service)},
                                   headers=service.auth("admin"))  # fmt: skip
    assert_error(patched, 422, "invalid_request")


def test_a_held_kudos_names_no_one_in_its_public_metadata(service: Service):
    before = service.award_count()
    refused = service.post_award(award_body(recipient={"email": email()}, recipient_name="Sam Candidate"))
    error = assert_error(refused, 422, "recipient_name_held")
    assert error["details"][0]["field"] == "recipient"
    assert service.award_count() == before


def test_a_refused_request_adds_no_one_to_the_directory(service: Service):
    address = email()
    items = [
        award_body(recipient={"email": address}, idempotency_key=os.urandom(8).hex()),
        award_body(recipient="@nobody.at.all", idempotency_key=os.urandom(8).hex()),
    ]
    assert_error(service.post_batch(items), 422, "unknown_recipient")
    with service.state.db.session() as session:
        assert session.scalars(select(Recipient).where(Recipient.email == address)).first() is None


def test_a_claim_id_is_never_given_twice(service: Service):
    with service.state.db.engine.connect() as conn:
        table = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'claims'").scalar_one()
    assert "AUTOINCREMENT" in table  # a removed person's claim id never comes back on another's page


def test_a_link_an_admin_wants_emailed_before_anything_is_on_chain_is_emailed_when_something_is(tmp_path: Path):
    with start_service(tmp_path) as running:
        address = email()
        running.state.worker.stop()  # the award waits in the queue
        queued = running.post_award(award_body(recipient={"email": address}))
        assert queued.status_code == 202
        with running.state.db.session() as session:
            handle = session.scalars(select(Recipient.handle).where(Recipient.email == address)).one()
        made = running.client.post(f"/v1/recipients/{handle}/claim-link", headers=running.auth("admin")).json()
        assert (made["held"], made["mail_status"]) == (1, "when_confirmed")
        running.state.worker = restart_worker(running)
        running.wait_confirmed(queued.json()["id"])
        token = wait_link(running, address)  # the person is emailed a link after all
        assert running.client.get(f"/v1/claims/{token}").json()["state"] == "open"


def test_the_announcement_names_the_chain_and_moves_with_the_service_s_signer(tmp_path: Path):
    """``AppState.announce_held`` as the mailer calls it: the email names the chain, and a kudos that follows a
    claimed person is queued for the service's signer."""
    with start_service(tmp_path) as running:
        state = running.state
        state.mailer.stop()  # the test announces
        address = email()
        first = held_award(running, address)
        assert state.announce_held() == 1
        with state.db.session() as session:
            (mail,) = session.scalars(select(Mail).where(Mail.to_address == address)).all()
            assert chain_name(running.ctx.chain.chain_id) in mail.text_body
            found = LINK.search(mail.text_body)
            assert found is not None
        token = found.group(1)
        state.worker.stop()
        later = running.post_award(award_body(recipient={"email": address}))  # held, still queued
        wallet = Account.create()
        assert running.client.post(f"/v1/claims/{token}", json=signed_claim(running, token, wallet)).status_code == 202
        state.worker = restart_worker(running)
        running.wait_confirmed(later.json()["id"])
        wait_done(running, token)
        state.worker.stop()  # what announce_held queues is looked at before any worker signs it
        assert state.announce_held() == 1
        with state.db.session() as session:
            later_token = session.get_one(Award, later.json()["id"]).token_id
            (move,) = session.scalars(select(Operation).where(Operation.token_id == later_token,
                                                              Operation.kind == OpKind.RECOVER)).all()  # fmt: skip
            assert (move.signer, move.argument, move.status) == (
                running.ctx.signer.address,
                wallet.address,
                OpStatus.PENDING,
            )
        assert first["token_id"] != later_token


def test_nothing_is_announced_before_the_service_has_its_contract(tmp_path: Path):
    state = build_state(Settings(data_dir=tmp_path, rpc_url=None, database_url=None, run_worker=False))
    try:
        assert state.announce_held() == 0
    finally:
        state.db.dispose()
