"""Per-client safety notes (SPEC §7 KP4xx): facts about one client's plan, not the protocol.

A protocol may ``allow`` KP306/KP307 because its source doses above 1 mg/kg or
gives no cap; that is a statement about the protocol. Whether *this* client's
planned dose is large is only known once weight and scale are applied, so
these notes are computed on the plan and nothing silences them. They name
sessions and amounts, never the client's age or birth date.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal

from kapplan.models.client import Client
from kapplan.models.plan import PlannedSession, Warning_
from kapplan.models.protocol import Protocol

SAFETY_CODES = frozenset({"KP402", "KP403"})
PER_KG_LIMIT = Decimal(1)  # mg/kg: the usual sub-anaesthetic ceiling (IV/IM), as KP306
HEAVY_CLIENT_KG = Decimal(100)  # above this, an uncapped per-kg dose grows with weight alone
ESKETAMINE_MAX_MG = 84.0  # the US label's highest TRD dose
_WEIGHT_EXEMPT_ROUTES = frozenset({"SL", "PO"})  # higher by design: not flagged by weight


def safety_notes(protocol: Protocol, client: Client, sessions: Sequence[PlannedSession]) -> list[Warning_]:
    """KP402 (dose) and KP403 (eligibility) notes for this client's planned sessions."""
    return [*_dose_notes(protocol, client, sessions), *_eligibility_notes(protocol, client, sessions)]


def refresh_notes(warnings: Iterable[Warning_], notes: Iterable[Warning_]) -> list[Warning_]:
    """A plan's warnings with its KP4 safety notes replaced by ``notes`` (after a re-plan)."""
    return [w for w in warnings if w.code not in SAFETY_CODES] + list(notes)


def _dose_notes(protocol: Protocol, client: Client, sessions: Sequence[PlannedSession]) -> list[Warning_]:
    kg = client.weight.kg if client.weight is not None else None
    over: dict[str, list[PlannedSession]] = {}
    esketamine: dict[str, list[PlannedSession]] = {}
    for session in sessions:
        dose = session.dose
        if dose is None or dose.amount_mg is None:
            continue
        if dose.medication == "esketamine" and dose.amount_mg > ESKETAMINE_MAX_MG:
            esketamine.setdefault(session.session, []).append(session)
        elif (dose.medication == "ketamine" and dose.route in ("IV", "IM") and kg is not None
              and Decimal(str(dose.amount_mg)) > PER_KG_LIMIT * kg):
            over.setdefault(session.session, []).append(session)
    notes = [_over_per_kg(group, kg) for group in over.values() if kg is not None]
    notes += [_over_esketamine(group) for group in esketamine.values()]
    if kg is not None and kg > HEAVY_CLIENT_KG:
        notes += [_uncapped(name, protocol) for name in _uncapped_sessions(protocol, sessions)]
    return notes


def _keys(group: Sequence[PlannedSession]) -> str:
    keys = [s.key for s in group]
    return keys[0] if len(keys) == 1 else f"{', '.join(keys[:-1])} and {keys[-1]}"


def _amounts(group: Sequence[PlannedSession]) -> str:
    values = sorted({s.dose.amount_mg for s in group if s.dose and s.dose.amount_mg is not None})
    text = [f"{v:g} mg" for v in values]
    return text[0] if len(text) == 1 else f"{text[0]} to {text[-1]}"


def _over_per_kg(group: Sequence[PlannedSession], kg: Decimal) -> Warning_:
    dose = group[0].dose
    assert dose is not None
    highest = max(s.dose.amount_mg for s in group if s.dose and s.dose.amount_mg is not None)
    per_kg = Decimal(str(highest)) / kg
    return Warning_(
        code="KP402",
        message=(f"planned {dose.route} ketamine {_amounts(group)} ({_keys(group)}) is above 1 mg/kg of this "
                 f"client's weight (up to {per_kg:.2f} mg/kg); the prescriber confirms every dose"),
    )


def _over_esketamine(group: Sequence[PlannedSession]) -> Warning_:
    return Warning_(
        code="KP402",
        message=(f"planned esketamine {_amounts(group)} ({_keys(group)}) is above 84 mg, the label's highest "
                 "dose; the prescriber confirms every dose"),
    )


def _uncapped_sessions(protocol: Protocol, sessions: Sequence[PlannedSession]) -> list[str]:
    """Session types in the plan with a per-kg ketamine dose, no ``max``, and a route dosed by weight."""
    used = dict.fromkeys(s.session for s in sessions if s.dose is not None)
    out = []
    for name in used:
        dose = protocol.sessions[name].dose if name in protocol.sessions else None
        if (dose is not None and dose.medication == "ketamine" and dose.per_kg is not None and dose.max is None
                and dose.route not in _WEIGHT_EXEMPT_ROUTES):
            out.append(name)
    return out


def _uncapped(name: str, protocol: Protocol) -> Warning_:
    dose = protocol.sessions[name].dose
    assert dose is not None
    assert dose.per_kg is not None
    return Warning_(
        code="KP402",
        message=(f"session '{name}' doses {dose.route} ketamine per kg ({dose.per_kg}) with no 'max', and this "
                 "client weighs over 100 kg: the planned dose grows with weight alone; the prescriber confirms it"),
    )


def _eligibility_notes(protocol: Protocol, client: Client, sessions: Sequence[PlannedSession]) -> list[Warning_]:
    ages = protocol.eligibility.age if protocol.eligibility else None
    if ages is None or not sessions:
        return []
    if client.birth_date is None:
        return [Warning_(code="KP403", message=(
            f"eligibility not checked: the protocol is for ages {ages} and the client has no birth_date"))]
    first = min(s.start for s in sessions).date()  # sessions carry the client's zone: a local date
    if ages.contains(age_on(client.birth_date, first)):
        return []
    return [Warning_(code="KP403", message=(
        f"the client's age on the first session's date is outside the protocol's eligibility (ages {ages}); "
        "the prescriber decides"))]


def age_on(birth: date, day: date) -> int:
    """Completed years on ``day`` (a 29 February birthday counts from 1 March in common years)."""
    years = day.year - birth.year
    if (day.month, day.day) < (birth.month, birth.day):
        years -= 1
    return years


__all__ = ["SAFETY_CODES", "age_on", "refresh_notes", "safety_notes"]
