"""Depth-first search for the best plan.

Positions are placed in placement order; each takes its candidates in
preference order (nearest its target, else earliest), so the first complete
plan found is the best one (a lexicographic optimum). What keeps the search
small:

- look-ahead (lookahead.py): a candidate is refused as soon as the rest of
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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from kapplan.engine.blame import Blame, Flags, Nogoods
from kapplan.engine.bounds import INF, Bounds, Settings, Window
from kapplan.engine.layout import Entry, Layout
from kapplan.engine.lookahead import ROWS_PER_NODE, Lookahead, StepShape, lower_days
from kapplan.engine.modes import Admits, mode_for
from kapplan.engine.resources import Resources
from kapplan.engine.slots import Calendar, spread_backward

__all__ = ["INF", "BudgetExhausted", "Engine", "Outranked", "Settings", "Window"]


CROWDED_NODES = 1_000
"""A search of a plan with a clinic's people and rooms that takes this many nodes (most
take under 200) marks the clinic crowded for the plan's later searches: their look-ahead
then leaves out the days its people and rooms are held all day, which costs a few
milliseconds to work out and saves seconds where the clinic is full for weeks."""


class BudgetExhausted(Exception):
    """The node budget ran out before the search finished."""


class Outranked(Exception):
    """The search can only find plans worse than its ``cutoff`` (see :meth:`Engine.run`)."""


@dataclass
class Frame:
    candidates: Iterator[int] | None  # None: known to fail (a learned nogood)
    window: Window | None
    blame: Blame
    upper: tuple[tuple[int, ...], bool] = ((), False)  # positions behind the binding upper bound
    ceiling: int = INF  # candidates from here on are known to fail
    dead_days: set[int] = field(default_factory=set)  # days whose candidates are known to fail
    dead_after: dict[int, int] = field(default_factory=dict)  # day -> from this start on, that day fails

    def cut(self, day: int) -> int:
        """The first start of ``day`` from which candidates are known to fail (-INF: all)."""
        if day in self.dead_days:
            return -INF
        return min(self.ceiling, self.dead_after.get(day, INF))


class Engine(Bounds):
    """One search over one layout and calendar."""

    def __init__(self, layout: Layout, calendar: Calendar, settings: Settings,
                 resources: Resources | None = None) -> None:
        self.layout = layout
        self.resources = resources  # a clinic's people and rooms (resources.py), when it lists them
        self.cal = calendar
        self.clock = calendar.clock
        self.cfg = settings
        self.mode = mode_for(settings)  # strict or deviations: every difference between them is its to decide
        self._charged = self.mode.charged  # read on every unplacing: bound once
        self._span_days = self.mode.most_days(settings.max_span, slack=calendar.clock.slack)  # look-ahead's max_span
        n = self.n = len(layout)
        self.start, self.end, self.day = [0] * n, [0] * n, [0] * n
        self.rank: list[tuple[int, int]] = [(0, 0)] * n  # §2 order: (distance from target, start)
        self.placed = [False] * n
        self.maxend = [-INF] * (n + 1)
        self.maxend_at = [-1] * (n + 1)
        self.nodes = 0
        self._crowd_at = CROWDED_NODES if resources is not None else INF
        self.busy_starts: list[int] = []
        self.busy_ends: list[int] = []
        self.busy_pos: list[int] = []
        self.by_day: dict[int, list[tuple[int, bool, int]]] = {}
        self.dosing_starts: list[tuple[int, int]] = []
        self.dosing_days: list[tuple[int, int]] = []
        self.first_start: list[tuple[int, int]] = [(INF, -1)]
        self.nogoods = Nogoods()
        # debugging hook: called with (position, frame, culprits) whenever the search retreats
        self.trace: Callable[[int, Frame, dict[int, Flags]], None] | None = None
        self.deepest = -1
        self.cutoff: tuple[tuple[int, int], ...] | None = None  # ranks of a plan found before (run's docstring)
        self._tied = 0  # leading positions whose ranks equal the cutoff's
        self.snapshot: list[int | None] = []
        self._seen_failure = False  # deepest came from a failure other than the horizon
        self._fixed_starts: list[int] = []
        self._fixed_ends: list[int] = []
        self._fixed_reach: list[int] = []
        self._place_fixed()
        self._step_fixed = [any(p in settings.fixed for p in range(s.first, s.last + 1)) for s in layout.steps]
        self.lookahead = self._make_lookahead()
        first_day = self.clock.midnight(settings.start_day)
        self._static_low = (max(settings.not_before, first_day), (), settings.not_before <= first_day)
        self._static_high = (self.clock.midnight(settings.last_day + 1) - 1, (), False)

    @property
    def late(self) -> int:
        """Minutes of lateness the positions placed are charged (deviation mode; else 0)."""
        return self.mode.late

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
        cal, mode, layout = self.cal, self.mode, self.layout
        slack = cal.clock.slack
        shapes = []
        for step in layout.steps:
            model = step.model
            entries = [layout.entries[p] for p in step.occurrences]
            own = cal.table(entries[0].shape).spread()
            gap_low, gap_high = mode.reach(model.gap, own, own, slack)
            if entries[0].dosing:
                md = self.cfg.min_dosing
                gap_low = max(gap_low, 1, lower_days(md, own, own, slack) if md else 0)
            allowed = [self._occurrence_days(occ) for occ in entries]
            after_low, after_high = mode.reach(model.after, slack=slack)
            trail: int | None = 0
            lead = 0
            for sibling in entries[-1].siblings:
                follow = layout.entries[sibling]
                assert follow.followup is not None
                low, high = mode.reach(follow.followup.offset, own, cal.table(follow.shape).spread(), slack)
                lead = max(lead, low)
                trail = None if trail is None or high is None else max(trail, high)
            shapes.append(StepShape(
                count=model.count, allowed=tuple(allowed), gap_low=gap_low, gap_high=gap_high,
                per_week=mode.weekly(model.per_week), within_days=mode.most_days(model.within, own, own, slack),
                after_low=after_low, after_high=after_high, trail=trail,
                follows_on=not step.tied or step.anchor == step.index - 1,
                lead=lead, ends_dosing=entries[-1].dosing,
            ))
        return Lookahead(shapes, cal.bit(self.cfg.start_day), cal.bit(self.cfg.last_day), cal.last - cal.first + 1)

    def _occurrence_days(self, occ: Entry) -> int:
        """Days with a slot for the occurrence and, within reach, for each of its follow-ups."""
        bits = self._open_days(occ)
        for sibling in occ.siblings:
            bits &= self.followup_days(occ, self.layout.entries[sibling])
        return bits

    def followup_days(self, occ: Entry, follow: Entry) -> int:
        """Days from which ``follow`` finds a slot day within its offset of ``occ``."""
        assert follow.followup is not None
        table, theirs = self.cal.table(occ.shape), self.cal.table(follow.shape)
        low, high = self.mode.reach(follow.followup.offset, table.spread(), theirs.spread(), self.cal.clock.slack)
        if occ.dosing:
            low = max(low, 1)  # nothing starts later on a dosing day
        md = self.cfg.min_dosing
        if occ.dosing and follow.dosing and md is not None:
            low = max(low, lower_days(md, table.spread(), theirs.spread(), self.cal.clock.slack))
        return spread_backward(self._open_days(follow), low, high)

    def _open_days(self, entry: Entry) -> int:
        """Days with a slot for ``entry``; in a crowded clinic, only those on which its people
        and rooms could serve it (other series' holds are fixed for a search: the look-ahead
        may count on them)."""
        bits = self.cal.table(entry.shape).mask()
        resources = self.resources
        if resources is not None and resources.crowded and resources.involved(entry.pos):
            bits = resources.open_days(entry.pos, self.cal, bits)
        return bits

    # ------------------------------------------------------------------ search

    def run(self, first: int = 0, done: Callable[[int], bool] | None = None) -> bool:
        """True when every position is placed; raises BudgetExhausted.

        For the time pass's checks: ``first``, search from there on, the positions
        before it already placed (a failure blamed on those returns False with the
        searched positions unplaced); ``done(k)``, True when placing positions
        before k is enough (they stay placed).

        With a ``cutoff`` (the ranks of a plan found by another search), raises
        Outranked as soon as the positions placed rank worse than the cutoff's:
        plans are met in §2 order, so every later one would rank worse too."""
        fixed = self.cfg.fixed
        frames: list[Frame | None] = [None] * self.n
        k = first
        while True:
            if k == self.n or (done is not None and k > first and done(k)):
                return True
            if k in fixed:
                self._pass_fixed(k)
                k += 1
                continue
            frame = frames[k]
            if frame is None:
                frame = frames[k] = self._enter(k)
            if frame.candidates is not None and self._advance(k, frame):
                if self.cutoff is not None and self._outranked(k):
                    raise Outranked
                k += 1
                continue
            self._record(k)
            if frame.ceiling == INF:
                frame.blame.update(frame.upper[0], exact=frame.upper[1])
            culprits = {p: f for p, f in frame.blame.flags.items() if p < k}
            if not self.cfg.prune:
                culprits = {p: (False, False, False) for p in range(k) if p not in fixed}
            elif frame.candidates is not None:
                self.nogoods.learn(k, culprits, self._value)
            target = max(culprits, default=-1)
            if self.trace is not None:
                self.trace(k, frame, culprits)
            for p in range(k, max(target, first - 1), -1):
                frames[p] = None
                if p not in fixed and self.placed[p] and p != k:
                    self._unplace(p)
            if target < first:
                return False
            target_frame = frames[target]
            assert target_frame is not None
            self._rule_out(target, target_frame, culprits.pop(target))
            target_frame.blame.merge(culprits)
            self._unplace(target)
            k = target

    def _advance(self, k: int, frame: Frame) -> bool:
        """Place k at its next candidate that the look-ahead accepts."""
        assert frame.candidates is not None
        assert frame.window is not None
        for candidate in frame.candidates:
            if candidate >= frame.ceiling or self._dead(frame, candidate):
                continue
            self._place(k, candidate, frame.window)
            if self._looks_ahead(k, frame):
                return True
            self._unplace(k)
        return False

    def _outranked(self, k: int) -> bool:
        """Positions up to k, just placed, rank worse than the cutoff's."""
        cutoff = self.cutoff
        assert cutoff is not None
        tied = self._tied
        while tied < k and self.rank[tied] == cutoff[tied]:
            tied += 1
        if tied == k and self.rank[k] == cutoff[k]:
            tied += 1
        self._tied = tied
        return tied == k and self.rank[k] > cutoff[k]

    def _rule_out(self, k: int, frame: Frame, flags: Flags) -> None:
        """k's current start failed; by its flags, so do later starts and/or the rest of its day."""
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

    def clear(self) -> None:
        """Unplace every searched position (after a search stopped half-way)."""
        for p in range(self.n - 1, -1, -1):
            if self.placed[p] and p not in self.cfg.fixed:
                self._unplace(p)

    def _pass_fixed(self, k: int) -> None:
        if self.end[k] > self.maxend[k]:
            self.maxend[k + 1], self.maxend_at[k + 1] = self.end[k], k
        else:
            self.maxend[k + 1], self.maxend_at[k + 1] = self.maxend[k], self.maxend_at[k]

    def _enter(self, k: int) -> Frame:
        self._tick()
        known = self.nogoods.match(k, self._value)
        if known is not None:
            blame = self._blame()
            blame.merge(known)
            return Frame(None, None, blame)
        w = self.window(k)
        blame = self._blame()
        (low, low_exact), high = w.binding()
        blame.update(low, monotone=True, exact=low_exact)
        for p, exact in w.general:
            blame.add(p, exact=exact)
        self.mode.blame_cap(blame, w)
        frame = Frame(None, w, blame, high)
        frame.candidates = self.candidates(k, w, blame, frame)
        return frame

    def _blame(self) -> Blame:
        return Blame(self.cfg.fixed, typed=True)

    def _snapshot(self) -> list[int | None]:
        return [s if p else None for s, p in zip(self.start, self.placed, strict=True)]

    def _tick(self) -> None:
        self.nodes += 1
        if self.lookahead.rows >= ROWS_PER_NODE:  # the look-ahead's tables are search work too
            self.nodes += self.lookahead.rows // ROWS_PER_NODE
            self.lookahead.rows %= ROWS_PER_NODE
        if self.nodes > self.cfg.budget:
            raise BudgetExhausted
        if self.nodes >= self._crowd_at:
            self._crowd_at = INF
            assert self.resources is not None
            self.resources.crowd()

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
        if w is not None:
            self.rank[k] = _rank(w, s, d)
        if self.resources is not None:
            self.resources.place(k, s)
        if w is not None and w.uppers:  # only a deviation mode's windows hold lateness
            self.mode.charge(k, s, d, w.uppers)

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
        if k < self._tied:
            self._tied = k
        if self.resources is not None:
            self.resources.unplace(k, s)
        if k in self._charged:
            self.mode.refund(k)

    def candidates(self, k: int, w: Window, blame: Blame, frame: Frame | None = None) -> Iterator[int]:
        """Feasible starts of position k, best first; refusals are blamed on placed positions.
        ``frame``: k's, whose starts known to fail (:meth:`Frame.cut`) are not tried at all."""
        admits = self.mode.cap(w)
        lo_day, hi_day = self.day_range(w)
        if lo_day > hi_day:
            return iter(())
        entry = self.layout.entries[k]
        if w.target_instant is not None:
            t = w.target_instant
            day_t = self.clock.day_of(t)
            forward = self._stream(entry, w, blame, admits, range(max(lo_day, day_t), hi_day + 1), max(w.lo, t),
                                   w.hi, frame)
            backward = self._stream(entry, w, blame, admits, range(min(hi_day, day_t), lo_day - 1, -1), w.lo,
                                    min(w.hi, t - 1), frame, reverse=True)
            return (s for _, s in heapq.merge(((abs(s - t), s) for s in backward),
                                              ((abs(s - t), s) for s in forward)))
        return self._stream(entry, w, blame, admits, _day_order(lo_day, hi_day, w.target_day), w.lo, w.hi, frame)

    def day_starts(self, k: int, w: Window) -> tuple[list[int], Callable[[int], bool]] | None:
        """For a window within one day and without a target instant: the day's slots in the
        window and a test of one of them, which :meth:`candidates` would have yielded it. A
        caller that ranks the slots by their own merits tests only the first few (the time
        pass). None: the window is not such a one."""
        admits = self.mode.cap(w)
        lo_day, hi_day = self.day_range(w)
        if lo_day != hi_day or w.target_instant is not None:
            return None
        self._tick()
        entry, blame = self.layout.entries[k], self._blame()
        slots = self.cal.table(entry.shape).slots(lo_day)
        floor = max(w.lo, self.clock.midnight(w.lo_day))
        if not self._day_usable(entry, lo_day, slots, blame, floor):
            return [], lambda s: False
        within = slots[bisect_left(slots, w.lo):bisect_right(slots, w.hi)]

        def free(s: int) -> bool:
            self._tick()
            return (self.refusal(entry, s, lo_day, blame, floor, resume=False) < 0
                    and (admits is None or admits(s, lo_day)))

        return within, free

    def _stream(self, entry: Entry, w: Window, blame: Blame, admits: Admits | None, days: Iterable[int], lo: int,
                hi: int, frame: Frame | None = None, reverse: bool = False) -> Iterator[int]:
        """Starts of ``entry`` on ``days`` in [lo, hi] that nothing refuses (``admits``: the
        lateness cap's test, when there is one; ``frame``: its position's, whose starts
        known to fail are skipped, as the search learns them, without being tried)."""
        table = self.cal.table(entry.shape)
        floor = max(w.lo, self.clock.midnight(w.lo_day))  # a session starting before this only pushes later
        cut_of: Callable[[int], int] = frame.cut if frame is not None else lambda d: INF
        for d in days:
            cut = cut_of(d)
            if cut <= self.clock.midnight(d):
                continue
            self._tick()
            slots = table.slots(d)
            if not self._day_usable(entry, d, slots, blame, floor):
                continue
            first, last = bisect_left(slots, lo), min(bisect_right(slots, hi), bisect_left(slots, cut))
            self.nodes += (last - first) // 8
            if reverse:
                for s in reversed(slots[first:last]):
                    if s < cut and self.refusal(entry, s, d, blame, floor) < 0 and (admits is None or admits(s, d)):
                        yield s
                        cut = cut_of(d)
                continue
            i = first
            while i < last and slots[i] < cut:
                s = slots[i]
                resume = self.refusal(entry, s, d, blame, floor)
                if resume < 0:
                    if admits is None or admits(s, d):
                        yield s
                        cut = cut_of(d)
                    i += 1
                else:
                    i = max(i + 1, bisect_left(slots, resume, i, last))

    def _day_usable(self, entry: Entry, d: int, slots: list[int], blame: Blame, floor: int) -> bool:
        """Whether any of the day's ``slots`` may be tried: the whole-day tests of
        :meth:`_day_ok`, then whether anyone who could serve the session is free long enough
        that day (whatever this client has placed, so nothing is blamed for it)."""
        if not slots or not self._day_ok(entry, d, blame, floor):
            return False
        resources = self.resources
        return (resources is None or not resources.involved(entry.pos)
                or resources.day_open(entry.pos, self.clock.midnight(d), self.clock.midnight(d + 1)))

    def _day_ok(self, entry: Entry, d: int, blame: Blame, floor: int = -INF) -> bool:
        """Whole-day tests: a second dosing session that day (with ``dosing_day: alone``, any
        other session on a dosing day), the dosing interval, look-ahead."""
        alone = self.cfg.dosing_alone
        if entry.dosing or alone:
            for _, dosing, p in self.by_day.get(d, ()):
                if dosing or (alone and entry.dosing):
                    blame.add(p, exact=False)
                    return False
            md = self.cfg.min_dosing
            if entry.dosing and md is not None and md.calendar and md.days > 0:
                i = bisect_left(self.dosing_days, (d - md.days + 1, -1))
                if i < len(self.dosing_days) and self.dosing_days[i][0] < d + md.days:
                    p = self.dosing_days[i][1]
                    blame.add(p, monotone=self.start[p] < floor, exact=False)
                    return False
        if entry.is_occurrence and not self._step_fixed[entry.step] and self.cfg.prune:
            step = self.layout.steps[entry.step]
            first = d if entry.index == 1 else self.day[step.first]
            first_day = min(d, self.clock.day_of(self.first_session())) if self.first_session() < INF else d
            span_last = self._span_last(first_day)
            if not self.lookahead.can_continue(entry.step, entry.index, self.cal.bit(d), self.cal.bit(first),
                                               span_last):
                if self.cfg.explain:  # for the report only: a walk over the rest of the plan
                    self._project(entry.pos, d, first, span_last)
                blame.add(step.first, exact=False)
                if span_last is not None:  # the plan's first session matters through max_span only
                    blame.add(self.first_start[-1][1], exact=False)
                return False
        return True

    def refusal(self, entry: Entry, s: int, d: int, blame: Blame, floor: int = -INF, resume: bool = True) -> int:
        """-1 when s is free (no overlap, the dosing-day rule, the dosing interval); else
        the earliest start that could escape the reason found (blamed on its session);
        without ``resume``, the start after s when the clinic's people or rooms refuse it
        (for a caller that only asks whether s is free: working out when they are free is dear).

        A session that starts before ``floor`` (the earliest start allowed) only
        keeps starts after it at bay, so that blame is monotone.
        """
        e = s + entry.duration
        i = bisect_left(self.busy_starts, e)
        if i and self.busy_ends[i - 1] > s:
            blame.add(self.busy_pos[i - 1], monotone=self.busy_starts[i - 1] < floor)
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
                    blame.add(near[1], monotone=near[0] < floor)
                    return near[0] + md.minutes
        resources = self.resources
        if resources is not None and resources.involved(entry.pos):
            if not resources.admit(entry.pos, s):  # (a day no one could serve is skipped whole: _stream)
                self.nodes += 1  # a refused assignment is search work too
                own = resources.blame
                for p in own:  # the client's own sessions that day (max_per_day)
                    blame.add(p, exact=False)
                return s + 1 if own or not resume else resources.resume(entry.pos, s)
        return -1

    # ------------------------------------------------------------------ look-ahead

    def _span_last(self, first_day: int) -> int | None:
        """The last day ``max_span`` leaves the plan, for the look-ahead (None: it may not assume one)."""
        days = self._span_days
        return None if days is None else self.cal.bit(first_day + days)

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
        self._tick()
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
        self.mode.blame_entry(self, frame.blame, target)
        mine = Blame({}, typed=True)
        if k in low:
            mine.add(k, monotone=True, exact=low_exact)
        if k in high:
            mine.add(k, exact=high_exact)
        if span_last is not None and k == self.first_start[-1][1]:
            mine.add(k, exact=False)
        self._rule_out(k, frame, mine.flags.get(k, (True, True, True)))
        self._record(target)
        return False

    def _project(self, k: int, d: int, first: int, span_last: int | None) -> None:
        """Remember, for the explanation, where the look-ahead says the plan gets stuck: a
        follow-up of k with no day in reach, or a later occurrence the series cannot reach."""
        entry = self.layout.entries[k]
        cal = self.cal
        shape = self.lookahead.shapes[entry.step]
        if not shape.allowed[entry.index - 1] >> cal.bit(d) & 1:
            position = next((q for q in entry.siblings if not self._occurrence_days_with(entry, q) >> cal.bit(d) & 1),
                             k)
            if self._record(position):
                self.snapshot[k] = cal.table(entry.shape).slots(d)[0]
            return
        step, n, late = self.lookahead.stuck_at(entry.step, entry.index, cal.bit(d), cal.bit(first), span_last)
        position = self.layout.steps[step].occurrences[n - 1]
        # Only running into the horizon: the search meets that at its last dates, so it
        # explains the failure only when nothing else has been seen to fail yet.
        if not (late and self._seen_failure):
            self._record(position, horizon=late)

    def _record(self, position: int, horizon: bool = False) -> bool:
        """Remember the deepest position that could not be placed, to explain it."""
        if position <= self.deepest:
            return False
        self.deepest, self.snapshot = position, self._snapshot()
        self._seen_failure = not horizon
        return True

    def _occurrence_days_with(self, occ: Entry, follow: int) -> int:
        """Days on which ``occ`` leaves its follow-up at position ``follow`` a day in reach."""
        own = self.cal.table(occ.shape).mask()
        return own & self.followup_days(occ, self.layout.entries[follow])

    def _value(self, p: int, exact: bool) -> int:
        """What a nogood compares of a blamed position: its start, or only its day."""
        return self.start[p] if exact else self.day[p]


def _rank(w: Window, s: int, d: int) -> tuple[int, int]:
    """How good a start is in the §2 order: nearer its target first, then earlier."""
    if w.target_instant is not None:
        return abs(s - w.target_instant), s
    if w.target_day is not None:
        return abs(d - w.target_day), s
    return 0, s


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


