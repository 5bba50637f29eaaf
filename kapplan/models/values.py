"""The shared value syntax of SPEC §1 as parsers and pydantic types.

Every parser takes the raw value and returns a small frozen value object, or
raises ``PydanticCustomError`` whose type names the syntax (``kapplan.io.documents``
maps the type to a KP1xx code). Messages describe the expected form and never echo the
input, which may be personal data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

MINUTES_PER_DAY = 1440
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
LB_IN_KG = Decimal("0.45359237")


def _fail(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def _text(value: Any, kind: str, what: str, example: str | None = None) -> str:
    """Accept strings only: numbers would be guesses (a bare 72 has no unit)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and example:
        raise _fail(kind, f"a bare number has no unit: write {what} such as {example}")
    if isinstance(value, bool) or not isinstance(value, str):
        raise _fail(kind, f"expected {what} as text")
    return value.strip()


# --------------------------------------------------------------------------- durations


@dataclass(frozen=True, order=True)
class Duration:
    """A length of time; ``calendar`` when written only in d/w (compares dates)."""

    minutes: int
    calendar: bool = False

    @property
    def days(self) -> int:
        return self.minutes // MINUTES_PER_DAY

    @property
    def timedelta(self) -> timedelta:
        return timedelta(minutes=self.minutes)

    def __str__(self) -> str:
        if self.calendar:
            days = self.days
            return f"{days // 7}w" if days and days % 7 == 0 else f"{days}d"
        return format_minutes(self.minutes)

    def iso(self) -> str:
        """RFC 5545 / ISO 8601 form, e.g. ``P1D`` or ``PT90M``."""
        if self.calendar:
            return f"P{self.days}D"
        days, rest = divmod(self.minutes, MINUTES_PER_DAY)
        hours, minutes = divmod(rest, 60)
        out = "P" + (f"{days}D" if days else "")
        if hours or minutes or not days:
            out += "T" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes or not hours else "")
        return out


def format_minutes(total: int) -> str:
    """Compact elapsed form in hours and minutes (``48h``, ``1h30min``): never
    ``d``, which would read back as calendar days."""
    if total == 0:
        return "0min"
    hours, minutes = divmod(total, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}min" if minutes else "")


_COMPACT = re.compile(r"^(?:([0-9]{1,9})w)?(?:([0-9]{1,9})d)?(?:([0-9]{1,9})h)?(?:([0-9]{1,9})min)?$")
_ISO = re.compile(r"^P(?:([0-9]{1,9})W)?(?:([0-9]{1,9})D)?(?:T(?:([0-9]{1,9})H)?(?:([0-9]{1,9})M)?)?$")
DURATION_HELP = "expected a duration such as 90min, 1h30min, 2d, 1w or PT90M"
_MAX_MINUTES = 1000 * 366 * MINUTES_PER_DAY


def parse_duration(value: Any) -> Duration:
    """Parse ``1h30min`` / ``2d`` / ``PT90M``; calendar mode iff only w/d units."""
    if isinstance(value, Duration):
        return value
    text = _text(value, "duration", "a duration", "90min, 2d or 1w")
    match = _COMPACT.match(text) or _ISO.match(text.upper())
    if not text or not match or not any(match.groups()) or text.upper() in ("P", "PT"):
        raise _fail("duration", DURATION_HELP)
    if text.upper().startswith("P") and text.upper().endswith("T"):
        raise _fail("duration", DURATION_HELP)
    weeks, days, hours, minutes = (int(g) if g else 0 for g in match.groups())
    total = ((weeks * 7 + days) * 24 + hours) * 60 + minutes
    if total > _MAX_MINUTES:
        raise _fail("duration", "duration is too long (at most 1000 years)")
    calendar = match.group(3) is None and match.group(4) is None
    return Duration(total, calendar)


# --------------------------------------------------------------------------- ranges


