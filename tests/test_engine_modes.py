"""The search's mode (kapplan/engine/modes.py), read directly: chosen once per
Engine from its settings, it alone says whether an upper bound ends a window or
becomes lateness, how ``per_week`` binds, what the look-ahead may assume, and
keeps the lateness ledger that the narrowing's cap reads."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from kapplan.engine import ScheduleRequest, _Context
from kapplan.engine.bounds import Upper
from kapplan.engine.modes import DeviationMode, StrictMode
from kapplan.models.protocol import Protocol
from kapplan.models.values import parse_duration, parse_range, parse_weekly_window

START = date(2026, 12, 7)  # a Monday


def context(step: dict[str, Any]) -> _Context:
    protocol = Protocol.model_validate({
        "kind": "protocol", "id": "modes", "version": "1", "title": "Modes",
        "sessions": {"visit": {"kind": "preparation", "duration": "60min"}},
        "schedule": [dict(step, session="visit")],
    })
    return _Context(ScheduleRequest(protocol=protocol, zone=ZoneInfo("America/New_York"), start_date=START,
                                    availability=(parse_weekly_window("Mon-Sun 09:00-17:00"),)))


def test_the_mode_is_chosen_once_from_the_settings() -> None:
    shared = context({"count": 2, "gap": "1d..3d"})
    assert isinstance(shared.engine(START).mode, StrictMode)
    assert isinstance(shared.engine(START, cap=60).mode, StrictMode)  # a cap without deviations binds nothing
    relaxed = shared.engine(START, relaxed=True, cap=60).mode
    assert isinstance(relaxed, DeviationMode)
    assert relaxed.most == 60


def test_an_upper_bound_ends_the_window_when_strict_and_is_lateness_with_deviations() -> None:
    shared = context({"count": 2, "gap": "1d..3d"})
    strict, relaxed = shared.engine(START), shared.engine(START, relaxed=True)
    for engine in (strict, relaxed):
        engine._place(0, shared.calendar.table(shared.layout.entries[0].shape).slots(START.toordinal())[0])
    day = START.toordinal()
    hard, late = strict.window(1), relaxed.window(1)
    assert (hard.lo_day, hard.hi_day, hard.uppers) == (day + 1, day + 3, [])
    assert (late.lo_day, late.hi_day) == (day + 1, relaxed.cfg.last_day)
    assert late.uppers == [("gap", True, day + 3, None, (0,))]


def test_per_week_is_exact_weeks_when_strict_and_at_most_n_with_deviations() -> None:
    shared = context({"count": 3, "gap": "1d..", "per_week": 2})
    strict, relaxed = shared.engine(START), shared.engine(START, relaxed=True)
    slots = shared.calendar.table(shared.layout.entries[0].shape).slots
    day = START.toordinal()
    for engine in (strict, relaxed):
        engine._place(0, slots(day)[0])
        engine._place(1, slots(day + 2)[0])
    assert (strict.window(2).lo_day, strict.window(2).hi_day) == (day + 7, day + 13)
    assert (relaxed.window(2).lo_day, relaxed.window(2).hi_day) == (day + 7, relaxed.cfg.last_day)
    assert strict.window(1).hi_day == day + 6
    assert relaxed.window(1).hi_day == relaxed.cfg.last_day  # fewer than two back: nothing binds


def test_the_look_ahead_keeps_only_lower_bounds_with_deviations() -> None:
    gap = parse_range("2d..5d")
    assert StrictMode().reach(gap) == (2, 5)
    assert DeviationMode().reach(gap) == (2, None)
    assert StrictMode().most_days(parse_duration("3w")) == 21
    assert DeviationMode().most_days(parse_duration("3w")) is None
    assert (StrictMode().weekly(2), DeviationMode().weekly(2)) == (2, None)


def test_a_running_overrun_is_charged_once_and_refunds_restore_the_ledger() -> None:
    mode = DeviationMode(cap=5000)
    within: Upper = ("within", True, 10, ("within", 0), (0,))
    gap: Upper = ("gap", False, 1000, None, (1,))
    mode.charge(2, 1100, 12, [within, gap])
    assert mode.late == 2 * 1440 + 100
    mode.charge(3, 2000, 13, [within])  # only the day past what position 2 already ran over
    assert mode.late == 3 * 1440 + 100
    assert set(mode.charged) == {2, 3}
    mode.refund(3)
    assert (mode.late, mode.over) == (2 * 1440 + 100, {("within", 0): 2 * 1440})
    mode.refund(2)
    assert (mode.late, mode.over, mode.charged) == (0, {("within", 0): 0}, {})
