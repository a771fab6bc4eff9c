"""Request and response bodies of the API."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    EmailStr,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    Tag,
    WithJsonSchema,
    model_validator,
)

from kudos_service.core.limits import MAX_BATCH
from kudos_service.core.security import parse_duration

__all__ = [
    "AwardBatchItem",
    "AwardBatchRequest",
    "AwardCreate",
    "AwardOut",
    "EmailRecipient",
    "KeyCreate",
    "KeyCreated",
    "KeyOut",
    "KindCreate",
    "KindOut",
    "RecipientCreate",
    "RecipientOut",
    "RecipientPage",
    "RecipientUpdate",
    "RevokeRequest",
    "WalletItem",
    "WalletOut",
    "is_valid_address",
    "to_checksum_address",
]

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
MAX_MESSAGE = 500
MAX_NAME = 200

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def _keccak(data: bytes) -> bytes:
    """keccak256 of ``data``: safe-pysha3's C code (installed with py-evm) loads in milliseconds, where eth-hash's
    automatic choice (pycryptodome, through cffi) takes some 90 ms, a fifth of a command's start-up."""
    try:
        from sha3 import keccak_256  # type: ignore[import-untyped]  # noqa: PLC0415
    except ImportError:  # pragma: no cover - another interpreter than CPython
        from eth_hash.auto import keccak  # noqa: PLC0415

        return keccak(data)
    return bytes(keccak_256(data).digest())


def to_checksum_address(value: str) -> str:
    """The EIP-55 form of an address of ``0x`` and 40 hex digits (each letter upper-case where the keccak256 of the
    lower-case digits has a nibble of 8 or more), as eth-utils computes it; here on eth-hash alone, so that the
    command line checks addresses without importing eth-utils or web3 (``tests/service/test_cli_startup.py``
    holds the two equal).

    >>> to_checksum_address("0x52908400098527886e0f7030069857d2e4169ee7")
    '0x52908400098527886E0F7030069857D2E4169EE7'
    """
    digits = value[2:].lower()
    nibbles = _keccak(digits.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if int(n, 16) >= 8 else c for c, n in zip(digits, nibbles, strict=False))


def is_valid_address(value: str) -> bool:
    """True for exactly ``0x`` and 40 hex digits: all lower-case, all upper-case, or mixed-case with a valid EIP-55
    checksum: the library's rule (:func:`kudos_chain.client.is_valid_address`; a test holds them equal), without
    importing it (and web3).

    >>> is_valid_address("0x52908400098527886E0F7030069857D2E4169EE7")
    True
    >>> is_valid_address("0x52908400098527886e0F7030069857D2E4169EE7")  # one letter's case changed
    False
    """
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        return False
    digits = value[2:]
    return digits in (digits.lower(), digits.upper()) or value == to_checksum_address(value)


#: Addresses below this are the zero address, the precompiles (0x01 to 0x11 on Ethereum, 0x100 for P-256 on
#: several L2s) and system addresses nobody holds the key to: a kudos sent there can never be used.
LOWEST_USABLE_ADDRESS = 0x10000

#: An address exactly as the API takes it (the checksum is checked as well when the case is mixed).
ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"

#: ``@handle`` of a person in the directory.
HANDLE_PATTERN = r"^@[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

#: An address that parses, for examples (a fresh account nobody uses).
EXAMPLE_ADDRESS = "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"

_NONCHARACTERS = "".join(chr(plane << 16 | low) for plane in range(17) for low in (0xFFFE, 0xFFFF))

#: What no text field takes: the C0 and C1 control characters (a newline alone is allowed where the field is
#: multi-line), lone UTF-16 surrogates (from a JSON ``\ud800`` escape) and the Unicode noncharacters. None of them
#: can be drawn, several are not even allowed in XML (the badge is SVG), and the text's hash goes on chain for
#: good, so it is refused at the door rather than cleaned up afterwards.
_FORBIDDEN = re.compile(f"[\\x00-\\x09\\x0b-\\x1f\\x7f-\\x9f\\ud800-\\udfff\\ufdd0-\\ufdef{_NONCHARACTERS}]")


