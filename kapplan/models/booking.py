"""A booking: one session's claim on a clinic's people and room (SPEC §11).

The one shape shared by the engine (other series' bookings are busy time),
the in-memory ledger of a batch and the SQLite ledger file, so that every
place that asks "is this person free?" reads the same facts.
"""

from dataclasses import dataclass
from datetime import datetime

ACTIVE_STATUSES = frozenset({"planned", "done", "tentative"})
"""Statuses that hold their people and room; missed and cancelled free them."""


@dataclass(frozen=True, slots=True)
class Assignment:
    """One role of a session filled by one person; ``end`` when needed for part of it only."""

    role: str
    person: str
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class Booking:
    """A session of one series as the clinic's calendars see it (aware instants only)."""

    series: str
    client: str
    key: str
    kind: str
    start: datetime
    end: datetime
    assigned: tuple[Assignment, ...] = ()
    room: str | None = None
    status: str = "planned"

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def person_end(self, assignment: Assignment) -> datetime:
        """When that person is free again: the end of their part, else of the session."""
        return assignment.end or self.end


__all__ = ["ACTIVE_STATUSES", "Assignment", "Booking"]