@dataclass(frozen=True)
class Range:
    """``min..max`` with an optional target; ``max`` None means unbounded."""

    min: Duration
    max: Duration | None = None
    target: Duration | None = None

    @property
    def calendar(self) -> bool:
        """Calendar-date mode when every bound is written in d/w only."""
        bounds = [b for b in (self.min, self.max, self.target) if b is not None]
        return all(b.calendar for b in bounds)

    def __str__(self) -> str:
        if self.target is not None and self.max is not None:
            low = self.target.minutes - self.min.minutes
            high = self.max.minutes - self.target.minutes
            if low == high:
                width = Duration(low, self.target.calendar and self.max.calendar)
                return f"{self.target}±{width}"
        if self.target is None and self.max is not None and self.max == self.min:
            return str(self.min)
        if self.target is not None:
            bounds = f"min: {self.min}, target: {self.target}"
            return "{" + bounds + (f", max: {self.max}" if self.max else "") + "}"
        return f"{self.min}..{self.max if self.max is not None else ''}"

    def contains_minutes(self, minutes: int) -> bool:
        return self.min.minutes <= minutes and (self.max is None or minutes <= self.max.minutes)

    def as_written(self) -> str:
        """The range as a protocol writes it, day counts kept in days (``5d..14d``, not ``5d..2w``)."""
        def part(bound: Duration) -> str:
            return f"{bound.days}d" if bound.calendar else str(bound)

        if self.target is not None or self.max is None:
            return str(self)
        if self.max == self.min:
            return part(self.min)
        low = "" if self.min.minutes == 0 else part(self.min)
        return f"{low}..{part(self.max)}"


def range_to_json(value: Range) -> str | dict[str, str]:
    """The string form where one exists, else the mapping form (round-trips)."""
    text = str(value)
    if not text.startswith("{"):
        return text
    out = {"min": str(value.min), "target": str(value.target)}
    if value.max is not None:
        out["max"] = str(value.max)
    return out


RANGE_HELP = "expected a range such as 1d..3d, 2d.., ..14d, 7d, 14d±2d or {min, target, max}"


def parse_range(value: Any) -> Range:
    """Parse every range form of SPEC §1; ``min > max`` is left to lint (KP2)."""
    if isinstance(value, Range):
        return value
    if isinstance(value, dict):
        return _range_from_mapping(value)
    text = _text(value, "range", "a range", "7d, 1d..3d or 48h..")
    try:
        if ".." in text:
            low, _, high = text.partition("..")
            if ".." in high:
                raise _fail("range", RANGE_HELP)
            minimum = parse_duration(low) if low else Duration(0, _is_calendar(high))
            maximum = parse_duration(high) if high else None
            if not low and not high:
                raise _fail("range", RANGE_HELP)
            return Range(minimum, maximum)
        for sign in ("±", "+-"):
            if sign in text:
                target_text, _, width_text = text.partition(sign)
                target, width = parse_duration(target_text), parse_duration(width_text)
                if width.minutes > target.minutes:
                    raise _fail("range", "the window is wider than the target (T±W needs W <= T)")
                calendar = target.calendar and width.calendar
                lowest = Duration(target.minutes - width.minutes, calendar)
                highest = Duration(target.minutes + width.minutes, calendar)
                return Range(lowest, highest, target)
        exact = parse_duration(text)
        return Range(exact, exact)
    except PydanticCustomError as err:
        if err.type == "range":
            raise
        raise _fail("range", RANGE_HELP) from None


def _is_calendar(text: str) -> bool:
    try:
        return parse_duration(text).calendar
    except PydanticCustomError:
        return True


def _range_from_mapping(value: dict[str, Any]) -> Range:
    unknown = set(value) - {"min", "target", "max"}
    if unknown or not value:
        raise _fail("range", "a range mapping takes only the keys min, target and max")
    parsed = {key: parse_duration(item) for key, item in value.items() if item is not None}
    target = parsed.get("target")
    calendar = all(d.calendar for d in parsed.values())
    minimum = parsed.get("min", Duration(0, calendar))
    return Range(minimum, parsed.get("max"), target)


