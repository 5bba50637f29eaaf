"""Protocol, client and clinic files -> located documents and models.

Structure only: YAML (or JSON) is parsed with line numbers and turned into
models, every schema problem reported at once. Linting a protocol is the next
layer's job (``kapplan.lint``).
"""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path
from typing import NamedTuple

from kapplan.io.bundled import bundled_paths, resolve_protocol_path
from kapplan.io.documents import Document, document_kind, load_document, parse_document, read_bytes, to_model
from kapplan.models.client import Client, Clinic
from kapplan.models.errors import InputError, UsageError


class ProtocolDocument(NamedTuple):
    """A protocol file read and parsed: the located document, where it came from, its digest."""

    document: Document
    path: Path
    sha256: str


def read_protocol_document(name: str | Path, base: Path | None = None) -> ProtocolDocument:
    """A path (relative to ``base``) or a bundled id -> its parsed document.

    An unknown id is a usage error that suggests the nearest bundled ids; a
    file of another kind is an input error located at its ``kind``."""
    path = resolve_protocol_path(str(name), base)
    if not path.exists() and _looks_like_id(str(name)):
        raise UsageError(unknown_protocol_message(str(name)))
    data = read_bytes(path)
    doc = parse_document(data, str(path))
    kind = document_kind(doc)
    if kind != "protocol":
        raise InputError([doc.diagnostic(("kind",), "KP104", f"expected a protocol file, found kind '{kind}'")])
    return ProtocolDocument(doc, path, hashlib.sha256(data).hexdigest())


def _looks_like_id(name: str) -> bool:
    return "/" not in name and "\\" not in name and not name.endswith((".yaml", ".yml", ".json"))


def unknown_protocol_message(name: str) -> str:
    """No such file and no such bundled protocol: suggest the nearest ids."""
    close = difflib.get_close_matches(name, list(bundled_paths()), n=2, cutoff=0.5)
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
