"""The embedded chain on disk: reopened in the same process and after a SIGKILL, guarded against a second owner,
its database's all-or-nothing batches, and its log reads through the header blooms.

These tests use neither the ``chain`` fixture nor anvil: each opens its own chain in ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import random
import selectors
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from eth_tester import EthereumTester
from eth_tester.exceptions import BlockNotFound
from eth_utils.crypto import keccak

from kudos_chain import Chain, ChainError, ConfigurationError, KudosClient, content_hash
from kudos_chain.client import KUDOS_AWARDED_TOPIC, TRANSFER_TOPIC
from kudos_chain.embedded import SQLiteAtomicDB

from .helpers import award, make_award


def _snapshot(chain: Chain, client: KudosClient, token_ids: list[int]) -> dict[str, Any]:
    """Everything a restart must keep: blocks and their hashes, the kudos, balances and nonces."""
    head = chain.block_number()
    accounts = [s.address for s in chain.dev_accounts]
    return {
        "head": head,
        "hashes": chain.block_hashes(range(head + 1)),
        "timestamps": [chain.w3.eth.get_block(n)["timestamp"] for n in range(head + 1)],
        "kudos": client.kudos_many(token_ids),
        "total": client.total_awarded(),
        "balances": [chain.balance(a) for a in accounts],
        "nonces": [chain.w3.eth.get_transaction_count(a) for a in accounts],
        "accounts": accounts,
        "code": chain.w3.eth.get_code(client.address),
    }


def test_a_chain_on_disk_reopens_with_the_same_blocks_kudos_and_balances(tmp_path: Path):
    path = tmp_path / "chain.db"
    with Chain.embedded(path=path) as chain:
        issuer, alice, bob = chain.dev_accounts[:3]
        client = KudosClient.deploy(chain, issuer, base_uri="https://kudos.example/v1/tokens/")
        ids = [award(client, alice.address), award(client, bob.address, kind=7, transferable=True)]
        ids.append(award(client, alice.address, kind=3))
        client.transfer(ids[1], alice.address, owner=bob)
        before = _snapshot(chain, client, ids)
    assert path.exists()

    with Chain.embedded(path=str(path)) as reopened:
        assert [s.address for s in reopened.dev_accounts] == before["accounts"]
        again = KudosClient.attach(reopened, client.address, signer=reopened.dev_accounts[0])
        after = _snapshot(reopened, again, ids)
        assert after == before
        assert [k.token_id for k in after["kudos"]] == [1, 2, 3]
        assert after["kudos"][1].owner == alice.address  # the transfer was kept too

        # The chain goes on from the stored head: next id, next nonce, next block on top of the old head.
        head = before["head"]
        result = again.award(bob.address, 1, content_hash=content_hash({"after": "reopen"}), request_id="after-reopen")
        assert result.token_id == 4
        assert result.block_number == head + 1
        block = reopened.w3.eth.get_block(head + 1)
        assert bytes(block["parentHash"]) == before["hashes"][head]
        assert block["timestamp"] > before["timestamps"][head]
        assert reopened.w3.eth.get_transaction_count(issuer.address) == before["nonces"][0] + 1
        assert again.verify(4, {"after": "reopen"})

        with pytest.raises(ChainError, match="cannot be reset"):
            reopened.w3.provider.ethereum_tester.reset_to_genesis()  # type: ignore[attr-defined]


def test_a_new_chain_file_is_private_whatever_the_umask(tmp_path: Path):
    """The chain's file, the -wal and -shm files SQLite keeps beside it, and the lock file are 0600: under umask 000
    SQLite alone would create them 0666."""
    previous = os.umask(0)
    try:
        with Chain.embedded(path=tmp_path / "chain.db") as chain:
            KudosClient.deploy(chain, chain.dev_accounts[0])
            modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in tmp_path.iterdir()}
    finally:
        os.umask(previous)

    assert set(modes) == {"chain.db", "chain.db-wal", "chain.db-shm", "chain.db.lock"}
    assert modes == dict.fromkeys(modes, 0o600)


def test_an_existing_chain_file_keeps_its_mode(tmp_path: Path):
    path = tmp_path / "chain.db"
    with Chain.embedded(path=path):
        pass
    path.chmod(0o640)  # the owner's choice: the library does not change it
    with Chain.embedded(path=path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_second_owner_is_refused_while_the_first_has_the_file(tmp_path: Path):
    path = tmp_path / "chain.db"
    first = Chain.embedded(path=path)
    with pytest.raises(ConfigurationError, match=rf"already open in process {os.getpid()}"):
        Chain.embedded(path=path)
    first.close()
    first.close()  # idempotent
    with pytest.raises(ChainError, match="closed"):
        first.block_number()
    with Chain.embedded(path=path) as second:
        assert second.block_number() == 0


def test_the_file_must_be_a_kudos_chain_with_as_many_accounts(tmp_path: Path):
    with Chain.embedded(path=tmp_path / "three.db", accounts=3) as chain:
        assert len(chain.dev_accounts) == 3
    with pytest.raises(ConfigurationError, match="created with 3 dev accounts, not 10"):
        Chain.embedded(path=tmp_path / "three.db")
    with Chain.embedded(path=tmp_path / "three.db", accounts=3) as chain:
        assert chain.block_number() == 0

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigurationError, match="cannot open the embedded chain"):
        Chain.embedded(path=garbage)

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE people (name TEXT)")
    conn.close()
    with pytest.raises(ConfigurationError, match="not an embedded kudos-chain"):
        Chain.embedded(path=other)

    with pytest.raises(ConfigurationError, match="lock file"):
        Chain.embedded(path=tmp_path / "no" / "such" / "dir.db")


def test_the_in_memory_default_is_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    one, two = Chain.embedded(), Chain.embedded()
    client = KudosClient.deploy(one, one.dev_accounts[0])
    a = make_award(one.dev_accounts[1].address)
    client.award(a.recipient, a.kind, content_hash=a.content_hash, request_id=a.request_id)
    assert one.block_number() == 2
    assert two.block_number() == 0  # each in-memory chain is its own
    assert [s.address for s in one.dev_accounts] == [s.address for s in two.dev_accounts]
    one.close()  # nothing to release
    assert one.block_number() == 2
    assert list(tmp_path.iterdir()) == []


def test_logs_are_found_through_the_header_blooms_as_eth_tester_finds_them(tmp_path: Path):
    with Chain.embedded(path=tmp_path / "chain.db") as chain:
        issuer, alice, bob, carol = chain.dev_accounts[:4]
        client = KudosClient.deploy(chain, issuer)
        for i in range(9):
            award(client, (alice, bob, carol)[i % 3].address, transferable=True)
        client.transfer(2, carol.address, owner=bob)
        head = chain.block_number()
        tester = chain.w3.provider.ethereum_tester  # type: ignore[attr-defined]

        def hex32(value: bytes | int) -> str:
            return "0x" + (value.to_bytes(32, "big") if isinstance(value, int) else value).hex()

        def owner(address: str) -> str:
            return "0x" + bytes(12).hex() + address[2:].lower()

        filters: list[dict[str, Any]] = [
            {"address": [client.address], "topics": [hex32(KUDOS_AWARDED_TOPIC), [hex32(2), hex32(5)]]},
            {"address": [client.address], "topics": [hex32(TRANSFER_TOPIC), None, owner(carol.address)]},
            {"address": client.address, "topics": None},
            {"address": [client.address], "topics": [[hex32(TRANSFER_TOPIC), hex32(KUDOS_AWARDED_TOPIC)]]},
            {"address": [issuer.address]},
            {"topics": [hex32(keccak(text="Nothing()"))]},
            {"topics": [None, None, owner(bob.address)]},
            {},
        ]
        for f in filters:
            for lo, hi in [(0, head), (3, 6), (head, head), (5, 4)]:
                expected = EthereumTester.get_logs(tester, from_block=lo, to_block=hi, **f)
                assert tester.get_logs(from_block=lo, to_block=hi, **f) == expected, (f, lo, hi)
            for get_logs in (tester.get_logs, partial(EthereumTester.get_logs, tester)):
                with pytest.raises(BlockNotFound):
                    get_logs(from_block=head - 1, to_block=head + 1, **f)
        assert len(tester.get_logs(from_block=0, to_block=head, **filters[0])) == 2

        # Only the blocks that may hold a match are read.
        read: list[int] = []
        backend = tester.backend
        real = backend.get_block_by_number

        def counted(number: int, *args: Any) -> Any:
            read.append(number)
            return real(number, *args)

        backend.get_block_by_number = counted
        (log,) = tester.get_logs(from_block=0, to_block=head, **{**filters[0], "topics": [None, hex32(7)]})
        assert read == [log["block_number"]]


# ----------------------------------------------------------------------------------------------------------
# The database itself
# ----------------------------------------------------------------------------------------------------------


def test_a_batch_is_committed_whole_or_not_at_all(tmp_path: Path):
    db = SQLiteAtomicDB(tmp_path / "kv.db")
    db[b"a"] = b"1"
    with db.atomic_batch() as batch:
        batch[b"b"] = b"2"
        del batch[b"a"]
        assert b"a" not in batch
        assert batch[b"b"] == b"2"
        assert b"b" not in db  # not before the commit
        with pytest.raises(KeyError):
            del batch[b"missing"]
    assert b"a" not in db
    assert db[b"b"] == b"2"

    class BoomError(Exception):
        pass

    def failing_batch() -> None:
        with db.atomic_batch() as batch:
            batch[b"c"] = b"3"
            batch[b"b"] = b"changed"
            raise BoomError

    with pytest.raises(BoomError):
        failing_batch()
    assert b"c" not in db
    assert db[b"b"] == b"2"
    with pytest.raises(KeyError):
        del db[b"missing"]
    db.close()
    with pytest.raises(ChainError, match="closed"):
        db[b"b"]
    assert SQLiteAtomicDB(tmp_path / "kv.db")[b"b"] == b"2"


_KILLED_MID_COMMIT = """
import os, signal, sys
from kudos_chain.embedded import SQLiteAtomicDB

