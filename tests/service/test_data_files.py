"""The data directory is private: 0700, and the databases in it 0600 with the files SQLite keeps beside them, as
``kudos keys create`` and ``kudos serve`` make them, whatever the umask; one an older version left world-readable
is tightened.

The services here run under umask 000, the most permissive: every mode checked comes from the service itself.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kudos_service.core.files import private_dir, private_file

from tests.service.conftest import create_key, start_service

#: What a running service keeps in its data directory once both databases were written.
DATABASE_FILES = {f"{db}{side}" for db in ("kudos.db", "chain.db") for side in ("", "-wal", "-shm")} | {"chain.db.lock"}


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes(directory: Path) -> dict[str, int]:
    """The mode of each file in ``directory``."""
    return {path.name: mode(path) for path in directory.iterdir()}


def test_a_new_data_directory_and_its_databases_are_private(tmp_path: Path):
    data_dir = tmp_path / "share" / "kudos-chain"
    with umask(0o000), start_service(data_dir) as service:
        service.award_confirmed()  # both databases written: their -wal and -shm files exist
        files = modes(data_dir)

    assert mode(data_dir) == 0o700
    assert set(files) >= DATABASE_FILES
    assert files == dict.fromkeys(files, 0o600)


def test_keys_create_on_a_new_data_directory_makes_it_private(tmp_path: Path):
    """``kudos keys create`` is often the first command run: it creates the directory and the database."""
    data_dir = tmp_path / "fresh"
    with umask(0o000):
        create_key(data_dir, "award")

    assert mode(data_dir) == 0o700
    assert mode(data_dir / "kudos.db") == 0o600


def test_a_world_readable_data_directory_of_an_older_version_is_tightened(tmp_path: Path):
    data_dir = tmp_path / "kudos-chain"
    with start_service(data_dir) as service:
        service.award_confirmed()
    data_dir.chmod(0o755)  # as versions before this one left it
    for path in data_dir.iterdir():
        path.chmod(0o644)

    with start_service(data_dir) as service:
        service.award_confirmed()
        files = modes(data_dir)

    assert mode(data_dir) == 0o700
    assert set(files) >= DATABASE_FILES
    assert files == dict.fromkeys(files, 0o600)


def test_a_databases_leftover_side_files_are_tightened_too(tmp_path: Path):
    database = tmp_path / "kudos.db"
    for name in ("kudos.db", "kudos.db-wal", "kudos.db-shm", "other.txt"):
        (tmp_path / name).write_bytes(b"")
        (tmp_path / name).chmod(0o644)

    private_file(database)

    assert modes(tmp_path) == {"kudos.db": 0o600, "kudos.db-wal": 0o600, "kudos.db-shm": 0o600, "other.txt": 0o644}


def test_only_group_and_other_bits_are_removed(tmp_path: Path):
    """An owner who made the directory stricter keeps it so; a shared (sticky) directory is left alone."""
    strict, shared = tmp_path / "strict", tmp_path / "shared"
    strict.mkdir(mode=0o500)
    shared.mkdir()
    shared.chmod(0o1777)

    private_dir(strict)
    private_dir(shared)

    assert mode(strict) == 0o500
    assert mode(shared) == 0o1777
