"""File input and output at the edge: atomic, permission-aware writes (nothing
half-written is ever left behind) and reads whose failures are usage errors."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from kapplan.models.errors import UsageError
from kapplan.models.interrupts import uninterrupted


def open_input(path: Path, what: str = "file") -> BinaryIO:
    """Open an input for reading; a missing or unreadable path is exit 2."""
    try:
        if path.is_dir():
            raise UsageError(f"{path}: is a folder, not a {what}")
        return path.open("rb")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except PermissionError:
        raise UsageError(f"{path}: permission denied") from None
    except OSError as err:
        raise UsageError(f"{path}: cannot be read ({err.strerror or 'I/O error'})") from None


def read_input(path: Path, limit: int, what: str = "file") -> bytes:
    """At most ``limit + 1`` bytes of ``path`` (one more than allowed, so the
    caller can tell an oversized file without reading all of it)."""
    with open_input(path, what) as handle:
        try:
            return handle.read(limit + 1)
        except OSError as err:
            raise UsageError(f"{path}: cannot be read ({err.strerror or 'I/O error'})") from None


def write_file(path: Path, data: bytes | str, *, private: bool = False, what: str = "cannot be written") -> None:
    """An output file the user named, written atomically; every failure is a usage
    error naming the file (a folder given as a file, a missing folder, a full disk)."""
    if path.is_dir():
        raise UsageError(f"{path}: is a folder; give a file name")
    if not path.parent.exists():
        raise UsageError(f"{path}: cannot be written: the folder {path.parent} does not exist")
    try:
        atomic_write(path, data, private=private)
    except OSError as err:
        raise UsageError(f"{path}: {what} ({err.strerror or 'write failed'})") from None


def atomic_write(path: Path, data: bytes | str, *, private: bool = False, durable: bool = True) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over.

    ``private`` files (plans, calendars with personal data) are created readable
    by their owner only, from the first byte on.
    """
    with atomic_output(path, private=private, durable=durable) as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)


@contextlib.contextmanager
def atomic_output(path: Path, *, private: bool = False, durable: bool = True) -> Iterator[BinaryIO]:
    """Write to the yielded handle; the file appears at ``path`` only if the
    block completes (for output too large to hold in memory, too).

    A ``durable`` file is on disk before it gets its name. Callers writing
    thousands of files pass False and call ``flush_to_disk`` once at the end:
    the rename alone already means no half-written file on interruption.

    A symbolic link is followed: the file it points to gets the new content and
    the link stays a link."""
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    fd, temp = _new_temp(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(temp, 0o600 if private else 0o644 & ~_umask())
        os.replace(temp, path)
        _unfinished.discard(temp)
    except BaseException:
        _discard(temp)
        raise


def atomic_write_all(files: list[tuple[Path, bytes]], *, private: bool = False) -> None:
    """Several files written as one: every temporary file is complete before
    any is renamed into place, so a full disk leaves all of them or none."""
    temps: list[tuple[str, Path]] = []
    try:
        for path, data in files:
            target = Path(os.path.realpath(path)) if path.is_symlink() else path
            fd, temp = _new_temp(target)
            temps.append((temp, target))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(temp, 0o600 if private else 0o644 & ~_umask())
        with uninterrupted():  # all of them, or (before the first) none
            for temp, target in temps:
                os.replace(temp, target)
                _unfinished.discard(temp)
    except BaseException:
        for temp, _ in temps:
            _discard(temp)
        raise


_unfinished: set[str] = set()
"""Temporary files this process is writing. A name is added before the file is
created and removed once it is renamed or deleted, so an interruption at any
point (a signal handled between two bytecodes) leaves nothing that
``remove_unfinished`` cannot find."""


def _new_temp(target: Path) -> tuple[int, str]:
    """A new, empty, owner-only temporary file beside ``target``, registered first."""
    import secrets

    folder = target.parent if str(target.parent) else Path(".")
    for _ in range(100):
        name = str(folder / f".{target.name}.{secrets.token_hex(4)}.tmp")
        _unfinished.add(name)
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600), name
        except FileExistsError:
            _unfinished.discard(name)
        except BaseException:
            _discard(name)
            raise
    raise FileExistsError(f"{target}: no free temporary file name beside it")


def _discard(name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name)
    _unfinished.discard(name)


def remove_unfinished() -> None:
    """Delete every temporary file still being written (after an interruption)."""
    for name in list(_unfinished):
        _discard(name)


def flush_to_disk() -> None:
    """Everything written so far onto the disk, in one call (where the system has one)."""
    sync = getattr(os, "sync", None)
    if sync is not None:
        sync()


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def same_file(first: Path | str, second: Path | str) -> bool:
    """Do two paths name one file: the same resolved path, or (both existing)
    the same inode, which also catches hard links and links to a folder."""
    if os.path.realpath(first) == os.path.realpath(second):
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def refuse_input_as_output(output: Path | str, inputs: Iterable[Path | str | None]) -> None:
    """An output file may never be one of the command's inputs: writing it would
    destroy the input (``plan P --client c.json -o c.json``). UsageError (exit 2)."""
    for source in inputs:
        if source is not None and same_file(output, source):
            raise UsageError(f"{output}: that is an input of this command ({source}); choose another output file")
