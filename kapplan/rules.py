"""Lint rules (KP2xx consistency, KP3xx clinical safety). Placeholder: filled in."""

from __future__ import annotations

from .errors import Diagnostic
from .loading import Document
from .protocol import Protocol


def lint(protocol: Protocol, doc: Document) -> list[Diagnostic]:
    return []
