"""Plan -> CSV: one row per session, for spreadsheets and scripts."""

from __future__ import annotations

import csv
import io

from kapplan.models.plan import Plan

COLUMNS = (
    "key", "date", "start", "end", "timezone", "session", "kind", "step", "index", "count",
    "duration_min", "setting", "planned_dose_mg", "dose_basis", "status", "sequence", "deviations",
)


def plan_to_csv(plan: Plan) -> str:
    """Local dates and times in the client's zone; doses are planned doses."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    zone = str(plan.client.get("timezone", ""))
    for s in plan.sessions:
        dose = s.dose
        writer.writerow([
            s.key, s.start.date().isoformat(), s.start.strftime("%H:%M"), s.end.strftime("%H:%M"), zone,
            s.session, s.kind, s.step, s.index, s.count,
            int((s.end - s.start).total_seconds() // 60), s.setting,
            "" if dose is None or dose.amount_mg is None else f"{dose.amount_mg:g}",
            "" if dose is None else dose.basis, s.status, s.sequence,
            "; ".join(f"{d.rule} allowed {d.allowed}, actual {d.actual}" for d in s.deviations),
        ])
    return buffer.getvalue()
