"""Japanese text normalisation shared by the metrics and scorers (one place, one behaviour).

* :func:`normalize_answer` is the jp-stable *jasquad* normalisation (jasquad exact match and F1): emoji
  removal, then ``neologdn.normalize`` with its defaults, then whitespace collapsing. It does not lower-case
  and does not remove punctuation.
* :func:`nfkc`, :func:`fullwidth_digits_to_ascii` and :func:`normalize_numbers` (``1万2000`` → ``12000``) are
  *not* part of any jp-stable metric; they serve lenient variants.
* :func:`answer_line`, :func:`normalize_label`, :func:`normalize_chars` and the number readers serve the
  instruction-style generation tasks (the answer is the first line; labels and numbers compared leniently).
"""

from __future__ import annotations

import re
import unicodedata

from .errors import UserError

__all__ = [
    "remove_emoji",
    "white_space_fix",
    "normalize_answer",
    "nfkc",
    "fullwidth_digits_to_ascii",
    "answer_line",
    "normalize_label",
    "normalize_chars",
    "NUMBER_RE",
    "parse_number",
    "first_number",
    "last_number",
    "numbers_equal",
    "normalize_numbers",
]

# Code-point ranges removed after the per-character emoji.is_emoji pass (as jasquad does):
# emoticons, symbols & pictographs, transport & map symbols, regional-indicator flags, dingbats.
_EMOJI_RANGES_RE = re.compile(
    "["
    "\U0001F600-\U0001F64F"
    "\U0001F300-\U0001F5FF"
    "\U0001F680-\U0001F6FF"
    "\U0001F1E0-\U0001F1FF"
    "\u2702-\u27B0"
    "]"
)

# Full-width digits U+FF10..U+FF19 -> ASCII 0..9.
_FULLWIDTH_DIGITS = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)})


