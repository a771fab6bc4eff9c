"""The API keys' cache and the state, at the edges the mutation run of ``kudos_service/state.py`` found untested:
the bounds of a cached entry's freshness and of a key's interval between writes (on a clock the test holds), the
one background writer and its name, the log line of a write that failed, the state's description of an error, and
held kudos announced while the chain is not open.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
from kudos_service import state as state_module
from kudos_service.awards import accept_awards
from kudos_service.core.config import Settings
from kudos_service.core.db import Database
from kudos_service.keys import create_key as store_key
from kudos_service.models import ApiKey, Award, AwardStatus, Claim, Deployment
from kudos_service.schemas import AwardCreate
from kudos_service.state import ApiKeyCache, build_state
from pydantic import SecretStr
from sqlalchemy import select


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The module's monotonic clock, set by the test: ``clock[0]`` is now."""
    now = [1000.0]
    monkeypatch.setattr(state_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    return now


def new_key(db: Database) -> ApiKey:
    with db.session() as session:
        _, row = store_key(session, scopes=["award"])
        session.expunge(row)
    return row


def test_an_entry_is_fresh_up_to_exactly_its_ttl_and_stale_after(db: Database, clock: list[float]):
    key = new_key(db)
    cache = ApiKeyCache(db, ttl=5.0)
    loaded = cache.load(key.prefix)
    assert loaded is not None
    clock[0] += 5.0  # exactly the ttl: still fresh, the database is not read again
    assert cache.cached(key.prefix) == (True, loaded)
    clock[0] += 0.001
    assert cache.cached(key.prefix) == (False, None)


def test_with_a_ttl_of_zero_an_entry_is_fresh_only_at_the_instant_it_was_read(db: Database, clock: list[float]):
    cache = ApiKeyCache(db, ttl=0.0)
    assert cache.load("0" * 12) is None
    assert cache.cached("0" * 12) == (True, None)
    clock[0] += 0.001
    assert cache.cached("0" * 12) == (False, None)


def test_a_key_used_again_exactly_one_interval_later_is_written_again(
    db: Database, clock: list[float], monkeypatch: pytest.MonkeyPatch
):
    key = new_key(db)
    cache = ApiKeyCache(db, last_used_every=60.0)
    writes: list[tuple[int, str]] = []
    monkeypatch.setattr(cache, "_record", lambda key_id, prefix: writes.append((key_id, prefix)))
    try:
        cache.used(key)
        clock[0] = 1059.999  # within the interval: not written
        cache.used(key)
        cache.close()
        assert writes == [(key.id, key.prefix)]
        clock[0] = 1060.0  # one interval after the first write: written again
        cache.used(key)
        cache.close()
        assert writes == [(key.id, key.prefix)] * 2
    finally:
        cache.close()


def test_the_last_uses_are_written_one_at_a_time_by_one_named_thread(db: Database, monkeypatch: pytest.MonkeyPatch):
    keys = [new_key(db) for _ in range(4)]
    cache = ApiKeyCache(db, last_used_every=60.0)
    release = threading.Event()
    guard = threading.Lock()
    running = [0]
    most = [0]
    threads: set[str] = set()

    def slow_record(key_id: int, prefix: str) -> None:
        with guard:
            running[0] += 1
            most[0] = max(most[0], running[0])
            threads.add(threading.current_thread().name)
        release.wait(5)
        with guard:
            running[0] -= 1

    monkeypatch.setattr(cache, "_record", slow_record)
    try:
        for key in keys:  # four keys while the first write is held: a second thread would start on the second
            cache.used(key)
        time.sleep(0.2)
        release.set()
        cache.close()
    finally:
        release.set()
        cache.close()
    assert most[0] == 1
    assert len(threads) == 1
    (name,) = threads
    assert name.startswith("kudos-key-use_")  # as thread dumps and log records (threadName) show it


def test_a_use_noted_while_the_cache_is_being_closed_is_dropped_without_an_error(db: Database):
    key = new_key(db)
    cache = ApiKeyCache(db, last_used_every=0)
    closed = ThreadPoolExecutor(max_workers=1)
    closed.shutdown()
    # close() shut the writer down between used() taking it under the lock and submitting to it: submit raises
    # RuntimeError, which used() swallows (it never raises)
    cache._writer = closed
    cache.used(key)
    cache.close()
    with db.session() as session:
        assert session.get_one(ApiKey, key.id).last_used_at is None


def test_a_write_that_fails_is_logged_by_the_writer_thread_with_the_error_s_first_line(
    db: Database, caplog: pytest.LogCaptureFixture
):
    class Broken:
        def session(self) -> None:
            raise RuntimeError("the disk is on fire\nand a second line")

    key = new_key(db)
    cache = ApiKeyCache(Broken(), last_used_every=0)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="kudos_service.state"):
        cache.used(key)
        cache.close()
    (record,) = [r for r in caplog.records if r.name == "kudos_service.state"]
    assert record.levelno == logging.ERROR  # not a storage error
    assert record.getMessage() == (
        f"the last use of API key {key.prefix} was not recorded: RuntimeError: the disk is on fire"
    )
    assert str(record.threadName).startswith("kudos-key-use_")


