"""Planned doses: per-kg and fixed rules, titration, scaling, half-up rounding, caps."""

from decimal import Decimal

import pytest

from kapplan.models.protocol import Dose
from kapplan.models.values import parse_mass
from kapplan.planning.doses import DoseError, planned_dose, round_half_up


def dose(**fields: object) -> Dose:
    return Dose.model_validate({"medication": "ketamine", "route": "IM", **fields})


@pytest.mark.parametrize(
    ("amount", "step", "expected"),
    [("43.2", "5", "45"), ("42.5", "5", "45"), ("42.49", "5", "40"), ("2.5", "1", "3"), ("35.83", "0.1", "35.8")],
)
def test_round_half_up(amount: str, step: str, expected: str) -> None:
    assert round_half_up(Decimal(amount), Decimal(step)) == Decimal(expected)


def test_titrated_per_kg_dose_scaled_rounded_and_last_value_repeats() -> None:
    rule = dose(per_kg="0.5 mg/kg", titrate=["0.5", "0.6", "0.75"], round_to="5 mg", max="100 mg")
    amounts = [planned_dose(rule, n, parse_mass("72 kg"), 0.8).amount_mg for n in (1, 2, 3, 4, 5)]
    assert amounts == [30.0, 35.0, 45.0, 45.0, 45.0]
    basis = planned_dose(rule, 3, parse_mass("72 kg"), 0.8).basis
    assert basis == "0.75 mg/kg x 72 kg x 0.8 = 43.2 mg, rounded to 45 mg (planned, confirm before dosing)"


def test_pounds_convert_exactly() -> None:
    planned = planned_dose(dose(per_kg="1 mg/kg"), 1, parse_mass("100 lb"), 1.0)
    assert planned.amount_mg == 45.4  # 45.359237 kg, rounded to 0.1 mg
    assert "45.36 kg (100 lb)" in planned.basis


def test_cap_applies_after_rounding() -> None:
    planned = planned_dose(dose(per_kg="2 mg/kg", round_to="10 mg", max="100 mg"), 1, parse_mass("80 kg"), 1.0)
    assert planned.amount_mg == 100.0
    assert "capped at the maximum 100 mg" in planned.basis


def test_fixed_dose_ignores_weight() -> None:
    rule = Dose.model_validate({"medication": "esketamine", "route": "IN", "fixed": "56 mg", "titrate": ["56", "84"]})
    assert [planned_dose(rule, n, None, 1.0).amount_mg for n in (1, 2, 3)] == [56.0, 84.0, 84.0]


def test_by_prescriber_has_no_amount() -> None:
    planned = planned_dose(dose(by_prescriber=True), 1, None, 1.0)
    assert planned.amount_mg is None
    assert planned.basis.startswith("set by the prescriber")


def test_per_kg_without_weight_is_an_input_error() -> None:
    with pytest.raises(DoseError, match="weight"):
        planned_dose(dose(per_kg="0.5 mg/kg"), 1, None, 1.0)


def test_dose_rounding_to_zero_is_an_input_error() -> None:
    with pytest.raises(DoseError, match="0 mg"):
        planned_dose(dose(per_kg="0.01 mg/kg", round_to="5 mg"), 1, parse_mass("50 kg"), 0.5)
