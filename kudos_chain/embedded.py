"""The embedded py-evm chain on disk: py-evm's key-value database in one SQLite file.

:meth:`kudos_chain.Chain.embedded` with a ``path`` calls :func:`open_tester`. The design:

* **One SQLite table.** py-evm keeps everything (state trie nodes, code, headers, bodies, receipts, the
  canonical-chain index and the head pointer) in one key-value store, its ``AtomicDatabaseAPI``.
  :class:`SQLiteAtomicDB` implements it on ``kv(key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID``.
* **One block, one transaction.** py-evm writes a block's header, score, chain gaps, the canonical-chain index
  of its number and transactions and the new head in a single ``atomic_batch()`` (``ChainDB.persist_block``);
  :class:`SQLiteAtomicDB` commits each batch in one SQLite transaction. Every write made before it (trie nodes
  of the state, of the transactions and of the receipts, contract code) is keyed by the keccak of its value,
  and so is harmless until a head refers to it. A process killed at any point, mid-import included, reopens at
  the last block whose batch committed: it has all its data, and what came after is as if never sent.
* **WAL, ``synchronous=NORMAL``.** A commit returns once its pages are written to the write-ahead log: the
  operating system holds them even if the process is killed (SIGKILL included), so a block that was mined, and
  whose receipt was seen, is there after a restart. Only a power loss or a crash of the operating system may
  undo the last commits (never half of one): the embedded chain is a development and single-host chain, and
  ``FULL`` would add an ``fsync`` to every block.
* **One owner.** The process that opens the file takes an exclusive ``flock`` on ``<path>.lock`` (released by
  the kernel however the process ends; the lock file itself is left in place); a second opener, in another
  process or in the same one, gets :class:`~kudos_chain.exceptions.ConfigurationError`. Within a process the
  file is released by :meth:`SQLiteAtomicDB.close` (``Chain.close()``), not by dropping the chain: web3's
  ``Method`` descriptors keep the last ``Web3`` used, and py-evm's ``lru_cache`` methods its ``ChainDB``.
* **Private.** The file is created 0600 before SQLite opens it (SQLite would create it with the umask's mode,
  world-readable under the usual one), and SQLite gives its ``-wal`` and ``-shm`` files the database file's mode;
  the lock file is 0600 too. An existing file keeps its mode.
* **eth-tester on top.** :class:`_PersistentBackend` is eth-tester's ``PyEVMBackend`` whose chain is built on
  this database: the first time from eth-tester's default genesis (its deterministic dev keys, funded), after
  that at the stored canonical head, where the pending block is built on the head (numbers go on, timestamps
  never go back). Blocks keep the hashes they were mined with (eth-tester draws a random ``mix_hash`` per
  block), since they are read back, not mined again.
* **Reads that scale with a chain that lives on.** eth-tester finds a transaction by reading the blocks from the
  head down, and ``eth_getLogs`` reads every block and receipt of its range: reading the logs of n blocks cost
  n² block reads. The backend finds transactions through py-evm's hash index, and ``get_logs`` skips the blocks
  whose header bloom rules the filter out; both answer exactly as eth-tester does.

The file is marked as a kudos-chain database (SQLite's ``application_id``) and records how many dev accounts
its genesis funded; opening another SQLite file, or asking for another number of accounts, is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

from eth.abc import AtomicWriteBatchAPI
from eth.db.backends.base import BaseAtomicDB, BaseDB
from eth.db.chain import ChainDB
from eth.exceptions import CanonicalHeadNotFound
from eth.exceptions import TransactionNotFound as EVMTransactionNotFound
from eth_bloom.bloom import get_bloom_bits
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.backends.pyevm.main import (
    generate_genesis_state_for_keys,
    get_default_genesis_params,
    setup_tester_chain,
)
from eth_tester.backends.pyevm.serializers import serialize_transaction, serialize_transaction_receipt
from eth_tester.exceptions import TransactionNotFound

from kudos_chain.exceptions import ChainError, ConfigurationError

__all__ = ["SQLiteAtomicDB", "open_tester"]

logger = logging.getLogger(__name__)

#: SQLite's ``application_id`` of a kudos-chain database ("KUDO").
APPLICATION_ID = 0x4B55444F

#: The layout of the file, in SQLite's ``user_version``.
SCHEMA_VERSION = 1

#: Where the number of dev accounts funded at genesis is kept (no py-evm key has this form).
ACCOUNTS_KEY = b"kudos-chain:dev-accounts"

_GET = "SELECT value FROM kv WHERE key = ?"
_EXISTS = "SELECT 1 FROM kv WHERE key = ?"
_PUT = "INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)"
_DELETE = "DELETE FROM kv WHERE key = ?"


class SQLiteAtomicDB(BaseAtomicDB):
    """py-evm's atomic key-value database in a SQLite file that this object owns while it is open.

    A write outside a batch is committed at once; the writes of an ``atomic_batch()`` are committed together, in
    one SQLite transaction, when the batch ends without an exception. The connection may be used from several
    threads: every statement runs under one lock.

    :raises ConfigurationError: when the file is open elsewhere, cannot be created, or is not a kudos-chain
        database.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.RLock()
        lock_fd = _acquire_lock(self.path)
        try:
            self._conn: sqlite3.Connection | None = _connect(self.path)
        except BaseException:
            os.close(lock_fd)
            raise
        self._finalizer = weakref.finalize(self, _release, self._conn, lock_fd)

    def __repr__(self) -> str:
        return f"SQLiteAtomicDB({self.path!r}{'' if self._conn else ', closed'})"

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran: nothing can be read or written any more."""
        return self._conn is None

    def close(self) -> None:
        """Close the file and release its lock; idempotent. A batch committed before is on disk."""
        with self._lock:
            self._conn = None
            self._finalizer()

    def _connection(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is None:
            raise ChainError(f"the embedded chain at {self.path} is closed")
        return conn

    # ------------------------------------------------------------------------------------------------------
    # DatabaseAPI
    # ------------------------------------------------------------------------------------------------------

    def __getitem__(self, key: bytes) -> bytes:
        with self._lock:
            row = self._connection().execute(_GET, (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return bytes(row[0])

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._write([(key, value)], [])

    def __delitem__(self, key: bytes) -> None:
        with self._lock:
            if not self._exists(key):
                raise KeyError(key)
            self._write([], [key])

    def _exists(self, key: bytes) -> bool:
        with self._lock:
            return self._connection().execute(_EXISTS, (key,)).fetchone() is not None

    # ------------------------------------------------------------------------------------------------------
    # AtomicDatabaseAPI
    # ------------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def atomic_batch(self) -> Iterator[AtomicWriteBatchAPI]:
        """A view of the database whose writes are committed in one SQLite transaction when the block ends
        normally, and dropped when it raises."""
        batch = _WriteBatch(self)
        try:
            yield batch
            puts, deletes = batch.changes()
            self._write(puts, deletes)
        finally:
            batch.end()

    def _write(self, puts: list[tuple[bytes, bytes]], deletes: list[bytes]) -> None:
        """Write ``puts`` and ``deletes`` in one SQLite transaction."""
        if not puts and not deletes:
            return
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if puts:
                        conn.executemany(_PUT, puts)
                    if deletes:
                        conn.executemany(_DELETE, [(k,) for k in deletes])
                    conn.execute("COMMIT")
                finally:
                    if conn.in_transaction:  # an error before or during COMMIT: drop the whole batch
                        conn.execute("ROLLBACK")
            except sqlite3.Error as exc:
                raise ChainError(f"the embedded chain could not write to {self.path}: {exc}") from exc


class _WriteBatch(BaseDB, AtomicWriteBatchAPI):
    """The pending writes of one ``atomic_batch()``: reads see them, the database does not until the commit."""

    def __init__(self, db: SQLiteAtomicDB) -> None:
        self._db = db
        self._changes: dict[bytes, bytes | None] | None = {}  # None marks a deleted key

    def _pending(self) -> dict[bytes, bytes | None]:
        if self._changes is None:
            raise ChainError("a write batch of the embedded chain was used after its block ended")
        return self._changes

    def __getitem__(self, key: bytes) -> bytes:
        changes = self._pending()
        if key in changes:
            value = changes[key]
            if value is None:
                raise KeyError(key)
            return value
        return self._db[key]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._pending()[key] = value

    def __delitem__(self, key: bytes) -> None:
        if not self._exists(key):
            raise KeyError(key)
        self._pending()[key] = None

    def _exists(self, key: bytes) -> bool:
        changes = self._pending()
        if key in changes:
            return changes[key] is not None
        return self._db._exists(key)

    def changes(self) -> tuple[list[tuple[bytes, bytes]], list[bytes]]:
        """The keys written, with their values, and the keys deleted."""
        changes = self._pending()
        puts = [(k, v) for k, v in changes.items() if v is not None]
        deletes = [k for k, v in changes.items() if v is None]
        return puts, deletes

    def end(self) -> None:
        self._changes = None


def _acquire_lock(path: str) -> int:
    """An exclusive ``flock`` on ``<path>.lock``, as an open descriptor; the kernel drops it when the process ends."""
    lock_path = path + ".lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise ConfigurationError(f"cannot open the lock file {lock_path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(fd)
        os.close(fd)
        raise ConfigurationError(
            f"the embedded chain at {path} is already open{holder}: one process at a time owns it "
            f"(lock file {lock_path})"
        ) from None
    except OSError as exc:
        os.close(fd)
        raise ConfigurationError(f"cannot lock the embedded chain at {path}: {exc.strerror}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _read_holder(fd: int) -> str:
    """`` in process N`` from the lock file, when its holder wrote its pid there."""
    try:
        text = os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" in process {text}" if text.isdigit() else ""


def _create_private(path: str) -> None:
    """Create the database file, empty and readable by its owner alone, unless it exists (an empty file is an empty
    SQLite database: it is set up as a new one)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise ConfigurationError(f"cannot create the embedded chain at {path}: {exc.strerror}") from None
    os.close(fd)


