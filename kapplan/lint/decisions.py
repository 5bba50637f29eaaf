"""KP23x: decision points, branches, gates and measures (SPEC §13).

The rules here read the keys §13 adds. Every other rule (KP2xx, KP3xx) runs
on each complete branch path as a series of its own (registry.lint), so a
branch that breaks ``min_dosing_interval`` or leaves a dose without
integration is reported where the branch step is written.
"""

from __future__ import annotations

from collections.abc import Iterator

from kapplan.lint.consistency import did_you_mean
from kapplan.lint.registry import Finding, LintContext, rule
from kapplan.models.branches import MAX_PATHS, TooManyPaths, branch_cycle, every_path
from kapplan.models.protocol import Protocol, Step
from kapplan.models.values import LOCAL_ID

Located = tuple[tuple[str | int, ...], Step]


def _written_steps(protocol: Protocol) -> Iterator[Located]:
    """Every step as written, with its path in the file: schedule, then branches."""
    for i, step in enumerate(protocol.schedule):
        yield ("schedule", i), step
    for key in protocol.branches:
        yield ("branches", key), protocol.branch_step(key)


def _step_keys(protocol: Protocol) -> list[str]:
    return [step.key for _, step in _written_steps(protocol)]


@rule("KP230", "error", "a decision option names an unknown branch step", whole=True)
def unknown_branch_step(ctx: LintContext) -> Iterator[Finding]:
    """Each option of a ``decision`` lists the steps to place when it is
    chosen, by their keys under ``branches:`` (an empty list, such as
    ``stop: []``, places nothing). A name that is not a branch would silently
    drop the continuation the option stands for."""
    names = sorted(ctx.whole.branches)
    for where, step in _written_steps(ctx.whole):
        if step.decision is None:
            continue
        for option, steps in step.decision.options.items():
            for k, name in enumerate(steps):
                if name not in ctx.whole.branches:
                    scheduled = any(s.key == name for s in ctx.whole.schedule)
                    hint = ("a decision places steps defined under 'branches:', not schedule steps" if scheduled
                            else did_you_mean(name, names) or "define it under 'branches:'")
                    yield Finding((*where, "decision", "options", option, k),
                                  f"option '{option}' names an unknown branch step '{name}'", hint)


@rule("KP231", "warning", "a branch step that no decision option names", whole=True)
def unreachable_branch(ctx: LintContext) -> Iterator[Finding]:
    """A step under ``branches:`` is placed only when a decision option that
    names it is chosen; one that no option names is never planned: a
    leftover, or an option that was meant to name it names another."""
    named = {name for _, step in _written_steps(ctx.whole) if step.decision
             for steps in step.decision.options.values() for name in steps}
    for key in ctx.whole.branches:
        if key not in named:
            yield Finding(("branches", key), f"branch step '{key}' is never reached: no decision option names it",
                          key=True)


@rule("KP232", "error", "a decision on a step with count > 1", whole=True)
def decision_on_repeated_step(ctx: LintContext) -> Iterator[Finding]:
    """A decision is made after one session (a response review) and its
    plan entry is keyed by that session (``<step>-1``); on a step with
    several occurrences it would be unclear after which one the choice falls.
    Put the decision on a one-session review step after the series."""
    for where, step in _written_steps(ctx.whole):
        if step.decision is not None and step.count > 1:
            yield Finding((*where, "decision"), f"step '{step.key}' has {step.count} sessions; a decision "
                          "needs a step with count 1", "add a one-session review step carrying the decision", key=True)


@rule("KP233", "error", "branches that loop, a branch placed twice on one path, or too many branch paths",
      whole=True)
def branch_structure(ctx: LintContext) -> Iterator[Finding]:
    """Following the decisions must give a finite number of finite series:
    a branch whose own decision leads back to it would never end, a branch
    step reached twice on one path would need one session key twice, and
    every complete path (each decision taken every way) is checked as a
    series of its own, so there may be at most 64 of them. A branch step's
    id is its key under ``branches:``; a different ``id`` is refused."""
    whole = ctx.whole
    for key, step in whole.branches.items():
        if step.id is not None and step.id != key:
            yield Finding(("branches", key, "id"), f"branch step '{key}' has id '{step.id}'; its id is its key",
                          "remove 'id', or rename the branch key")
    loop = branch_cycle(whole)
    if loop is not None:
        yield Finding(("branches", loop[0]), f"branches loop: {' -> '.join(loop)}", key=True)
        return
    if not whole.has_decisions:
        return
    try:
        paths = every_path(whole)
    except TooManyPaths:
        yield Finding(("schedule",), f"the decisions give more than {MAX_PATHS} branch paths", key=True)
        return
    reported: set[str] = set()
    for path in paths:
        for key in path.repeats:
            if key not in reported:
                reported.add(key)
                yield Finding(("branches", key), f"branch step '{key}' is placed twice on one path", key=True)


