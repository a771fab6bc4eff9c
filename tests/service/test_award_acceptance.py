"""Accepting awards (:func:`kudos_service.awards.accept_awards`) against a real migrated database, without HTTP:
idempotency (a replay returns the stored award, another body under the same key is refused, a key repeated in a
batch is named), kinds and recipients resolved or refused item by item, and every field of a new award, its
metadata and its content hash included."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak
from kudos_service.awards import (
    AcceptQueue,
    Catalog,
    _Job,
    accept_awards,
    award_out,
    resolve_kinds,
    stored_awards,
)
from kudos_service.claims.custody import custody_address
from kudos_service.core.config import Settings
from kudos_service.core.db import Database
from kudos_service.errors import ConflictError, InvalidRequestError
from kudos_service.keys import create_key as store_key
from kudos_service.models import (
    ApiKey,
    Award,
    AwardStatus,
    ChainTx,
    Deployment,
    Kind,
    Operation,
    OpKind,
    OpStatus,
    Recipient,
    TxStatus,
    as_utc,
    utcnow,
)
from kudos_service.schemas import AwardCreate
from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from kudos_chain import KudosMetadata, canonical_json
from kudos_chain.client import request_id_bytes
from tests.service.conftest import new_address

BASE = "https://kudos.example.test"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('acceptance') / 'kudos.db'}")
    database.migrate()
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=Path(tmp_path_factory.mktemp("data")), rpc_url=None, database_url=None, public_url=BASE)


def new_key(db: Database) -> ApiKey:
    with db.session() as session:
        _, row = store_key(session, scopes=["award"])
        session.expunge(row)
    return row


def person(db: Database, *, wallet: bool = True) -> Recipient:
    tag = os.urandom(4).hex()
    with db.session() as session:
        row = Recipient(
            handle=f"p-{tag}",
            external_id=f"hr-{tag}",
            display_name=f"P {tag}",
            wallet_address=new_address() if wallet else None,
        )
        session.add(row)
        session.flush()
        session.expunge(row)
    return row


def body(**overrides: Any) -> AwardCreate:
    fields: dict[str, Any] = {
        "recipient": new_address(),
        "kind": "team-player",
        "message": "Thanks for the release.",
        "awarded_by": "Ada",
    }
    return AwardCreate.model_validate(fields | overrides)


def accept(db: Database, settings: Settings, key: ApiKey, items: list[tuple[str, AwardCreate]]) -> list[Any]:
    with db.session() as session:
        accepted = accept_awards(session, settings=settings, api_key=key, items=items)
        return [(a.award.id, a.created) for a in accepted]


# ----------------------------------------------------------------------------------------------------------------
# Idempotency
# ----------------------------------------------------------------------------------------------------------------


def test_a_replay_returns_the_stored_award_and_creates_nothing(db: Database, settings: Settings):
    key, award = new_key(db), body()
    ((first, created),) = accept(db, settings, key, [("k1", award)])
    assert created is True
    assert accept(db, settings, key, [("k1", award)]) == [(first, False)]
    assert accept(db, settings, key, [("k2", award), ("k1", award)])[1] == (first, False)
    other = new_key(db)  # keys are per API key: another key's k1 is another award
    ((theirs, created_again),) = accept(db, settings, other, [("k1", award)])
    assert created_again is True
    assert theirs != first
    with db.session() as session:
        assert set(stored_awards(session, [(key.id, "k1"), (key.id, "k2"), (other.id, "k1"), (key.id, "no")])) == {
            (key.id, "k1"),
            (key.id, "k2"),
            (other.id, "k1"),
        }


def test_an_unset_contract_flag_and_a_false_one_are_the_same_request(db: Database, settings: Settings):
    key, address = new_key(db), new_address()
    ((first, _),) = accept(db, settings, key, [("same", body(recipient=address))])
    assert accept(db, settings, key, [("same", body(recipient=address, recipient_is_contract=False))]) == [
        (first, False)
    ]
    with pytest.raises(ConflictError):
        accept(db, settings, key, [("same", body(recipient=address, recipient_is_contract=True))])


def test_a_key_reused_with_another_body_is_refused_naming_it(db: Database, settings: Settings):
    key = new_key(db)
    accept(db, settings, key, [("mine", body())])
    with pytest.raises(ConflictError) as single:
        accept(db, settings, key, [("mine", body())])
    assert (single.value.code, single.value.message) == (
        "idempotency_key_reused",
        "an idempotency key was already used with a different body: use a new key for a new award",
    )
    assert single.value.details == [{"field": "Idempotency-Key", "message": "'mine' was used for another award"}]
    with pytest.raises(ConflictError) as batch:
        accept(db, settings, key, [("fresh", body()), ("mine", body())])
    assert batch.value.details == [
        {"index": 1, "field": "idempotency_key", "message": "'mine' was used for another award"}
    ]
    with db.session() as session:
        assert stored_awards(session, [(key.id, "fresh")]) == {}  # all or none


def test_a_key_repeated_in_a_batch_is_refused_at_each_repeat(db: Database, settings: Settings):
    key = new_key(db)
    with pytest.raises(InvalidRequestError) as caught:
        accept(db, settings, key, [("a", body()), ("b", body()), ("a", body()), ("a", body()), ("b", body())])
    assert (caught.value.code, caught.value.message) == (
        "duplicate_idempotency_key",
        "each award of a batch needs its own idempotency key",
    )
    assert caught.value.details == [
        {"index": i, "field": "idempotency_key", "message": "repeated in this batch"} for i in (2, 3, 4)
    ]


# ----------------------------------------------------------------------------------------------------------------
# Kinds and recipients
# ----------------------------------------------------------------------------------------------------------------


def test_a_key_another_connection_commits_first_is_read_back_as_its_award(db: Database, settings: Settings):
    """The same request, sent twice at once: the one that loses the insert reads the winner's award and answers
    with it (``created`` false), and one award is stored."""
    key, request = new_key(db), body()
    rival: list[Any] = []
    with db.session() as session:

        @event.listens_for(session, "before_flush")
        def the_other_commits_first(*_: Any) -> None:
            if not rival:  # the other request commits between this one's read and its insert
                rival.extend(accept(db, settings, key, [("twice", request)]))

        (accepted,) = accept_awards(session, settings=settings, api_key=key, items=[("twice", request)])
        assert (accepted.award.id, accepted.created) == (rival[0][0], False)
    assert rival[0][1] is True
    with db.session() as session:
        assert list(session.scalars(select(Award.id).where(Award.api_key_id == key.id))) == [rival[0][0]]


def test_a_key_lost_three_times_is_refused_and_writes_nothing(db: Database, settings: Settings):
    """Each of the three inserts finds the key taken, and each re-read finds it free again: the request is refused
    (409 ``idempotency_conflict``, "retry") and writes nothing.

    On PostgreSQL other connections can do this; on SQLite they cannot (the loser of the first race holds the
    write lock until it ends), so the key is taken here by a row written just before the insert on the request's
    own connection, in the savepoint the lost insert rolls back."""
    key, request = new_key(db), body()
    taken: list[str] = []

    def the_key_is_taken_first(flushing: Session, *_: Any) -> None:
        (award,) = (row for row in flushing.new if isinstance(row, Award))
        columns = {column.key: getattr(award, column.key) for column in Award.__table__.columns}
        taken.append(str(uuid.uuid4()))
        flushing.connection().execute(insert(Award).values({**columns, "id": taken[-1]}))

    with db.session() as session:
        event.listen(session, "before_flush", the_key_is_taken_first)
        with pytest.raises(ConflictError) as refused:
            accept_awards(session, settings=settings, api_key=key, items=[("contested", request)])
    assert (refused.value.code, refused.value.message, refused.value.details) == (
        "idempotency_conflict",
        "concurrent requests used these idempotency keys; retry",
        [],
    )
    assert len(set(taken)) == 3
    with db.session() as session:
        assert list(session.scalars(select(Award.id).where(Award.api_key_id == key.id))) == []


def test_an_unknown_kind_is_refused_naming_it(db: Database, settings: Settings):
    key = new_key(db)
    with pytest.raises(InvalidRequestError) as single:
        accept(db, settings, key, [("x", body(kind="no-such-kind"))])
    assert (single.value.code, single.value.message) == ("unknown_kind", "a kind is not one of GET /v1/kinds")
    assert single.value.details == [{"field": "kind", "message": "unknown kind 'no-such-kind'"}]
    with pytest.raises(InvalidRequestError) as batch:
        accept(db, settings, key, [("y", body()), ("z", body(kind=999))])
    assert batch.value.details == [{"index": 1, "field": "kind", "message": "unknown kind 999"}]


def test_kinds_are_found_by_id_and_slug_and_read_again_for_one_not_cached(db: Database):
    catalog = Catalog()
    with db.session() as session:
        kinds, unknown = resolve_kinds(session, [1, "team-player", "nope"], catalog)
        assert kinds[1] is kinds["team-player"]
        assert unknown == [2]
        cached = catalog.kinds(session)
        assert catalog.kinds(session, [1]) is cached  # known: not read again
        assert catalog.kinds(session, ["nope"]) is not cached  # unknown: read again
        catalog.forget_kinds()
        assert catalog.kinds(session) is not cached


def test_recipients_by_handle_become_their_wallets(db: Database, settings: Settings):
    key, ada = new_key(db), person(db)
    address = new_address()
    with db.session() as session:
        accepted = accept_awards(
            session,
            settings=settings,
            api_key=key,
            items=[("h1", body(recipient=f"@{ada.handle}")), ("h2", body(recipient=address))],
        )
        assert [a.award.recipient for a in accepted] == [ada.wallet_address, address]


def test_each_recipient_that_cannot_be_awarded_is_named(db: Database, settings: Settings):
    key, walletless = new_key(db), person(db, wallet=False)
    with pytest.raises(InvalidRequestError) as unknown:
        accept(db, settings, key, [("u", body(recipient="@nobody-here"))])
    assert (unknown.value.code, unknown.value.message) == (
        "unknown_recipient",
        "no one in the directory has the handle 'nobody-here'",
    )
    assert unknown.value.details == [
        {"field": "recipient", "message": "no one in the directory has the handle 'nobody-here'"}
    ]
    # Before the service has its contract there is no custody address: a kudos cannot be held yet.
    with pytest.raises(InvalidRequestError) as no_wallet:
        accept(db, settings, key, [("w0", body()), ("w", body(recipient=f"@{walletless.handle}"))])
    message = "a kudos can be held only once the service has its contract"
    assert (no_wallet.value.code, no_wallet.value.message) == ("chain_not_ready", message)
    assert no_wallet.value.details == [{"index": 1, "field": "recipient", "message": message}]
    with pytest.raises(InvalidRequestError) as both:
        accept(
            db,
            settings,
            key,
            [("m0", body(recipient=f"@{walletless.handle}")), ("m1", body()), ("m2", body(recipient="@nobody-here"))],
        )
    assert (both.value.code, both.value.message) == ("invalid_recipient", "some recipients cannot be awarded")
    assert both.value.details == [
        {"index": 0, "field": "recipient", "message": message},
        {"index": 2, "field": "recipient", "message": "no one in the directory has the handle 'nobody-here'"},
    ]
    with pytest.raises(InvalidRequestError) as twice:
        accept(db, settings, key, [("n0", body(recipient="@nobody-1")), ("n1", body(recipient="@nobody-2"))])
    assert (twice.value.code, twice.value.message) == ("unknown_recipient", "some recipients cannot be awarded")


# ----------------------------------------------------------------------------------------------------------------
# The new award
# ----------------------------------------------------------------------------------------------------------------


def test_a_new_award_holds_its_request_its_metadata_and_their_hash(db: Database, settings: Settings):
    key, address = new_key(db), new_address()
    request = body(recipient=address, kind="mentor", recipient_name="Grace", message="Merci, Grace!")
    ((award_id, created),) = accept(db, settings, key, [("new", request)])
    assert created is True
    with db.session() as session:
        award = session.get_one(Award, award_id)
        kinds, _ = resolve_kinds(session, ["mentor"])
        kind = kinds["mentor"]
        assert (award.api_key_id, award.idempotency_key, award.recipient, award.kind_id) == (
            key.id,
            "new",
            address,
            kind.id,
        )
        assert (award.message, award.awarded_by, award.recipient_name) == ("Merci, Grace!", "Ada", "Grace")
        assert award.status == AwardStatus.QUEUED
        assert award.transferable is kind.default_transferable
        assert award.request_id == request_id_bytes(award_id)
        created_at = as_utc(award.created_at)
        expected = KudosMetadata(
            kind=kind.name,
            message="Merci, Grace!",
            awarded_by="Ada",
            awarded_at=created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            image=f"{BASE}/v1/awards/{award_id}/image.svg",
            recipient_name="Grace",
            external_url=f"{BASE}/wallet/{address}",
        )
        assert award.metadata_json == canonical_json(expected)
        assert award.content_hash == keccak(award.metadata_json)


@pytest.mark.parametrize(("transferable", "stored"), [(None, False), (True, True), (False, False)])
def test_transferable_is_the_requests_else_the_kinds_default(
    db: Database, settings: Settings, transferable: bool | None, stored: bool
):
    key = new_key(db)
    ((award_id, _),) = accept(db, settings, key, [("t", body(transferable=transferable))])
    with db.session() as session:
        assert session.get_one(Award, award_id).transferable is stored


# ----------------------------------------------------------------------------------------------------------------
# The accept queue: requests that wait together are committed together
# ----------------------------------------------------------------------------------------------------------------


class RecordingQueue(AcceptQueue):
    """The real queue, noting the size of each transaction it commits and whether it was a group's."""

    def __init__(self, db: Database, settings: Settings) -> None:
        super().__init__(db, settings, Catalog())
        self.commits: list[tuple[int, bool]] = []

    def _commit(self, group: Sequence[_Job], *, grouped: bool) -> None:
        self.commits.append((len(group), grouped))
        super()._commit(group, grouped=grouped)


