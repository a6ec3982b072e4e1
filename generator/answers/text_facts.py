"""Facts the free text states with a number: "a 3,000-question held-out benchmark", "5,000 hand-verified",
"1,500-token style guide", "the 40-page handbook", "four weeks", "~900M monthly users".

Heuristics, not knowledge: each finder looks at a short window around a number (never a regex over the
whole text with nested quantifiers: user text can be megabytes long), returns the value and the words it
read, and inference cites those words in the plan's Assumptions. Rates that turn pages, minutes and
characters into tokens are planning.yaml's (`data.*`), each with its source.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator

from generator.record import Record

_NUMBER = re.compile(r"\d[\d,._]*")
MAX_DIGITS = 15
WINDOW = 60  # characters read on either side of a number
_WORD_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "a couple of": 2, "a few": 3}
_WORD_NUMBER = re.compile(r"\b(" + "|".join(sorted(_WORD_NUMBERS, key=len, reverse=True)) + r")\b",
                          re.IGNORECASE)
_SCALE = re.compile(r"\s?(k|m|b|thousand|million|billion)\b", re.IGNORECASE)
_SCALES = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "b": 1e9, "billion": 1e9}


class Found(Record):
    value: float
    quote: str  # the words the value was read from
    field: str  # the answers field they are in


class _Mention(Record):
    value: float
    start: int
    end: int  # after the number and its scale word
    before: str
    after: str


def _mentions(text: str) -> Iterator[_Mention]:
    """Every number in `text` (digits with thousands separators, a k/M/B scale, or a small number word)."""
    for m in _NUMBER.finditer(text):
        raw = m.group(0).rstrip(",._")
        end = m.start() + len(raw)
        scale_m = _SCALE.match(text, end)
        scale = _SCALES[scale_m.group(1).lower()] if scale_m else 1.0
        if scale_m:
            end = scale_m.end()
        if scale > 1 or re.fullmatch(r"\d+\.\d{1,2}", raw):
            digits = raw.replace(",", "").replace("_", "")  # "12.5k", "1.5M": a decimal
        else:
            digits = re.sub(r"\D", "", raw)  # "40,000", "40.000": thousands separators
        if not digits or len(digits) > MAX_DIGITS:
            continue
        try:
            value = float(digits) * scale
        except ValueError:
            continue
        yield _Mention(value, m.start(), end, text[max(0, m.start() - WINDOW):m.start()].lower(),
                       text[end:end + WINDOW].lower())
    for w in _WORD_NUMBER.finditer(text):
        yield _Mention(float(_WORD_NUMBERS[w.group(1).lower()]), w.start(), w.end(),
                       text[max(0, w.start() - WINDOW):w.start()].lower(), text[w.end():w.end() + WINDOW].lower())


def _sentence(after: str) -> str:
    """The window up to the end of the clause: a number's noun is not in the next sentence."""
    return re.split(r"[.;:!?()\n]", after, maxsplit=1)[0]


def _quote(text: str, m: _Mention, tail: int = 40) -> str:
    return " ".join(text[m.start:m.end + len(_sentence(m.after)[:tail])].split())


_HELDOUT_AFTER = re.compile(r"^[\s-]*(?:[\w-]+\s+){0,3}?(?:[\w-]+[\s-])?"
                            r"(held[\s-]?out|hold[\s-]?out|benchmark|test set|audit set|evaluation set|eval set|"
                            r"golden set|gold set)")
_HELDOUT_BEFORE = re.compile(r"(held[\s-]?out|hold[\s-]?out|test|evaluation|eval|audit|golden|gold|benchmark)"
                             r"(\s+(set|benchmark|suite))?\s+(of|with)\s+(about\s+|~|some\s+)?$")
_VERIFIED_AFTER = re.compile(r"^[\s-]*(?:[\w-]+\s+){0,2}?(hand[\s-]verified|hand[\s-]checked|double[\s-]annotated|"
                             r"double[\s-]labell?ed|expert[\s-]verified|expert[\s-]reviewed|audited|verified|"
                             r"gold[\s-]standard)")
