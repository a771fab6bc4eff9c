"""The metadata's canonical form, byte for byte: every field of the document, the title's rules, the hashes of
awards already on chain (a change here would make every stored kudos fail its verification), and the exact words
of each refusal, with the path of the value refused."""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils.crypto import keccak

from kudos_chain import KudosMetadata, MetadataError, canonical_json, content_hash

SHORT = KudosMetadata(
    kind="Team Player",
    message="Thanks for the launch!",
    awarded_by="Ada",
    awarded_at="2026-11-26T10:00:00Z",
    image="https://kudos.example/1/image.svg",
)
FULL = KudosMetadata(
    kind="Mentor",
    message="Grüße",
    awarded_by="Zoë",
    awarded_at="2026-11-26T10:00:00Z",
    image="https://kudos.example/2/image.svg",
    recipient_name="Grace",
    external_url="https://kudos.example/wallet/0xabc",
)


def test_the_document_holds_every_field_and_the_erc721_ones():
    assert FULL.to_json() == {
        "name": "Mentor for Grace",
        "description": "Grüße",
        "image": "https://kudos.example/2/image.svg",
        "attributes": [
            {"trait_type": "Kind", "value": "Mentor"},
            {"trait_type": "Awarded by", "value": "Zoë"},
            {"trait_type": "Awarded at", "value": "2026-11-26T10:00:00Z"},
        ],
        "kind": "Mentor",
        "message": "Grüße",
        "awarded_by": "Zoë",
        "awarded_at": "2026-11-26T10:00:00Z",
        "recipient_name": "Grace",
        "external_url": "https://kudos.example/wallet/0xabc",
    }


def test_the_canonical_bytes_and_hashes_of_known_awards_never_change():
    assert canonical_json(SHORT) == (
        b'{"attributes":[{"trait_type":"Kind","value":"Team Player"},{"trait_type":"Awarded by","value":"Ada"},'
        b'{"trait_type":"Awarded at","value":"2026-11-26T10:00:00Z"}],"awarded_at":"2026-11-26T10:00:00Z",'
        b'"awarded_by":"Ada","description":"Thanks for the launch!","image":"https://kudos.example/1/image.svg",'
        b'"kind":"Team Player","message":"Thanks for the launch!","name":"Team Player"}'
    )
    assert content_hash(SHORT).hex() == "79c7b71bfc10af7479159c4c1a235246af62632c9f68ce0345ddd457482c705e"
    assert content_hash(FULL).hex() == "d0a772683c63a2a31ec5d7c637fb48081f15b6958d1d156f69a5be6603e6c625"
    assert canonical_json(FULL) == canonical_json(FULL.to_json())
    assert content_hash(FULL) == keccak(canonical_json(FULL.to_json()))


@pytest.mark.parametrize(
    ("overrides", "title"),
    [
        ({}, "Mentor"),
        ({"recipient_name": "Grace"}, "Mentor for Grace"),
        ({"recipient_name": ""}, "Mentor"),  # an empty name is no name in the title
        ({"name": "Custom"}, "Custom"),
        ({"name": "Custom", "recipient_name": "Grace"}, "Custom"),
        ({"name": ""}, "Mentor"),
    ],
)
def test_the_title_is_the_name_given_else_the_kind_for_the_recipient(overrides: dict[str, Any], title: str):
    fields: dict[str, Any] = {"kind": "Mentor", "message": "m", "awarded_by": "a", "awarded_at": "t", "image": "i"}
    assert KudosMetadata(**(fields | overrides)).to_json()["name"] == title


def test_an_empty_optional_field_is_kept_and_an_absent_one_left_out():
    fields: dict[str, Any] = {"kind": "K", "message": "m", "awarded_by": "a", "awarded_at": "t", "image": "i"}
    empty = KudosMetadata(**fields, recipient_name="", external_url="").to_json()
    assert (empty["recipient_name"], empty["external_url"]) == ("", "")
    absent = KudosMetadata(**fields).to_json()
    assert "recipient_name" not in absent
    assert "external_url" not in absent
    assert content_hash(empty) != content_hash(absent)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"score": 1.5}, "$.score is a float, which has no canonical form: use an integer or a string"),
        ({"a": [1, {"b": 2.0}]}, "$.a[1].b is a float, which has no canonical form: use an integer or a string"),
        ({"a": [[0, 0.5]]}, "$.a[0][1] is a float, which has no canonical form: use an integer or a string"),
        ({"a": {"b": {3: "x"}}}, "$.a.b has a key that is not a string: 3"),
        ({b"k": 1}, "$ has a key that is not a string: b'k'"),
        ({"a": [b"x"]}, "$.a[0] is a bytes, which JSON cannot hold"),
        ({"a": {"s": {1}}}, "$.a.s is a set, which JSON cannot hold"),
    ],
)
def test_a_refusal_names_the_path_of_the_value_and_why(doc: dict[Any, Any], message: str):
    with pytest.raises(MetadataError) as caught:
        canonical_json(doc)
    assert str(caught.value) == message


def test_a_float_in_a_top_level_list_is_refused_at_its_index():
    with pytest.raises(MetadataError) as caught:
        canonical_json({"list": [0, 1, 2.5]})
    assert str(caught.value).startswith("$.list[2] is a float")


def test_values_after_a_good_one_are_checked_too():
    with pytest.raises(MetadataError):
        canonical_json({"a": 1, "b": [1, "x", None, True, 0.1]})
    with pytest.raises(MetadataError):
        canonical_json({"a": "fine", "z": {"fine": 1, "not": object()}})