def _connect(path: str) -> sqlite3.Connection:
    """Open (or create, 0600) the database file and check that it is a kudos-chain database."""
    _create_private(path)
    conn: sqlite3.Connection | None = None
    try:
        # isolation_level=None: autocommit, with BEGIN and COMMIT written out where a batch needs them.
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            logger.warning("the embedded chain at %s runs in journal mode %s, not WAL", path, mode)
        conn.execute("PRAGMA synchronous=NORMAL")
        (app_id,) = conn.execute("PRAGMA application_id").fetchone()
        (tables,) = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if app_id == 0 and tables == 0:  # a new (or empty) file
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("CREATE TABLE kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID")
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
            return conn
        if app_id != APPLICATION_ID:
            raise ConfigurationError(f"{path} is a SQLite database, but not an embedded kudos-chain")
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version != SCHEMA_VERSION:
            raise ConfigurationError(
                f"the embedded chain at {path} has layout version {version}; this kudos-chain reads {SCHEMA_VERSION}"
            )
        return conn
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        raise ConfigurationError(f"cannot open the embedded chain at {path}: {exc}") from None
    except BaseException:
        if conn is not None:
            conn.close()
        raise


def _release(conn: sqlite3.Connection, lock_fd: int) -> None:
    """Close the connection (checkpointing the WAL into the file), then drop the lock."""
    try:
        conn.close()
    finally:
        os.close(lock_fd)