@rule("KP234", "error", "'requires' names an unknown, the same, or a later step, or a 'from' past count")
def bad_gate(ctx: LintContext) -> Iterator[Finding]:
    """A gate (``requires: [{step, from}]``) holds a step's occurrences from
    ``from`` on until the named step's last occurrence is marked done (a
    prescription renewal before further doses). The named step must be placed
    before the gated one on every branch path, so the plan can put the gated
    sessions after it; ``from`` must be an occurrence the step has."""
    steps = ctx.protocol.schedule
    for i, step in enumerate(steps):
        for k, gate in enumerate(step.requires):
            loc = ("schedule", i, "requires", k)
            earlier = [s.key for s in steps[:i]]
            if gate.from_ > step.count:
                yield Finding((*loc, "from"), f"occurrence {gate.from_} does not exist: step '{step.key}' has "
                              f"{step.count}", f"use a number from 1 to {step.count}")
            if gate.step in earlier:
                continue
            if gate.step == step.key:
                yield Finding((*loc, "step"), f"step '{step.key}' cannot wait for itself", "name an earlier step")
            elif any(s.key == gate.step for s in steps[i + 1:]):
                yield Finding((*loc, "step"), f"'requires' names the later step '{gate.step}'",
                              "move that step before this one (with 'from:' to keep its timing)")
            elif gate.step in _step_keys(ctx.whole):
                yield Finding((*loc, "step"), f"'requires' names '{gate.step}', which is not placed before "
                              f"'{step.key}' on every branch path")
            else:
                yield Finding((*loc, "step"), f"'requires' names an unknown step '{gate.step}'",
                              did_you_mean(gate.step, earlier))


@rule("KP235", "error", "a measure's from, until or at names no step", whole=True)
def measure_unknown_step(ctx: LintContext) -> Iterator[Finding]:
    """A measure's ``from`` and ``until`` (its first and last due dates) and
    ``at`` (due on the day of each session of those steps) name step ids of
    the schedule or of ``branches:``; an unknown name would silently move a
    questionnaire to the series start or end, or drop it."""
    keys = _step_keys(ctx.whole)
    for i, measure in enumerate(ctx.whole.measures):
        for field_name in ("from", "until"):
            name = measure.from_ if field_name == "from" else measure.until
            if name is not None and name not in keys:
                yield Finding(("measures", i, field_name), f"'{field_name}' names an unknown step '{name}'",
                              did_you_mean(name, keys))
        for k, name in enumerate(measure.at or []):
            if name not in keys:
                yield Finding(("measures", i, "at", k), f"'at' names an unknown step '{name}'",
                              did_you_mean(name, keys))


@rule("KP236", "error", "task keys that collide with session keys or with each other", whole=True)
def task_keys(ctx: LintContext) -> Iterator[Finding]:
    """Tasks are keyed ``<measure-id>-<n>`` and share one name space with
    session keys (``mark`` takes both): a measure id equal to a step id, or
    two measures with the same id, would give two things one key. The id
    defaults to the instrument lower-cased, which must then be an identifier
    (``PHQ-9`` gives ``phq-9``); otherwise give ``id``."""
    steps = set(_step_keys(ctx.whole))
    seen: set[str] = set()
    for i, measure in enumerate(ctx.whole.measures):
        key = measure.key
        where = ("measures", i, "id" if measure.id is not None else "instrument")
        if not LOCAL_ID.fullmatch(key):
            yield Finding(where, f"task key '{key}' is not an identifier (a-z, 0-9 and '-')",
                          "give the measure an 'id', e.g. 'phq9'")
            continue
        if key in steps:
            yield Finding(where, f"measure id '{key}' is also a step id, so their keys would collide",
                          "give the measure another 'id'")
        elif key in seen:
            yield Finding(where, f"measure id '{key}' is used twice", "give each measure a distinct 'id'")
        seen.add(key)


@rule("KP237", "error", "a measure without exactly one of every / at, or not in whole days", whole=True)
def measure_timing(ctx: LintContext) -> Iterator[Finding]:
    """A measure is due either ``every`` so many days or ``at`` the sessions of
    some steps, never both and never neither. Due dates are dates, so
    ``every`` (at least 1d) and ``window`` are written in days or weeks."""
    for i, measure in enumerate(ctx.whole.measures):
        if (measure.every is None) == (measure.at is None):
            yield Finding(("measures", i), "a measure needs exactly one of 'every' or 'at'",
                          "e.g. 'every: 7d', or 'at: [medicine]'")
        if measure.every is not None and (not measure.every.calendar or measure.every.days < 1):
            yield Finding(("measures", i, "every"), f"'every' must be whole days of at least 1d, not {measure.every}")
        if measure.window is not None and not measure.window.calendar:
            yield Finding(("measures", i, "window"), f"'window' must be whole days, not {measure.window}")
