"""Signer: keystore files other tools read, and no key material in any repr, message or log line."""

from __future__ import annotations

import json
import logging
import os
import pickle
import stat
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
from eth_account import Account

from kudos_chain import (
    Chain,
    FeeCapExceededError,
    FeePolicy,
    KeystoreError,
    KudosClient,
    KudosError,
    MissingRoleError,
    Signer,
    SoulboundError,
    TransactionManager,
)
from tests.conftest import fund

from .helpers import award, make_award

PASSWORD = "correct horse battery staple"


def new_key() -> bytes:
    return os.urandom(32)


# ----------------------------------------------------------------------------------------------------------------
# Keystore files
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kdf", "iterations"), [("pbkdf2", 2), ("scrypt", 16)])
def test_a_keystore_round_trip_gives_back_the_same_key(tmp_path: Path, kdf: str, iterations: int):
    key = new_key()
    signer = Signer.from_key(key)
    path = signer.to_keystore(tmp_path / "issuer.json", PASSWORD, kdf=kdf, iterations=iterations)  # type: ignore[arg-type]

    assert path == tmp_path / "issuer.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keyfile = json.loads(path.read_text("utf-8"))
    assert keyfile["version"] == 3
    assert keyfile["crypto"]["kdf"] == kdf
    assert keyfile["address"].lower() == signer.address[2:].lower()
    assert key.hex() not in path.read_text("utf-8")
    assert Account.decrypt(keyfile, PASSWORD) == key  # readable by eth-account itself
    again = Signer.from_keystore(path, PASSWORD)
    assert again.address == signer.address
    assert again.sign_transaction(_tx()).raw_transaction == signer.sign_transaction(_tx()).raw_transaction


def test_a_keystore_written_by_eth_account_is_read(tmp_path: Path):
    key = new_key()
    path = tmp_path / "other-tool.json"
    path.write_text(json.dumps(Account.encrypt(key, PASSWORD, kdf="pbkdf2", iterations=2)), "utf-8")
    assert Signer.from_keystore(str(path), PASSWORD).address == Account.from_key(key).address


def test_a_wrong_password_is_a_keystore_error(tmp_path: Path):
    key = new_key()
    path = Signer.from_key(key).to_keystore(tmp_path / "k.json", PASSWORD, kdf="pbkdf2", iterations=2)
    with pytest.raises(KeystoreError) as caught:
        Signer.from_keystore(path, "wrong password")
    error = caught.value
    assert isinstance(error, ValueError)
    assert isinstance(error, KudosError)
    assert error.path == str(path)
    assert "password" in error.reason
    assert error.__cause__ is None
    assert error.__suppress_context__
    text = "".join(traceback.format_exception_only(error)) + repr(error)
    assert "wrong password" not in text
    assert PASSWORD not in text
    assert key.hex() not in text


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "FileNotFoundError"),
        ("not json", "JSONDecodeError"),
        ("{}", "not a keystore file"),
        ("[1, 2]", "not a keystore file"),
        ('{"version": 3, "crypto": {"kdf": "md5"}}', "not a keystore file"),
    ],
    ids=["missing", "not JSON", "empty object", "a list", "unknown kdf"],
)
def test_an_unreadable_keystore_is_a_keystore_error(tmp_path: Path, content: str | None, reason: str):
    path = tmp_path / "k.json"
    if content is not None:
        path.write_text(content, "utf-8")
    with pytest.raises(KeystoreError, match=reason):
        Signer.from_keystore(path, PASSWORD)


def test_a_keystore_is_never_overwritten(tmp_path: Path):
    path = tmp_path / "k.json"
    path.write_text("precious", "utf-8")
    with pytest.raises(FileExistsError):
        Signer.create().to_keystore(path, PASSWORD, kdf="pbkdf2", iterations=2)
    assert path.read_text("utf-8") == "precious"


def _tx() -> dict[str, object]:
    return {"type": 2, "chainId": 1, "nonce": 0, "to": "0x" + "11" * 20, "value": 1, "gas": 21_000,
            "maxFeePerGas": 10**9, "maxPriorityFeePerGas": 1}  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------
# No key material anywhere
# ----------------------------------------------------------------------------------------------------------------


def assert_no_key(text: str, keys: list[bytes]) -> None:
    lowered = text.lower()
    for key in keys:
        assert key.hex() not in lowered, "a private key leaked"


def test_a_signer_shows_only_its_address():
    key = new_key()
    signer = Signer.from_key("0x" + key.hex())
    assert repr(signer) == f"Signer(address={signer.address!r})"
    assert str(signer) == repr(signer)
    assert f"{signer}" == repr(signer)
    assert not hasattr(signer, "__dict__")
    assert_no_key(repr(signer) + str([signer]) + str({"s": signer}), [key])
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(signer)


@pytest.mark.parametrize(
    "bad",
    ["0x" + "ff" * 32, "ff" * 31, "0x" + "00" * 32, "0x" + "zz" * 32, b"\xff" * 32],
    ids=["above the curve order", "31 bytes", "zero", "not hex", "bytes above the curve order"],
)
def test_an_invalid_key_is_refused_without_quoting_it(bad: str | bytes):
    with pytest.raises(ValueError, match="not a valid secp256k1 private key") as caught:
        Signer.from_key(bad)
    text = "".join(traceback.format_exception(caught.value)).lower()
    shown = bad.hex() if isinstance(bad, bytes) else bad.lower().removeprefix("0x")
    assert shown not in text


def test_no_key_in_reprs_messages_or_debug_logs_over_a_whole_flow(chain: Chain, caplog: pytest.LogCaptureFixture):
    keys = [new_key() for _ in range(3)]
    admin, alice, outsider = (Signer.from_key(k) for k in keys)
    for signer in (admin, alice, outsider):
        fund(chain, signer.address)
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []

    client = KudosClient.deploy(chain, admin, base_uri="https://kudos.example/")
    soulbound = award(client, alice.address)
    movable = client.award_many([make_award(alice.address, transferable=True)])[0].token_id
    client.award_batch([make_award(alice.address) for _ in range(3)], batch_size=2)
    client.transfer(movable, outsider.address, owner=alice)
    client.revoke(soulbound)
    texts += [repr(k) for k in client.wallet(alice.address)]
    as_outsider = KudosClient.attach(chain, client.address, signer=outsider)
    capped = KudosClient(chain, client.address, signer=admin, fees=FeePolicy(max_fee_per_gas=1))
    errors: list[BaseException] = []
    actions: list[tuple[Callable[[], object], type[KudosError]]] = [
        (lambda: award(as_outsider, alice.address), MissingRoleError),
        (lambda: client.transfer(soulbound + 2, outsider.address, owner=alice), SoulboundError),
        (lambda: award(capped, alice.address), FeeCapExceededError),
    ]
    for action, expected in actions:
        with pytest.raises(expected) as caught:
            action()
        errors.append(caught.value)

    texts += [repr(chain), str(chain), repr(client), str(client), repr(client.manager()), repr(client.manager(alice))]
    texts += [repr(TransactionManager(chain, outsider)), repr([admin, alice, outsider])]
    texts += ["".join(traceback.format_exception(e)) + repr(e) for e in errors]
    texts += [caplog.text]
    texts += [str(r.args) + r.getMessage() for r in caplog.records]
    assert_no_key("\n".join(texts), keys)
    assert any(r.name.startswith("web3") for r in caplog.records), "web3's DEBUG logs were not captured"
    assert any(r.name.startswith("kudos_chain") for r in caplog.records)
