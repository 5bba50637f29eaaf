"""One exception tree for the whole tool, and the exit codes of SPEC §6.

The core raises these; only the CLI turns them into messages and exit codes,
so a library user gets structured errors and a terminal user gets one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, identical for every command."""

    OK = 0
    INVALID_INPUT = 1
    USAGE = 2
    INFEASIBLE = 3
    BATCH_FAILED = 4
    INTERNAL = 70


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in an input file, located at the offending node."""

    file: str
    line: int
    column: int
    severity: str  # "error" | "warning"
    code: str
    message: str
    hint: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def as_text(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        text = f"{where}: {self.severity} {self.code} {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
        }


class KapplanError(Exception):
    """Base of every error kapplan reports to a user."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InputError(KapplanError):
    """An input file failed validation; carries every diagnostic at once."""

    exit_code = ExitCode.INVALID_INPUT

    def __init__(self, diagnostics: list[Diagnostic], message: str | None = None) -> None:
        errors = [d for d in diagnostics if d.is_error]
        summary = message or f"{len(errors)} error(s) in input"
        super().__init__(summary)
        self.diagnostics = diagnostics


class UsageError(KapplanError):
    """The command line itself is wrong, or a named file cannot be read."""

    exit_code = ExitCode.USAGE


@dataclass
class Explanation:
    """Why no plan exists: what failed to place, what blocked it, what would work."""

    session: str
    blockers: list[str] = field(default_factory=list)
    suggested_start: str | None = None
    search_limit: bool = False
    scan_limit: bool = False  # the scan for a later start ran out of its budget first

    def lines(self) -> list[str]:
        if self.search_limit:
            head = f"search limit reached while placing {self.session}; no answer is known"
        else:
            head = f"no feasible schedule: {self.session} cannot be placed"
        out = [head]
        out += [f"  - {b}" for b in self.blockers]
        if not self.search_limit:
            if self.suggested_start:
                out.append(f"nearest later start date that works: {self.suggested_start}")
            elif self.scan_limit:
                out.append("nearest later start date that works: none found within the search budget")
            else:
                out.append("no later start date within the horizon works (none found)")
        return out


class InfeasibleError(KapplanError):
    """No plan satisfies the protocol for this client, or the search gave up."""

    exit_code = ExitCode.INFEASIBLE

    def __init__(self, explanation: Explanation) -> None:
        super().__init__("\n".join(explanation.lines()))
        self.explanation = explanation


class ValidationFailed(KapplanError):
    """``validate`` found an error or an unreadable file; each was reported on its
    own, so the message is only the count (exit 1, or 2 when a file was unreadable)."""

    def __init__(self, summary: str, exit_code: ExitCode) -> None:
        super().__init__(summary)
        self.exit_code = exit_code


class BatchFailedError(KapplanError):
    """Some records of a roster failed; the good ones were written."""

    exit_code = ExitCode.BATCH_FAILED


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, turned into the same unwinding as Ctrl-C (SIGINT), so
    temporary files are removed, workers stopped and a batch's summary says
    "interrupted"; the process then exits with 128 + the signal's number."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(signal_number)
        self.signal_number = signal_number
