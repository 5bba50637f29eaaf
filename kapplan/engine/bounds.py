"""Where a session may start: the bounds its rules give, from the placed sessions.

A mix-in of the search Engine (search.py): every rule tying position j to
earlier positions (gap, after, offset, within, per_week, max_span, the
horizon, "after every earlier step has ended") becomes a lower or upper bound,
kept with the positions it came from so a failure can blame exactly those.
What an upper bound or ``per_week`` does (a hard bound, or lateness when
deviations are allowed) is the search's mode's to say (modes.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kapplan.engine.layout import Entry, Layout
from kapplan.engine.slots import Calendar, LocalClock
from kapplan.models.protocol import Duration, Range

if TYPE_CHECKING:
    from kapplan.engine.modes import Mode

INF = 1 << 62

Upper = tuple[str, bool, int, object, tuple[int, ...]]
"""An upper bound turned into lateness: (rule, calendar, limit (a day when calendar, else an
instant), the key of the running overrun it shares (``within``, ``max_span``) or None, the
positions it is measured from)."""


@dataclass
class Window:
    """Where a position may start, given the positions before it."""

    lo: int = -INF
    hi: int = INF
    lo_day: int = -INF
    hi_day: int = INF
    target_day: int | None = None
    target_instant: int | None = None
    uppers: list[Upper] = field(default_factory=list)  # deviation mode: upper bounds as lateness
    # positions blamed for any refusal whatever their role (exact: their start counts, else their day)
    general: list[tuple[int, bool]] = field(default_factory=list)
    notes: list[tuple[str, str]] | None = None  # (rule, human text), when explaining
    # every bound as (instant, placed positions it comes from, whether their exact time counts
    # or only their day), to blame the binding ones
    lows: list[tuple[int, tuple[int, ...], bool]] = field(default_factory=list)
    highs: list[tuple[int, tuple[int, ...], bool]] = field(default_factory=list)

    def binding(self) -> tuple[tuple[tuple[int, ...], bool], tuple[tuple[int, ...], bool]]:
        """(positions, exact) behind the latest lower bound and behind the earliest upper bound."""
        low = max(self.lows, default=(0, (), False))
        high = min(self.highs, default=(0, (), False))
        return (low[1], low[2]), (high[1], high[2])

    def note(self, rule: str, text: Callable[[], str]) -> None:
        """Record a rule in words, when explaining (the text is only built then)."""
        if self.notes is not None:
            self.notes.append((rule, text()))



@dataclass
class Settings:
    start_day: int
    last_day: int
    not_before: int
    fixed: dict[int, tuple[int, int]]
    min_dosing: Duration | None
    max_span: Duration | None
    dosing_alone: bool = False  # constraints.dosing_day: alone (no other session on a dosing date)
    relaxed: bool = False  # deviations (the Engine's mode is chosen from it once: modes.py)
    lateness_cap: int | None = None  # deviations: the total lateness allowed (minutes)
    budget: int = 40_000
    prune: bool = True  # False: plain chronological backtracking (a reference for tests)
    explain: bool = True  # False: no note of where a plan gets stuck (a yes-or-no search needs none)
    # position -> (earliest, latest) start instant: a date fixed by the first pass, a trial's limit
    pins: dict[int, tuple[int, int]] = field(default_factory=dict)



class Bounds:
    """The window computations of the Engine (which provides these attributes)."""

    layout: Layout
    cal: Calendar
    clock: LocalClock
    cfg: Settings
    mode: Mode
    start: list[int]
    end: list[int]
    day: list[int]
    placed: list[bool]
    maxend: list[int]
    maxend_at: list[int]
    first_start: list[tuple[int, int]]
    _static_low: tuple[int, tuple[int, ...], bool]
    _static_high: tuple[int, tuple[int, ...], bool]

    def first_session(self) -> int:
        return self.first_start[-1][0]

    # ------------------------------------------------------------------ windows

    def window(self, j: int, notes: list[tuple[str, str]] | None = None) -> Window:
        """Bounds for position j from the placed positions its rules refer to."""
        cfg, layout = self.cfg, self.layout
        entry = layout.entries[j]
        step = layout.steps[entry.step]
        model = step.model
        keys = layout.entries
        w = Window(lo=cfg.not_before, lo_day=cfg.start_day, hi_day=cfg.last_day, notes=notes,
                   lows=[self._static_low], highs=[self._static_high])
        follow, prev = entry.followup, entry.prev_occ
        if follow is not None:
            self._after(w, entry.occ)
            self._apply(w, follow.offset, entry.occ, (entry.occ,), "offset",
                        lambda: f"{follow.key} must fall {follow.offset.as_written()} after {keys[entry.occ].key}")
        elif prev is not None:
            for p in entry.prev_group:
                self._after(w, p)
            self._apply(w, model.gap, prev, (prev,), "gap",
                        lambda: f"{entry.key} must fall {model.gap.as_written()} after {keys[prev].key}")
            self._step_windows(w, entry, step.first)
        elif step.anchor is not None:
            anchor = self.anchor_of(step.anchor)
            self._after(w, anchor)
            if not step.tied:
                self.low(w, self.maxend[j], (self.maxend_at[j],))
                if self.maxend_at[j] >= 0:
                    self._after(w, self.maxend_at[j])
            group = self.anchor_group(step.anchor)
            self._apply(w, model.after, anchor, group, "after",
                        lambda: f"{entry.key} must fall {model.after.as_written()} after {keys[anchor].key}")
        if entry.gate is not None:
            gate = entry.gate
            self._after(w, gate)
            w.note("requires", lambda: f"{entry.key} must wait for {keys[gate].key}")
        first, first_at = self.first_start[-1]
        if cfg.max_span is not None and first < INF:
            self._upper(w, cfg.max_span, first, (first_at,), "max_span", ("span",),
                        lambda: f"the whole plan must fit in {cfg.max_span} (from {keys[first_at].key})")
        pin = cfg.pins.get(j)
        if pin is not None:  # static, as the horizon: no placed position is behind it
            self.low(w, pin[0], ())
            self.high(w, pin[1], ())
        return w

    def _after(self, w: Window, p: int) -> None:
        """Start after p ends; after a dosing session that means a later day."""
        if self.layout.entries[p].dosing:
            self.low_day(w, self.day[p] + 1, (p,))
        else:
            self.low(w, self.end[p], (p,))

    def low(self, w: Window, instant: int, refs: tuple[int, ...]) -> None:
        w.lo = max(w.lo, instant)
        w.lows.append((instant, refs, True))

    def low_day(self, w: Window, day: int, refs: tuple[int, ...]) -> None:
        w.lo_day = max(w.lo_day, day)
        w.lows.append((self.clock.midnight(day), refs, False))

    def high(self, w: Window, instant: int, refs: tuple[int, ...]) -> None:
        w.hi = min(w.hi, instant)
        w.highs.append((instant, refs, True))

    def high_day(self, w: Window, day: int, refs: tuple[int, ...]) -> None:
        w.hi_day = min(w.hi_day, day)
        w.highs.append((self.clock.midnight(day + 1) - 1, refs, False))

    def window_refs(self, j: int) -> set[int]:
        """The placed positions the rules of ``window(j)`` refer to (the mode may read more)."""
        layout = self.layout
        entry = layout.entries[j]
        step = layout.steps[entry.step]
        refs: set[int] = set()
        if entry.followup is not None:
            refs.add(entry.occ)
        elif entry.index > 1:
            refs.update(entry.prev_group)
            if step.model.within is not None or step.model.per_week is not None:
                refs.add(step.first)
        elif step.anchor is not None:
            refs.update(self.anchor_group(step.anchor))
            if not step.tied:
                refs.add(self.maxend_at[j])
        if entry.gate is not None:
            refs.add(entry.gate)
        if self.cfg.max_span is not None:
            refs.add(self.first_start[-1][1])
        return refs

    def _step_windows(self, w: Window, entry: Entry, first: int) -> None:
        model = self.layout.steps[entry.step].model
        if model.within is not None:
            self._upper(w, model.within, self.start[first], (first,), "within", ("within", entry.step),
                        lambda: f"{entry.key} must start within {model.within} of "
                        f"{self.layout.entries[first].key}")
        if model.per_week is not None:
            self.mode.per_week(self, w, entry, first, model.per_week,
                               lambda: f"{model.key} takes exactly {model.per_week} per treatment "
                               f"week (7-day weeks from {self.layout.entries[first].key})")

    def _apply(self, w: Window, rng: Range, ref: int, group: tuple[int, ...], rule: str,
               text: Callable[[], str]) -> None:
        """``rng`` measured from ``ref``; ``group``: positions that decide the upper end."""
        s, d = self.start[ref], self.day[ref]
        if rng.min.calendar:
            self.low_day(w, d + rng.min.days, (ref,))
        else:
            self.low(w, s + rng.min.minutes, (ref,))
        if rng.max is not None:
            self._upper(w, rng.max, s, group, rule, None, text)
        else:
            w.note(rule, text)
        if rng.target is not None:
            if rng.target.calendar:
                w.target_day = d + rng.target.days
            else:
                w.target_instant = s + rng.target.minutes

    def _upper(self, w: Window, bound: Duration, ref: int, refs: tuple[int, ...], rule: str, running: object,
               text: Callable[[], str]) -> None:
        """``start <= ref + bound`` (ref is an instant): a hard bound or lateness, as the mode says."""
        w.note(rule, text)
        if bound.calendar:
            self.mode.upper(self, w, rule, True, self.clock.day_of(ref) + bound.days, running, refs)
        else:
            self.mode.upper(self, w, rule, False, ref + bound.minutes, running, refs)

    def anchor_group(self, step: int) -> tuple[int, ...]:
        """Where a step's latest session can be: its last occurrence, or once placed, that
        one's follow-ups (which start after it)."""
        info = self.layout.steps[step]
        last = info.occurrences[-1]
        follows = tuple(p for p in range(last + 1, info.last + 1) if self.placed[p])
        return follows or ((last,) if self.placed[last] else ())

    def anchor_of(self, step: int) -> int:
        """The latest-starting placed session of a step."""
        best = -1
        for p in self.anchor_group(step):
            if best < 0 or self.start[p] > self.start[best]:
                best = p
        return best

    # ------------------------------------------------------------------ candidates

    def day_range(self, w: Window) -> tuple[int, int]:
        lo_day = w.lo_day if w.lo == -INF else max(w.lo_day, self.clock.day_of(w.lo))
        hi_day = w.hi_day if w.hi == INF else min(w.hi_day, self.clock.day_of(w.hi))
        return max(lo_day, self.cal.first), min(hi_day, self.cal.last)

