"""WMT20 en<->ja translation under two published protocols, as pure functions.

``jp-stable``
    Stability-AI/lm-evaluation-harness, branch jp-stable (= lm-eval 0.3's
    ``lm_eval/tasks/translation.py``), tasks ``wmt20-en-ja`` / ``wmt20-ja-en``:
    a completion prompt ``"<Src> phrase: <src>\\n<Tgt> phrase:"``, target ``" " + ref``,
    shots joined by a blank line, greedy generation stopped at ``"\\n"``; for a
    Japanese target both hypothesis and reference are ``strip()``-ed and segmented
    with nagisa; then sacrebleu (pinned 1.5.0 upstream) ``corpus_bleu`` / ``corpus_chrf`` /
    ``corpus_ter`` with their defaults; 1.5.0 reports chrF and TER as fractions (0-1), BLEU 0-100.

``swallow``
    swallow-llm/swallow-evaluation-instruct @3520211,
    ``lighteval/src/lighteval/tasks/swallow/wmt20.py`` and
    ``metrics_translation_japanese.py``: a zero-shot chat prompt (one user turn) that
    asks for a ``日本語: ...`` / ``English: ...`` line, the translation taken from the
    last such line (``""`` when there is none), BLEU on Janome-segmented Japanese
    (``bleu``) plus BLEU on nagisa-segmented Japanese (``bleu_lmevalja``); ja->en is
    plain BLEU.  sacrebleu ``BLEU(trg_lang=...)`` defaults: tok 13a, smooth exp.

Scores are corpus-level (sufficient statistics summed over all pairs), 0-100.

Data: a sacrebleu cache folder (``~/.sacrebleu`` works as ``data_dir``):
``<data_dir>/wmt20/wmt20.en-ja.src`` and ``.ref`` (sacrebleu >= 2 layout), or the
sacrebleu 1.x layout ``<data_dir>/wmt20/en-ja.en`` and ``en-ja.ja``; line-aligned.
Without a ``data_dir`` the files come from sacrebleu's own downloader
(``sacrebleu.DATASETS["wmt20"]``), 1000 (en-ja) / 993 (ja-en) sentences.

The segmenters are imported lazily; nagisa and Janome ship their models inside the
wheel, so nothing is downloaded at import or run time.  A missing segmenter raises
:class:`~lm_eval_ja.errors.UserError`; there is no substitute segmenter.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from lm_eval_ja.errors import UserError

DATASET = "wmt20"
DIRECTIONS = ("en-ja", "ja-en")
#: sentence pairs in sacrebleu's wmt20 test sets (newstest2020)
WMT20_SIZES = {"en-ja": 1000, "ja-en": 993}
PROTOCOLS = ("jp-stable", "swallow")

#: the upstream pins the protocols were published with (we compute with the installed sacrebleu 2.x,
#: configured to the same options; the signature we record is the installed one)
UPSTREAM_VERSIONS = {
    "jp-stable": {"sacrebleu": "1.5.0", "nagisa": ">=0.2.7"},
    "swallow": {"sacrebleu": "2.5.1", "nagisa": "0.2.11", "janome": "0.5.0"},
}


def _check_direction(direction: str) -> tuple[str, str]:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    src, tgt = direction.split("-")
    return src, tgt


@dataclass(frozen=True)
class Pair:
    """One source sentence and its single reference (value equality, like the upstream doc dicts)."""

    src: str
    ref: str


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------

def local_files(data_dir: str | os.PathLike, direction: str) -> tuple[str, str]:
    """(source, reference) paths for ``direction`` in a sacrebleu cache folder.

    The sacrebleu >= 2 layout (``wmt20/wmt20.en-ja.src`` / ``.ref``) is preferred; the 1.x layout
    (``wmt20/en-ja.en`` / ``en-ja.ja``) is used when only it is present.
    """
    src_lang, tgt_lang = _check_direction(direction)
    base = os.path.join(os.fspath(data_dir), DATASET)
    layouts = [
        (os.path.join(base, f"{DATASET}.{direction}.src"), os.path.join(base, f"{DATASET}.{direction}.ref")),
        (os.path.join(base, f"{direction}.{src_lang}"), os.path.join(base, f"{direction}.{tgt_lang}")),
    ]
    for src_path, ref_path in layouts:
        if os.path.isfile(src_path) and os.path.isfile(ref_path):
            return src_path, ref_path
    raise UserError(
        f"WMT20 {direction} data not found under {base}: expected {layouts[0][0]} and {layouts[0][1]} "
        f"(sacrebleu's cache layout); run `sacrebleu -t wmt20 -l {direction} --echo src` once online "
        f"with SACREBLEU={os.fspath(data_dir)}, or drop the data dir to download it.")


def read_pairs(src_path: str, ref_path: str) -> list[Pair]:
    """Line-aligned source/reference files -> pairs; each line ``rstrip()``-ed as lm-eval 0.3 does."""
    with open(src_path, encoding="utf-8") as f:
        src = [line.rstrip() for line in f]
    with open(ref_path, encoding="utf-8") as f:
        ref = [line.rstrip() for line in f]
    if len(src) != len(ref):
        raise UserError(f"{src_path} has {len(src)} lines but {ref_path} has {len(ref)}; "
                        "the source and reference files must be line-aligned.")
    return [Pair(s, r) for s, r in zip(src, ref)]


def load_local(data_dir: str | os.PathLike, direction: str) -> list[Pair]:
    """Pairs from a sacrebleu cache folder (see :func:`local_files`)."""
    return read_pairs(*local_files(data_dir, direction))


def download_files(direction: str) -> tuple[str, str]:
    """Fetch (if needed) through sacrebleu's own downloader into ``$SACREBLEU`` (default ``~/.sacrebleu``)."""
    _check_direction(direction)
    import sacrebleu

    dataset = sacrebleu.DATASETS[DATASET]
    src_path = dataset.get_source_file(direction)  # downloads + processes to text when absent
    ref_paths = dataset.get_reference_files(direction)
    if len(ref_paths) != 1:
        raise UserError(f"sacrebleu lists {len(ref_paths)} references for {DATASET} {direction}; expected 1.")
    return src_path, ref_paths[0]