def clean_text(value: str, *, multiline: bool = False) -> str:
    """``value`` in Unicode normal form C, so that the same words always hash the same; refused (``ValueError``)
    when it holds a control character, a lone surrogate or a noncharacter. A newline is allowed when
    ``multiline`` (``\\r\\n`` is read as ``\\n``).

    >>> clean_text("Cafe\u0301")  # "e" and a combining accent become one character
    'Café'
    >>> clean_text("Thanks\x1b[31m")
    Traceback (most recent call last):
    ...
    ValueError: control character U+001B is not allowed in this text
    """
    if multiline:
        value = value.replace("\r\n", "\n")
    elif "\n" in value:
        raise ValueError("a newline is not allowed in this text (only a message may have several lines)")
    value = unicodedata.normalize("NFC", value)
    bad = _FORBIDDEN.search(value)
    if bad is not None:
        code = ord(bad.group())
        kind = (
            "surrogate"
            if 0xD800 <= code <= 0xDFFF
            else "noncharacter"
            if code >= 0xFDD0 and (0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE)
            else "control character"
        )
        raise ValueError(f"{kind} U+{code:04X} is not allowed in this text")
    return value


# The same rule for the OpenAPI document, so that generated clients know it (surrogates and noncharacters are
# left to the server: JSON Schema's regular expressions cannot name every one).
_LINE_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f]*$"
_PARAGRAPH_PATTERN = r"^[^\u0000-\u0009\u000b-\u001f\u007f-\u009f]*$"


def _one_line(value: str) -> str:
    return clean_text(value)


def _multiline(value: str) -> str:
    return clean_text(value, multiline=True)


# Text fields: whitespace at either end stripped, at most so many characters, Unicode NFC, no control characters
# (:func:`clean_text`); only a message (and a kind's description) may hold newlines.
Message = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_MESSAGE),
    AfterValidator(_multiline),
    Field(json_schema_extra={"pattern": _PARAGRAPH_PATTERN}),
]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME),
    AfterValidator(_one_line),
    Field(json_schema_extra={"pattern": _LINE_PATTERN}),
]
ExternalId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    AfterValidator(_one_line),
    Field(json_schema_extra={"pattern": _LINE_PATTERN}),
]
KindName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_one_line),
    Field(json_schema_extra={"pattern": _LINE_PATTERN}),
]
Emoji = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=16),
    AfterValidator(_one_line),
    Field(json_schema_extra={"pattern": _LINE_PATTERN}),
]
Description = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=500),
    AfterValidator(_multiline),
    Field(json_schema_extra={"pattern": _PARAGRAPH_PATTERN}),
]


_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,100}")


def whole_number(value: object) -> object:
    """Digits only, when the number comes as text (a path or a query): pydantic's lax mode would also read
    ``"1.0"``, ``" 1"``, ``"+1"`` and ``"1_000"`` as numbers, so ``/v1/tokens/1.0`` would name token 1."""
    if isinstance(value, str) and not _WHOLE_NUMBER.fullmatch(value):
        raise ValueError("a whole number is written with the digits 0-9 alone (a minus sign in front at most)")
    return value


#: A whole number in a path or a query string: only the digits 0-9.
WholeNumber = Annotated[int, BeforeValidator(whole_number)]


def _address(value: str) -> str:
    if not is_valid_address(value):
        raise ValueError("not an Ethereum address (0x and 40 hex digits, with a valid checksum if mixed-case)")
    if int(value, 16) < LOWEST_USABLE_ADDRESS:
        raise ValueError(
            "the zero address, precompiles and system addresses cannot hold a kudos (nobody has their key)"
        )
    return to_checksum_address(value)


