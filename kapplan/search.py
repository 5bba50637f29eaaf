"""Depth-first search for the best plan.

Positions are placed in placement order; each takes its candidates in
preference order (nearest its target, else earliest), so the first complete
plan found is the best one (a lexicographic optimum). What keeps the search
small:

- look-ahead (relaxation.py): a candidate is refused as soon as the rest of
  its step, or the rest of the plan, can no longer fit at day level;
- conflict-directed backjumping: every refused candidate blames the placed
  positions that refused it (the sessions its rules refer to, the sessions in
  its way); when a position runs out of candidates the search returns straight
  to the latest blamed position, skipping positions that cannot help;
- learned nogoods: when a position runs out of candidates, the blamed
  positions and their values are remembered; whenever they recur (a blamed
  lower bound no earlier), the position fails at once with the same blame;
- a node budget: when it runs out the search stops and says so, rather than
  claim that no plan exists.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .layout import Entry, Layout, range_text
from .protocol import Duration, Range
from .relaxation import Lookahead, StepShape, lower_days, range_days, upper_days
from .slots import Calendar, spread_backward

INF = 1 << 62


class BudgetExhausted(Exception):
    """The node budget ran out before the search finished."""


@dataclass
class Window:
    """Where a position may start, given the positions before it."""

    lo: int = -INF
    hi: int = INF
    lo_day: int = -INF
    hi_day: int = INF
    target_day: int | None = None
    target_instant: int | None = None
    # relaxed mode: upper bounds turned into lateness: (rule, calendar, limit, running-overrun key)
    uppers: list[tuple[str, bool, int, object]] = field(default_factory=list)
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

    def note(self, rule: str, text: str) -> None:
        if self.notes is not None:
            self.notes.append((rule, text))


@dataclass
class Settings:
    start_day: int
    last_day: int
    not_before: int
    fixed: dict[int, tuple[int, int]]
    min_dosing: Duration | None
    max_span: Duration | None
    relaxed: bool = False
    lateness_cap: int | None = None
    budget: int = 200_000
    prune: bool = True  # False: plain chronological backtracking (a reference for tests)


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


@dataclass
class Frame:
    candidates: Iterator[int] | None  # None: known to fail (a learned nogood)
    window: Window | None
    blame: Blame
    upper: tuple[tuple[int, ...], bool] = ((), False)  # positions behind the binding upper bound
    ceiling: int = INF  # candidates from here on are known to fail
    dead_days: set[int] = field(default_factory=set)  # days whose candidates are known to fail
    dead_after: dict[int, int] = field(default_factory=dict)  # day -> from this start on, that day fails


class Engine:
    """One search over one layout and calendar."""

    def __init__(self, layout: Layout, calendar: Calendar, settings: Settings) -> None:
        self.layout = layout
        self.cal = calendar
        self.clock = calendar.clock
        self.cfg = settings
        n = self.n = len(layout)
        self.start, self.end, self.day = [0] * n, [0] * n, [0] * n
        self.placed = [False] * n
        self.maxend = [-INF] * (n + 1)
        self.maxend_at = [-1] * (n + 1)
        self.nodes = 0
        self.busy_starts: list[int] = []
        self.busy_ends: list[int] = []
        self.busy_pos: list[int] = []
        self.by_day: dict[int, list[tuple[int, bool, int]]] = {}
        self.dosing_starts: list[tuple[int, int]] = []
        self.dosing_days: list[tuple[int, int]] = []
        self.first_start: list[tuple[int, int]] = [(INF, -1)]
        self.late = 0  # relaxed mode: minutes past relaxed bounds so far
        self.over: dict[object, int] = {}  # relaxed mode: running overrun of within / max_span
        self.undo: dict[int, tuple[int, list[tuple[object, int]]]] = {}
        # position -> blamed (position, exact) that must match -> their values -> nogoods
        self.nogoods: dict[int, dict[tuple[tuple[int, bool], ...], dict[tuple[int, ...], list[Nogood]]]] = {}
        self.trace = None  # debugging hook: called with (position, frame, culprits) on each retreat
        self.deepest = -1
        self.snapshot: list[int | None] = []
        self._fixed_starts: list[int] = []
        self._fixed_ends: list[int] = []
        self._fixed_reach: list[int] = []
        self._place_fixed()
        self._step_fixed = [any(p in settings.fixed for p in range(s.first, s.last + 1)) for s in layout.steps]
        self.lookahead = self._make_lookahead()

    # ------------------------------------------------------------------ set-up

    def _place_fixed(self) -> None:
        reach = -INF
        for s, e, p in sorted((s, e, p) for p, (s, e) in self.cfg.fixed.items()):
            self.start[p], self.end[p], self.day[p] = s, e, self.clock.day_of(s)
            self.placed[p] = True
            self._fixed_starts.append(s)
            self._fixed_ends.append(e)
            reach = max(reach, e)
            self._fixed_reach.append(reach)
            dosing = self.layout.entries[p].dosing
            self.by_day.setdefault(self.day[p], []).append((s, dosing, p))
            if dosing:
                insort(self.dosing_starts, (s, p))
                insort(self.dosing_days, (self.day[p], p))
            if s < self.first_start[0][0]:
                self.first_start[0] = (s, p)

    def _make_lookahead(self) -> Lookahead:
        cal, relaxed, layout = self.cal, self.cfg.relaxed, self.layout
        slack = cal.clock.slack
        shapes = []
        for step in layout.steps:
            model = step.model
            entries = [layout.entries[p] for p in step.occurrences]
            own = cal.table(entries[0].shape).spread()
            gap_low, gap_high = range_days(model.gap, relaxed, own, own, slack)
            if entries[0].dosing:
                md = self.cfg.min_dosing
                gap_low = max(gap_low, 1, lower_days(md, own, own, slack) if md else 0)
            allowed = [self._occurrence_days(occ, relaxed) for occ in entries]
            after_low, after_high = range_days(model.after, relaxed, slack=slack)
            trail: int | None = 0
            lead = 0
            for sibling in entries[-1].siblings:
                follow = layout.entries[sibling]
                assert follow.followup is not None
                low, high = range_days(follow.followup.offset, relaxed, own, cal.table(follow.shape).spread(), slack)
                lead = max(lead, low)
                trail = None if trail is None or high is None else max(trail, high)
            within = model.within
            shapes.append(StepShape(
                count=model.count, allowed=tuple(allowed), gap_low=gap_low, gap_high=gap_high,
                per_week=None if relaxed else model.per_week,
                within_days=None if relaxed or within is None else upper_days(within, own, own, slack),
                after_low=after_low, after_high=after_high, trail=trail,
                follows_on=not step.tied or step.anchor == step.index - 1,
                lead=lead, ends_dosing=entries[-1].dosing,
            ))
        return Lookahead(shapes, cal.bit(self.cfg.start_day), cal.bit(self.cfg.last_day), cal.last - cal.first + 1)

    def _occurrence_days(self, occ: Entry, relaxed: bool) -> int:
        """Days with a slot for the occurrence and, within reach, for each of its follow-ups."""
        table = self.cal.table(occ.shape)
        bits = table.mask()
        for sibling in occ.siblings:
            follow = self.layout.entries[sibling]
            assert follow.followup is not None
            theirs = self.cal.table(follow.shape)
            low, high = range_days(follow.followup.offset, relaxed, table.spread(), theirs.spread(),
                                   self.cal.clock.slack)
            if occ.dosing:
                low = max(low, 1)  # nothing starts later on a dosing day
            md = self.cfg.min_dosing
            if occ.dosing and follow.dosing and md is not None:
                low = max(low, lower_days(md, table.spread(), theirs.spread(), self.cal.clock.slack))
            bits &= spread_backward(theirs.mask(), low, high)
        return bits

    # ------------------------------------------------------------------ search

    def run(self) -> bool:
        """True when every position is placed; raises BudgetExhausted."""
        fixed = self.cfg.fixed
        frames: list[Frame | None] = [None] * self.n
        k = 0
        while True:
            if k == self.n:
                return True
            if k in fixed:
                self._pass_fixed(k)
                k += 1
                continue
            frame = frames[k]
            if frame is None:
                frame = frames[k] = self._enter(k)
            if frame.candidates is not None and self._advance(k, frame):
                k += 1
                continue
            if k > self.deepest:
                self.deepest, self.snapshot = k, self._snapshot()
            if frame.ceiling == INF:
                frame.blame.update(frame.upper[0], exact=frame.upper[1])
            culprits = {p: f for p, f in frame.blame.flags.items() if p < k}
            if not self.cfg.prune:
                culprits = {p: (False, False, False) for p in range(k) if p not in fixed}
            elif frame.candidates is not None:
                self._learn(k, culprits)
            target = max(culprits, default=-1)
            if self.trace is not None:
                self.trace(k, frame, culprits)
            for p in range(k, target, -1):
                frames[p] = None
                if p not in fixed and self.placed[p] and p != k:
                    self._unplace(p)
            if target < 0:
                return False
            target_frame = frames[target]
            assert target_frame is not None
            self._rule_out(target, target_frame, culprits.pop(target))
            target_frame.blame.merge(culprits)
            self._unplace(target)
            k = target

    def _advance(self, k: int, frame: Frame) -> bool:
        """Place k at its next candidate that the look-ahead accepts."""
        assert frame.candidates is not None and frame.window is not None
        for candidate in frame.candidates:
            if candidate >= frame.ceiling or self._dead(frame, candidate):
                continue
            self._place(k, candidate, frame.window)
            if self._looks_ahead(k, frame):
                return True
            self._unplace(k)
        return False

    def _rule_out(self, k: int, frame: Frame, flags: Flags) -> None:
        """k's current start failed; by its flags, so do later starts and/or the rest of its day."""
        if self.cfg.relaxed:
            return
        later, later_today, today = flags
        if later:
            frame.ceiling = min(frame.ceiling, self.clock.midnight(self.day[k]) if today else self.start[k])
        elif today:
            frame.dead_days.add(self.day[k])
        elif later_today:
            frame.dead_after[self.day[k]] = min(frame.dead_after.get(self.day[k], INF), self.start[k])

    def _dead(self, frame: Frame, candidate: int) -> bool:
        if not frame.dead_days and not frame.dead_after:
            return False
        day = self.clock.day_of(candidate)
        return day in frame.dead_days or candidate >= frame.dead_after.get(day, INF)

    def _pass_fixed(self, k: int) -> None:
        if self.end[k] > self.maxend[k]:
            self.maxend[k + 1], self.maxend_at[k + 1] = self.end[k], k
        else:
            self.maxend[k + 1], self.maxend_at[k + 1] = self.maxend[k], self.maxend_at[k]

    def _enter(self, k: int) -> Frame:
        known = self._nogood(k)
        if known is not None:
            blame = self._blame()
            blame.merge(known)
            return Frame(None, None, blame)
        w = self.window(k)
        blame = self._blame()
        (low, low_exact), high = w.binding()
        blame.update(low, monotone=True, exact=low_exact)
        if self.cfg.relaxed:
            blame.update(self.window_refs(k))
        return Frame(self.candidates(k, w, blame), w, blame, high)

    def _blame(self) -> Blame:
        return Blame(self.cfg.fixed, typed=not self.cfg.relaxed)

    def _snapshot(self) -> list[int | None]:
        return [s if p else None for s, p in zip(self.start, self.placed, strict=True)]

    def _tick(self) -> None:
        self.nodes += 1
        if self.nodes > self.cfg.budget:
            raise BudgetExhausted

    # ------------------------------------------------------------------ placing

    def _place(self, k: int, s: int, w: Window | None = None) -> None:
        self._tick()
        entry = self.layout.entries[k]
        e, d = s + entry.duration, self.clock.day_of(s)
        self.start[k], self.end[k], self.day[k], self.placed[k] = s, e, d, True
        i = bisect_left(self.busy_starts, s)
        self.busy_starts.insert(i, s)
        self.busy_ends.insert(i, e)
        self.busy_pos.insert(i, k)
        self.by_day.setdefault(d, []).append((s, entry.dosing, k))
        if entry.dosing:
            insort(self.dosing_starts, (s, k))
            insort(self.dosing_days, (d, k))
        if e > self.maxend[k]:
            self.maxend[k + 1], self.maxend_at[k + 1] = e, k
        else:
            self.maxend[k + 1], self.maxend_at[k + 1] = self.maxend[k], self.maxend_at[k]
        self.first_start.append(min(self.first_start[-1], (s, k)))
        if w is not None and self.cfg.relaxed:
            self._add_lateness(k, w)

    def _unplace(self, k: int) -> None:
        entry = self.layout.entries[k]
        s, d = self.start[k], self.day[k]
        i = bisect_left(self.busy_starts, s)
        del self.busy_starts[i], self.busy_ends[i], self.busy_pos[i]
        self.by_day[d].remove((s, entry.dosing, k))
        if entry.dosing:
            self.dosing_starts.remove((s, k))
            self.dosing_days.remove((d, k))
        self.first_start.pop()
        self.placed[k] = False
        if k in self.undo:
            extra, undo = self.undo.pop(k)
            self.late -= extra
            for running, old in reversed(undo):
                self.over[running] = old

    def _add_lateness(self, k: int, w: Window) -> None:
        """Relaxed mode: charge the minutes this start lies past each relaxed bound."""
        s, d = self.start[k], self.day[k]
        extra, undo = 0, []
        for _rule, calendar, limit, running in w.uppers:
            past = (d - limit) * 1440 if calendar else s - limit
            if running is None:
                extra += max(0, past)
            elif past > self.over.get(running, 0):
                extra += past - self.over.get(running, 0)
                undo.append((running, self.over.get(running, 0)))
                self.over[running] = past
        if extra or undo:
            self.late += extra
            self.undo[k] = (extra, undo)

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
        w = Window(notes=notes)
        self._low(w, cfg.not_before, ())
        self._low_day(w, cfg.start_day, ())
        self._high_day(w, cfg.last_day, ())
        if entry.followup is not None:
            self._low(w, self.end[entry.occ], (entry.occ,))
            self._apply(w, entry.followup.offset, entry.occ, (entry.occ,), "offset",
                        f"{entry.followup.key} must fall {range_text(entry.followup.offset)} after "
                        f"{keys[entry.occ].key}")
        elif entry.index > 1:
            assert entry.prev_occ is not None
            for p in entry.prev_group:
                self._low(w, self.end[p], (p,))
            self._apply(w, model.gap, entry.prev_occ, (entry.prev_occ,), "gap",
                        f"{entry.key} must fall {range_text(model.gap)} after {keys[entry.prev_occ].key}")
            self._step_windows(w, entry, step.first)
        elif step.anchor is not None:
            anchor = self.anchor_of(step.anchor)
            self._low(w, self.end[anchor], (anchor,))
            if not step.tied:
                self._low(w, self.maxend[j], (self.maxend_at[j],))
            group = self.anchor_group(step.anchor)
            self._apply(w, model.after, anchor, group, "after",
                        f"{entry.key} must fall {range_text(model.after)} after {keys[anchor].key}")
        first, first_at = self.first_start[-1]
        if cfg.max_span is not None and first < INF:
            self._upper(w, cfg.max_span, first, (first_at,), "max_span", ("span",),
                        f"the whole plan must fit in {cfg.max_span} (from {keys[first_at].key})")
        return w

    def _low(self, w: Window, instant: int, refs: tuple[int, ...]) -> None:
        w.lo = max(w.lo, instant)
        w.lows.append((instant, refs, True))

    def _low_day(self, w: Window, day: int, refs: tuple[int, ...]) -> None:
        w.lo_day = max(w.lo_day, day)
        w.lows.append((self.clock.midnight(day), refs, False))

    def _high(self, w: Window, instant: int, refs: tuple[int, ...]) -> None:
        w.hi = min(w.hi, instant)
        w.highs.append((instant, refs, True))

    def _high_day(self, w: Window, day: int, refs: tuple[int, ...]) -> None:
        w.hi_day = min(w.hi_day, day)
        w.highs.append((self.clock.midnight(day + 1) - 1, refs, False))

    def window_refs(self, j: int) -> set[int]:
        """The placed positions whose values ``window(j)`` depends on."""
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
                if self.cfg.relaxed and step.model.per_week:
                    refs.update(step.occurrences[:entry.index - 1])
        elif step.anchor is not None:
            refs.update(self.anchor_group(step.anchor))
            if not step.tied:
                refs.add(self.maxend_at[j])
        if self.cfg.max_span is not None:
            refs.add(self.first_start[-1][1])
        if self.cfg.lateness_cap is not None:
            refs.update(self.undo)
        return refs

    def _step_windows(self, w: Window, entry: Entry, first: int) -> None:
        model = self.layout.steps[entry.step].model
        if model.within is not None:
            self._upper(w, model.within, self.start[first], (first,), "within", ("within", entry.step),
                        f"{entry.key} must start within {model.within} of {self.layout.entries[first].key}")
        if model.per_week is not None:
            f = self.day[first]
            week = (entry.index - 1) // model.per_week
            if not self.cfg.relaxed:
                self._low_day(w, f + 7 * week, (first,))
                self._high_day(w, f + 7 * week + 6, (first,))
                w.note("per_week", f"{model.key} takes exactly {model.per_week} per treatment week "
                       f"(7-day weeks from {self.layout.entries[first].key})")
            elif entry.index > model.per_week:
                earlier = self.layout.steps[entry.step].occurrences[entry.index - 1 - model.per_week]
                self._low_day(w, f + 7 * ((self.day[earlier] - f) // 7 + 1), (first, earlier))

    def _apply(self, w: Window, rng: Range, ref: int, group: tuple[int, ...], rule: str, text: str) -> None:
        """``rng`` measured from ``ref``; ``group``: positions that decide the upper end."""
        s, d = self.start[ref], self.day[ref]
        if rng.min.calendar:
            self._low_day(w, d + rng.min.days, (ref,))
        else:
            self._low(w, s + rng.min.minutes, (ref,))
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
               text: str) -> None:
        """``start <= ref + bound`` (ref is an instant), or its lateness when relaxed."""
        w.note(rule, text)
        if bound.calendar:
            limit = self.clock.day_of(ref) + bound.days
            if self.cfg.relaxed:
                w.uppers.append((rule, True, limit, running))
            else:
                self._high_day(w, limit, refs)
        elif self.cfg.relaxed:
            w.uppers.append((rule, False, ref + bound.minutes, running))
        else:
            self._high(w, ref + bound.minutes, refs)

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

    def candidates(self, k: int, w: Window, blame: Blame) -> Iterator[int]:
        """Feasible starts of position k, best first; refusals are blamed on placed positions."""
        if self.cfg.lateness_cap is not None:
            self._cap_window(w)
        lo_day, hi_day = self.day_range(w)
        if lo_day > hi_day:
            return iter(())
        entry = self.layout.entries[k]
        if w.target_instant is not None:
            t = w.target_instant
            day_t = self.clock.day_of(t)
            forward = self._stream(entry, w, blame, range(max(lo_day, day_t), hi_day + 1), max(w.lo, t), w.hi)
            backward = self._stream(entry, w, blame, range(min(hi_day, day_t), lo_day - 1, -1), w.lo,
                                    min(w.hi, t - 1), reverse=True)
            return (s for _, s in heapq.merge(((abs(s - t), s) for s in backward),
                                              ((abs(s - t), s) for s in forward)))
        return self._stream(entry, w, blame, _day_order(lo_day, hi_day, w.target_day), w.lo, w.hi)

    def _stream(self, entry: Entry, w: Window, blame: Blame, days: Iterable[int], lo: int, hi: int,
                reverse: bool = False) -> Iterator[int]:
        table = self.cal.table(entry.shape)
        for d in days:
            self._tick()
            slots = table.slots(d)
            if not slots or not self._day_ok(entry, d, blame):
                continue
            first, last = bisect_left(slots, lo), bisect_right(slots, hi)
            self.nodes += (last - first) // 8
            if reverse:
                for s in reversed(slots[first:last]):
                    if self.refusal(entry, s, d, blame) < 0 and self._within_cap(w, s, d):
                        yield s
                continue
            i = first
            while i < last:
                s = slots[i]
                resume = self.refusal(entry, s, d, blame)
                if resume < 0:
                    if self._within_cap(w, s, d):
                        yield s
                    i += 1
                else:
                    i = max(i + 1, bisect_left(slots, resume, i, last))

    def _day_ok(self, entry: Entry, d: int, blame: Blame) -> bool:
        """Whole-day tests: a second dosing session that day, the dosing interval, look-ahead."""
        if entry.dosing:
            for _, dosing, p in self.by_day.get(d, ()):
                if dosing:
                    blame.add(p, exact=False)
                    return False
            md = self.cfg.min_dosing
            if md is not None and md.calendar and md.days > 0:
                i = bisect_left(self.dosing_days, (d - md.days + 1, -1))
                if i < len(self.dosing_days) and self.dosing_days[i][0] < d + md.days:
                    blame.add(self.dosing_days[i][1], exact=False)
                    return False
        if entry.is_occurrence and not self._step_fixed[entry.step] and self.cfg.prune:
            step = self.layout.steps[entry.step]
            first = d if entry.index == 1 else self.day[step.first]
            first_day = min(d, self.clock.day_of(self.first_session())) if self.first_session() < INF else d
            span_last = self._span_last(first_day)
            if not self.lookahead.can_continue(entry.step, entry.index, self.cal.bit(d), self.cal.bit(first),
                                               span_last):
                self._project(entry.pos, d, first, span_last)
                blame.update((step.first, self.first_start[-1][1]), exact=False)
                return False
        return True

    def refusal(self, entry: Entry, s: int, d: int, blame: Blame) -> int:
        """-1 when s is free (no overlap, the dosing-day rule, the dosing interval); else
        the earliest start that could escape the reason found (blamed on its session)."""
        e = s + entry.duration
        i = bisect_left(self.busy_starts, e)
        if i and self.busy_ends[i - 1] > s:
            blame.add(self.busy_pos[i - 1])
            return self.busy_ends[i - 1]
        j = bisect_left(self._fixed_starts, e) - 1
        while j >= 0 and self._fixed_reach[j] > s:
            if self._fixed_ends[j] > s:
                return self._fixed_ends[j]
            j -= 1
        for t, dosing, p in self.by_day.get(d, ()):
            if dosing and t < s:
                blame.add(p)
                return INF  # nothing starts later on a dosing day
            if entry.dosing and t > s:
                blame.add(p)
                return t + 1
        md = self.cfg.min_dosing
        if entry.dosing and md is not None and not md.calendar:
            i = bisect_left(self.dosing_starts, (s, -1))
            for near in self.dosing_starts[max(0, i - 1):i + 1]:
                if abs(near[0] - s) < md.minutes:
                    blame.add(near[1])
                    return near[0] + md.minutes
        return -1

    def _cap_window(self, w: Window) -> None:
        assert self.cfg.lateness_cap is not None
        room = self.cfg.lateness_cap - self.late
        for _rule, calendar, limit, running in w.uppers:
            over = self.over.get(running, 0) if running is not None else 0
            if calendar:
                w.hi_day = min(w.hi_day, limit + (over + room) // 1440)
            else:
                w.hi = min(w.hi, limit + over + room)

    def _within_cap(self, w: Window, s: int, d: int) -> bool:
        if self.cfg.lateness_cap is None or not w.uppers:
            return True
        extra = 0
        for _rule, calendar, limit, running in w.uppers:
            past = (d - limit) * 1440 if calendar else s - limit
            over = self.over.get(running, 0) if running is not None else 0
            extra += max(0, past - over)
        return self.late + extra <= self.cfg.lateness_cap

    # ------------------------------------------------------------------ look-ahead

    def _span_last(self, first_day: int) -> int | None:
        span = self.cfg.max_span
        if span is None or self.cfg.relaxed:
            return None
        return self.cal.bit(first_day + upper_days(span, slack=self.cal.clock.slack))

    def _looks_ahead(self, k: int, frame: Frame) -> bool:
        """After a step's last session: can the steps that start from it still be entered?"""
        layout = self.layout
        entry = layout.entries[k]
        step = layout.steps[entry.step]
        if k != step.last or not self.cfg.prune:
            return True
        for later in layout.steps[entry.step + 1:]:
            if self._step_fixed[later.index]:
                continue
            next_on = later.index == entry.step + 1 and (not later.tied or later.anchor == entry.step)
            if (next_on or (later.tied and later.anchor == entry.step)) and not self._can_enter(k, later.index, frame):
                return False
        return True

    def _can_enter(self, k: int, step: int, frame: Frame) -> bool:
        cal = self.cal
        target = self.layout.steps[step].first
        w = self.window(target)
        lo_day, hi_day = self.day_range(w)
        span_last = self._span_last(self.clock.day_of(self.first_session()))
        if self.lookahead.can_enter(step, cal.bit(lo_day), cal.bit(hi_day), span_last):
            return True
        (low, low_exact), (high, high_exact) = w.binding()
        later = self.lookahead.can_enter(step, cal.bit(lo_day), cal.bit(self.cfg.last_day), span_last)
        if not later:
            high = ()  # a later upper bound would not help
        frame.blame.update((p for p in low if p != k), monotone=True, exact=low_exact)
        frame.blame.update((p for p in high if p != k), exact=high_exact)
        if span_last is not None:
            frame.blame.add(self.first_start[-1][1], exact=False)
        if self.cfg.relaxed:
            frame.blame.update(self.window_refs(target))
        mine = Blame({}, typed=True)
        if k in low:
            mine.add(k, monotone=True, exact=low_exact)
        if k in high:
            mine.add(k, exact=high_exact)
        if span_last is not None and k == self.first_start[-1][1]:
            mine.add(k, exact=False)
        self._rule_out(k, frame, mine.flags.get(k, (True, True, True)))
        if target > self.deepest:
            self.deepest, self.snapshot = target, self._snapshot()
        return False

    def _project(self, k: int, d: int, first: int, span_last: int | None) -> None:
        """Remember, for the explanation, where the look-ahead says the plan gets stuck."""
        entry = self.layout.entries[k]
        cal = self.cal
        step, n = self.lookahead.stuck_at(entry.step, entry.index, cal.bit(d), cal.bit(first), span_last)
        position = self.layout.steps[step].occurrences[n - 1]
        if position > self.deepest:
            self.deepest, self.snapshot = position, self._snapshot()

    # ------------------------------------------------------------------ nogoods

    def _learn(self, k: int, culprits: dict[int, Flags]) -> None:
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
        shapes = self.nogoods.setdefault(k, {})
        if tuple(same) not in shapes and len(shapes) >= MAX_NOGOOD_SHAPES:
            return
        bucket = shapes.setdefault(tuple(same), {}).setdefault(self._values(same), [])
        if len(bucket) < MAX_NOGOOD_SHAPES:
            bucket.append((tuple(lower), self._values(lower), dict(culprits)))

    def _values(self, blamed: Iterable[tuple[int, bool]]) -> tuple[int, ...]:
        """What a nogood compares of blamed positions: their starts, or only their days."""
        return tuple(self.start[p] if exact else self.day[p] for p, exact in blamed)

    def _nogood(self, k: int) -> dict[int, Flags] | None:
        """The blame of a learned nogood that the current state matches, if any."""
        for same, by_values in self.nogoods.get(k, {}).items():
            for lower, values, culprits in by_values.get(self._values(same), ()):
                if all(a >= b for a, b in zip(self._values(lower), values, strict=True)):
                    return culprits
        return None


Nogood = tuple[tuple[tuple[int, bool], ...], tuple[int, ...], dict[int, Flags]]
MAX_NOGOOD_SHAPES = 64


def _day_order(lo: int, hi: int, target: int | None) -> Iterator[int]:
    """Days from lo to hi, nearest the target first (ties: the earlier)."""
    if target is None or target <= lo:
        yield from range(lo, hi + 1)
        return
    if target >= hi:
        yield from range(hi, lo - 1, -1)
        return
    for distance in range(max(target - lo, hi - target) + 1):
        if target - distance >= lo:
            yield target - distance
        if distance and target + distance <= hi:
            yield target + distance