class EmbeddedBackend(PyEVMBackend):  # type: ignore[misc]  # eth-tester has no type information
    """eth-tester's py-evm backend, for chains in memory and on disk alike, with two changes.

    Transactions are found through py-evm's own index (see :meth:`_find_transaction`). And blocks carry the time
    their transaction arrived: py-evm dates the next block when the previous one is mined, so a transaction sent
    an hour later would be mined in a block an hour old, and a kudos's ``issuedAt`` would be earlier than its
    award. Before a transaction is applied to an empty pending block, that block is dated now (never before its
    parent).
    """

    def _date_pending_block(self) -> None:
        header = self.chain.header
        if header.gas_used == 0:
            parent = self.chain.get_canonical_head()
            timestamp = max(int(time.time()), parent.timestamp + 1)
            if timestamp != header.timestamp:
                self.chain.header = header.copy(timestamp=timestamp)

    def send_raw_transaction(self, raw_transaction: bytes) -> Any:
        self._date_pending_block()
        return super().send_raw_transaction(raw_transaction)

    def send_signed_transaction(self, signed_transaction: Any, block_number: Any = "latest") -> Any:
        self._date_pending_block()
        return super().send_signed_transaction(signed_transaction, block_number)

    def _find_transaction(self, transaction_hash: bytes) -> tuple[Any, Any, int]:
        """The block, transaction and index of a transaction, from py-evm's index of canonical transactions.

        eth-tester reads every block from the head down to find one, so reading the logs of n blocks (each log
        through its receipt) costs n² block reads: fine for a chain that dies with its process, not for one
        that lives on, or for one that mines thousands of blocks in a test run. py-evm writes the index in the block's
        own batch.
        """
        pending = self.chain.get_block()
        for index, transaction in enumerate(pending.transactions):
            if transaction.hash == transaction_hash:
                return pending, transaction, index
        try:
            number, index = self.chain.chaindb.get_transaction_index(transaction_hash)
        except EVMTransactionNotFound:
            raise TransactionNotFound(f"no transaction with hash 0x{transaction_hash.hex()}") from None
        block = self.chain.get_canonical_block_by_number(number)
        return block, block.transactions[index], index

    def get_transaction_by_hash(self, transaction_hash: bytes) -> Any:
        block, transaction, index = self._find_transaction(transaction_hash)
        is_pending = block.number == self.chain.get_block().number
        return serialize_transaction(block, transaction, index, is_pending)

    def get_transaction_receipt(self, transaction_hash: bytes) -> Any:
        block, transaction, index = self._find_transaction(transaction_hash)
        is_pending = block.number == self.chain.get_block().number
        receipts = block.get_receipts(self.chain.chaindb)
        return serialize_transaction_receipt(block, receipts, transaction, index, is_pending, self.chain.get_vm())


