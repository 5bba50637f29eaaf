"""The current time, honouring SOURCE_DATE_EPOCH (reproducible builds).

Only the CLI calls this; the core receives the moment as an argument.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime


def reproducible_epoch(environ: Mapping[str, str] | None = None) -> datetime | None:
    """SOURCE_DATE_EPOCH as an aware UTC datetime, or None when unset/invalid."""
    value = (environ if environ is not None else os.environ).get("SOURCE_DATE_EPOCH", "").strip()
    if not value.isascii() or not value.isdigit() or len(value) > 12:
        return None
    try:
        moment = datetime.fromtimestamp(int(value), tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment if 1970 <= moment.year <= 2199 else None


def current_time(environ: Mapping[str, str] | None = None) -> datetime:
    """Now in UTC (second precision), or the reproducible epoch when set."""
    fixed = reproducible_epoch(environ)
    if fixed is not None:
        return fixed
    return datetime.now(tz=UTC).replace(microsecond=0)


def system_zone_name(environ: Mapping[str, str] | None = None) -> str:
    """The machine's IANA zone: $TZ, else /etc/localtime's target, else UTC."""
    from pathlib import Path

    env = environ if environ is not None else os.environ
    name = env.get("TZ", "").lstrip(":")
    if name and "/" in name or name == "UTC":
        return name
    try:
        target = str(Path("/etc/localtime").resolve())
    except OSError:
        return "UTC"
    marker = "zoneinfo/"
    return target.split(marker, 1)[1] if marker in target else "UTC"