def run_waiting(
    queue: AcceptQueue, key: ApiKey, requests: list[list[tuple[str, AwardCreate]]], *, stop: bool
) -> list[Any]:
    """Queue ``requests`` before the queue's thread starts (so they wait together), and ``stop`` after them when
    asked; each request's answer, or its error. A request never answered fails the test after 20 s."""

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        jobs = [_Job(key, items, loop, loop.create_future()) for items in requests]
        for job in jobs:
            queue._jobs.put(job)
        if stop:
            queue._jobs.put(None)
        queue._start()
        return await asyncio.wait_for(asyncio.gather(*(job.future for job in jobs), return_exceptions=True), 20)

    return asyncio.run(main())


def test_requests_waiting_together_are_committed_in_groups_of_at_most_max_group(db: Database, settings: Settings):
    key, queue = new_key(db), RecordingQueue(db, settings)
    queue.MAX_GROUP = 2
    try:
        answers = run_waiting(
            queue,
            key,
            [[("w0", body())], [("w1", body())], [("w2", body())], [("w0", body())]],  # the last reuses w0's key
            stop=False,
        )
    finally:
        queue.stop()
    assert queue.commits == [(2, True), (2, True)]
    for answer in answers[:3]:
        ((_, created),) = answer
        assert created is True
    assert isinstance(answers[3], ConflictError)  # refused alone; w2, in its group, is committed
    with db.session() as session:
        assert set(stored_awards(session, [(key.id, k) for k in ("w0", "w1", "w2")])) == {
            (key.id, "w0"),
            (key.id, "w1"),
            (key.id, "w2"),
        }


