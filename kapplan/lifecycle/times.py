"""Local time in a plan's zone: reading ``--at``, midnights, elapsed-time arithmetic.

Every local date and time of a plan is read in the client's zone; a wall-clock
time that does not exist or occurs twice there is an error, never a guess.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from kapplan.models.errors import InputError, UsageError
from kapplan.models.plan import Plan
from kapplan.models.values import DATE_RANGE_HELP, FIRST_DATE, LAST_DATE

_AT_FORM = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?$", re.IGNORECASE | re.ASCII
)
AT_HELP = (
    "expected the actual start as ISO 8601 with an offset (2026-12-14T10:30-05:00) "
    "or a local time in the client's zone (2026-12-14 10:30)"
)


def plan_zone(plan: Plan) -> ZoneInfo:
    """The client's zone: every local date and time of the plan is read in it."""
    return ZoneInfo(str(plan.client.get("timezone") or "UTC"))


def local(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone)


def later_by(moment: datetime, elapsed: timedelta, zone: ZoneInfo) -> datetime:
    """``moment + elapsed`` on instants (aware arithmetic would add wall-clock time)."""
    return (moment.astimezone(UTC) + elapsed).astimezone(zone)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of ``day`` in ``zone`` (a midnight lost to DST moves to 01:00)."""
    return strict_local(datetime.combine(day, time(0)), zone, lenient=True)


def strict_local(naive: datetime, zone: ZoneInfo, *, lenient: bool = False) -> datetime:
    """A wall-clock time in ``zone``; one that does not exist or occurs twice is an error."""
    first, second = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first
    exists = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive
    if lenient:  # fold=0 of a skipped time is the instant the clocks jump to
        return first.astimezone(UTC).astimezone(zone)
    shown = naive.strftime("%Y-%m-%d %H:%M")
    if not exists:
        raise UsageError(
            f"--at: {shown} does not exist in {zone.key} (the clocks skip that hour); "
            "give the actual start with its UTC offset"
        )
    raise UsageError(
        f"--at: {shown} occurs twice in {zone.key} (the clocks go back); give the actual start "
        f"with its UTC offset, e.g. {first.isoformat(timespec='minutes')} or "
        f"{second.isoformat(timespec='minutes')}"
    )


def parse_actual_start(text: str, zone: ZoneInfo) -> datetime:
    """``--at``: ISO 8601 with an offset, or a local date and time read in ``zone``."""
    value = text.strip()
    if not _AT_FORM.match(value):
        raise UsageError(f"--at: {AT_HELP}")
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise UsageError(f"--at: no such date or time ({AT_HELP})") from None
    if not FIRST_DATE <= moment.date() <= LAST_DATE:
        raise InputError([], f"--at: {DATE_RANGE_HELP}")
    if moment.tzinfo is not None:
        return moment.astimezone(zone)
    return strict_local(moment, zone)
