"""Lint rules: the registry, the catalogue of codes, and ``lint``.

Each rule is a small function registered with its code, its fixed severity
and a one-line summary; its docstring is the rationale ``kapplan rules`` and
docs/protocol-format.md show. KP1xx codes come from reading the file
(``kapplan.io.documents``); they are catalogued here so every code has one
place to be explained. KP2xx (references and consistency) live in
consistency.py, KP3xx (clinical safety) in safety.py.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property

from kapplan.io.documents import Document, Loc
from kapplan.lint.shape import SessionGraph, build_graph, count_sessions
from kapplan.models.branches import ProtocolPath, TooManyPaths, branch_cycle, every_path
from kapplan.models.errors import Diagnostic
from kapplan.models.protocol import Protocol, SessionType, Step

MAX_COUNT = 100
MAX_STEPS = 50
MAX_SESSIONS = 500


@dataclass(frozen=True)
class Finding:
    """One problem a rule found, at the path of the offending node."""

    loc: Loc
    message: str
    hint: str | None = None
    key: bool = False  # point at the key (``medicine:``) rather than its value


Check = Callable[["LintContext"], Iterator[Finding]]


@dataclass(frozen=True)
class Rule:
    code: str
    severity: str  # "error" | "warning"
    summary: str
    rationale: str
    check: Check | None = None  # None: reported by kapplan.io.documents (KP1xx)
    whole: bool = False  # checks the protocol as written once, not each branch path (SPEC §13)

    @property
    def silenceable(self) -> bool:
        """Only KP3xx warnings may be listed in ``allow:`` (SPEC §7)."""
        return self.code.startswith("KP3") and self.severity == "warning"


RULES: dict[str, Rule] = {}


def rule(code: str, severity: str, summary: str, *, whole: bool = False) -> Callable[[Check], Check]:
    """Register a check; its docstring becomes the rule's rationale. A ``whole`` rule reads
    the protocol as written (branches included) once; every other rule runs on each branch
    path as a series of its own."""

    def register(check: Check) -> Check:
        rationale = inspect.cleandoc(check.__doc__ or "").replace("``", "`")
        RULES[code] = Rule(code, severity, summary, rationale, check, whole)
        return check

    return register


def _structure(code: str, summary: str, rationale: str) -> None:
    RULES[code] = Rule(code, "error", summary, rationale)


_structure("KP101", "YAML syntax error, unsupported tag or merge key",
           "The file must parse as plain YAML 1.2 (or JSON). Tags and merge keys (<<) are "
           "refused because they build objects or hide where a value came from.")
_structure("KP102", "file is binary or not UTF-8 text",
           "Input files are UTF-8 text (a byte-order mark is accepted); anything else is "
           "almost certainly the wrong file.")
_structure("KP103", "file is empty",
           "An empty file (or one with only comments) declares nothing; most likely the wrong file was named.")
_structure("KP104", "not a mapping, or a missing or unknown kind",
           "Every file is a mapping whose 'kind' says what it is (protocol, client or clinic), "
           "so validate can check any file it is given.")
_structure("KP105", "file too large, nested too deeply, too many aliases or too many problems to list",
           "Limits (1 MiB, 64 levels, 200,000 nodes after alias expansion) keep a hostile "
           "file from exhausting memory ('billion laughs'); past 50 structure problems a file's "
           "others are counted on one line, not listed one by one.")
_structure("KP106", "duplicate key",
           "YAML parsers silently keep the last of two equal keys; a duplicate is nearly "
           "always a copy-paste mistake, so it is refused.")
_structure("KP110", "unknown key", "A misspelt key would otherwise be ignored; the hint "
           "suggests the nearest known key.")
_structure("KP111", "missing required key",
           "Required keys (a session's kind and duration, a step's session, a client's id) have no safe "
           "default, so kapplan never guesses them.")
_structure("KP112", "wrong type or invalid value",
           "A value of the wrong shape (text where a list is expected, a number out of range, "
           "a value outside its allowed set). Numbers are bounded where they are read: at most 40 "
           "characters and 10^12 in magnitude.")
_structure("KP120", "bad duration", "Durations are 90min, 1h30min, 2d, 1w or ISO 8601 (PT90M).")
_structure("KP121", "bad range", "Ranges are A..B, A.., ..B, A, T±W or {min, target, max}.")
_structure("KP122", "bad date or date range",
           "Dates are YYYY-MM-DD, must exist (2026-02-30 does not) and lie within 1900-01-01..2199-12-31 "
           "(a year typo such as 1800 or 9999 would otherwise plan at a zone's local mean time or run "
           "past the end of the calendar).")
_structure("KP123", "bad weekday, weekly window or time window",
           "Windows are 'Mon-Fri 09:00-17:00'; start times 'HH:MM..HH:MM'; no overnight windows.")
_structure("KP124", "bad identifier",
           "Identifiers become file names and session keys, so they are restricted to safe "
           "characters (protocol-internal ids: lower-case a-z, 0-9 and '-').")
_structure("KP125", "bad mass or dose amount",
           "A unit is required ('72 kg', '158 lb', '56 mg', '0.5 mg/kg'): a bare number is "
           "never guessed. Client weight must lie within 20-350 kg. Numbers have at most 9 digits "
           "before the decimal point and 6 after it, ASCII digits only.")
_structure("KP126", "unknown time zone", "Time zones are IANA names such as America/New_York.")
_structure("KP127", "unknown holiday calendar",
           "Holiday codes are a country, or country-subdivision, known to the holidays package.")


def all_rules() -> dict[str, Rule]:
    """Every rule, KP1xx to KP3xx, in code order."""
    from kapplan.lint import clinic, consistency, decisions, safety  # noqa: F401  (importing registers them)

    return dict(sorted(RULES.items()))


class LintContext:
    """What the rules share: the protocol (one branch path of it, for path rules), the
    protocol as written (``whole``), its document, derived lookups."""

    def __init__(self, protocol: Protocol, doc: Document, whole: Protocol | None = None) -> None:
        self.protocol = protocol
        self.doc = doc
        self.whole = whole or protocol

    def kind_of(self, session: str) -> str | None:
        session_type = self.protocol.sessions.get(session)
        return session_type.kind if session_type else None

    def session_type(self, step: Step) -> SessionType | None:
        return self.protocol.sessions.get(step.session)

    @cached_property
    def within_caps(self) -> bool:
        """Graph-based rules only run on protocols within the input caps."""
        schedule = self.protocol.schedule
        return (
            len(schedule) <= MAX_STEPS
            and all(step.count <= MAX_COUNT for step in schedule)
            and count_sessions(self.protocol) <= MAX_SESSIONS
        )

    @cached_property
    def graph(self) -> SessionGraph | None:
        return build_graph(self.protocol) if self.within_caps else None

    def dosing_sessions(self) -> Iterator[tuple[str, SessionType]]:
        for name, session_type in self.protocol.sessions.items():
            if session_type.kind == "dosing":
                yield name, session_type


def lint(protocol: Protocol, doc: Document) -> list[Diagnostic]:
    """Every KP2xx/KP3xx diagnostic, located, minus the warnings ``allow:`` lists.

    A protocol with decisions is checked along every branch path: each path is
    a series of its own, and what a rule finds on it is located in the file
    where the offending step is written (schedule or branches), once."""
    allowed = set(protocol.allow)
    active = {code: entry for code, entry in all_rules().items()
              if entry.check is not None and not (entry.silenceable and code in allowed)}
    whole = LintContext(protocol, doc)
    contexts = [LintContext(path.protocol, _PathDocument(doc, path.origins), protocol)
                for path in branch_paths(protocol)]
    out: dict[tuple[int, int, str, str], Diagnostic] = {}
    for code, entry in active.items():
        assert entry.check is not None
        for context in [whole] if entry.whole else contexts:
            for finding in entry.check(context):
                found = context.doc.diagnostic(finding.loc, code, finding.message, severity=entry.severity,
                                               hint=finding.hint, key=finding.key)
                out.setdefault((found.line, found.column, code, found.message), found)
    return sorted(out.values(), key=lambda d: (d.line, d.column, d.code))


def branch_paths(protocol: Protocol) -> list[ProtocolPath]:
    """The series the path rules check: the protocol itself, or each complete branch path
    (none when the branches loop or are too many: KP233 reports that instead)."""
    if not protocol.has_decisions:
        origins = tuple(("schedule", i) for i in range(len(protocol.schedule)))
        return [ProtocolPath(protocol, origins, None, ())]
    if branch_cycle(protocol) is not None:
        return []
    try:
        return every_path(protocol)
    except TooManyPaths:
        return []


class _PathDocument(Document):
    """The document seen through one branch path: ``("schedule", i, ...)`` of the path is
    located where that step is written."""

    def __init__(self, doc: Document, origins: tuple[tuple[str | int, ...], ...]) -> None:
        super().__init__(doc.file, doc.data, doc.positions, doc.key_positions)
        self.origins = origins

    def position(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        if len(loc) >= 2 and loc[0] == "schedule" and isinstance(loc[1], int) and loc[1] < len(self.origins):
            loc = (*self.origins[loc[1]], *loc[2:])
        return super().position(loc, key=key)


__all__ = [
    "MAX_COUNT", "MAX_SESSIONS", "MAX_STEPS", "RULES", "Finding", "LintContext", "Rule", "all_rules", "lint", "rule",
]