#: A wallet address that can hold a kudos: exactly 0x and 40 hex digits, checksummed when mixed-case, not the
#: zero address or a precompile.
Address = Annotated[
    str,
    AfterValidator(_address),
    WithJsonSchema({"type": "string", "pattern": ADDRESS_PATTERN, "examples": [EXAMPLE_ADDRESS]}),
]
_HANDLE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def _handle(value: str) -> str:
    if not _HANDLE.fullmatch(value.lower()):
        raise ValueError(
            "a handle is 1 to 64 letters, digits, dots, dashes or underscores, starting with a letter or digit"
        )
    return value.lower()


def _recipient(value: str) -> str:
    return "@" + _handle(value[1:]) if value.startswith("@") else _address(value)


#: A directory handle, case-insensitive (stored in lower case).
Handle = Annotated[
    str,
    AfterValidator(_handle),
    WithJsonSchema({"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", "examples": ["ada"]}),
]

#: A recipient: a wallet address, or ``@handle`` of a person in the directory.
RecipientRef = Annotated[
    str,
    AfterValidator(_recipient),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": f"({ADDRESS_PATTERN})|({HANDLE_PATTERN})",
            "examples": [EXAMPLE_ADDRESS, "@ada"],
        }
    ),
]


def _lower_email(value: str) -> str:
    return value.lower()


#: An email address, in lower case (the directory finds a person by it whatever its case).
Email = Annotated[EmailStr, StringConstraints(max_length=254), AfterValidator(_lower_email)]


class EmailRecipient(BaseModel):
    """A person thanked by email address: found in the directory by it, or added to it (admin-only data)."""

    model_config = ConfigDict(extra="forbid")

    email: Email = Field(examples=["ada@example.com"])
    name: Name | None = Field(
        default=None,
        description="Their name, for the directory and the email's greeting (never public); kept if they are "
        "already in the directory.",
    )


def _recipient_form(value: object) -> str:
    return RECIPIENT_TAGS[1] if isinstance(value, dict | EmailRecipient) else RECIPIENT_TAGS[0]


#: The names pydantic gives the two forms of a recipient in an error's location; the API's errors leave them out.
RECIPIENT_TAGS = ("address_or_handle", "email_recipient")

#: A recipient in one of its forms: ``"0x…"`` or ``"@handle"`` (a string), or ``{"email": …}`` (an object). The
#: form is chosen by the JSON type, so a refusal speaks of that form only.
AnyRecipient = Annotated[
    Annotated[RecipientRef, Tag(RECIPIENT_TAGS[0])] | Annotated[EmailRecipient, Tag(RECIPIENT_TAGS[1])],
    Discriminator(_recipient_form),
]


class AwardCreate(BaseModel):
    """An award to make."""

    model_config = ConfigDict(extra="forbid")

    recipient: AnyRecipient = Field(
        description="The wallet address that receives the kudos; @handle of a person in the directory; or "
        '{"email": …} of a person without a wallet. A person without a wallet yet (by email, or a handle without '
        "one) has the kudos minted to the custody address and held for them: they are sent a claim link "
        "and move it into a wallet of their own by signing in with it."
    )
    kind: StrictInt | Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="The kudos type: its id or its slug (see GET /v1/kinds).", examples=["team-player", 1]
    )
    message: Message = Field(
        description="The words of thanks; may hold newlines, no other control characters.",
        examples=["Thank you for carrying the launch!"],
    )
    awarded_by: Name = Field(description="Who gives the kudos.", examples=["Grace (HR)"])
    recipient_name: Name | None = Field(
        default=None, description="The recipient's display name, shown in the metadata when given."
    )
    transferable: StrictBool | None = Field(
        default=None, description="Default: the kind's default (usually soulbound)."
    )
    recipient_is_contract: StrictBool = Field(
        default=False,
        description=(
            "Set to true to award a contract (a smart-contract wallet, say): an address with code is refused "
            "otherwise, since most contracts can never move or show a kudos."
        ),
    )


IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")]


class AwardBatchItem(AwardCreate):
    """One award of a batch, with its own idempotency key."""

    idempotency_key: IdempotencyKey


class AwardBatchRequest(BaseModel):
    """Up to 1,000 awards at once; a batch with any bad item is refused whole."""

    model_config = ConfigDict(extra="forbid")

    awards: Annotated[list[AwardBatchItem], Field(min_length=1, max_length=MAX_BATCH)]


class AwardOut(BaseModel):
    """Where an award is."""

    id: str
    status: Literal["queued", "submitted", "confirmed", "failed"]
    recipient: str
    kind: str
    transferable: bool
    content_hash: str
    failure_reason: str | None = None
    held: bool = Field(
        default=False,
        description="True while the kudos waits at the custody address for a person without a wallet "
        "(`recipient` is then that address), until they claim it.",
    )
    status_reason: str | None = Field(
        default=None,
        description="Why a queued or submitted award is not confirmed yet, in words (a fee above the cap, an empty "
        "signer, a node that refused its transaction); null while nothing holds it back.",
    )
    tx_hash: str | None = None
    token_id: int | None = None
    token_uri: str | None = None
    block_number: int | None = None
    chain_id: int | None = None
    contract_address: str | None = None
    created_at: datetime
    submitted_at: datetime | None = None
    confirmed_at: datetime | None = None


class OperationOut(BaseModel):
    """A write to the chain in the outbox (a revocation), and where it is.

    ``queued``: waiting to be signed; ``submitted``: sent, not yet ``confirmations`` deep; ``confirmed``: deep
    enough; ``failed``: refused by the chain (``failure_reason`` says why).
    """

    id: int
    kind: Literal["award_batch", "revoke", "recover", "call"]
    status: Literal["queued", "submitted", "confirmed", "failed"]
    token_id: int | None = None
    reason: str | None = Field(default=None, description="The reason of a revocation.", examples=["mistake"])
    tx_hash: str | None = Field(default=None, description="The transaction mined, or the newest one sent.")
    block_number: int | None = None
    nonce: int | None = None
    replacements: int = Field(default=0, description="How often its transaction was signed again with higher fees.")
    failure_reason: str | None = None
    status_reason: str | None = Field(default=None, description="Why it is not confirmed yet, in words.")
    created_at: datetime
    confirmed_at: datetime | None = None


class KindCreate(BaseModel):
    """A new kudos type."""

    model_config = ConfigDict(extra="forbid")

    slug: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    name: KindName
    description: Description = ""
    audience: Literal["employee", "candidate", "customer", "other"] = "employee"
    color: Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")] = "#2563eb"
    emoji: Emoji = "⭐"
    default_transferable: StrictBool = False


