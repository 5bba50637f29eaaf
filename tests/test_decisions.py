"""SPEC §13 in the protocol language and in a new plan: gates, decision points
along every branch path, and questionnaires due as tasks.

Fixtures: tests/data/protocol_journey_gated_follow_up.yaml (the Journey-style
series with its prescription-renewing follow-up as a gate) and
tests/data/protocol_response_review_branches.yaml (an induction, a response
review deciding weekly / every two weeks / stop, a closing follow-up).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from plan_checker import expected_keys, violations
from typer.testing import CliRunner

from kapplan import api
from kapplan.cli import app
from kapplan.engine import Placement
from kapplan.lint.checks import check_file
from kapplan.models.branches import every_path, follow
from kapplan.planning.build import build_request

DATA = Path(__file__).parent / "data"
GATED = DATA / "protocol_journey_gated_follow_up.yaml"
BRANCHES = DATA / "protocol_response_review_branches.yaml"
NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
runner = CliRunner()


def _client(start: str, **extra: object) -> api.Client:  # type: ignore[name-defined]
    changes = api.ClientChanges(id="C-1", start=start, tz="America/New_York", weight="72 kg",
                                available=["Mon-Fri 09:00-17:00"], **extra)
    return api.client_from(changes=changes)


def _local(plan: api.Plan, key: str) -> str:  # type: ignore[name-defined]
    session = plan.session(key)
    assert session is not None, key
    return session.start.astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M")


def _placements(plan: object, protocol: object) -> list[Placement]:
    """The plan's sessions in placement order, as the checker reads them."""
    order = {key: n for n, (key, *_) in enumerate(expected_keys(protocol))}  # type: ignore[arg-type]
    sessions = sorted(plan.sessions, key=lambda s: order.get(s.key, len(order)))  # type: ignore[attr-defined]
    return [Placement(s.key, s.step, s.session, s.index, s.count, s.follows, s.start, s.end) for s in sessions]


# --------------------------------------------------------------------------- gates


def test_the_journey_repro_never_puts_medicine_3_before_the_follow_up() -> None:
    """The issue's repro: with 01-04..01-06 blocked the old protocol put medicine-3 on 01-07
    and the follow-up on 01-08. With the follow-up as a gate, medicine-3 waits for it."""
    client = _client("2026-12-07", unavailable=["2027-01-04..2027-01-06"])
    plan = api.make_plan(GATED, client, now=NOW)
    follow_up, medicine_3 = plan.session("follow-up-1"), plan.session("medicine-3")
    assert follow_up is not None
    assert medicine_3 is not None
    assert medicine_3.start >= follow_up.end
    assert (_local(plan, "follow-up-1"), _local(plan, "medicine-3")) == ("2027-01-07 09:00", "2027-01-07 09:30")
    protocol = api.load_protocol(GATED).protocol
    assert violations(protocol, build_request(protocol, client, None), _placements(plan, protocol)) == []


def test_gated_sessions_and_their_follow_ups_are_tentative_until_the_gate_is_done() -> None:
    plan = api.make_plan(GATED, _client("2026-12-07"), now=NOW)
    tentative = sorted(s.key for s in plan.sessions if s.status == "tentative")
    assert tentative == sorted(f"medicine-{n}{suffix}" for n in range(3, 7) for suffix in ("", ".integration"))
    assert {s.sequence for s in plan.sessions} == {0}


GATE_BINDS = """\
kind: protocol
id: gate-binds
version: 1
title: Doses two and three wait for a renewal ten days after intake
sessions:
  intake: {kind: screening, duration: 1h, setting: telehealth}
  prep: {kind: preparation, duration: 1h}
  renewal: {kind: follow-up, duration: 30min, setting: telehealth}
  med:
    kind: dosing
    duration: 2h
    observation: 1h
    dose: {medication: ketamine, route: SL, by_prescriber: true}
  integ: {kind: integration, duration: 1h, setting: telehealth}
schedule:
  - session: intake
  - session: prep
  - session: renewal
    from: intake
    after: 10d..
  - session: med
    from: prep
    count: 3
    gap: 2d..
    after: 1d..
    followed_by: [{session: integ, offset: 1d..2d}]
    requires: [{step: renewal, from: 2}]
"""


def test_a_gate_holds_back_the_occurrences_from_its_from_on(tmp_path: Path) -> None:
    """Without the gate med-2 would fall on Fri 12-11; it waits for the renewal (Thu 12-17)."""
    path = tmp_path / "gate.yaml"
    path.write_text(GATE_BINDS, encoding="utf-8")
    plan = api.make_plan(path, _client("2026-12-07"), now=NOW)
    assert [(s.key, _local(plan, s.key), s.status) for s in plan.sessions if s.follows is None] == [
        ("intake-1", "2026-12-07 09:00", "planned"),
        ("prep-1", "2026-12-07 10:00", "planned"),
        ("med-1", "2026-12-08 09:00", "planned"),
        ("renewal-1", "2026-12-17 09:00", "planned"),
        ("med-2", "2026-12-17 09:30", "tentative"),
        ("med-3", "2026-12-21 09:30", "tentative"),  # the time of day of med-2 (SPEC §12)
    ]


def test_a_gate_naming_no_earlier_step_is_a_lint_error(tmp_path: Path) -> None:
    text = GATED.read_text(encoding="utf-8").replace("requires: [{step: follow-up, from: 3}]",
                                                     "requires: [{step: nowhere, from: 3}]")
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    assert [d.code for d in check_file(path)] == ["KP234"]


# --------------------------------------------------------------------------- decisions


