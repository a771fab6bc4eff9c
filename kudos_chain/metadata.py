"""The off-chain metadata of a kudos and its content hash.

The chain holds only ``keccak256`` of the metadata's canonical serialization: JSON with keys sorted, no
insignificant whitespace, non-ASCII characters written as themselves, encoded in UTF-8. Floats are refused
(their text is not canonical); integers, strings, booleans, null, lists and objects are allowed.

>>> meta = KudosMetadata(kind="Team Player", message="Thanks for the launch!", awarded_by="Ada",
...                      awarded_at="2026-11-26T10:00:00Z", image="https://kudos.example/1/image.svg")
>>> canonical_json(meta.to_json())[:40]
b'{"attributes":[{"trait_type":"Kind","val'
>>> content_hash(meta).hex()[:16]
'79c7b71bfc10af74'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils.crypto import keccak

from kudos_chain.exceptions import MetadataError

__all__ = ["KudosMetadata", "canonical_json", "content_hash"]


@dataclass(frozen=True, slots=True)
class KudosMetadata:
    """The metadata JSON of a kudos: the ERC-721 metadata schema plus the kudos fields.

    :param kind: the kudos type's name (``"Team Player"``).
    :param message: the words of thanks.
    :param awarded_by: who gives the kudos.
    :param awarded_at: when the issuer made the award, ISO 8601 in UTC. It is part of the content hash, so it is
        fixed before the kudos is minted; the chain's own date, :attr:`kudos_chain.Kudos.issued_at`, is the
        timestamp of the block that minted it, the same second or later (minutes later on a busy chain).
    :param image: the URL of the badge picture.
    :param recipient_name: the recipient's display name, when they agreed to show it.
    :param name: the token's title; by default the kind and the recipient's name.
    :param external_url: a page about the kudos, such as the recipient's wallet page.
    """

    kind: str
    message: str
    awarded_by: str
    awarded_at: str
    image: str
    recipient_name: str | None = None
    name: str | None = None
    external_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The metadata as a JSON object, as ``tokenURI`` serves it."""
        title = self.name or (f"{self.kind} for {self.recipient_name}" if self.recipient_name else self.kind)
        attributes: list[dict[str, Any]] = [
            {"trait_type": "Kind", "value": self.kind},
            {"trait_type": "Awarded by", "value": self.awarded_by},
            {"trait_type": "Awarded at", "value": self.awarded_at},
        ]
        doc: dict[str, Any] = {
            "name": title,
            "description": self.message,
            "image": self.image,
            "attributes": attributes,
            "kind": self.kind,
            "message": self.message,
            "awarded_by": self.awarded_by,
            "awarded_at": self.awarded_at,
        }
        if self.recipient_name is not None:
            doc["recipient_name"] = self.recipient_name
        if self.external_url is not None:
            doc["external_url"] = self.external_url
        return doc


def canonical_json(document: Mapping[str, Any] | KudosMetadata) -> bytes:
    """The canonical UTF-8 serialization of a metadata document.

    :raises MetadataError: for a float, a non-string key or a value JSON cannot hold.
    """
    doc = document.to_json() if isinstance(document, KudosMetadata) else document
    _check(doc, "$")
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def content_hash(document: Mapping[str, Any] | KudosMetadata) -> bytes:
    """keccak256 of :func:`canonical_json`: the 32 bytes an award puts on chain."""
    return keccak(canonical_json(document))


def _check(value: Any, path: str) -> None:
    if isinstance(value, bool | int | str) or value is None:
        return
    if isinstance(value, float):
        raise MetadataError(f"{path} is a float, which has no canonical form: use an integer or a string")
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise MetadataError(f"{path} has a key that is not a string: {key!r}")
            _check(item, f"{path}.{key}")
        return
    raise MetadataError(f"{path} is a {type(value).__name__}, which JSON cannot hold")
