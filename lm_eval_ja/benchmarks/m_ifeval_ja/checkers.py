"""M-IFEval-ja: the Japanese verifiable-instruction checkers, giving the official verdicts.

Reference: lightblue-tech/M-IFEval @ 0bc3143a (``instructions/ja_instructions.py``,
``instruction_utils/ja_instructions_util.py``, ``instructions_registry.py``, ``evaluation_main.py``). This module is a
re-implementation written from reading that code, using the libraries upstream uses (janome 0.5.0 for words,
ja_sentence_segmenter for sentences, langdetect for the response language). On the 17 models upstream recorded it
gives 5847 of the 5848 official verdicts (strict and loose, instruction by instruction; all of them on the 3 models in
shared data); the one left is a coin flip of upstream's unseeded langdetect (see :func:`detect_language`).
Deliberate differences, none of which changes a verdict on the data:

* a checker is built only from explicit kwargs: where upstream draws a random default (no keyword given, a negative
  count, ``nth_paragraph`` past ``num_paragraphs``, a letter that is not one hiragana) this raises ``ValueError``;
  ``None`` values are dropped first, so the Hugging Face layout (every kwarg key present, ``None`` where unused) works;
* an unknown instruction id raises :class:`UnknownInstructionError` (upstream: ``KeyError``);
* the language detector (langdetect, as upstream) uses its own factory with a fixed seed, so a verdict is
  reproducible (upstream leaves it unseeded: see :func:`detect_language`);
* the janome tokenizer is built once, not per call (same tokens).

Upstream quirks kept on purpose, because the official verdicts depend on them, are noted at each checker.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import unicodedata
from typing import Any, Callable, Iterable, Mapping, Sequence

from ja_sentence_segmenter.common.pipeline import make_pipeline
from ja_sentence_segmenter.concatenate.simple_concatenator import concatenate_matching
from ja_sentence_segmenter.normalize.neologd_normalizer import normalize
from ja_sentence_segmenter.split.simple_splitter import split_newline, split_punctuation
from janome.tokenizer import Tokenizer
from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.lang_detect_exception import LangDetectException

__all__ = [
    "INSTRUCTION_IDS",
    "LANGDETECT_SEED",
    "Checker",
    "UnknownInstructionError",
    "build_checker",
    "count_sentences",
    "detect_language",
    "evaluate",
    "loose_variants",
    "tokenize",
]

#: The seed of the language detector (langdetect draws random n-grams; upstream leaves it unseeded).
LANGDETECT_SEED = 0

LESS_THAN = "未満"
AT_LEAST = "以上"
_RELATIONS = (LESS_THAN, AT_LEAST)


class UnknownInstructionError(KeyError):
    """An instruction id that no checker implements (never passed silently)."""

    def __init__(self, instruction_id: str):
        super().__init__(instruction_id)
        self.instruction_id = instruction_id

    def __str__(self) -> str:
        return (f"unknown M-IFEval-ja instruction id {self.instruction_id!r}: no checker for it "
                f"(known: {', '.join(INSTRUCTION_IDS)})")


# --------------------------------------------------------------------------------------------- text tools


_tokenizer_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _tokenizer() -> Tokenizer:
    # janome's system dictionary ships inside the wheel: nothing is downloaded.
    return Tokenizer()


@functools.lru_cache(maxsize=256)
def tokenize(text: str) -> tuple:
    """janome tokens of ``text`` (upstream's word segmentation for keywords and nominal endings)."""
    with _tokenizer_lock:
        return tuple(_tokenizer().tokenize(text))


def _surfaces(text: str) -> list[str]:
    return [token.surface for token in tokenize(text)]


@functools.lru_cache(maxsize=1)
def _sentence_segmenter() -> Callable[[str], Iterable[str]]:
    # Upstream's pipeline: neologd normalisation of the whole text, one piece per line, a line ending in "の" joined
    # with the next, then a cut after each of 。!? (full-width ！？ became ASCII in the normalisation) that is outside
    # 「」 and ().
    join_after_no = functools.partial(
        concatenate_matching, former_matching_rule=r"^(?P<result>.+)(の)$", remove_former_matched=False)
    cut_at_punctuation = functools.partial(split_punctuation, punctuations=r"。!?")
    return make_pipeline(normalize, split_newline, join_after_no, cut_at_punctuation)


def count_sentences(text: str) -> int:
    """The number of sentences as upstream counts them (ja_sentence_segmenter)."""
    return sum(1 for _ in _sentence_segmenter()(text))


_detector_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _detector_factory() -> DetectorFactory:
    # The language profiles ship inside the langdetect package: nothing is downloaded. An own factory (not
    # langdetect's module-level one) so that the seed does not leak into other users of langdetect.
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.set_seed(LANGDETECT_SEED)
    return factory


def detect_language(text: str) -> str:
    """langdetect's language code of ``text``, with a fixed seed (raises ``LangDetectException`` as langdetect).

    langdetect estimates from n-grams drawn at random; unseeded (as upstream runs it) a text whose languages are
    mixed can get a different answer from one run to the next. With the seed every call on the same text gives the
    same answer, whatever was detected before. (claude-3-5-sonnet-20240620's Thai mail, key 2, is "th" for about
    two seeds in three and "ja" otherwise; the official strict verdict was made on a "ja" draw, seed 0 gives "th".)
    """
    with _detector_lock:
        detector = _detector_factory().create()
        detector.append(text)
        return detector.detect()


# --------------------------------------------------------------------------------------------- checkers


def _non_negative_int(instruction_id: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{instruction_id}: {name} must be a non-negative integer, got {value!r}")
    return value


def _relation(instruction_id: str, name: str, value: Any) -> str:
    if value not in _RELATIONS:
        raise ValueError(f"{instruction_id}: {name} must be one of {_RELATIONS}, got {value!r}")
    return value


def _text(instruction_id: str, name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{instruction_id}: {name} must be a non-empty string, got {value!r}")
    return value


def _words(instruction_id: str, name: str, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ValueError(f"{instruction_id}: {name} must be a non-empty list of strings, got {value!r}")
    return [_text(instruction_id, name, word) for word in value]


def _compare(count: int, relation: str, threshold: int) -> bool:
    return count < threshold if relation == LESS_THAN else count >= threshold


class Checker:
    """One verifiable instruction with its arguments; :meth:`check` tells whether a response follows it."""

    #: the instruction id without the ``ja:`` prefix (e.g. ``"keywords:existence"``)
    name: str = ""
    #: kwargs this checker takes
    params: tuple[str, ...] = ()

    def __init__(self, instruction_id: str, kwargs: Mapping[str, Any]):
        self.instruction_id = instruction_id
        self.kwargs = dict(kwargs)
        self._setup(**self.kwargs)

    def _setup(self) -> None:  # checkers with arguments override this
        pass

    def check(self, response: str) -> bool:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.instruction_id!r}, {self.kwargs!r})"


_CHECKERS: dict[str, type[Checker]] = {}


def _register(cls: type[Checker]) -> type[Checker]:
    _CHECKERS["ja:" + cls.name] = cls
    return cls


# ---- keywords


@_register
class KeywordsExistence(Checker):
    """Every keyword is one janome token of the response (a keyword inside a longer token does not count)."""

    name, params = "keywords:existence", ("keywords",)

    def _setup(self, keywords):
        self.keywords = _words(self.instruction_id, "keywords", keywords)

    def check(self, response):
        words = set(_surfaces(response))
        return all(keyword in words for keyword in self.keywords)


@_register
class KeywordsFrequency(Checker):
    """The keyword's count among the janome tokens is < or >= ``frequency``."""

    name, params = "keywords:frequency", ("keyword", "frequency", "relation")

    def _setup(self, keyword, frequency, relation):
        self.keyword = _text(self.instruction_id, "keyword", keyword).strip()
        self.frequency = _non_negative_int(self.instruction_id, "frequency", frequency)
        self.relation = _relation(self.instruction_id, "relation", relation)

    def check(self, response):
        return _compare(_surfaces(response).count(self.keyword), self.relation, self.frequency)


@_register
class KeywordsForbiddenWords(Checker):
    """No forbidden word is a janome token of the response."""

    name, params = "keywords:forbidden_words", ("forbidden_words",)

    def _setup(self, forbidden_words):
        self.forbidden_words = _words(self.instruction_id, "forbidden_words", forbidden_words)

    def check(self, response):
        words = set(_surfaces(response))
        return not any(word in words for word in self.forbidden_words)


@_register
class KeywordsLetterFrequency(Checker):
    """The hiragana letter plus its katakana twin (code point + 0x60) occur < or >= ``let_frequency`` times."""

    name, params = "keywords:letter_frequency", ("letter", "let_frequency", "let_relation")

    def _setup(self, letter, let_frequency, let_relation):
        if not isinstance(letter, str) or len(letter) != 1 or not ("ぁ" <= letter <= "ん"):
            raise ValueError(f"{self.instruction_id}: letter must be one hiragana letter, got {letter!r}")
        self.letters = (letter, chr(ord(letter) + 0x60))
        self.frequency = _non_negative_int(self.instruction_id, "let_frequency", let_frequency)
        self.relation = _relation(self.instruction_id, "let_relation", let_relation)

    def check(self, response):
        return _compare(sum(response.count(letter) for letter in self.letters), self.relation, self.frequency)


# ---- language


@_register
class ResponseLanguage(Checker):
    """langdetect's language of the whole response is ``language``; a text langdetect cannot read passes
    (upstream's choice)."""

    name, params = "language:response_language", ("language",)

    def _setup(self, language):
        self.language = _text(self.instruction_id, "language", language)

    def check(self, response):
        try:
            return detect_language(response) == self.language
        except LangDetectException:
            return True


# ---- length constraints


@_register
class NumberSentences(Checker):
    """ja_sentence_segmenter's sentence count (:func:`count_sentences`) is < or >= ``num_sentences``."""

    name, params = "length_constraints:number_sentences", ("num_sentences", "relation")

    def _setup(self, num_sentences, relation):
        self.num_sentences = _non_negative_int(self.instruction_id, "num_sentences", num_sentences)
        self.relation = _relation(self.instruction_id, "relation", relation)

    def check(self, response):
        return _compare(count_sentences(response), self.relation, self.num_sentences)


@_register
class NumberParagraphs(Checker):
    """Exactly ``num_paragraphs`` paragraphs separated by ``***`` (an empty one between two separators fails;
    empty first/last pieces are not counted)."""

    name, params = "length_constraints:number_paragraphs", ("num_paragraphs",)

    def _setup(self, num_paragraphs):
        self.num_paragraphs = _non_negative_int(self.instruction_id, "num_paragraphs", num_paragraphs)

    def check(self, response):
        pieces = re.split(r"\s?\*\*\*\s?", response)
        last = len(pieces) - 1
        count = 0
        for index, piece in enumerate(pieces):
            if piece.strip():
                count += 1
            elif 0 < index < last:
                return False
        return count == self.num_paragraphs


@_register
class NumberLetters(Checker):
    """The response's length in characters (``len``, everything counted) is < or >= ``num_letters``."""

    name, params = "length_constraints:number_letters", ("num_letters", "relation")

    def _setup(self, num_letters, relation):
        self.num_letters = _non_negative_int(self.instruction_id, "num_letters", num_letters)
        self.relation = _relation(self.instruction_id, "relation", relation)

    def check(self, response):
        return _compare(len(response), self.relation, self.num_letters)


@_register
class NthParagraphFirstWord(Checker):
    r"""Paragraphs are split on ``\n\n``; the number of non-blank ones is ``num_paragraphs`` and the
    ``nth_paragraph``-th piece (counted in the raw split, blanks included: upstream's indexing) starts, after
    leading 「 and then 『 are stripped, with ``first_word`` (lower-cased; the paragraph is not)."""

    name, params = "length_constraints:nth_paragraph_first_word", ("num_paragraphs", "nth_paragraph", "first_word")

    def _setup(self, num_paragraphs, nth_paragraph, first_word):
        self.num_paragraphs = _non_negative_int(self.instruction_id, "num_paragraphs", num_paragraphs)
        self.nth_paragraph = _non_negative_int(self.instruction_id, "nth_paragraph", nth_paragraph)
        if not 0 < self.nth_paragraph <= self.num_paragraphs:
            raise ValueError(f"{self.instruction_id}: nth_paragraph must be in 1..num_paragraphs, got "
                             f"{nth_paragraph!r} (num_paragraphs={num_paragraphs!r})")
        self.first_word = _text(self.instruction_id, "first_word", first_word).lower()

    def check(self, response):
        pieces = response.split("\n\n")
        count = sum(1 for piece in pieces if piece.strip())
        if self.nth_paragraph > count:
            return False
        paragraph = pieces[self.nth_paragraph - 1].strip()
        if not paragraph:
            return False
        paragraph = paragraph.lstrip("「").lstrip("『")
        return count == self.num_paragraphs and paragraph[:len(self.first_word)] == self.first_word


# ---- detectable content


@_register
class NumberPlaceholders(Checker):
    """At least ``num_placeholders`` square-bracketed placeholders ``[...]`` (ASCII brackets, within a line)."""

    name, params = "detectable_content:number_placeholders", ("num_placeholders",)

    def _setup(self, num_placeholders):
        self.num_placeholders = _non_negative_int(self.instruction_id, "num_placeholders", num_placeholders)

    def check(self, response):
        return len(re.findall(r"\[.*?\]", response)) >= self.num_placeholders


@_register
class Postscript(Checker):
    """The marker occurs anywhere, case-insensitively (upstream's pattern is not anchored). Only the exact marker
    ``P.P.S`` (no final dot) and ``P.S.`` get the loose spacing patterns; the data's ``P.P.S.`` is matched
    literally (upstream's quirk, kept)."""

    name, params = "detectable_content:postscript", ("postscript_marker",)

    def _setup(self, postscript_marker):
        marker = _text(self.instruction_id, "postscript_marker", postscript_marker).strip()
        self.postscript_marker = marker
        if marker == "P.P.S":
            pattern = r"\s*p\.\s?p\.\s?s.*$"
        elif marker == "P.S.":
            pattern = r"\s*p\.\s?s\..*$"
        else:
            pattern = r"\s*" + re.escape(marker) + r".*$"
        self._pattern = re.compile(pattern, flags=re.IGNORECASE | re.MULTILINE)

    def check(self, response):
        return self._pattern.search(response) is not None


# ---- detectable format


@_register
class NumberBulletLists(Checker):
    """Exactly ``num_bullets`` lines that start (after whitespace) with ``・`` followed by something other than ``・``
    (``*`` and ``-`` bullets do not count)."""

    name, params = "detectable_format:number_bullet_lists", ("num_bullets",)

    def _setup(self, num_bullets):
        self.num_bullets = _non_negative_int(self.instruction_id, "num_bullets", num_bullets)

    def check(self, response):
        return len(re.findall(r"^\s*・[^・].*$", response, flags=re.MULTILINE)) == self.num_bullets


@_register
class NumberNumberedLists(Checker):
    """Exactly ``num_items`` lines that start (after whitespace) with digits, ``.`` and whitespace."""

    name, params = "detectable_format:number_numbered_lists", ("num_items",)

    def _setup(self, num_items):
        self.num_items = _non_negative_int(self.instruction_id, "num_items", num_items)

    def check(self, response):
        return len(re.findall(r"^\s*\d+\.\s.*$", response, flags=re.MULTILINE)) == self.num_items


_CONSTRAINED_RESPONSES = ("はい、そうです。", "いいえ、違います。", "どちらとも言えません。")


@_register
class ConstrainedResponse(Checker):
    """One of the three fixed answers occurs anywhere in the response."""

    name = "detectable_format:constrained_response"

    def check(self, response):
        response = response.strip()
        return any(option in response for option in _CONSTRAINED_RESPONSES)


@_register
class NumberHighlightedSections(Checker):
    """At least ``num_highlights`` non-blank ``《...》`` sections within a line."""

    name, params = "detectable_format:number_highlighted_sections", ("num_highlights",)

    def _setup(self, num_highlights):
        self.num_highlights = _non_negative_int(self.instruction_id, "num_highlights", num_highlights)

    def check(self, response):
        found = re.findall(r"《[^\n《》]*》", response)
        return sum(1 for section in found if section.strip("《》").strip()) >= self.num_highlights


@_register
class MultipleSections(Checker):
    """At least ``num_sections`` headers ``第<digits><section_spliter>`` (ASCII or full-width digits), anywhere."""

    name, params = "detectable_format:multiple_sections", ("section_spliter", "num_sections")

    def _setup(self, section_spliter, num_sections):
        self.section_spliter = _text(self.instruction_id, "section_spliter", section_spliter).strip()
        self.num_sections = _non_negative_int(self.instruction_id, "num_sections", num_sections)
        self._pattern = re.compile(r"\s?第[\d\uFF10-\uFF19]+" + re.escape(self.section_spliter) + r"\s?")

    def check(self, response):
        return len(self._pattern.split(response)) - 1 >= self.num_sections


@_register
class JsonFormat(Checker):
    """After stripping and removing, one after the other, the prefixes ```json, ```Json, ```JSON, ``` and the
    suffix ```, the text parses as JSON."""

    name = "detectable_format:json_format"

    def check(self, response):
        text = response.strip()
        for prefix in ("```json", "```Json", "```JSON", "```"):
            text = text.removeprefix(prefix)
        text = text.removesuffix("```").strip()
        try:
            json.loads(text)
        except ValueError:
            return False
        return True


@_register
class Title(Checker):
    """A ``『...』`` on one line (greedy: first 『 to last 』 of the line) with non-blank content."""

    name = "detectable_format:title"

    def check(self, response):
        return any(title.lstrip("『").rstrip("』").strip() for title in re.findall(r"『[^\n]+』", response))


def _drop_quotations(text: str) -> str:
    # 「...」 and then 『...』 within a line, shortest first, as upstream removes quoted speech.
    return re.sub(r"『.*?』", "", re.sub(r"「.*?」", "", text))


@_register
class NominalEnding(Checker):
    """At least ``count`` times a janome token whose surface is a substring of ``。！？`` (so ``！？`` counts too:
    upstream tests ``in`` a string) follows a noun (名詞), outside quotations; the first token never counts."""

    name, params = "detectable_format:nominal_ending", ("count",)

    def _setup(self, count):
        self.count = _non_negative_int(self.instruction_id, "count", count)

    def check(self, response):
        tokens = tokenize(_drop_quotations(response))
        endings = sum(1 for before, token in zip(tokens, tokens[1:])
                      if token.surface in "。！？" and before.part_of_speech.startswith("名詞"))
        return endings >= self.count


# ---- combination


@_register
class TwoResponses(Checker):
    """Split on ``******``: exactly two non-blank answers that differ (blank pieces only at the ends)."""

    name = "combination:two_responses"

    def check(self, response):
        pieces = response.split("******")
        last = len(pieces) - 1
        answers = []
        for index, piece in enumerate(pieces):
            if piece.strip():
                answers.append(piece.strip())
            elif 0 < index < last:
                return False
        return len(answers) == 2 and answers[0] != answers[1]


@_register
class RepeatPrompt(Checker):
    """The stripped response starts with the stripped ``prompt_to_repeat``."""

    name, params = "combination:repeat_prompt", ("prompt_to_repeat",)

    def _setup(self, prompt_to_repeat):
        self.prompt_to_repeat = _text(self.instruction_id, "prompt_to_repeat", prompt_to_repeat)

    def check(self, response):
        return response.strip().startswith(self.prompt_to_repeat.strip())


# ---- start / end


@_register
class EndChecker(Checker):
    """The response ends with ``end_phrase``, both stripped of whitespace and then of closing 」』."""

    name, params = "startend:end_checker", ("end_phrase",)

    def _setup(self, end_phrase):
        self.end_phrase = _text(self.instruction_id, "end_phrase", end_phrase).strip().strip("」』")

    def check(self, response):
        return response.strip().strip("」』").endswith(self.end_phrase)


@_register
class Quotation(Checker):
    """The stripped response is wrapped in 「 」 (two characters at least)."""

    name = "startend:quotation"

    def check(self, response):
        response = response.strip()
        return len(response) > 1 and response[0] == "「" and response[-1] == "」"


@_register
class SentenceUnifiedEnd(Checker):
    """Outside quotations, every non-empty piece between 。！？ ends with ``ending``. The piece after the last
    mark counts too, so a trailing newline or a closing line without a mark fails (upstream's quirk, kept)."""

    name, params = "startend:sentence_unified_end", ("ending",)

    def _setup(self, ending):
        self.ending = _text(self.instruction_id, "ending", ending)

    def check(self, response):
        pieces = re.split(r"[。！？]", _drop_quotations(response))
        return all(piece.endswith(self.ending) for piece in pieces if piece)


# ---- letters


_KANJI = r"[\u4e00-\u9faf]"


@_register
class Furigana(Checker):
    """Every run of kanji (U+4E00..U+9FAF) is directly followed by hiragana (ぁ..ん) in full-width parentheses."""

    name = "letters:furigana"

    def check(self, response):
        runs = len(re.findall(_KANJI + "+", response))
        with_reading = len(re.findall(_KANJI + r"+（[ぁ-ん]+）", response))
        return runs == with_reading


@_register
class Kansuuji(Checker):
    """No digit at all (Python's ``\\d``: any Unicode decimal digit, full-width included)."""

    name = "letters:kansuuji"

    def check(self, response):
        return re.search(r"\d", response) is None


def _is_letter(char: str) -> bool:
    return unicodedata.category(char).startswith("L")


@_register
class NoKatakana(Checker):
    """No katakana ァ..ヺ (U+30A1..U+30FA) nor half-width ｦ..ﾟ; the long-vowel mark ー is allowed."""

    name = "letters:no_katakana"

    def check(self, response):
        return not any("ァ" <= c <= "ヺ" or "ｦ" <= c <= "ﾟ" for c in response)


@_register
class KatakanaOnly(Checker):
    """Every letter (Unicode category L*) is katakana ァ..ン, ー, ・ or half-width ｦ..ﾟ (so ヴ and kanji fail)."""

    name = "letters:katakana_only"

    def check(self, response):
        return all("ァ" <= c <= "ン" or c in "ー・" or "ｦ" <= c <= "ﾟ" or not _is_letter(c) for c in response)


@_register
class NoHiragana(Checker):
    """No hiragana ぁ..ゖ (U+3041..U+3096)."""

    name = "letters:no_hiragana"

    def check(self, response):
        return not any("ぁ" <= c <= "ゖ" for c in response)


@_register
class HiraganaOnly(Checker):
    """Every letter (Unicode category L*) is hiragana ぁ..ん or ー (so kanji, katakana, Latin letters fail)."""

    name = "letters:hiragana_only"

    def check(self, response):
        return all("ぁ" <= c <= "ん" or c == "ー" or not _is_letter(c) for c in response)


@_register
class KanjiLimit(Checker):
    """The number of kanji characters (U+4E00..U+9FAF) is < or >= ``kanji_limit``."""

    name, params = "letters:kanji", ("kanji_limit", "relation")

    def _setup(self, kanji_limit, relation):
        self.kanji_limit = _non_negative_int(self.instruction_id, "kanji_limit", kanji_limit)
        self.relation = _relation(self.instruction_id, "relation", relation)

    def check(self, response):
        return _compare(len(re.findall(_KANJI, response)), self.relation, self.kanji_limit)


# ---- punctuation


@_register
class NoComma(Checker):
    """No Japanese comma 、 (ASCII and full-width commas are allowed)."""

    name = "punctuation:no_comma"

    def check(self, response):
        return "、" not in response


@_register
class NoPeriod(Checker):
    """No Japanese full stop 。."""

    name = "punctuation:no_period"

    def check(self, response):
        return "。" not in response


#: The instruction ids with a checker: upstream's whole ja registry.
INSTRUCTION_IDS: tuple[str, ...] = tuple(sorted(_CHECKERS))


# --------------------------------------------------------------------------------------------- evaluation


def build_checker(instruction_id: str, kwargs: Mapping[str, Any] | None = None) -> Checker:
    """The checker of ``instruction_id`` (e.g. ``"ja:keywords:existence"``) with its arguments.

    ``None`` values in ``kwargs`` are dropped. Raises :class:`UnknownInstructionError` for an id with no checker and
    ``ValueError`` for missing, unexpected or invalid arguments.
    """
    cls = _CHECKERS.get(instruction_id)
    if cls is None:
        raise UnknownInstructionError(instruction_id)
    given = {key: value for key, value in (kwargs or {}).items() if value is not None}
    unexpected = sorted(set(given) - set(cls.params))
    missing = [name for name in cls.params if name not in given]
    if unexpected or missing:
        raise ValueError(f"{instruction_id}: takes kwargs {list(cls.params)}; "
                         f"missing {missing}, unexpected {unexpected}")
    return cls(instruction_id, given)


def loose_variants(response: str) -> list[str]:
    """The responses loose scoring tries, as upstream: the response, without its first line, without its last
    line, without both (these three stripped), and each of the four with every ``*`` removed.

    (Upstream also builds a variant with ``"`` removed but never uses it; the official verdicts reflect that.)
    """
    lines = response.split("\n")
    cut = ["\n".join(lines[1:]).strip(), "\n".join(lines[:-1]).strip(), "\n".join(lines[1:-1]).strip()]
    return [response, response.replace("*", ""), *cut, *(text.replace("*", "") for text in cut)]


def _follows(checker: Checker, response: str) -> bool:
    # upstream: a blank text follows nothing
    return bool(response.strip()) and checker.check(response)


def evaluate(prompt_row: Mapping[str, Any], response: Any) -> dict[str, Any]:
    """Strict and loose verdicts of ``response`` on the instructions of ``prompt_row`` (a row of
    ``ja_input_data.jsonl``: ``instruction_id_list`` and ``kwargs``), as upstream's ``evaluation_main``.

    Returns ``prompt_level_strict_acc`` (all followed), ``inst_level_strict_acc`` (one bool per instruction),
    ``prompt_level_loose_acc`` and ``inst_level_loose_acc``. A response that is not a string follows nothing.
    """
    ids = list(prompt_row["instruction_id_list"])
    all_kwargs = list(prompt_row.get("kwargs") or [{}] * len(ids))
    if len(all_kwargs) != len(ids):
        raise ValueError(f"{len(ids)} instruction ids but {len(all_kwargs)} kwargs in prompt row "
                         f"{prompt_row.get('key')!r}")
    checkers = [build_checker(instruction_id, kwargs) for instruction_id, kwargs in zip(ids, all_kwargs)]
    if isinstance(response, str):
        strict = [_follows(checker, response) for checker in checkers]
        variants = loose_variants(response)
        loose = [any(_follows(checker, text) for text in variants) for checker in checkers]
    else:
        strict = [False] * len(checkers)
        loose = [False] * len(checkers)
    return {
        "prompt_level_strict_acc": all(strict),
        "inst_level_strict_acc": strict,
        "prompt_level_loose_acc": all(loose),
        "inst_level_loose_acc": loose,
    }
