"""``/v1/tokens/{id}``: metadata served only when it matches the content hash on chain, the badge SVG, revocation."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from eth_utils.crypto import keccak
from kudos_service.models import Award
from sqlalchemy import select, text

from kudos_chain import TokenNotFoundError, canonical_json
from tests.service.conftest import Service, assert_error, award_body, create_key

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "Shipped <script>alert('x')</script> & fixed \"it\" <b>fast</b>"
OUT_OF_RANGE = ["0", "-1", str(2**63), str(2**256), str(10**80)]


def stored(service: Service, token_id: int) -> Award:
    with service.state.db.session() as session:
        return session.scalars(select(Award).where(Award.token_id == token_id)).one()


# ----------------------------------------------------------------------------------------------------------------
# Metadata
# ----------------------------------------------------------------------------------------------------------------


def test_the_metadata_is_the_stored_canonical_json_and_hashes_to_the_chain(service: Service):
    award = service.award_confirmed(award_body(kind="mentor", message="Patient reviews.", recipient_name="Grace"))
    token_id = award["token_id"]

    response = service.client.get(f"/v1/tokens/{token_id}")  # public: no key

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    row = stored(service, token_id)
    assert response.content == row.metadata_json
    onchain = service.ctx.client.kudos(token_id).content_hash
    assert keccak(response.content) == onchain
    assert response.headers["X-Content-Hash"] == "0x" + onchain.hex() == award["content_hash"]
    document = json.loads(response.content)
    assert canonical_json(document) == response.content
    assert service.ctx.client.verify(token_id, document)
    assert document["message"] == "Patient reviews."
    assert document["kind"] == "Mentor"
    assert document["awarded_by"] == "Ada Lovelace"
    assert document["recipient_name"] == "Grace"
    assert document["image"].endswith(f"/v1/awards/{award['id']}/image.svg")


def test_a_tampered_row_is_never_served_as_valid(service: Service):
    award = service.award_confirmed(award_body(message="Genuine thanks."))
    token_id = award["token_id"]
    assert service.client.get(f"/v1/tokens/{token_id}").status_code == 200  # served once, then altered

    row = stored(service, token_id)
    forged = json.loads(row.metadata_json)
    forged["message"] = forged["description"] = "Forged praise."
    forged_json = canonical_json(forged)
    with service.state.db.engine.begin() as conn:
        conn.execute(
            text("UPDATE awards SET message = :m, metadata_json = :j, content_hash = :h WHERE token_id = :t"),
            {"m": "Forged praise.", "j": forged_json, "h": keccak(forged_json), "t": token_id},
        )

    response = service.client.get(f"/v1/tokens/{token_id}")

    error = assert_error(response, 409, "metadata_mismatch")
    assert str(token_id) in error["message"]
    assert "Forged" not in response.text
    assert "X-Content-Hash" not in response.headers
    assert not service.ctx.client.verify(token_id, forged)


def test_tampered_text_shows_nowhere_as_genuine(service: Service):
    """Neither the badge nor the wallet draws a message that does not hash to the chain's content hash."""
    award = service.award_confirmed(award_body(message="Genuine thanks."))
    token_id = award["token_id"]
    with service.state.db.engine.begin() as conn:
        conn.execute(
            text("UPDATE awards SET message = 'Forged praise.', metadata_json = :j WHERE token_id = :t"),
            {"j": stored(service, token_id).metadata_json.replace(b"Genuine", b"Forged!"), "t": token_id},
        )

    assert_error(service.client.get(f"/v1/tokens/{token_id}/image.svg"), 409, "metadata_mismatch")
    assert_error(service.client.get(f"/v1/awards/{award['id']}/image.svg"), 409, "metadata_mismatch")
    wallet = service.client.get(f"/v1/wallets/{award['recipient']}").json()
    (item,) = [i for i in wallet["items"] if i["token_id"] == token_id]
    assert item["verified"] is False
    assert item["message"] is None
    assert "Forged" not in json.dumps(wallet)


def test_only_the_column_copy_of_the_message_is_ignored(service: Service):
    """The badge and the wallet draw the text from the verified metadata, not from the ``message`` column."""
    award = service.award_confirmed(award_body(message="Genuine thanks."))
    token_id = award["token_id"]
    with service.state.db.engine.begin() as conn:
        conn.execute(text("UPDATE awards SET message = 'Forged praise.' WHERE token_id = :t"), {"t": token_id})

    svg = service.client.get(f"/v1/tokens/{token_id}/image.svg")
    assert svg.status_code == 200
    assert b"Genuine thanks." in svg.content
    assert b"Forged" not in svg.content
    wallet = service.client.get(f"/v1/wallets/{award['recipient']}").json()
    (item,) = [i for i in wallet["items"] if i["token_id"] == token_id]
    assert item["verified"] is True
    assert item["message"] == "Genuine thanks."


