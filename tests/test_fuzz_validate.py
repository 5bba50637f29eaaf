"""Whatever a file holds, `validate` answers with diagnostics and exit 0, 1 or
2: never a traceback or an internal error (exit 70). A protocol it accepts can
always be shown."""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kapplan.cli import app
from kapplan.io.documents import parse_document

DATA = Path(__file__).parent / "data"
EVERY = parse_document((DATA / "every_feature.yaml").read_bytes(), "every_feature.yaml").data
runner = CliRunner()
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def validate_bytes(data: bytes, *extra: str) -> int:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input.yaml"
        path.write_bytes(data)
        result = runner.invoke(app, ["validate", *extra, str(path)])
        if result.exit_code == 0 and not extra:
            shown = runner.invoke(app, ["show", str(path)])
            if b"kind: protocol" in data or b'"kind": "protocol"' in data:
                assert shown.exit_code in (0, 1), shown.stdout + shown.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exit_code in (0, 1, 2), result.stderr
    return result.exit_code


@FUZZ
@given(st.binary(max_size=400))
def test_arbitrary_bytes(data: bytes) -> None:
    validate_bytes(data)


@FUZZ
@given(st.text(max_size=400))
def test_arbitrary_text(text: str) -> None:
    validate_bytes(text.encode("utf-8", "surrogatepass"))


SCALARS = (
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["on", "NO", "10:30", "2026-02-30", "1d..3d", "3d..1d", "90min", "0min", "25h", "72 kg",
                       "0.5 mg/kg", "56 mg", "0 mg", "Mon-Fri 09:00-17:00", "08:00..11:00", "dosing", "KP301",
                       "protocol", "client", "clinic", "ketamine", "IN", "esketamine", "medicine", "integration"])
)
STRUCTURES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12) | st.sampled_from(
        ["kind", "id", "sessions", "schedule", "dose", "on", "count", "gap", "followed_by"]), children, max_size=4),
    max_leaves=25,
)


@FUZZ
@given(STRUCTURES, st.sampled_from(["protocol", "client", "clinic", None]), st.booleans())
def test_arbitrary_structures(value: Any, kind: str | None, as_json: bool) -> None:
    if kind is not None and isinstance(value, dict):
        value = {**value, "kind": kind}
    text = json.dumps(value) if as_json else yaml.safe_dump(value, allow_unicode=True)
    validate_bytes(text.encode())


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


PATHS = _paths(EVERY)


def _edit(data: Any, path: tuple[Any, ...], action: str, value: Any) -> None:
    """Replace or delete the node at ``path`` if earlier edits left it there."""
    parent = data
    try:
        for part in path[:-1]:
            parent = parent[part]
        if action == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    except (KeyError, IndexError, TypeError):
        return


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(PATHS), st.sampled_from(["replace", "delete"]), STRUCTURES),
                min_size=1, max_size=3), st.booleans())
def test_mutations_of_a_valid_protocol(edits: list[tuple[tuple[Any, ...], str, Any]], strict: bool) -> None:
    data = copy.deepcopy(EVERY)
    for path, action, value in edits:
        _edit(data, path, action, value)
    validate_bytes(yaml.safe_dump(data, allow_unicode=True).encode(), *(["--strict"] if strict else []))


DURATIONS = st.sampled_from(["0min", "15min", "1h", "1h", "2h", "2h", "3h", "3h", "25h", "1d", "PT90M"])
RANGES = st.sampled_from(["0d..", "1d..", "1d..3d", "3d..1d", "2d..5d", "36h..", "48h..72h", "7d", "7d±2d",
                          "..7d", "1w..2w", "12h..30h", "6d..6d", "14d.."])
KINDS = st.sampled_from(["screening", "preparation", "dosing", "integration", "follow-up", "assessment"])


@st.composite
def protocols(draw: st.DrawFn) -> dict[str, Any]:
    """Well-formed protocols with random structure, so the lint rules run."""
    names = draw(st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1, max_size=5, unique=True))
    sessions: dict[str, Any] = {}
    for name in names:
        kind = draw(KINDS)
        session: dict[str, Any] = {"kind": kind, "duration": draw(DURATIONS)}
        if kind == "dosing" or draw(st.integers(0, 9)) == 0:
            if draw(st.booleans()):
                session["observation"] = draw(DURATIONS)
            basis = draw(st.sampled_from([{"per_kg": "0.5 mg/kg"}, {"per_kg": "1.5 mg/kg", "max": "100 mg"},
                                          {"fixed": "56 mg"}, {"by_prescriber": True}, {}]))
            session["dose"] = {"medication": draw(st.sampled_from(["ketamine", "esketamine"])),
                               "route": draw(st.sampled_from(["IV", "IM", "SL", "IN", "PO"])), **basis}
        if draw(st.integers(0, 3)) == 0:
            session["notes"] = draw(st.sampled_from(["ketamine day", "56mg", "Bring water."]))
        sessions[name] = session
    steps = []
    for index in range(draw(st.integers(1, 6))):
        step: dict[str, Any] = {"session": draw(st.sampled_from([*names, *names, "zz"])), "id": f"s{index}"}
        step["count"] = draw(st.sampled_from([1, 1, 2, 3, 4, 6, 8, 12, 101]))
        if draw(st.booleans()):
            step["gap"] = draw(RANGES)
        if draw(st.booleans()):
            step["after"] = draw(RANGES)
        if index and draw(st.booleans()):
            step["from"] = f"s{draw(st.integers(0, index))}"
        if draw(st.booleans()):
            step["per_week"] = draw(st.integers(1, 4))
        if draw(st.booleans()):
            step["within"] = draw(st.sampled_from(["1w", "3w", "8w", "48h"]))
        follow_ups = []
        for j in range(draw(st.integers(0, 2))):
            follow_up: dict[str, Any] = {"session": draw(st.sampled_from(names)), "id": f"f{j}",
                                         "offset": draw(RANGES)}
            if draw(st.booleans()):
                follow_up["on"] = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
            follow_ups.append(follow_up)
        if follow_ups:
            step["followed_by"] = follow_ups
        steps.append(step)
    protocol = {"kind": "protocol", "id": "fuzz", "version": "1", "title": "Fuzz", "sessions": sessions,
                "schedule": steps}
    if draw(st.booleans()):
        protocol["constraints"] = {"min_dosing_interval": draw(DURATIONS), "max_span": draw(st.sampled_from(
            ["1w", "4w", "52w"]))}
    if draw(st.booleans()):
        protocol["allow"] = draw(st.lists(st.sampled_from(["KP301", "KP302", "KP303", "KP305", "KP201", "XX"]),
                                          max_size=3))
    return protocol


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(protocols())
def test_random_protocols(protocol: dict[str, Any]) -> None:
    validate_bytes(yaml.safe_dump(protocol).encode())
