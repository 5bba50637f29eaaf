"""Adversarial single-client searches within the input caps of SPEC §2.

Each ``case_*`` builds a ScheduleRequest; bench/run.py times ``schedule()`` on
it (an infeasibility report is an answer too). The cases aim at what makes a
backtracking search slow: sparse availability that forces long retreats,
rules that only fail late (``per_week`` with ``within``), many sessions, and
steps tied with ``from`` that interleave with dosing sessions. The last case
is the hardest found by random search; it shows the budget-bound worst case.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kapplan.engine import ClinicRules, ScheduleRequest
from kapplan.models.protocol import Protocol
from kapplan.models.values import parse_date_range, parse_weekly_window

START = date(2026, 12, 7)
DOSE = {"medication": "ketamine", "route": "IM", "by_prescriber": True}


def _protocol(sessions: dict[str, Any], schedule: list[dict[str, Any]], **constraints: str) -> Protocol:
    return Protocol.model_validate({"kind": "protocol", "id": "bench", "version": "1", "title": "bench",
                                    "sessions": sessions, "schedule": schedule, "constraints": constraints})


def _every_other_week(weeks: int = 53) -> tuple[Any, ...]:
    """Unavailable every second week, starting with the second."""
    out = []
    for week in range(1, weeks, 2):
        first = START + timedelta(days=7 * week)
        out.append(parse_date_range(f"{first}..{first + timedelta(days=6)}"))
    return tuple(out)


def _holidays(step: int) -> dict[date, str]:
    return {START + timedelta(days=d): "Holiday" for d in range(3, 366, step)}


def case_one_hour_a_week() -> ScheduleRequest:
    """One 1-hour window a week, every second week off, holidays every 11 days; a
    dosing series with ``per_week`` and ``within`` whose integrations need their
    own week: infeasible only after trying every start of the series."""
    sessions = {
        "intake": {"kind": "screening", "duration": "60min"},
        "prep": {"kind": "preparation", "duration": "60min"},
        "medicine": {"kind": "dosing", "duration": "60min", "dose": DOSE},
        "integration": {"kind": "integration", "duration": "60min", "setting": "telehealth"},
    }
    schedule = [
        {"session": "intake"},
        {"session": "prep", "count": 3, "gap": "7d..21d", "after": "1d..28d"},
        {"session": "medicine", "count": 6, "gap": "5d..21d", "per_week": 1, "within": "12w",
         "followed_by": [{"session": "integration", "offset": "1d..14d"}]},
    ]
    return ScheduleRequest(
        protocol=_protocol(sessions, schedule, min_dosing_interval="48h"),
        zone=ZoneInfo("America/New_York"),
        start_date=START,
        availability=(parse_weekly_window("Wed 10:00-11:00"),),
        unavailable=_every_other_week(),
        holidays=_holidays(11),
    )


def case_five_hundred_sessions() -> ScheduleRequest:
    """The caps at full size: 50 steps of 10 sessions (5 occurrences with a
    follow-up each), dosing every other step, DST transitions inside the plan;
    feasible, filling most of the year."""
    sessions = {
        "visit": {"kind": "preparation", "duration": "60min"},
        "dose": {"kind": "dosing", "duration": "2h", "dose": DOSE, "days": ["Mon", "Tue", "Wed", "Thu", "Fri"]},
        "call": {"kind": "integration", "duration": "30min", "setting": "telehealth"},
    }
    schedule = []
    for i in range(50):
        schedule.append({"id": f"s{i}", "session": "dose" if i % 2 else "visit", "count": 5,
                         "gap": "1d..4d", "after": "0d..3d", "within": "3w",
                         "followed_by": [{"session": "call", "offset": "2h..30h"}]})
    return ScheduleRequest(
        protocol=_protocol(sessions, schedule, min_dosing_interval="20h"),
        zone=ZoneInfo("Europe/London"),
        start_date=date(2026, 1, 5),
        availability=(parse_weekly_window("Mon-Fri 08:00-18:00"), parse_weekly_window("Sat 09:00-12:00")),
        holidays=_holidays(17),
    )


def case_per_week_squeeze() -> ScheduleRequest:
    """100 occurrences, exactly 2 per treatment week, gap at most 4 days, within
    a year, with every second week off: impossible, and a search without
    look-ahead would discover it only near the hundredth occurrence."""
    sessions = {
        "intake": {"kind": "screening", "duration": "60min"},
        "session": {"kind": "integration", "duration": "90min"},
    }
    schedule = [
        {"session": "intake"},
        {"session": "session", "count": 100, "gap": "2d..4d", "per_week": 2, "within": "52w"},
    ]
    return ScheduleRequest(
        protocol=_protocol(sessions, schedule),
        zone=ZoneInfo("Australia/Lord_Howe"),
        start_date=START,
        availability=(parse_weekly_window("Mon,Thu 09:00-11:00"), parse_weekly_window("Sat 10:00-12:00")),
        unavailable=_every_other_week(),
        holidays=_holidays(5),
    )


def case_interleaved_dosing() -> ScheduleRequest:
    """Twelve dosing sessions 72 h apart with three interleaving steps tied to
    earlier steps by ``from``, a clinic in another zone, two short windows a week."""
    sessions = {
        "intake": {"kind": "screening", "duration": "60min"},
        "medicine": {"kind": "dosing", "duration": "2h", "dose": DOSE, "time": "09:00..10:00"},
        "integration": {"kind": "integration", "duration": "60min", "setting": "telehealth"},
        "check": {"kind": "assessment", "duration": "30min", "setting": "telehealth"},
        "review": {"kind": "follow-up", "duration": "30min"},
    }
    schedule = [
        {"session": "intake"},
        {"session": "medicine", "count": 12, "gap": "3d..10d", "after": "2d..14d", "within": "10w",
         "followed_by": [{"session": "integration", "offset": "1d..3d", "on": [1, 4, 8, 12]}]},
        {"id": "early-check", "session": "check", "from": "intake", "after": "14d±2d", "count": 3,
         "gap": "7d..10d"},
        {"id": "mid-review", "session": "review", "from": "intake", "after": "35d±3d"},
        {"id": "late-check", "session": "check", "from": "medicine", "after": "7d..14d", "count": 2,
         "gap": "14d±2d"},
    ]
    clinic = ClinicRules(zone=ZoneInfo("America/Chicago"),
                         hours=(parse_weekly_window("Mon-Fri 07:00-16:00"),),
                         closed=(parse_date_range("2026-12-24..2026-12-26"),),
                         holidays=_holidays(13))
    return ScheduleRequest(
        protocol=_protocol(sessions, schedule, min_dosing_interval="72h", max_span="20w"),
        zone=ZoneInfo("America/New_York"),
        start_date=START,
        availability=(parse_weekly_window("Mon,Thu 09:00-13:00"), parse_weekly_window("Tue 16:00-18:00")),
        unavailable=(parse_date_range("2026-12-21..2027-01-03"),),
        holidays=_holidays(9),
        clinic=clinic,
    )


def case_tangled_tied_steps() -> ScheduleRequest:
    """Found by random search: two steps tied to one step by ``from``, a dosing
    series 72 h apart and a check-up series both chasing elapsed bounds (hours,
    not days), in a clinic week with three short windows; the hardest known
    case, which may end at the node budget ("search limit reached")."""
    sessions = {
        "visit": {"kind": "preparation", "duration": "60min"},
        "call": {"kind": "integration", "duration": "2h", "setting": "telehealth"},
        "dose": {"kind": "dosing", "duration": "30min", "dose": DOSE},
        "review": {"kind": "integration", "duration": "60min", "time": "13:00..20:00"},
    }
    schedule = [
        {"id": "s0", "session": "review", "count": 2, "gap": "1d..", "after": "2d±1d", "per_week": 1,
         "followed_by": [{"session": "review", "id": "f", "offset": "2h..30h"}]},
        {"id": "s1", "session": "review", "gap": "2d..1w", "after": "1d..2w"},
        {"id": "s2", "session": "call", "count": 2, "gap": "48h..", "after": "12h..36h"},
        {"id": "s3", "session": "dose", "count": 4, "gap": "24h..72h", "after": "2d±1d", "from": "s2",
         "followed_by": [{"session": "call", "id": "f", "offset": "1d..3d", "on": [1]}]},
        {"id": "s4", "session": "review", "count": 4, "gap": "2d..1w", "after": "12h..36h", "from": "s2"},
    ]
    return ScheduleRequest(
        protocol=_protocol(sessions, schedule, min_dosing_interval="72h", max_span="1000h"),
        zone=ZoneInfo("Asia/Tokyo"),
        start_date=date(2026, 7, 16),
        availability=(parse_weekly_window("Tue-Fri 13:00-16:00"), parse_weekly_window("Mon,Thu,Fri 15:00-20:00"),
                      parse_weekly_window("Mon,Thu,Fri,Sat 07:00-09:00")),
        holidays={date(2026, 7, 17): "Holiday", date(2026, 7, 31): "Holiday", date(2026, 8, 3): "Holiday",
                  date(2026, 8, 17): "Holiday"},
    )


DAILY_SLOT = "Mon-Sun 09:00-09:15"


def five_by_hundred() -> dict[str, Any]:
    """Five steps of 100 fifteen-minute sessions: a step's ``count`` at its cap, 500
    sessions in all (bench/run.py also writes it to a file for ``kapplan plan``)."""
    sessions = {
        "prep": {"kind": "preparation", "duration": "15min"},
        "medicine": {"kind": "dosing", "duration": "15min", "observation": "15min", "dose": DOSE},
        "integration": {"kind": "integration", "duration": "15min"},
    }
    schedule: list[dict[str, Any]] = [{"id": "a", "session": "prep", "count": 100, "gap": "1d..3d"}]
    for name, session in (("b", "integration"), ("c", "prep"), ("d", "integration")):
        schedule.append({"id": name, "session": session, "count": 100, "gap": "1d..3d", "after": "1d..3d"})
    schedule.append({"id": "e", "session": "medicine", "count": 100, "gap": "2d..3d", "after": "1d..3d"})
    return {"kind": "protocol", "id": "five-by-hundred", "version": "1", "title": "five by hundred",
            "sessions": sessions, "schedule": schedule, "allow": ["KP302"]}


def case_five_by_hundred_daily_slot() -> ScheduleRequest:
    """500 sessions, one 15-minute slot a day: they cannot fit in a 365-day horizon
    from any start. The strict search sees it at once; the scan for a later start
    date used to take most of a minute (bench/run.py's ``infeasible`` figure times
    the whole answer)."""
    return ScheduleRequest(
        protocol=Protocol.model_validate(five_by_hundred()),
        zone=ZoneInfo("America/New_York"),
        start_date=START,
        availability=(parse_weekly_window(DAILY_SLOT),),
    )


CASES: dict[str, Callable[[], ScheduleRequest]] = {
    "one-hour-a-week": case_one_hour_a_week,
    "five-hundred-sessions": case_five_hundred_sessions,
    "per-week-squeeze": case_per_week_squeeze,
    "interleaved-dosing": case_interleaved_dosing,
    "tangled-tied-steps": case_tangled_tied_steps,
    "five-by-hundred-daily-slot": case_five_by_hundred_daily_slot,
}