class KindOut(BaseModel):
    """A kudos type; ``id`` is the kind stored on chain."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    slug: str
    name: str
    description: str
    audience: str
    color: str
    emoji: str
    default_transferable: bool


class RevokeRequest(BaseModel):
    """Why a kudos is revoked."""

    model_config = ConfigDict(extra="forbid")

    reason: Literal["unspecified", "mistake", "fraud", "requested_by_holder", "policy"] = Field(
        default="unspecified",
        description="Why, as recorded on chain in `KudosRevoked` (codes 0 to 4 in this order): `unspecified`, "
        "`mistake` (awarded in error), `fraud`, `requested_by_holder`, `policy`. Without a body: `unspecified`.",
    )


class WalletItem(BaseModel):
    """One kudos in a wallet."""

    token_id: int
    kind: str | None
    kind_name: str | None
    emoji: str | None
    color: str | None
    message: str | None = Field(description="The words of thanks; null unless verified.")
    awarded_by: str | None
    verified: bool = Field(description="True when this service's text hashes to the content hash on chain.")
    issued_at: datetime | None = Field(
        description="The chain's date of the kudos (`issuedAt`): the timestamp of the block that minted it. The "
        "metadata's `awarded_at`, when the issuer made the award, is the same second or earlier."
    )
    transferable: bool | None
    token_uri: str
    image_url: str


class WalletOut(BaseModel):
    """A page of the kudos an address holds, newest first."""

    address: str
    chain_id: int
    contract_address: str
    total: int
    limit: int
    offset: int
    items: list[WalletItem]


_LISTED = (
    "May anyone find the person's wallet by @handle on the public lookup page (`/lookup?q=@handle`)? Off by "
    "default; a handle that is not listed gets exactly the answer of a handle nobody has. Awards to @handle with "
    "an API key are not affected."
)


class RecipientCreate(BaseModel):
    """A person in the directory."""

    model_config = ConfigDict(extra="forbid")

    handle: Handle = Field(description="A short unique name: letters, digits, dots, dashes, underscores.")
    external_id: ExternalId = Field(
        description="The person's id elsewhere: an HRIS id, an email address or a Slack user id."
    )
    display_name: Name
    wallet_address: Address | None = Field(default=None, description="Their wallet, once they have one.")
    email: Email | None = Field(default=None, description="Where claim links for kudos held for them are sent.")
    slack_user_id: Annotated[str, StringConstraints(pattern=r"^[UW][A-Z0-9]{2,31}$")] | None = None
    show_name: StrictBool = Field(default=False, description="May the public wallet page show the display name?")
    listed: StrictBool = Field(default=False, description=_LISTED)


class RecipientUpdate(BaseModel):
    """Changes to a person's entry; a field left out (or null) is not changed. The handle and the external id,
    which other systems know the person by, do not change: remove the entry and add it again."""

    model_config = ConfigDict(extra="forbid")

    display_name: Name | None = None
    wallet_address: Address | None = Field(default=None, description="Their wallet, once they have one.")
    email: Email | None = Field(default=None, description="Where claim links for kudos held for them are sent.")
    slack_user_id: Annotated[str, StringConstraints(pattern=r"^[UW][A-Z0-9]{2,31}$")] | None = None
    show_name: StrictBool | None = Field(default=None, description="May the public wallet page show the display name?")
    listed: StrictBool | None = Field(default=None, description=_LISTED)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite returns datetimes without their zone


class RecipientOut(BaseModel):
    """A person in the directory (``admin`` scope only: personal data)."""

    model_config = ConfigDict(from_attributes=True)

    handle: str
    external_id: str
    display_name: str
    wallet_address: str | None
    email: str | None = None
    slack_user_id: str | None
    show_name: bool
    listed: bool
    created_at: Annotated[datetime, AfterValidator(_utc)]
    held: int = Field(
        default=0,
        description="How many kudos are held for the person (minted to the custody address, not yet claimed). Once "
        "the person has a `wallet_address`, `POST /v1/recipients/{handle}/held/move` moves them there; "
        "`POST /v1/recipients/{handle}/claim-link` lets the person claim them into a wallet of their choice.",
    )


class RecipientPage(BaseModel):
    """A page of the directory, ordered by handle (``admin`` scope only: personal data)."""

    total: int = Field(description="How many people match, on every page.")
    limit: int
    offset: int
    items: list[RecipientOut]


# ----------------------------------------------------------------------------------------------------------------
# API keys
# ----------------------------------------------------------------------------------------------------------------

#: What a key may do (``kudos_service.core.security.SCOPES``).
Scope = Literal["award", "revoke", "admin"]

_LIFETIME_PATTERN = r"^[1-9][0-9]{0,5}[mhdw]$"


def _lifetime(value: str) -> str:
    parse_duration(value)  # its ValueError names the rule
    return value


def _datetime_text(value: object) -> object:
    """An instant comes as ISO 8601 text in JSON: pydantic's lax mode would read a number as a Unix time."""
    if isinstance(value, (int, float, bool)):
        raise ValueError("a date and time is ISO 8601 text, such as 2027-06-30T00:00:00Z")
    return value


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError:  # 9999-12-31T23:00:00-05:00 is past year 9999 in UTC
        raise ValueError("the date and time is out of range") from None


