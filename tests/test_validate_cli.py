"""`kapplan validate`, `rules`, `schema`, `protocols` and `show` through the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kapplan.api import load_protocol
from kapplan.cli import app
from kapplan.io.bundled import bundled_paths
from kapplan.io.documents import parse_document
from kapplan.lint.registry import all_rules

DATA = Path(__file__).parent / "data"
EVERY = str(DATA / "every_feature.yaml")
runner = CliRunner()


def run(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.stdout + result.stderr
    return result


def test_clean_file_exits_0_with_a_summary_on_stderr() -> None:
    result = run("validate", EVERY)
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == "1 file(s) checked: 0 error(s), 0 warning(s)\n"


def test_errors_are_printed_located_and_exit_1() -> None:
    path = str(DATA / "lint_kp201_unknown_session.yaml")
    result = run("validate", path)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{path}:22:18: error KP201 unknown session 'integration' (did you mean 'integ'?)",
        f"{path}:24:14: error KP201 unknown session 'intake' (did you mean 'integ'?)",
    ]
    assert result.stderr == "1 file(s) checked: 2 error(s), 0 warning(s)\n"


def test_a_flood_of_unknown_keys_lists_the_first_50_and_counts_the_rest(tmp_path: Path) -> None:
    """1,000 unknown keys are one pattern: 50 located lines, then one line, at the
    first key not listed, counting the other 950 (text and JSON alike)."""
    path = tmp_path / "flood.yaml"
    keys = "".join(f"k{i:04d}: 1\n" for i in range(1000))
    path.write_text((DATA / "protocol_one_30min_call.yaml").read_text() + keys)
    result = run("validate", str(path))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 51
    assert lines[:50] == [f"{path}:{12 + i}:1: error KP110 unknown key 'k{i:04d}'" for i in range(50)]
    assert lines[50] == (f"{path}:62:1: error KP105 950 more problem(s) not listed, the first of them here "
                         "(a file lists its first 50)")
    assert result.stderr == "1 file(s) checked: 51 error(s), 0 warning(s)\n"
    listed = json.loads(run("validate", "--format", "json", str(path)).stdout)
    assert [d["code"] for d in listed] == ["KP110"] * 50 + ["KP105"]
    assert listed[-1]["message"].startswith("950 more problem(s) not listed")


def test_warnings_pass_unless_strict() -> None:
    path = str(DATA / "lint_kp304_no_observation.yaml")
    relaxed = run("validate", path)
    assert relaxed.exit_code == 0
    assert relaxed.stdout.startswith(f"{path}:8:3: warning KP304 ")
    strict = run("validate", "--strict", path)
    assert strict.exit_code == 1
    assert strict.stdout.startswith(f"{path}:8:3: error KP304 ")


def test_json_format() -> None:
    path = str(DATA / "lint_kp306_per_kg_above_one.yaml")
    result = run("validate", "--format", "json", path)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [
        {"file": path, "line": 15, "column": 15, "severity": "warning", "code": "KP306",
         "message": "per_kg 2 mg/kg is above 1 mg/kg", "hint": None},
        {"file": path, "line": 18, "column": 11, "severity": "warning", "code": "KP306",
         "message": "titrate step 1.2 mg/kg is above 1 mg/kg", "hint": None},
    ]
    assert json.loads(run("validate", "--format", "json", EVERY).stdout) == []


def test_every_file_is_checked_and_the_worst_outcome_wins(tmp_path: Path) -> None:
    bad = str(DATA / "lint_kp216_count_cap.yaml")
    missing = str(tmp_path / "missing.yaml")
    result = run("validate", EVERY, missing, bad, str(tmp_path))
    assert result.exit_code == 2
    assert result.stdout == f"{bad}:17:12: error KP216 count 101 is more than 100\n"
    assert result.stderr.splitlines() == [
        f"kapplan: {missing}: no such file",
        f"kapplan: {tmp_path}: is a folder, not a file",
        "4 file(s) checked: 1 error(s), 0 warning(s), 2 unreadable",
    ]


def test_kind_is_read_from_each_file(tmp_path: Path) -> None:
    client = tmp_path / "client.yaml"
    client.write_text("kind: client\nid: C-1\ntimezone: Europe/Oslo\nholidays: NO\nweight: 72\n", encoding="utf-8")
    clinic = tmp_path / "clinic.json"
    clinic.write_text('{"kind": "clinic", "id": "n", "timezone": "UTC", "hours": ["Mon-Fri 08:00-18:00"]}',
                      encoding="utf-8")
    unknown = tmp_path / "roster.yaml"
    unknown.write_text("kind: roster\n", encoding="utf-8")
    result = run("validate", str(client), str(clinic), str(unknown))
    assert result.exit_code == 1
    assert [line.split(": ", 1)[1][:13] for line in result.stdout.splitlines()] == [
        "error KP125 '", "error KP104 '",
    ]
    assert result.stdout.splitlines()[0].startswith(f"{client}:5:9: ")


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00\xff", b"- a\n", b"kind: client\n\tid: x\n", b"kind: [\n", b"<<: {a: 1}\n",
     b"kind: protocol\nid: x\nversion: 1\ntitle: T\nsessions: {a: {kind: screening, duration: 1h}}\n"
     b"schedule: [{session: a, on: [1]}]\n"],
)
def test_malformed_input_never_shows_a_traceback(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(data)
    result = run("validate", str(path))
    assert result.exit_code == 1
    assert re.fullmatch(rf"{re.escape(str(path))}:\d+:\d+: error KP1\d\d .+\n", result.stdout)


def test_usage_errors_exit_2() -> None:
    assert run("validate").exit_code == 2
    assert run("validate", "--format", "xml", EVERY).exit_code == 2


# --------------------------------------------------------------------------- rules


def test_rules_lists_every_code_with_its_severity() -> None:
    result = run("rules")
    assert result.exit_code == 0
    for code, rule in all_rules().items():
        assert re.search(rf"{code}\s+│\s+{rule.severity}\s+│", result.stdout), code


# --------------------------------------------------------------------------- schema

SUPPORTED = {"$defs", "$ref", "$schema", "additionalProperties", "anyOf", "const", "default", "description",
             "enum", "exclusiveMinimum", "format", "items", "maximum", "minimum", "minItems", "minProperties",
             "pattern", "patternProperties", "properties", "required", "title", "type"}
TYPES: dict[str, Any] = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "object": dict,
                         "array": list, "null": type(None)}


def schema_errors(schema: dict[str, Any], node: dict[str, Any], value: Any, path: str = "") -> list[str]:
    """A small JSON Schema validator for the keywords kapplan's schemas use."""
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].removeprefix("#/$defs/")]
    if "anyOf" in node:
        options = [schema_errors(schema, option, value, path) for option in node["anyOf"]]
        return [] if any(not o for o in options) else [f"{path}: matches no option"]
    errors = []
    kind = node.get("type")
    if kind is not None:
        wrong_bool = isinstance(value, bool) and kind in ("integer", "number")
        if wrong_bool or not isinstance(value, TYPES[kind]):
            return [f"{path}: expected {kind}"]
    if "const" in node and value != node["const"]:
        errors.append(f"{path}: expected {node['const']}")
    if "enum" in node and value not in node["enum"]:
        errors.append(f"{path}: not one of {node['enum']}")
    if "pattern" in node and isinstance(value, str) and not re.search(node["pattern"], value):
        errors.append(f"{path}: does not match {node['pattern']}")
    if "exclusiveMinimum" in node and not value > node["exclusiveMinimum"]:
        errors.append(f"{path}: too small")
    if "maximum" in node and value > node["maximum"]:
        errors.append(f"{path}: too large")
    if "minimum" in node and value < node["minimum"]:
        errors.append(f"{path}: too small")
    if isinstance(value, list):
        if len(value) < node.get("minItems", 0):
            errors.append(f"{path}: too few items")
        for i, item in enumerate(value):
            errors += schema_errors(schema, node.get("items", {}), item, f"{path}/{i}")
    if isinstance(value, dict):
        errors += _object_errors(schema, node, value, path)
    return errors


