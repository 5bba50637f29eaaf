"""The protocols shipped with kapplan: valid, sourced, and safe to export.

Bundled files are what most users plan with, so each must load without lint
errors or un-allowed warnings, carry its sources and the verification note, and
keep client-facing text free of medication names and doses (calendars below
full privacy would withhold that text).
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from kapplan.api import load_protocol
from kapplan.io.bundled import bundled_paths
from kapplan.lint.checks import check_file

VERIFY_NOTE = "Scheduling illustration; verify against the current label or source."
EXPECTED_IDS = {
    "spravato-trd",
    "iv-ketamine-trd",
    "iv-ketamine-ptsd",
    "journey-sl-kap",
    "mindbloom-home-kap",
    "im-kap-krupitsky",
    "kap-in-office",
    "kare-alcohol",
}
MEDICATION_OR_DOSE = re.compile(
    r"ketamine|esketamine|arketamine|ketalar|spravato|ketanest|vesierra|\d\s*mg\b|mg/kg",
    re.IGNORECASE,
)
BUNDLED = sorted(bundled_paths().items())


def test_every_expected_protocol_is_bundled() -> None:
    assert len(BUNDLED) >= 6
    assert EXPECTED_IDS <= set(bundled_paths())


@pytest.mark.parametrize(("stem", "path"), BUNDLED, ids=[stem for stem, _ in BUNDLED])
def test_bundled_protocol_validates_cleanly(stem: str, path: object) -> None:
    diagnostics = check_file(str(path))
    assert [d.as_text() for d in diagnostics] == []


@pytest.mark.parametrize(("stem", "path"), BUNDLED, ids=[stem for stem, _ in BUNDLED])
def test_bundled_protocol_loads_by_id_with_matching_stem(stem: str, path: object) -> None:
    loaded = load_protocol(stem)
    assert loaded.path == path
    assert loaded.protocol.id == stem
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", stem)
    assert loaded.warnings == []


@pytest.mark.parametrize(("stem", "path"), BUNDLED, ids=[stem for stem, _ in BUNDLED])
def test_bundled_protocol_cites_sources_and_carries_the_note(stem: str, path: object) -> None:
    protocol = load_protocol(stem).protocol
    assert protocol.references, f"{stem} has no references"
    assert all(ref.cite.strip() for ref in protocol.references)
    summary = " ".join((protocol.summary or "").split())
    assert VERIFY_NOTE in summary


@pytest.mark.parametrize(("stem", "path"), BUNDLED, ids=[stem for stem, _ in BUNDLED])
def test_per_kg_doses_come_with_a_doi_or_citation(stem: str, path: object) -> None:
    protocol = load_protocol(stem).protocol
    per_kg = [s for s in protocol.sessions.values() if s.dose is not None and s.dose.per_kg]
    if per_kg:
        assert any(ref.doi or ref.cite for ref in protocol.references)
    for session in protocol.sessions.values():
        if session.kind == "dosing":
            assert session.dose is not None


@pytest.mark.parametrize(("stem", "path"), BUNDLED, ids=[stem for stem, _ in BUNDLED])
def test_client_facing_text_names_no_medication_or_dose(stem: str, path: object) -> None:
    protocol = load_protocol(stem).protocol
    for key, session in protocol.sessions.items():
        texts = [session.instructions, session.notes, session.purpose, session.aftercare,
                 *(r.text for r in session.reminders)]
        for text in filter(None, texts):
            assert not MEDICATION_OR_DOSE.search(text), f"{stem}: {key}: {text!r}"


@pytest.mark.parametrize(("stem", "path"), BUNDLED, ids=[stem for stem, _ in BUNDLED])
def test_every_session_says_what_it_is_for_and_every_dose_what_comes_after(stem: str, path: object) -> None:
    """The client's guide reads these: every session type has a purpose, every
    dosing type its after-care, and the after-care of a dose says not to drive."""
    protocol = load_protocol(stem).protocol
    for key, session in protocol.sessions.items():
        assert session.purpose, f"{stem}: {key} has no purpose"
        assert len(session.purpose.split()) >= 8, f"{stem}: {key}: a purpose is a sentence or more"
        if session.kind == "dosing":
            assert session.aftercare, f"{stem}: {key} has no aftercare"
            assert re.search(r"\bdo not drive\b", session.aftercare, re.IGNORECASE), f"{stem}: {key}"


@pytest.mark.parametrize(("stem", "path"), BUNDLED, ids=[stem for stem, _ in BUNDLED])
def test_every_dose_is_monitored_and_the_series_ends_with_a_response_check(stem: str, path: object) -> None:
    protocol = load_protocol(stem).protocol
    for name, session in protocol.sessions.items():
        if session.kind == "dosing":
            assert session.monitoring, f"{stem}: dosing session '{name}' lists no monitoring"
            assert session.observation is not None
    last = protocol.sessions[protocol.schedule[-1].session]
    assert last.kind in ("follow-up", "assessment"), stem
    assert last.assessments, f"{stem}: the closing visit names no assessment"
    assert protocol.eligibility is not None, stem
    assert protocol.eligibility.age is not None, stem


def test_im_krupitsky_screens_monitors_and_keeps_the_trial_dose() -> None:
    protocol = load_protocol("im-kap-krupitsky").protocol
    assert [s.key for s in protocol.schedule] == ["screening", "preparation", "kpt", "follow-up"]
    kpt = protocol.sessions["kpt"]
    assert kpt.dose is not None
    assert kpt.dose.per_kg is not None
    assert kpt.dose.per_kg.amount == Decimal("2.0")  # the trials' dose, flagged per client by KP402
    assert any("eating and drinking" in r.text for r in kpt.reminders)
    assert protocol.constraints.dosing_day == "alone"


def test_iv_trd_decides_maintenance_on_response() -> None:
    protocol = load_protocol("iv-ketamine-trd").protocol
    review = protocol.step("response-review")
    assert review is not None
    assert review.decision is not None
    assert review.decision.options == {"maintenance": ["maintenance", "maintenance-review"], "stop": []}
    maintenance = protocol.branch_step("maintenance")
    assert (maintenance.count, maintenance.per_week) == (4, 1)


def test_journey_gates_dose_three_on_the_follow_up_and_prepares_after_delivery() -> None:
    protocol = load_protocol("journey-sl-kap").protocol
    medicine = protocol.step("medicine")
    assert medicine is not None
    assert [(g.step, g.from_) for g in medicine.requires] == [("follow-up", 3)]
    preparation = protocol.step("preparation")
    assert preparation is not None
    assert (preparation.after.min.days, preparation.after.max) == (7, None)


def test_spravato_follows_the_label_schedule() -> None:
    protocol = load_protocol("spravato-trd").protocol
    assert [(s.key, s.count, s.per_week) for s in protocol.schedule] == [
        ("enrollment", 1, None),
        ("induction", 8, 2),
        ("maintenance", 4, 1),
        ("week-9-review", 1, None),
    ]
    review = protocol.step("week-9-review")
    assert review is not None
    assert review.decision is not None
    assert set(review.decision.options) == {"weekly", "every-2-weeks", "stop"}
    assert {b.key: (b.count, b.per_week) for b in map(protocol.branch_step, protocol.branches)} == {
        "continuation-weekly": (4, 1), "continuation-biweekly": (4, None)}
    assert protocol.eligibility is not None
    assert str(protocol.eligibility.age) == "18.."
    treatment = protocol.sessions["treatment"]
    assert treatment.dose is not None
    assert (treatment.dose.medication, treatment.dose.route) == ("esketamine", "IN")
    assert str(treatment.dose.fixed) == "56 mg"
    assert treatment.observation is not None
    assert treatment.observation.minutes == 120
    assert set(protocol.allow) == {"KP301", "KP302"}


def test_ptsd_series_assesses_the_day_after_the_first_infusion_only() -> None:
    protocol = load_protocol("iv-ketamine-ptsd").protocol
    infusions = protocol.step("infusion")
    assert infusions is not None
    assert (infusions.count, infusions.per_week) == (6, 3)
    (follow_up,) = infusions.followed_by
    assert follow_up.on == [1]
    # The next day is the target, the day after allowed (a Mon/Wed/Fri client).
    assert str(follow_up.offset) == "{min: 1d, target: 1d, max: 2d}"
    assert [s.key for s in protocol.schedule] == ["baseline", "infusion", "endpoint"]
    dose = protocol.sessions["infusion"].dose
    assert dose is not None
    assert dose.per_kg is not None
    assert dose.per_kg.amount == Decimal("0.5")


def test_prescriber_set_doses_compute_no_amount() -> None:
    for stem in ("journey-sl-kap", "mindbloom-home-kap"):
        dose = load_protocol(stem).protocol.sessions["medicine"].dose
        assert dose is not None
        assert dose.by_prescriber is True
        assert (dose.per_kg, dose.fixed) == (None, None)