def test_a_row_whose_hash_was_never_checked_is_refused_too(service: Service):
    """The same tampering, before the token was ever read."""
    award = service.award_confirmed(award_body(message="Genuine thanks."))
    token_id = award["token_id"]
    with service.state.db.engine.begin() as conn:
        conn.execute(
            text("UPDATE awards SET metadata_json = :j WHERE token_id = :t"),
            {"j": stored(service, token_id).metadata_json.replace(b"Genuine", b"Forged!"), "t": token_id},
        )
    assert_error(service.client.get(f"/v1/tokens/{token_id}"), 409, "metadata_mismatch")


@pytest.mark.parametrize("token_id", ["999999", *OUT_OF_RANGE])
def test_an_unknown_token_is_404(service: Service, token_id: str):
    assert_error(service.client.get(f"/v1/tokens/{token_id}"), 404, "token_not_found")
    assert_error(service.client.get(f"/v1/tokens/{token_id}/image.svg"), 404, "token_not_found")


def test_a_token_id_that_is_not_a_number_is_422(service: Service):
    assert_error(service.client.get("/v1/tokens/abc"), 422, "invalid_request")


# ----------------------------------------------------------------------------------------------------------------
# Badge pictures
# ----------------------------------------------------------------------------------------------------------------


def svg_texts(svg: bytes) -> str:
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    assert root.tag == f"{SVG}svg"
    assert root.find(f".//{SVG}script") is None
    return " ".join(t for t in root.itertext())


def test_the_badge_is_svg_with_the_message_escaped(service: Service):
    award = service.award_confirmed(award_body(message=HOSTILE, awarded_by="Bob & <i>Co</i>"))
    response = service.client.get(f"/v1/tokens/{award['token_id']}/image.svg")  # public: no key

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    body = response.text
    assert "<script" not in body
    assert "<b>" not in body
    assert "<i>" not in body
    assert "&lt;script&gt;" in body
    assert "&amp;" in body
    texts = svg_texts(response.content)
    assert "<script>alert('x')</script>" in texts  # the words, as text
    assert "Bob & <i>Co</i>" in texts
    assert f"#{award['token_id']}" in texts
    assert "Team Player" in texts


def test_the_award_image_is_served_before_the_token_exists(service: Service):
    award = service.post_award(award_body(message=HOSTILE)).json()
    response = service.client.get(f"/v1/awards/{award['id']}/image.svg")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert "<script" not in response.text
    svg_texts(response.content)
    confirmed = service.wait_confirmed(award["id"])
    assert f"#{confirmed['token_id']}" in service.client.get(f"/v1/awards/{award['id']}/image.svg").text


def test_an_unknown_award_image_is_404(service: Service):
    assert_error(service.client.get("/v1/awards/nope/image.svg"), 404, "award_not_found")


# ----------------------------------------------------------------------------------------------------------------
# Revocation
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture
def token(service: Service) -> dict[str, Any]:
    """A confirmed award, indexed."""
    award = service.award_confirmed()
    service.wait_wallet(award["recipient"], 1)
    return award


def revoke(service: Service, token_id: int | str, scope: str = "revoke", **body: Any) -> Any:
    return service.client.post(f"/v1/tokens/{token_id}/revoke", json=body, headers=service.auth(scope))


def test_a_revoked_kudos_is_gone_and_its_metadata_is_410(service: Service, token: dict[str, Any]):
    token_id = token["token_id"]
    assert service.client.get(f"/v1/tokens/{token_id}").status_code == 200

    response = revoke(service, token_id, reason="mistake")

    assert response.status_code == 202, response.text
    accepted = response.json()
    assert (accepted["kind"], accepted["token_id"], accepted["reason"]) == ("revoke", token_id, "mistake")
    assert accepted["status"] in ("queued", "submitted", "confirmed")
    result = follow(service, accepted["id"])
    assert result["status"] == "confirmed", result
    (receipt,) = service.ctx.chain.receipts_many([result["tx_hash"]])
    assert receipt is not None
    assert receipt.status == 1
    assert result["block_number"] == receipt.block_number
    with pytest.raises(TokenNotFoundError):
        service.ctx.client.kudos(token_id)
    error = assert_error(service.client.get(f"/v1/tokens/{token_id}"), 410, "token_revoked")
    assert str(token_id) in error["message"]
    assert service.client.get(f"/v1/wallets/{token['recipient']}").json()["total"] == 0
    again = revoke(service, token_id)  # once only: asking again returns the same operation
    assert again.status_code == 202, again.text
    assert again.json()["id"] == accepted["id"]
    assert again.headers["Idempotent-Replayed"] == "true"


def follow(service: Service, operation_id: int, scope: str = "revoke") -> dict[str, Any]:
    response = service.client.get(f"/v1/operations/{operation_id}", params={"wait": 30}, headers=service.auth(scope))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_a_revocation_without_a_reason_is_unspecified(service: Service, token: dict[str, Any]):
    response = revoke(service, token["token_id"])
    assert response.status_code == 202, response.text
    assert response.json()["reason"] == "unspecified"
    assert follow(service, response.json()["id"])["status"] == "confirmed"


