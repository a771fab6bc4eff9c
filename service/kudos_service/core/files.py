"""Private files: the data directory is 0700 and the database files 0600, since they hold the directory's personal
data (names, external ids, Slack ids and wallets) and the chain's state.

A database file is created, empty and 0600, before SQLite opens it: SQLite would create it with the umask's mode
(0644 under the usual umask), and it gives the write-ahead log (``-wal``), the shared-memory index (``-shm``) and a
rollback journal the mode of their database file. A directory or file that exists already and belongs to this
user is tightened, its side files too (an older version created them 0755 and 0644): group and other bits are
removed, the owner's are kept. What belongs to another user, and a shared directory (sticky, like ``/tmp``), is
left as it is.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

__all__ = ["PRIVATE_DIR", "PRIVATE_FILE", "private_dir", "private_file", "sqlite_file"]

logger = logging.getLogger(__name__)

#: The mode of the data directory: its owner alone may list, enter and create in it.
PRIVATE_DIR = 0o700

#: The mode of the database files: its owner alone may read and write them.
PRIVATE_FILE = 0o600

#: The files SQLite keeps beside a database (the embedded chain adds its lock file).
SIDE_FILES = ("-wal", "-shm", "-journal", ".lock")


def private_dir(path: Path) -> Path:
    """``path`` as a directory only its owner can use: created 0700 if missing (its parents with the usual mode),
    tightened if it exists.

    :raises OSError: when it cannot be created, or exists and is not a directory.
    """
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    _tighten(path, PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """``path`` readable and writable by its owner only: created empty and 0600 if missing (an empty file is an
    empty SQLite database), else tightened, with its side files.

    :raises OSError: when it cannot be created (its directory is missing, say).
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
    except FileExistsError:
        _tighten(path, PRIVATE_FILE)
    else:
        os.close(fd)
    for suffix in SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            _tighten(side, PRIVATE_FILE)
    return path


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (``sqlite:///path``), or None for another database, an in-memory one or a URI
    filename (``sqlite:///file:...?uri=true``, whose options SQLite reads)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    if parsed.query.get("uri") or parsed.database.startswith("file:"):
        return None
    return Path(parsed.database)


def _tighten(path: Path, mode: int) -> None:
    """Remove from ``path``'s mode what ``mode`` does not allow, when this user owns it and it is not shared."""
    info = path.stat()
    current = stat.S_IMODE(info.st_mode)
    if info.st_uid != os.geteuid() or (current & stat.S_ISVTX) or (current & ~mode) == 0:
        return
    os.chmod(path, current & mode)
    logger.info("%s was mode %04o; now %04o (it holds personal data)", path, current, current & mode)
