"""What a relaxed plan breaks: one Deviation per rule it relaxed (SPEC §5).

Read from the finished placement, not from the search, so the report states
what the plan does whatever path found it. Sessions that already happened
(``fixed``) are history and are not reported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from kapplan.engine.layout import Layout
from kapplan.models.plan import Deviation
from kapplan.models.protocol import Duration, Protocol, Range
from kapplan.models.values import MINUTES_PER_DAY, format_minutes

Rule = Literal["gap", "after", "offset"]

if TYPE_CHECKING:
    from kapplan.engine import ScheduleRequest
    from kapplan.engine.search import Engine


def lateness_unit(protocol: Protocol) -> int:
    """1440 when every relaxable bound counts whole days, else 1 minute."""
    bounds: list[Duration | None] = [protocol.constraints.max_span]
    for step in protocol.schedule:
        bounds += [step.gap.max, step.after.max, step.within]
        bounds += [f.offset.max for f in step.followed_by]
    return MINUTES_PER_DAY if all(b.calendar for b in bounds if b is not None) else 1


def deviations(layout: Layout, engine: Engine, request: ScheduleRequest) -> list[Deviation]:
    fixed = engine.cfg.fixed
    out: list[Deviation] = []
    for entry in layout.entries:
        if entry.pos in fixed:
            continue
        step = layout.steps[entry.step]
        if entry.followup is not None:
            found = _past_range(engine, entry.followup.offset, entry.occ, entry.pos, "offset")
        elif entry.index > 1:
            assert entry.prev_occ is not None
            found = _past_range(engine, step.model.gap, entry.prev_occ, entry.pos, "gap")
        elif step.anchor is not None:
            found = _past_range(engine, step.model.after, engine.anchor_of(step.anchor), entry.pos, "after")
        else:
            found = None
        if found:
            out.append(found)
    for step in layout.steps:
        if step.model.within is not None:
            out += _within(engine, layout, step.index)
        if step.model.per_week is not None:
            out += _per_week(engine, layout, step.index)
    span = request.protocol.constraints.max_span
    if span is not None:
        out += _max_span(engine, layout, span)
    return out


def _measure(engine: Engine, bound: Duration, ref: int, pos: int) -> tuple[str, int]:
    """(actual as text, minutes past ``bound``) of ``pos`` measured from ``ref``."""
    if bound.calendar:
        days = engine.day[pos] - engine.day[ref]
        return f"{days}d", (days - bound.days) * MINUTES_PER_DAY
    minutes = engine.start[pos] - engine.start[ref]
    return format_minutes(minutes) if minutes >= 0 else f"-{format_minutes(-minutes)}", minutes - bound.minutes


def _past_range(engine: Engine, value: Range, ref: int, pos: int, rule: Rule) -> Deviation | None:
    if value.max is None:
        return None
    actual, late = _measure(engine, value.max, ref, pos)
    if late <= 0:
        return None
    key = engine.layout.entries[pos].key
    return Deviation(key=key, rule=rule, allowed=value.as_written(), actual=actual, lateness_min=late)


def _within(engine: Engine, layout: Layout, step: int) -> list[Deviation]:
    info = layout.steps[step]
    within = info.model.within
    assert within is not None
    worst: tuple[int, int, str] | None = None
    for pos in info.occurrences[1:]:
        actual, late = _measure(engine, within, info.first, pos)
        if late > 0 and pos not in engine.cfg.fixed and (worst is None or late >= worst[0]):
            worst = (late, pos, actual)
    if worst is None:
        return []
    late, pos, actual = worst
    return [Deviation(key=layout.entries[pos].key, rule="within", allowed=str(within), actual=actual,
                      lateness_min=late)]


def _per_week(engine: Engine, layout: Layout, step: int) -> list[Deviation]:
    info = layout.steps[step]
    per_week = info.model.per_week
    assert per_week is not None
    first = engine.day[info.first]
    weeks = [(engine.day[p] - first) // 7 for p in info.occurrences]
    short: dict[int, list[tuple[int, int]]] = {}  # late occurrence -> [(week, sessions held)]
    for week in range(weeks[-1]):
        held = weeks.count(week)
        if held < per_week:
            late = next(p for p, w in zip(info.occurrences, weeks, strict=True) if w > week)
            short.setdefault(late, []).append((week + 1, held))
    out = []
    for late, found in short.items():
        if late in engine.cfg.fixed:
            continue
        counts = {held for _, held in found}
        span = f"week {found[0][0]}" if len(found) == 1 else f"weeks {found[0][0]}-{found[-1][0]}"
        actual = f"{counts.pop()} in {span}" if len(counts) == 1 else f"fewer in {span}"
        out.append(Deviation(key=layout.entries[late].key, rule="per_week", allowed=f"{per_week} per week",
                             actual=actual, lateness_min=0))
    return out


def _max_span(engine: Engine, layout: Layout, span: Duration) -> list[Deviation]:
    first = min(range(len(layout)), key=lambda p: (engine.start[p], p))
    last = max(range(len(layout)), key=lambda p: (engine.start[p], -p))
    actual, late = _measure(engine, span, first, last)
    if late <= 0 or last in engine.cfg.fixed:
        return []
    return [Deviation(key=layout.entries[last].key, rule="max_span", allowed=str(span), actual=actual,
                      lateness_min=late)]

