"""The reason of a revocation reaches the chain: each reason ``POST /v1/tokens/{id}/revoke`` accepts is sent as the
code the contract's ``KudosRevoked(uint256 indexed tokenId, uint32 reason)`` event carries, read back from the
embedded chain's logs (topic 1 the token id, the data the reason)."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak

from kudos_chain import RevokeReason
from tests.service.conftest import Service

KUDOS_REVOKED_TOPIC = keccak(text="KudosRevoked(uint256,uint32)")

#: The reason codes of the contract (``IKudosToken``: "1: awarded by mistake, 2: fraud") and of
#: :class:`kudos_chain.RevokeReason`, written out here so that a change on either side is seen.
CODES = {"unspecified": 0, "mistake": 1, "fraud": 2, "requested_by_holder": 3, "policy": 4}


def accepted_reasons(service: Service) -> list[str]:
    """The reasons the API documents for a revocation (``RevokeRequest.reason`` in /openapi.json)."""
    schema = service.client.get("/openapi.json").json()["components"]["schemas"]["RevokeRequest"]
    reasons: list[str] = schema["properties"]["reason"]["enum"]
    return reasons


def revoked_reasons(service: Service, token_id: int) -> list[int]:
    """The reason of each ``KudosRevoked`` event of ``token_id`` on the chain."""
    client = service.ctx.client
    logs = client.chain.get_logs(
        address=client.address,
        topic_sets=[[KUDOS_REVOKED_TOPIC, token_id.to_bytes(32, "big")]],
        from_block=client.from_block,
    )
    return [int(abi_decode(["uint32"], log.data)[0]) for log in logs]


def revoke_and_follow(service: Service, token_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """Revoke ``token_id`` with ``body`` and wait until the operation is confirmed; its view."""
    response = service.client.post(f"/v1/tokens/{token_id}/revoke", json=body, headers=service.auth("revoke"))
    assert response.status_code == 202, response.text
    done = service.client.get(
        f"/v1/operations/{response.json()['id']}", params={"wait": 30}, headers=service.auth("revoke")
    )
    assert done.status_code == 200, done.text
    operation: dict[str, Any] = done.json()
    assert operation["status"] == "confirmed", operation
    return operation


def test_the_api_accepts_exactly_the_reasons_the_contract_codes_name(service: Service):
    assert accepted_reasons(service) == list(CODES)
    assert {r.name.lower(): int(r) for r in RevokeReason} == CODES


@pytest.mark.parametrize("reason", list(CODES))
def test_each_reason_is_the_code_of_the_revoked_event_on_chain(service: Service, reason: str):
    award = service.award_confirmed()

    operation = revoke_and_follow(service, award["token_id"], {"reason": reason})

    assert operation["reason"] == reason
    assert revoked_reasons(service, award["token_id"]) == [CODES[reason]]


def test_a_revocation_without_a_reason_is_code_0_on_chain(service: Service):
    award = service.award_confirmed()

    operation = revoke_and_follow(service, award["token_id"], {})

    assert operation["reason"] == "unspecified"
    assert revoked_reasons(service, award["token_id"]) == [0]