#: How long a new key lives: a whole number and m, h, d or w (``30d``, ``12h``), at most ten years.
Lifetime = Annotated[
    str,
    StringConstraints(max_length=8),
    AfterValidator(_lifetime),
    Field(json_schema_extra={"pattern": _LIFETIME_PATTERN}, examples=["30d", "12h"]),
]
#: An instant, ISO 8601; without a zone it is read as UTC.
Instant = Annotated[datetime, BeforeValidator(_datetime_text), AfterValidator(_in_utc)]


class KeyCreate(BaseModel):
    """A new API key: its scopes (only scopes the calling key holds), a label, and when it stops working."""

    model_config = ConfigDict(extra="forbid")

    scopes: Annotated[list[Scope], Field(min_length=1, max_length=3)] = Field(
        description="What the key may do: `award`, `revoke`, `admin`; each one the calling key holds itself."
    )
    name: Name | None = Field(default=None, description="A label, to tell keys apart.", examples=["HR tool"])
    expires_in: Lifetime | None = Field(
        default=None,
        description="The key stops working this long from now: a whole number and `m`, `h`, `d` or `w` (minutes, "
        "hours, days, weeks), at most ten years. Not with `expires_at`.",
    )
    expires_at: Instant | None = Field(
        default=None,
        description="The key stops working at this instant (ISO 8601; UTC when no zone is given), in the future "
        "and at most ten years ahead. Not with `expires_in`. Neither: the key does not expire, unless the calling "
        "key does (a key cannot outlive the key that made it).",
    )

    @model_validator(mode="after")
    def _one_expiry(self) -> KeyCreate:
        if self.expires_in is not None and self.expires_at is not None:
            raise ValueError("give expires_in or expires_at, not both")
        return self


class KeyOut(BaseModel):
    """An API key as the listing shows it: never its secret."""

    prefix: str = Field(
        description="The key's public lookup prefix (the 12 hex digits after `kudos_`): names it to revoke it.",
        examples=["3f9a1c0b7d2e"],
    )
    name: str | None
    scopes: list[str]
    status: Literal["active", "expired", "revoked"] = Field(
        description="`active`: it opens what its scopes allow; `expired` or `revoked`: it is refused (401 "
        "`key_expired` or `key_revoked`)."
    )
    created_at: Annotated[datetime, AfterValidator(_utc)]
    expires_at: Annotated[datetime, AfterValidator(_utc)] | None = Field(description="None: never.")
    last_used_at: Annotated[datetime, AfterValidator(_utc)] | None = Field(
        description="The last request it authenticated, recorded at most once a minute (so up to a minute behind); "
        "None: not used since this was recorded."
    )
    revoked_at: Annotated[datetime, AfterValidator(_utc)] | None = Field(
        description="When it was revoked; None when it is not, or was revoked before this was recorded."
    )


class KeyCreated(KeyOut):
    """A new API key, with the key itself: shown in this answer only, and never again."""

    key: str = Field(
        repr=False,
        description="The API key, for `Authorization: Bearer <key>`. Only its hash is stored: keep it now.",
        examples=["kudos_3f9a1c0b7d2e_" + "x" * 43],
    )


# ----------------------------------------------------------------------------------------------------------------
# Claims: kudos held for people without a wallet
# ----------------------------------------------------------------------------------------------------------------

#: Where one kudos of a claim is: ``on_its_way`` (accepted, not yet confirmed at the custody address), ``held``
#: (in custody, waiting for the claim), ``moving`` (its ``recover`` to the wallet is in the outbox or on chain),
#: ``in_wallet`` (confirmed in the person's wallet), ``failed`` (the move was refused by the chain: an admin sends
#: a new link).
HeldStatus = Literal["on_its_way", "held", "moving", "in_wallet", "failed"]


