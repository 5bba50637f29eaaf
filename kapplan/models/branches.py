"""Decision points (SPEC §13): which steps a plan places, given the choices made.

A protocol with ``decision:`` steps is a tree of possible series. Following it
with a set of choices gives a *path*: the schedule steps in file order, with
each chosen option's ``branches`` steps inserted right after its decision
step, up to the first decision still open (nothing after it is placed). A
path is an ordinary protocol without decisions, so the engine, the lint rules
and every constraint apply to it unchanged: the first branch step's ``after``
is measured from the decision step (the previous step), the schedule steps
that follow from the branch's last step, or from the decision step when the
option places nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kapplan.models.protocol import Protocol, Step

MAX_PATHS = 64
"""Complete branch paths a protocol may have: each is linted as a series of its own."""

Origin = tuple[str | int, ...]


@dataclass(frozen=True)
class ProtocolPath:
    """The steps placed along one path, as a protocol without decisions."""

    protocol: Protocol
    origins: tuple[Origin, ...]  # where each step is written: ("schedule", i) or ("branches", key)
    open: str | None  # the step key of the first open decision (nothing after it is placed)
    decisions: tuple[str, ...]  # step keys of the decision steps on the path, in order
    repeats: tuple[str, ...] = ()  # branch steps reached a second time on this path (lint: KP233)
    chosen: tuple[tuple[str, str], ...] = ()  # (decision session key, option) of each choice followed

    def label(self) -> str:
        """The choices in words: ``induction-review-1=weekly``."""
        return ", ".join(f"{key}={option}" for key, option in self.chosen) or "no decision"

    def origin_of(self, step_key: str) -> Origin | None:
        for step, origin in zip(self.protocol.schedule, self.origins, strict=True):
            if step.key == step_key:
                return origin
        return None


def decision_key(step: Step) -> str:
    """A decision belongs to the step's one session: ``<step-id>-1``."""
    return f"{step.key}-1"


class _Walk:
    def __init__(self, protocol: Protocol, choices: Mapping[str, str]) -> None:
        self.protocol = protocol
        self.choices = choices
        self.steps: list[Step] = []
        self.origins: list[Origin] = []
        self.decisions: list[str] = []
        self.seen: set[str] = set()
        self.repeats: list[str] = []
        self.chosen: list[tuple[str, str]] = []

    def run(self, steps: Sequence[tuple[Step, Origin]]) -> str | None:
        """Place ``steps`` and what their choices bring; the open decision's step key, if any."""
        for step, origin in steps:
            if origin[0] == "branches":
                if step.key in self.seen:  # placed twice, or a loop (lint: KP233)
                    self.repeats.append(step.key)
                    continue
                self.seen.add(step.key)
            self.steps.append(step)
            self.origins.append(origin)
            if step.decision is None:
                continue
            self.decisions.append(step.key)
            chosen = self.choices.get(decision_key(step))
            if chosen is None or chosen not in step.decision.options:
                return step.key
            self.chosen.append((decision_key(step), chosen))
            names = step.decision.options[chosen]
            branch = [(self.protocol.branch_step(n), ("branches", n)) for n in names if n in self.protocol.branches]
            opened = self.run(branch)
            if opened is not None:
                return opened
        return None


def follow(protocol: Protocol, choices: Mapping[str, str] | None = None) -> ProtocolPath:
    """The path ``choices`` (option by decision session key) select, up to the first open decision."""
    walk = _Walk(protocol, choices or {})
    opened = walk.run([(step, ("schedule", i)) for i, step in enumerate(protocol.schedule)])
    plain = [s.model_copy(update={"decision": None}) if s.decision is not None else s for s in walk.steps]
    path = protocol.model_copy(update={"schedule": plain, "branches": {}})
    return ProtocolPath(path, tuple(walk.origins), opened, tuple(walk.decisions), tuple(walk.repeats),
                        tuple(walk.chosen))


class TooManyPaths(Exception):
    """More than MAX_PATHS complete paths."""


def every_path(protocol: Protocol, limit: int = MAX_PATHS) -> list[ProtocolPath]:
    """Every complete path (each decision taken every way); TooManyPaths past ``limit``."""
    found: list[ProtocolPath] = []
    pending: list[dict[str, str]] = [{}]
    while pending:
        choices = pending.pop()
        path = follow(protocol, choices)
        if path.open is None:
            found.append(path)
            if len(found) > limit:
                raise TooManyPaths
            continue
        step = next(s for s in _all_steps(protocol) if s.key == path.open and s.decision is not None)
        assert step.decision is not None
        pending += [{**choices, decision_key(step): option} for option in reversed(step.decision.options)]
    return found


def _all_steps(protocol: Protocol) -> list[Step]:
    return [*protocol.schedule, *(protocol.branch_step(k) for k in protocol.branches)]


def branch_cycle(protocol: Protocol) -> list[str] | None:
    """Branch step keys forming a loop (a decision whose option leads back to itself), if any."""
    graph = {
        key: [n for names in (step.decision.options.values() if step.decision else ()) for n in names]
        for key, step in protocol.branches.items()
    }
    state: dict[str, int] = {}
    trail: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        trail.append(node)
        for nxt in graph.get(node, []):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return trail[trail.index(nxt):] + [nxt]
            if nxt not in state:
                loop = visit(nxt)
                if loop:
                    return loop
        trail.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state:
            loop = visit(node)
            if loop:
                return loop
    return None


__all__ = [
    "MAX_PATHS", "ProtocolPath", "TooManyPaths", "branch_cycle", "decision_key", "every_path", "follow",
]
