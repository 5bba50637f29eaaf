"""The Python API (kapplan.api): the example in docs/api.md runs as written, and
the API behaves as the command line does (same defaults, checks, errors)."""

from __future__ import annotations

import contextlib
import io
import os
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from icalendar import Calendar

import kapplan
from kapplan import api
from kapplan.models.client import Client
from kapplan.models.errors import InfeasibleError, InputError, UsageError, ValidationFailed

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
V1 = DATA / "bundled_v1"  # the bundled protocols as these tests were written against
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def python_blocks(markdown: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown.read_text(encoding="utf-8"), re.DOTALL)


def test_the_docs_example_runs_and_prints_what_its_comments_say(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    example = python_blocks(ROOT / "docs" / "api.md")[1]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(example, "docs/api.md", "exec"), {"__name__": "docs_example"})  # noqa: S102 - our own docs
    lines = printed.getvalue().splitlines()
    assert lines[1] == "screening-1 2026-12-07T09:00:00-05:00"
    assert lines[2] == "screening-1: planned -> done"
    assert lines[-2].startswith("2 now must be an aware datetime")
    assert lines[-1] == "3 infusion-1"
    assert api.read_plan(tmp_path / "plan.json").history[-1].command == "reschedule --allow-deviations"
    assert os.stat(tmp_path / "plan.json").st_mode & 0o077 == 0


def test_every_exported_name_resolves_to_the_api_object() -> None:
    assert "make_plan" in kapplan.__all__
    for name in kapplan.__all__:
        value = getattr(kapplan, name)
        if hasattr(api, name):
            assert value is getattr(api, name), name
    with pytest.raises(AttributeError):
        _ = kapplan.no_such_name


def test_the_package_is_marked_as_typed() -> None:
    assert (Path(kapplan.__file__).parent / "py.typed").exists()


def test_a_naive_now_is_refused_before_any_search() -> None:
    client = Client(id="C-1", timezone="America/New_York", start=date(2026, 12, 7), weight="72 kg")
    with pytest.raises(UsageError, match="aware"):
        api.make_plan("iv-ketamine-trd", client, now=datetime(2026, 12, 1))  # noqa: DTZ001 - the point


def test_a_client_built_in_code_gets_the_same_plan_as_from_its_file() -> None:
    from_file = api.make_plan("iv-ketamine-trd", api.load_client(DATA / "client_new_york_72kg.yaml"), now=NOW)
    in_code = Client(id="C-0042", timezone="America/New_York", start=date(2026, 12, 7), weight="72 kg")
    built = api.make_plan("iv-ketamine-trd", in_code, now=NOW)
    assert [(s.key, s.start) for s in built.sessions] == [(s.key, s.start) for s in from_file.sessions]


