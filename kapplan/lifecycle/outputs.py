"""The ``--format json`` documents of ``status``, ``mark``, ``reschedule`` and ``decide``
(shapes in models/reports.py, schemas in ``kapplan schema``).

Built from the same outcomes the text output reads, so the two never
disagree.
"""

from __future__ import annotations

from collections.abc import Sequence

from kapplan.lifecycle.decide import DecideOutcome
from kapplan.lifecycle.mark import MarkOutcome
from kapplan.lifecycle.reschedule import RescheduleOutcome, SessionChange
from kapplan.lifecycle.status import StatusReport
from kapplan.lifecycle.times import plan_zone
from kapplan.models.plan import Plan, PlannedSession
from kapplan.models.reports import (
    DecideOutput,
    MarkOutput,
    RescheduleOutput,
    SessionMove,
    SessionState,
    StatusOutput,
    StatusSession,
)


def session_state(session: PlannedSession, plan: Plan) -> SessionState:
    zone = plan_zone(plan)
    return SessionState(key=session.key, title=session.title, kind=session.kind,
                        start=session.start.astimezone(zone), end=session.end.astimezone(zone),
                        status=session.status, sequence=session.sequence)


def status_output(plan: Plan, report: StatusReport, file: str) -> StatusOutput:
    unmarked = [s.key for s in report.unmarked]
    upcoming = report.next.key if report.next is not None else None
    sessions = [
        StatusSession(**session_state(s, plan).model_dump(), next=s.key == upcoming, unmarked=s.key in unmarked,
                      deviations=s.deviations)
        for s in plan.sessions
    ]
    return StatusOutput(
        file=file, client=str(plan.client.get("id")), timezone=plan_zone(plan).key, series=plan.series,
        counts=report.counts, next=upcoming, unmarked=unmarked, sessions=sessions,
        deviations_so_far=report.so_far, planned_deviations=report.planned, safety=report.safety,
        tasks=plan.tasks, due_tasks=[t.key for t in report.due], overdue_tasks=[t.key for t in report.overdue],
        tentative=[s.key for s in report.tentative], open_decision=report.decision,
    )


def mark_output(outcome: MarkOutcome, key: str, file: str, backup: str | None) -> MarkOutput:
    session = outcome.plan.session(key)
    task = outcome.plan.task(key)
    assert session is not None or task is not None  # mark refuses an unknown key before any outcome exists
    return MarkOutput(file=file, key=key, changed=outcome.changed, message=outcome.message,
                      previous=outcome.previous, session=session_state(session, outcome.plan) if session else None,
                      task=task, warnings=outcome.warnings, backup=backup if outcome.changed else None)


def _moves(changes: Sequence[SessionChange], plan: Plan) -> list[SessionMove]:
    """Each changed session before (None for a new one) and after, as reschedule and decide report them."""
    return [
        SessionMove(key=c.key, before=None if c.old is None else session_state(c.old, plan),
                    after=session_state(c.new, plan), reason=c.reason)
        for c in changes
    ]


def reschedule_output(outcome: RescheduleOutcome, file: str, *, dry_run: bool, backup: str | None) -> RescheduleOutput:
    plan = outcome.plan
    moves = _moves(outcome.changes, plan)
    written = outcome.changed and not dry_run
    return RescheduleOutput(file=file, dry_run=dry_run, changed=outcome.changed, note=outcome.note, changes=moves,
                            deviations=plan.deviations, backup=backup if written else None)


def decide_output(outcome: DecideOutcome, file: str, *, dry_run: bool, backup: str | None) -> DecideOutput:
    plan = outcome.plan
    moves = _moves(outcome.changes, plan)
    following = plan.open_decision
    return DecideOutput(file=file, dry_run=dry_run, decision=outcome.decision, changes=moves,
                        open_decision=following.key if following else None, backup=None if dry_run else backup)