class KillOnCommit:
    def __init__(self, conn):
        self.conn = conn
    def __getattr__(self, name):
        return getattr(self.conn, name)
    def execute(self, sql, *args):
        if sql == "COMMIT":
            os.kill(os.getpid(), signal.SIGKILL)
        return self.conn.execute(sql, *args)

db = SQLiteAtomicDB(sys.argv[1])
db[b"before"] = b"1"
db._conn = KillOnCommit(db._conn)
with db.atomic_batch() as batch:
    for i in range(1000):
        batch[b"key-%d" % i] = os.urandom(100)
    batch[b"before"] = b"overwritten"
"""


def test_a_batch_killed_before_its_commit_leaves_nothing(tmp_path: Path):
    path = tmp_path / "kv.db"
    script = tmp_path / "kill_mid_commit.py"
    script.write_text(_KILLED_MID_COMMIT)
    done = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, timeout=60, check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    db = SQLiteAtomicDB(path)
    assert db[b"before"] == b"1"
    assert not any(b"key-%d" % i in db for i in range(1000))
    db.close()


# ----------------------------------------------------------------------------------------------------------
# A service killed while awarding
# ----------------------------------------------------------------------------------------------------------

_AWARDING = """
import json, sys
from kudos_chain import Chain, KudosClient, content_hash

