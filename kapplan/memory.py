"""Failure memory: the part of a search state the remaining positions can see.

When every candidate of position k fails, the rest of the series failed for
the placed positions as they stand. Only a few values of those reach the
remaining positions: the sessions their rules refer to, the latest end of the
earlier steps, the first session (``max_span``), and the sessions close enough
in time to collide with them. The key splits these into

- ``rest``: values that must match exactly; a rule comparing calendar dates
  sees only a date, so two starts on the same day give the same key;
- ``bounds``: values that only push the remaining positions later (an end that
  must be cleared, the lower end of an open-ended range, lateness used). A
  state whose bounds are all at least those of a failed state, with the same
  rest, has fewer options and fails too.

Past sessions that end before every remaining position can start (and are not
dosing sessions on that day or within the dosing interval) cannot matter, and
are left out. Fixed sessions never change during a search, so they need no
place in the key.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import TYPE_CHECKING

from .protocol import Range

if TYPE_CHECKING:
    from .search import Engine

Ref = tuple[object, ...]


def static_refs(engine: Engine, k: int) -> tuple[list[Ref], list[int]]:
    """(references from positions k.. to positions before k, earliest-start sources)."""
    layout = engine.layout
    entry = layout.entries[k]
    step = layout.steps[entry.step]
    model = step.model
    items: list[Ref] = []
    sources = [k]
    if entry.followup is not None:
        for q in entry.siblings:
            if q >= k:
                follow = layout.entries[q].followup
                assert follow is not None
                items.append(("range", entry.occ, follow.offset))
            if q > k:
                sources.append(q)
        items.append(("end", entry.occ))
        if entry.index < model.count:
            items += [("end", p) for p in (entry.occ, *entry.siblings) if p < k]
            items.append(("range", entry.occ, model.gap))
    elif entry.index > 1:
        assert entry.prev_occ is not None
        items += [("end", p) for p in entry.prev_group]
        items.append(("range", entry.prev_occ, model.gap))
    later_occurrence = entry.index < model.count or (entry.is_occurrence and entry.index > 1)
    if (model.within or model.per_week) and later_occurrence and step.first < k:
        items.append(("first", step.first))
    if entry.is_occurrence and entry.index == 1 and step.anchor is not None:
        items.append(("anchor", step.anchor, model.after))
        if not step.tied:
            items.append(("maxend",))
    untied_later = False
    for later in layout.steps[entry.step + 1:]:
        if later.anchor is not None and layout.steps[later.anchor].first < k:
            items.append(("anchor", later.anchor, later.model.after))
        if later.tied and later.anchor is not None and layout.steps[later.anchor].last < k:
            sources.append(later.first)
        untied_later = untied_later or not later.tied
    if untied_later:
        items.append(("maxend",))
    if engine.cfg.max_span is not None:
        items.append(("span",))
    fixed = engine.cfg.fixed
    return list(dict.fromkeys(items)), [q for q in sources if q not in fixed]


Key = tuple[tuple[object, ...], tuple[int, ...]]


def state_key(engine: Engine, k: int) -> tuple[Key, dict[int, bool]]:
    """(the key, the placed positions it was read from: True when only as a lower bound)."""
    cache = engine.__dict__.setdefault("_refs", {})
    if k not in cache:
        cache[k] = static_refs(engine, k)
    items, sources = cache[k]
    rest: list[object] = [k]
    bounds: list[int] = []
    seen: dict[int, bool] = {}

    def saw(p: int, lower_only: bool) -> None:
        seen[p] = seen.get(p, True) and lower_only

    for item in items:
        kind = item[0]
        if kind == "end":
            saw(item[1], True)  # type: ignore[arg-type]
            bounds.append(engine.end[item[1]])  # type: ignore[index]
        elif kind == "range":
            saw(item[1], item[2].max is None)  # type: ignore[arg-type, union-attr]
            _range(engine, item[1], item[2], rest, bounds)  # type: ignore[arg-type]
        elif kind == "anchor":
            info = engine.layout.steps[item[1]]  # type: ignore[index]
            for p in range(info.first, info.last + 1):
                if engine.placed[p]:
                    saw(p, item[2].max is None)  # type: ignore[union-attr]
            anchor = engine.anchor_of(item[1])  # type: ignore[arg-type]
            bounds.append(engine.end[anchor])
            _range(engine, anchor, item[2], rest, bounds)  # type: ignore[arg-type]
        elif kind == "first":
            within = engine.layout.steps[engine.layout.entries[k].step].model.within
            p = item[1]
            saw(p, False)  # type: ignore[arg-type]
            rest.append(engine.start[p] if within is not None and not within.calendar else engine.day[p])  # type: ignore[index]
        elif kind == "maxend":
            saw(engine.maxend_at[k], True)
            bounds.append(engine.maxend[k])
        else:  # span
            saw(engine.first_start[-1][1], False)
            rest.append(_first_session(engine))
    low = min((_earliest(engine, q) for q in sources), default=engine.cfg.not_before)
    nearby: set[int] = set()
    rest.append(_nearby(engine, low, nearby))
    for p in nearby:
        saw(p, False)
    if engine.cfg.relaxed:
        for p in engine.undo:
            saw(p, False)
        bounds.append(engine.late)
        rest.append(tuple(sorted(engine.over.items(), key=repr)))
    return (tuple(rest), tuple(bounds)), seen


def _range(engine: Engine, p: int, value: Range, rest: list[object], bounds: list[int]) -> None:
    if value.max is None:
        if value.min.calendar:
            bounds.append(engine.clock.midnight(engine.day[p] + value.min.days))
        else:
            bounds.append(engine.start[p] + value.min.minutes)
    elif value.min.calendar and value.max.calendar:
        rest.append(engine.day[p])
    else:
        rest.append(engine.start[p])


def _first_session(engine: Engine) -> int:
    from .search import INF

    span = engine.cfg.max_span
    first = engine.first_session()
    if first >= INF or span is None:
        return INF
    return engine.clock.day_of(first) if span.calendar else first


def _earliest(engine: Engine, q: int) -> int:
    w = engine.window(q)
    return max(w.lo, engine.clock.midnight(w.lo_day))


def _nearby(engine: Engine, low: int, seen: set[int]) -> tuple[object, ...]:
    """Placed (non-fixed) sessions that can still meet a position starting at or after ``low``."""
    out: list[object] = []
    i = bisect_right(engine.busy_ends, low)
    for idx in range(i, len(engine.busy_ends)):
        pos = engine.busy_pos[idx]
        seen.add(pos)
        out.append((engine.busy_starts[idx], engine.busy_ends[idx], engine.layout.entries[pos].dosing))
    day = engine.clock.day_of(low)
    fixed = engine.cfg.fixed
    dosing = [(s, p) for s, p in engine.dosing_starts if p not in fixed]
    for s, p in dosing[bisect_left(dosing, (engine.clock.midnight(day), -1)):]:
        seen.add(p)
        out.append(("D", s))
    md = engine.cfg.min_dosing
    if md is not None:
        for s, p in reversed(dosing):
            if md.calendar and engine.clock.day_of(s) + md.days > day:
                out.append(("M", engine.clock.day_of(s)))
            elif not md.calendar and s + md.minutes > low:
                out.append(("M", s))
            else:
                break
            seen.add(p)
    return tuple(out)
