"""Plan files: read back fully checked, and replaced without losing the previous one.

A missing or unreadable file is a usage error (exit 2); a file that is not a
valid plan is an input error (exit 1) whose diagnostics name the file, line
and field, never a value (plans hold personal data).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kapplan.io.files import read_input, write_file
from kapplan.models.errors import Diagnostic, InputError, UsageError
from kapplan.models.plan import PLAN_FORMAT, READABLE_FORMATS, Plan

PLAN_MAX_BYTES = 16 * 1024 * 1024
_KNOWN_KINDS = ("protocol", "client", "clinic")


def read_plan(path: Path | str) -> Plan:
    """A plan file -> Plan, checked well enough for every command that reads plans."""
    path = Path(path)
    return parse_plan(read_plan_bytes(path), str(path))


def parse_plan(data: bytes, file: str) -> Plan:
    """Plan JSON bytes -> Plan; every problem reported at once, located."""
    from pydantic import ValidationError

    summary = f"{file}: not a valid plan file"
    if len(data) > PLAN_MAX_BYTES:
        raise InputError([Diagnostic(file, 1, 1, "error", "KP105", "plan file is larger than 16 MiB")], summary)
    try:
        plan = Plan.model_validate_json(data.removeprefix(b"\xef\xbb\xbf"))
    except ValidationError as err:
        raise InputError(_invalid_plan(data, file, err), summary) from None
    problems = _plan_problems(plan)
    if problems:
        doc = _plan_document(data, file)
        raise InputError([doc.diagnostic(loc, code, message) for loc, code, message in problems], summary)
    return plan


def read_plan_bytes(path: Path) -> bytes:
    """The bytes of a plan file (a ledger compares their sha256), at most the size limit + 1."""
    return read_input(path, PLAN_MAX_BYTES, "plan file")


def _invalid_plan(data: bytes, file: str, err: Any) -> list[Diagnostic]:
    """Why the bytes are not a plan: encoding, JSON syntax, kind, or the fields."""
    import json

    from kapplan.io.documents import validation_diagnostics

    def at(line: int, column: int, code: str, message: str) -> list[Diagnostic]:
        return [Diagnostic(file, line, column, "error", code, message)]

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as bad:
        return at(data[: bad.start].count(b"\n") + 1, 1, "KP102", "file is not valid UTF-8 text")
    if not text.strip():
        return at(1, 1, "KP103", "file is empty")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as bad:
        return at(bad.lineno, bad.colno, "KP101", f"not a plan: JSON syntax error: {bad.msg}")
    except RecursionError:
        return at(1, 1, "KP105", "the document is nested too deeply")
    except ValueError:  # an integer of more digits than Python converts
        line, column = _long_number(text)
        return at(line, column, "KP112", "number out of range (far too many digits)")
    if not isinstance(obj, dict):
        return at(1, 1, "KP104", "a plan file must be a JSON object")
    kind = obj.get("kind")
    if kind != "plan":
        doc = _plan_document(data, file)
        what = f"this is a {kind} file, not a plan" if kind in _KNOWN_KINDS else "'kind' must be 'plan'"
        hint = "plans are written by 'kapplan plan -o PLAN.json'"
        return [doc.diagnostic(("kind",), "KP104", what, hint=hint)]
    return validation_diagnostics(err, Plan, _plan_document(data, file, obj))


def _long_number(text: str) -> tuple[int, int]:
    """Line and column of the first run of more than 40 digits in ``text``."""
    import re

    found = re.search(r"[0-9]{41,}", text)
    if found is None:
        return 1, 1
    before = text[: found.start()]
    return before.count("\n") + 1, found.start() - before.rfind("\n")


def _plan_document(data: bytes, file: str, obj: Any = None) -> Any:
    """Positions of the plan's nodes, for located diagnostics (JSON is YAML 1.2)."""
    import json

    from kapplan.io.documents import Document, parse_document

    try:
        return parse_document(data, file)
    except (InputError, RecursionError):
        try:
            return Document(file, obj if obj is not None else json.loads(data))
        except (ValueError, RecursionError):
            return Document(file, None)


def _plan_problems(plan: Plan) -> list[tuple[tuple[str | int, ...], str, str]]:
    """What the schema cannot say: format, series, zone, ids, keys, times, reminders."""
    import uuid

    from pydantic_core import PydanticCustomError

    from kapplan.models.values import parse_duration, parse_identifier, parse_timezone

    problems: list[tuple[tuple[str | int, ...], str, str]] = []
    if plan.format not in READABLE_FORMATS:
        readable = " and ".join(map(str, READABLE_FORMATS))
        problems.append((("format",), "KP104",
                         f"plan format {plan.format} is not supported (this kapplan reads formats {readable})"))
    try:
        uuid.UUID(plan.series)
    except ValueError:
        problems.append((("series",), "KP124", "'series' must be a UUID"))
    for field_name, parser, code in (("id", parse_identifier, "KP124"), ("timezone", parse_timezone, "KP126")):
        try:
            parser(plan.client.get(field_name))
        except PydanticCustomError as bad:
            problems.append((("client", field_name), code, f"'{field_name}': {bad.message()}"))
    seen: set[str] = set()
    for i, session in enumerate(plan.sessions):
        if session.key in seen:
            problems.append((("sessions", i, "key"), "KP106", "duplicate session key"))
        seen.add(session.key)
        if session.end <= session.start:
            problems.append((("sessions", i, "end"), "KP112", "'end' must be after 'start'"))
        for j, reminder in enumerate(session.reminders):
            try:
                parse_duration(reminder.before)
            except PydanticCustomError:
                problems.append((("sessions", i, "reminders", j, "before"), "KP120", "'before' is not a duration"))
    for i, task in enumerate(plan.tasks):
        if task.key in seen:
            problems.append((("tasks", i, "key"), "KP106", "duplicate key (tasks and sessions share keys)"))
        seen.add(task.key)
        if task.window_start > task.due:
            problems.append((("tasks", i, "window_start"), "KP112", "'window_start' must not be after 'due'"))
    for i, decision in enumerate(plan.decisions):
        if plan.session(decision.key) is None:
            problems.append((("decisions", i, "key"), "KP112", "a decision must name a session of the plan"))
        if decision.chosen is not None and decision.chosen not in decision.options:
            problems.append((("decisions", i, "chosen"), "KP112", "'chosen' must be one of 'options'"))
    return problems


def write_plan(path: Path | str, plan: Plan, *, keep_backup: bool = False) -> None:
    """Write ``plan`` atomically, readable by its owner only; with ``keep_backup``
    the file it replaces is kept as ``PLAN.json.bak`` first (beside the real
    file when ``path`` is a symbolic link, which stays a link)."""
    path = Path(os.path.realpath(path))
    if keep_backup:
        try:
            previous = path.read_bytes()
        except OSError as err:
            raise UsageError(f"{path}: cannot write the plan ({err.strerror or 'write failed'})") from None
        write_file(path.with_name(path.name + ".bak"), previous, private=True, what="cannot write the plan")
    current = plan if plan.format == PLAN_FORMAT else plan.model_copy(update={"format": PLAN_FORMAT})
    write_file(path, current.to_json(), private=True, what="cannot write the plan")


def plan_on_disk(path: Path) -> Plan | None:
    """The plan a file holds, or None when there is no file or it is not a plan
    (overwriting it then loses no record; the caller still keeps ``.bak``)."""
    if not path.is_file():
        return None
    try:
        return read_plan(path)
    except InputError:
        return None