_VERIFIED_BEFORE = re.compile(r"(hand[\s-]verified|double[\s-]annotated|audited|verified)\s+(\w+\s+)?(subset|set)\s+"
                              r"of\s+(about\s+|~)?$")


def heldout_available(fields: dict[str, str]) -> Found | None:
    """The size of an existing frozen evaluation set the text names."""
    return _best(fields, lambda m: bool(_HELDOUT_AFTER.match(_sentence(m.after))
                                        or _HELDOUT_BEFORE.search(m.before)))


def validation_available(fields: dict[str, str]) -> Found | None:
    """Hand-verified / double-annotated items the text names (an audit set counts as held-out instead)."""
    return _best(fields, lambda m: bool((_VERIFIED_AFTER.match(_sentence(m.after))
                                         or _VERIFIED_BEFORE.search(m.before))
                                        and not _HELDOUT_AFTER.match(_sentence(m.after))))


_PREFERENCE_AFTER = re.compile(r"^[\s-]*(?:[\w/-]+\s+){0,3}?(preference|chosen[\s/-]+rejected|pairwise|"
                               r"side[\s-]by[\s-]side|ranked)\s*(pairs?|comparisons?|judgements?|judgments?|"
                               r"ratings?|labels?)?")


def preference_pairs(fields: dict[str, str]) -> Found | None:
    return _best(fields, lambda m: bool(_PREFERENCE_AFTER.match(_sentence(m.after))))


_USERS_AFTER = re.compile(r"^[\s-]*(?:\w+\s+){0,2}?(monthly\s+(active\s+)?users|mau\b|users\s+(a|per|each)\s+month|"
                          r"monthly\s+customers)")


def monthly_active_users(fields: dict[str, str]) -> Found | None:
    return _best(fields, lambda m: bool(_USERS_AFTER.match(_sentence(m.after))))


_WEEKS_AFTER = re.compile(r"^[\s-]*(engineer[\s-]*|person[\s-]*|developer[\s-]*)?weeks?\b")
_EFFORT_WORDS = ("engineer", "we have", "team", "project", "build", "ship", "deliver", "timeline", "deadline",
                 "budget", "time")


def engineering_weeks(fields: dict[str, str]) -> Found | None:
    """Engineer-weeks the text gives the project ("four weeks of one engineer", "3 engineer-weeks")."""
    def hit(m: _Mention) -> bool:
        if not _WEEKS_AFTER.match(m.after):
            return False
        context = m.before[-40:] + _sentence(m.after)
        return "engineer" in m.after[:20] or any(w in context for w in _EFFORT_WORDS)
    return _best(fields, hit, largest=False)


_AB_DAYS = re.compile(r"^[\s-]*(days?|weeks?)\b")


def ab_min_days(fields: dict[str, str]) -> Found | None:
    """The shortest A/B the text allows: "the A/B must run at least two weeks"."""
    for name, text in fields.items():
        for m in _mentions(text):
            unit = _AB_DAYS.match(m.after)
            if unit and ("a/b" in m.before[-40:] or "experiment" in m.before[-40:]):
                days = m.value * (7 if unit.group(1).startswith("week") else 1)
                return Found(days, _quote(text, m), name)
    return None


_TOKENS_AFTER = re.compile(r"^[\s-]*tokens?\b")
_PAGES_AFTER = re.compile(r"^[\s-]*pages?\b")
_MINUTES_AFTER = re.compile(r"^[\s-]*(minutes?|min)\b")
_HOURS_AFTER = re.compile(r"^[\s-]*hours?\b")
PROMPT_WORDS = ("prompt", "style guide", "guideline", "instruction", "handbook", "pasted", "system message",
                "few-shot", "context window")
INPUT_WORDS = ("document", "input", "transcript", "contract", "report", "record", "file", "note", "article",
               "filing", "call", "conversation", "email", "ticket", "page")
