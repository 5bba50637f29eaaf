"""Gates (SPEC §13): when a gate session is marked done, the sessions waiting for it.

Those that start after the gate's actual end become planned (SEQUENCE bumped,
so calendars show them as confirmed); when any would now come before it (the
gate took place later than planned), the remaining sessions are re-planned as
``reschedule`` would, from now on. Either way the calendar changed, and the
user is told to export it again.
"""

from __future__ import annotations

from datetime import datetime

from kapplan.lifecycle.mark import REEXPORT, diff_states, session_state
from kapplan.models.errors import KapplanError
from kapplan.models.plan import Change, Plan
from kapplan.models.protocol import Protocol
from kapplan.planning.embedded import client_of, clinic_of, protocol_of
from kapplan.planning.series import apply_gates, gate_of


def release_gated(plan: Plan, gate_key: str, *, now: datetime, command: str) -> tuple[Plan, list[str]]:
    """The plan once ``gate_key`` (just marked done) no longer holds anything back, and what
    happened, in words (nothing when no session waits for it)."""
    path = protocol_of(plan)
    gate = plan.session(gate_key)
    waiting = [s for s in plan.sessions if s.status == "tentative" and gate_of(s, path) == gate_key]
    if gate is None or not waiting:
        return plan, []
    early = [s.key for s in waiting if s.start < gate.end]
    if early:
        replanned = _replan(plan, now, command)
        if replanned is not None:
            return replanned, [f"{len(waiting)} session(s) waited for {gate_key}; {', '.join(early)} would "
                               f"now come before it, so the remaining sessions were re-planned", REEXPORT]
    confirmed = _confirm(plan, path)
    notes = [f"{len(waiting)} tentative session(s) confirmed now that {gate_key} is done", REEXPORT]
    if early:
        notes.insert(1, f"{', '.join(early)} now start(s) before {gate_key} ended; run 'kapplan reschedule'")
    return confirmed, notes


def _confirm(plan: Plan, path: Protocol) -> Plan:
    """Gated sessions whose gate is done become planned; recorded in the mark's history entry."""
    sessions = apply_gates(plan.sessions, path)
    before = {s.key: s for s in plan.sessions}
    changes = [
        Change(key=s.key, from_=diff_states(session_state(before[s.key]), session_state(s)),
               to=diff_states(session_state(s), session_state(before[s.key])), reason="its gate is done")
        for s in sessions if s.status != before[s.key].status
    ]
    history = list(plan.history)
    if history:
        history[-1] = history[-1].model_copy(update={"changes": [*history[-1].changes, *changes]})
    return plan.model_copy(update={"sessions": sessions, "history": history})


def _replan(plan: Plan, now: datetime, command: str) -> Plan | None:
    """The remaining sessions re-planned from now (None when that is not possible now:
    the caller confirms them and asks for a reschedule instead)."""
    from kapplan.lifecycle.reschedule import reschedule_plan

    try:
        outcome = reschedule_plan(plan, now=now, client=client_of(plan), clinic=clinic_of(plan), command=command)
    except KapplanError:
        return None
    return outcome.plan


__all__ = ["release_gated"]
