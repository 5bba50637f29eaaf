"""How plan facts read in words, shared by every renderer.

The terminal tables (render.py), the calendars (export/) and the messages of
mark and reschedule (lifecycle/) say the same thing the same way: a deviation,
a planned dose, a session's local time. Presentation, not logic: the engine
never imports this.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from kapplan.models.plan import Deviation, PlannedDose, Task
from kapplan.models.values import MINUTES_PER_DAY, format_minutes

SET_BY_PRESCRIBER = "set by the prescriber"
GENERIC_TITLES = {
    "screening": "Screening session",
    "preparation": "Preparation session",
    "dosing": "Medicine session",
    "integration": "Integration session",
    "follow-up": "Follow-up session",
    "assessment": "Assessment session",
}
"""A session's title by kind, where the protocol's own title may not be shown
(calendars and the client's guide below ``--privacy full``)."""


def duration_words(span: timedelta) -> str:
    """``1 day``, ``4 hours``, ``1 hour 30 minutes``: a length for people to read."""
    minutes = int(span.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour"), (mins, "minute")]
    words = [f"{value} {unit}{'s' if value != 1 else ''}" for value, unit in parts if value]
    return " ".join(words) or "0 minutes"


def planned_amount(dose: PlannedDose | None) -> str:
    """``45 mg``, or "set by the prescriber" when the protocol computes none."""
    if dose is None or dose.amount_mg is None:
        return SET_BY_PRESCRIBER
    return f"{dose.amount_mg:g} mg"


def dose_with_route(dose: PlannedDose) -> str:
    """``45 mg IM`` for tables; a prescriber-set dose names no route."""
    if dose.amount_mg is None:
        return SET_BY_PRESCRIBER
    return f"{planned_amount(dose)} {dose.route}"


def describe_deviation(deviation: Deviation) -> str:
    """``medicine-4: gap 16d where the protocol allows 5d..14d (2d late)``."""
    text = f"{deviation.key}: {deviation.rule} {deviation.actual} where the protocol allows {deviation.allowed}"
    if deviation.lateness_min > 0:
        text += f" ({minutes_text(deviation.lateness_min)} late)"
    elif deviation.lateness_min < 0:
        text += f" ({minutes_text(-deviation.lateness_min)} early)"
    return text


def deviation_note(deviation: Deviation) -> str:
    """The short form beside a session: ``gap 16d (allowed 5d..14d)``."""
    return f"{deviation.rule} {deviation.actual} (allowed {deviation.allowed})"


def minutes_text(minutes: int) -> str:
    """Whole days as days (``2d``), anything else as a duration (``1h30min``)."""
    return f"{minutes // MINUTES_PER_DAY}d" if minutes % MINUTES_PER_DAY == 0 else format_minutes(minutes)


def when(moment: datetime, zone: ZoneInfo) -> str:
    """``Mon 2026-12-14 09:00``: how a session time is shown to the user."""
    return moment.astimezone(zone).strftime("%a %Y-%m-%d %H:%M")


def task_line(task: Task) -> str:
    """``phq9-3 (PHQ-9) due 2027-01-11, from 2027-01-09``."""
    window = f", from {task.window_start.isoformat()}" if task.window_start != task.due else ""
    return f"{task.key} ({task.instrument}) due {task.due.isoformat()}{window}"
