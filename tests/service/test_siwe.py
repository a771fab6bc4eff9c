"""The EIP-4361 sign-in a claim is made with: the message's grammar, each field checked, and the signer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from kudos_service.claims.siwe import SiweError, SiweMessage, verify

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
DOMAIN, URI, CHAIN_ID, NONCE = "kudos.example", "https://kudos.example/claim", 31337, "Zq81xYb2c4"
HOLDER: LocalAccount = Account.from_key("0x" + "11" * 32)
OTHER: LocalAccount = Account.from_key("0x" + "22" * 32)

#: The EIP's own example message (with its optional fields), as wallets produce it.
EIP_EXAMPLE = """service.org wants you to sign in with your Ethereum account:
0xe5A12547fe4E872D192E3eCecb76F2Ce1aeA4946

I accept the ServiceOrg Terms of Service: https://service.org/tos

URI: https://service.org/login
Version: 1
Chain ID: 1
Nonce: 32891756
Issued At: 2021-09-30T16:25:24Z
Resources:
- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/
- https://example.com/my-web2-claim.json"""


def message(**changes: object) -> SiweMessage:
    base = SiweMessage(
        domain=DOMAIN,
        address=HOLDER.address,
        statement="Claim the kudos held for you.",
        uri=URI,
        chain_id=CHAIN_ID,
        nonce=NONCE,
        issued_at=NOW - timedelta(minutes=1),
        expiration_time=NOW + timedelta(minutes=5),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def sign(text: str, account: LocalAccount = HOLDER) -> str:
    return account.sign_message(encode_defunct(text=text)).signature.to_0x_hex()


def check(text: str, signature: str, **expected: object) -> SiweMessage:
    arguments: dict[str, object] = {"domain": DOMAIN, "uri": URI, "chain_id": CHAIN_ID, "nonce": NONCE, "now": NOW}
    return verify(text, signature, **{**arguments, **expected})  # type: ignore[arg-type]


def refused(code: str, text: str, signature: str | None = None, **expected: object) -> SiweError:
    with pytest.raises(SiweError) as caught:
        check(text, signature if signature is not None else sign(text), **expected)
    assert caught.value.code == code, caught.value.message
    return caught.value


def test_the_eip_example_parses_field_by_field_and_writes_back_the_same_text():
    parsed = SiweMessage.parse(EIP_EXAMPLE)
    assert parsed.domain == "service.org"
    assert parsed.scheme is None
    assert parsed.address == "0xe5A12547fe4E872D192E3eCecb76F2Ce1aeA4946"
    assert parsed.statement == "I accept the ServiceOrg Terms of Service: https://service.org/tos"
    assert parsed.uri == "https://service.org/login"
    assert (parsed.version, parsed.chain_id, parsed.nonce) == ("1", 1, "32891756")
    assert parsed.issued_at == datetime(2021, 9, 30, 16, 25, 24, tzinfo=UTC)
    assert (parsed.expiration_time, parsed.not_before, parsed.request_id) == (None, None, None)
    assert parsed.resources == (
        "ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/",
        "https://example.com/my-web2-claim.json",
    )
    assert parsed.text() == EIP_EXAMPLE


def test_every_optional_field_round_trips():
    full = message(
        scheme="https",
        statement=None,
        not_before=NOW - timedelta(seconds=30),
        request_id="claim-7",
        resources=("https://kudos.example/v1/tokens/1",),
        issued_at=datetime(2026, 12, 6, 11, 59, 0, 250_000, tzinfo=UTC),
    )
    text = full.text()
    assert text.startswith("https://kudos.example wants you")
    assert "\n\n\nURI: " in text  # no statement: the address, then two empty lines
    assert "Issued At: 2026-12-06T11:59:00.250Z" in text
    assert SiweMessage.parse(text) == full
    assert check(text, sign(text)) == full


def test_a_message_signed_by_its_address_is_accepted():
    text = message().text()
    assert check(text, sign(text)).address == HOLDER.address


def test_a_signature_as_bytes_is_accepted_too():
    text = message().text()
    assert check(text, HOLDER.sign_message(encode_defunct(text=text)).signature).nonce == NONCE  # type: ignore[arg-type]


def test_a_signature_by_another_account_is_refused():
    text = message().text()
    refused("siwe_signature_invalid", text, sign(text, OTHER))


def test_a_message_naming_another_address_than_its_signer_is_refused():
    text = message(address=OTHER.address).text()
    refused("siwe_signature_invalid", text, sign(text, HOLDER))


@pytest.mark.parametrize("signature", ["0x", "0x1234", "0x" + "00" * 65, "not hex", "0x" + "ff" * 65])
def test_a_forged_or_broken_signature_is_refused_not_crashed(signature: str):
    refused("siwe_signature_invalid", message().text(), signature)


def test_the_text_signed_is_the_text_checked():
    """A signature over one message does not carry over to an edited copy."""
    signed = message().text()
    edited = message(statement="Claim the kudos held for you!").text()
    refused("siwe_signature_invalid", edited, sign(signed))


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"domain": "evil.example"}, "siwe_domain_mismatch"),
        ({"scheme": "http"}, "siwe_domain_mismatch"),
        ({"uri": "https://evil.example/claim"}, "siwe_uri_mismatch"),
        ({"chain_id": 1}, "siwe_chain_mismatch"),
        ({"nonce": "Zq81xYb2c5"}, "siwe_nonce_mismatch"),
        ({"expiration_time": NOW}, "siwe_expired"),
        ({"expiration_time": NOW - timedelta(seconds=1)}, "siwe_expired"),
        ({"issued_at": NOW - timedelta(minutes=15), "expiration_time": None}, "siwe_expired"),
        ({"issued_at": NOW + timedelta(minutes=3)}, "siwe_not_yet_valid"),
        ({"not_before": NOW + timedelta(minutes=3)}, "siwe_not_yet_valid"),
    ],
)
def test_a_field_other_than_the_claim_asked_for_is_refused(changes: dict[str, object], code: str):
    refused(code, message(**changes).text())


