"""The API keys' cache (:class:`kudos_service.state.ApiKeyCache`) on a real migrated database: what is fresh and
for how long, what is forgotten, the last use written in the background, and the state built from settings."""

from __future__ import annotations

import logging
import os
import stat
import time
from datetime import datetime
from pathlib import Path

import pytest
from kudos_service.core.config import Settings
from kudos_service.core.db import Database
from kudos_service.keys import create_key as store_key
from kudos_service.models import ApiKey
from kudos_service.state import LAST_USED_EVERY_S, ApiKeyCache, build_state
from sqlalchemy import delete


def new_key(db: Database) -> ApiKey:
    with db.session() as session:
        _, row = store_key(session, scopes=["award", "admin"])
        session.expunge(row)
    return row


def last_use(db: Database, key_id: int) -> datetime | None:
    with db.session() as session:
        found: datetime | None = session.get_one(ApiKey, key_id).last_used_at
        return found


def test_a_loaded_key_is_fresh_for_its_ttl_and_readable_after_its_session(db: Database):
    key = new_key(db)
    cache = ApiKeyCache(db, ttl=0.2)
    assert cache.cached(key.prefix) == (False, None)  # never read
    loaded = cache.load(key.prefix)
    assert loaded is not None
    assert (loaded.id, loaded.scope_set) == (key.id, key.scope_set)  # detached, still readable
    fresh, found = cache.cached(key.prefix)
    assert fresh is True
    assert found is loaded
    time.sleep(0.25)
    assert cache.cached(key.prefix) == (False, None)


def test_an_unknown_prefix_is_cached_as_none(db: Database):
    cache = ApiKeyCache(db, ttl=60)
    assert cache.load("0" * 12) is None
    assert cache.cached("0" * 12) == (True, None)


def test_a_key_deleted_meanwhile_is_seen_only_once_its_entry_is_forgotten_or_cleared(db: Database):
    one, two = new_key(db), new_key(db)
    cache = ApiKeyCache(db, ttl=60)
    cache.load(one.prefix)
    cache.load(two.prefix)
    with db.session() as session:
        session.execute(delete(ApiKey).where(ApiKey.id.in_([one.id, two.id])))
    assert cache.cached(one.prefix)[1] is not None  # still cached
    cache.forget(one.prefix)
    cache.forget("never-cached")  # no error
    assert cache.cached(one.prefix) == (False, None)
    assert cache.cached(two.prefix)[0] is True
    cache.clear()
    assert cache.cached(two.prefix) == (False, None)
    assert cache.load(two.prefix) is None


def test_the_cache_never_holds_more_than_ten_thousand_and_one_entries(db: Database):
    cache = ApiKeyCache(db, ttl=60)
    key = new_key(db)
    for n in range(10_000):
        cache._entries[f"{n:012x}"] = (time.monotonic(), None)  # as many unknown prefixes as it keeps
    cache.load(key.prefix)
    assert len(cache._entries) == 10_001
    cache.load("f" * 12)  # one more: everything else is dropped first
    assert set(cache._entries) == {"f" * 12}


def test_the_default_ttl_and_interval(db: Database):
    cache = ApiKeyCache(db)
    assert (cache.ttl, cache.last_used_every) == (5.0, LAST_USED_EVERY_S)
    assert LAST_USED_EVERY_S == 60.0


def test_each_key_s_last_use_is_written_once_per_interval(db: Database):
    one, two = new_key(db), new_key(db)
    cache = ApiKeyCache(db, last_used_every=60)
    try:
        cache.used(one)
        cache.close()
        first = last_use(db, one.id)
        assert first is not None
        assert last_use(db, two.id) is None  # only the key used
        cache.used(two)  # another key: its own interval
        cache.used(one)  # within the interval: not written again
        cache.close()
        assert last_use(db, two.id) is not None
        assert last_use(db, one.id) == first
    finally:
        cache.close()


def test_a_last_use_that_cannot_be_written_is_a_warning_naming_the_key(db: Database, caplog: pytest.LogCaptureFixture):
    key = new_key(db)
    cache = ApiKeyCache(db, last_used_every=0)
    db.dispose()
    Path(str(db.engine.url.database)).unlink()
    os.mkdir(str(db.engine.url.database))  # a directory where the database was: SQLite cannot open it
    with caplog.at_level(logging.WARNING, logger="kudos_service.state"):
        cache.used(key)
        cache.close()
    (record,) = [r for r in caplog.records if r.name == "kudos_service.state"]
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(f"the last use of API key {key.prefix} was not recorded: ")
    assert "\n" not in record.getMessage()


def test_a_last_use_that_fails_for_another_reason_is_an_error(db: Database, caplog: pytest.LogCaptureFixture):
    cache = ApiKeyCache(db, last_used_every=0)
    with caplog.at_level(logging.WARNING, logger="kudos_service.state"):
        cache._record("not an id", "abc")  # type: ignore[arg-type]
        cache._record(10**30, "big")  # out of SQLite's integers
    levels = {r.getMessage().split(" was")[0]: r.levelno for r in caplog.records if r.name == "kudos_service.state"}
    assert levels.get("the last use of API key big") == logging.ERROR


def test_a_cache_closed_starts_a_writer_again(db: Database):
    key = new_key(db)
    cache = ApiKeyCache(db, last_used_every=0)
    cache.close()  # nothing to wait for
    cache.used(key)
    cache.close()
    first = last_use(db, key.id)
    assert first is not None
    time.sleep(0.01)
    cache.used(key)
    cache.close()
    later = last_use(db, key.id)
    assert later is not None
    assert later > first


# ----------------------------------------------------------------------------------------------------------------
# The state
# ----------------------------------------------------------------------------------------------------------------


def test_the_state_built_from_settings_shares_one_database_and_a_private_data_directory(tmp_path: Path):
    data = tmp_path / "data"
    settings = Settings(data_dir=data, rpc_url=None, database_url=None, api_key_cache_s=7.5)
    state = build_state(settings)
    try:
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        assert (data / "kudos.db").exists()
        assert state.api_keys.ttl == 7.5
        assert state.api_keys.db is state.db
        assert state.accepts.db is state.db
        assert state.accepts.catalog is state.catalog
        assert state.accepts.settings is settings
        assert state._open_chain() is None  # the chain is not opened by a request
        key = new_key(state.db)  # migrated
        assert state.api_keys.load(key.prefix) is not None
        assert state._describe(RuntimeError("boom"))
    finally:
        state.db.dispose()