@dataclass(frozen=True)
class AgeRange:
    """Whole years of age, both ends inclusive; ``max`` None means no upper limit."""

    min: int
    max: int | None = None

    def contains(self, years: int) -> bool:
        return self.min <= years and (self.max is None or years <= self.max)

    def __str__(self) -> str:
        if self.max == self.min:
            return str(self.min)
        return f"{self.min}..{'' if self.max is None else self.max}"


AGE_HELP = "expected an age range in whole years such as 18..64, 18.. or ..64"
_AGE = re.compile(r"^(\d{1,3})?\s*(\.\.)?\s*(\d{1,3})?$")


def parse_age_range(value: Any) -> AgeRange:
    """``18..64``, ``18..``, ``..64`` or a single age; ``min > max`` is refused here (no lint needed)."""
    if isinstance(value, AgeRange):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise _fail("range", AGE_HELP)
    match = _AGE.fullmatch(value.strip())
    if not match or not (match.group(1) or match.group(3)) or (match.group(2) is None and match.group(3)):
        raise _fail("range", AGE_HELP)
    low = int(match.group(1)) if match.group(1) else 0
    high = int(match.group(3)) if match.group(3) else (None if match.group(2) else low)
    if high is not None and high < low:
        raise _fail("range", f"the age range {value} ends before it starts")
    if low > 150 or (high is not None and high > 150):
        raise _fail("range", "ages above 150 are not plausible")
    return AgeRange(low, high)


# --------------------------------------------------------------------------- dates


DATE_HELP = "expected a date as YYYY-MM-DD"
FIRST_DATE = date(1900, 1, 1)
LAST_DATE = date(2199, 12, 31)
"""Every date kapplan accepts lies in this range: a year typo (1800, 0001, 9999)
is an error rather than a plan at a time zone's pre-1900 local mean time, or
arithmetic past the end of Python's calendar (year 9999)."""
DATE_RANGE_HELP = f"dates must lie between {FIRST_DATE} and {LAST_DATE} (a typo in the year?)"


def parse_date(value: Any) -> date:
    """ISO calendar dates only; impossible dates (2026-02-30) are errors."""
    if isinstance(value, date):
        return check_date_range(value)
    text = _text(value, "date", "a date")
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        raise _fail("date", DATE_HELP)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise _fail("date", "that day does not exist in the calendar (expected YYYY-MM-DD)") from None
    return check_date_range(day)


def check_date_range(day: date) -> date:
    """``day`` itself, when it lies within FIRST_DATE..LAST_DATE."""
    if not FIRST_DATE <= day <= LAST_DATE:
        raise _fail("date", DATE_RANGE_HELP)
    return day


@dataclass(frozen=True)
class DateRange:
    """Inclusive range of local dates; a single date is a one-day range."""

    start: date
    end: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end

    def __str__(self) -> str:
        if self.start == self.end:
            return self.start.isoformat()
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def parse_date_range(value: Any) -> DateRange:
    """``DATE..DATE`` (inclusive) or a single ``DATE``."""
    if isinstance(value, DateRange):
        return value
    if isinstance(value, date):
        return DateRange(value, value)
    text = _text(value, "date_range", "a date or date range")
    try:
        if ".." in text:
            first, _, last = text.partition("..")
            start, end = parse_date(first.strip()), parse_date(last.strip())
        else:
            start = end = parse_date(text)
    except PydanticCustomError as err:
        raise _fail("date_range", f"{err.message()}; ranges are written DATE..DATE") from None
    if end < start:
        raise _fail("date_range", "the range ends before it starts")
    return DateRange(start, end)


# --------------------------------------------------------------------------- windows


def parse_clock(text: str, *, allow_24: bool = False) -> time | None:
    """``HH:MM`` 24-hour; ``24:00`` only as a window's end (returns None for it)."""
    match = re.fullmatch(r"([0-9]{1,2}):([0-9]{2})", text.strip())
    if not match:
        raise _fail("window", "expected a time as HH:MM (24-hour)")
    hour, minute = int(match.group(1)), int(match.group(2))
    if allow_24 and hour == 24 and minute == 0:
        return None
    if hour > 23 or minute > 59:
        raise _fail("window", "expected a time as HH:MM between 00:00 and 23:59")
    return time(hour, minute)


