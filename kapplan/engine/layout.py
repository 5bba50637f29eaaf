"""The series as a fixed list of positions in placement order (no dates).

Steps in file order; within a step each occurrence, then its follow-ups in
``followed_by`` order. Every rule between sessions refers from a position to
earlier positions only, which is what lets the search place them one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from kapplan.engine.slots import Shape
from kapplan.models.protocol import FollowUp, Protocol, SessionType, Step
from kapplan.models.values import MINUTES_PER_DAY, clock_minutes


@dataclass(frozen=True)
class Entry:
    """One session of the series."""

    pos: int
    key: str
    step: int  # index into Layout.steps
    session: str
    index: int  # occurrence n (a follow-up: its occurrence's n)
    count: int
    follows: str | None
    followup: FollowUp | None
    occ: int  # position of the occurrence (itself for an occurrence)
    prev_occ: int | None  # occurrence n-1 (occurrences only)
    prev_group: tuple[int, ...]  # occurrence n-1 and its follow-ups
    siblings: tuple[int, ...]  # follow-ups of the same occurrence (all of them)
    duration: int
    dosing: bool
    shape: Shape
    gate: int | None = None  # position of the session this occurrence waits for (``requires``)

    @property
    def is_occurrence(self) -> bool:
        return self.followup is None


@dataclass(frozen=True)
class StepInfo:
    index: int
    key: str
    model: Step
    first: int
    last: int
    occurrences: tuple[int, ...]
    anchor: int | None  # step whose latest session ``after`` is measured from
    tied: bool  # has ``from``: not bound to end after every earlier step


def session_shape(session: SessionType, clinic: bool) -> Shape:
    window = session.time
    return Shape(
        duration=session.duration.minutes,
        weekdays=frozenset(session.days) if session.days is not None else None,
        earliest=clock_minutes(window.start) if window else 0,
        latest=clock_minutes(window.end) if window else MINUTES_PER_DAY - 1,
        clinic=clinic and session.setting == "in-person",
    )


class Layout:
    """Positions, steps and the static references between them."""

    def __init__(self, protocol: Protocol, clinic: bool) -> None:
        self.protocol = protocol
        self.entries: list[Entry] = []
        self.steps: list[StepInfo] = []
        index_of = {step.key: i for i, step in enumerate(protocol.schedule)}
        for i, step in enumerate(protocol.schedule):
            if step.from_ is not None and index_of.get(step.from_, i) >= i:
                raise ValueError(f"step {step.key}: 'from' must name an earlier step")
            anchor = index_of[step.from_] if step.from_ else (i - 1 if i else None)
            self.steps.append(self._add_step(i, step, anchor, protocol, clinic))
        self.by_key = {e.key: e.pos for e in self.entries}
        self._add_gates(index_of)

    def _add_gates(self, index_of: dict[str, int]) -> None:
        """Each gated occurrence starts after the gate step's last occurrence (SPEC §13)."""
        for n, entry in enumerate(self.entries):
            step = self.steps[entry.step]
            gate = step.model.gate_for(entry.index) if entry.is_occurrence else None
            if gate is None:
                continue
            named = index_of.get(gate.step, entry.step)
            if named >= entry.step:
                raise ValueError(f"step {step.key}: 'requires' must name an earlier step")
            self.entries[n] = replace(entry, gate=self.steps[named].occurrences[-1])

    def _add_step(self, i: int, step: Step, anchor: int | None, protocol: Protocol, clinic: bool) -> StepInfo:
        first = len(self.entries)
        occurrences: list[int] = []
        prev_group: tuple[int, ...] = ()
        for n in range(1, step.count + 1):
            occ = len(self.entries)
            occurrences.append(occ)
            chosen = [f for f in step.followed_by if f.applies_to(n)]
            siblings = tuple(range(occ + 1, occ + 1 + len(chosen)))
            self._add(step, i, n, None, occ, prev_group, siblings, protocol, clinic)
            for follow in chosen:
                self._add(step, i, n, follow, occ, (), siblings, protocol, clinic)
            prev_group = (occ, *siblings)
        return StepInfo(i, step.key, step, first, len(self.entries) - 1, tuple(occurrences), anchor,
                        step.from_ is not None)

    def _add(self, step: Step, i: int, n: int, follow: FollowUp | None, occ: int,
             prev_group: tuple[int, ...], siblings: tuple[int, ...], protocol: Protocol, clinic: bool) -> None:
        name = follow.session if follow else step.session
        session = protocol.sessions[name]
        key = f"{step.key}-{n}" + (f".{follow.key}" if follow else "")
        self.entries.append(
            Entry(
                pos=len(self.entries),
                key=key,
                step=i,
                session=name,
                index=n,
                count=step.count,
                follows=f"{step.key}-{n}" if follow else None,
                followup=follow,
                occ=occ,
                prev_occ=prev_group[0] if prev_group else None,
                prev_group=prev_group,
                siblings=siblings,
                duration=session.duration.minutes,
                dosing=session.kind == "dosing",
                shape=session_shape(session, clinic),
            )
        )

    def __len__(self) -> int:
        return len(self.entries)