class _PersistentBackend(EmbeddedBackend):
    """eth-tester's py-evm backend with its chain in a :class:`SQLiteAtomicDB`.

    ``PyEVMBackend.__init__`` builds its chain through :meth:`reset_to_genesis`, which is overridden here to open
    the chain stored in the database, or to write its genesis there the first time.
    """

    def __init__(self, db: SQLiteAtomicDB, accounts: int) -> None:
        self._db = db
        self._accounts = accounts
        self._opened = False
        super().__init__()

    def reset_to_genesis(self, *args: Any, **kwargs: Any) -> None:
        if self._opened:
            raise ChainError(
                f"the embedded chain at {self._db.path} is on disk and cannot be reset: close it and delete its file"
            )
        # setup_tester_chain defines eth-tester's chain class (its forks, chain id and constant gas limit)
        # within the function: build its small in-memory chain once to get the class.
        keys, template = setup_tester_chain(num_accounts=self._accounts)
        self.account_keys = keys
        self.chain = _open_chain(type(template), self._db, keys)
        self._opened = True


def _open_chain(chain_class: Any, db: SQLiteAtomicDB, keys: Any) -> Any:
    """The chain stored in ``db`` at its canonical head, or a new one from eth-tester's default genesis."""
    accounts = len(keys)
    try:
        head = ChainDB(db).get_canonical_head()
    except CanonicalHeadNotFound:
        # New file (or one whose genesis was never completed): mark it first, so that a head never exists
        # without the mark. The genesis state's trie nodes, then its header and head, go in their own batches.
        db[ACCOUNTS_KEY] = str(accounts).encode()
        params = get_default_genesis_params()
        chain = chain_class.from_genesis(db, params, generate_genesis_state_for_keys(keys))
        logger.info("created the embedded chain at %s with %d dev accounts", db.path, accounts)
        return chain
    stored = db.get(ACCOUNTS_KEY)
    if stored is None or not stored.isdigit():
        raise ConfigurationError(f"{db.path} holds a chain that kudos-chain did not create")
    if int(stored) != accounts:
        raise ConfigurationError(
            f"the embedded chain at {db.path} was created with {int(stored)} dev accounts, not {accounts}: "
            f"open it with accounts={int(stored)}"
        )
    logger.info("opened the embedded chain at %s at block %d", db.path, head.block_number)
    return chain_class(db)


