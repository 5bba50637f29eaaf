"""A plan file and its bookings (SPEC §11): which ledger a plan uses, whether
the file is the one the ledger committed, and the transaction that books it.

The order of every writing command: lock the plan file (SPEC §14), open the
ledger's write transaction (``BEGIN IMMEDIATE``: a second coordinator waits
here), check the file against the ledger, read the other series' bookings as
busy time, plan, re-check every conflict, replace the series' bookings,
commit, and only then rename the new plan file into place. A crash before the
commit changes nothing; a crash after it leaves a file whose sha256 differs
from the ledger's, which the next command refuses with the one-line fix.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from kapplan.ledger.store import Entry, Ledger, SeriesRecord
from kapplan.models.booking import Booking
from kapplan.models.client import Clinic
from kapplan.models.errors import ExitCode, KapplanError, UsageError
from kapplan.models.plan import Plan, PlanBooking, format_utc

CHECKED_STATUSES = frozenset({"planned", "tentative"})
"""Bookings whose conflicts are re-checked: a done session is what happened."""


class LedgerMismatchError(KapplanError):
    """A booked plan file is not the one its ledger committed (exit 1)."""

    exit_code = ExitCode.INVALID_INPUT


class BookingConflictError(KapplanError):
    """New bookings would put a person or room over capacity."""

    def __init__(self, message: str, exit_code: ExitCode) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def absolute(path: str | Path) -> Path:
    """The path a ledger records: absolute, symbolic links followed."""
    return Path(os.path.realpath(path))


def fixes(plan_path: Path | str, series: str, ledger: Path | str, *, sync: bool = True) -> str:
    """The one-line fixes a refusal names."""
    release = f"'kapplan ledger release {series} --ledger {ledger}' to drop its bookings"
    if not sync:
        return f"run {release}"
    return (f"run 'kapplan ledger sync {plan_path}' to re-check the file's sessions and adopt them as the "
            f"series' bookings, or {release}")


# --------------------------------------------------------------------------- which ledger


def open_plan_ledger(plan: Plan | None, plan_path: Path | str, flag: str | Path | None, *,
                     writing: bool) -> tuple[Ledger | None, list[str]]:
    """The ledger a command on ``plan`` uses, and warnings to show.

    A booked plan uses the ledger it records, matched by ``ledger_id`` (a
    ``--ledger`` naming another is refused); when that ledger cannot be
    reached, a writing command is refused (exit 2) and a reading one gets a
    warning and no ledger. An unbooked plan uses ``--ledger`` when given."""
    if plan is None or plan.booking is None:
        if flag is None:
            return None, []
        ledger = Ledger.open(flag)
        return ledger, list(ledger.warnings)
    record = plan.booking
    if flag is not None and absolute(flag) != absolute(record.ledger):
        named = Ledger.open(flag, create=False)
        if named.id != record.ledger_id:
            named.close()
            raise UsageError(f"{plan_path}: this plan is booked in the ledger {record.ledger}; --ledger {flag} "
                             "is another ledger (a booked plan keeps its ledger)")
        return named, list(named.warnings)  # the same ledger, moved
    try:
        ledger = Ledger.open(record.ledger, create=False)
    except UsageError as err:
        return _unreachable(plan_path, record, err.message, writing)
    if ledger.id != record.ledger_id:
        ledger.close()
        return _unreachable(plan_path, record, f"{record.ledger}: holds another ledger (its id differs)", writing)
    return ledger, list(ledger.warnings)


def _unreachable(plan_path: Path | str, record: PlanBooking, why: str,
                 writing: bool) -> tuple[None, list[str]]:
    if writing:
        raise UsageError(f"{plan_path}: the plan is booked in the ledger {record.ledger}, which cannot be reached "
                         f"({why}); nothing was changed")
    return None, [f"{plan_path}: the plan is booked in the ledger {record.ledger}, which cannot be reached "
                  f"({why}); its bookings were not checked"]


# --------------------------------------------------------------------------- reconcile


def check_reconciled(ledger: Ledger, plan: Plan, plan_path: Path | str, data: bytes) -> SeriesRecord | None:
    """Refuse (exit 1) a plan file whose bytes are not those the ledger committed
    for its series; None when the ledger no longer holds the series (released)."""
    record = ledger.series(plan.series)
    if record is not None and record.plan_sha256 != sha256_hex(data):
        raise LedgerMismatchError(
            f"{plan_path}: the plan file differs from what the ledger {ledger.path} committed for its series "
            f"(edited by hand, restored from a backup, or a command was interrupted); "
            + fixes(plan_path, plan.series, ledger.path))
    return record


def check_path_unclaimed(ledger: Ledger, plan_path: Path, current: Plan | None) -> None:
    """Refuse to write a plan where the ledger holds another series' bookings
    whose file is gone or replaced behind its back (a command interrupted
    after its commit, a file deleted or overwritten by hand)."""
    mine = current.series if current is not None else None
    for stale in ledger.series_at(str(plan_path)):
        if stale.series == mine:
            continue
        state = "is missing" if current is None else f"now holds series {mine}"
        raise LedgerMismatchError(
            f"{plan_path}: the ledger {ledger.path} holds bookings of series {stale.series} (client "
            f"{stale.client}) for this file, but the file {state}; "
            + fixes(plan_path, stale.series, ledger.path, sync=current is not None))


# --------------------------------------------------------------------------- booking


@dataclass
class Booker:
    """One open write transaction on a ledger, for one plan file."""

    ledger: Ledger
    plan_path: Path
    current: Plan | None
    now: datetime
    warnings: list[str] = field(default_factory=list)
    held: bool = False
    _read: dict[str | None, list[Booking]] = field(default_factory=dict)

    @property
    def unbooked(self) -> bool:
        """The file's plan is not (or no longer, after a release) booked in this ledger:
        a writing command books it even when the plan itself does not change."""
        return self.current is not None and not self.held

    def busy(self, series: str | None) -> list[Booking]:
        """Every other series' active bookings from yesterday on: busy time for planning.

        Read once per transaction: the write lock is held from this read to the
        commit, so no other process can have changed them meanwhile."""
        if series not in self._read:
            since = self.now - timedelta(days=1)
            found = self.ledger.entries(exclude=series, since=since, ordered=False)
            self._read[series] = [entry.booking for entry in found]
        return self._read[series]

    def stage(self, plan: Plan, *, conflict_exit: ExitCode = ExitCode.INFEASIBLE,
              data: bytes | None = None) -> tuple[Plan, bytes]:
        """Record ``plan`` as its series' bookings inside the open transaction.

        Returns the plan with its ``booking`` record and the exact bytes to
        write (whose sha256 the ledger now holds). Every conflict with other
        series is re-checked first; a previous series at this file (a change of
        series) is released in the same transaction. ``data``: the bytes the
        file already holds, kept when it records this ledger already."""
        from kapplan.planning.embedded import clinic_of

        clinic = clinic_of(plan)
        if clinic is None:
            raise UsageError(f"{self.plan_path}: a plan booked in the ledger {self.ledger.path} books a clinic's "
                             "people and rooms: plan it with --clinic FILE (or drop its bookings first with "
                             "'kapplan ledger release SERIES --ledger FILE')")
        self._claim_clinic(clinic)
        record = PlanBooking(ledger=str(self.ledger.path), ledger_id=self.ledger.id, clinic=clinic.id)
        if data is None or plan.booking != record:
            plan = plan.model_copy(update={"booking": record})
            data = plan.to_json().encode("utf-8")
        booked = plan
        entries = plan_entries(booked)
        if self.current is not None and self.current.series != booked.series:
            self.ledger.release(self.current.series)  # first: the new series may take its times
        self._recheck(clinic, [e.booking for e in entries], conflict_exit)
        self.ledger.replace_series(SeriesRecord(booked.series, str(booked.client.get("id", "")),
                                                str(self.plan_path), sha256_hex(data), format_utc(self.now)), entries)
        return booked, data

    def _claim_clinic(self, clinic: Clinic) -> None:
        """A ledger books one clinic: the first booking names it."""
        held = self.ledger.meta("clinic")
        if held is not None and held != clinic.id:
            raise UsageError(f"{self.ledger.path}: this ledger books the clinic '{held}', not '{clinic.id}'; "
                             "use that clinic's ledger")
        self.ledger.set_meta("clinic", clinic.id)
        self.ledger.set_meta("timezone", clinic.timezone)

    def _recheck(self, clinic: Clinic, new: list[Booking], exit_code: ExitCode) -> None:
        from kapplan.ledger.conflicts import conflicts

        checked = [b for b in new if b.status in CHECKED_STATUSES]
        if not checked:
            return
        series = checked[0].series
        if series in self._read and min(b.start for b in checked) >= self.now:
            # what planning read, unchanged under the write lock
            others = _sharing_resources(self._read[series], checked)
        else:
            since = min(b.start for b in checked) - timedelta(days=1)
            until = max(b.end for b in checked) + timedelta(days=1)
            others = [e.booking for e in self.ledger.entries(exclude=series, since=since, until=until)]
        found = conflicts(clinic, others, checked)
        if found:
            lines = "; ".join(f"{c.resource} {c.id} at {c.at.isoformat()}: {c.reason}" for c in found[:5])
            more = f" (and {len(found) - 5} more)" if len(found) > 5 else ""
            raise BookingConflictError(f"{self.plan_path}: the sessions conflict with other bookings in "
                                       f"{self.ledger.path}: {lines}{more}", exit_code)


def _sharing_resources(others: list[Booking], new: list[Booking]) -> list[Booking]:
    """The bookings holding a person or room that ``new`` holds: the only ones a
    conflict can involve (a clinic's other people and rooms are not touched)."""
    people = {a.person for b in new for a in b.assigned}
    rooms = {b.room for b in new if b.room is not None}
    return [b for b in others if b.room in rooms or any(a.person in people for a in b.assigned)]


def plan_entries(plan: Plan) -> list[Entry]:
    """The plan's bookings with each session's number and calendar SEQUENCE."""
    from kapplan.export.numbers import session_numbers
    from kapplan.ledger.bookings import plan_bookings

    numbers = session_numbers(plan)
    sequences = {s.key: s.sequence for s in plan.sessions}
    out = []
    for booking in plan_bookings(plan):
        number, total = numbers.get(booking.key, (None, None))
        out.append(Entry(booking, number, total, sequences.get(booking.key, 0)))
    return out


@contextlib.contextmanager
def booking_transaction(plan_path: Path, current: Plan | None, data: bytes | None, flag: str | Path | None, *,
                        now: datetime) -> Iterator[Booker | None]:
    """The ledger's write transaction for a command that writes ``plan_path``
    (already locked), which now holds ``current`` (``data``: its bytes), or
    nothing. Yields None when no ledger is involved; commits on a clean exit."""
    ledger, warnings = open_plan_ledger(current, plan_path, flag, writing=True)
    if ledger is None:
        yield None
        return
    with ledger, ledger.writing():
        held = None
        if current is not None and data is not None:
            held = check_reconciled(ledger, current, plan_path, data)
        check_path_unclaimed(ledger, plan_path, current)
        yield Booker(ledger, plan_path, current, now, warnings, held is not None)