def test_the_scheme_may_be_the_uri_s_own():
    text = message(scheme="https").text()
    assert check(text, sign(text)).scheme == "https"


def test_times_within_the_bounds_are_accepted():
    """The edges: just before expiry, a wallet clock a little ahead, a message just under its greatest age."""
    for changes in (
        {"expiration_time": NOW + timedelta(seconds=1)},
        {"issued_at": NOW + timedelta(minutes=2), "expiration_time": None},
        {"issued_at": NOW - timedelta(minutes=14, seconds=59), "expiration_time": None},
        {"not_before": NOW},
    ):
        text = message(**changes).text()
        assert check(text, sign(text)).nonce == NONCE, changes


def test_a_lowercase_address_is_refused_as_the_eip_requires_eip55():
    text = message().text().replace(HOLDER.address, HOLDER.address.lower())
    error = refused("siwe_malformed", text)
    assert "EIP-55" in error.message


@pytest.mark.parametrize(
    ("edit", "names"),
    [
        (lambda t: t.replace(" wants you to sign in", " wants to sign in"), "first line"),
        (lambda t: t.replace("\n\nClaim", "\nClaim"), "second line"),
        (lambda t: t.replace("Claim the kudos held for you.", "Claim\ttabs"), "statement"),
        (lambda t: t.replace("Claim the kudos held for you.", "Claim <b>"), "statement"),
        (lambda t: t.replace("Version: 1", "Version: 2"), "version"),
        (lambda t: t.replace(f"Chain ID: {CHAIN_ID}", "Chain ID: 0x7a69"), "chain id"),
        (lambda t: t.replace(f"Chain ID: {CHAIN_ID}", "Chain ID: 031337"), "chain id"),
        (lambda t: t.replace(f"Nonce: {NONCE}", "Nonce: short"), "nonce"),
        (lambda t: t.replace(f"Nonce: {NONCE}", "Nonce: has space 1234"), "nonce"),
        (lambda t: t.replace("Issued At: 2026-12-06T11:59:00Z", "Issued At: 2026-12-06 11:59:00"), "Issued At"),
        (lambda t: t.replace("Issued At: 2026-12-06T11:59:00Z", "Issued At: 2026-12-06T11:59:00"), "Issued At"),
        (lambda t: t.replace("Issued At: 2026-12-06T11:59:00Z", "Issued At: 2026-02-30T11:59:00Z"), "valid date"),
        (lambda t: t.replace(f"URI: {URI}", "URI: not a uri"), "URI"),
        (lambda t: t.replace("Version: 1\n", ""), "'Version: '"),
        (lambda t: t.replace(f"Version: 1\nChain ID: {CHAIN_ID}", f"Chain ID: {CHAIN_ID}\nVersion: 1"), "order"),
        (lambda t: t + "\nSomething: else", "unexpected line"),
        (lambda t: t + "\n", "unexpected line"),
        (lambda t: t.replace("\n", "\r\n"), "first line"),
        (lambda t: "", "first line"),
    ],
)
def test_a_message_not_in_the_eip_form_is_refused_by_what_is_wrong(edit: Callable[[str], str], names: str):
    text = edit(message().text())
    error = refused("siwe_malformed", text)
    assert names in error.message


def test_hostile_text_is_refused_without_crashing():
    for text in ("\x00" * 10_000, "\n" * 100_000, "é wants you to sign in with your Ethereum account:\n" * 1000):
        with pytest.raises(SiweError):
            check(text, "0x" + "00" * 65)


def test_times_at_the_end_of_the_calendar_are_refused_not_crashed():
    far = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    refused("siwe_malformed", message(issued_at=far, expiration_time=None).text())
    refused("siwe_not_yet_valid", message(issued_at=NOW - timedelta(minutes=1), not_before=far).text())