def load_online(direction: str) -> list[Pair]:
    """The official WMT20 test set via sacrebleu (network on first use); checks the sentence count."""
    pairs = read_pairs(*download_files(direction))
    if len(pairs) != WMT20_SIZES[direction]:
        raise UserError(f"sacrebleu's {DATASET} {direction} has {len(pairs)} sentences, expected "
                        f"{WMT20_SIZES[direction]}; delete the {DATASET} folder in the sacrebleu cache and retry.")
    return pairs


def load_pairs(direction: str, data_dir: str | os.PathLike | None = None) -> list[Pair]:
    """Local sacrebleu-layout data when ``data_dir`` is given, else sacrebleu's downloader."""
    return load_local(data_dir, direction) if data_dir is not None else load_online(direction)


# --------------------------------------------------------------------------------------
# Segmenters (lazy, offline; no substitutes)
# --------------------------------------------------------------------------------------

_NAGISA_TAGGER = None
_JANOME = None


def _nagisa():
    try:
        import nagisa
    except ImportError as exc:  # nagisa needs DyNet (dyNET38 wheels exist for CPython 3.11 x86_64)
        raise UserError(
            "This WMT20 metric segments Japanese with nagisa, which is not installed "
            f"({exc}); run pip install 'nagisa==0.2.11' (it pulls dyNET38). No other segmenter is used "
            "in its place.") from None
    return nagisa


def _nagisa_tagger():
    """One ``nagisa.Tagger()`` (the default model shipped in the wheel), built on first use."""
    global _NAGISA_TAGGER
    if _NAGISA_TAGGER is None:
        _NAGISA_TAGGER = _nagisa().Tagger()
    return _NAGISA_TAGGER


def _janome():
    global _JANOME
    if _JANOME is None:
        try:
            from janome.tokenizer import Tokenizer
        except ImportError as exc:
            raise UserError(
                f"The Swallow WMT20 BLEU segments Japanese with Janome, which is not installed ({exc}); "
                "run pip install 'janome==0.5.0'.") from None
        _JANOME = Tokenizer(wakati=True)
    return _JANOME


def nagisa_words(text: str) -> list[str]:
    """nagisa's word segmentation of ``text`` as given (``tagging(text).words`` == ``wakati(text)``)."""
    return list(_nagisa_tagger().wakati(text))


def janome_words(text: str) -> list[str]:
    """Janome ``Tokenizer(wakati=True).tokenize(text)`` surfaces, whitespace tokens kept."""
    return list(_janome().tokenize(text))


# --------------------------------------------------------------------------------------
# Corpus metrics (installed sacrebleu, options pinned explicitly)
# --------------------------------------------------------------------------------------

@dataclass
class CorpusScores:
    """Corpus-level scores (0-100) and the sacrebleu signature of each."""

    scores: dict[str, float] = field(default_factory=dict)
    signatures: dict[str, str] = field(default_factory=dict)
    n: int = 0