def test_the_state_describes_an_error_by_its_class_and_message(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "data", rpc_url=None, database_url=None)
    state = build_state(settings)
    try:
        assert state._describe(RuntimeError("boom")) == "RuntimeError: boom"
        assert state._describe(ConnectionError("the node is down")) == "ConnectionError: the node is down"
    finally:
        state.db.dispose()


def test_the_recipient_check_logs_a_node_error_with_the_node_s_secrets_cut_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    url = "https://node.example/v3/0123456789abcdef-secret"
    state = build_state(Settings(data_dir=tmp_path / "data", rpc_url=None, database_url=None))
    # as a service on a real node is configured (one needs a contract and a signer to be built)
    state.settings = state.settings.model_copy(update={"rpc_url": SecretStr(url)})

    class Failing:
        def codes_many(self, addresses: list[str]) -> list[bytes]:
            raise ConnectionError(f"HTTPSConnectionPool: max retries exceeded with url {url}")

    monkeypatch.setattr(state.chain, "peek", lambda: SimpleNamespace(chain=Failing()))
    try:
        with caplog.at_level(logging.INFO, logger="kudos_service.recipient_check"):
            # not refused: an address the node cannot be asked about is let through
            state.recipient_check.check([("0x" + "11" * 20, False)], contract_address=None)
        (record,) = [r for r in caplog.records if r.name == "kudos_service.recipient_check"]
        message = record.getMessage()
        assert message.startswith("recipient code not checked: ConnectionError: HTTPSConnectionPool")
        assert "0123456789abcdef-secret" not in message
    finally:
        state.db.dispose()


def test_a_service_whose_node_is_down_still_announces_the_held_kudos_confirmed_before(tmp_path: Path):
    """Started with its contract stored but its node down (the chain not open yet), the service's mail pass still
    gives the person whose held kudos was confirmed a claim link: announcing needs the database, not the node."""
    state = build_state(
        Settings(data_dir=tmp_path / "data", rpc_url=None, database_url=None, public_url="https://kudos.example.test")
    )
    try:
        with state.db.session() as session:
            session.add(
                Deployment(chain_id=31337, contract_address="0x5FbDB2315678afecb367f032d93F642f64180aa3", from_block=0)
            )
        request = AwardCreate.model_validate(
            {"recipient": {"email": "ada@example.com"}, "kind": "team-player", "message": "Thanks!", "awarded_by": "Bo"}
        )
        with state.db.session() as session:
            (accepted,) = accept_awards(
                session, settings=state.settings, api_key=new_key(state.db), items=[("k", request)]
            )
            accepted.award.status = AwardStatus.CONFIRMED  # as the worker left it before the restart
        assert state.chain.peek() is None
        assert state.announce_held() == 1
        with state.db.session() as session:
            award = session.get_one(Award, accepted.award.id)
            assert award.announced_at is not None
            (claim,) = session.scalars(select(Claim).where(Claim.recipient_id == award.held_for_id))
            assert claim.used_at is None
    finally:
        state.db.dispose()
