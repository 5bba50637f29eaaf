"""The earliest shape of a protocol: how many days after the first session
each session can fall at the soonest, ignoring availability.

Every session of the series is a node; every rule that forces one session
after another (gap, per_week, offset, after, the rest of a dosing day,
min_dosing_interval) is an edge weighted with the fewest calendar days it
implies. Edges always point forward in placement order, so longest paths
are one pass. A bound written in h/min counts as its whole days rounded down
(36h after 09:00 can be the next day), so every figure is a true lower bound:
lint rules may call a protocol infeasible from it without false alarms.

``show`` and ``protocols`` draw the shape; the lint rules reason with the graph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kapplan.models.protocol import LoadedProtocol, Protocol, Step
from kapplan.models.values import MINUTES_PER_DAY, Duration


def min_days(duration: Duration) -> int:
    """The fewest calendar days a lower bound of this length can span."""
    return duration.minutes // MINUTES_PER_DAY


def max_days(duration: Duration) -> int:
    """The most calendar days an upper bound of this length can span (36h: 2)."""
    return -(-duration.minutes // MINUTES_PER_DAY)


def count_sessions(protocol: Protocol) -> int:
    """Sessions the series places in all, follow-ups included (no graph needed)."""
    total = 0
    for step in protocol.schedule:
        total += step.count
        for follow_up in step.followed_by:
            total += step.count if follow_up.on is None else len({n for n in follow_up.on if n <= step.count})
    return total


@dataclass(frozen=True)
class ShapeSession:
    """One session of the series, keyed as plans key it (``medicine-2.integration``)."""

    key: str
    step_index: int
    session: str
    kind: str | None  # None when the session id names no session type
    occurrence: int
    follows: int | None = None  # node index of the occurrence a follow-up belongs to
    follow_up: int | None = None  # index of its entry in the step's followed_by


@dataclass
class StepNodes:
    """Node indexes of one step: its occurrences and each one's follow-ups."""

    occurrences: list[int] = field(default_factory=list)
    follow_ups: dict[int, list[int]] = field(default_factory=dict)  # occurrence node -> nodes

    @property
    def tail(self) -> list[int]:
        """The last occurrence and its follow-ups: the step's latest sessions."""
        last = self.occurrences[-1]
        return [last, *self.follow_ups.get(last, [])]


@dataclass
class SessionGraph:
    """Sessions in placement order with "at least N days later" edges."""

    sessions: list[ShapeSession] = field(default_factory=list)
    successors: list[list[tuple[int, int]]] = field(default_factory=list)
    steps: list[StepNodes] = field(default_factory=list)

    def add_session(self, session: ShapeSession) -> int:
        self.sessions.append(session)
        self.successors.append([])
        return len(self.sessions) - 1

    def is_dosing(self, node: int) -> bool:
        return self.sessions[node].kind == "dosing"

    def require(self, earlier: int, later: int, days: int) -> None:
        """``later`` starts at least ``days`` after ``earlier``; nothing else
        starts later on a dosing day, so after a dosing session that is >= 1."""
        if self.is_dosing(earlier):
            days = max(days, 1)
        self.successors[earlier].append((later, days))

    def longest_from(self, source: int, stop: Callable[[int], bool] | None = None) -> dict[int, int]:
        """Fewest days from ``source`` to every session forced after it.

        With ``stop``, paths end at the first node it accepts (that node is
        still reported).
        """
        days = {source: 0}
        reach = source
        for node in range(source, len(self.sessions)):
            if node > reach:
                break
            if node not in days or (node != source and stop is not None and stop(node)):
                continue
            for later, weight in self.successors[node]:
                days[later] = max(days.get(later, 0), days[node] + weight)
                reach = max(reach, later)
        return days


def anchor_step(protocol: Protocol, index: int) -> int | None:
    """The step whose latest session ``after`` is measured from: the one
    named in ``from`` when it is an earlier step, else the previous one."""
    named = from_step(protocol, index)
    if named is not None:
        return named
    return index - 1 if index > 0 else None


def from_step(protocol: Protocol, index: int) -> int | None:
    """Index of the earlier step named in ``from`` (None: absent or invalid)."""
    name = protocol.schedule[index].from_
    if name is None:
        return None
    return next((i for i, step in enumerate(protocol.schedule[:index]) if step.key == name), None)


def steps_before(protocol: Protocol, index: int) -> set[int]:
    """Steps every session of which is placed before this step starts.

    Without ``from`` that is every earlier step; with ``from`` only the named
    step and what precedes it, because the steps in between may interleave.
    """
    named = from_step(protocol, index)
    if named is None:
        return set(range(index))
    return {named} | steps_before(protocol, named)


