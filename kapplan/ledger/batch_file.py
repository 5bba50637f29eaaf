"""``batch --ledger FILE``: a roster booked into the clinic's ledger file (SPEC §11).

Records are booked in roster order, each in its own write transaction, so
coordinators booking from other terminals meanwhile wait at most one record,
and every record's plan is checked against what they booked. The bookings
are read into the engine's busy index once and kept up to date record by
record; they are read again only when another process committed since
(SQLite's ``data_version`` tells). A record is committed before its files are
renamed into place, as ``plan -o`` does; a record whose plan file in
``--out`` differs from what the ledger committed fails with the sync/release
fix, and the others go on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from kapplan.engine import BusyIndex
from kapplan.ledger.booking import Booker, absolute, check_path_unclaimed, check_reconciled
from kapplan.ledger.bookings import plan_bookings
from kapplan.ledger.store import Ledger
from kapplan.models.client import Clinic
from kapplan.models.errors import InputError, UsageError
from kapplan.models.plan import Plan


class FileLedgerBatch:
    """One batch's connection to a ledger file; plans records one by one."""

    def __init__(self, path: str | Path, clinic: Clinic, now: datetime) -> None:
        self.ledger = Ledger.open(path)
        self.clinic = clinic
        self.now = now
        self.index = BusyIndex(clinic)
        self._version: int | None = None

    def close(self) -> None:
        self.ledger.close()

    def plan_record(self, plan_path: Path, make: Callable[[BusyIndex], Plan]) -> Plan:
        """Plan one record with ``make`` (given the busy index without the record's
        own series) and book it; returns the plan to write, with its booking record."""
        target = absolute(plan_path)
        current, data = _plan_on_disk(target)
        self._check_same_ledger(current, target)
        try:
            with self.ledger.writing():
                self._refresh()
                if current is not None and data is not None:
                    check_reconciled(self.ledger, current, target, data)
                check_path_unclaimed(self.ledger, target, current)
                if current is not None:
                    self.index.drop(current.series)
                booker = Booker(self.ledger, target, current, self.now)
                booked, _ = booker.stage(make(self.index))
        except BaseException:
            self._version = None  # the index may hold half a change: read it all again next time
            raise
        self.index.drop(booked.series)
        self.index.add(plan_bookings(booked))
        return booked

    def _check_same_ledger(self, current: Plan | None, target: Path) -> None:
        """A plan in --out booked in another ledger keeps that ledger (refused here)."""
        if current is not None and current.booking is not None and current.booking.ledger_id != self.ledger.id:
            raise UsageError(f"{target}: this plan is booked in the ledger {current.booking.ledger}; --ledger "
                             f"{self.ledger.path} is another ledger (a booked plan keeps its ledger)")

    def _refresh(self) -> None:
        """Read every active booking again when another process committed since the last read."""
        version = int(self.ledger.db.execute("PRAGMA data_version").fetchone()[0])
        if version == self._version:
            return
        self.index = BusyIndex(self.clinic, (e.booking for e in self.ledger.entries(ordered=False)))
        self._version = version


def _plan_on_disk(path: Path) -> tuple[Plan | None, bytes | None]:
    """The plan a file holds and its bytes; None for no file or not a plan."""
    from kapplan.io.plan_files import parse_plan, read_plan_bytes

    if not path.is_file():
        return None, None
    try:
        data = read_plan_bytes(path)
        return parse_plan(data, str(path)), data
    except (InputError, UsageError):
        return None, None


def open_batch_ledger(path: str | Path, clinic: Clinic | None, formats: tuple[str, ...],
                      now: datetime) -> FileLedgerBatch:
    """The ledger of a batch run; refused unless the batch books a clinic's people into plan files."""
    if clinic is None or not clinic.has_capacity:
        raise UsageError("--ledger books a clinic's people and rooms: give --clinic FILE with staff or rooms")
    if "json" not in formats:
        raise UsageError("--ledger books plan files: --format must include json")
    return FileLedgerBatch(path, clinic, now)


__all__ = ["FileLedgerBatch", "open_batch_ledger"]
