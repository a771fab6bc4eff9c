"""Sign-In with Ethereum (EIP-4361): the message a person signs to claim the kudos held for them, and its check.

The service writes the message (:meth:`SiweMessage.text`), the person's wallet signs it with ``personal_sign``
(EIP-191), and the service takes back the text and the signature. :func:`verify` parses the text by the EIP's
grammar (strictly: a message that is not exactly in the EIP's form is refused, not repaired), checks each field
against what the service asked for (domain, URI, chain id, nonce, times), then recovers the signer with
eth-account and compares it with the message's address.

The ``siwe`` package on PyPI needs web3 < 8, so the grammar is implemented here; only signatures of externally
owned accounts are checked (EIP-1271 contract wallets are not).

    >>> from datetime import UTC, datetime
    >>> message = SiweMessage(
    ...     domain="kudos.example", address="0xe5A12547fe4E872D192E3eCecb76F2Ce1aeA4946",
    ...     statement="Claim the kudos held for you.", uri="https://kudos.example/claim", chain_id=1,
    ...     nonce="q8Zc2Xb1", issued_at=datetime(2026, 12, 6, 12, 0, tzinfo=UTC))
    >>> print(message.text())
    kudos.example wants you to sign in with your Ethereum account:
    0xe5A12547fe4E872D192E3eCecb76F2Ce1aeA4946
    <BLANKLINE>
    Claim the kudos held for you.
    <BLANKLINE>
    URI: https://kudos.example/claim
    Version: 1
    Chain ID: 1
    Nonce: q8Zc2Xb1
    Issued At: 2026-12-06T12:00:00Z
    >>> SiweMessage.parse(message.text()) == message
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.address import is_checksum_address

from kudos_service.errors import InvalidRequestError

__all__ = ["SiweError", "SiweMessage", "verify"]

_HEADER = re.compile(r"(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?(?P<domain>[^\s/?#@]+(?:@[^\s/?#@]+)?)"
                     r" wants you to sign in with your Ethereum account:")  # fmt: skip
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
#: RFC 3986's reserved and unreserved characters, and the space: what a statement may hold (one line).
_STATEMENT = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;= ]+")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[!#-;=?-\[\]_a-z~]+")
_NONCE = re.compile(r"[A-Za-z0-9]{8,}")
_CHAIN_ID = re.compile(r"[1-9][0-9]{0,19}")
#: RFC 3339 ``date-time``: a full date, ``T``, a time with optional fraction, and ``Z`` or an offset.
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2})", re.ASCII
)
_REQUEST_ID = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@%]*")
#: The optional fields after ``Issued At``, in the order the EIP gives them.
_OPTIONAL = ("Expiration Time", "Not Before", "Request ID")


class SiweError(InvalidRequestError):
    """A sign-in message refused: malformed, for another domain, chain or nonce, out of its time, or signed by
    another account. ``code`` says which (``siwe_malformed``, ``siwe_domain_mismatch``, ``siwe_uri_mismatch``,
    ``siwe_chain_mismatch``, ``siwe_nonce_mismatch``, ``siwe_expired``, ``siwe_not_yet_valid``,
    ``siwe_signature_invalid``)."""


def _malformed(what: str) -> SiweError:
    return SiweError("siwe_malformed", f"the sign-in message is not in the EIP-4361 form: {what}")


def _format_time(moment: datetime) -> str:
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def _parse_time(name: str, text: str) -> datetime:
    if not _DATE_TIME.fullmatch(text):
        raise _malformed(f"{name} is not an RFC 3339 date-time")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise _malformed(f"{name} is not a valid date") from None


def _fields(lines: list[str]) -> tuple[dict[str, str], list[str]]:
    """The ``Name: value`` fields after the statement, in the EIP's order, and the resources, each checked."""
    values: dict[str, str] = {}
    for name in ("URI", "Version", "Chain ID", "Nonce", "Issued At"):
        if not lines or not lines[0].startswith(f"{name}: "):
            raise _malformed(f"'{name}: ' is missing or out of order")
        values[name] = lines.pop(0).removeprefix(f"{name}: ")
    for name in _OPTIONAL:
        if lines and lines[0].startswith(f"{name}: "):
            values[name] = lines.pop(0).removeprefix(f"{name}: ")
    resources: list[str] = []
    if lines and lines[0] == "Resources:":
        lines.pop(0)
        while lines and lines[0].startswith("- "):
            resources.append(lines.pop(0).removeprefix("- "))
    if lines:
        raise _malformed(f"unexpected line {lines[0][:40]!r}")
    checks = (
        (all(_URI.fullmatch(uri) for uri in [values["URI"], *resources]), "a URI is not an RFC 3986 URI"),
        (values["Version"] == "1", "the version is not 1"),
        (_CHAIN_ID.fullmatch(values["Chain ID"]), "the chain id is not a positive integer"),
        (_NONCE.fullmatch(values["Nonce"]), "the nonce is not 8 or more letters and digits"),
        (_REQUEST_ID.fullmatch(values.get("Request ID", "")), "the request id holds characters the EIP does not allow"),
    )
    for passed, what in checks:
        if not passed:
            raise _malformed(what)
    return values, resources


