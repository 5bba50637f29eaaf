"""The SQLite ledger file: a clinic's bookings shared by every coordinator on one machine.

One file, WAL mode (readers never wait for a writer), a busy timeout (a
second writer waits instead of failing), and write transactions opened with
``BEGIN IMMEDIATE``: the write lock is taken before anything is read, so the
conflict check a caller runs inside :meth:`Ledger.writing` sees every booking
committed before it, and nothing can be committed between that check and its
own commit. Instants are stored as integer seconds since the epoch (UTC).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kapplan.ledger.mounts import check_local_folder
from kapplan.ledger.schema import SCHEMA_VERSION, bring_up_to_date, stored_version
from kapplan.models.booking import ACTIVE_STATUSES, Assignment, Booking
from kapplan.models.errors import UsageError


def busy_timeout() -> float:
    """How long a command waits for another one's write transaction before giving
    up (exit 2): the plan-file lock's wait, ``KAPPLAN_LOCK_WAIT`` or 30 s."""
    from kapplan.io.locks import lock_wait_seconds

    return lock_wait_seconds()


@dataclass(frozen=True, slots=True)
class SeriesRecord:
    """What the ledger knows of a series' plan file: where it is and which bytes it committed."""

    series: str
    client: str
    plan_path: str
    plan_sha256: str
    committed: str


@dataclass(frozen=True, slots=True)
class Entry:
    """A stored booking, its number in the series ("3 of 6", when recorded) and
    the plan's calendar SEQUENCE for it."""

    booking: Booking
    number: int | None = None
    total: int | None = None
    sequence: int = 0


def file_mode(folder: Path) -> int:
    """0600, or 0660 in a group-writable folder (a shared coordinators' folder)."""
    try:
        shared = bool(folder.stat().st_mode & stat.S_IWGRP)
    except OSError:
        shared = False
    return 0o660 if shared else 0o600


def _create_file(path: Path) -> None:
    """An empty file with the ledger's mode from its first byte on (SQLite's
    WAL and shared-memory files then take the same mode)."""
    mode = file_mode(path.parent)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
    except FileExistsError:
        return  # another process created it first: use theirs
    except OSError as err:
        raise UsageError(f"{path}: cannot create the ledger ({err.strerror or 'error'})") from None
    try:
        os.fchmod(fd, mode)  # the umask may have removed the group bits
    finally:
        os.close(fd)


@contextlib.contextmanager
def sqlite_errors(path: Path) -> Iterator[None]:
    """SQLite's failures as one clear usage error naming the ledger file."""
    try:
        yield
    except UsageError as err:
        if err.message.startswith(str(path)):
            raise
        raise UsageError(f"{path}: {err.message}") from None
    except sqlite3.OperationalError as err:
        text = str(err)
        if "locked" in text or "busy" in text:
            raise UsageError(f"{path}: busy: another kapplan process kept the ledger past "
                             f"{busy_timeout():g} s; try again") from None
        raise UsageError(f"{path}: cannot use the ledger ({text})") from None
    except sqlite3.DatabaseError as err:
        raise UsageError(f"{path}: is not a usable kapplan ledger ({err})") from None


