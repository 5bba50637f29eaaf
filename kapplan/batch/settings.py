"""A batch run's settings: the defaults every record may take, checked once.

A bad ``--tz``, ``--start``, ``--protocol`` or ``--combined`` is one usage
error before anything runs, not the same failure on every record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from kapplan.models.errors import UsageError
from kapplan.models.options import Audience, Privacy

if TYPE_CHECKING:
    from kapplan.models.client import Clinic

SUFFIXES = {"ics": ".ics", "json": ".plan.json"}
"""The files each record may get, by ``--format`` name."""

@dataclass(frozen=True)
class BatchSettings:
    """Everything a worker needs besides the record; sent once to each process."""

    base: Path  # relative protocol paths in records start here
    now: datetime
    reproducible: bool = False  # SOURCE_DATE_EPOCH: plan series derived, not random
    protocol: str | None = None  # --protocol
    timezone: str | None = None  # --tz
    start: str | None = None  # --start
    clinic: Clinic | None = None
    audience: Audience = "client"
    privacy: Privacy = "standard"
    formats: tuple[str, ...] = ("ics", "json")
    combined: bool = False
    out: Path | None = None  # where earlier runs left each record's plan (SPEC §14)
    inputs: tuple[str, ...] = ()  # roster, clinic and --protocol files: no output may replace one
    ledger: Path | None = None  # --ledger: the clinic's booking ledger file (SPEC §11)


def batch_settings(
    *,
    now: datetime,
    reproducible: bool,
    protocol: str | None,
    tz: str | None,
    start: str | None,
    clinic: Clinic | None,
    audience: Audience,
    privacy: Privacy,
    formats: str | Iterable[str],
    combined: Path | None,
    out: Path,
    ledger: Path | None = None,
) -> BatchSettings:
    """The run's settings, each default checked once here rather than failing every record."""
    _check_combined(combined, out)
    return BatchSettings(
        base=Path("."),
        now=now,
        reproducible=reproducible,
        protocol=_default_protocol(protocol),
        timezone=_default_value("--tz", tz),
        start=_default_value("--start", start),
        clinic=clinic,
        audience=audience,
        privacy=privacy,
        formats=_formats(formats),
        combined=combined is not None,
        out=out.resolve(),
        ledger=ledger,
    )


def _formats(value: str | Iterable[str]) -> tuple[str, ...]:
    from kapplan.models.errors import UsageError

    parts = value.split(",") if isinstance(value, str) else list(value)
    chosen = [part.strip().lower() for part in parts if part.strip()]
    if not chosen or any(part not in SUFFIXES for part in chosen):
        shown = value if isinstance(value, str) else ",".join(value)
        raise UsageError(f"--format: expected ics, json or ics,json, not '{shown}'")
    return tuple(kind for kind in SUFFIXES if kind in chosen)


def _default_value(flag: str, value: str | None) -> str | None:
    """--tz / --start: a zone the tz database knows, a real date."""
    if value is None:
        return None
    from pydantic_core import PydanticCustomError

    from kapplan.models.values import parse_date, parse_timezone

    try:
        parsed = parse_timezone(value) if flag == "--tz" else parse_date(value).isoformat()
    except PydanticCustomError as err:
        raise UsageError(f"{flag}: {err.message()}") from None
    return str(parsed)


def _default_protocol(name: str | None) -> str | None:
    """--protocol: a path (made absolute, as records resolve theirs elsewhere) or a bundled id."""
    if name is None:
        return None
    from kapplan.io.bundled import bundled_paths

    if Path(name).exists():
        return str(Path(name).resolve())
    if name in bundled_paths():
        return name
    raise UsageError(f"--protocol: {unknown_protocol(name)}")


def unknown_protocol(name: str) -> str:
    """Why a protocol name resolves to nothing (the records that name it fail with it)."""
    return f"unknown protocol '{name}': not a bundled protocol id, and no such file"


def _check_combined(path: Path | None, out: Path) -> None:
    if path is None:
        return
    if path.suffix.lower() not in (".ics", ".ical"):
        raise UsageError(f"--combined {path}: name the calendar FILE.ics")
    if not path.parent.is_dir() and path.parent.resolve() != out.resolve():
        raise UsageError(f"--combined {path}: the folder {path.parent} does not exist")
