"""Public holidays by ``country[-subdivision]`` code, via the ``holidays`` package.

Imported lazily: the package is large, and most commands never name a calendar.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache


@lru_cache(maxsize=256)
def known_holiday_code(country: str, subdivision: str | None) -> bool:
    """True when the holidays package has this country and subdivision."""
    import holidays

    supported = holidays.list_supported_countries()
    code = country.upper()
    if code not in supported:
        return False
    if subdivision is None:
        return True
    return subdivision in supported[code] or subdivision.upper() in supported[code]


def split_code(code: str) -> tuple[str, str | None]:
    country, _, subdivision = code.partition("-")
    return country.upper(), subdivision or None


@lru_cache(maxsize=256)
def holiday_dates(code: str, first_year: int, last_year: int) -> frozenset[date]:
    """Every public holiday of the calendar ``code`` in the given years."""
    import holidays

    country, subdivision = split_code(code)
    supported = holidays.list_supported_countries()
    if subdivision is not None and subdivision not in supported.get(country, ()):
        subdivision = subdivision.upper()
    calendar = holidays.country_holidays(
        country, subdiv=subdivision, years=range(first_year, last_year + 1)
    )
    return frozenset(calendar.keys())


def holiday_name(code: str, day: date) -> str | None:
    """The holiday's name, for explanations ("2026-12-25 is a holiday: Christmas Day")."""
    import holidays

    country, subdivision = split_code(code)
    calendar = holidays.country_holidays(country, subdiv=subdivision, years=day.year)
    return calendar.get(day)
