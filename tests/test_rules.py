"""Lint rules (SPEC §7): each rule's fixture, the reasoning behind the timing
rules, allow:, the earliest shape, and the protocol using every feature.

Fixtures tests/data/lint_*.yaml mark each expected diagnostic with a
``# expect: KPnnn`` comment on the line it must point at; the test asserts
exactly those (line, code) pairs, no more and no fewer.
"""

from __future__ import annotations

import re
import textwrap
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from kapplan.io.documents import parse_document
from kapplan.lint.checks import check_file, protocol_from_document
from kapplan.lint.registry import all_rules
from kapplan.lint.shape import earliest_shape, span_days
from kapplan.models.protocol import Protocol
from kapplan.models.sensitive import mentions_medication_or_dose

DATA = Path(__file__).parent / "data"
FIXTURES = sorted(DATA.glob("lint_*.yaml"))
EXPECT = re.compile(r"#\s*expect:\s*(KP\d{3})")


def expected(path: Path) -> list[tuple[int, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return sorted((n, m.group(1)) for n, line in enumerate(lines, 1) for m in EXPECT.finditer(line))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_fixture_reports_exactly_its_expected_diagnostics(path: Path) -> None:
    assert expected(path), "a fixture must expect at least one diagnostic"
    assert sorted((d.line, d.code) for d in check_file(path)) == expected(path)


def test_every_rule_has_a_fixture() -> None:
    covered = {code for path in FIXTURES for _, code in expected(path)}
    checked = {code for code, rule in all_rules().items() if rule.check is not None}
    assert checked - covered == set()


def test_severities_are_fixed() -> None:
    rules = all_rules()
    safety = {code: rules[code].severity for code in rules if code.startswith("KP3")}
    assert safety == {
        "KP301": "warning", "KP302": "warning", "KP303": "warning", "KP304": "warning",
        "KP305": "error", "KP306": "warning", "KP307": "warning", "KP308": "warning", "KP309": "warning",
    }
    assert {rules[c].severity for c in rules if c.startswith("KP1")} == {"error"}
    assert sorted(c for c in rules if c.startswith("KP2") and rules[c].severity == "warning") == [
        "KP219", "KP220", "KP231", "KP241"]


def test_every_rule_explains_itself() -> None:
    for rule in all_rules().values():
        assert rule.summary
        assert len(rule.rationale) > 40, rule.code


def test_diagnostics_carry_the_rule_severity_and_a_hint_where_one_helps() -> None:
    [unknown, _] = check_file(DATA / "lint_kp201_unknown_session.yaml")
    assert (unknown.severity, unknown.message, unknown.hint) == (
        "error", "unknown session 'integration'", "did you mean 'integ'?"
    )
    [warning] = check_file(DATA / "lint_kp304_no_observation.yaml")
    assert warning.severity == "warning"


# --------------------------------------------------------------------------- scenarios

SESSIONS = """\
sessions:
  intake: {kind: screening, duration: 1h}
  prep: {kind: preparation, duration: 1h}
  med:
    kind: dosing
    duration: 2h
    observation: 1h
    dose: {medication: ketamine, route: IM, per_kg: 0.5 mg/kg, max: 50 mg}
  med2:
    kind: dosing
    duration: 2h
    observation: 1h
    dose: {medication: ketamine, route: SL, fixed: 100 mg}
  integ: {kind: integration, duration: 1h}
"""


def lint(schedule: str, extra: str = "", sessions: str = SESSIONS) -> list[tuple[str, int]]:
    """(code, line) of every diagnostic for a protocol with this schedule."""
    text = "kind: protocol\nid: t\nversion: 1\ntitle: T\n" + sessions + "schedule:\n"
    text += textwrap.indent(textwrap.dedent(schedule), "  ") + textwrap.dedent(extra)
    protocol, diagnostics = protocol_from_document(parse_document(text.encode(), "t.yaml"))
    assert protocol is not None, [d.as_text() for d in diagnostics]
    return sorted((d.code, d.line) for d in diagnostics if d.code != "KP220")


def codes(schedule: str, extra: str = "") -> set[str]:
    return {code for code, _ in lint(schedule, extra)}


PREP_THEN = "- session: prep\n"
INTEG = "followed_by: [{session: integ, offset: 1d..3d}]"


@pytest.mark.parametrize(
    ("gap", "extra", "warned"),
    [
        ("2d..", "", False),
        ("48h..", "", False),
        ("36h..", "", True),
        ("1d..", "", True),
        ("1d..", "constraints: {min_dosing_interval: 48h}\n", False),
        ("1d..", "constraints: {min_dosing_interval: 2d}\n", False),
        ("1d..", "constraints: {min_dosing_interval: 47h}\n", True),
    ],
)
def test_kp303_gap_and_min_dosing_interval(gap: str, extra: str, warned: bool) -> None:
    schedule = PREP_THEN + f"- session: med\n  count: 3\n  gap: {gap}\n  {INTEG.replace('1d..3d', '0d..1d')}\n"
    assert ("KP303" in codes(schedule, extra)) is warned


@pytest.mark.parametrize(("after", "warned"), [("0d..", True), ("1d..", True), ("2d..", False), ("48h..", False)])
def test_kp303_between_dosing_steps(after: str, warned: bool) -> None:
    schedule = PREP_THEN + f"- session: med\n- session: med2\n  after: {after}\n  {INTEG}\n"
    assert ("KP303" in codes(schedule)) is warned


def test_kp303_after_counts_from_the_latest_follow_up() -> None:
    # med2 is measured from med's integration, itself at least a day after med.
    schedule = PREP_THEN + f"- session: med\n  {INTEG}\n- session: med2\n  after: 1d..\n  {INTEG}\n"
    assert "KP303" not in codes(schedule)


def test_kp303_counts_the_chain_through_follow_ups() -> None:
    # The next dose waits for the integration, itself at least 2 days after the dose.
    schedule = PREP_THEN + "- session: med\n  count: 3\n  gap: 1d..\n"
    schedule += "  followed_by: [{session: integ, offset: 2d..3d}]\n"
    assert "KP303" not in codes(schedule)


def test_kp303_dosing_follow_up_the_next_day() -> None:
    schedule = PREP_THEN + "- session: med\n"
    schedule += "  followed_by: [{session: med2, offset: 1d..}, {session: integ, offset: 3d..5d}]\n"
    assert lint(schedule) == [("KP303", 22)]


def test_kp303_steps_that_may_interleave() -> None:
    # med2 is tied only to prep, so it may fall next to med although 14d after prep.
    schedule = (PREP_THEN + f"- session: med\n  after: 20d..\n  {INTEG}\n- session: integ\n  id: talk\n"
                f"- session: med2\n  from: prep\n  after: 14d..\n  {INTEG}\n")
    assert lint(schedule) == [("KP303", 28)]


@pytest.mark.parametrize(
    ("offset", "warned"),
    [("1d..7d", False), ("1d..8d", True), ("24h..168h", False), ("24h..169h", True), ("1d..", True)],
)
def test_kp302_offset_bound(offset: str, warned: bool) -> None:
    schedule = PREP_THEN + f"- session: med\n  followed_by: [{{session: integ, offset: {offset}}}]\n"
    assert ("KP302" in codes(schedule)) is warned


def test_kp302_later_step_tied_by_from_covers_the_last_occurrence() -> None:
    schedule = PREP_THEN + "- session: med\n- id: call\n  session: intake\n"
    schedule += "- session: integ\n  from: med\n  after: 1d..3d\n"
    assert "KP302" not in codes(schedule)


def test_kp302_next_step_counts_from_the_latest_follow_up() -> None:
    tail = "- session: integ\n  after: 1d..5d\n"
    near = PREP_THEN + "- session: med\n  followed_by: [{session: intake, offset: 1d..2d}]\n" + tail
    far = PREP_THEN + "- session: med\n  followed_by: [{session: intake, offset: 1d..3d}]\n" + tail
    assert ("KP302" in codes(near), "KP302" in codes(far)) == (False, True)


def test_kp302_names_the_uncovered_occurrences() -> None:
    [warning] = [d for d in check_file(DATA / "lint_kp302_no_integration.yaml") if d.code == "KP302"]
    assert warning.message == "occurrence 2 of dosing step 'med' has no integration session within 7 days after it"


def test_kp301_preparation_as_a_follow_up_counts() -> None:
    schedule = "- session: intake\n  followed_by: [{session: prep, offset: 1d..}]\n" + f"- session: med\n  {INTEG}\n"
    assert "KP301" not in codes(schedule)


def test_kp301_preparation_that_may_interleave_does_not_count() -> None:
    schedule = f"- session: intake\n- session: prep\n- session: med\n  from: intake\n  {INTEG}\n"
    assert "KP301" in codes(schedule)


def test_kp301_second_dosing_step_inherits_the_preparation() -> None:
    schedule = PREP_THEN + f"- session: med\n  {INTEG}\n- session: med2\n  after: 7d..\n  {INTEG}\n"
    assert "KP301" not in codes(schedule)


def test_allow_silences_only_kp3_warnings() -> None:
    schedule = f"- session: med\n  {INTEG}\n"
    assert codes(schedule) == {"KP301"}
    assert codes(schedule, "allow: [KP301]\n") == set()
    assert lint(schedule, "allow: [KP301, KP216]\n") == [("KP218", 22)]


def test_kp305_cannot_be_allowed() -> None:
    found = [(d.code, d.line) for d in check_file(DATA / "lint_kp305_esketamine_observation.yaml")]
    assert sorted(found) == [("KP305", 11), ("KP305", 13)]  # KP304 is allowed in that file, KP305 is not


@pytest.mark.parametrize(
    ("per_week", "gap", "count", "error"),
    [
        (2, "4d..", 4, False),
        (2, "2d..3d", 4, True),  # the 2nd of a week is at most day 3; day 7 is 4 days later
        (2, "2d..4d", 4, False),
        (3, "3d..", 6, False),  # days 0, 3, 6
        (3, "3d..3d", 6, False),
        (3, "4d..", 6, True),
        (1, "7d..7d", 3, False),
        (1, "6d..6d", 3, True),
        (1, "6d..6d", 1, False),  # one occurrence never reaches the next week
        (7, "1d..1d", 7, False),
        (2, "168h..", 2, True),
    ],
)
def test_kp207_per_week_against_gap(per_week: int, gap: str, count: int, error: bool) -> None:
    schedule = PREP_THEN + f"- session: integ\n  count: {count}\n  per_week: {per_week}\n  gap: {gap}\n"
    assert ("KP207" in codes(schedule)) is error


@pytest.mark.parametrize(("within", "error"), [("3w", False), ("20d", True), ("504h", False), ("480h", True)])
def test_kp208_within_exact_fit(within: str, error: bool) -> None:
    schedule = PREP_THEN + f"- session: integ\n  count: 4\n  gap: 7d..\n  within: {within}\n"
    assert ("KP208" in codes(schedule)) is error


def test_kp208_counts_per_week_blocks() -> None:
    # 1 per week from the first: the 4th is at day 21 at the earliest, although the gap is 1d.
    schedule = PREP_THEN + "- session: integ\n  count: 4\n  gap: 1d..7d\n  per_week: 1\n  within: 20d\n"
    assert "KP208" in codes(schedule)


def test_kp216_too_many_steps() -> None:
    schedule = "".join(f"- {{session: integ, id: s{i}}}\n" for i in range(51))
    assert lint(schedule) == [("KP216", 19)]


def test_a_protocol_at_the_caps_lints() -> None:
    # 1 + 4 x 100 + 99 = 500 sessions: the most a protocol may have.
    steps = "".join(f"- session: integ\n  id: s{i}\n  count: 100\n  gap: 1d..3d\n" for i in range(4))
    steps += "- session: med\n  count: 99\n  gap: 2d..\n"
    assert codes(PREP_THEN + steps) == {"KP302"}


def test_unknown_references_do_not_crash_the_timing_rules() -> None:
    schedule = "- session: nothing\n  count: 3\n- session: med\n  from: nowhere\n  followed_by: [{session: none}]\n"
    assert codes(schedule) == {"KP201", "KP204", "KP301", "KP302"}


# --------------------------------------------------------------------------- sensitive text


@pytest.mark.parametrize(
    ("text", "sensitive"),
    [
        ("We will talk about ketamine.", True),
        ("ESKETAMINE", True),
        ("Arketamine trial", True),
        ("Bring your Spravato card", True),
        ("Ketalar", True),
        ("ketanest", True),
        ("Vesierra", True),
        ("56 mg", True),
        ("56mg", True),
        ("0.5 mg/kg", True),
        ("a dose in mg/kg", True),
        ("10 milligrams", True),
        ("No food from now on.", False),
        ("Arrange a ride home; you cannot drive until the next day.", False),
        ("Blood pressure above 140/90", False),
        ("Meet in room 12; mgmt office", False),
        ("", False),
    ],
)
def test_medication_and_dose_terms(text: str, sensitive: bool) -> None:
    assert mentions_medication_or_dose(text) is sensitive


# --------------------------------------------------------------------------- earliest shape


def load(path: Path) -> Protocol:
    protocol, diagnostics = protocol_from_document(parse_document(path.read_bytes(), str(path)))
    assert protocol is not None
    return protocol


def test_earliest_shape_of_every_feature() -> None:
    points = earliest_shape(load(DATA / "every_feature.yaml"))
    assert [(p.session.key, p.day) for p in points] == [
        ("intake-1", 0),
        ("preparation-1", 1),
        ("preparation-2", 4),
        ("induction-1", 4),
        ("induction-1.integration", 5),
        ("induction-2", 7),
        ("induction-2.integration", 8),
        ("induction-2.mid-scales", 8),
        ("induction-3", 11),  # per_week 2: the 3rd falls in the second week from induction-1
        ("induction-3.integration", 12),
        ("induction-4", 14),
        ("induction-4.integration", 15),
        ("induction-4.mid-scales", 15),
        ("maintenance-1", 20),  # 7d±2d after the latest session of induction
        ("maintenance-1.integration", 21),
        ("maintenance-2", 27),
        ("maintenance-2.integration", 28),
        ("booster-1", 42),
        ("prescriber-dose-1", 49),
        ("prescriber-dose-1.last-integration", 50),
        ("check-in-1", 27),  # tied to intake by `from`: interleaves
        ("final-scales-1", 50),
    ]
    assert span_days(points) == 50


def test_shape_rounds_hours_down_and_keeps_dosing_days_free(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("kind: protocol\nid: t\nversion: 1\ntitle: T\n" + SESSIONS + textwrap.dedent("""\
        schedule:
          - session: prep
            count: 3
            gap: 36h..
          - session: med
            followed_by: [{session: integ}]
          - session: intake
            after: 47h..
        """))
    points = earliest_shape(load(path))
    assert [(p.session.key, p.day) for p in points] == [
        ("prep-1", 0), ("prep-2", 1), ("prep-3", 2), ("med-1", 2), ("med-1.integ", 3), ("intake-1", 4),
    ]


# --------------------------------------------------------------------------- every feature


def test_every_feature_protocol_validates_clean() -> None:
    assert check_file(DATA / "every_feature.yaml") == []


def _fields(model: type[BaseModel], seen: set[type]) -> set[str]:
    names: set[str] = set()
    if model in seen:
        return names
    seen.add(model)
    for name, field in model.model_fields.items():
        names.add(field.alias or name)
        for inner in _models_in(field.annotation):
            names |= _fields(inner, seen)
    return names


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def test_every_feature_protocol_uses_every_key_and_form() -> None:
    text = (DATA / "every_feature.yaml").read_text(encoding="utf-8")
    keys = set(re.findall(r"([a-z_]+):", text))
    assert _fields(Protocol, set()) - keys == set()
    protocol = load(DATA / "every_feature.yaml")
    kinds = {s.kind for s in protocol.sessions.values()}
    assert kinds == {"screening", "preparation", "dosing", "integration", "follow-up", "assessment"}
    assert {s.setting for s in protocol.sessions.values()} == {"in-person", "telehealth", "home"}
    doses = [s.dose for s in protocol.sessions.values() if s.dose]
    assert {(d.per_kg is not None, d.fixed is not None, d.by_prescriber) for d in doses} == {
        (True, False, False), (False, True, False), (False, False, True)
    }
    for form in ("..21d", "14d..", "..7d", "7d±2d", "30d+-3d", "{min: 3d, target: 3d, max: 5d}", "24h..72h",
                 "PT90M", "1h30min", "48h", "20w", "3w", "gap: 7d\n"):
        assert form in text, form


def test_allow_codes_that_are_not_kp3_get_a_hint() -> None:
    diagnostics = check_file(DATA / "lint_kp218_allow_error.yaml")
    assert [(d.message, d.hint) for d in diagnostics][-2:] == [
        ("'kp301' is not a KP3xx warning code", "did you mean 'KP301'?"),
        ("'KP150' is not a KP3xx warning code", "see 'kapplan rules'"),
    ]


def test_a_huge_count_is_reported_not_expanded() -> None:
    schedule = PREP_THEN + f"- session: med\n  count: 1000000000\n  {INTEG}\n"
    assert lint(schedule) == [("KP216", 19), ("KP216", 22)]  # more than 500 in all; count above 100


@pytest.mark.parametrize(
    ("gap", "offset", "extra", "warned"),
    [
        ("3d..7d", "1d..3d", "", True),     # the integration may come on the next dose's day
        ("3d..7d", "1d..2d", "", False),    # always at least a day before it
        ("14d±3d", "1d..7d", "", False),
        ("2d..", "1d..", "", True),          # unbounded offset
        ("3d..7d", "1d..3d", "constraints: {dosing_day: alone}\n", False),
        ("2d..7d", "1d..2d", "constraints: {min_dosing_interval: 3d}\n", False),
        ("3d..7d", "48h..72h", "", True),    # elapsed bounds rounded outward
        ("3d..7d", "24h..36h", "", False),
    ],
)
def test_kp309_follow_up_on_the_next_dosing_date(gap: str, offset: str, extra: str, warned: bool) -> None:
    follow = f"followed_by: [{{session: integ, offset: {offset}}}]"
    schedule = PREP_THEN + f"- session: med\n  count: 3\n  gap: {gap}\n  {follow}\n"
    assert ("KP309" in codes(schedule, extra)) is warned


def test_kp309_leaves_out_same_day_preparation_and_the_last_occurrence() -> None:
    dosing = PREP_THEN + "- session: med\n  count: 3\n  gap: 3d..7d\n"
    prep_call = dosing + "  followed_by: [{session: prep, offset: 3d..7d}]\n"
    assert "KP309" not in codes(prep_call)
    last_only = dosing + "  followed_by: [{session: integ, offset: 1d..3d, on: [3]}]\n"
    assert "KP309" not in codes(last_only)