def _check_lengths(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    if not hypotheses:
        raise ValueError("no (hypothesis, reference) pairs to score")


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str], trg_lang: str = "") -> tuple[float, str]:
    """sacrebleu BLEU with ``corpus_bleu``'s defaults (tok 13a, smooth exp, mixed case, no effective order).

    ``trg_lang`` only affects the default tokenizer for zh/ja/ko, which neither protocol reaches
    (``""`` / ``"en"``), so both protocols score with 13a.
    """
    from sacrebleu.metrics import BLEU

    _check_lengths(hypotheses, references)
    metric = BLEU(lowercase=False, force=False, tokenize="13a", smooth_method="exp", smooth_value=None,
                  effective_order=False, trg_lang=trg_lang)
    score = metric.corpus_score(list(hypotheses), [list(references)])
    return float(score.score), str(metric.get_signature())


def corpus_chrf(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    """sacrebleu chrF with ``corpus_chrf``'s defaults: char order 6, no word n-grams, beta 2, whitespace removed."""
    from sacrebleu.metrics import CHRF

    _check_lengths(hypotheses, references)
    metric = CHRF(char_order=6, word_order=0, beta=2, lowercase=False, whitespace=False, eps_smoothing=False)
    score = metric.corpus_score(list(hypotheses), [list(references)])
    return float(score.score), str(metric.get_signature())


def corpus_ter(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    """sacrebleu TER with ``corpus_ter``'s defaults: case-insensitive, no normalisation, punctuation kept."""
    from sacrebleu.metrics import TER

    _check_lengths(hypotheses, references)
    metric = TER(normalized=False, no_punct=False, asian_support=False, case_sensitive=False)
    score = metric.corpus_score(list(hypotheses), [list(references)])
    return float(score.score), str(metric.get_signature())


# --------------------------------------------------------------------------------------
# jp-stable (lm-eval 0.3 translation task)
# --------------------------------------------------------------------------------------

#: pycountry ``languages.get(alpha_2=code).name`` for the two codes (translation.py code_to_language)
JP_STABLE_LANGUAGE_NAMES = {"en": "English", "ja": "Japanese"}
#: greedy_until stop sequences (translation.py construct_requests)
JP_STABLE_UNTIL = ("\n",)
#: lm-eval 0.3 Task.fewshot_context default separator
JP_STABLE_FEWSHOT_SEP = "\n\n"
#: lm-eval 0.3 evaluator: random.Random(42) shuffles the docs and then samples every doc's shots
JP_STABLE_SEED = 42
#: max_gen_toks of the 0.3 HF models (gpt2.py / huggingface.py default)
JP_STABLE_MAX_GEN_TOKS = 256


def jp_stable_doc_to_text(src: str, direction: str) -> str:
    """``f"{src_lang} phrase: " + src + f"\\n{tar_lang} phrase:"`` (no trailing space)."""
    s, t = _check_direction(direction)
    return f"{JP_STABLE_LANGUAGE_NAMES[s]} phrase: " + src + f"\n{JP_STABLE_LANGUAGE_NAMES[t]} phrase:"


def jp_stable_doc_to_target(ref: str) -> str:
    """The reference with one leading space."""
    return " " + ref


def jp_stable_prompt(src: str, direction: str, shots: Sequence[Pair] = (), description: str = "") -> str:
    """The full context: ``description + "\\n\\n"`` (if any), each shot as text+target joined and
    followed by ``"\\n\\n"``, then the query text."""
    sep = JP_STABLE_FEWSHOT_SEP
    head = description + sep if description else ""
    labeled = (sep.join(jp_stable_doc_to_text(p.src, direction) + jp_stable_doc_to_target(p.ref)
                        for p in shots) + sep) if shots else ""
    return head + labeled + jp_stable_doc_to_text(src, direction)


def jp_stable_contexts(pairs: Sequence[Pair], direction: str, num_fewshot: int, description: str = "",
                       limit: int | None = None, seed: int = JP_STABLE_SEED) -> list[tuple[int, str]]:
    """Replays lm-eval 0.3's evaluator for this task: ``(index into pairs, context)`` in evaluation order.

    The docs are shuffled by ``random.Random(seed)``; the same generator then draws
    ``num_fewshot + 1`` shots per doc from the unshuffled test set (``rnd.sample``), drops the doc
    itself (by value) and keeps the first ``num_fewshot``.  ``limit`` keeps the first docs after
    the shuffle, as ``--limit`` does.
    """
    rnd = random.Random()
    rnd.seed(seed)
    # shuffling indices gives the docs' permutation: random.shuffle only depends on the length
    order = list(range(len(pairs)))
    rnd.shuffle(order)
    docs = [pairs[i] for i in order]
    if limit is not None:
        order, docs = order[:limit], docs[:limit]
    pool = list(pairs)
    out = []
    for idx, doc in zip(order, docs):
        shots: list[Pair] = []
        if num_fewshot > 0:
            drawn = rnd.sample(pool, num_fewshot + 1)
            shots = [x for x in drawn if x != doc][:num_fewshot]
        out.append((idx, jp_stable_prompt(doc.src, direction, shots, description)))
    return out


def jp_stable_extract(generation: str, eot_token: str | None = None) -> str:
    """Cut the generation at each stop sequence in turn (``"\\n"``, then the EOS string if given);
    no stripping (the 0.3 HF model adds its EOS text to ``until``)."""
    for term in JP_STABLE_UNTIL + ((eot_token,) if eot_token else ()):
        generation = generation.split(term)[0]
    return generation


def jp_stable_segment(text: str, direction: str) -> str:
    """For a Japanese target ``" ".join(nagisa.tagging(text.strip()).words)``; English unchanged."""
    _, tgt = _check_direction(direction)
    if tgt == "ja":
        return " ".join(nagisa_words(text.strip()))
    return text


def jp_stable_prepare(hypothesis: str, reference: str, direction: str) -> tuple[str, str]:
    """The per-doc (hypothesis, reference) that go into the corpus metrics."""
    return jp_stable_segment(hypothesis, direction), jp_stable_segment(reference, direction)


#: sacrebleu 1.5.0 (the jp-stable pin) reports BLEU on 0-100 but chrF and TER as fractions (0-1 for
#: chrF; TER = edits / reference words); the published jp-stable numbers use that scale.
JP_STABLE_UPSTREAM_SCALE = {"bleu": 1.0, "chrf": 0.01, "ter": 0.01}
#: the signatures sacrebleu 1.5.0 prints for the same options (scores are computed with the installed
#: sacrebleu; its own signature is recorded in ``CorpusScores.signatures``)
JP_STABLE_UPSTREAM_SIGNATURES = {
    "bleu": "BLEU+case.mixed+numrefs.1+smooth.exp+tok.13a+version.1.5.0",
    "chrf": "chrF2+numchars.6+space.false+version.1.5.0",
    "ter": "TER+tok.tercom-nonorm-punct-noasian-uncased+version.1.5.0",
}


def jp_stable_score(hypotheses: Sequence[str], references: Sequence[str], direction: str,
                    prepared: bool = False, upstream_scale: bool = True) -> CorpusScores:
    """bleu / chrf / ter over all pairs.  ``hypotheses`` are extracted generations
    (:func:`jp_stable_extract`) and ``references`` the raw references, unless ``prepared``.

    With ``upstream_scale`` (default) chrf and ter are fractions as jp-stable reported them
    (sacrebleu 1.5.0); otherwise all three are on sacrebleu 2's 0-100 scale.  BLEU is 0-100 either way.
    """
    _check_direction(direction)
    _check_lengths(hypotheses, references)
    if not prepared:
        prep = [jp_stable_prepare(h, r, direction) for h, r in zip(hypotheses, references)]
        hypotheses, references = [h for h, _ in prep], [r for _, r in prep]
    out = CorpusScores(n=len(hypotheses))
    for name, fn in (("bleu", corpus_bleu), ("chrf", corpus_chrf), ("ter", corpus_ter)):
        value, out.signatures[name] = fn(hypotheses, references)
        out.scores[name] = value * JP_STABLE_UPSTREAM_SCALE[name] if upstream_scale else value
    return out


# --------------------------------------------------------------------------------------
# Swallow (swallow-evaluation-instruct, lighteval)
# --------------------------------------------------------------------------------------

SWALLOW_ENJA_TEMPLATE = (
    "以下に示す英文を日本語に翻訳せよ。\n"
    "翻訳文の文体は、常体（だ、である）を用いること。\n"
    "翻訳文を出力するときは、改行してから `日本語: 翻訳文` という形式で出力すること。\n"
    "\n"
    "英語: {source_text}\n"
)
SWALLOW_JAEN_TEMPLATE = (
    "Translate the following Japanese sentence into English.\n"
    "On a new line, output the result in this exact format: `English: <your translation>`\n"
    "\n"
    "Japanese: {source_text}"
)
SWALLOW_TEMPLATES = {"en-ja": SWALLOW_ENJA_TEMPLATE, "ja-en": SWALLOW_JAEN_TEMPLATE}
SWALLOW_PREFIXES = {"en-ja": "日本語:", "ja-en": "English:"}


def swallow_query(src: str, direction: str) -> str:
    """The user-turn text (``str.format`` of the template with ``source_text``)."""
    _check_direction(direction)
    return SWALLOW_TEMPLATES[direction].format(source_text=src)


def swallow_messages(src: str, direction: str, system_prompt: str | None = None) -> list[dict]:
    """Zero-shot chat messages as lighteval's PromptManager builds them (no instruction, no shots);
    the model's chat template is applied with ``add_generation_prompt=True``."""
    messages = [{"role": "user", "content": swallow_query(src, direction)}]
    if system_prompt is not None:
        messages.insert(0, {"role": "system", "content": system_prompt})
    return messages


def _prefixed_line_regex(prefix: str) -> re.Pattern:
    return re.compile(rf"(?m)^\s*{re.escape(prefix)}\s*(?P<content>[^\n\r]*)", re.UNICODE)


_SWALLOW_REGEX = {d: _prefixed_line_regex(p) for d, p in SWALLOW_PREFIXES.items()}


def swallow_extract(response: str, direction: str) -> str:
    """The text after the last line-initial ``日本語:`` / ``English:`` (whitespace, even a newline,
    allowed around the prefix), up to the end of that line; ``""`` when no such line exists."""
    _check_direction(direction)
    matches = [(m.group("content"), m.start(), m.end()) for m in _SWALLOW_REGEX[direction].finditer(response)]
    if not matches:
        return ""
    matches.sort(key=lambda x: (x[2], -x[1]))
    return matches[-1][0]


def swallow_reference(ref: str) -> str:
    """The gold as the Doc stores it: ``ref.rstrip()``."""
    return ref.rstrip()


def swallow_segment(text: str, segmenter: str) -> str:
    """``" ".join`` of the segmenter's tokens of ``text`` as given (whitespace tokens kept)."""
    if segmenter == "janome":
        return " ".join(janome_words(text))
    if segmenter == "nagisa":
        return " ".join(nagisa_words(text))
    raise ValueError(f"segmenter must be 'janome' or 'nagisa', got {segmenter!r}")


#: metric name -> segmenter, per direction (wmt20.py ``metric=[...]``)
SWALLOW_METRICS = {"en-ja": {"bleu": "janome", "bleu_lmevalja": "nagisa"}, "ja-en": {"bleu": None}}


def swallow_prepare(hypothesis: str, reference: str, direction: str, segmenter: str | None) -> tuple[str, str]:
    """Per-doc (hypothesis, reference) for one metric; ``hypothesis`` is already extracted."""
    ref = swallow_reference(reference)
    if segmenter is None:
        return hypothesis, ref
    return swallow_segment(hypothesis, segmenter), swallow_segment(ref, segmenter)


def swallow_score(hypotheses: Sequence[str], references: Sequence[str], direction: str) -> CorpusScores:
    """en-ja: ``bleu`` (Janome) and ``bleu_lmevalja`` (nagisa); ja-en: ``bleu``.  ``hypotheses``
    are extracted translations (:func:`swallow_extract`), ``references`` the raw references."""
    _check_direction(direction)
    _check_lengths(hypotheses, references)
    trg_lang = "" if direction == "en-ja" else "en"
    out = CorpusScores(n=len(hypotheses))
    for name, segmenter in SWALLOW_METRICS[direction].items():
        prep = [swallow_prepare(h, r, direction, segmenter) for h, r in zip(hypotheses, references)]
        out.scores[name], out.signatures[name] = corpus_bleu([h for h, _ in prep], [r for _, r in prep],
                                                             trg_lang=trg_lang)
    return out


# --------------------------------------------------------------------------------------
# One entry point per protocol
# --------------------------------------------------------------------------------------

def extract(protocol: str, output: str, direction: str, eot_token: str | None = None) -> str:
    if protocol == "jp-stable":
        return jp_stable_extract(output, eot_token)
    if protocol == "swallow":
        return swallow_extract(output, direction)
    raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")


def score(protocol: str, hypotheses: Sequence[str], references: Sequence[str], direction: str) -> CorpusScores:
    if protocol == "jp-stable":
        return jp_stable_score(hypotheses, references, direction)
    if protocol == "swallow":
        return swallow_score(hypotheses, references, direction)
    raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
