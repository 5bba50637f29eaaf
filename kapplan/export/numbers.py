"""A session's number within its series ("Medicine session 3 of 6").

Apart from the calendar code so that the ledger can record the numbers
without importing icalendar.
"""

from __future__ import annotations

from kapplan.models.plan import Plan, PlannedSession


def session_numbers(plan: Plan) -> dict[str, tuple[int, int]]:
    """``key -> (n, total)``: a step's occurrences by the plan's own numbering, each
    follow-up by its occurrence among the follow-ups of the same step and id."""
    numbers: dict[str, tuple[int, int]] = {}
    groups: dict[tuple[str, str], list[PlannedSession]] = {}
    for session in plan.sessions:
        if session.follows is None and "." not in session.key:
            numbers[session.key] = (session.index, session.count)
        else:
            groups.setdefault((session.step, session.key.partition(".")[2]), []).append(session)
    for members in groups.values():
        ordered = sorted(enumerate(members), key=lambda pair: (_occurrence(pair[1]), pair[0]))
        for n, (_, session) in enumerate(ordered, start=1):
            numbers[session.key] = (n, len(members))
    return numbers


def _occurrence(session: PlannedSession) -> int:
    """The occurrence number in a follow-up key ``<step>-<n>.<id>``."""
    head = session.key.partition(".")[0]
    number = head.rpartition("-")[2]
    return int(number) if number.isdigit() else session.index
