"""``kapplan ledger sync PLAN`` and ``kapplan ledger release SERIES`` (SPEC §11):
the two ways to make a ledger and a plan file agree again.

``sync`` trusts the file: its sessions are re-checked against every other
series' bookings and, when none conflicts, become the series' bookings (a
series the ledger kept for the same file, whose file is gone, is released in
the same transaction). ``release`` trusts neither: the series' bookings are
dropped, and the plan can be re-planned and booked again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from kapplan.ledger.booking import Booker, check_path_unclaimed, open_plan_ledger
from kapplan.ledger.store import Ledger
from kapplan.models.errors import ExitCode, InputError, UsageError
from kapplan.models.plan import Plan


@dataclass(frozen=True)
class SyncOutcome:
    """What ``ledger sync`` did: the series adopted, bookings now held, series released."""

    plan_path: Path
    plan: Plan
    ledger: Path
    series: str
    bookings: int
    released: list[str] = field(default_factory=list)
    rewritten: bool = False

    def as_dict(self) -> dict[str, object]:
        return {"plan": str(self.plan_path), "series": self.series, "ledger": str(self.ledger),
                "bookings": self.bookings, "released": self.released, "rewritten": self.rewritten}


def sync_plan(target: Path, current: Plan, data: bytes, flag: str | Path | None, *, now: datetime) -> SyncOutcome:
    """Adopt the plan file at ``target`` (locked by the caller) as its series' bookings.

    An unbooked plan needs ``flag`` (the ledger to book it in); its file then
    gains the ``booking`` record and is rewritten (the caller writes it)."""
    if current.booking is None and flag is None:
        raise UsageError(f"{target}: this plan is not booked in a ledger; name one with --ledger FILE")
    ledger, warnings = open_plan_ledger(current, target, flag, writing=True)
    assert ledger is not None
    with ledger, ledger.writing():
        released = [r.series for r in ledger.series_at(str(target)) if r.series != current.series]
        for series in released:
            ledger.release(series)
        check_path_unclaimed(ledger, target, current)
        booker = Booker(ledger, target, current, now, warnings)
        booked, payload = booker.stage(current, conflict_exit=ExitCode.INVALID_INPUT, data=data)
        count = len(ledger.entries(only=current.series, active=False))
    return SyncOutcome(target, booked, ledger.path, current.series, count, released, rewritten=payload != data)


def release_series(series: str, ledger_path: str | Path) -> tuple[int, str]:
    """Drop a series and its bookings; (bookings dropped, its plan file's path)."""
    with Ledger.open(ledger_path, create=False) as ledger, ledger.writing():
        record = ledger.series(series)
        if record is None:
            raise InputError([], f"{ledger.path}: holds no series {series}; 'kapplan agenda --ledger "
                                 f"{ledger.path} --format json' lists the booked series")
        return ledger.release(series), record.plan_path
