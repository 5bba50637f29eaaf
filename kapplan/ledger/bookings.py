"""A plan's sessions as the clinic's bookings (SPEC §11).

Only sessions that claim a person or a room are bookings: a session that
lists no staff and needs no room follows the client alone.
"""

from __future__ import annotations

from kapplan.models.booking import Assignment, Booking
from kapplan.models.plan import Plan


def plan_bookings(plan: Plan) -> list[Booking]:
    """Every session of ``plan`` holding a person or a room, in the plan's order (any status)."""
    client = str(plan.client.get("id", ""))
    out = []
    for session in plan.sessions:
        assigned = tuple(Assignment(a.role, a.id, a.end) for a in session.assigned or ())
        if not assigned and session.room is None:
            continue
        out.append(Booking(series=plan.series, client=client, key=session.key, kind=session.kind,
                           start=session.start, end=session.end, assigned=assigned, room=session.room,
                           status=session.status))
    return out


__all__ = ["plan_bookings"]