class EmbeddedTester(EthereumTester):  # type: ignore[misc]  # eth-tester has no type information
    """eth-tester's ``EthereumTester`` whose ``get_logs`` reads only the blocks whose header bloom admits the filter.

    eth-tester reads every block of the range and every receipt in it; a chain that lives on grows past what
    that can serve (every :meth:`~kudos_chain.KudosClient.kudos` reads the award events from the deployment on).
    A header's bloom holds the address and topics of every log of its block: a block whose bloom lacks the
    filter's address, or every alternative of one of its topics, has no matching log. The blocks that may match
    are read by eth-tester itself, in runs of consecutive blocks, so the answer is the one it would give.
    """

    def get_logs(
        self, from_block: Any = None, to_block: Any = None, address: Any = None, topics: Any = None
    ) -> tuple[Any, ...]:
        def scan(start: Any, end: Any) -> tuple[Any, ...]:
            return tuple(super(EmbeddedTester, self).get_logs(start, end, address, topics))

        groups = _bloom_groups(address, topics)
        if groups is None or not isinstance(from_block, int) or not isinstance(to_block, int) or not groups:
            return scan(from_block, to_block)
        self.validator.validate_inbound_filter_params(
            from_block=from_block, to_block=to_block, address=address, topics=topics
        )
        chain = self.backend.chain
        head = chain.get_canonical_head().block_number

        masks = [[_bloom_mask(value) for value in group] for group in groups]

        def may_match(number: int) -> bool:
            if number > head:  # the pending block, or none: as eth-tester does
                return True
            bloom = int(chain.get_canonical_block_header_by_number(number).bloom)
            return all(any(bloom & mask == mask for mask in group) for group in masks)

        found: list[Any] = []
        for start, end in _runs(n for n in range(from_block, to_block + 1) if may_match(n)):
            found += scan(start, end)
        return tuple(found)


def _bloom_groups(address: Any, topics: Any) -> list[list[bytes]] | None:
    """What a block's bloom must hold for a log filter to match in it: one of each group. None when the filter
    is not in a form read here (eth-tester then answers it alone)."""
    groups: list[list[bytes]] = []
    addresses = [address] if isinstance(address, str | bytes) else address
    if addresses:
        group = [_filter_bytes(a) for a in addresses]
        if any(g is None for g in group):
            return None
        groups.append([g for g in group if g is not None])
    if topics is None:
        return groups
    if not isinstance(topics, list | tuple):
        return None
    for topic in topics:
        alternatives = [topic] if isinstance(topic, str | bytes) else topic
        if not alternatives or any(t is None for t in alternatives):
            continue  # a wildcard position
        if not isinstance(alternatives, list | tuple):
            return None
        group = [_filter_bytes(t) for t in alternatives]
        if any(g is None for g in group):
            return None
        groups.append([g for g in group if g is not None])
    return groups


def _bloom_mask(value: bytes) -> int:
    """The bits ``value`` sets in a log bloom (each one keccak, done once per filter, not once per block)."""
    mask = 0
    for bit in get_bloom_bits(value):
        mask |= bit
    return mask


def _filter_bytes(value: Any) -> bytes | None:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return bytes.fromhex(value[2:] if value[:2] in ("0x", "0X") else value)
        except ValueError:
            return None
    return None


def _runs(numbers: Iterable[int]) -> Iterator[tuple[int, int]]:
    """``(first, last)`` of each run of consecutive numbers, in order."""
    current: tuple[int, int] | None = None
    for n in numbers:
        if current is not None and n == current[1] + 1:
            current = (current[0], n)
            continue
        if current is not None:
            yield current
        current = (n, n)
    if current is not None:
        yield current


def open_tester(path: str | os.PathLike[str], *, accounts: int) -> tuple[Any, SQLiteAtomicDB]:
    """An ``EthereumTester`` on the chain stored at ``path`` (created there the first time), and the open
    database, which the caller closes.

    :raises ConfigurationError: when the file is open elsewhere, is not a kudos-chain database, or was created
        with another number of dev accounts.
    """
    if accounts < 1:
        raise ConfigurationError(f"the embedded chain needs at least one dev account, not {accounts}")
    db = SQLiteAtomicDB(path)
    try:
        backend = _PersistentBackend(db, accounts)
    except BaseException:
        db.close()
        raise
    return EmbeddedTester(backend=backend), db
