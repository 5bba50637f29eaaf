"""Files checked fully: structure (``kapplan.io``), then the lint rules.

``load_protocol`` is how every command gets a protocol it may plan with;
``check_paths`` is ``validate``: every problem of every file, none skipped (past
50 structure problems in one file, one line counts the rest: io/documents.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kapplan.io.documents import Document, document_kind, load_document, to_model
from kapplan.io.readers import read_protocol_document
from kapplan.lint.registry import lint
from kapplan.models.client import Client, Clinic
from kapplan.models.errors import Diagnostic, ExitCode, InputError, UsageError, ValidationFailed
from kapplan.models.protocol import LoadedProtocol, Protocol


def protocol_from_document(doc: Document) -> tuple[Protocol | None, list[Diagnostic]]:
    """Model plus every diagnostic (structure errors stop before lint)."""
    try:
        protocol = to_model(doc, Protocol)
    except InputError as err:
        return None, err.diagnostics
    return protocol, lint(protocol, doc)


def load_protocol(name: str | Path, base: Path | None = None) -> LoadedProtocol:
    """A path or bundled id -> LoadedProtocol; a protocol with any lint error raises InputError."""
    source = read_protocol_document(name, base)
    protocol, diagnostics = protocol_from_document(source.document)
    errors = [d for d in diagnostics if d.is_error]
    if protocol is None or errors:
        raise InputError(diagnostics, f"{source.path}: the protocol has {len(errors)} error(s)")
    return LoadedProtocol(protocol, source.path, source.sha256, diagnostics)


def check_file(path: str | Path) -> list[Diagnostic]:
    """Every diagnostic for one file of any kind (for ``validate``)."""
    return _checked(path).diagnostics


@dataclass
class _Checked:
    """One file's diagnostics, and its document and model when it read as a protocol or clinic."""

    diagnostics: list[Diagnostic]
    doc: Document | None = None
    model: Protocol | Clinic | None = None


def _checked(path: str | Path) -> _Checked:
    try:
        doc = load_document(path)
        kind = document_kind(doc)
        if kind == "protocol":
            protocol, found = protocol_from_document(doc)
            return _Checked(found, doc, protocol)
        if kind == "client":
            to_model(doc, Client)
            return _Checked([])
        from kapplan.lint.clinic import clinic_diagnostics

        clinic = to_model(doc, Clinic)
        return _Checked(clinic_diagnostics(doc, clinic), doc, clinic)
    except InputError as err:
        return _Checked(err.diagnostics)


def _cross_check(checked: list[_Checked]) -> list[list[Diagnostic]]:
    """Per file, what it breaks against the other files given (a role no one at a clinic holds)."""
    from kapplan.lint.clinic import role_diagnostics

    clinics = [(c.doc, c.model) for c in checked if c.doc is not None and isinstance(c.model, Clinic)]
    out: list[list[Diagnostic]] = []
    for item in checked:
        found: list[Diagnostic] = []
        if isinstance(item.model, Protocol) and item.doc is not None:
            for clinic_doc, clinic in clinics:
                found += role_diagnostics(item.doc, item.model, clinic, clinic_doc.file)
        out.append(found)
    return out


@dataclass
class FileReport:
    """What ``validate`` found in one path: diagnostics, or why it was unreadable."""

    path: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    unreadable: str | None = None  # the usage message (exit 2)


@dataclass
class ValidationReport:
    """Every file's report; the worst outcome decides the exit code."""

    files: list[FileReport]

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return [d for report in self.files for d in report.diagnostics]

    @property
    def errors(self) -> int:
        return sum(d.is_error for d in self.diagnostics)

    @property
    def warnings(self) -> int:
        return len(self.diagnostics) - self.errors

    @property
    def unreadable(self) -> list[FileReport]:
        return [r for r in self.files if r.unreadable]

    @property
    def exit_code(self) -> ExitCode:
        """Unreadable (2) over errors (1) over clean (0)."""
        if self.unreadable:
            return ExitCode.USAGE
        return ExitCode.INVALID_INPUT if self.errors else ExitCode.OK

    def raise_for_errors(self) -> None:
        """ValidationFailed unless every file was read and has no error."""
        if self.exit_code:
            raise ValidationFailed(self.summary(), self.exit_code)

    def summary(self) -> str:
        """``2 file(s) checked: 1 error(s), 0 warning(s)``."""
        counts = [f"{self.errors} error(s)", f"{self.warnings} warning(s)"]
        counts += [f"{len(self.unreadable)} unreadable"] if self.unreadable else []
        return f"{len(self.files)} file(s) checked: {', '.join(counts)}"


def check_paths(paths: Iterable[str | Path], *, strict: bool = False) -> ValidationReport:
    """Check every path, never stopping at a bad one; ``strict`` makes warnings errors."""
    reports: list[FileReport] = []
    checked: list[_Checked] = []
    for path in paths:
        try:
            item = _checked(path)
        except UsageError as err:
            reports.append(FileReport(str(path), unreadable=err.message))
            continue
        reports.append(FileReport(str(path), item.diagnostics))
        checked.append(item)
    readable = [r for r in reports if r.unreadable is None]
    for report, extra in zip(readable, _cross_check(checked), strict=True):
        report.diagnostics = report.diagnostics + extra
        if strict:
            report.diagnostics = [dataclasses.replace(d, severity="error") for d in report.diagnostics]
    return ValidationReport(reports)