def clock_minutes(moment: time | None) -> int:
    """Minutes since midnight; None stands for 24:00."""
    return MINUTES_PER_DAY if moment is None else moment.hour * 60 + moment.minute


def parse_weekday(text: str) -> int:
    """Monday = 0; ``Mon`` or ``monday`` in any case."""
    key = text.strip().lower()
    for index, (short, full) in enumerate(zip(WEEKDAYS, _FULL_DAYS, strict=True)):
        if key in (short.lower(), full):
            return index
    raise _fail("weekday", "expected a weekday: Mon Tue Wed Thu Fri Sat Sun")


def parse_days(text: str) -> frozenset[int]:
    """``Mon,Wed`` and ``Mon-Fri`` (spans may wrap, e.g. ``Sat-Mon``)."""
    days: set[int] = set()
    for part in text.split(","):
        if not part.strip():
            raise _fail("window", "empty weekday in the list")
        if "-" in part:
            first, _, last = part.partition("-")
            start, end = parse_weekday(first), parse_weekday(last)
            span = (end - start) % 7
            days.update((start + offset) % 7 for offset in range(span + 1))
        else:
            days.add(parse_weekday(part))
    return frozenset(days)


def format_days(days: frozenset[int]) -> str:
    return ",".join(WEEKDAYS[d] for d in sorted(days))


WINDOW_HELP = "expected a weekly window such as 'Mon-Fri 09:00-17:00' or 'Mon,Wed 09:00-13:00'"


@dataclass(frozen=True)
class WeeklyWindow:
    """Weekdays plus a same-day local time span [start, end)."""

    days: frozenset[int]
    start: time
    end: time | None  # None = 24:00

    @property
    def start_minute(self) -> int:
        return clock_minutes(self.start)

    @property
    def end_minute(self) -> int:
        return clock_minutes(self.end)

    def __str__(self) -> str:
        end = "24:00" if self.end is None else self.end.strftime("%H:%M")
        return f"{format_days(self.days)} {self.start.strftime('%H:%M')}-{end}"


def parse_weekly_window(value: Any) -> WeeklyWindow:
    if isinstance(value, WeeklyWindow):
        return value
    text = _text(value, "window", "a weekly window")
    match = re.fullmatch(r"(.+?)\s+([0-9]{1,2}:[0-9]{2})\s*-\s*([0-9]{1,2}:[0-9]{2})", text)
    if not match:
        raise _fail("window", WINDOW_HELP)
    try:
        days = parse_days(match.group(1))
        start = parse_clock(match.group(2))
        end = parse_clock(match.group(3), allow_24=True)
    except PydanticCustomError as err:
        raise _fail("window", f"{err.message()} ({WINDOW_HELP})") from None
    assert start is not None
    if clock_minutes(end) <= clock_minutes(start):
        raise _fail("window", "the window must end after it starts (no overnight windows)")
    return WeeklyWindow(days, start, end)


@dataclass(frozen=True)
class TimeWindow:
    """Allowed local *start* times of a session, both ends inclusive."""

    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.start.strftime('%H:%M')}..{self.end.strftime('%H:%M')}"

    def allows(self, minute_of_day: int) -> bool:
        return clock_minutes(self.start) <= minute_of_day <= clock_minutes(self.end)


def parse_time_window(value: Any) -> TimeWindow:
    if isinstance(value, TimeWindow):
        return value
    text = _text(value, "time_window", "a time window")
    first, sep, last = text.partition("..")
    try:
        if not sep:
            raise _fail("time_window", "")
        start, end = parse_clock(first), parse_clock(last)
    except PydanticCustomError:
        raise _fail("time_window", "expected start times as HH:MM..HH:MM, e.g. 08:00..11:00") from None
    if start is None or end is None or end < start:
        raise _fail("time_window", "the time window ends before it starts")
    return TimeWindow(start, end)


# --------------------------------------------------------------------------- quantities


