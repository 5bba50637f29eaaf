"""KP3xx: clinical safety (SPEC §7).

Warnings flag a protocol that departs from common practice and can be
silenced with ``allow:`` when the departure is deliberate; KP305 is an error
because it breaks the esketamine label's REMS minimum. The timing rules
reason about what *could* happen, conservatively: KP302 only counts an
integration that is certain to fall within 7 days, KP303 warns whenever two
dosing sessions are not certain to be at least two calendar days apart.
"""

from __future__ import annotations

from collections.abc import Iterator

from kapplan.lint.registry import Finding, LintContext, rule
from kapplan.lint.shape import SessionGraph, anchor_step, max_days, min_days, steps_before
from kapplan.models.protocol import Duration, SessionType, Step
from kapplan.models.sensitive import mentions_medication_or_dose

INTEGRATION_WITHIN_DAYS = 7
REMS_OBSERVATION_MINUTES = 120
MAX_PER_KG = 1


def _places_kind(ctx: LintContext, step: Step, kind: str) -> bool:
    """The step places a session of ``kind``, itself or as a follow-up."""
    if ctx.kind_of(step.session) == kind:
        return True
    return any(ctx.kind_of(f.session) == kind and (f.on is None or any(n <= step.count for n in f.on))
               for f in step.followed_by)


@rule("KP301", "warning", "a dosing step not preceded by any preparation session")
def dosing_without_preparation(ctx: LintContext) -> Iterator[Finding]:
    """Ketamine-assisted psychotherapy prepares the client before the first
    medicine session (intention, set and setting, what to expect). A
    preparation counts when it is certain to come first: placed by an
    earlier step (or its follow-ups) that the dosing step waits for, i.e.
    every earlier step without ``from``, only the named step and its own
    predecessors with ``from``. Label-only or trial series without
    psychotherapy list KP301 in ``allow:``."""
    for i, step in enumerate(ctx.protocol.schedule):
        if ctx.kind_of(step.session) != "dosing":
            continue
        before = steps_before(ctx.protocol, i)
        if not any(_places_kind(ctx, ctx.protocol.schedule[j], "preparation") for j in before):
            yield Finding(("schedule", i, "session"),
                          f"dosing step '{step.key}' is not preceded by any preparation session",
                          "add a preparation step before it, or allow KP301 for a label-only or trial series")


def _later_integration_days(ctx: LintContext, index: int) -> int | None:
    """Days after the step's last occurrence by which a later integration step
    tied to it (its ``from``, or the next step) must start; None if none is."""
    step = ctx.protocol.schedule[index]
    tail = [f for f in step.followed_by if f.applies_to(step.count)]
    if any(f.offset.max is None for f in tail):
        return None
    latest = max((max_days(f.offset.max) for f in tail if f.offset.max is not None), default=0)
    bounds = [
        latest + max_days(later.after.max)
        for t, later in enumerate(ctx.protocol.schedule)
        if t > index and later.after.max is not None and anchor_step(ctx.protocol, t) == index
        and ctx.kind_of(later.session) == "integration"
    ]
    return min(bounds, default=None)


def _no_integration(step: Step, missing: list[int]) -> str:
    tail = "integration session within 7 days after"
    if step.count == 1:
        return f"dosing step '{step.key}' has no {tail} it"
    if len(missing) == step.count:
        return f"no occurrence of dosing step '{step.key}' has an {tail} it"
    if len(missing) == 1:
        return f"occurrence {missing[0]} of dosing step '{step.key}' has no {tail} it"
    return f"occurrences {', '.join(map(str, missing))} of dosing step '{step.key}' have no {tail} them"


