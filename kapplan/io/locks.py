"""Exclusive locks on the files kapplan reads and then replaces (SPEC §14).

A command that reads a plan (or ledger) file and writes a new version of it
holds ``file_lock(path)`` from the read to the rename, so two writers never
lose each other's change: the second one waits, then reads what the first one
wrote.

How it works, and why this way:

- The lock is an ``fcntl.flock`` on the file itself, not on a sidecar
  ``.lock`` file, so no lock files are left in the user's folders. Atomic
  writes replace the file's inode (write a temporary file, rename it over), so
  after the lock is granted the path is checked to still name the locked
  inode; when a writer renamed a new version in meanwhile, the lock moves on
  to that one (the waiter then reads the new content).
- A file that does not exist yet has nothing to lock: its folder is locked
  instead, until the new file has been renamed into place (``plan -o`` to a
  new name). Creating a file is the only case that takes the folder lock, and
  a waiter re-checks after it is granted whether the file appeared.
- Symbolic links are followed: the lock, the read and the write are all on
  the link's target (``target`` of the context), so writing through a link
  updates the file it points to and keeps the link.
- The wait is bounded (``KAPPLAN_LOCK_WAIT`` seconds, default 30); past it a
  UsageError (exit 2) names the busy file.
- A process may take the same lock again while it holds it (nested API
  calls); flock would otherwise block on itself.
- On systems without ``fcntl`` (Windows) nothing is locked.

Order, when a command also changes a ledger: the plan file first, then the
ledger transaction.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from kapplan.models.errors import UsageError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

DEFAULT_WAIT_SECONDS = 30.0
_held: dict[tuple[int, int], int] = {}
"""(device, inode) of every lock this process holds -> how many times it is held."""


def lock_wait_seconds() -> float:
    """How long a writer waits for a busy file: ``KAPPLAN_LOCK_WAIT`` or 30 s."""
    raw = os.environ.get("KAPPLAN_LOCK_WAIT", "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_WAIT_SECONDS
    return value if 0 <= value <= 3600 else DEFAULT_WAIT_SECONDS


def real_target(path: Path | str) -> Path:
    """The file a path names once symbolic links are followed (it may not exist
    yet); a path that is not a link is kept as given, so messages show it."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)


@contextlib.contextmanager
def file_lock(path: Path | str, *, wait: float | None = None, missing_ok: bool = False) -> Iterator[Path]:
    """Hold ``path`` exclusively against other kapplan processes; yields the real
    file to read and to write (symbolic links followed).

    ``missing_ok``: a file that does not exist is not locked (nor its folder).
    Use it around the whole read-change-write:

        with file_lock(plan_path) as target:
            plan = read_plan(target)
            ...
            write_plan(target, changed, keep_backup=True)
    """
    target = real_target(path)
    if fcntl is None:  # pragma: no cover - Windows
        yield target
        return
    if missing_ok and not target.exists():  # the caller only needs an existing file held
        yield target
        return
    limit = lock_wait_seconds() if wait is None else wait
    deadline = time.monotonic() + limit
    fd, key = _acquire(target, Path(path), deadline, limit)
    try:
        yield target
    finally:
        _release(fd, key)


def _acquire(target: Path, shown: Path, deadline: float, limit: float) -> tuple[int, tuple[int, int]]:
    """Lock the file (or, while it does not exist, its folder) until the path
    still names what was locked."""
    while True:
        fd, locked_file = _open_lockable(target, shown)
        info = os.fstat(fd)
        key = (info.st_dev, info.st_ino)
        if key in _held:
            os.close(fd)
            _held[key] += 1
            return -1, key
        try:
            _wait_for(fd, shown, deadline, limit)
        except BaseException:
            os.close(fd)
            raise
        if _still_current(target, info, locked_file):
            _held[key] = 1
            return fd, key
        os.close(fd)  # replaced (or created) while we waited: lock the new one


def _open_lockable(target: Path, shown: Path) -> tuple[int, bool]:
    """An open descriptor of the file, or of its folder when there is no file yet."""
    if target.is_dir():
        raise UsageError(f"{shown}: is a folder, not a file")
    try:
        return os.open(target, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)), True
    except FileNotFoundError:
        pass
    except OSError as err:
        raise UsageError(f"{shown}: cannot be opened ({err.strerror or 'I/O error'})") from None
    try:
        return os.open(target.parent, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)), False
    except OSError as err:
        raise UsageError(f"{shown}: cannot be written: the folder {target.parent} "
                         f"cannot be opened ({err.strerror or 'I/O error'})") from None


def _wait_for(fd: int, shown: Path, deadline: float, limit: float) -> None:
    """Poll for the lock until the deadline (a blocking flock cannot be bounded)."""
    pause = 0.002
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if time.monotonic() >= deadline:
            raise UsageError(
                f"{shown}: busy: another kapplan process is changing it (waited {limit:g} s); try again"
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _still_current(target: Path, locked: os.stat_result, locked_file: bool) -> bool:
    """Does the path still name the locked file (or, for a folder lock, still not exist)?"""
    try:
        now = os.stat(target)
    except FileNotFoundError:
        return not locked_file
    return locked_file and (now.st_dev, now.st_ino) == (locked.st_dev, locked.st_ino)


def _release(fd: int, key: tuple[int, int]) -> None:
    _held[key] -= 1
    if _held[key]:
        return
    del _held[key]
    if fd >= 0:
        os.close(fd)  # closing the last descriptor releases the flock
