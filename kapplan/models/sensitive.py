"""What counts as a medication or a dose in free text (SPEC §8).

One definition for two users: the linter warns (KP308) about protocol text
that names one, and the iCalendar exporter withholds such text below
``--privacy full``. Keeping the list here means the warning and the
withholding can never disagree.
"""

from __future__ import annotations

import re
from functools import lru_cache

MEDICATION_TERMS = ("ketamine", "esketamine", "arketamine", "ketalar", "spravato", "ketanest", "vesierra")

# A term anywhere in a word ("Esketamine-assisted", "SPRAVATO®"): withholding
# too much is the safe mistake. A dose is a number, in digits or in words,
# followed by a unit of mass (also "56mg", "0.5 mg/kg", "10 milligrams",
# "40 mcg", "40 µg", "forty milligrams"), or "mg/kg" on its own.
_UNIT = r"(?:mgs?|milligrams?|milligrammes?|mcgs?|µg|μg|ug|micrograms?|microgrammes?)"
_NUMBER_WORD = (r"(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
                r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fourty|fifty|sixty|seventy|"
                r"eighty|ninety|hundred|thousand|half|quarter|a)")
_SENSITIVE = re.compile(
    "|".join(MEDICATION_TERMS)
    + r"|\d\s*" + _UNIT + r"(?![a-z])"
    + r"|\b" + _NUMBER_WORD + r"(?:[\s-]+(?:and[\s-]+)?" + _NUMBER_WORD + r")*[\s-]+" + _UNIT + r"(?![a-z])"
    + r"|(?:mg|mcg|µg|μg)\s*/\s*kg",
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
    r"\s*" + _UNIT + r"(?![a-z])(?:\s*/\s*kg\b)?(?:\s+doses?\b)?|\b(?:mg|mcg)\s*/\s*kg\b",
    re.IGNORECASE,
)
MEDICINE_WORDS = "your medicine"
AMOUNT_WORDS = "the planned amount"
_REPEATED = re.compile(r"\b(your medicine|the planned amount)(?:\s*(?:,|or|and|to)\s+\1\b|\s*\(\1\))+")


def mentions_medication_or_dose(text: str) -> bool:
    """True when ``text`` names a medication term or a dose, also when spelt
    with look-alike characters ("kеtamine" with a Cyrillic е, fullwidth
    letters, a zero-width space inside the word)."""
    return _SENSITIVE.search(fold(text)) is not None


def fold(text: str) -> str:
    """``text`` with look-alike characters as the Latin letters they imitate:
    compatibility forms folded (NFKC: fullwidth, ligatures), invisible format
    characters dropped, and every other non-ASCII letter that Unicode's
    confusables table lists as a homoglyph of a Latin one replaced by it.
    ASCII text is returned as it is (the common case costs nothing)."""
    if text.isascii():
        return text
    import unicodedata

    text = "".join(ch for ch in unicodedata.normalize("NFKC", text) if unicodedata.category(ch) != "Cf")
    return "".join(ch if ch.isascii() or ch in _KEPT else _latin_lookalike(ch) for ch in text)


_KEPT = frozenset("µμ")  # read as "micro" by the dose pattern, not as a look-alike "u"


@lru_cache(maxsize=4096)
def _latin_lookalike(ch: str) -> str:
    """The ASCII letters ``ch`` imitates (Unicode's confusables.txt, through the
    confusable_homoglyphs package), or ``ch`` itself."""
    from confusable_homoglyphs import confusables

    found = confusables.is_confusable(ch, preferred_aliases=["latin"], greedy=True) or []
    for entry in found:
        for glyph in entry.get("homoglyphs", []):
            if glyph["c"].isascii() and glyph["c"].isalnum():
                return str(glyph["c"])
    return ch


def soften(text: str) -> str:
    """``text`` with every medication term said as "your medicine" and every
    dose as "the planned amount", inside the sentence.

    The client's guide may not drop safety text ("no driving after your
    ketamine session") the way a calendar withholds it; it keeps the sentence
    and removes only the private words. Whatever this leaves, the detector
    above no longer finds (a property test holds the two together)."""
    if not text.isascii() and mentions_medication_or_dose(text):
        text = fold(text)  # look-alike letters hide a term: say the text in plain letters
    text = _AMOUNT.sub(AMOUNT_WORDS, text)
    text = _MEDICATION_WORD.sub(MEDICINE_WORDS, text)
    text = _REPEATED.sub(r"\1", text)
    while _SENSITIVE.search(fold(text)):  # a form the patterns above do not cover: never leak it
        text = fold(text)
        text = _SENSITIVE.sub(MEDICINE_WORDS, text)
    return text


__all__ = ["AMOUNT_WORDS", "MEDICATION_TERMS", "MEDICINE_WORDS", "fold", "mentions_medication_or_dose", "soften"]