def build_graph(protocol: Protocol) -> SessionGraph:
    """The session graph; callers keep the protocol within the input caps."""
    graph = SessionGraph()
    for index, step in enumerate(protocol.schedule):
        nodes = _add_step_nodes(graph, protocol, index, step)
        graph.steps.append(nodes)
        _link_step(graph, protocol, index, step, nodes)
    return graph


def _kind(protocol: Protocol, session: str) -> str | None:
    session_type = protocol.sessions.get(session)
    return session_type.kind if session_type else None


def _add_step_nodes(graph: SessionGraph, protocol: Protocol, index: int, step: Step) -> StepNodes:
    nodes = StepNodes()
    for n in range(1, step.count + 1):
        key = f"{step.key}-{n}"
        occurrence = graph.add_session(ShapeSession(key, index, step.session, _kind(protocol, step.session), n))
        nodes.occurrences.append(occurrence)
        follow_ups = nodes.follow_ups.setdefault(occurrence, [])
        for j, follow_up in enumerate(step.followed_by):
            if follow_up.applies_to(n):
                session = ShapeSession(
                    f"{key}.{follow_up.key}", index, follow_up.session,
                    _kind(protocol, follow_up.session), n, occurrence, j,
                )
                follow_ups.append(graph.add_session(session))
    return nodes


def _link_step(graph: SessionGraph, protocol: Protocol, index: int, step: Step, nodes: StepNodes) -> None:
    interval = protocol.constraints.min_dosing_interval
    dosing_interval = min_days(interval) if interval else 0
    gap = min_days(step.gap.min)
    occurrences = nodes.occurrences
    for position, occurrence in enumerate(occurrences):
        fus = [fu for fu in step.followed_by if fu.applies_to(position + 1)]
        for follow_up, node in zip(fus, nodes.follow_ups[occurrence], strict=True):
            graph.require(occurrence, node, min_days(follow_up.offset.min))
        if position + 1 < len(occurrences):
            following = occurrences[position + 1]
            spacing = max(gap, dosing_interval) if graph.is_dosing(occurrence) else gap
            graph.require(occurrence, following, spacing)
            for node in nodes.follow_ups[occurrence]:
                graph.require(node, following, 0)
        if step.per_week and position >= step.per_week:
            graph.require(occurrences[0], occurrence, 7 * (position // step.per_week))
    _link_first_occurrence(graph, protocol, index, occurrences[0], dosing_interval)


def _link_first_occurrence(
    graph: SessionGraph, protocol: Protocol, index: int, first: int, dosing_interval: int
) -> None:
    anchor = anchor_step(protocol, index)
    if anchor is None:
        return
    after = min_days(protocol.schedule[index].after.min)
    for node in graph.steps[anchor].tail:
        graph.require(node, first, after)
    if from_step(protocol, index) is None:
        for nodes in graph.steps[:index]:
            for node in nodes.tail:
                graph.require(node, first, 0)
    if graph.is_dosing(first) and dosing_interval:
        for earlier in steps_before(protocol, index):
            dosing = [n for n in _step_members(graph.steps[earlier]) if graph.is_dosing(n)]
            if dosing:
                graph.require(max(dosing), first, dosing_interval)


def _step_members(nodes: StepNodes) -> list[int]:
    return [n for occurrence in nodes.occurrences for n in (occurrence, *nodes.follow_ups[occurrence])]


@dataclass(frozen=True)
class ShapePoint:
    """One session of the earliest shape: its day from the first session."""

    day: int
    session: ShapeSession


def earliest_shape(protocol: Protocol) -> list[ShapePoint]:
    """Every session at its earliest day, in placement order."""
    graph = build_graph(protocol)
    days = graph.longest_from(0)
    return [ShapePoint(days.get(i, 0), s) for i, s in enumerate(graph.sessions)]


def span_days(points: list[ShapePoint]) -> int:
    """Days from the first session to the last in the earliest shape."""
    return max((p.day for p in points), default=0)



@dataclass(frozen=True)
class ProtocolSummary:
    """One protocol as ``kapplan protocols`` lists it."""

    id: str
    version: str
    title: str
    path: str
    sessions: int
    span_days: int  # first to last session in the earliest shape (availability ignored)

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "version": self.version, "title": self.title, "path": self.path,
                "sessions": self.sessions, "span_days": self.span_days}


def summarize(loaded: LoadedProtocol, name: str | None = None) -> ProtocolSummary:
    """``name`` (default: the protocol's id), version, title, path, sessions and span."""
    protocol = loaded.protocol
    points = earliest_shape(protocol)
    return ProtocolSummary(name or protocol.id, protocol.version, protocol.title, str(loaded.path), len(points),
                           span_days(points))

__all__ = [
    "ProtocolSummary",
    "SessionGraph",
    "ShapePoint",
    "ShapeSession",
    "anchor_step",
    "build_graph",
    "count_sessions",
    "earliest_shape",
    "max_days",
    "min_days",
    "span_days",
    "steps_before",
    "summarize",
]
