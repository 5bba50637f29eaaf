"""One person per continuity role across a client's whole series (SPEC §11).

Roles are chosen one at a time, in the clinic's ``continuity`` order. Every
candidate (a person, or a group of people when a session lists the role more
than once) is searched with the role fixed to it, best dates in the §2 order
first; ties go to the most sessions inside the client's preferred windows
(§12, on the plan with its times of day), then fewer bookings, then file
order. A first search leaves the role free (any holder per session): no
candidate can give better dates, so the choice stops at a candidate that
matches it with every session inside a preferred window. A search that can
only rank worse than the best candidate so far stops early. A client's
preferred person goes first and is kept whenever they can serve the series.
All these searches share one node budget; when it runs out before any
candidate is known to work, the answer is "not searched to the end", never
"no plan".

Only when no strict plan keeps one person does the relaxed search
(``allow_deviations``) try the candidates, and only when no relaxed plan keeps
one person either is the role handed over: every session takes the person of
the session before it when they are free, else the usual choice, and each
change of person is a ``continuity`` deviation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Literal

from kapplan.engine.search import BudgetExhausted, Engine, Outranked
from kapplan.models.errors import InfeasibleError
from kapplan.models.plan import Deviation

if TYPE_CHECKING:
    from kapplan.engine import ScheduleResult, _Context
    from kapplan.engine.resources import Resources

Ranks = tuple[tuple[int, int], ...]
"""A plan's place in the §2 order: per position (distance from its target, start)."""

SHARED_BUDGET_FACTOR = 3
"""All candidate searches of one plan together get this many times the search budget."""


@dataclass
class _Pool:
    """The node budget the candidate searches share."""

    left: int
    incomplete: bool = False
    blocked_by_continuity: bool = False  # a strict plan exists, but not with one person per role
    notes: list[str] = field(default_factory=list)
    chosen: _Candidate | None = None  # the best group of the role chosen last, with its search

    def take(self, budget: int) -> int:
        return max(0, min(budget, self.left))


def schedule_with_continuity(context: _Context) -> ScheduleResult:
    """The best plan keeping one person per continuity role (see module docstring)."""
    from kapplan.engine import plain_schedule

    request = context.request
    people = context.resources
    assert people is not None
    pool = _Pool(request.budget * SHARED_BUDGET_FACTOR)
    fixed: dict[str, tuple[int, ...]] = {}
    strict = True
    for role, size in people.continuity_roles():
        chosen = _choose(context, people, role, size, fixed, pool) if strict else None
        if chosen is None and strict:
            strict = False
        if chosen is not None:
            fixed[role] = chosen
    if strict:
        context.people = people.fork(fixed)
        result = pool.chosen.timed(context) if pool.chosen is not None else plain_schedule(context)
        result.notes += pool.notes
        return result
    return _with_deviations(context, people, pool)


def _choose(context: _Context, people: Resources, role: str, size: int, fixed: dict[str, tuple[int, ...]],
            pool: _Pool) -> tuple[int, ...] | None:
    """The group for ``role`` giving the best strict dates; None when no group has a strict plan."""
    request = context.request
    free = _search(context, people.fork(fixed), pool)
    if free is None:  # the budget ran out even with the role left free
        raise _limit(context, people.fork(fixed))
    if free is False:
        return None  # no strict plan at all: the deviation search decides
    bound = free[0]
    preferred = _preferred(people, role, request.capacity.preferred if request.capacity else {})
    groups = _groups(people, role, size, preferred, _kept(context, role))
    best = None
    if preferred is None:  # first, only plans as good as the free search's, groups in order
        best = _pick(context, people, role, fixed, pool, groups, range(len(groups)), bound, preferred, bound)
    if best is None or best.ranks != bound:
        best = _pick(context, people, role, fixed, pool, groups, _search_order(groups, free[1], role, preferred),
                     bound, preferred)
    if best is None:
        pool.blocked_by_continuity = True
        if pool.incomplete:
            raise _limit(context, people.fork({**fixed, role: groups[0]}) if groups else people.fork(fixed))
        if preferred is not None:
            pool.notes.append(_not_kept(people, role, preferred))
        return None
    if preferred is not None and preferred not in best.group:
        pool.notes.append(_not_kept(people, role, preferred))
    pool.chosen = best
    return best.group