class Ledger:
    """An open ledger file. Use as a context manager; write inside :meth:`writing`."""

    def __init__(self, path: Path, db: sqlite3.Connection, warnings: list[str]) -> None:
        self.path = path
        self.db = db
        self.warnings = warnings
        self.id = self.meta("ledger_id") or ""

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: str | Path, *, create: bool = True, wait: float | None = None) -> Ledger:
        """Open (and with ``create`` make) a ledger; its schema is brought up to date.

        A missing folder, a network mount (Linux), a file that is not a ledger
        or a ledger from a newer kapplan are usage errors (exit 2)."""
        path = Path(os.path.abspath(path))
        if path.is_dir():
            raise UsageError(f"{path}: is a folder; give the ledger a file name")
        if not path.parent.is_dir():
            raise UsageError(f"{path}: the folder {path.parent} does not exist")
        warning = check_local_folder(path.parent)
        if not path.exists():
            if not create:
                raise UsageError(f"{path}: no such ledger file")
            _create_file(path)
        with sqlite_errors(path):
            seconds = busy_timeout() if wait is None else wait
            db = sqlite3.connect(path, timeout=seconds, isolation_level=None)
            try:
                _configure(db, seconds)
                _prepare(db)
            except BaseException:
                db.close()
                raise
        return cls(path, db, [warning] if warning else [])

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def writing(self) -> Iterator[Ledger]:
        """One write transaction: the write lock first (``BEGIN IMMEDIATE``), so
        whatever is read inside is what the commit builds on."""
        with sqlite_errors(self.path):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    @contextlib.contextmanager
    def reading(self) -> Iterator[Ledger]:
        """One consistent snapshot for several reads."""
        with sqlite_errors(self.path):
            self.db.execute("BEGIN")
            try:
                yield self
            finally:
                self.db.execute("ROLLBACK")

    # ------------------------------------------------------------------ meta

    def meta(self, key: str) -> str | None:
        with sqlite_errors(self.path):
            row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # ------------------------------------------------------------------ series

    def series(self, series: str) -> SeriesRecord | None:
        with sqlite_errors(self.path):
            row = self.db.execute(f"SELECT {_SERIES_COLUMNS} FROM series WHERE series = ?", (series,)).fetchone()
        return None if row is None else SeriesRecord(*row)

    def series_at(self, plan_path: str) -> list[SeriesRecord]:
        """Every series whose plan file the ledger last saw at ``plan_path``."""
        with sqlite_errors(self.path):
            rows = self.db.execute(f"SELECT {_SERIES_COLUMNS} FROM series WHERE plan_path = ? ORDER BY series",
                                   (plan_path,)).fetchall()
        return [SeriesRecord(*row) for row in rows]

    def all_series(self) -> list[SeriesRecord]:
        with sqlite_errors(self.path):
            rows = self.db.execute(f"SELECT {_SERIES_COLUMNS} FROM series ORDER BY series").fetchall()
        return [SeriesRecord(*row) for row in rows]

    def replace_series(self, record: SeriesRecord, entries: Iterable[Entry]) -> None:
        """The series' bookings become exactly ``entries`` (call inside :meth:`writing`)."""
        self.release(record.series)
        self.db.execute(f"INSERT INTO series ({_SERIES_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                        (record.series, record.client, record.plan_path, record.plan_sha256, record.committed))
        booking_rows, people_rows = [], []
        for entry in entries:
            booking = entry.booking
            start, end = _seconds(booking.start), _seconds(booking.end)
            held = [(person.role, person.person, None if person.end is None else _seconds(person.end))
                    for person in booking.assigned]
            booking_rows.append((record.series, booking.key, booking.kind, start, end, booking.room,
                                 booking.status, entry.number, entry.total, entry.sequence, json.dumps(held)))
            people_rows += [(record.series, booking.key, position, role, person, start, until or end)
                            for position, (role, person, until) in enumerate(held)]
        self.db.executemany("INSERT INTO bookings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", booking_rows)
        self.db.executemany("INSERT INTO assignments VALUES (?, ?, ?, ?, ?, ?, ?)", people_rows)

    def release(self, series: str) -> int:
        """Drop a series and its bookings (inside :meth:`writing`); how many bookings it held."""
        count = self.db.execute("SELECT COUNT(*) FROM bookings WHERE series = ?", (series,)).fetchone()[0]
        self.db.execute("DELETE FROM assignments WHERE series = ?", (series,))
        self.db.execute("DELETE FROM bookings WHERE series = ?", (series,))
        self.db.execute("DELETE FROM series WHERE series = ?", (series,))
        return int(count)

    # ------------------------------------------------------------------ bookings

    def entries(
        self,
        *,
        exclude: str | None = None,
        only: str | None = None,
        active: bool = True,
        since: datetime | None = None,
        until: datetime | None = None,
        person: str | None = None,
        room: str | None = None,
        ordered: bool = True,
    ) -> list[Entry]:
        """Stored bookings overlapping ``[since, until)``, by start then series and key.

        ``exclude`` leaves one series out (a re-plan's own bookings are not
        busy time for it); ``only`` keeps one; ``active`` keeps the statuses
        that hold people and rooms (missed and cancelled free them).
        Unordered (``ordered=False``) is a plain table scan: about twice as fast
        for planning, which reads every booking and needs no order."""
        where, args = self._filters(exclude, only, active, since, until, person, room)
        order = " ORDER BY b.start_at, b.series, b.key" if ordered else ""
        query = f"SELECT {_BOOKING_COLUMNS} FROM bookings b {'' if ordered else 'NOT INDEXED '}{where}{order}"
        with sqlite_errors(self.path):
            clients = dict(self.db.execute("SELECT series, client FROM series").fetchall())
            rows = self.db.execute(query, args).fetchall()
        people: dict[str, tuple[Assignment, ...]] = {}
        moments: dict[int, datetime] = {}
        return [_entry(row, clients, people, moments) for row in rows]

    def _filters(self, exclude: str | None, only: str | None, active: bool, since: datetime | None,
                 until: datetime | None, person: str | None, room: str | None) -> tuple[str, list[object]]:
        clauses: list[str] = []
        args: list[object] = []
        for clause, value in (("b.series != ?", exclude), ("b.series = ?", only), ("b.room = ?", room),
                              ("b.end_at > ?", since and _seconds(since)),
                              ("b.start_at < ?", until and _seconds(until))):
            if value is not None:
                clauses.append(clause)
                args.append(value)
        if active:
            clauses.append(f"b.status IN ({', '.join('?' * len(ACTIVE_STATUSES))})")
            args += sorted(ACTIVE_STATUSES)
        if person is not None:
            clauses.append("EXISTS (SELECT 1 FROM assignments p WHERE p.series = b.series AND p.key = b.key "
                           "AND p.person = ?)")
            args.append(person)
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", args

    def count(self) -> int:
        with sqlite_errors(self.path):
            return int(self.db.execute("SELECT COUNT(*) FROM bookings").fetchone()[0])


_SERIES_COLUMNS = "series, client, plan_path, plan_sha256, committed"
_BOOKING_COLUMNS = ("b.series, b.key, b.kind, b.start_at, b.end_at, b.room, b.status, b.number, b.total, "
                    "b.sequence, b.people")


def _configure(db: sqlite3.Connection, busy_timeout: float) -> None:
    db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise UsageError(f"cannot use WAL mode here (the file system gave {mode!r}); keep the ledger on a local disk")
    db.execute("PRAGMA synchronous = FULL")  # a commit is on disk before the plan file is renamed
    db.execute("PRAGMA foreign_keys = ON")


def _prepare(db: sqlite3.Connection) -> None:
    """Create or migrate the schema and give a new ledger its id, once, under the write lock."""
    if stored_version(db) == SCHEMA_VERSION:
        return  # the common case: no write lock taken just to open
    db.execute("BEGIN IMMEDIATE")
    try:
        bring_up_to_date(db)
        if db.execute("SELECT 1 FROM meta WHERE key = 'ledger_id'").fetchone() is None:
            db.execute("INSERT INTO meta (key, value) VALUES ('ledger_id', ?)", (str(uuid.uuid4()),))
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _seconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("a booking time must be aware")
    return int(moment.timestamp())


def _moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _entry(row: tuple[Any, ...], clients: dict[str, str], people: dict[str, tuple[Assignment, ...]],
           moments: dict[int, datetime]) -> Entry:
    """A stored row as an Entry; people come from the row's JSON list (no join).

    A clinic's bookings repeat a few hundred people lists and start on a grid
    of times: each distinct list and instant is decoded once per read."""
    series, key, kind, start, end, room, status, number, total, sequence, listed = row
    assigned = people.get(listed)
    if assigned is None:
        assigned = people[listed] = tuple(Assignment(role, person, None if until is None else _moment(until))
                                          for role, person, until in json.loads(listed))
    begins = moments.get(start) or moments.setdefault(start, _moment(start))
    ends = moments.get(end) or moments.setdefault(end, _moment(end))
    booking = Booking(series, clients.get(series, ""), key, kind, begins, ends, assigned, room, status)
    return Entry(booking, number, total, sequence)
