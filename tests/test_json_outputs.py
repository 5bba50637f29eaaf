"""A script can drive every command through JSON (SPEC §14): `status`, `mark`,
`reschedule` (and `--dry-run`) print documents, and the batch summary carries
an error code on every failed record; each document validates against the
schema `kapplan schema KIND` prints.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from kapplan.cli import app

runner = CliRunner()
DATA = Path(__file__).parent / "data"
NAMED_CODES = {"bad-timezone", "unknown-protocol", "infeasible", "search-limit", "capacity", "duplicate-id",
               "bad-record", "write-failed", "invalid", "usage", "internal"}


def kapplan(*args: object, now: str = "2026-12-09T12:00:00-05:00"):
    stamp = str(int(datetime.fromisoformat(now).timestamp()))
    return runner.invoke(app, [str(a) for a in args], env={"SOURCE_DATE_EPOCH": stamp})


def schema(kind: str) -> dict:
    result = kapplan("schema", kind)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def document(result, kind: str) -> dict:
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    jsonschema.validate(found, schema(kind))
    assert found["kind"] == kind
    return found


@pytest.fixture
def plan_file(tmp_path) -> Path:
    path = tmp_path / "plan.json"
    made = kapplan("plan", "iv-ketamine-trd", "--id", "C-7", "--start", "2026-12-07", "--tz", "America/New_York",
                   "--weight", "70 kg", "-o", path, now="2026-11-30T10:00:00-05:00")
    assert made.exit_code == 0, made.output
    return path


def test_every_json_output_has_a_valid_schema():
    for kind in ("status", "mark", "reschedule", "batch-summary"):
        jsonschema.Draft202012Validator.check_schema(schema(kind))


def test_status_json(plan_file):
    found = document(kapplan("status", plan_file, "--format", "json"), "status")
    assert found["client"] == "C-7"
    assert found["next"] == "infusion-2"
    assert found["unmarked"] == ["screening-1", "infusion-1"]
    assert [s["key"] for s in found["sessions"] if s["next"]] == ["infusion-2"]
    assert sum(found["counts"].values()) == len(found["sessions"])


def test_mark_json_and_its_history(plan_file):
    found = document(kapplan("mark", plan_file, "screening-1", "done", "--format", "json"), "mark")
    assert (found["key"], found["previous"], found["session"]["status"]) == ("screening-1", "planned", "done")
    assert found["changed"] is True
    assert found["backup"] == f"{plan_file}.bak"
    again = document(kapplan("mark", plan_file, "screening-1", "done", "--format", "json"), "mark")
    assert again["changed"] is False
    assert again["backup"] is None


@pytest.mark.parametrize("dry_run", [True, False])
def test_reschedule_json(plan_file, dry_run):
    for key, status in (("screening-1", "done"), ("infusion-1", "missed")):
        assert kapplan("mark", plan_file, key, status).exit_code == 0
    before = plan_file.read_bytes()
    args = ["reschedule", plan_file, "--format", "json", *(["--dry-run"] if dry_run else [])]
    found = document(kapplan(*args), "reschedule")
    assert found["dry_run"] is dry_run
    assert found["changed"] is True
    moved = {c["key"]: c for c in found["changes"]}
    assert moved["infusion-1"]["before"]["status"] == "missed"
    assert moved["infusion-1"]["after"]["status"] == "planned"
    assert moved["infusion-1"]["after"]["sequence"] == moved["infusion-1"]["before"]["sequence"] + 1
    assert (plan_file.read_bytes() == before) is dry_run
    assert found["backup"] == (None if dry_run else f"{plan_file}.bak")


def test_batch_summary_validates_and_every_failure_has_a_code(tmp_path):
    out = tmp_path / "out"
    result = kapplan("batch", DATA / "roster_mixed.csv", "--out", out, "--report", "json")
    assert result.exit_code == 4
    found = json.loads(result.stdout)
    jsonschema.validate(found, schema("batch-summary"))
    failed = [r for r in found["records"] if r["status"] == "failed"]
    assert failed
    for record in failed:
        assert record["code"] in NAMED_CODES or (record["code"][:2] == "KP" and record["code"][2:].isdigit())
    codes = {r["row"]: r["code"] for r in failed}
    assert codes[4] == "unknown-protocol"
    assert codes[11] == "infeasible"
    assert codes[9] == "KP209"
    assert all(r["code"] is None for r in found["records"] if r["status"] == "ok")


def test_bad_timezone_has_its_named_code(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("id,protocol,start,timezone,weight\nC-1,iv-ketamine-trd,2026-12-07,America/NewYork,70 kg\n")
    result = kapplan("batch", roster, "--out", tmp_path / "out", "--report", "json")
    assert result.exit_code == 4
    (record,) = json.loads(result.stdout)["records"]
    assert record["code"] == "bad-timezone"