@dataclass(frozen=True)
class SiweMessage:
    """The fields of an EIP-4361 message. ``address`` is EIP-55 checksummed, times are aware."""

    domain: str
    address: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: datetime
    statement: str | None = None
    version: str = "1"
    expiration_time: datetime | None = None
    not_before: datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = field(default=())
    scheme: str | None = None

    def text(self) -> str:
        """The message as the EIP writes it: what the wallet shows and signs."""
        lines = [
            f"{self.scheme + '://' if self.scheme else ''}{self.domain} wants you to sign in with your Ethereum"
            " account:",
            self.address,
            "",
            *([self.statement] if self.statement is not None else []),
            "",
            f"URI: {self.uri}",
            f"Version: {self.version}",
            f"Chain ID: {self.chain_id}",
            f"Nonce: {self.nonce}",
            f"Issued At: {_format_time(self.issued_at)}",
        ]
        if self.expiration_time is not None:
            lines.append(f"Expiration Time: {_format_time(self.expiration_time)}")
        if self.not_before is not None:
            lines.append(f"Not Before: {_format_time(self.not_before)}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources:
            lines += ["Resources:", *(f"- {resource}" for resource in self.resources)]
        return "\n".join(lines)

    @classmethod
    def parse(cls, text: str) -> SiweMessage:
        """The fields of ``text``, which must follow the EIP's grammar line by line.

        :raises SiweError: ``siwe_malformed``, naming the first part that does not.
        """
        lines = text.split("\n")
        header = _HEADER.fullmatch(lines[0])
        if header is None:
            raise _malformed("the first line is not '<domain> wants you to sign in with your Ethereum account:'")
        if len(lines) < 9 or not _ADDRESS.fullmatch(lines[1]) or lines[2] != "":
            raise _malformed("the second line is not an address followed by an empty line")
        if not is_checksum_address(lines[1]):
            raise _malformed("the address is not in its EIP-55 checksummed form")
        statement: str | None = None
        rest = lines[4:]
        if lines[3] != "":
            if not _STATEMENT.fullmatch(lines[3]) or lines[4] != "":
                raise _malformed("the statement holds characters the EIP does not allow, or is not one line")
            statement, rest = lines[3], lines[5:]
        values, resources = _fields(rest)
        request_id = values.get("Request ID")
        expiration, not_before = values.get("Expiration Time"), values.get("Not Before")
        return cls(
            scheme=header["scheme"],
            domain=header["domain"],
            address=lines[1],
            statement=statement,
            uri=values["URI"],
            version=values["Version"],
            chain_id=int(values["Chain ID"]),
            nonce=values["Nonce"],
            issued_at=_parse_time("Issued At", values["Issued At"]),
            expiration_time=None if expiration is None else _parse_time("Expiration Time", expiration),
            not_before=None if not_before is None else _parse_time("Not Before", not_before),
            request_id=request_id,
            resources=tuple(resources),
        )


def verify(
    text: str,
    signature: str | bytes,
    *,
    domain: str,
    uri: str,
    chain_id: int,
    nonce: str,
    now: datetime | None = None,
    max_age: timedelta = timedelta(minutes=15),
    clock_skew: timedelta = timedelta(minutes=2),
) -> SiweMessage:
    """The message ``text``, once it is shown to be for this ``domain``, ``uri``, ``chain_id`` and ``nonce``, within
    its times, and signed (EIP-191 ``personal_sign``) by its own address.

    ``max_age`` bounds a message's life whatever its ``Expiration Time`` says (from ``Issued At``); ``clock_skew``
    is how far ahead of ``now`` a wallet's clock may be.

    :raises SiweError: the first check that fails, by its code.
    """
    now = now or datetime.now(UTC)
    message = SiweMessage.parse(text)
    if message.domain != domain or message.scheme not in (None, uri.partition("://")[0]):
        raise SiweError("siwe_domain_mismatch", f"the sign-in message is for {message.domain!r}, not {domain!r}")
    if message.uri != uri:
        raise SiweError("siwe_uri_mismatch", "the sign-in message names another URI than the claim's")
    if message.chain_id != chain_id:
        raise SiweError("siwe_chain_mismatch", f"the sign-in message is for chain {message.chain_id}, not {chain_id}")
    if message.nonce != nonce:
        raise SiweError("siwe_nonce_mismatch", "the sign-in message's nonce is not the one this claim gave")
    try:
        ends = [message.issued_at + max_age, *([message.expiration_time] if message.expiration_time else [])]
    except OverflowError:  # Issued At in year 9999
        raise _malformed("Issued At is out of range") from None
    if now >= min(ends):
        raise SiweError("siwe_expired", "the sign-in message has expired: sign a new one")
    starts = [message.issued_at, *([message.not_before] if message.not_before else [])]
    if max(starts) > now + clock_skew:
        raise SiweError("siwe_not_yet_valid", "the sign-in message is not valid yet: check the device's clock")
    try:
        signer = Account.recover_message(encode_defunct(text=text), signature=signature)
    except Exception:  # eth-account raises ValueError, TypeError or eth_keys' BadSignature for a bad signature
        raise SiweError("siwe_signature_invalid", "the signature is not a valid Ethereum signature") from None
    if signer != message.address:
        raise SiweError("siwe_signature_invalid", "the sign-in message was not signed by the address it names")
    return message