def test_a_stop_asked_while_requests_wait_answers_them_first(db: Database, settings: Settings):
    key, queue = new_key(db), RecordingQueue(db, settings)
    answers = run_waiting(queue, key, [[("s0", body())], [("s1", body()), ("s2", body())]], stop=True)
    assert [[created for _, created in answer] for answer in answers] == [[True], [True, True]]
    assert queue.commits == [(2, True)]
    assert queue._thread is not None
    queue._thread.join(5)
    assert not queue._thread.is_alive()  # it ended after answering them


def test_a_group_whose_transaction_fails_is_accepted_one_by_one_and_only_the_failing_request_fails(
    db: Database, settings: Settings
):
    """The database refuses one request's rows (a disk error, say, made here by a hook on the statement that
    writes them): the group's transaction fails, and each request is then committed alone, so that only that one
    is answered with the error."""
    key, queue = new_key(db), RecordingQueue(db, settings)

    def fail_the_bad_one(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.startswith("INSERT INTO awards") and "bad-request" in str(parameters):
            raise OSError("disk I/O error")

    event.listen(db.engine, "before_cursor_execute", fail_the_bad_one)
    try:
        answers = run_waiting(queue, key, [[("good-request", body())], [("bad-request", body())]], stop=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", fail_the_bad_one)
        queue.stop()
    assert queue.commits == [(2, True), (1, False), (1, False)]
    ((_, created),) = answers[0]
    assert created is True
    assert isinstance(answers[1], OSError)
    assert str(answers[1]) == "disk I/O error"
    with db.session() as session:
        assert set(stored_awards(session, [(key.id, "good-request"), (key.id, "bad-request")])) == {
            (key.id, "good-request")
        }


def test_an_award_is_shown_with_its_kind_through_a_catalog_that_knows_no_kind_yet(db: Database, settings: Settings):
    """After a restart, or once a new kind made the catalog forget them, the kinds are read from the database."""
    key = new_key(db)
    ((award_id, _),) = accept(db, settings, key, [("shown-cold", body(kind="mentor"))])
    with db.session() as session:
        out = award_out(session, session.get_one(Award, award_id), base_url=BASE, catalog=Catalog())
    assert (out.id, out.kind, out.status) == (award_id, "mentor", "queued")


def test_a_catalog_told_the_kinds_changed_reads_them_again(db: Database):
    catalog = Catalog()
    with db.session() as session:
        before = catalog.kinds(session)
        session.add(
            Kind(
                slug="forgotten-test",
                name="Forgotten test",
                description="",
                audience="employee",
                color="#123456",
                emoji="🧪",
            )
        )
    catalog.forget_kinds()  # what POST /v1/kinds does
    with db.session() as session:
        after = catalog.kinds(session)
    assert "forgotten-test" not in before
    assert after["forgotten-test"].id in after
    assert len(after) == len(before) + 2  # by id and by slug


class StuckQueue(AcceptQueue):
    """A queue whose first transaction never ends until the test lets it (a database that hangs)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        super().__init__(db, settings, Catalog())
        self.entered, self.release = threading.Event(), threading.Event()

    def _commit(self, group: Sequence[_Job], *, grouped: bool) -> None:
        self.entered.set()
        self.release.wait(30)


def test_a_stop_waits_for_a_stuck_transaction_no_longer_than_its_timeout(db: Database, settings: Settings):
    key, queue = new_key(db), StuckQueue(db, settings)
    loop = asyncio.new_event_loop()
    try:
        queue._jobs.put(_Job(key, [("stuck", body())], loop, loop.create_future()))
        queue._start()
        assert queue.entered.wait(10)
        thread = queue._thread
        stopper = threading.Thread(target=queue.stop, kwargs={"timeout": 0.1})
        stopper.start()
        stopper.join(10)
        assert not stopper.is_alive()  # the service's shutdown goes on
        assert thread is not None
        assert thread.is_alive()  # still stuck: a daemon thread, which does not hold the process
        assert (thread.daemon, thread.name) == (True, "kudos-accept")  # as thread dumps and log lines name it
    finally:
        queue.release.set()
        loop.close()


# ----------------------------------------------------------------------------------------------------------------
# What an award shows of its delivery


def test_an_award_shows_the_transaction_that_counts_and_why_it_waits_at_each_stage(db: Database, settings: Settings):
    key = new_key(db)
    ((award_id, _),) = accept(db, settings, key, [("stages", body())])
    catalog = Catalog()

    def shown() -> tuple[str | None, str | None, str | None]:
        with db.session() as session:
            out = award_out(session, session.get_one(Award, award_id), base_url=BASE, catalog=catalog)
        return out.tx_hash, out.status_reason, out.token_uri

    assert shown() == (None, None, None)  # queued: nothing sent, nothing to wait for
    note = "base fee 90 gwei is above the cap of 50 gwei; delivery resumes when the fee falls"
    hashes = ["0x" + os.urandom(32).hex() for _ in range(3)]
    with db.session() as session:
        op = Operation(
            kind=OpKind.AWARD_BATCH, status=OpStatus.PENDING, signer=new_address(), to_address=new_address(),
            data=b"", note=note, replacements=1,
        )  # fmt: skip
        session.add(op)
        session.flush()
        award = session.get_one(Award, award_id)
        award.status, award.operation_id = AwardStatus.SUBMITTED, op.id
        op_id = op.id
    assert shown() == (None, note, None)  # its operation not signed yet
    with db.session() as session:
        versions = [
            ChainTx(operation_id=op_id, nonce=3, tx_hash=h, raw=b"\x02", status=status)
            for h, status in zip(hashes, (TxStatus.REPLACED, TxStatus.REPLACED, TxStatus.SENT), strict=True)
        ]
        session.add_all(versions)
        session.get_one(Operation, op_id).status = OpStatus.IN_FLIGHT
    assert shown() == (hashes[2], note, None)  # the newest version sent, and why it waits
    with db.session() as session:
        first = session.scalars(select(ChainTx).where(ChainTx.tx_hash == hashes[0])).one()
        award = session.get_one(Award, award_id)
        award.status, award.tx_id, award.token_id = AwardStatus.CONFIRMED, first.id, 424242
    assert shown() == (hashes[0], None, f"{BASE}/v1/tokens/424242")  # the version mined (the first), waits no more
    with db.session() as session:
        award = session.get_one(Award, award_id)
        award.status, award.failure_reason = AwardStatus.FAILED, "the contract refused it: not a minter"
    with db.session() as session:
        out = award_out(session, session.get_one(Award, award_id), base_url=BASE, catalog=catalog)
    assert (out.status, out.failure_reason, out.held) == ("failed", "the contract refused it: not a minter", False)


def test_an_award_of_a_kind_another_process_added_is_shown_through_a_catalog_read_before(
    db: Database, settings: Settings
):
    catalog, another = Catalog(), Catalog()  # this process's, and another's that only shows the award
    with db.session() as session:
        catalog.kinds(session)  # both read before the kind existed
        another.kinds(session)
        session.add(
            Kind(slug="added-elsewhere", name="Added elsewhere", description="", audience="employee",
                 color="#654321", emoji="🧭")
        )  # fmt: skip
    with db.session() as session:  # the same catalog resolves the kind: it reads the kinds again for it
        (accepted,) = accept_awards(
            session, settings=settings, api_key=new_key(db), items=[("elsewhere", body(kind="added-elsewhere"))],
            catalog=catalog,
        )  # fmt: skip
        award_id = accepted.award.id
    with db.session() as session:
        award = session.get_one(Award, award_id)
        shown = [award_out(session, award, base_url=BASE, catalog=c).kind for c in (catalog, another)]
    assert shown == ["added-elsewhere", "added-elsewhere"]  # the other catalog reads the kinds again for it


# ----------------------------------------------------------------------------------------------------------------
# Held for someone, sent to someone else, in one request


@pytest.fixture
def held_db(tmp_path: Path) -> Iterator[Database]:
    """A database of its own whose service has its contract, HELD_CONTRACT (kudos can be held)."""
    database = Database(f"sqlite:///{tmp_path / 'kudos.db'}")
    database.migrate()
    with database.session() as session:
        session.add(Deployment(chain_id=31337, contract_address=HELD_CONTRACT, from_block=0))
    try:
        yield database
    finally:
        database.dispose()


HELD_CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def test_a_request_to_new_email_addresses_and_a_handle_holds_the_ones_and_sends_the_other(
    held_db: Database, settings: Settings
):
    grace = person(held_db)
    items = [
        ("to-ada", body(recipient={"email": "ada@example.com", "name": "Ada"})),
        ("to-grace", body(recipient=f"@{grace.handle}")),
        ("to-ada-again", body(recipient={"email": "ada@example.com"})),
    ]
    ids = [award_id for award_id, _ in accept(held_db, settings, new_key(held_db), items)]
    custody = custody_address(31337, HELD_CONTRACT)
    with held_db.session() as session:
        ada_first, to_grace, ada_again = (session.get_one(Award, i) for i in ids)
        assert (ada_first.recipient, ada_again.recipient, to_grace.recipient) == (
            custody,
            custody,
            grace.wallet_address,
        )
        assert ada_first.held_for_id is not None
        assert ada_again.held_for_id == ada_first.held_for_id  # one new person for two awards of one request
        assert to_grace.held_for_id is None
        catalog = Catalog()
        shown = [award_out(session, a, base_url=BASE, catalog=catalog).held for a in (ada_first, to_grace)]
        assert shown == [True, False]
        ada_first.claimed_at = utcnow()
        assert award_out(session, ada_first, base_url=BASE, catalog=catalog).held is False  # claimed: theirs now
        held = json.loads(ada_first.metadata_json)
        assert held["external_url"] == BASE  # not the custody address's wallet page: it says nothing of Ada
        assert json.loads(to_grace.metadata_json)["external_url"] == f"{BASE}/wallet/{grace.wallet_address}"
        ada = session.scalars(select(Recipient).where(Recipient.email == "ada@example.com")).one()
        assert (ada.id, ada.display_name, ada.wallet_address) == (ada_first.held_for_id, "Ada", None)


def test_a_kudos_held_for_someone_cannot_name_them_in_public(held_db: Database, settings: Settings):
    with pytest.raises(InvalidRequestError) as refused:
        accept(
            held_db,
            settings,
            new_key(held_db),
            [("named", body(recipient={"email": "kim@example.com"}, recipient_name="Kim"))],
        )
    assert (refused.value.code, refused.value.message) == (
        "recipient_name_held",
        "a kudos held for someone does not name them in its public metadata: leave recipient_name out (an email "
        "recipient's name goes in recipient.name)",
    )


def test_a_refused_request_of_a_group_adds_no_one_to_the_directory(held_db: Database, settings: Settings):
    key, queue = new_key(held_db), RecordingQueue(held_db, settings)
    try:
        answers = run_waiting(
            queue,
            key,
            [
                [("lin", body(recipient={"email": "lin@example.com"}))],
                [
                    ("kim", body(recipient={"email": "kim@example.com"})),
                    ("odd", body(recipient="@no-one-by-that-handle")),
                ],
            ],
            stop=False,
        )
    finally:
        queue.stop()
    assert queue.commits == [(2, True)]  # one transaction: the refused request's new person was taken out of it
    ((_, created),) = answers[0]
    assert created is True
    assert isinstance(answers[1], InvalidRequestError)
    assert answers[1].code == "unknown_recipient"  # refused after kim was added to the session
    with held_db.session() as session:
        assert list(session.scalars(select(Recipient.email).where(Recipient.email.is_not(None)))) == ["lin@example.com"]


def test_a_request_whose_event_loop_is_gone_does_not_stop_the_queue_answering_the_others(
    db: Database, settings: Settings
):
    """A request's loop can close before its answer (a worker process of the server shutting down): the answer
    is dropped, and the requests after it are answered."""
    key, queue = new_key(db), RecordingQueue(db, settings)
    gone = asyncio.new_event_loop()
    queue._jobs.put(_Job(key, [("loop-gone", body())], gone, gone.create_future()))
    gone.close()
    try:
        answers = run_waiting(queue, key, [[("loop-alive", body())]], stop=False)
    finally:
        queue.stop()
    ((_, created),) = answers[0]
    assert created is True
    with db.session() as session:
        assert set(stored_awards(session, [(key.id, "loop-gone"), (key.id, "loop-alive")])) == {
            (key.id, "loop-gone"),
            (key.id, "loop-alive"),
        }