def _optional(module: str):
    """Import a package the Japanese QA metrics need, or say how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:  # pragma: no cover - depends on the environment
        raise UserError(f"The Japanese QA metrics need the '{module}' package: pip install emoji neologdn") from None


def remove_emoji(s: str) -> str:
    """Drop every character ``emoji.is_emoji`` accepts, then the jasquad emoji code-point ranges."""
    emoji = _optional("emoji")
    s = "".join(ch for ch in s if not emoji.is_emoji(ch))
    return _EMOJI_RANGES_RE.sub("", s)


def white_space_fix(s: str) -> str:
    """Collapse runs of whitespace to one ASCII space and strip both ends."""
    return " ".join(s.split())


def normalize_answer(s: str) -> str:
    """jasquad normalisation: ``white_space_fix(neologdn.normalize(remove_emoji(s)))``.

    neologdn (default arguments) folds half/full width (``ＡＢＣ１２３`` -> ``ABC123``,
    ``ｱｲｳ`` -> ``アイウ``), removes spaces between Japanese characters and deletes tildes
    (``~～〜``). Case and punctuation are kept.
    """
    return white_space_fix(_optional("neologdn").normalize(remove_emoji(s)))


def nfkc(s: str) -> str:
    """Unicode NFKC normalisation (full-width ASCII, digits and punctuation -> ASCII, etc.)."""
    return unicodedata.normalize("NFKC", s)


def fullwidth_digits_to_ascii(s: str) -> str:
    """Replace only the full-width digits ``０``..``９`` by ``0``..``9``; everything else is kept."""
    return s.translate(_FULLWIDTH_DIGITS)

# ----------------------------------------------------------------------------- generated answers

def answer_line(text: str) -> str:
    """The model's answer in a generation: its first non-empty line, stripped (``""`` if there is none).

    The llm-jp-style prompts ask for the bare answer right after ``### 応答:``, so anything on later
    lines (an explanation, the next ``### 入力:``) is not part of it.
    """
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return ""


def normalize_label(text: str) -> str:
    """A label answer for exact match: NFKC, surrounding whitespace and a final ``。``/``.`` removed, case-folded.

    ``"Entailment。"`` and ``"ｅｎｔａｉｌｍｅｎｔ"`` both give ``"entailment"``; anything else must match the
    label string itself (``"non entailment"`` is not ``"non-entailment"``).
    """
    return nfkc(text).strip().rstrip("。.").strip().casefold()


def normalize_chars(text: str) -> str:
    """Characters compared by the QA metrics: NFKC, case-folded, without whitespace and punctuation.

    Punctuation is every character of a Unicode ``P*`` category (``、。「」・（）!?`` and ASCII
    punctuation), so ``"ヒバ（青森県）"`` becomes ``"ヒバ青森県"``.
    """
    return "".join(ch for ch in nfkc(text).casefold()
                   if not ch.isspace() and not unicodedata.category(ch).startswith("P"))


#: A number in NFKC-normalised text: optional sign; ``1,234`` thousands groups, ``12.5`` / ``.5`` decimals or
#: integers; optionally ``/denominator`` (a fraction).
NUMBER_RE = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d*\.\d+|\d+)(?:/\d+)?")


def parse_number(token: str) -> float | None:
    """The value of one :data:`NUMBER_RE` match (thousands separators dropped, ``a/b`` divided); None if invalid."""
    token = token.replace(",", "")
    num, _, den = token.partition("/")
    try:
        value = float(num)
        if den:
            value /= float(den)
    except (ValueError, ZeroDivisionError):
        return None
    return value


def _numbers(text: str) -> list[float]:
    text = nfkc(text).replace("\u2212", "-")  # NFKC keeps U+2212 MINUS SIGN
    values = (parse_number(m.group(0)) for m in NUMBER_RE.finditer(text))
    return [v for v in values if v is not None]


def first_number(text: str) -> float | None:
    """The first number in ``text`` after NFKC (full-width digits count), or None."""
    values = _numbers(text)
    return values[0] if values else None


def last_number(text: str) -> float | None:
    """The last number in ``text`` after NFKC (``"よって、答えは１２６です"`` gives 126.0), or None."""
    values = _numbers(text)
    return values[-1] if values else None


def numbers_equal(a: float | None, b: float | None) -> bool:
    """Equal as numbers (``"43.0"`` = ``"43"``, ``"2/3"`` = ``"0.6666666666666666"``), up to float rounding."""
    import math

    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


# ----------------------------------------------------------------------------- numbers with Japanese units

_BIG_UNITS = {"万": 10**4, "億": 10**8, "兆": 10**12}
_NUM = r"\d+(?:,\d{3})*(?:\.\d+)?"
# One group of a number written with Japanese units: digits, optionally 千, optionally 万/億/兆, at least one unit.
_UNIT_GROUP = rf"{_NUM}(?:千[万億兆]?|[万億兆])"
# "1万2000", "3億5千万", "2.5万", "1千": digits before every group, plain digits may follow.
_UNIT_NUMBER_RE = re.compile(rf"(?:{_UNIT_GROUP})+(?:{_NUM})?")
_UNIT_PART_RE = re.compile(rf"({_NUM})(千)?([万億兆])?")
_MINUS_RE = re.compile(r"[\u2212\u2012\u2013\u2014\u2015\uFE63]")  # minus sign / dashes NFKC leaves alone


def _unit_number(match: re.Match) -> str:
    total = 0.0
    section = 0.0  # the part below the next 万/億/兆 (e.g. "2千" in "1万2千")
    for part in _UNIT_PART_RE.finditer(match.group(0)):
        value = float(part.group(1).replace(",", "")) * (1000 if part.group(2) else 1)
        if part.group(3):
            total += (section + value) * _BIG_UNITS[part.group(3)]
            section = 0.0
        else:
            section += value
    total += section
    return str(int(total)) if total.is_integer() else repr(total)


def normalize_numbers(text: str) -> str:
    """Rewrite numbers into the ASCII form the extractor reads.

    NFKC (full-width digits, commas, periods and minus: ``１，２３４`` -> ``1,234``), minus-like dashes to
    ``-``, then numbers with Japanese units written with digits to plain integers (``1万2000`` ->
    ``12000``, ``3億5千万`` -> ``350000000``, ``2.5万`` -> ``25000``). Kanji numerals without digits
    (``十二``) are left alone.
    """
    text = _MINUS_RE.sub("-", nfkc(text))
    return _UNIT_NUMBER_RE.sub(_unit_number, text)
