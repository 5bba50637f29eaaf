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
def holiday_names(code: str, first_year: int, last_year: int) -> dict[date, str]:
    """Every public holiday of the calendar ``code`` in the given years, with its name
    (built once per code and years: batch plans thousands of clients)."""
    import holidays

    country, subdivision = split_code(code)
    supported = holidays.list_supported_countries()
    if subdivision is not None and subdivision not in supported.get(country, ()):
        subdivision = subdivision.upper()
    calendar = holidays.country_holidays(country, subdiv=subdivision, years=range(first_year, last_year + 1))
    return dict(calendar.items())
