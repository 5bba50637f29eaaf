"""The JSON that ``status``, ``mark`` and ``reschedule`` print with ``--format
json`` (SPEC §14), and the batch summary: shapes a script can rely on.

Each shape has a ``kind`` and a ``format`` version like the plan file, and its
JSON Schema is printed by ``kapplan schema KIND``. Times carry their UTC
offset in the client's zone, as in plans.

Annotations stay real objects (no postponed evaluation), as in plan.py.
"""

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, field_serializer

from kapplan.models.plan import DecisionPoint, Deviation, Status, Task, TaskStatus

REPORT_FORMAT = 1


class ReportModel(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class SessionState(ReportModel):
    """One session as a script sees it: where it is and what happened to it."""

    key: str
    title: str
    kind: str
    start: AwareDatetime
    end: AwareDatetime
    status: Status
    sequence: int

    @field_serializer("start", "end")
    def _with_offset(self, moment: datetime) -> str:
        return moment.isoformat()


class StatusSession(SessionState):
    next: bool = False
    unmarked: bool = False  # started, still planned: awaits a mark
    deviations: list[Deviation] = []


class StatusOutput(ReportModel):
    """``kapplan status --format json``."""

    kind: Literal["status"] = "status"
    format: int = REPORT_FORMAT
    file: str
    client: str
    timezone: str
    series: str
    counts: dict[Status, int]
    next: str | None  # the key of the next planned session
    unmarked: list[str]
    sessions: list[StatusSession]
    deviations_so_far: list[Deviation]
    planned_deviations: list[Deviation]
    safety: list[str]
    tasks: list[Task] = []  # questionnaires (SPEC §13)
    due_tasks: list[str] = []  # open tasks whose window has begun, today included
    overdue_tasks: list[str] = []  # open tasks past their due date
    tentative: list[str] = []  # sessions waiting for their gate
    open_decision: DecisionPoint | None = None  # nothing after it is planned yet


class MarkOutput(ReportModel):
    """``kapplan mark --format json``."""

    kind: Literal["mark"] = "mark"
    format: int = REPORT_FORMAT
    file: str
    key: str
    changed: bool
    message: str
    previous: Status | TaskStatus
    session: SessionState | None  # None when the key is a task's
    task: Task | None = None  # the task marked (SPEC §13), when the key is a task's
    warnings: list[str]
    backup: str | None  # the previous plan file, when this one was rewritten


class SessionMove(ReportModel):
    """One session a reschedule changed: before (None for a new one), after, why."""

    key: str
    before: SessionState | None
    after: SessionState
    reason: str


class RescheduleOutput(ReportModel):
    """``kapplan reschedule --format json`` (``--dry-run`` included)."""

    kind: Literal["reschedule"] = "reschedule"
    format: int = REPORT_FORMAT
    file: str
    dry_run: bool
    changed: bool
    note: str | None
    changes: list[SessionMove]
    deviations: list[Deviation]
    backup: str | None


class NoteOutput(ReportModel):
    code: str
    message: str


class BatchRecord(ReportModel):
    """One record of a batch summary; a failed one has an ``error`` and its ``code``."""

    record: int
    row: int
    id: str | None
    status: Literal["ok", "failed"]
    outcome: Literal["new", "kept", "replanned"] | None = None
    protocol: str | None
    sessions: int
    first: str | None
    last: str | None
    files: list[str]
    error: str | None
    code: str | None = None
    notes: list[NoteOutput] = []  # the plan's KP4xx safety notes (SPEC §7), never silenced


class BatchTotals(ReportModel):
    records: int
    ok: int
    failed: int
    with_safety_notes: int = 0  # planned records whose plan carries KP4xx notes
    new: int = 0
    kept: int = 0
    replanned: int = 0


class BatchSummaryOutput(ReportModel):
    """``summary.json`` of a batch (also ``kapplan batch --report json``)."""

    model_config = ConfigDict(extra="allow", defer_build=True)  # other fields may follow

    kind: Literal["batch-summary"] = "batch-summary"
    format: int = REPORT_FORMAT
    generator: str
    created: str
    roster: str
    records: list[BatchRecord]
    totals: BatchTotals | None = None  # absent while a run is still writing
    stopped: bool = False
    error: str | None = None
    state: Literal["running", "complete", "interrupted"] = "complete"


class DecideOutput(ReportModel):
    """``kapplan decide --format json`` (SPEC §13): the choice and the sessions it placed or moved."""

    kind: Literal["decide"] = "decide"
    format: int = REPORT_FORMAT
    file: str
    dry_run: bool
    decision: DecisionPoint
    changes: list[SessionMove]
    open_decision: str | None  # the next decision on the path, if the choice leads to one
    backup: str | None  # the previous plan file, when this one was rewritten


REPORT_MODELS: dict[str, type[ReportModel]] = {
    "status": StatusOutput,
    "mark": MarkOutput,
    "reschedule": RescheduleOutput,
    "decide": DecideOutput,
    "batch-summary": BatchSummaryOutput,
}
