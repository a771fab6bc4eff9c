"""Claim link tokens: random, kept only as their hash, and refused by form before any lookup."""

from __future__ import annotations

import hashlib

import pytest
from kudos_service.claims.links import TOKEN_BYTES, is_well_formed, new_claim_token, token_hash


def test_tokens_carry_256_random_bits_and_never_repeat():
    tokens = [new_claim_token()[0] for _ in range(2000)]
    assert len(set(tokens)) == len(tokens)
    assert TOKEN_BYTES * 8 >= 128
    assert all(is_well_formed(token) for token in tokens)
    # every one of the 64 URL-safe characters turns up: the tokens are not drawn from a smaller alphabet
    assert len(set("".join(tokens))) == 64


def test_what_is_stored_is_the_sha256_of_the_token_not_the_token():
    token, stored = new_claim_token()
    assert stored == hashlib.sha256(token.encode()).digest()
    assert token.encode() not in stored
    assert token_hash(token[:-1] + ("A" if token[-1] != "A" else "B")) != stored


@pytest.mark.parametrize(
    "candidate",
    [
        "",
        "a" * 42,
        "a" * 44,
        "a" * 42 + "=",
        "../" * 14 + "a",
        "a" * 42 + "\x00",
        "é" * 43,
        "a" * 42 + " ",
        "a" * 10_000,
    ],
)
def test_anything_not_shaped_like_a_token_is_refused_by_form(candidate: str):
    assert not is_well_formed(candidate)
    token_hash(candidate)  # and hashing it does not raise, whatever it holds
