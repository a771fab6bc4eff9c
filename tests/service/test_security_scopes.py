"""API keys as :mod:`kudos_service.core.security` makes and reads them: their form, their lookup prefix, their
stored hash, and the lifetimes ``--expires-in`` and ``expires_in`` take."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from kudos_service.core.security import (
    MAX_KEY_LIFETIME,
    PREFIX_PATTERN,
    generate_api_key,
    hash_secret,
    parse_duration,
    split_api_key,
    verify_secret,
)

PREFIX = "0123456789ab"


def test_a_new_key_is_kudos_its_prefix_and_a_256_bit_secret():
    key, prefix = generate_api_key()
    match = re.fullmatch(r"kudos_([0-9a-f]{12})_([A-Za-z0-9_-]{43})", key)
    assert match is not None, key
    assert match[1] == prefix
    assert re.fullmatch(PREFIX_PATTERN, prefix)
    assert split_api_key(key) == prefix


def test_new_keys_and_prefixes_differ():
    keys = [generate_api_key() for _ in range(20)]
    assert len({key for key, _ in keys}) == 20
    assert len({prefix for _, prefix in keys}) == 20


@pytest.mark.parametrize(
    ("key", "prefix"),
    [
        (f"kudos_{PREFIX}_secret", PREFIX),
        (f"kudos_{PREFIX}_s", PREFIX),
        (f"kudos_{PREFIX}_with_underscores_in_it", PREFIX),  # the secret is everything after the prefix
        (f"kudos_{PREFIX}_", None),  # no secret
        (f"kudos_{PREFIX}", None),
        (f"kudos_{PREFIX[:-1]}_secret", None),  # 11 digits
        (f"kudos_{PREFIX}c_secret", None),  # 13 digits
        (f"kudo_{PREFIX}_secret", None),
        (f"Kudos_{PREFIX}_secret", None),
        (f"xkudos_{PREFIX}_secret", None),
        (f"{PREFIX}_secret", None),
        ("", None),
    ],
)
def test_the_prefix_is_read_from_a_well_formed_key_only(key: str, prefix: str | None):
    assert split_api_key(key) == prefix


@pytest.mark.parametrize(
    ("text", "lifetime"),
    [
        ("1m", timedelta(minutes=1)),
        ("90m", timedelta(minutes=90)),
        ("12h", timedelta(hours=12)),
        ("30d", timedelta(days=30)),
        ("2w", timedelta(weeks=2)),
        (" 7d\n", timedelta(days=7)),
        ("3650d", MAX_KEY_LIFETIME),
        ("521w", timedelta(weeks=521)),
        ("87600h", MAX_KEY_LIFETIME),
        ("999999m", timedelta(minutes=999999)),
    ],
)
def test_a_lifetime_is_a_whole_number_and_a_unit(text: str, lifetime: timedelta):
    assert parse_duration(text) == lifetime


@pytest.mark.parametrize("text", ["", "d", "0d", "07d", "1y", "1s", "1.5d", "-1d", "1 d", "1D", "1d1h", "1000000m"])
def test_a_lifetime_in_another_form_is_refused_with_the_form_to_use(text: str):
    with pytest.raises(ValueError, match="a lifetime is a whole number") as caught:
        parse_duration(text)
    assert str(caught.value) == (
        "a lifetime is a whole number and a unit, m, h, d or w (minutes, hours, days, weeks): 30d, 12h"
    )


@pytest.mark.parametrize("text", ["3651d", "522w", "87601h", "999999h"])
def test_a_lifetime_over_ten_years_is_refused(text: str):
    with pytest.raises(ValueError, match="a lifetime is at most") as caught:
        parse_duration(text)
    assert str(caught.value) == "a lifetime is at most 3650 days; a key without expiry has none"


def test_a_key_is_stored_as_the_sha256_of_its_text():
    key, _ = generate_api_key()
    assert hash_secret(key) == hashlib.sha256(key.encode()).digest()
    assert hash_secret("kudos_é") == hashlib.sha256("kudos_é".encode()).digest()
    assert len(hash_secret(key)) == 32


def test_only_the_key_itself_verifies_against_its_stored_hash():
    key, _ = generate_api_key()
    stored = hash_secret(key)
    assert verify_secret(key, stored) is True
    assert verify_secret(key + "x", stored) is False
    assert verify_secret(key[:-1], stored) is False
    assert verify_secret(generate_api_key()[0], stored) is False
    assert verify_secret(key, hashlib.sha256(b"").digest()) is False