def _pick(context: _Context, people: Resources, role: str, fixed: dict[str, tuple[int, ...]], pool: _Pool,
          groups: list[tuple[int, ...]], order: Iterable[int], bound: Ranks, preferred: int | None,
          floor: Ranks | None = None) -> _Candidate | None:
    """The best of ``groups`` searched in ``order``: best dates, then the most sessions inside
    preferred windows, then the groups' own order. A search stops once it ranks worse than
    ``floor`` when given, else than the best so far; groups after one matching the free
    search's dates (``bound``) with every session inside a preferred window are skipped."""
    best: _Candidate | None = None
    at = -1  # best's place in the groups' order
    for index in order:
        if best is not None and index > at and best.ranks == bound and best.inside(context) == len(context.layout):
            continue  # it could only tie, and ties go to the groups before it
        group = groups[index]
        chosen = people.fork({**fixed, role: group})
        cutoff = floor if floor is not None else best.ranks if best is not None else None
        searched = _search(context, chosen, pool, cutoff)
        if searched is None:
            pool.incomplete = True
            continue
        if searched is False:
            continue
        candidate = _Candidate(searched[0], group, searched[1], chosen)
        if best is None or candidate.ranks < best.ranks or (candidate.ranks == best.ranks and (
                candidate.inside(context), -index) > (best.inside(context), -at)):
            best, at = candidate, index
        if preferred is not None and preferred in group:
            break
    return best


def _search_order(groups: list[tuple[int, ...]], free: Engine, role: str, preferred: int | None) -> list[int]:
    """The order the groups are searched in: with a preferred person, theirs first as the
    choice goes; else the groups the free search gave most sessions first, as they are the
    likeliest to match its dates, so that the searches of the others stop early (the
    choice itself still goes by dates, preferred windows, bookings, then this list's order)."""
    if preferred is not None:
        return list(range(len(groups)))
    people = free.resources
    assert people is not None
    used: dict[int, int] = {}
    for pos, choice in people.choice.items():
        for need, person in zip(people.needs[pos], choice.people, strict=False):
            if need.role == role:
                used[person] = used.get(person, 0) + 1
    return sorted(range(len(groups)), key=lambda i: (-sum(used.get(p, 0) for p in groups[i]), i))


@dataclass
class _Candidate:
    """A group that has a strict plan: its §2 ranks, its search and, once asked for, its
    plan with times of day (the second tie-break counts sessions inside preferred windows)."""

    ranks: Ranks
    group: tuple[int, ...]
    engine: Engine
    people: Resources
    _timed: ScheduleResult | None = None
    _inside: int | None = None

    def timed(self, context: _Context) -> ScheduleResult:
        """The plan with its times of day (found once)."""
        from kapplan.engine import ScheduleResult, _timed

        if self._timed is None:
            earliest = ScheduleResult(context.placements(self.engine), [])
            self._timed = _timed(context, self.engine, earliest, self.people)
        return self._timed

    def inside(self, context: _Context) -> int:
        """Sessions inside the client's preferred windows (§12)."""
        from kapplan.engine import preferred

        if self._inside is None:
            within = preferred(context.request)
            self._inside = sum(within(p.start, p.end) for p in self.timed(context).placements)
        return self._inside


def _search(context: _Context, people: Resources, pool: _Pool, cutoff: Ranks | None = None
            ) -> tuple[Ranks, Engine] | Literal[False] | None:
    """The §2 ranks of the best strict plan with these people, and the search (whose plan
    the final plan takes rather than search it again); False: none, or none ranking as
    well as ``cutoff`` (the best group's so far); None: budget spent."""
    budget = pool.take(context.request.budget)
    engine = context.engine(context.request.start_date, budget=budget, people=people)
    engine.cutoff = cutoff
    try:
        found = engine.run()
    except BudgetExhausted:
        found = None
    except Outranked:
        found = False
    finally:
        pool.left -= engine.nodes
    if found is None:
        return None
    return (tuple(engine.rank), engine) if found else False


def _groups(people: Resources, role: str, size: int, preferred: int | None,
            kept: tuple[str, ...] = ()) -> list[tuple[int, ...]]:
    """Candidate groups in the order tried: the preferred person's first, then fewer bookings, file order.
    In a re-plan, only groups holding the people who served the sessions that happened (``kept``)."""
    holders = people.holders.get(role, [])
    groups = [tuple(g) for g in combinations(holders, min(size, len(holders)))]
    if kept:
        groups = [g for g in groups if set(kept) <= {people.members[p].id for p in g}]
    return sorted(groups, key=lambda g: (preferred not in g if preferred is not None else False,
                                         people.load(g), g))


def _kept(context: _Context, role: str) -> tuple[str, ...]:
    capacity = context.request.capacity
    return tuple(capacity.kept.get(role, ())) if capacity is not None else ()