def _too_long(text: str) -> str | None:
    """Why a number written with too many digits is refused (None when that is not the problem)."""
    if re.match(r"\s*[0-9]+(\.[0-9]+)?\s*[A-Za-z]", text):
        return "a number has at most 9 digits before the decimal point and 6 after it"
    return None


def _decimal(text: str, kind: str, help_text: str) -> Decimal:
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise _fail(kind, help_text) from None
    if not number.is_finite():
        raise _fail(kind, help_text)
    return number


MASS_HELP = "expected a mass with a unit, such as '72 kg' or '158 lb' (a bare number is never guessed)"


@dataclass(frozen=True)
class Mass:
    """A body weight as written, convertible exactly to kilograms."""

    amount: Decimal
    unit: str  # "kg" | "lb"

    @property
    def kg(self) -> Decimal:
        return self.amount if self.unit == "kg" else self.amount * LB_IN_KG

    def __str__(self) -> str:
        return f"{self.amount.normalize():f} {self.unit}"


def parse_mass(value: Any) -> Mass:
    if isinstance(value, Mass):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise _fail("mass", MASS_HELP)
    text = _text(value, "mass", "a mass")
    match = re.fullmatch(r"([0-9]{1,9}(?:\.[0-9]{1,6})?)\s*(kg|lb|lbs)", text, re.IGNORECASE)
    if not match:
        raise _fail("mass", _too_long(text) or MASS_HELP)
    unit = match.group(2).lower().rstrip("s")
    return Mass(_decimal(match.group(1), "mass", MASS_HELP), unit)


DOSE_HELP = "expected a dose such as '56 mg' or '0.5 mg/kg'"


@dataclass(frozen=True)
class DoseAmount:
    """``56 mg`` (fixed) or ``0.5 mg/kg`` (per kilogram of body weight)."""

    amount: Decimal
    unit: str  # "mg" | "mg/kg"

    @property
    def per_kg(self) -> bool:
        return self.unit == "mg/kg"

    def __str__(self) -> str:
        return f"{self.amount.normalize():f} {self.unit}"


def parse_dose_amount(value: Any) -> DoseAmount:
    if isinstance(value, DoseAmount):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise _fail("dose", DOSE_HELP + " (a unit is required)")
    text = _text(value, "dose", "a dose")
    match = re.fullmatch(r"([0-9]{1,9}(?:\.[0-9]{1,6})?)\s*(mg/kg|mg)", text, re.IGNORECASE)
    if not match:
        raise _fail("dose", _too_long(text) or DOSE_HELP)
    return DoseAmount(_decimal(match.group(1), "dose", DOSE_HELP), match.group(2).lower())


# --------------------------------------------------------------------------- names


def parse_timezone(value: Any) -> str:
    """An IANA zone name that zoneinfo can load (tzdata ships the database)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    text = _text(value, "timezone", "an IANA time zone name")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*", text) or text == "localtime":
        raise _fail("timezone", "expected an IANA time zone name such as America/New_York")
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise _fail("timezone", "unknown time zone (expected an IANA name such as Europe/London)") from None
    return text


IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
LOCAL_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def parse_identifier(value: Any) -> str:
    """Client / clinic ids: safe as file names (no ``/``, ``\\`` or ``..``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    text = _text(value, "identifier", "an identifier")
    if not IDENTIFIER.fullmatch(text) or ".." in text:
        raise _fail(
            "identifier",
            "expected an identifier: letters, digits, '.', '_' or '-', starting with a letter "
            "or digit, at most 64 characters, no '..'",
        )
    return text


def parse_local_id(value: Any) -> str:
    """Ids inside a protocol: lower-case letters, digits and '-' (no dots)."""
    text = _text(value, "local_id", "an identifier")
    if not LOCAL_ID.fullmatch(text):
        raise _fail(
            "local_id",
            "expected a lower-case identifier: a-z, 0-9 and '-', starting with a letter or "
            "digit, at most 64 characters",
        )
    return text


def parse_holiday_code(value: Any) -> str:
    """``US`` or ``US-NY``: a country (and subdivision) the holidays package knows."""
    text = _text(value, "holidays", "a holiday calendar code")
    country, _, subdivision = text.partition("-")
    from kapplan.models.public_holidays import known_holiday_code

    if not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,10})?", text) or not known_holiday_code(
        country, subdivision or None
    ):
        raise _fail(
            "holidays",
            "unknown holiday calendar (expected a country code such as US, or country-subdivision such as US-NY)",
        )
    if not subdivision:
        return text.upper()
    if known_holiday_code(country, subdivision.upper()):
        subdivision = subdivision.upper()  # "us-ny" -> "US-NY", as the holidays package spells it
    return f"{country.upper()}-{subdivision}"