P95_WORDS = ("p95", "95th", "longest", "up to", "max", "as long as")
# A duration is an input length only for something spoken or recorded ("40-minute calls"); "four minutes per
# claim" is the time a person spends on it.
SPOKEN_WORDS = ("call", "recording", "recorded", "audio", "transcript", "meeting", "conversation", "interview",
                "podcast", "video", "dictat", "voicemail", "consultation", "lecture", "speech")
_PER_TASK = re.compile(r"^[\s-]*(minutes?|min|hours?)\s+(per|each|a|an|to|of work|of effort)\b")


class Length(Record):
    """A length the text states, in tokens, and what it measures: the prompt, a typical input or the p95."""

    tokens: int
    kind: str  # "prompt" | "input" | "p95"
    quote: str
    field: str


def lengths(fields: dict[str, str], words_per_page: float, tokens_per_word: float,
            words_per_minute: float) -> list[Length]:
    """Every "N-token", "N-page", "N-minute" mention, converted to tokens and classified by its neighbours."""
    out = []
    for name, text in fields.items():
        for m in _mentions(text):
            if _TOKENS_AFTER.match(m.after):
                tokens, how = m.value, "tokens"
            elif _PAGES_AFTER.match(m.after):
                tokens, how = m.value * words_per_page * tokens_per_word, "pages"
            elif _MINUTES_AFTER.match(m.after) or _HOURS_AFTER.match(m.after):
                clause = m.before[-30:] + " " + _sentence(m.after)
                if _PER_TASK.match(m.after) or not any(w in clause.lower() for w in SPOKEN_WORDS):
                    continue
                minutes = m.value * (60 if _HOURS_AFTER.match(m.after) else 1)
                tokens, how = minutes * words_per_minute * tokens_per_word, "minutes"
            else:
                continue
            if tokens < 1:
                continue
            clause = m.before[-30:] + " " + _sentence(m.after)
            if any(w in m.before[-12:] for w in P95_WORDS):
                kind = "p95"
            elif any(w in clause for w in PROMPT_WORDS):
                kind = "prompt"
            elif how != "tokens" or any(w in clause for w in INPUT_WORDS):
                kind = "input"
            else:
                continue
            out.append(Length(int(math.ceil(tokens)), kind, _quote(text, m, 30) + f" ({how})", name))
    return out


def _best(fields: dict[str, str], accept: Callable[[_Mention], bool], largest: bool = True) -> Found | None:
    best: Found | None = None
    for name, text in fields.items():
        for m in _mentions(text):
            if m.value < 1 or not accept(m):
                continue
            if best is None or (m.value > best.value if largest else False):
                best = Found(m.value, _quote(text, m), name)
    return best


_PLACEHOLDER = re.compile(r"^\s*[\[<{(][^\]>})]{0,200}[\]>})]\s*$")


def is_placeholder(text: str) -> bool:
    """"[transcript, 40 minutes]", "<the contract>", "...": a stand-in for the real input, not an example."""
    stripped = text.strip()
    return bool(_PLACEHOLDER.match(stripped)) or stripped in ("...", "…", "etc", "etc.") or \
        stripped.endswith(("...]", "…]"))


def script_share(text: str) -> dict[str, int]:
    """Characters of the scripts a 4-characters-per-token rule undercounts: CJK, Thai, Devanagari."""
    counts = {"cjk": 0, "thai": 0, "devanagari": 0}
    for ch in text:
        o = ord(ch)
        if 0x3040 <= o <= 0x30FF or 0x3400 <= o <= 0x9FFF or 0xAC00 <= o <= 0xD7AF or 0xF900 <= o <= 0xFAFF:
            counts["cjk"] += 1
        elif 0x0E00 <= o <= 0x0E7F:
            counts["thai"] += 1
        elif 0x0900 <= o <= 0x097F:
            counts["devanagari"] += 1
    return counts
