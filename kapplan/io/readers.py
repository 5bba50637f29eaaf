"""Read protocol, client and clinic files fully checked: structure, then lint.

This is the one entry point the CLI, batch and the public API use to turn a
path into models plus diagnostics.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kapplan.io.bundled import resolve_protocol_path
from kapplan.io.documents import Document, document_kind, load_document, parse_document, read_bytes, to_model
from kapplan.models.client import Client, Clinic
from kapplan.models.errors import Diagnostic, ExitCode, InputError, UsageError
from kapplan.models.protocol import Protocol


@dataclass
class LoadedProtocol:
    """A validated protocol with its lint warnings and the file's digest."""

    protocol: Protocol
    path: Path
    sha256: str
    warnings: list[Diagnostic] = field(default_factory=list)


def protocol_from_document(doc: Document) -> tuple[Protocol | None, list[Diagnostic]]:
    """Model plus every diagnostic (structure errors stop before lint)."""
    from kapplan.lint.registry import lint

    try:
        protocol = to_model(doc, Protocol)
    except InputError as err:
        return None, err.diagnostics
    return protocol, lint(protocol, doc)


def load_protocol(name: str | Path, base: Path | None = None) -> LoadedProtocol:
    """A path or bundled id -> LoadedProtocol; any error raises InputError."""
    path = resolve_protocol_path(str(name), base)
    if not path.exists() and _looks_like_id(str(name)):
        raise UsageError(_unknown_protocol_message(str(name)))
    data = read_bytes(path)
    doc = parse_document(data, str(path))
    kind = document_kind(doc)
    if kind != "protocol":
        raise InputError([doc.diagnostic(("kind",), "KP104", f"expected a protocol file, found kind '{kind}'")])
    protocol, diagnostics = protocol_from_document(doc)
    errors = [d for d in diagnostics if d.is_error]
    if protocol is None or errors:
        raise InputError(diagnostics, f"{path}: the protocol has {len(errors)} error(s)")
    return LoadedProtocol(protocol, path, hashlib.sha256(data).hexdigest(), diagnostics)


def _looks_like_id(name: str) -> bool:
    return "/" not in name and "\\" not in name and not name.endswith((".yaml", ".yml", ".json"))


def _unknown_protocol_message(name: str) -> str:
    """No such file and no such bundled protocol: suggest the nearest ids."""
    import difflib

    from kapplan.io.bundled import bundled_paths

    ids = list(bundled_paths())
    close = difflib.get_close_matches(name, ids, n=2, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"{name}: no such file or bundled protocol{hint} ('kapplan protocols' lists them)"


def load_client(path: str | Path, defaults: dict[str, object] | None = None) -> Client:
    """A client file; ``defaults`` fill keys the file leaves out (e.g. ``--id``)."""
    doc = load_document(path)
    for key, value in (defaults or {}).items():
        if value is not None:
            doc.data.setdefault(key, value)
    if doc.data.get("kind", "client") != "client":
        raise InputError([doc.diagnostic(("kind",), "KP104", "expected a client file (kind: client)")])
    return to_model(doc, Client)


def load_clinic(path: str | Path) -> Clinic:
    doc = load_document(path)
    if document_kind(doc) != "clinic":
        raise InputError([doc.diagnostic(("kind",), "KP104", "expected a clinic file (kind: clinic)")])
    return to_model(doc, Clinic)


def check_file(path: str | Path) -> list[Diagnostic]:
    """Every diagnostic for one file of any kind (for ``validate``)."""
    try:
        doc = load_document(path)
        kind = document_kind(doc)
        if kind == "protocol":
            return protocol_from_document(doc)[1]
        to_model(doc, Client if kind == "client" else Clinic)
    except InputError as err:
        return err.diagnostics
    return []


@dataclass
class FileReport:
    """What ``validate`` found in one path: diagnostics, or why it was unreadable."""

    path: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    unreadable: str | None = None  # the usage message (exit 2)


def check_paths(paths: Iterable[str | Path], *, strict: bool = False) -> list[FileReport]:
    """Check every path, never stopping at a bad one; ``strict`` makes warnings errors."""
    reports = []
    for path in paths:
        try:
            diagnostics = check_file(path)
        except UsageError as err:
            reports.append(FileReport(str(path), unreadable=err.message))
            continue
        if strict:
            diagnostics = [dataclasses.replace(d, severity="error") for d in diagnostics]
        reports.append(FileReport(str(path), diagnostics))
    return reports


def validation_exit_code(reports: list[FileReport]) -> ExitCode:
    """The worst outcome wins: unreadable (2) over errors (1) over clean (0)."""
    if any(r.unreadable for r in reports):
        return ExitCode.USAGE
    if any(d.is_error for r in reports for d in r.diagnostics):
        return ExitCode.INVALID_INPUT
    return ExitCode.OK


def protocol_summary(loaded: LoadedProtocol, name: str | None = None) -> dict[str, object]:
    """One row of ``kapplan protocols``: id, version, title, path, sessions, span."""
    from kapplan.lint.shape import earliest_shape, span_days

    points = earliest_shape(loaded.protocol)
    protocol = loaded.protocol
    return {
        "id": name or protocol.id,
        "version": protocol.version,
        "title": protocol.title,
        "path": str(loaded.path),
        "sessions": len(points),
        "span_days": span_days(points),
    }
