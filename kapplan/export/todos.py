"""Plan tasks -> iCalendar VTODOs (SPEC §13): questionnaires due on a date.

A task has a due date and no time: ``DUE;VALUE=DATE`` and no DTSTART, so a
calendar client lists it on its day without inventing an hour. The UID is
uuid5 of the plan's series and ``"task:" + key``: stable across re-exports,
reschedules and decisions, and distinct from every session's UID. What the
SUMMARY says follows the privacy level: "Task" at minimal, "Questionnaire"
at standard, the instrument's name only at full (an instrument such as
PCL-5 says what is being treated).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from icalendar import Todo, vCalAddress

from kapplan.models.plan import Task

_STATUS = {"due": "NEEDS-ACTION", "done": "COMPLETED", "skipped": "CANCELLED"}
_SUMMARY = {"minimal": "Task", "standard": "Questionnaire"}


def task_uid(series: str, key: str) -> str:
    """uuid5 of the series and ``task:<key>``: no session key starts with ``task:``."""
    return str(uuid.uuid5(uuid.UUID(series), "task:" + key))


def task_summary(task: Task, privacy: str, clean: str) -> str:
    """"Task", "Questionnaire", or at full the instrument (``clean``: its text made safe)."""
    return _SUMMARY.get(privacy) or clean or "Questionnaire"


def task_todo(task: Task, *, series: str, stamp: datetime, summary: str, privacy: str,
              organizer: vCalAddress | None) -> bytes:
    """One VTODO; ``summary`` is already decided by audience and privacy."""
    todo = Todo()
    todo.add("uid", task_uid(series, task.key))
    todo.add("dtstamp", stamp)
    todo.add("sequence", max(task.sequence, 0))
    todo.add("due", task.due)
    todo.add("summary", summary)
    todo.add("status", _STATUS.get(task.status, "NEEDS-ACTION"))
    todo.add("class", "PRIVATE")
    todo.add("categories", ["questionnaire" if privacy != "minimal" else "task"])
    if privacy != "minimal" and task.window_start != task.due:
        todo.add("description", f"Can be done from {task.window_start.isoformat()}.")
    if organizer is not None:
        todo.add("organizer", organizer)
    raw: bytes = todo.to_ical()
    return raw


__all__ = ["task_summary", "task_todo", "task_uid"]