def test_the_plan_defaults_of_the_command_line_apply(monkeypatch) -> None:
    """No zone: the system's, with a note; no start: tomorrow in the client's zone."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    client = api.client_from(changes=api.ClientChanges(weight="72 kg"))
    plan = api.make_plan(str(V1 / "iv-ketamine-trd.yaml"), client, now=NOW)
    assert plan.client["timezone"] == "Europe/Berlin"
    assert plan.client["start"] == "2026-12-02"
    assert [w.code for w in plan.warnings] == ["note"]
    assert plan.sessions[0].start.date() >= date(2026, 12, 2)


def test_protocol_and_clinic_may_be_given_as_paths() -> None:
    client = api.load_client(DATA / "client_new_york_72kg.yaml")
    clinic = DATA / "clinic_chicago_10_to_16_closed_2026-12-21_to_23.yaml"
    plan = api.make_plan(ROOT / "protocols" / "iv-ketamine-trd.yaml", client, clinic, now=NOW)
    assert plan.clinic is not None
    assert plan.clinic["id"] == "lakeside"
    in_person = [s for s in plan.sessions if s.setting == "in-person"]
    assert all(10 <= s.start.astimezone(UTC).hour - 6 for s in in_person)  # 10:00 Chicago or later


def test_calendar_and_csv_read_the_same_plan() -> None:
    plan = api.make_plan("journey-sl-kap", api.load_client(DATA / "client_new_york_72kg.yaml"), now=NOW)
    events = Calendar.from_ical(api.calendar(plan)).walk("VEVENT")
    rows = api.plan_csv(plan).splitlines()[1:]
    assert len(events) == len(rows) == len(plan.sessions)


def test_validate_reports_and_raises_only_when_asked(tmp_path: Path) -> None:
    report = api.validate([DATA / "lint_kp209_dosing_without_dose.yaml", tmp_path / "missing.yaml"])
    assert report.errors >= 1
    assert len(report.unreadable) == 1
    assert report.exit_code == 2
    with pytest.raises(ValidationFailed) as caught:
        report.raise_for_errors()
    assert caught.value.exit_code == 2
    assert caught.value.message == report.summary()
    api.validate([ROOT / "protocols" / "spravato-trd.yaml"]).raise_for_errors()


def test_errors_carry_the_command_line_exit_codes() -> None:
    with pytest.raises(UsageError) as unknown:
        api.load_protocol("iv-ketamine-tdr")
    assert unknown.value.exit_code == 2
    assert "did you mean 'iv-ketamine-trd'" in unknown.value.message
    with pytest.raises(InputError) as bad:
        api.load_protocol(DATA / "lint_kp209_dosing_without_dose.yaml")
    assert bad.value.exit_code == 1
    assert any(d.code == "KP209" for d in bad.value.diagnostics)
    narrow = api.client_from(changes=api.ClientChanges(
        id="C-7", start="2026-12-07", tz="America/New_York", weight="72 kg", available=["Sat 09:00-10:00"]))
    with pytest.raises(InfeasibleError) as infeasible:
        api.make_plan("iv-ketamine-trd", narrow, now=NOW)
    assert infeasible.value.exit_code == 3


def test_reschedule_records_the_command_a_user_would_type(tmp_path: Path) -> None:
    plan = api.make_plan("iv-ketamine-trd", api.load_client(DATA / "client_new_york_72kg.yaml"), now=NOW)
    later = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
    plan = api.mark(plan, "screening-1", "done", now=later).plan
    outcome = api.reschedule(plan, changes=api.ClientChanges(unavailable=["2026-12-09..2026-12-11"]),
                             from_date="2026-12-09", allow_deviations=True, now=later)
    assert outcome.plan.history[-1].command == (
        "reschedule --from 2026-12-09 --unavailable 2026-12-09..2026-12-11 --allow-deviations"
    )
    with pytest.raises(UsageError, match="--from"):
        api.reschedule(plan, from_date="2026-02-30", now=later)


def test_reschedule_file_dry_run_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    plan = api.make_plan("iv-ketamine-trd", api.load_client(DATA / "client_new_york_72kg.yaml"), now=NOW)
    api.write_plan(plan, path)
    before = path.read_bytes()
    outcome = api.reschedule_file(path, dry_run=True, changes=api.ClientChanges(unavailable=["2026-12-09..2026-12-11"]),
                                  now=NOW)
    assert outcome.changed
    assert path.read_bytes() == before
    assert not (tmp_path / "p.json.bak").exists()


def test_the_readme_python_example_runs(tmp_path: Path, monkeypatch) -> None:
    example = Path("docs", "examples", "client.yaml")
    (tmp_path / example).parent.mkdir(parents=True)
    (tmp_path / example).write_bytes((ROOT / example).read_bytes())
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(python_blocks(ROOT / "README.md")[0], "README.md", "exec"), namespace)  # noqa: S102 - our own docs
    assert api.read_plan(tmp_path / "plan.json").client["id"] == "C-0042"
    assert Calendar.from_ical(namespace["calendar"]).walk("VEVENT")


def test_a_naive_actual_start_is_read_in_the_clients_zone() -> None:
    plan = api.make_plan("iv-ketamine-trd", api.load_client(DATA / "client_new_york_72kg.yaml"), now=NOW)
    later = datetime(2026, 12, 9, 12, 0, tzinfo=UTC)
    naive = api.mark(plan, "screening-1", "done", at=datetime(2026, 12, 7, 9, 30), now=later)  # noqa: DTZ001
    text = api.mark(plan, "screening-1", "done", at="2026-12-07 09:30", now=later)
    assert naive.plan.session("screening-1") == text.plan.session("screening-1")
    assert naive.plan.session("screening-1").start.isoformat() == "2026-12-07T09:30:00-05:00"
    with pytest.raises(UsageError, match="occurs twice"):
        api.mark(plan, "screening-1", "done", at=datetime(2026, 11, 1, 1, 30), now=later)  # noqa: DTZ001
