"""Deviations among sessions that took place: the protocol's rules judged on history.

Only pairs whose both ends happened are judged (the future is the engine's
job); a dose given too soon is a deviation too (negative lateness).
"""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise
from typing import Literal
from zoneinfo import ZoneInfo

from kapplan.lifecycle.times import local
from kapplan.models.plan import Deviation, PlannedSession
from kapplan.models.protocol import Protocol
from kapplan.models.values import Duration, Range, format_minutes

Rule = Literal["gap", "after", "offset", "within"]


def _measure(rule: Range, earlier: datetime, later: datetime, zone: ZoneInfo) -> tuple[int, str, int] | None:
    """(lateness in minutes, actual text) when outside ``rule``, else None.

    Calendar ranges compare local dates; others elapsed minutes. Earliness is
    negative lateness: a dose given too soon is a deviation too.
    """
    if rule.calendar:
        days = (local(later, zone).date() - local(earlier, zone).date()).days
        value, actual = days * 1440, f"{days}d"
    else:
        value = int((later - earlier).total_seconds() // 60)
        actual = format_minutes(value) if value >= 0 else f"-{format_minutes(-value)}"
    if value < rule.min.minutes:
        return value - rule.min.minutes, actual, -1
    if rule.max is not None and value > rule.max.minutes:
        return value - rule.max.minutes, actual, 1
    return None


def actual_deviations(
    protocol: Protocol, happened: dict[str, PlannedSession], zone: ZoneInfo
) -> tuple[list[Deviation], list[str]]:
    """Deviations between sessions that took place, and minimum-interval breaches.

    Only pairs whose both ends happened are judged: the future is the engine's job.
    """
    found: list[Deviation] = []

    def judge(key: str, rule_name: Rule, rule: Range, earlier: datetime, later: datetime) -> None:
        result = _measure(rule, earlier, later, zone)
        if result is not None:
            found.append(
                Deviation(key=key, rule=rule_name, allowed=rule.as_written(), actual=result[1], lateness_min=result[0])
            )

    for position, step in enumerate(protocol.schedule):
        occurrences = [happened.get(f"{step.key}-{n}") for n in range(1, step.count + 1)]
        first = occurrences[0]
        reference = _after_reference(protocol, position, happened)
        if first is not None and reference is not None:
            judge(first.key, "after", step.after, reference, first.start)
        for n, current in enumerate(occurrences, start=1):
            if current is None:
                continue
            previous = occurrences[n - 2] if n > 1 else None
            if previous is not None:
                judge(current.key, "gap", step.gap, previous.start, current.start)
            if first is not None and step.within is not None and n > 1:
                judge(current.key, "within", up_to(step.within), first.start, current.start)
            for follow in step.followed_by:
                attached = happened.get(f"{current.key}.{follow.key}")
                if attached is not None and follow.applies_to(n):
                    judge(attached.key, "offset", follow.offset, current.start, attached.start)
    found += _span_deviation(protocol, happened, zone)
    return found, _interval_breaches(protocol, happened, zone)


def _after_reference(protocol: Protocol, position: int, happened: dict[str, PlannedSession]) -> datetime | None:
    """Latest start of the step ``after`` is measured from, once all of it happened."""
    step = protocol.schedule[position]
    if position == 0:
        return None
    reference = protocol.step(step.from_) if step.from_ else protocol.schedule[position - 1]
    if reference is None:
        return None
    keys = reference.session_keys()
    if not keys or any(k not in happened for k in keys):
        return None
    return max(happened[k].start for k in keys)


def up_to(limit: Duration) -> Range:
    """``..limit`` in the limit's own mode (calendar days or elapsed time)."""
    return Range(Duration(0, limit.calendar), limit)


def _span_deviation(protocol: Protocol, happened: dict[str, PlannedSession], zone: ZoneInfo) -> list[Deviation]:
    limit = protocol.constraints.max_span
    if limit is None or len(happened) < 2:
        return []
    ordered = sorted(happened.values(), key=lambda s: s.start)
    rule = up_to(limit)
    result = _measure(rule, ordered[0].start, ordered[-1].start, zone)
    if result is None or result[2] < 0:
        return []
    return [
        Deviation(key=ordered[-1].key, rule="max_span", allowed=str(limit), actual=result[1], lateness_min=result[0])
    ]


def _interval_breaches(protocol: Protocol, happened: dict[str, PlannedSession], zone: ZoneInfo) -> list[str]:
    """Dosing sessions that took place closer together than ``min_dosing_interval``."""
    interval = protocol.constraints.min_dosing_interval
    if interval is None:
        return []
    doses = sorted((s for s in happened.values() if s.kind == "dosing"), key=lambda s: s.start)
    rule = Range(interval)
    notes = []
    for earlier, later in pairwise(doses):
        result = _measure(rule, earlier.start, later.start, zone)
        if result is not None and result[2] < 0:
            notes.append(
                f"{earlier.key} and {later.key} took place {result[1]} apart; the protocol's "
                f"minimum dosing interval is {interval}"
            )
    return notes