def test_a_revocation_with_an_idempotency_key_is_made_once(service: Service, token: dict[str, Any]):
    headers = {**service.auth("revoke"), "Idempotency-Key": f"revoke-{token['token_id']}"}
    url = f"/v1/tokens/{token['token_id']}/revoke"
    first = service.client.post(url, json={"reason": "policy"}, headers=headers)
    second = service.client.post(url, json={"reason": "policy"}, headers=headers)
    assert (first.status_code, second.status_code) == (202, 202), second.text
    assert first.json()["id"] == second.json()["id"]
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    other = service.client.post(url, json={"reason": "fraud"}, headers=headers)
    assert_error(other, 409, "idempotency_key_reused")
    assert follow(service, first.json()["id"])["status"] == "confirmed"
    revoked = service.ctx.client.chain.get_logs(
        address=service.ctx.client.address,
        topic_sets=[[keccak(text="KudosRevoked(uint256,uint32)"), token["token_id"].to_bytes(32, "big")]],
        from_block=0,
    )
    assert len(revoked) == 1  # one burn on chain for two requests


def test_an_operation_is_seen_only_with_the_key_that_made_it(service: Service, token: dict[str, Any]):
    made = revoke(service, token["token_id"]).json()
    other_key = create_key(service.data_dir, "revoke")
    response = service.client.get(f"/v1/operations/{made['id']}", headers={"Authorization": f"Bearer {other_key}"})
    assert_error(response, 404, "operation_not_found")
    assert_error(
        service.client.get("/v1/operations/999999", headers=service.auth("revoke")), 404, "operation_not_found"
    )
    assert_error(service.client.get("/v1/operations/1.0", headers=service.auth("revoke")), 422, "invalid_request")
    assert_error(service.client.get(f"/v1/operations/{made['id']}", headers=service.auth("award")), 403, "forbidden")


def test_an_invalid_idempotency_key_on_a_revocation_is_400(service: Service, token: dict[str, Any]):
    response = service.client.post(
        f"/v1/tokens/{token['token_id']}/revoke",
        json={},
        headers={**service.auth("revoke"), "Idempotency-Key": "has space"},
    )
    assert_error(response, 400, "invalid_idempotency_key")


@pytest.mark.parametrize(
    ("headers", "length"),
    [({}, True), ({"Content-Type": "application/json"}, True), ({}, False)],
    ids=["no body", "empty JSON body", "no body and no Content-Length"],  # the last as `curl -X POST` sends it
)
def test_a_revocation_without_a_body_has_the_reason_unspecified(
    service: Service, headers: dict[str, str], length: bool
):
    token = service.award_confirmed()
    request = service.client.build_request(
        "POST", f"/v1/tokens/{token['token_id']}/revoke", headers=service.auth("revoke", **headers)
    )
    if not length:
        del request.headers["Content-Length"]
    assert ("content-length" in request.headers) is length
    response = service.client.send(request)
    assert response.status_code == 202, response.text
    assert (response.json()["token_id"], response.json()["reason"]) == (token["token_id"], "unspecified")


def test_a_body_sent_in_chunks_is_held_to_the_json_rule_too(service: Service, token: dict[str, Any]):
    """Transfer-Encoding: chunked, and no Content-Length: a body all the same."""
    request = service.client.build_request(
        "POST",
        f"/v1/tokens/{token['token_id']}/revoke",
        content=iter([b'{"reason": ', b'"mistake"}']),
        headers=service.auth("revoke", **{"Content-Type": "text/plain"}),
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    assert_error(service.client.send(request), 415, "unsupported_media_type")
    assert service.ctx.client.kudos(token["token_id"]).owner == token["recipient"]


def test_an_award_key_cannot_revoke(service: Service, token: dict[str, Any]):
    assert_error(revoke(service, token["token_id"], scope="award"), 403, "forbidden")
    assert_error(revoke(service, token["token_id"], scope="admin"), 403, "forbidden")
    assert service.ctx.client.kudos(token["token_id"]).owner == token["recipient"]
    assert service.client.get(f"/v1/tokens/{token['token_id']}").status_code == 200


@pytest.mark.parametrize("token_id", ["999999", *OUT_OF_RANGE])
def test_revoking_an_unknown_token_is_404(service: Service, token_id: str):
    assert_error(revoke(service, token_id), 404, "token_not_found")


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b'{"reason": "because"}', "application/json", 422, "invalid_request"),
        (b'{"why": "mistake"}', "application/json", 422, "invalid_request"),
        (b"{", "application/json", 400, "invalid_json"),
        (b'{"reason": "mistake"}', "text/plain", 415, "unsupported_media_type"),
    ],
    ids=["unknown reason", "unknown field", "malformed JSON", "wrong content type"],
)
def test_a_bad_revocation_is_refused_and_revokes_nothing(
    service: Service, token: dict[str, Any], content: bytes, content_type: str, status: int, code: str
):
    headers = service.auth("revoke", **{"Content-Type": content_type})
    response = service.client.post(f"/v1/tokens/{token['token_id']}/revoke", content=content, headers=headers)
    assert_error(response, status, code)
    assert service.ctx.client.kudos(token["token_id"]).owner == token["recipient"]