def _object_errors(schema: dict[str, Any], node: dict[str, Any], value: dict[str, Any], path: str) -> list[str]:
    errors = [f"{path}: missing {key}" for key in node.get("required", []) if key not in value]
    if len(value) < node.get("minProperties", 0):
        errors.append(f"{path}: too few keys")
    for key, item in value.items():
        if key in node.get("properties", {}):
            errors += schema_errors(schema, node["properties"][key], item, f"{path}/{key}")
            continue
        patterns = [s for p, s in node.get("patternProperties", {}).items() if re.search(p, key)]
        for sub in patterns:
            errors += schema_errors(schema, sub, item, f"{path}/{key}")
        extra = node.get("additionalProperties", True)
        if not patterns and extra is False:
            errors.append(f"{path}: unexpected key {key}")
        elif not patterns and isinstance(extra, dict):
            errors += schema_errors(schema, extra, item, f"{path}/{key}")
    return errors


def keywords(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*(keywords(item) for item in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = set(node)
    for key, value in node.items():
        if key in ("properties", "$defs", "patternProperties"):
            found |= keywords(list(value.values()))
        elif key not in ("default", "const", "enum"):
            found |= keywords(value)
    return found


def schema_of(kind: str) -> dict[str, Any]:
    result = run("schema", kind)
    assert result.exit_code == 0
    return json.loads(result.stdout)


@pytest.mark.parametrize("kind", ["protocol", "client", "clinic", "plan"])
def test_schema_is_json_schema_whose_references_resolve(kind: str) -> None:
    schema = schema_of(kind)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert keywords(schema) <= SUPPORTED
    references = re.findall(r'"\$ref": "#/\$defs/([^"]+)"', json.dumps(schema))
    assert set(references) <= set(schema.get("$defs", {}))


PROTOCOL_FILES = [DATA / "every_feature.yaml", *bundled_paths().values()]


@pytest.mark.parametrize("path", PROTOCOL_FILES, ids=lambda p: p.stem)
def test_valid_protocols_satisfy_the_schema(path: Path) -> None:
    schema = schema_of("protocol")
    data = parse_document(path.read_bytes(), str(path)).data
    assert schema_errors(schema, schema, data) == []


def test_schema_rejects_what_validate_rejects() -> None:
    schema = schema_of("protocol")
    data = parse_document((DATA / "every_feature.yaml").read_bytes(), "p").data
    data["sessions"]["Bad_Key"] = data["sessions"].pop("intake")
    data["schedule"][0]["cuont"] = 2
    assert schema_errors(schema, schema, data) == ["/sessions: unexpected key Bad_Key",
                                                   "/schedule/0: unexpected key cuont"]


def test_client_and_clinic_schemas_accept_the_documented_examples() -> None:
    client = {"kind": "client", "id": "C-0042", "timezone": "America/New_York", "start": "2026-12-07",
              "weight": "72 kg", "dose_scale": 0.8, "availability": ["Mon,Wed 09:00-13:00"],
              "unavailable": ["2026-12-24..2027-01-01", "2026-12-10"], "holidays": "US-NY",
              "therapist": {"name": "Dr. Kim", "email": "kim@clinic.example"}}
    clinic = {"kind": "clinic", "id": "northside", "timezone": "America/New_York",
              "hours": ["Mon-Fri 08:00-18:00", "Sat 09:00-13:00"], "closed": ["2026-12-24..2026-12-26"]}
    assert schema_errors(schema_of("client"), schema_of("client"), client) == []
    assert schema_errors(schema_of("clinic"), schema_of("clinic"), clinic) == []
    assert schema_errors(schema_of("client"), schema_of("client"), {**client, "weight": 72}) != []


def test_schema_defaults_use_the_file_syntax() -> None:
    step = schema_of("protocol")["$defs"]["Step"]["properties"]
    assert (step["gap"]["default"], step["after"]["default"]) == ("1d..", "0d..")


def test_schema_of_an_unknown_kind_is_a_usage_error() -> None:
    assert run("schema", "roster").exit_code == 2


# --------------------------------------------------------------------------- protocols and show


def test_protocols_json() -> None:
    result = run("protocols", "--format", "json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [row["id"] for row in rows] == sorted(bundled_paths())
    for row in rows:
        loaded = load_protocol(row["path"])
        assert (row["id"], row["version"], row["title"]) == (
            loaded.protocol.id, loaded.protocol.version, loaded.protocol.title
        )
        assert row["sessions"] > 0
        assert row["span_days"] >= 0


def test_protocols_table() -> None:
    result = run("protocols")
    assert result.exit_code == 0
    for name in bundled_paths():
        assert name in result.stdout


def test_show_draws_the_tree_and_the_earliest_shape() -> None:
    result = run("show", EVERY)
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith("every-feature 2.1.0 — Every feature of the protocol format\n")
    for text in (
        "planned dose: ketamine IM, 0.5 → 0.6 → 0.75 mg/kg (last repeats), rounded to 5 mg, max 100 mg",
        "planned dose: esketamine PO, set by the prescriber",
        "3. induction: 4× medicine, gap {min: 3d, target: 3d, max: 5d}, after 0d.., 2 per week, within 3w",
        "followed by mid-scales (scales), offset 1d..2d, after occurrences 2, 4",
        "7. check-in: 1× check-in, after 30d±3d from intake",
        "constraints: min dosing interval 48h, max span 20w",
        "allowed warnings: KP302",
        "doi:10.1080/02791072.2019.1587556",
        "week  1  S P · · P+I ·",
        "day  42  booster-1 (dosing)",
        "day  50  final-scales-1 (assessment)",
    ):
        assert text in out, text


def test_show_a_bundled_protocol_by_id() -> None:
    name = sorted(bundled_paths())[0]
    result = run("show", name)
    assert result.exit_code == 0
    assert "earliest shape" in result.stdout


def test_show_refuses_missing_and_invalid_protocols() -> None:
    assert run("show", "no-such-protocol").exit_code == 2
    invalid = run("show", str(DATA / "lint_kp203_shared_session.yaml"))
    assert invalid.exit_code == 1
    assert "KP203" in invalid.stderr
    assert invalid.stdout == ""


def test_show_prints_warnings_on_stderr() -> None:
    result = run("show", str(DATA / "lint_kp307_per_kg_without_max.yaml"))
    assert result.exit_code == 0
    assert "warning KP307" in result.stderr


def test_rules_explains_a_code() -> None:
    result = run("rules", "kp305")
    assert result.exit_code == 0
    assert result.stdout.startswith("KP305 (error): intranasal esketamine with observation under 2 h\n  The esketamine")
    assert run("rules", "KP999").exit_code == 2