@rule("KP302", "warning", "a dosing occurrence with no integration session within 7 days after it")
def dosing_without_integration(ctx: LintContext) -> Iterator[Finding]:
    """Integration, soon after each medicine session, is where KAP makes
    sense of the experience (practice: 1-3 days after IM/IV, up to 7 after
    oral dosing). An occurrence counts as integrated only when an integration
    session is certain to start within 7 calendar days after it: a
    ``followed_by`` integration applying to that occurrence whose ``offset``
    maximum is at most 7d, or, for the last occurrence, a later integration
    step measured from this step (via ``from``, or as the next step) whose
    ``after`` maximum, plus the latest follow-up of that last occurrence,
    is at most 7d. Bounds in h/min count as whole days rounded up."""
    if not ctx.within_caps:
        return
    for i, step in enumerate(ctx.protocol.schedule):
        if ctx.kind_of(step.session) != "dosing":
            continue
        later = _later_integration_days(ctx, i)
        missing = []
        for n in range(1, step.count + 1):
            direct = any(
                ctx.kind_of(f.session) == "integration" and f.applies_to(n) and f.offset.max is not None
                and max_days(f.offset.max) <= INTEGRATION_WITHIN_DAYS
                for f in step.followed_by
            )
            tied = n == step.count and later is not None and later <= INTEGRATION_WITHIN_DAYS
            if not (direct or tied):
                missing.append(n)
        if missing:
            yield Finding(("schedule", i, "session"), _no_integration(step, missing),
                          "add followed_by: [{session: <integration>, offset: 1d..3d}]")


def _close_pairs(graph: SessionGraph) -> Iterator[tuple[int, int]]:
    """Dosing pairs (X, Y) where every chain of rules forcing Y after X adds up
    to fewer than 2 days. One pass in placement order with two bit sets per
    session: the dosing sessions at most 1 day before it on every path
    (``near``) and those 2 or more days before it on some path (``far``)."""
    size = len(graph.sessions)
    near, far = [0] * size, [0] * size
    for node in range(size):
        near[node] &= ~far[node]
        own = 0
        if graph.is_dosing(node):
            pending = near[node]
            while pending:
                lowest = pending & -pending
                yield lowest.bit_length() - 1, node
                pending ^= lowest
            own = 1 << node
        for later, days in graph.successors[node]:
            if days >= 2:
                far[later] |= own | near[node] | far[node]
            elif days == 1:
                near[later] |= own
                far[later] |= near[node] | far[node]
            else:
                near[later] |= own | near[node]
                far[later] |= far[node]


def _adjacent_dosing(graph: SessionGraph, ctx: LintContext) -> Iterator[tuple[int, int]]:
    """Pairs of dosing sessions not certain to be two calendar days apart."""
    yield from _close_pairs(graph)
    dosing = [n for n in range(len(graph.sessions)) if graph.is_dosing(n)]
    for node in dosing:  # two dosing follow-ups of one occurrence are not ordered
        session = graph.sessions[node]
        if session.follows is not None:
            siblings = [n for n in dosing if n < node and graph.sessions[n].follows == session.follows]
            yield from ((s, node) for s in siblings)
    for t in range(len(ctx.protocol.schedule)):  # steps that may interleave
        for s in sorted(set(range(t)) - steps_before(ctx.protocol, t)):
            first = next((n for n in dosing if graph.sessions[n].step_index == s), None)
            second = next((n for n in dosing if graph.sessions[n].step_index == t), None)
            if first is not None and second is not None:
                yield first, second


@rule("KP303", "warning", "dosing sessions could fall on consecutive days")
def dosing_on_consecutive_days(ctx: LintContext) -> Iterator[Finding]:
    """Ketamine is not taken daily: published series space doses at least a
    day apart (two or three a week at most). kapplan warns whenever two
    dosing sessions are not certain to fall at least two calendar days
    apart: a dosing step's gap minimum under 2d (or 48h), a dosing follow-up
    or a later dosing step that may come the next day, or dosing steps that
    may interleave through ``from``. ``constraints.min_dosing_interval`` of
    2d or 48h or more settles it for the whole protocol."""
    interval = ctx.protocol.constraints.min_dosing_interval
    graph = ctx.graph
    if graph is None or (interval is not None and min_days(interval) >= 2):
        return
    reported: set[int] = set()
    for first, second in _adjacent_dosing(graph, ctx):
        later = graph.sessions[second]
        if later.step_index in reported:
            continue
        reported.add(later.step_index)
        yield Finding(_spacing_loc(graph, second),
                      f"dosing sessions {graph.sessions[first].key} and {later.key} could fall on consecutive days",
                      "raise the gap minimum to 2d, or add constraints: {min_dosing_interval: 48h}")