class HeldKudosOut(BaseModel):
    """One kudos held for a person, or moved by their claim."""

    award_id: str
    kind: str = Field(description="The kind's name.")
    color: str
    message: str
    awarded_by: str
    awarded_at: datetime
    token_id: int | None
    status: HeldStatus
    image_url: str


class SignInRequest(BaseModel):
    """What the EIP-4361 message must say for this claim; ``POST /v1/claims/{token}/message`` writes it whole."""

    domain: str
    uri: str
    chain_id: int
    nonce: str
    statement: str


class ClaimOut(BaseModel):
    """A claim link and the kudos it is for.

    ``state``: ``open`` (it can be claimed), ``used`` (claimed: ``wallet_address`` received the kudos, and each
    kudos's ``status`` follows the move), ``expired`` or ``revoked`` (a newer link replaced it, or an admin withdrew
    it).
    """

    state: Literal["open", "used", "expired", "revoked"]
    expires_at: datetime
    wallet_address: str | None = None
    done: bool = Field(description="True once every kudos of a used claim is in the wallet (or failed).")
    kudos: list[HeldKudosOut]
    sign_in: SignInRequest | None = Field(default=None, description="Null unless the link is open.")
    chain_id: int
    contract_address: str


class ClaimMessageRequest(BaseModel):
    """The wallet that will sign in."""

    model_config = ConfigDict(extra="forbid")

    address: Address


class ClaimMessageOut(BaseModel):
    """The EIP-4361 message for the wallet to sign (``personal_sign``), valid for 10 minutes."""

    message: str


class ClaimRequest(BaseModel):
    """A signed sign-in message: the claim."""

    model_config = ConfigDict(extra="forbid")

    message: Annotated[str, StringConstraints(min_length=1, max_length=4000)] = Field(
        description="The EIP-4361 message exactly as it was signed."
    )
    signature: Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{130}$")] = Field(
        description="Its 65-byte EIP-191 signature, in hex."
    )


class ClaimLinkOut(BaseModel):
    """A new claim link for a person (``admin`` scope): the URL is shown this once, only its hash is stored. Every
    earlier link of theirs ends."""

    url: str
    expires_at: datetime
    held: int = Field(description="How many kudos are held for the person now.")
    mail_status: Literal["queued", "when_confirmed", "none"] = Field(
        description="`queued`: emailed to the person's address (kept for admins without a mail server); "
        "`when_confirmed`: nothing held for them is on chain yet, so a link is emailed once something is (that "
        "link replaces this one); `none`: the person has no email address, or `send_email` was false."
    )


class ClaimLinkRequest(BaseModel):
    """How to hand out the new link."""

    model_config = ConfigDict(extra="forbid")

    send_email: StrictBool = Field(default=True, description="Email it to the person's address, if they have one.")


class HeldItem(BaseModel):
    """A kudos held for someone, and for whom (``admin`` scope: personal data)."""

    award_id: str
    token_id: int | None
    status: HeldStatus
    kind: str
    awarded_by: str
    awarded_at: datetime
    handle: str
    email: str | None
    display_name: str
    announced_at: datetime | None


class HeldPage(BaseModel):
    """A page of held kudos, oldest first."""

    total: int
    limit: int
    offset: int
    items: list[HeldItem]


class MovedOut(BaseModel):
    """The kudos whose move to the person's wallet was queued now."""

    wallet_address: str
    moving: int


class MailOut(BaseModel):
    """A message of the mail outbox (``admin`` scope: it holds personal data, and a claim link until it is sent)."""

    id: int
    purpose: str
    to: str
    subject: str
    status: Literal["queued", "sent", "failed", "kept"]
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    text: str


class MailPage(BaseModel):
    """A page of the mail outbox, newest first."""

    total: int
    limit: int
    offset: int
    items: list[MailOut]
