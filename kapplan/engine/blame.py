"""Who is to blame for a refused start, and what the search learns from it.

Conflict-directed backjumping needs, for every position that runs out of
candidates, the earlier positions whose values caused that; the search then
returns straight to the latest of them. Each blamed position carries Flags
saying which other values of it could not help either, which lets the search
skip more (a later start, the rest of a day) and lets a learned nogood match
states that differ only in ways that cannot matter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

Flags = tuple[bool, bool, bool]
"""What another start of a blamed position could not change: (any later start,
a later start the same day, any start the same day). A reason that only pushed
bounds later is *monotone*: later starts cannot help. A reason that compared
only the position's date (a calendar rule) is *day-level*: other times that
day cannot help. A position blamed for several reasons keeps what they share."""


def reason(monotone: bool, exact: bool) -> Flags:
    return (monotone, monotone or not exact, not exact)


class Blame:
    """Placed positions held responsible for refusals, with their Flags."""

    __slots__ = ("flags", "fixed", "typed")

    def __init__(self, fixed: dict[int, tuple[int, int]], typed: bool) -> None:
        self.flags: dict[int, Flags] = {}
        self.fixed = fixed
        self.typed = typed

    def add(self, p: int, monotone: bool = False, exact: bool = True) -> None:
        self.join(p, reason(monotone, exact))

    def join(self, p: int, flags: Flags) -> None:
        if p >= 0 and p not in self.fixed:
            old = self.flags.get(p, (True, True, True))
            if not self.typed:
                flags = (False, False, False)
            self.flags[p] = (old[0] and flags[0], old[1] and flags[1], old[2] and flags[2])

    def update(self, positions: Iterable[int], monotone: bool = False, exact: bool = True) -> None:
        for p in positions:
            self.add(p, monotone, exact)

    def merge(self, flags: dict[int, Flags]) -> None:
        for p, f in flags.items():
            self.join(p, f)



Value = Callable[[int, bool], int]
"""A blamed position's start (True) or only its day (False)."""
Nogood = tuple[tuple[tuple[int, bool], ...], tuple[int, ...], dict[int, Flags]]
MAX_NOGOOD_SHAPES = 64


class Nogoods:
    """Per position: blamed positions and values under which it is known to fail."""

    def __init__(self) -> None:
        # position -> blamed (position, exact) that must match -> their values -> nogoods
        self._known: dict[int, dict[tuple[tuple[int, bool], ...], dict[tuple[int, ...], list[Nogood]]]] = {}

    def learn(self, k: int, culprits: dict[int, Flags], value: Value) -> None:
        """Remember that k fails whenever the blamed positions are as now (within their flags)."""
        same: list[tuple[int, bool]] = []  # (position, compare its start (else its day)) must be equal
        lower: list[tuple[int, bool]] = []  # ... must be at least as late
        for p, (later, later_today, today) in sorted(culprits.items()):
            if later:
                lower.append((p, not today))
            elif today:
                same.append((p, False))
            elif later_today:
                same.append((p, False))
                lower.append((p, True))
            else:
                same.append((p, True))
        shapes = self._known.setdefault(k, {})
        if tuple(same) not in shapes and len(shapes) >= MAX_NOGOOD_SHAPES:
            return
        bucket = shapes.setdefault(tuple(same), {}).setdefault(_values(same, value), [])
        if len(bucket) < MAX_NOGOOD_SHAPES:
            bucket.append((tuple(lower), _values(lower, value), dict(culprits)))

    def match(self, k: int, value: Value) -> dict[int, Flags] | None:
        """The blame of a learned nogood that the current state matches, if any."""
        for same, by_values in self._known.get(k, {}).items():
            for lower, values, culprits in by_values.get(_values(same, value), ()):
                if all(a >= b for a, b in zip(_values(lower, value), values, strict=True)):
                    return culprits
        return None


def _values(blamed: Iterable[tuple[int, bool]], value: Value) -> tuple[int, ...]:
    return tuple(value(p, exact) for p, exact in blamed)