def _spacing_loc(graph: SessionGraph, node: int) -> tuple[str | int, ...]:
    """The field that lets ``node`` come too soon: gap, offset or after."""
    session = graph.sessions[node]
    i = session.step_index
    if session.follow_up is not None:
        return ("schedule", i, "followed_by", session.follow_up, "offset")
    return ("schedule", i, "gap" if session.occurrence > 1 else "after")


@rule("KP304", "warning", "a dosing session type without 'observation'")
def dosing_without_observation(ctx: LintContext) -> Iterator[Finding]:
    """Every ketamine protocol monitors the client after dosing (the
    esketamine label requires at least 2 h). Declaring ``observation`` makes
    that time part of the protocol, checked against the session's duration.
    (Intranasal esketamine without it is KP305.)"""
    for name, session_type in ctx.dosing_sessions():
        if session_type.observation is None and not _intranasal_esketamine(session_type):
            yield Finding(("sessions", name), f"dosing session '{name}' declares no 'observation'",
                          "add e.g. 'observation: 2h'", key=True)


def _intranasal_esketamine(session_type: SessionType) -> bool:
    dose = session_type.dose
    return dose is not None and dose.medication == "esketamine" and dose.route == "IN"


@rule("KP305", "error", "intranasal esketamine with observation under 2 h")
def esketamine_observation(ctx: LintContext) -> Iterator[Finding]:
    """The esketamine nasal spray label and its REMS require at least 2 hours
    of observation after dosing, until the patient is clinically stable. A
    protocol that declares less, or none, breaks the label, so this is an
    error that ``allow:`` cannot silence."""
    for name, session_type in ctx.dosing_sessions():
        if not _intranasal_esketamine(session_type):
            continue
        observation = session_type.observation
        if observation is None:
            yield Finding(("sessions", name), "intranasal esketamine needs 'observation' of at least 2h (REMS)",
                          "add 'observation: 2h'", key=True)
        elif observation.minutes < REMS_OBSERVATION_MINUTES:
            yield Finding(("sessions", name, "observation"),
                          f"intranasal esketamine needs at least 2h of observation (REMS), not {observation}")


@rule("KP306", "warning", "a per-kg dose above 1 mg/kg")
def per_kg_above_one(ctx: LintContext) -> Iterator[Finding]:
    """Sub-anaesthetic psychiatric dosing is usually 0.5-1 mg/kg; higher
    per-kg amounts (including a titration step above 1 mg/kg) exist in some
    KAP and addiction studies, but deserve a second look, whatever the
    route."""
    for name, session_type in ctx.dosing_sessions():
        dose = session_type.dose
        if dose is None or dose.per_kg is None or dose.per_kg.unit != "mg/kg":
            continue
        if dose.per_kg.amount > MAX_PER_KG:
            yield Finding(("sessions", name, "dose", "per_kg"), f"per_kg {dose.per_kg} is above 1 mg/kg")
        for k, value in enumerate(dose.titrate or []):
            if value > MAX_PER_KG:
                yield Finding(("sessions", name, "dose", "titrate", k),
                              f"titrate step {value.normalize():f} mg/kg is above 1 mg/kg")