# --------------------------------------------------------------------------- pydantic types


def _annotated(parser: Any, kind: type | Any, pattern: str, description: str) -> Any:
    return Annotated[
        kind,
        PlainValidator(parser),
        PlainSerializer(str, return_type=str),
        WithJsonSchema({"type": "string", "pattern": pattern, "description": description}),
    ]


_DUR = r"^(\d+w)?(\d+d)?(\d+h)?(\d+min)?$|^P(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?)?$"
DurationT = _annotated(parse_duration, Duration, _DUR, "duration: 90min, 1h30min, 2d, 1w, PT90M")
DateT = Annotated[
    date,
    PlainValidator(parse_date),
    PlainSerializer(lambda d: d.isoformat(), return_type=str),
    WithJsonSchema({"type": "string", "format": "date", "description": "YYYY-MM-DD"}),
]
_DATE = r"\d{4}-\d{2}-\d{2}"
DateRangeT = _annotated(parse_date_range, DateRange, rf"^\s*{_DATE}(\s*\.\.\s*{_DATE})?\s*$", "date or DATE..DATE")
WeeklyWindowT = _annotated(
    parse_weekly_window, WeeklyWindow, r"^\s*\S.*\s\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2}\s*$",
    "weekly window: Mon-Fri 09:00-17:00",
)
TimeWindowT = _annotated(
    parse_time_window, TimeWindow, r"^\s*\d{1,2}:\d{2}\s*\.\.\s*\d{1,2}:\d{2}\s*$", "allowed start times: HH:MM..HH:MM"
)
MassT = _annotated(
    parse_mass, Mass, r"^\s*\d+(\.\d+)?\s*([kK][gG]|[lL][bB][sS]?)\s*$", "mass with unit: 72 kg, 158 lb"
)
DoseAmountT = _annotated(
    parse_dose_amount, DoseAmount, r"^\s*\d+(\.\d+)?\s*[mM][gG](/[kK][gG])?\s*$", "dose: 56 mg or 0.5 mg/kg"
)
IdentifierT = Annotated[
    str,
    PlainValidator(parse_identifier),
    WithJsonSchema({"type": "string", "pattern": IDENTIFIER.pattern}),
]
LocalIdT = Annotated[
    str,
    PlainValidator(parse_local_id),
    WithJsonSchema({"type": "string", "pattern": LOCAL_ID.pattern}),
]
HolidayCodeT = Annotated[
    str,
    PlainValidator(parse_holiday_code),
    WithJsonSchema({"type": "string", "description": "country[-subdivision], e.g. US-NY"}),
]


def _range_schema() -> dict[str, Any]:
    return {
        "anyOf": [
            {"type": "string", "description": "A..B, A.., ..B, A, T±W"},
            {
                "type": "object",
                "properties": {k: {"type": "string"} for k in ("min", "target", "max")},
                "additionalProperties": False,
            },
        ]
    }


RangeT = Annotated[
    Range,
    PlainValidator(parse_range),
    PlainSerializer(range_to_json),
    WithJsonSchema(_range_schema()),
]
AgeRangeT = Annotated[
    AgeRange,
    PlainValidator(parse_age_range),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\s*(\d{1,3})?\s*(\.\.\s*(\d{1,3})?)?\s*$",
                    "description": "age range in whole years: 18..64, 18.., ..64"}),
]
