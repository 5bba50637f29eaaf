"""The SQLite ledger file itself: WAL mode, file modes, schema versions and
migrations, network mounts, and the bookings it stores and gives back."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kapplan.ledger.mounts import check_local_folder, mount_type
from kapplan.ledger.schema import SCHEMA_VERSION, VERSION_1
from kapplan.ledger.store import Entry, Ledger, SeriesRecord
from kapplan.models.booking import Assignment, Booking
from kapplan.models.errors import UsageError

SERIES = "7f0c3a52-2d0e-4b8e-9a51-0d2b1f6c9e11"
OTHER = "0b7c0f4e-57a5-4a4c-9a7e-3a3b7a3c0a01"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def booking(key: str, day: int, hour: int, *, series: str = SERIES, people: tuple[Assignment, ...] = (),
            room: str | None = None, status: str = "planned", kind: str = "dosing") -> Booking:
    return Booking(series=series, client="C-1" if series == SERIES else "C-2", key=key, kind=kind,
                   start=at(day, hour), end=at(day, hour + 2), assigned=people, room=room, status=status)


def record(series: str = SERIES, path: str = "/plans/c1.plan.json", sha: str = "ab" * 32) -> SeriesRecord:
    return SeriesRecord(series, "C-1" if series == SERIES else "C-2", path, sha, "2026-12-01T15:00:00Z")


def test_a_new_ledger_is_wal_owner_only_and_at_the_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "clinic.ledger"
    with Ledger.open(path) as ledger:
        assert len(ledger.id) == 36
        assert ledger.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert ledger.db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        assert int(ledger.db.execute("PRAGMA busy_timeout").fetchone()[0]) >= 1000
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with Ledger.open(path) as again:
        assert again.id == ledger.id  # the id is made once


def test_a_ledger_in_a_group_writable_folder_is_group_read_writable(tmp_path: Path) -> None:
    shared = tmp_path / "coordinators"
    shared.mkdir()
    shared.chmod(0o2770)
    old = os.umask(0o022)
    try:
        with Ledger.open(shared / "clinic.ledger") as ledger:
            ledger.db.execute("CREATE TEMP TABLE t (x)")
            with ledger.writing():
                ledger.replace_series(record(), [Entry(booking("medicine-1", 7, 14))])
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in shared.iterdir()}
    finally:
        os.umask(old)
    assert modes["clinic.ledger"] == 0o660
    assert modes.get("clinic.ledger-wal", 0o660) == 0o660  # SQLite gives its side files the same mode


def test_bookings_round_trip_with_people_rooms_and_partial_roles(tmp_path: Path) -> None:
    prescriber = Assignment("prescriber", "ortiz", at(7, 14, 30))
    first = booking("medicine-1", 7, 14, people=(Assignment("therapist", "kim"), prescriber), room="room-a")
    second = booking("medicine-2", 14, 14, people=(Assignment("therapist", "kim"),), room="room-a",
                     status="missed")
    other = booking("medicine-1", 7, 15, series=OTHER, people=(Assignment("therapist", "lee"),), room="room-b")
    with Ledger.open(tmp_path / "l.db") as ledger:
        with ledger.writing():
            ledger.replace_series(record(), [Entry(first, 1, 6), Entry(second, 2, 6)])
            ledger.replace_series(record(OTHER, "/plans/c2.plan.json"), [Entry(other)])
        assert [e.booking for e in ledger.entries()] == [first, other]  # missed frees its people and room
        assert [e.booking for e in ledger.entries(active=False)] == [first, other, second]
        assert ledger.entries()[0].number == 1
        assert ledger.entries()[0].total == 6
        assert [e.booking for e in ledger.entries(exclude=SERIES)] == [other]
        assert [e.booking for e in ledger.entries(person="kim", active=False)] == [first, second]
        assert [e.booking for e in ledger.entries(room="room-b")] == [other]
        assert [e.booking for e in ledger.entries(since=at(8, 0), active=False)] == [second]
        assert ledger.entries(since=at(7, 16), until=at(7, 17)) == [Entry(other)]
        assert ledger.series(SERIES) == record()
        assert ledger.series_at("/plans/c2.plan.json") == [record(OTHER, "/plans/c2.plan.json")]
        with ledger.writing():
            assert ledger.release(SERIES) == 2
        assert [e.booking for e in ledger.entries(active=False)] == [other]
        assert ledger.series(SERIES) is None
        assert ledger.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_series_is_replaced_as_a_whole(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "l.db") as ledger:
        with ledger.writing():
            ledger.replace_series(record(), [Entry(booking("a", 7, 9)), Entry(booking("b", 8, 9))])
        with ledger.writing():
            ledger.replace_series(record(sha="cd" * 32), [Entry(booking("a", 9, 9))])
        assert [(e.booking.key, e.booking.start) for e in ledger.entries()] == [("a", at(9, 9))]
        assert ledger.series(SERIES).plan_sha256 == "cd" * 32


def test_a_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "l.db") as ledger:
        def interrupted() -> None:
            with ledger.writing():
                ledger.replace_series(record(), [Entry(booking("a", 7, 9))])
                raise RuntimeError("interrupted")

        with pytest.raises(RuntimeError):
            interrupted()
        assert ledger.entries(active=False) == []
        assert ledger.all_series() == []


def make_version_1_file(path: Path) -> None:
    """A ledger as the first schema wrote it, by hand: ISO times, people as JSON."""
    db = sqlite3.connect(path)
    db.executescript(VERSION_1)
    db.execute("INSERT INTO schema_version VALUES (1)")
    db.execute("INSERT INTO meta VALUES ('ledger_id', '5d9f7f0e-8f0a-4d5c-9a53-8a1a8b4c2e10')")
    db.execute("INSERT INTO series VALUES (?, 'C-1', '/plans/c1.plan.json', ?)", (SERIES, "ab" * 32))
    people = json.dumps([{"role": "therapist", "id": "kim"},
                         {"role": "prescriber", "id": "ortiz", "end": "2026-12-07T09:30:00-05:00"}])
    db.execute("INSERT INTO bookings VALUES (?, 'medicine-1', 'dosing', '2026-12-07T09:00:00-05:00', "
               "'2026-12-07T11:00:00-05:00', ?, 'room-a', 'planned')", (SERIES, people))
    db.execute("INSERT INTO bookings VALUES (?, 'medicine-2', 'dosing', '2026-12-14T09:00:00-05:00', "
               "'2026-12-14T11:00:00-05:00', '[]', NULL, 'cancelled')", (SERIES,))
    db.commit()
    db.close()


def test_a_version_1_file_is_migrated_with_every_booking(tmp_path: Path) -> None:
    path = tmp_path / "old.ledger"
    make_version_1_file(path)
    with Ledger.open(path) as ledger:
        assert ledger.id == "5d9f7f0e-8f0a-4d5c-9a53-8a1a8b4c2e10"
        assert ledger.db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        found = [e.booking for e in ledger.entries(active=False)]
        assert ledger.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert ledger.db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert found == [
        Booking(SERIES, "C-1", "medicine-1", "dosing", at(7, 14), at(7, 16),
                (Assignment("therapist", "kim"), Assignment("prescriber", "ortiz", at(7, 14, 30))), "room-a"),
        Booking(SERIES, "C-1", "medicine-2", "dosing", at(14, 14), at(14, 16), (), None, "cancelled"),
    ]
    with Ledger.open(path) as again:  # migrated once; the second opening reads it as it is
        assert [e.booking for e in again.entries(active=False)] == found


def test_a_migrated_file_has_the_tables_of_a_new_one(tmp_path: Path) -> None:
    make_version_1_file(tmp_path / "old.ledger")

    def tables(path: Path) -> list[tuple[str, str]]:
        with Ledger.open(path) as ledger:
            return ledger.db.execute("SELECT type, name FROM sqlite_master ORDER BY type, name").fetchall()

    assert tables(tmp_path / "old.ledger") == tables(tmp_path / "new.ledger")


def test_files_that_are_not_ledgers_are_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all, just some notes that are long enough\n" * 20)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE x (y)").connection.close()
    newer = tmp_path / "newer.ledger"
    with Ledger.open(newer) as ledger, ledger.writing():
        ledger.db.execute("UPDATE schema_version SET version = 99")
    for path, words in ((text, "not a usable kapplan ledger"), (other, "not a kapplan ledger"),
                        (newer, "newer kapplan"), (tmp_path, "is a folder"),
                        (tmp_path / "missing" / "l.db", "does not exist")):
        with pytest.raises(UsageError, match=words) as err:
            Ledger.open(path)
        assert err.value.exit_code == 2
    with pytest.raises(UsageError, match="no such ledger"):
        Ledger.open(tmp_path / "absent.ledger", create=False)
    assert not (tmp_path / "absent.ledger").exists()


MOUNTS = r"""22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:35 / /mnt/share rw,relatime - nfs4 srv:/export rw,vers=4.2
41 22 0:36 / /mnt/coordinators\040office rw - cifs //srv/office rw
42 22 0:37 / /home/kim/remote rw - fuse.sshfs kim@host: rw
43 22 0:38 / /mnt/wsl rw - 9p drvfs rw
44 40 0:39 / /mnt/share/local rw - ext4 /dev/sdb1 rw
"""


@pytest.mark.parametrize(("folder", "kind"), [
    ("/home/kim", "ext4"), ("/mnt/share", "nfs4"), ("/mnt/share/clinic", "nfs4"), ("/mnt/shared", "ext4"),
    ("/mnt/coordinators office/x", "cifs"), ("/home/kim/remote/l", "fuse.sshfs"), ("/mnt/wsl/c", "9p"),
    ("/mnt/share/local/l", "ext4"),
])
def test_the_mount_type_of_a_folder_is_read_from_mountinfo(folder: str, kind: str) -> None:
    assert mount_type(folder, MOUNTS) == kind


@pytest.mark.parametrize("folder", ["/mnt/share/clinic", "/mnt/coordinators office", "/home/kim/remote",
                                    "/mnt/wsl"])
def test_network_mounts_are_refused_on_linux(folder: str) -> None:
    with pytest.raises(UsageError, match="local disk") as err:
        check_local_folder(Path(folder), platform="linux", mountinfo=MOUNTS)
    assert err.value.exit_code == 2


def test_a_local_folder_is_accepted_and_other_systems_warn() -> None:
    assert check_local_folder(Path("/mnt/share/local"), platform="linux", mountinfo=MOUNTS) is None
    warning = check_local_folder(Path("/Users/kim"), platform="darwin")
    assert warning is not None
    assert "local disk" in warning


# ---------------------------------------------------------------------- properties

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,8}", fullmatch=True)
_instants = st.integers(min_value=1_790_000_000, max_value=1_830_000_000).map(
    lambda s: datetime.fromtimestamp(s, UTC))


@st.composite
def _bookings(draw: st.DrawFn) -> list[Booking]:
    keys = draw(st.lists(_ids, min_size=1, max_size=6, unique=True))
    out = []
    for key in keys:
        start = draw(_instants)
        end = start + timedelta(seconds=draw(st.integers(min_value=60, max_value=8 * 3600)))  # to the second
        people = draw(st.lists(st.tuples(_ids, _ids, st.booleans()), max_size=3))
        assigned = tuple(Assignment(role, person, start + timedelta(seconds=30) if part else None)
                         for role, person, part in people)
        out.append(Booking(SERIES, "C-1", key, draw(st.sampled_from(["dosing", "integration"])), start, end,
                           assigned, draw(st.none() | _ids),
                           draw(st.sampled_from(["planned", "done", "missed", "cancelled", "tentative"]))))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bookings=_bookings())
def test_any_bookings_round_trip_exactly(tmp_path: Path, bookings: list[Booking]) -> None:
    path = tmp_path / "prop.ledger"
    with Ledger.open(path) as ledger:
        with ledger.writing():
            ledger.replace_series(record(), [Entry(b) for b in bookings])
        back = {e.booking.key: e.booking for e in ledger.entries(active=False)}
        assert back == {b.key: b for b in bookings}
        active = {e.booking.key for e in ledger.entries()}
        assert active == {b.key for b in bookings if b.active}
        for person in {a.person for b in bookings for a in b.assigned}:
            mine = {e.booking.key for e in ledger.entries(person=person, active=False)}
            assert mine == {b.key for b in bookings if any(a.person == person for a in b.assigned)}
        with ledger.writing():
            ledger.release(SERIES)
    path.unlink()


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=400), folder=st.text(min_size=1, max_size=40))
def test_mountinfo_parsing_never_fails(text: str, folder: str) -> None:
    found = mount_type("/" + folder, text + "\n" + MOUNTS)
    assert found is not None
