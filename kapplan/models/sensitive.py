"""What counts as a medication or a dose in free text (SPEC §8).

One definition for two users: the linter warns (KP308) about protocol text
that names one, and the iCalendar exporter withholds such text below
``--privacy full``. Keeping the list here means the warning and the
withholding can never disagree.
"""

from __future__ import annotations

import re

MEDICATION_TERMS = ("ketamine", "esketamine", "arketamine", "ketalar", "spravato", "ketanest", "vesierra")

# A term anywhere in a word ("Esketamine-assisted", "SPRAVATO®"): withholding
# too much is the safe mistake. A dose is a number followed by mg (also
# "56mg", "0.5 mg/kg", "10 milligrams"), or "mg/kg" on its own.
_SENSITIVE = re.compile(
    "|".join(MEDICATION_TERMS) + r"|\d\s*(?:mgs?|milligrams?)\b|mg\s*/\s*kg",
    re.IGNORECASE,
)


def mentions_medication_or_dose(text: str) -> bool:
    """True when ``text`` names a medication term or a dose."""
    return _SENSITIVE.search(text) is not None


__all__ = ["MEDICATION_TERMS", "mentions_medication_or_dose"]
