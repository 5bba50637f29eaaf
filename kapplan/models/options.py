"""The fixed choices of the command line and the API, as literal types.

No pydantic here: the API module imports this at start-up.
"""

from __future__ import annotations

from typing import Literal

Audience = Literal["client", "clinic"]
"""Who a calendar is for: the client's texts, or the clinic's (notes, monitoring, staff)."""
Privacy = Literal["minimal", "standard", "full"]
"""How much a calendar may show at all (SPEC §8)."""
MarkStatus = Literal["done", "missed", "cancelled", "skipped"]
"""What happened to a session (done, missed, cancelled) or a task (done, skipped)."""
PlanChoice = Literal["strict", "sooner", "regular"]
"""The plans `plan --alternatives` offers (SPEC §12): the plan, a sooner first dose, a regular rhythm."""
GuideFormat = Literal["html", "md"]
"""The client's guide as one HTML file, or Markdown for a clinic's own letters."""
SchemaKind = Literal["protocol", "client", "clinic", "plan", "status", "mark", "reschedule", "decide", "batch-summary",
                     "agenda", "ledger-sync", "ledger-release"]
"""The file types and JSON outputs with a JSON Schema."""
