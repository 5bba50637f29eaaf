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


# For replacing inside a sentence: the whole word around a term ("your
# esketamine-assisted"), with an article or possessive before it, and a whole
# amount: "56 mg", "0.5 mg/kg", "56-84 mg", "56 or 84 mg", "1,000 milligrams".
_ARTICLE = r"(?:\b(?:the|your|a|an|my|some|this|that)\s+)?"
_MEDICATION_WORD = re.compile(
    _ARTICLE + r"[\w®™-]*(?:" + "|".join(MEDICATION_TERMS) + r")[\w®™'’-]*", re.IGNORECASE
)
_NUMBER = r"\d[\d,]*(?:\.\d+)?"
_AMOUNT = re.compile(
    _ARTICLE + _NUMBER + r"(?:\s*(?:-|–|to|or|and)\s*" + _NUMBER + r")*"
    r"\s*(?:mgs?|milligrams?)\b(?:\s*/\s*kg\b)?(?:\s+doses?\b)?|\bmg\s*/\s*kg\b",
    re.IGNORECASE,
)
MEDICINE_WORDS = "your medicine"
AMOUNT_WORDS = "the planned amount"
_REPEATED = re.compile(r"\b(your medicine|the planned amount)(?:\s*(?:,|or|and|to)\s+\1\b|\s*\(\1\))+")


def mentions_medication_or_dose(text: str) -> bool:
    """True when ``text`` names a medication term or a dose."""
    return _SENSITIVE.search(text) is not None


def soften(text: str) -> str:
    """``text`` with every medication term said as "your medicine" and every
    dose as "the planned amount", inside the sentence.

    The client's guide may not drop safety text ("no driving after your
    ketamine session") the way a calendar withholds it; it keeps the sentence
    and removes only the private words. Whatever this leaves, the detector
    above no longer finds (a property test holds the two together)."""
    text = _AMOUNT.sub(AMOUNT_WORDS, text)
    text = _MEDICATION_WORD.sub(MEDICINE_WORDS, text)
    text = _REPEATED.sub(r"\1", text)
    while _SENSITIVE.search(text):  # a form the patterns above do not cover: never leak it
        text = _SENSITIVE.sub(MEDICINE_WORDS, text)
    return text


__all__ = ["AMOUNT_WORDS", "MEDICATION_TERMS", "MEDICINE_WORDS", "mentions_medication_or_dose", "soften"]
