"""Metadata: the canonical JSON whose keccak256 an award puts on chain."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import pytest
from eth_utils.crypto import keccak

from kudos_chain import KudosMetadata, MetadataError, canonical_json, content_hash

META = KudosMetadata(
    kind="Team Player",
    message="Danke für den Launch! 🚀",
    awarded_by="Zoë",
    awarded_at="2026-11-26T10:00:00Z",
    image="https://kudos.example/1/image.svg",
)


def test_keys_are_sorted_at_every_depth_and_there_is_no_whitespace():
    doc = {"b": 1, "a": {"d": [3, {"z": 0, "y": None}], "c": True}, "A": "upper before lower"}
    assert canonical_json(doc) == b'{"A":"upper before lower","a":{"c":true,"d":[3,{"y":null,"z":0}]},"b":1}'


def test_the_order_a_document_was_built_in_does_not_change_its_hash():
    one = {"name": "x", "attributes": [{"trait_type": "Kind", "value": "y"}]}
    other = OrderedDict([("attributes", [OrderedDict([("value", "y"), ("trait_type", "Kind")])]), ("name", "x")])
    assert canonical_json(one) == canonical_json(other)
    assert content_hash(one) == content_hash(other)


def test_non_ascii_is_kept_as_utf8_not_escaped():
    encoded = canonical_json({"message": "Grüße, 世界 👏"})
    assert encoded == '{"message":"Grüße, 世界 👏"}'.encode()
    assert b"\\u" not in encoded
    assert json.loads(encoded) == {"message": "Grüße, 世界 👏"}


def test_strings_are_escaped_as_json_requires():
    assert canonical_json({"q": 'say "hi"\n\\'}) == b'{"q":"say \\"hi\\"\\n\\\\"}'


def test_the_content_hash_is_the_keccak256_of_the_canonical_json():
    assert content_hash(META) == keccak(canonical_json(META))
    assert content_hash(META) == content_hash(META.to_json())
    assert len(content_hash(META)) == 32


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({"score": 1.5}, "$.score"),
        ({"score": 1.0}, "$.score"),
        ({"a": [1, {"b": float("nan")}]}, r"$.a[1].b"),
        ({"a": {"b": float("inf")}}, "$.a.b"),
    ],
    ids=["float", "whole float", "nan in a list", "infinity"],
)
def test_floats_are_refused(doc: dict[str, Any], where: str):
    with pytest.raises(MetadataError, match="float") as caught:
        canonical_json(doc)
    assert where in str(caught.value)
    with pytest.raises(MetadataError):
        content_hash(doc)


@pytest.mark.parametrize(
    "doc",
    [{1: "int key"}, {"a": {b"k": 1}}, {"a": b"bytes"}, {"a": {1, 2}}, {"a": object()}],
    ids=["int key", "bytes key", "bytes value", "set", "object"],
)
def test_what_json_cannot_hold_is_refused(doc: dict[Any, Any]):
    with pytest.raises(MetadataError):
        canonical_json(doc)


def test_metadata_errors_are_value_errors():
    assert issubclass(MetadataError, ValueError)


def test_integers_booleans_null_lists_and_tuples_are_allowed():
    doc = {"n": -(2**70), "t": True, "f": False, "none": None, "list": [1, "x"], "tuple": (1, 2)}
    assert (
        canonical_json(doc)
        == b'{"f":false,"list":[1,"x"],"n":-1180591620717411303424,"none":null,"t":true,"tuple":[1,2]}'
    )


def test_kudos_metadata_follows_the_erc721_schema():
    doc = META.to_json()
    assert doc["name"] == "Team Player"
    assert doc["description"] == META.message
    assert doc["image"] == META.image
    assert doc["attributes"] == [
        {"trait_type": "Kind", "value": "Team Player"},
        {"trait_type": "Awarded by", "value": "Zoë"},
        {"trait_type": "Awarded at", "value": "2026-11-26T10:00:00Z"},
    ]
    assert "recipient_name" not in doc
    assert "external_url" not in doc


def test_kudos_metadata_optional_fields():
    named = KudosMetadata(
        kind="Mentor",
        message="m",
        awarded_by="a",
        awarded_at="t",
        image="i",
        recipient_name="Grace",
        external_url="https://kudos.example/w/grace",
    )
    assert named.to_json()["name"] == "Mentor for Grace"
    assert named.to_json()["recipient_name"] == "Grace"
    assert named.to_json()["external_url"] == "https://kudos.example/w/grace"
    titled = KudosMetadata(kind="Mentor", message="m", awarded_by="a", awarded_at="t", image="i", name="Custom")
    assert titled.to_json()["name"] == "Custom"
    assert content_hash(named) != content_hash(titled)
