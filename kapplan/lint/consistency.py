"""KP2xx: references and consistency inside a protocol.

All are errors (a protocol with one cannot be planned as written) except
KP219 and KP220, which flag leftovers that change nothing. Errors can never
be silenced with ``allow:``.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal

from kapplan.lint.registry import MAX_COUNT, MAX_SESSIONS, MAX_STEPS, Finding, LintContext, all_rules, rule
from kapplan.lint.shape import count_sessions, max_days, min_days
from kapplan.models.values import MINUTES_PER_DAY, Duration, Range

MAX_REMINDER = Duration(365 * MINUTES_PER_DAY, calendar=True)
_KP3 = re.compile(r"KP3\d\d")


def did_you_mean(name: str, choices: list[str], cutoff: float = 0.6) -> str | None:
    match = difflib.get_close_matches(name, choices, n=1, cutoff=cutoff)
    return f"did you mean '{match[0]}'?" if match else None


def _session_hint(name: str, names: list[str]) -> str | None:
    """The closest session id, else the defined ones (a short list)."""
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    return did_you_mean(name, names) or (f"defined sessions: {shown}" if names else None)


@rule("KP201", "error", "a step or follow-up names an unknown session type")
def unknown_session(ctx: LintContext) -> Iterator[Finding]:
    """Every ``session:`` in ``schedule`` and ``followed_by`` must be a key of
    ``sessions``. A typo would otherwise leave a session without a duration,
    kind or dose; the hint names the closest defined session."""
    names = sorted(ctx.protocol.sessions)
    for i, step in enumerate(ctx.protocol.schedule):
        if step.session not in ctx.protocol.sessions:
            yield Finding(("schedule", i, "session"), f"unknown session '{step.session}'",
                          _session_hint(step.session, names))
        for j, follow_up in enumerate(step.followed_by):
            if follow_up.session not in ctx.protocol.sessions:
                yield Finding(("schedule", i, "followed_by", j, "session"),
                              f"unknown session '{follow_up.session}'", _session_hint(follow_up.session, names))


@rule("KP202", "error", "duplicate step id, or two follow-ups of a step with the same id")
def duplicate_ids(ctx: LintContext) -> Iterator[Finding]:
    """Step ids and follow-up ids build the session keys (``medicine-3``,
    ``medicine-3.integration``) that plans, ``mark`` and calendar UIDs rely on,
    so they must be unique: step ids across the schedule, follow-up ids
    within their step. (Two steps sharing a session with no ``id`` at all are
    KP203.)"""
    first_use: dict[str, int] = {}
    schedule = ctx.protocol.schedule
    for i, step in enumerate(schedule):
        earlier = first_use.setdefault(step.key, i)
        if earlier != i and not (step.id is None and schedule[earlier].id is None):
            where = "id" if step.id else "session"
            yield Finding(("schedule", i, where), f"step id '{step.key}' is already used by an earlier step",
                          "give each step a distinct 'id'")
        keys: set[str] = set()
        for j, follow_up in enumerate(step.followed_by):
            if follow_up.key in keys:
                where = "id" if follow_up.id else "session"
                yield Finding(("schedule", i, "followed_by", j, where),
                              f"follow-up id '{follow_up.key}' is used twice in step '{step.key}'",
                              "give each follow-up a distinct 'id'")
            keys.add(follow_up.key)


@rule("KP203", "error", "a session used by several steps without an explicit step id")
def shared_session_without_id(ctx: LintContext) -> Iterator[Finding]:
    """A step's id defaults to its session id, which is only unique while one
    step uses that session. When several do (an induction and a maintenance
    series of the same medicine session), each needs its own ``id`` so the
    session keys stay distinct and readable."""
    users: dict[str, list[int]] = defaultdict(list)
    for i, step in enumerate(ctx.protocol.schedule):
        users[step.session].append(i)
    for session, indexes in users.items():
        if len(indexes) < 2:
            continue
        for i in indexes:
            if ctx.protocol.schedule[i].id is None:
                yield Finding(("schedule", i, "session"),
                              f"session '{session}' is used by {len(indexes)} steps, so each needs an 'id'",
                              "add 'id:' to each of these steps, e.g. 'induction' and 'maintenance'")


@rule("KP204", "error", "'from' names an unknown, a later, or the same step")
def bad_from(ctx: LintContext) -> Iterator[Finding]:
    """``from`` ties a step's ``after`` to an earlier step's last session.
    Steps are placed in file order, so a later step (or the step itself)
    cannot be measured from; an unknown name is most likely a typo."""
    schedule = ctx.protocol.schedule
    for i, step in enumerate(schedule):
        name = step.from_
        if name is None:
            continue
        earlier = [s.key for s in schedule[:i]]
        if name in earlier:
            continue
        loc = ("schedule", i, "from")
        if name == step.key:
            yield Finding(loc, f"step '{step.key}' cannot be measured from itself", "name an earlier step")
        elif any(s.key == name for s in schedule[i + 1:]):
            yield Finding(loc, f"'from' names the later step '{name}'", "name an earlier step, or reorder the steps")
        else:
            yield Finding(loc, f"'from' names an unknown step '{name}'", did_you_mean(name, earlier))


def _range_problem(value: Range, what: str) -> str | None:
    if value.max is not None and value.min.minutes > value.max.minutes:
        return f"{what} minimum {value.min} is greater than its maximum {value.max}"
    if value.target is not None and not value.contains_minutes(value.target.minutes):
        return f"{what} target {value.target} lies outside {value.min}..{value.max or ''}"
    return None


@rule("KP205", "error", "a range whose minimum exceeds its maximum, or whose target lies outside it")
def inverted_range(ctx: LintContext) -> Iterator[Finding]:
    """A ``gap``, ``after`` or ``offset`` of ``3d..1d`` (or a target outside
    its bounds) can never be met. The same holds for a dosing step whose
    ``gap`` maximum is shorter than ``constraints.min_dosing_interval``.
    Compared as written when both bounds share a mode; across modes a
    calendar day counts as 24 h."""
    interval = ctx.protocol.constraints.min_dosing_interval
    for i, step in enumerate(ctx.protocol.schedule):
        for field_name in ("gap", "after"):
            problem = _range_problem(getattr(step, field_name), field_name)
            if problem:
                yield Finding(("schedule", i, field_name), problem)
        for j, follow_up in enumerate(step.followed_by):
            problem = _range_problem(follow_up.offset, "offset")
            if problem:
                yield Finding(("schedule", i, "followed_by", j, "offset"), problem)
        gap_max = step.gap.max
        if (interval and gap_max is not None and step.count > 1 and ctx.kind_of(step.session) == "dosing"
                and min_days(interval) > max_days(gap_max)):
            yield Finding(("schedule", i, "gap"),
                          f"gap allows at most {gap_max} between doses, but min_dosing_interval needs {interval}")


@rule("KP206", "error", "observation longer than the session")
def observation_exceeds_duration(ctx: LintContext) -> Iterator[Finding]:
    """The monitored time after dosing happens inside the session's booked
    time; an ``observation`` longer than ``duration`` would end the calendar
    block while the client still needs monitoring."""
    for name, session_type in ctx.protocol.sessions.items():
        observation = session_type.observation
        if observation is not None and observation.minutes > session_type.duration.minutes:
            yield Finding(("sessions", name, "observation"),
                          f"observation {observation} is longer than the session's duration {session_type.duration}",
                          "lengthen 'duration' to cover the observation")


@rule("KP207", "error", "per_week cannot be met with the step's gap")
def per_week_against_gap(ctx: LintContext) -> Iterator[Finding]:
    """``per_week: N`` asks for exactly N occurrences in each 7-day block that
    starts on the step's first occurrence. The first block holds N sessions
    spaced by at least the gap minimum, so ``(N-1) × gap.min`` must fit in 6
    days (a gap of 7d or more allows only 1 per week). When the series runs
    past one block, the next block's first session (day 7 or later) must be
    reachable from the block's last one: its latest day,
    ``min(6, (N-1) × gap.max)``, plus ``gap.max`` must reach day 7 (so
    ``per_week: 1`` needs a gap maximum of at least 7d, and ``per_week: 2`` of
    at least 4d). Dosing steps use at least one day, and at least
    ``min_dosing_interval``, as the gap minimum. Bounds in h/min count as
    their whole days, rounded in the direction that allows the most."""
    interval = ctx.protocol.constraints.min_dosing_interval
    for i, step in enumerate(ctx.protocol.schedule):
        per_week = step.per_week
        if per_week is None:
            continue
        low = min_days(step.gap.min)
        if ctx.kind_of(step.session) == "dosing":
            low = max(low, 1, min_days(interval) if interval else 0)
        first_week = min(per_week, step.count)
        if (first_week - 1) * low > 6:
            yield Finding(("schedule", i, "per_week"),
                          f"per_week {per_week} needs {first_week} sessions within 7 days, but the gap keeps "
                          f"them at least {low} days apart", "lower 'per_week' or the gap minimum")
            continue
        gap_max = step.gap.max
        if step.count > per_week and gap_max is not None:
            high = max_days(gap_max)
            last_in_week = min(6, (per_week - 1) * high)
            if last_in_week + high < 7:
                yield Finding(("schedule", i, "per_week"),
                              f"per_week {per_week} cannot reach the next treatment week: the gap allows at "
                              f"most {gap_max}", f"raise the gap maximum to at least {7 - last_in_week}d")


@rule("KP208", "error", "'within' or 'max_span' shorter than the earliest possible series")
def span_too_short(ctx: LintContext) -> Iterator[Finding]:
    """Even at its earliest shape (every gap, after and offset at its minimum,
    per_week blocks respected, availability ignored) the step's occurrences,
    or the whole series, take a number of days; a ``within`` or
    ``constraints.max_span`` shorter than that can never be met."""
    graph = ctx.graph
    if graph is None:
        return
    for i, step in enumerate(ctx.protocol.schedule):
        if step.within is None or step.count < 2:
            continue
        occurrences = graph.steps[i].occurrences
        inside = set(occurrences) | {n for fus in graph.steps[i].follow_ups.values() for n in fus}
        outside = set(range(len(graph.sessions))) - inside
        days = graph.longest_from(occurrences[0], stop=outside.__contains__)
        need = days[occurrences[-1]]
        if need > max_days(step.within):
            yield Finding(("schedule", i, "within"),
                          f"within {step.within} is too short: the {step.count} occurrences need at least "
                          f"{need} days from first to last")
    max_span = ctx.protocol.constraints.max_span
    if max_span is not None:
        need = max(graph.longest_from(0).values())
        if need > max_days(max_span):
            yield Finding(("constraints", "max_span"),
                          f"max_span {max_span} is too short: the series needs at least {need} days "
                          "from first to last session")


@rule("KP209", "error", "a dosing session type without 'dose'")
def dosing_without_dose(ctx: LintContext) -> Iterator[Finding]:
    """Every dosing session needs a dose rule, even if only
    ``by_prescriber: true``, so plans never show a dosing session without
    saying how its amount is set."""
    for name, session_type in ctx.dosing_sessions():
        if session_type.dose is None:
            yield Finding(("sessions", name), f"dosing session '{name}' has no 'dose'",
                          "add dose: {medication, route, per_kg | fixed | by_prescriber: true}", key=True)


@rule("KP210", "error", "'dose' or 'observation' on a session type that is not dosing")
def dose_outside_dosing(ctx: LintContext) -> Iterator[Finding]:
    """A dose on a preparation or integration session would be planned and
    exported as if medicine were given there; it is most likely a wrong
    ``kind``."""
    for name, session_type in ctx.protocol.sessions.items():
        if session_type.kind == "dosing":
            continue
        for field_name in ("dose", "observation"):
            if getattr(session_type, field_name) is not None:
                yield Finding(("sessions", name, field_name),
                              f"'{field_name}' belongs to dosing sessions, but '{name}' is {session_type.kind}",
                              "set kind: dosing, or remove it")


@rule("KP211", "error", "a dose without exactly one of per_kg, fixed, by_prescriber")
def dose_basis(ctx: LintContext) -> Iterator[Finding]:
    """The planned dose is computed from exactly one basis: a per-kg amount,
    a fixed amount, or none at all (``by_prescriber: true``). Two bases would
    make the planned amount ambiguous; none leaves nothing to show."""
    for name, session_type in ctx.dosing_sessions():
        dose = session_type.dose
        if dose is None:
            continue
        given = [k for k in ("per_kg", "fixed") if getattr(dose, k) is not None]
        given += ["by_prescriber"] if dose.by_prescriber else []
        if len(given) != 1:
            message = ("dose needs one of per_kg, fixed or by_prescriber: true" if not given
                       else f"dose gives {' and '.join(given)}; use exactly one")
            yield Finding(("sessions", name, "dose"), message)


@rule("KP212", "error", "a dose amount in the wrong unit")
def dose_units(ctx: LintContext) -> Iterator[Finding]:
    """``per_kg`` is in mg/kg; ``fixed``, ``round_to`` and ``max`` are in mg.
    Mixing them up would multiply a total dose by body weight, or cap a dose
    at a per-kg figure."""
    expected = {"per_kg": "mg/kg", "fixed": "mg", "round_to": "mg", "max": "mg"}
    for name, session_type in ctx.protocol.sessions.items():
        dose = session_type.dose
        if dose is None:
            continue
        for field_name, unit in expected.items():
            amount = getattr(dose, field_name)
            if amount is not None and amount.unit != unit:
                yield Finding(("sessions", name, "dose", field_name), f"'{field_name}' must be in {unit}",
                              f"write e.g. '{amount.amount.normalize():f} {unit}'")


@rule("KP213", "error", "a dose amount or titrate value that is not positive")
def dose_not_positive(ctx: LintContext) -> Iterator[Finding]:
    """Zero or negative amounts, rounding steps, caps and titration values
    cannot describe a planned dose (a ``round_to`` of 0 mg cannot round)."""
    for name, session_type in ctx.protocol.sessions.items():
        dose = session_type.dose
        if dose is None:
            continue
        for field_name in ("per_kg", "fixed", "round_to", "max"):
            amount = getattr(dose, field_name)
            if amount is not None and amount.amount <= 0:
                yield Finding(("sessions", name, "dose", field_name), f"'{field_name}' must be more than 0")
        for k, value in enumerate(dose.titrate or []):
            if value <= Decimal(0):
                yield Finding(("sessions", name, "dose", "titrate", k), "titrate values must be more than 0")


@rule("KP214", "error", "titrate on a dose set by the prescriber")
def titrate_without_amount(ctx: LintContext) -> Iterator[Finding]:
    """``titrate`` lists per-occurrence amounts in the unit of ``per_kg`` or
    ``fixed``; with ``by_prescriber: true`` there is no unit and no amount to
    titrate, so the list would be silently ignored."""
    for name, session_type in ctx.protocol.sessions.items():
        dose = session_type.dose
        if dose is not None and dose.by_prescriber and dose.titrate:
            yield Finding(("sessions", name, "dose", "titrate"), "titrate has no effect with by_prescriber: true",
                          "remove 'titrate', or give per_kg or fixed instead")


@rule("KP215", "error", "'on' names an occurrence the step does not have")
def on_outside_count(ctx: LintContext) -> Iterator[Finding]:
    """``followed_by[].on`` lists occurrence numbers of the step, 1 to
    ``count``; a number outside would attach a follow-up to nothing."""
    for i, step in enumerate(ctx.protocol.schedule):
        for j, follow_up in enumerate(step.followed_by):
            for k, number in enumerate(follow_up.on or []):
                if not 1 <= number <= step.count:
                    yield Finding(("schedule", i, "followed_by", j, "on", k),
                                  f"occurrence {number} does not exist: step '{step.key}' has {step.count}",
                                  f"use numbers from 1 to {step.count}")


@rule("KP216", "error", "more than the input caps (count 100, 50 steps, 500 sessions)")
def input_caps(ctx: LintContext) -> Iterator[Finding]:
    """The planner answers within a second because its inputs are bounded:
    a step's ``count`` is at most 100, the schedule has at most 50 steps, and
    the series at most 500 sessions in all, follow-ups included. No real
    treatment series comes near these numbers."""
    schedule = ctx.protocol.schedule
    for i, step in enumerate(schedule):
        if step.count > MAX_COUNT:
            yield Finding(("schedule", i, "count"), f"count {step.count} is more than {MAX_COUNT}")
    if len(schedule) > MAX_STEPS:
        yield Finding(("schedule",), f"the schedule has {len(schedule)} steps, more than {MAX_STEPS}", key=True)
    total = count_sessions(ctx.protocol)
    if total > MAX_SESSIONS:
        yield Finding(("schedule",), f"the series has {total} sessions in all, more than {MAX_SESSIONS}", key=True)


@rule("KP217", "error", "a reminder more than 365 days before its session")
def reminder_too_early(ctx: LintContext) -> Iterator[Finding]:
    """Calendar alarms a year or more ahead are almost certainly a unit
    mistake (``before: 400d`` for ``4h``) and are dropped by some clients."""
    for name, session_type in ctx.protocol.sessions.items():
        for k, reminder in enumerate(session_type.reminders):
            if reminder.before.minutes > MAX_REMINDER.minutes:
                yield Finding(("sessions", name, "reminders", k, "before"),
                              f"reminder {reminder.before} before the session is more than 365 days")


@rule("KP218", "error", "'allow' lists a code that cannot be silenced")
def allow_unsilenceable(ctx: LintContext) -> Iterator[Finding]:
    """``allow:`` exists for protocols that deliberately depart from a
    clinical-safety warning (KP3xx), e.g. a label-only series without
    preparation. Errors (KP1xx, KP2xx, KP305) can never be silenced, and
    anything that is not a KP3xx code cannot be a safety warning; listing
    one suggests the author believes a problem is handled when it is not."""
    rules = all_rules()
    silenceable = [code for code, entry in rules.items() if entry.silenceable]
    for k, code in enumerate(ctx.protocol.allow):
        known = rules.get(code)
        if known is not None and not known.silenceable:
            yield Finding(("allow", k), f"{code} cannot be silenced: only KP3xx warnings can be allowed")
        elif known is None and not _KP3.fullmatch(code):
            yield Finding(("allow", k), f"'{code}' is not a KP3xx warning code",
                          did_you_mean(code.upper(), silenceable, cutoff=0.8) or "see 'kapplan rules'")


@rule("KP219", "warning", "'allow' lists an unknown KP3xx code")
def allow_unknown(ctx: LintContext) -> Iterator[Finding]:
    """A KP3xx code that no rule has is probably a typo, so the warning it
    meant to silence still shows. It is only a warning so that a protocol
    written for a newer kapplan, with newer KP3xx rules, still validates."""
    rules = all_rules()
    silenceable = [code for code, entry in rules.items() if entry.silenceable]
    for k, code in enumerate(ctx.protocol.allow):
        if code not in rules and _KP3.fullmatch(code):
            yield Finding(("allow", k), f"unknown rule code '{code}'",
                          did_you_mean(code, silenceable, cutoff=0.8) or "see 'kapplan rules'")


@rule("KP220", "warning", "a session type that no step uses", whole=True)
def unused_session(ctx: LintContext) -> Iterator[Finding]:
    """A session type that no step or follow-up (of the schedule or of a
    branch) places is never planned: a leftover, or a step that was meant to
    use it names another session."""
    steps = [*ctx.whole.schedule, *ctx.whole.branches.values()]
    used = {s.session for s in steps}
    used |= {f.session for s in steps for f in s.followed_by}
    for name in ctx.protocol.sessions:
        if name not in used:
            yield Finding(("sessions", name), f"session '{name}' is never scheduled", key=True)


@rule("KP221", "error", "a session type that can never be placed in a day")
def unplaceable_session(ctx: LintContext) -> Iterator[Finding]:
    """A session lies inside one availability window, and windows never run
    past midnight. So a session of zero length or longer than 24 h, one whose earliest allowed
    start (``time``) plus its duration passes 24:00, or one with an empty
    ``days`` list can never be placed for any client."""
    for name, session_type in ctx.protocol.sessions.items():
        minutes = session_type.duration.minutes
        if minutes > MINUTES_PER_DAY:
            yield Finding(("sessions", name, "duration"), f"duration {session_type.duration} is longer than a day")
        elif minutes == 0:
            yield Finding(("sessions", name, "duration"), "duration must be longer than 0")
        elif session_type.time is not None:
            start = session_type.time.start
            if start.hour * 60 + start.minute + minutes > MINUTES_PER_DAY:
                yield Finding(("sessions", name, "time"),
                              f"a {session_type.duration} session starting at {start:%H:%M} or later "
                              "would run past midnight")
        if session_type.days == []:
            yield Finding(("sessions", name, "days"), "'days' is empty, so no weekday is allowed")

