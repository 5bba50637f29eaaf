"""Planned doses (SPEC §2): the protocol's rule applied to one client.

Decimal arithmetic throughout, so ``158 lb`` converts exactly and rounding is
half up as clinicians expect, not banker's rounding. The result is a *planned*
dose; the basis text says so.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from kapplan.models.plan import PlannedDose
from kapplan.models.protocol import Dose
from kapplan.models.values import Mass

CONFIRM = "(planned, confirm before dosing)"
_DEFAULT_STEP = Decimal("0.1")


class DoseError(ValueError):
    """A client for whom the rule gives no usable dose (missing weight, 0 mg)."""


def _fmt(number: Decimal) -> str:
    text = f"{number.normalize():f}"
    return text


def round_half_up(amount: Decimal, step: Decimal) -> Decimal:
    """Round to a multiple of ``step``, halves away from zero."""
    return (amount / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step


def base_amount(dose: Dose, occurrence: int) -> Decimal:
    """``titrate[n-1]`` (the last value repeating) or the per_kg / fixed amount."""
    if dose.titrate:
        return dose.titrate[min(occurrence, len(dose.titrate)) - 1]
    assert dose.base is not None
    return dose.base.amount


def planned_dose(dose: Dose, occurrence: int, weight: Mass | None, dose_scale: float) -> PlannedDose:
    """The planned dose of occurrence ``occurrence`` (1-based) for this client.

    The arithmetic cannot raise: inputs are bounded when they are read, and any
    decimal trap left (a zero rounding step) is a DoseError, reported as the
    client's problem with this protocol."""
    from decimal import DecimalException, localcontext

    with localcontext() as context:
        context.prec = 60
        try:
            return _planned_dose(dose, occurrence, weight, dose_scale)
        except (DecimalException, OverflowError):
            raise DoseError("the protocol's dose rule gives no usable amount (check its round_to and max)") from None


def _planned_dose(dose: Dose, occurrence: int, weight: Mass | None, dose_scale: float) -> PlannedDose:
    if dose.by_prescriber or dose.base is None:
        return PlannedDose(
            medication=dose.medication,
            route=dose.route,
            amount_mg=None,
            basis=f"set by the prescriber {CONFIRM}",
        )
    base = base_amount(dose, occurrence)
    scale = Decimal(str(dose_scale))
    if dose.base.per_kg:
        if weight is None:
            raise DoseError("the protocol doses per kg: the client needs a weight (e.g. '72 kg')")
        kg = weight.kg
        weight_text = f"{_fmt(kg)} kg" if weight.unit == "kg" else f"{_fmt(kg.quantize(Decimal('0.01')))} kg ({weight})"
        raw = base * kg * scale
        terms = [f"{_fmt(base)} mg/kg", weight_text]
    else:
        raw = base * scale
        terms = [f"{_fmt(base)} mg"]
    if scale != 1:
        terms.append(_fmt(scale))
    if len(terms) == 1:
        basis = f"fixed dose {terms[0]}"
    else:
        basis = " x ".join(terms) + f" = {_fmt(raw.quantize(Decimal('0.01')))} mg"
    step = dose.round_to.amount if dose.round_to else _DEFAULT_STEP
    amount = round_half_up(raw, step)
    if amount != raw.quantize(Decimal("0.01")):
        basis += f", rounded to {_fmt(amount)} mg"
    if dose.max is not None and amount > dose.max.amount:
        amount = dose.max.amount
        basis += f", capped at the maximum {_fmt(amount)} mg"
    if amount <= 0:
        raise DoseError("the planned dose rounds to 0 mg for this client")
    return PlannedDose(
        medication=dose.medication,
        route=dose.route,
        amount_mg=float(amount),
        basis=f"{basis} {CONFIRM}",
    )