path, count = sys.argv[1], int(sys.argv[2])
chain = Chain.embedded(path=path)
issuer = chain.dev_accounts[0]
client = KudosClient.deploy(chain, issuer)
print(json.dumps({"contract": client.address, "from_block": client.from_block}), flush=True)
for i in range(count):
    recipient = chain.dev_accounts[1 + i % 3].address
    result = client.award(recipient, 1 + i % 5, content_hash=content_hash({"n": i}), request_id=f"crash-{i}")
    block = chain.w3.eth.get_block(result.block_number)
    line = {
        "i": i,
        "token_id": result.token_id,
        "recipient": result.recipient,
        "block": result.block_number,
        "hash": bytes(block["hash"]).hex(),
        "timestamp": block["timestamp"],
    }
    print(json.dumps(line), flush=True)
"""


def _read_lines(proc: subprocess.Popen[bytes], wanted: int, timeout: float) -> list[dict[str, Any]]:
    """The JSON lines ``proc`` printed, once there are ``wanted`` of them (or it ended)."""
    assert proc.stdout is not None
    lines: list[dict[str, Any]] = []
    buffer = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while len(lines) < wanted:
            left = deadline - time.monotonic()
            assert left > 0, f"only {len(lines)} lines within {timeout} s"
            if not selector.select(left):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            lines += [json.loads(line) for line in complete]
    return lines


def test_a_process_killed_while_awarding_restarts_with_every_confirmed_kudos(tmp_path: Path):
    path = tmp_path / "chain.db"
    script = tmp_path / "awarding.py"
    script.write_text(textwrap.dedent(_AWARDING))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path), "1000"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        printed = _read_lines(proc, 1 + 6, timeout=60)
        assert proc.poll() is None, "the awarding process ended before it was killed"
        with pytest.raises(ConfigurationError, match=rf"already open in process {proc.pid}"):
            Chain.embedded(path=path)
        time.sleep(random.uniform(0, 0.05))  # land anywhere in an award, a commit included
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        printed += _read_lines(proc, 10**6, timeout=30)  # what it printed before it died: confirmed too
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()

    deployed, confirmed = printed[0], printed[1:]
    assert [c["token_id"] for c in confirmed] == list(range(1, len(confirmed) + 1))

    with Chain.embedded(path=path) as chain:
        issuer = chain.dev_accounts[0]
        client = KudosClient.attach(chain, deployed["contract"], signer=issuer, from_block=deployed["from_block"])
        found = client.kudos_many([c["token_id"] for c in confirmed])
        hashes = chain.block_hashes([c["block"] for c in confirmed])
        for c, kudos in zip(confirmed, found, strict=True):
            assert kudos is not None, f"kudos {c['token_id']} was confirmed, then lost"
            assert kudos.owner == c["recipient"]
            assert kudos.kind == 1 + c["i"] % 5
            assert kudos.content_hash == content_hash({"n": c["i"]})
            assert kudos.request_id == keccak(text=f"crash-{c['i']}")
            assert int(kudos.issued_at.timestamp()) == c["timestamp"]
            assert hashes[c["block"]].hex() == c["hash"]

        # At most the award in flight was mined without being printed; the chain goes on after it.
        total = client.total_awarded()
        assert len(confirmed) <= total <= len(confirmed) + 1
        head = chain.block_number()
        assert head == deployed["from_block"] + total  # one block per award, none half-written
        assert chain.w3.eth.get_transaction_count(issuer.address) == 1 + total
        head_time = chain.w3.eth.get_block(head)["timestamp"]

        result = client.award(
            chain.dev_accounts[1].address, 1, content_hash=content_hash({"n": "next"}), request_id="next"
        )
        assert result.token_id == total + 1
        assert result.block_number == head + 1
        assert chain.w3.eth.get_block(head + 1)["timestamp"] > head_time
        assert chain.w3.eth.get_transaction_count(issuer.address) == 2 + total


@pytest.mark.parametrize("on_disk", [False, True], ids=["in-memory", "on-disk"])
def test_a_kudos_is_dated_when_it_is_awarded_not_when_the_previous_block_was(tmp_path: Path, on_disk: bool):
    chain = Chain.embedded(path=tmp_path / "chain.db" if on_disk else None)
    try:
        client = KudosClient.deploy(chain, chain.dev_accounts[0])
        time.sleep(3)  # py-evm dated the next block when the deployment was mined
        before = int(time.time())
        award = client.award(chain.dev_accounts[1].address, 1, content_hash=bytes(32), request_id="late")
        assert client.kudos(award.token_id).issued_at.timestamp() >= before
    finally:
        chain.close()