def _preferred(people: Resources, role: str, preferred: object) -> int | None:
    wanted = preferred.get(role) if isinstance(preferred, dict) else None
    if wanted is None:
        return None
    return next((m.index for m in people.members if m.id == wanted and role in m.roles), None)


def _not_kept(people: Resources, role: str, preferred: int) -> str:
    return f"the preferred {role} '{people.members[preferred].id}' cannot serve this series; another was assigned"


def _limit(context: _Context, people: Resources) -> InfeasibleError:
    """Search limit: the candidate searches were not searched to the end."""
    from kapplan.engine.infeasibility import explain

    engine = context.engine(context.request.start_date, people=people, budget=0)
    try:
        engine.run()
    except BudgetExhausted:
        pass
    explanation = explain(engine, context.request, search_limit=True)
    explanation.blockers.insert(0, "the choice of one person per role was not searched to the end")
    return InfeasibleError(explanation)


def _with_deviations(context: _Context, people: Resources, pool: _Pool) -> ScheduleResult:
    """No strict plan keeps one person per role: relaxed searches, then a hand-over."""
    from kapplan.engine import _least_late, plain_schedule

    roles = people.continuity_roles()
    if not context.request.allow_deviations:
        context.people = people.fork(_first_groups(people, roles))
        try:
            result = plain_schedule(context)
        except InfeasibleError as err:
            if pool.blocked_by_continuity:
                err.explanation.blockers.append(_continuity_words(roles))
            raise
        result.notes += pool.notes
        return result
    fixed: dict[str, tuple[int, ...]] = {}
    handed: set[str] = set()
    for role, size in roles:
        chosen = _choose_relaxed(context, people, role, size, fixed, handed)
        if chosen is None:
            handed.add(role)
        else:
            fixed[role] = chosen
    context.people = people.fork(fixed, frozenset(handed))
    try:
        result = plain_schedule(context)
    except InfeasibleError:
        if not handed:
            raise
        result = _least_late(context)
    result.deviations += _handovers(result, handed, context.request.capacity.kept if context.request.capacity
                                    else {})
    result.notes += pool.notes
    return result


def _choose_relaxed(context: _Context, people: Resources, role: str, size: int, fixed: dict[str, tuple[int, ...]],
                    handed: set[str]) -> tuple[int, ...] | None:
    """The group with the least lateness under deviations; None when none keeps one person."""
    from kapplan.engine import _least_late

    best: tuple[int, tuple[tuple[int, int], ...] | None, tuple[int, ...]] | None = None
    preferred = _preferred(people, role, context.request.capacity.preferred if context.request.capacity else {})
    for group in _groups(people, role, size, preferred, _kept(context, role)):
        context.people = people.fork({**fixed, role: group}, frozenset(handed))
        try:
            result = _least_late(context)
        except InfeasibleError:
            continue
        late = sum(d.lateness_min for d in result.deviations)
        if best is None or late < best[0]:
            best = (late, None, group)
        if late == 0 or (preferred is not None and preferred in group):
            break
    return None if best is None else best[2]


def _first_groups(people: Resources, roles: list[tuple[str, int]]) -> dict[str, tuple[int, ...]]:
    """For the explanation: each role fixed to its first candidate."""
    out = {}
    for role, size in roles:
        groups = _groups(people, role, size, None, kept=())
        if groups:
            out[role] = groups[0]
    return out


def _continuity_words(roles: list[tuple[str, int]]) -> str:
    names = ", ".join(role for role, _ in roles)
    return (f"no single {names} is free for every session of the series (continuity); "
            f"with deviations allowed a hand-over is possible")


def _handovers(result: ScheduleResult, handed: set[str], kept: Mapping[str, tuple[str, ...]]) -> list[Deviation]:
    """One ``continuity`` deviation per change of person in a handed-over role, in time order
    (in a re-plan, from the people who served the sessions that happened)."""
    out = []
    for role in sorted(handed):
        previous: str | None = ",".join(kept[role]) if kept.get(role) else None
        for placement in sorted(result.placements, key=lambda p: p.start):
            ids = [a.person for a in placement.assigned or () if a.role == role]
            if not ids:
                continue
            current = ",".join(ids)
            if previous is not None and current != previous:
                out.append(Deviation(key=placement.key, rule="continuity", allowed=f"one {role}: {previous}",
                                     actual=f"{role} {current}", lateness_min=0))
            previous = current
    return out


__all__ = ["schedule_with_continuity"]
