"""The in-memory ledger of one ``batch --clinic`` run (SPEC §11).

Records are booked in roster order, first come, first served: each record is
planned against the bookings of every record before it, and of the plans
already in the output folder made with the same clinic. A record planned
again replaces its old plan's bookings; when it fails, its old plan stays on
disk and so do its bookings.
"""

from __future__ import annotations

from pathlib import Path

from kapplan.engine import BusyIndex, Dropped
from kapplan.ledger.bookings import plan_bookings
from kapplan.models.client import Clinic
from kapplan.models.plan import Plan


class MemoryLedger:
    """Bookings by client id (case-insensitive, as batch ids are), indexed for the engine."""

    def __init__(self, clinic: Clinic) -> None:
        self.clinic = clinic
        self.index = BusyIndex(clinic)
        self._held: dict[str, set[str]] = {}  # client id (casefolded) -> the series booked for it

    @classmethod
    def seeded(cls, clinic: Clinic, folder: Path) -> MemoryLedger:
        """A ledger holding the plans in ``folder`` that were made with this clinic."""
        from kapplan.io.plan_files import plan_on_disk

        ledger = cls(clinic)
        if folder.is_dir():
            for path in sorted(folder.glob("*.json")):
                plan = plan_on_disk(path)
                if plan is not None and (plan.clinic or {}).get("id") == clinic.id:
                    ledger.book(plan)
        return ledger

    def release(self, client: str) -> list[Dropped]:
        """Take a client's bookings out (it is about to be planned again); returns what
        they held, for :meth:`restore`. The index alone keeps bookings (no copy of the
        plans' booking records per client: a roster of thousands would hold them all)."""
        return [self.index.drop(series) for series in sorted(self._held.pop(client.casefold(), set()))]

    def restore(self, client: str, held: list[Dropped]) -> None:
        """Put back what :meth:`release` took (the new plan failed; the old one stays)."""
        if held:
            self._held[client.casefold()] = {dropped.series for dropped in held}
            for dropped in held:
                self.index.restore(dropped)

    def book(self, plan: Plan) -> None:
        client = str(plan.client.get("id", ""))
        self.release(client)
        bookings = plan_bookings(plan)
        self._held[client.casefold()] = {b.series for b in bookings}
        self.index.add(bookings)


__all__ = ["MemoryLedger"]