@rule("KP307", "warning", "a per-kg dose without an absolute 'max' cap")
def per_kg_without_cap(ctx: LintContext) -> Iterator[Finding]:
    """A per-kg rule scales with body weight, so a heavy client (or a weight
    entered in the wrong unit) gets a large planned dose. An absolute ``max``
    in mg bounds it, as published protocols do (e.g. 1 mg/kg, max 60 mg)."""
    for name, session_type in ctx.dosing_sessions():
        dose = session_type.dose
        if dose is not None and dose.per_kg is not None and dose.max is None:
            yield Finding(("sessions", name, "dose"), "per-kg dose has no absolute 'max'", "add e.g. 'max: 100 mg'")


@rule("KP308", "warning", "instructions, notes or a reminder name a medication or a dose")
def sensitive_free_text(ctx: LintContext) -> Iterator[Finding]:
    """Calendars are synced to phones and cloud accounts, so below
    ``--privacy full`` kapplan withholds free text (instructions, notes,
    reminder texts) that names a medication (ketamine, esketamine,
    arketamine, Ketalar, Spravato, Ketanest, Vesierra) or a dose (``56 mg``,
    ``mg/kg``) and shows "Details from your care team." instead. Phrase
    safety reminders such as fasting without those terms so they reach the
    client."""
    for name, session_type in ctx.protocol.sessions.items():
        texts: list[tuple[tuple[str | int, ...], str | None]] = [
            (("instructions",), session_type.instructions),
            (("notes",), session_type.notes),
        ]
        texts += [(("reminders", k, "text"), r.text) for k, r in enumerate(session_type.reminders)]
        for path, text in texts:
            if text and mentions_medication_or_dose(text):
                yield Finding(("sessions", name, *path),
                              f"'{path[-1]}' names a medication or a dose, so calendars below --privacy full "
                              "will withhold it", "rephrase without medication names or amounts")


def _day_bounds(low: Duration, high: Duration | None) -> tuple[int, int | None]:
    """Calendar days a range's bounds can span (h/min bounds rounded outward)."""
    return min_days(low), (None if high is None else max_days(high))


@rule("KP309", "warning", "a follow-up can fall on the date of the next dosing session")
def followup_on_next_dosing_day(ctx: LintContext) -> Iterator[Finding]:
    """An integration or check-in squeezed in before the next dose, on the same
    day, crowds a day that should belong to the medicine session (setting,
    fasting, rest). kapplan warns when a follow-up of one occurrence of a
    dosing step can fall on the local date of the step's next occurrence: its
    ``offset`` range and the step's ``gap`` (raised to
    ``min_dosing_interval``) share a day count. Preparation follow-ups are
    left out, since a same-day preparation call before dosing is a model of
    its own (Mindbloom). ``constraints: {dosing_day: alone}`` settles it; or
    narrow the offset so the follow-up comes at least a day before."""
    constraints = ctx.protocol.constraints
    if constraints.dosing_day == "alone" or not ctx.within_caps:
        return
    for i, step in enumerate(ctx.protocol.schedule):
        if ctx.kind_of(step.session) != "dosing" or step.count < 2:
            continue
        gap_low, gap_high = _day_bounds(step.gap.min, step.gap.max)
        if constraints.min_dosing_interval is not None:
            gap_low = max(gap_low, min_days(constraints.min_dosing_interval))
        for k, follow in enumerate(step.followed_by):
            if ctx.kind_of(follow.session) in (None, "preparation"):
                continue
            if not any(follow.applies_to(n) for n in range(1, step.count)):
                continue
            low, high = _day_bounds(follow.offset.min, follow.offset.max)
            if (gap_high is None or low <= gap_high) and (high is None or gap_low <= high):
                spacing = f"{follow.offset.as_written()} after it; gap {step.gap.as_written()}"
                yield Finding(("schedule", i, "followed_by", k, "offset"),
                              f"follow-up '{follow.key}' of '{step.key}' can fall on the date of the next "
                              f"'{step.key}' session ({spacing})",
                              "end the offset a day before the gap's minimum, or add constraints: {dosing_day: alone}")
