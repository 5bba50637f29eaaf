"""The ledger's tables, their version, and the migrations between versions.

A ledger file outlives the kapplan that made it: every file records its
schema version, an older one is brought forward in one transaction the first
time a newer kapplan opens it, and a newer one is refused rather than
misread. Version 1 kept times as ISO text and a session's people as a JSON
list; version 2 keeps instants as integer seconds (plans place sessions to the
minute; an actual start given with seconds keeps them) and also one row per person,
so "is this person free?" is an indexed range query (the booking row keeps
its people as a compact JSON list too, so loading every booking for planning
needs no join), and records each
session's number ("3 of 6") and calendar SEQUENCE for the staff and room
calendars.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime

from kapplan.models.errors import UsageError

SCHEMA_VERSION = 2

VERSION_1 = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE series (
    series TEXT PRIMARY KEY, client TEXT NOT NULL, plan_path TEXT NOT NULL, plan_sha256 TEXT NOT NULL
);
CREATE TABLE bookings (
    series TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL, start TEXT NOT NULL, "end" TEXT NOT NULL,
    people TEXT NOT NULL, room TEXT, status TEXT NOT NULL, PRIMARY KEY (series, key)
);
"""
"""The first layout, kept to document what migration 1 -> 2 reads (and to build test files)."""

_VERSION_2_TABLES = """
CREATE TABLE bookings2 (
    series TEXT NOT NULL REFERENCES series (series) ON DELETE CASCADE,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    start_at INTEGER NOT NULL,
    end_at INTEGER NOT NULL,
    room TEXT,
    status TEXT NOT NULL,
    number INTEGER,
    total INTEGER,
    sequence INTEGER NOT NULL DEFAULT 0,
    people TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (series, key)
) WITHOUT ROWID;
"""

_VERSION_2_PEOPLE = """
CREATE TABLE assignments (
    series TEXT NOT NULL,
    key TEXT NOT NULL,
    position INTEGER NOT NULL,
    role TEXT NOT NULL,
    person TEXT NOT NULL,
    start_at INTEGER NOT NULL,
    end_at INTEGER NOT NULL,
    PRIMARY KEY (series, key, position),
    FOREIGN KEY (series, key) REFERENCES bookings (series, key) ON DELETE CASCADE
) WITHOUT ROWID;
"""

_VERSION_2_INDEXES = """
CREATE INDEX bookings_by_start ON bookings (start_at);
CREATE INDEX bookings_by_room ON bookings (room, start_at);
CREATE INDEX assignments_by_person ON assignments (person, start_at);
CREATE INDEX series_by_path ON series (plan_path);
"""


def create_latest(db: sqlite3.Connection) -> None:
    """A new ledger: version 1, then every migration (inside the caller's
    transaction), so a new file and a migrated one have the same tables."""
    for statement in _statements(VERSION_1):
        db.execute(statement)
    for step in range(1, SCHEMA_VERSION):
        MIGRATIONS[step](db)
    db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]


def _seconds(text: str) -> int:
    """An ISO instant of version 1 -> integer seconds since the epoch."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("a version-1 booking time without an offset")
    return int(moment.timestamp())


def migrate_1_to_2(db: sqlite3.Connection) -> None:
    """Times as seconds, one row per assigned person, a commit time per series.

    The people table is made after the old bookings table is dropped: its
    rows would otherwise be deleted with it (``ON DELETE CASCADE``)."""
    db.execute("ALTER TABLE series ADD COLUMN committed TEXT NOT NULL DEFAULT ''")
    db.execute(_VERSION_2_TABLES)
    rows = db.execute('SELECT series, key, kind, start, "end", people, room, status FROM bookings').fetchall()
    people = []
    for series, key, kind, start, end, listed, room, status in rows:
        start_at, end_at = _seconds(start), _seconds(end)
        held = [(p["role"], p["id"], _seconds(p["end"]) if p.get("end") else None) for p in json.loads(listed)]
        db.execute("INSERT INTO bookings2 VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, 0, ?)",
                   (series, key, kind, start_at, end_at, room, status, json.dumps(held)))
        people += [(series, key, position, role, person, start_at, until or end_at)
                   for position, (role, person, until) in enumerate(held)]
    db.execute("DROP TABLE bookings")
    db.execute("ALTER TABLE bookings2 RENAME TO bookings")
    db.execute(_VERSION_2_PEOPLE)
    db.executemany("INSERT INTO assignments VALUES (?, ?, ?, ?, ?, ?, ?)", people)
    for statement in _statements(_VERSION_2_INDEXES):
        db.execute(statement)


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: migrate_1_to_2}
"""From version N to N + 1."""


def stored_version(db: sqlite3.Connection) -> int | None:
    """The file's schema version; None for a new, empty database."""
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        return None
    if "schema_version" not in tables:
        raise UsageError("is an SQLite database but not a kapplan ledger")
    row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
    if row is None or row[0] is None:
        raise UsageError("is a damaged kapplan ledger: it records no schema version")
    return int(row[0])


def bring_up_to_date(db: sqlite3.Connection) -> int | None:
    """Create or migrate the schema inside the caller's write transaction.

    Returns the version the file had (None when new); a file from a newer
    kapplan is refused, never read with the wrong idea of its tables."""
    version = stored_version(db)
    if version is None:
        create_latest(db)
        return None
    if version > SCHEMA_VERSION:
        raise UsageError(f"was written by a newer kapplan (ledger schema {version}, this one reads up to "
                         f"{SCHEMA_VERSION}); upgrade kapplan")
    for step in range(version, SCHEMA_VERSION):
        MIGRATIONS[step](db)
    if version != SCHEMA_VERSION:
        db.execute("DELETE FROM schema_version")
        db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
    return version
