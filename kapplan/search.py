"""Depth-first search for the best plan, with look-ahead and failure memory.

Positions are placed in placement order; each takes its candidates in
preference order (nearest its target, else earliest), so the first complete
plan found is the best one (a lexicographic optimum). Three things keep the
search small:

- the day-level look-ahead (relaxation.py) rejects a candidate as soon as the
  rest of its step, or the entry into the next step, can no longer fit;
- failure memory: when every candidate of a position fails, the part of the
  state the remaining positions can see is remembered (normalized: a
  calendar-day rule sees only a date; a bound that only pushes later is kept
  as a number that dominates), and a later state that is no better is cut at
  once;
- a node budget: when it runs out the search stops and says so, rather than
  claim that no plan exists.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator
from dataclasses import dataclass, field

from .layout import Entry, Layout
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
    # relaxed mode: upper bounds turned into lateness: (rule, calendar, limit, running-over key)
    uppers: list[tuple[str, bool, int, object]] = field(default_factory=list)
    notes: list[tuple[str, str]] | None = None  # (rule, human text), when explaining

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


@dataclass
class Frame:
    candidates: Iterator[int]
    key: tuple[tuple[object, ...], tuple[int, ...]] | None


class Engine:
    """One search over one layout and calendar."""

    def __init__(self, layout: Layout, calendar: Calendar, settings: Settings) -> None:
        self.layout = layout
        self.cal = calendar
        self.clock = calendar.clock
        self.cfg = settings
        n = len(layout)
        self.n = n
        self.start: list[int] = [0] * n
        self.end: list[int] = [0] * n
        self.day: list[int] = [0] * n
        self.placed = [False] * n
        self.maxend = [-INF] * (n + 1)
        self.nodes = 0
        self.busy_starts: list[int] = []
        self.busy_ends: list[int] = []
        self.busy_pos: list[int] = []
        self.by_day: dict[int, list[tuple[int, bool]]] = {}
        self.dosing_starts: list[int] = []
        self.dosing_days: list[int] = []
        self.free_dosing: list[int] = []  # non-fixed dosing starts (for the memory key)
        self.first_start: list[int] = [INF]
        self.late: list[int] = [0]
        self.over: dict[object, list[int]] = {}
        self.failures: dict[tuple[object, ...], list[tuple[int, ...]]] = {}
        self.failing_positions: set[int] = set()
        self.deepest = -1
        self.snapshot: list[int | None] = []
        self.projected: tuple[int, int] | None = None  # (position, stuck occurrence) from look-ahead
        self._fixed_starts: list[int] = []
        self._fixed_ends: list[int] = []
        self._fixed_reach: list[int] = []
        self._place_fixed()
        self.lookahead = self._make_lookahead()

    # ------------------------------------------------------------------ set-up

    def _place_fixed(self) -> None:
        spans = sorted((s, e, p) for p, (s, e) in self.cfg.fixed.items())
        reach = -INF
        for s, e, p in spans:
            self.start[p], self.end[p], self.day[p] = s, e, self.clock.day_of(s)
            self.placed[p] = True
            self._fixed_starts.append(s)
            self._fixed_ends.append(e)
            reach = max(reach, e)
            self._fixed_reach.append(reach)
            entry = self.layout.entries[p]
            self.by_day.setdefault(self.day[p], []).append((s, entry.dosing))
            if entry.dosing:
                insort(self.dosing_starts, s)
                insort(self.dosing_days, self.day[p])
            self.first_start[0] = min(self.first_start[0], s)

    def _make_lookahead(self) -> Lookahead:
        cal, relaxed = self.cal, self.cfg.relaxed
        shapes = []
        for step in self.layout.steps:
            model = step.model
            entries = [self.layout.entries[p] for p in step.occurrences]
            gap_low, gap_high = range_days(model.gap, relaxed)
            if entries[0].dosing:
                gap_low = max(gap_low, 1, lower_days(self.cfg.min_dosing) if self.cfg.min_dosing else 0)
            allowed = []
            for occ in entries:
                bits = cal.table(occ.shape).mask()
                for sibling in occ.siblings:
                    follow = self.layout.entries[sibling]
                    assert follow.followup is not None
                    low, high = range_days(follow.followup.offset, relaxed)
                    if occ.dosing:
                        low = max(low, 1)
                    bits &= spread_backward(cal.table(follow.shape).mask(), low, high)
                allowed.append(bits)
            within = model.within
            shapes.append(
                StepShape(
                    count=model.count,
                    allowed=tuple(allowed),
                    gap_low=gap_low,
                    gap_high=gap_high,
                    per_week=None if relaxed else model.per_week,
                    within_days=None if relaxed or within is None else upper_days(within),
                )
            )
        return Lookahead(shapes, cal.first, cal.bit(self.cfg.start_day), cal.bit(self.cfg.last_day),
                         cal.last - cal.first + 1)

    def _step_has_fixed(self, step: int) -> bool:
        info = self.layout.steps[step]
        return any(p in self.cfg.fixed for p in range(info.first, info.last + 1))

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
                self.maxend[k + 1] = max(self.maxend[k], self.end[k])
                k += 1
                continue
            frame = frames[k]
            if frame is None:
                frame = frames[k] = self._enter(k)
            moved = False
            if frame is not None:
                for candidate in frame.candidates:
                    self._place(k, candidate)
                    if self._looks_ahead(k):
                        moved = True
                        break
                    self._unplace(k)
            if moved:
                k += 1
                continue
            self._fail(k, frame)
            frames[k] = None
            k -= 1
            while k >= 0 and k in fixed:
                k -= 1
            if k < 0:
                return False
            self._unplace(k)

    def _enter(self, k: int) -> Frame | None:
        key = None
        if k in self.failing_positions:
            key = self.state_key(k)
            if self._known_failure(key):
                return None
        return Frame(self.candidates(k, self.window(k)), key)

    def _fail(self, k: int, frame: Frame | None) -> None:
        if k > self.deepest:
            self.deepest, self.snapshot, self.projected = k, self._snapshot(), None
        key = frame.key if frame is not None and frame.key is not None else self.state_key(k)
        self._remember_failure(key)

    def _snapshot(self) -> list[int | None]:
        return [s if p else None for s, p in zip(self.start, self.placed, strict=True)]

    def _tick(self) -> None:
        self.nodes += 1
        if self.nodes > self.cfg.budget:
            raise BudgetExhausted

    # ------------------------------------------------------------------ placing

    def _place(self, k: int, s: int) -> None:
        self._tick()
        entry = self.layout.entries[k]
        e, d = s + entry.duration, self.clock.day_of(s)
        self.start[k], self.end[k], self.day[k], self.placed[k] = s, e, d, True
        i = bisect_left(self.busy_starts, s)
        self.busy_starts.insert(i, s)
        self.busy_ends.insert(i, e)
        self.busy_pos.insert(i, k)
        self.by_day.setdefault(d, []).append((s, entry.dosing))
        if entry.dosing:
            insort(self.dosing_starts, s)
            insort(self.dosing_days, d)
            insort(self.free_dosing, s)
        self.maxend[k + 1] = max(self.maxend[k], e)
        self.first_start.append(min(self.first_start[-1], s))
        if self.cfg.relaxed:
            self._add_lateness(k, s, d)

    def _unplace(self, k: int) -> None:
        entry = self.layout.entries[k]
        s, d = self.start[k], self.day[k]
        i = bisect_left(self.busy_starts, s)
        del self.busy_starts[i], self.busy_ends[i], self.busy_pos[i]
        self.by_day[d].remove((s, entry.dosing))
        if entry.dosing:
            self.dosing_starts.remove(s)
            self.dosing_days.remove(d)
            self.free_dosing.remove(s)
        self.first_start.pop()
        self.placed[k] = False
        if self.cfg.relaxed:
            self.late.pop()
            for stack in self.over.values():
                if len(stack) > len(self.late):
                    stack.pop()

    def _add_lateness(self, k: int, s: int, d: int) -> None:
        window = self.window(k)
        extra = 0
        for _rule, calendar, limit, running in window.uppers:
            past = (d - limit) * 1440 if calendar else s - limit
            if past <= 0:
                continue
            if running is None:
                extra += past
            else:
                stack = self.over.setdefault(running, [0])
                extra += max(0, past - stack[-1])
        self.late.append(self.late[-1] + extra)
        for running, stack in self.over.items():
            stack.append(stack[-1])
        for _rule, calendar, limit, running in window.uppers:
            if running is not None:
                past = (d - limit) * 1440 if calendar else s - limit
                stack = self.over.setdefault(running, [0] * (len(self.late) - 1) + [0])
                while len(stack) < len(self.late):
                    stack.append(stack[-1])
                stack[-1] = max(stack[-1], past)

    def first_session(self) -> int:
        return self.first_start[-1]

    # ------------------------------------------------------------------ windows

    def window(self, j: int, notes: list[tuple[str, str]] | None = None) -> Window:
        """Bounds for position j from the placed positions its rules refer to."""
        cfg, layout = self.cfg, self.layout
        entry = layout.entries[j]
        step = layout.steps[entry.step]
        model = step.model
        w = Window(lo=cfg.not_before, lo_day=cfg.start_day, hi_day=cfg.last_day, notes=notes)
        entries = layout.entries
        if entry.followup is not None:
            w.lo = max(w.lo, self.end[entry.occ])
            self._apply(w, entry.followup.offset, entry.occ, "offset", None,
                        f"{entry.followup.key} must fall {entry.followup.offset} after {entries[entry.occ].key}")
        elif entry.index > 1:
            assert entry.prev_occ is not None
            for p in entry.prev_group:
                w.lo = max(w.lo, self.end[p])
            self._apply(w, model.gap, entry.prev_occ, "gap", None,
                        f"{entry.key} must fall {model.gap} after {entries[entry.prev_occ].key}")
            self._step_windows(w, entry, step.first)
        elif step.anchor is not None:
            anchor = self.anchor_of(step.anchor)
            w.lo = max(w.lo, self.end[anchor])
            if not step.tied:
                w.lo = max(w.lo, self.maxend[j])
            self._apply(w, model.after, anchor, "after", None,
                        f"{entry.key} must fall {model.after} after {entries[anchor].key}")
        span = cfg.max_span
        first = self.first_session()
        if span is not None and first < INF and not (j == 0 and first == INF):
            self._upper(w, span, first, "max_span", ("span",),
                        f"the whole plan must fit in {span} (first session {self._first_key()})")
        return w

    def _step_windows(self, w: Window, entry: Entry, first: int) -> None:
        model = self.layout.steps[entry.step].model
        if model.within is not None:
            self._upper(w, model.within, first, "within", ("within", entry.step),
                        f"{entry.key} must start within {model.within} of {self.layout.entries[first].key}")
        if model.per_week is not None:
            f = self.day[first]
            week = (entry.index - 1) // model.per_week
            if not self.cfg.relaxed:
                w.lo_day = max(w.lo_day, f + 7 * week)
                w.hi_day = min(w.hi_day, f + 7 * week + 6)
                w.note("per_week", f"{model.key} takes exactly {model.per_week} per treatment week "
                       f"(7-day weeks from {self.layout.entries[first].key})")
            elif entry.index > model.per_week:
                earlier = self.layout.steps[entry.step].occurrences[entry.index - 1 - model.per_week]
                w.lo_day = max(w.lo_day, f + 7 * ((self.day[earlier] - f) // 7 + 1))

    def _apply(self, w: Window, rng: Range, ref: int, rule: str, running: object, text: str) -> None:
        s, d = self.start[ref], self.day[ref]
        if rng.min.calendar:
            w.lo_day = max(w.lo_day, d + rng.min.days)
        else:
            w.lo = max(w.lo, s + rng.min.minutes)
        if rng.max is not None:
            self._upper(w, rng.max, s, rule, running, text)
        else:
            w.note(rule, text)
        if rng.target is not None:
            if rng.target.calendar:
                w.target_day = d + rng.target.days
            else:
                w.target_instant = s + rng.target.minutes

    def _upper(self, w: Window, bound: Duration, ref: int, rule: str, running: object, text: str) -> None:
        """``start <= ref + bound`` (ref is an instant), or its lateness when relaxed."""
        w.note(rule, text)
        if bound.calendar:
            limit = self.clock.day_of(ref) + bound.days
            if self.cfg.relaxed:
                w.uppers.append((rule, True, limit, running))
            else:
                w.hi_day = min(w.hi_day, limit)
        elif self.cfg.relaxed:
            w.uppers.append((rule, False, ref + bound.minutes, running))
        else:
            w.hi = min(w.hi, ref + bound.minutes)

    def anchor_of(self, step: int) -> int:
        """The latest-starting placed session of a step."""
        info = self.layout.steps[step]
        best = info.first
        for p in range(info.first, info.last + 1):
            if self.placed[p] and self.start[p] > self.start[best]:
                best = p
        return best

    def _first_key(self) -> str:
        first = self.first_session()
        for p in range(self.n):
            if self.placed[p] and self.start[p] == first:
                return self.layout.entries[p].key
        return "?"

    # ------------------------------------------------------------------ candidates

    def day_range(self, w: Window) -> tuple[int, int]:
        lo_day = w.lo_day if w.lo == -INF else max(w.lo_day, self.clock.day_of(w.lo))
        hi_day = w.hi_day if w.hi == INF else min(w.hi_day, self.clock.day_of(w.hi))
        return max(lo_day, self.cal.first), min(hi_day, self.cal.last)

    def candidates(self, k: int, w: Window) -> Iterator[int]:
        """Feasible starts of position k, best first."""
        if self.cfg.relaxed and self.cfg.lateness_cap is not None:
            self._cap_window(w)
        lo_day, hi_day = self.day_range(w)
        if lo_day > hi_day:
            return iter(())
        entry = self.layout.entries[k]
        if w.target_instant is not None:
            t = w.target_instant
            forward = self._stream(entry, w, range(max(lo_day, self.clock.day_of(t)), hi_day + 1), max(w.lo, t))
            backward = self._stream(entry, w, range(min(hi_day, self.clock.day_of(t)), lo_day - 1, -1),
                                    w.lo, min(w.hi, t - 1), reverse=True)
            return (s for _, s in heapq.merge(((abs(s - t), s) for s in backward),
                                              ((abs(s - t), s) for s in forward)))
        return self._stream(entry, w, self._day_order(lo_day, hi_day, w.target_day), w.lo)

    @staticmethod
    def _day_order(lo: int, hi: int, target: int | None) -> Iterator[int]:
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

    def _stream(self, entry: Entry, w: Window, days: Iterator[int] | range, lo: int,
                hi: int | None = None, reverse: bool = False) -> Iterator[int]:
        table = self.cal.table(entry.shape)
        hi = w.hi if hi is None else hi
        for d in days:
            self._tick()
            slots = table.slots(d)
            if not slots or (entry.dosing and not self._dosing_day_ok(d)):
                continue
            chosen = slots[bisect_left(slots, lo):bisect_right(slots, hi)]
            for s in reversed(chosen) if reverse else chosen:
                if self.is_free(entry, s, d) and self._within_cap(w, s, d):
                    yield s

    def _dosing_day_ok(self, d: int) -> bool:
        if any(dosing for _, dosing in self.by_day.get(d, ())):
            return False
        md = self.cfg.min_dosing
        if md is not None and md.calendar and md.days > 0:
            i = bisect_left(self.dosing_days, d - md.days + 1)
            if i < len(self.dosing_days) and self.dosing_days[i] < d + md.days:
                return False
        return True

    def is_free(self, entry: Entry, s: int, d: int) -> bool:
        """No overlap, the dosing-day rule, the dosing interval."""
        e = s + entry.duration
        i = bisect_left(self.busy_starts, e)
        if i and self.busy_ends[i - 1] > s:
            return False
        j = bisect_left(self._fixed_starts, e) - 1
        while j >= 0 and self._fixed_reach[j] > s:
            if self._fixed_ends[j] > s:
                return False
            j -= 1
        for t, dosing in self.by_day.get(d, ()):
            if (dosing and t < s) or (entry.dosing and t > s):
                return False
        md = self.cfg.min_dosing
        if entry.dosing and md is not None and not md.calendar:
            i = bisect_left(self.dosing_starts, s)
            if i < len(self.dosing_starts) and self.dosing_starts[i] - s < md.minutes:
                return False
            if i and s - self.dosing_starts[i - 1] < md.minutes:
                return False
        return True

    def _cap_window(self, w: Window) -> None:
        assert self.cfg.lateness_cap is not None
        room = self.cfg.lateness_cap - self.late[-1]
        for _rule, calendar, limit, running in w.uppers:
            over = self.over[running][-1] if running in self.over else 0
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
            over = self.over[running][-1] if running in self.over else 0
            extra += max(0, past - over) if running is not None else max(0, past)
        return self.late[-1] + extra <= self.cfg.lateness_cap

    # ------------------------------------------------------------------ look-ahead

    def span_last_bit(self) -> int | None:
        span = self.cfg.max_span
        first = self.first_session()
        if span is None or self.cfg.relaxed or first >= INF:
            return None
        return self.cal.bit(self.clock.day_of(first) + upper_days(span))

    def _looks_ahead(self, k: int) -> bool:
        layout, cal = self.layout, self.cal
        entry = layout.entries[k]
        step = layout.steps[entry.step]
        span_last = self.span_last_bit()
        if entry.is_occurrence and not self._step_has_fixed(entry.step):
            first = cal.bit(self.day[step.first])
            if not self.lookahead.can_continue(entry.step, entry.index, cal.bit(self.day[k]), first, span_last):
                self._project(k, step.index, entry.index, first, span_last)
                return False
        nxt = entry.step + 1
        if k == step.last and nxt < len(layout.steps) and not self._step_has_fixed(nxt):
            w = self.window(layout.steps[nxt].first)
            lo_day, hi_day = self.day_range(w)
            if not self.lookahead.can_enter(nxt, cal.bit(lo_day), cal.bit(hi_day), span_last):
                target = layout.steps[nxt].first
                if target > self.deepest:
                    self.deepest, self.snapshot, self.projected = target, self._snapshot(), (target, 1)
                return False
        return True

    def _project(self, k: int, step: int, n: int, first: int, span_last: int | None) -> None:
        info = self.layout.steps[step]
        if info.occurrences[-1] <= self.deepest:
            return
        stuck = self.lookahead.stuck_at(step, n, self.cal.bit(self.day[k]), first, span_last)
        position = info.occurrences[stuck - 1]
        if position > self.deepest:
            self.deepest, self.snapshot, self.projected = position, self._snapshot(), (position, stuck)

    # ------------------------------------------------------------------ failure memory

    def state_key(self, k: int) -> tuple[tuple[object, ...], tuple[int, ...]]:
        """What positions k.. can see of positions before k (see module docstring)."""
        from .memory import state_key

        return state_key(self, k)

    def _known_failure(self, key: tuple[tuple[object, ...], tuple[int, ...]]) -> bool:
        rest, bounds = key
        for seen in self.failures.get(rest, ()):
            if all(a >= b for a, b in zip(bounds, seen, strict=True)):
                return True
        return False

    def _remember_failure(self, key: tuple[tuple[object, ...], tuple[int, ...]]) -> None:
        rest, bounds = key
        known = self.failures.setdefault(rest, [])
        if len(known) >= 8:
            known.pop(0)
        known.append(bounds)
        self.failing_positions.add(rest[0])  # type: ignore[arg-type]