def test_nothing_after_an_open_decision_is_planned() -> None:
    plan = api.make_plan(BRANCHES, _client("2026-10-19"), now=NOW)
    assert plan.sessions[-1].key == "induction-review-1"
    assert [(d.key, d.options, d.chosen) for d in plan.decisions] == [
        ("induction-review-1", ["weekly", "every-2-weeks", "stop"], None)
    ]
    assert plan.open_decision is not None


def test_every_branch_path_is_a_series_the_engine_can_plan_within_every_rule() -> None:
    protocol = api.load_protocol(BRANCHES).protocol
    paths = every_path(protocol)
    assert sorted(tuple(s.key for s in p.protocol.schedule) for p in paths) == [
        ("prep", "induction", "induction-review", "closing"),
        ("prep", "induction", "induction-review", "maintenance-biweekly", "closing"),
        ("prep", "induction", "induction-review", "maintenance-weekly", "closing"),
    ]
    client = _client("2026-10-19")
    from kapplan.engine import schedule

    for path in paths:
        request = build_request(path.protocol, client, None)
        result = schedule(request)
        assert violations(path.protocol, request, result.placements) == [], path.origins


def test_a_branch_that_breaks_a_rule_is_reported_where_the_branch_is_written(tmp_path: Path) -> None:
    """min_dosing_interval and KP303 hold along every path: the weekly branch's first
    dose may fall the day after the review's day... of the last induction dose."""
    text = BRANCHES.read_text(encoding="utf-8").replace(
        "    gap: 7d±2d\n    after: 7d±2d\n", "    gap: 1d..\n    after: 0d..\n"
    ).replace("constraints:\n  min_dosing_interval: 48h\n", "")
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    found = {(d.code, d.line) for d in check_file(path)}
    branch_line = text.splitlines().index("  maintenance-weekly:") + 1
    assert ("KP303", branch_line + 3) in found  # the weekly branch's gap, where it is written
    assert all(line != branch_line + 10 for _, line in found)  # nothing blamed on the biweekly branch


def test_follow_places_the_branch_after_the_decision_then_the_following_steps() -> None:
    protocol = api.load_protocol(BRANCHES).protocol
    path = follow(protocol, {"induction-review-1": "every-2-weeks"})
    assert [s.key for s in path.protocol.schedule] == [
        "prep", "induction", "induction-review", "maintenance-biweekly", "closing"]
    assert path.origins[3] == ("branches", "maintenance-biweekly")
    assert path.open is None
    stop = follow(protocol, {"induction-review-1": "stop"})
    assert [s.key for s in stop.protocol.schedule] == ["prep", "induction", "induction-review", "closing"]


# --------------------------------------------------------------------------- measures


def test_measure_due_dates_are_literal_across_dst_and_a_month_end() -> None:
    """Weekly PHQ-9 from induction-1 (Thu 10-22) over the end of October and the
    fall-back of 2026-11-01 in New York: plain dates, 7 days apart, 2-day windows."""
    plan = api.make_plan(BRANCHES, _client("2026-10-19"), now=NOW)
    assert [(t.key, t.due, t.window_start, t.status) for t in plan.tasks] == [
        ("phq9-1", date(2026, 10, 22), date(2026, 10, 20), "due"),
        ("phq9-2", date(2026, 10, 29), date(2026, 10, 27), "due"),
        ("madrs-1", date(2026, 11, 4), date(2026, 11, 4), "due"),
    ]
    choice = api.make_plan(BRANCHES, _client("2026-10-19"), now=NOW)
    assert choice.tasks == plan.tasks


def test_task_keys_share_no_name_with_session_keys() -> None:
    plan = api.make_plan(BRANCHES, _client("2026-10-19"), now=NOW)
    assert not {t.key for t in plan.tasks} & {s.key for s in plan.sessions}


def test_the_plan_json_lists_tasks_and_decisions_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = runner.invoke(app, ["plan", str(BRANCHES), "--tz", "America/New_York", "--start", "2026-10-19",
                                 "--weight", "72 kg", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["format"] == 2
    assert data["decisions"][0]["chosen"] is None
    assert [t["key"] for t in data["tasks"]] == ["phq9-1", "phq9-2", "madrs-1"]


# --------------------------------------------------------------------------- plan format 1


def test_a_format_1_plan_reads_back_unchanged_and_is_rewritten_as_format_2_only_when_changed(
        tmp_path: Path) -> None:
    old = DATA / "plan_format1_journey_ny72.json"
    plan = api.read_plan(old)
    assert plan.format == 1
    assert plan.to_json().encode() == old.read_bytes()  # reading changes nothing
    copy = tmp_path / "plan.json"
    copy.write_bytes(old.read_bytes())
    result = runner.invoke(app, ["status", str(copy)])
    assert result.exit_code == 0
    assert copy.read_bytes() == old.read_bytes()
    first = plan.sessions[0]
    outcome = api.mark_file(copy, first.key, "done", now=datetime(2027, 3, 1, tzinfo=UTC))
    assert outcome.changed
    assert json.loads(copy.read_text(encoding="utf-8"))["format"] == 2


def test_protocols_without_the_new_keys_embed_the_same_definition() -> None:
    plain = Path(__file__).parent / "data" / "bundled_v1" / "journey-sl-kap.yaml"  # no measures, gates or decisions
    definition = api.load_protocol(str(plain)).protocol.definition()
    assert not {"branches", "measures"} & set(definition)
    assert all("requires" not in step and "decision" not in step for step in definition["schedule"])


def test_a_protocol_with_decisions_validates_clean() -> None:
    assert check_file(BRANCHES) == []
    assert check_file(GATED) == []
