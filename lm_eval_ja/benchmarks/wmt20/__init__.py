"""WMT20 news translation en↔ja (newstest2020, through sacrebleu's copy) under two published protocols.

Two benchmarks, one per direction (``wmt20_en_ja``, ``wmt20_ja_en``), each with two task versions named by the
protocol they reproduce (:mod:`lm_eval_ja.benchmarks.wmt20.protocols` holds every fact with its upstream file):

``wmt20_en_ja`` = ``wmt20_en_ja-swallow``, ``wmt20_ja_en`` = ``wmt20_ja_en-swallow``
    swallow-evaluation-instruct: a zero-shot chat prompt (run with ``--apply_chat_template``), greedy; the
    translation is the text of the last line that starts with ``日本語:`` / ``English:`` (empty when there is none).
    ``bleu``: corpus BLEU on Janome-segmented Japanese (en→ja) or plain text (ja→en); en→ja also reports
    ``bleu_lmevalja``, the same on nagisa-segmented Japanese. New tokens: the model's ``max_gen_toks``
    (``--model_args max_gen_toks=...``; Swallow's leaderboard lets the model write up to its 32k context).

``wmt20_en_ja-jp_stable``, ``wmt20_ja_en-jp_stable`` (also under jp-stable's own names ``wmt20-en-ja`` /
``wmt20-ja-en``)
    lm-eval 0.3's translation task: the completion prompt ``English phrase: …\\nJapanese phrase:``, shots drawn
    from the test set itself exactly as lm-eval 0.3 draws them (``random.Random(42)`` shuffles the documents,
    then draws n+1 shots per document and drops the document itself), greedy until ``"\\n"``, 256 new tokens;
    Japanese hypotheses and references are nagisa-segmented; ``bleu`` (0–100), ``chrf`` and ``ter`` are sacrebleu's
    corpus scores, chrF and TER as fractions (sacrebleu 1.5.0's scale, on which jp-stable published them).

Every metric is corpus-level: a document's item is its (segmented hypothesis, segmented reference) pair and the
aggregation scores all pairs at once; no standard error is reported. The sacrebleu signature of each metric and
the segmenter versions are recorded in result.json (``config.lm_eval_ja.data_sources.<task>.metrics``).

Data: ``--data_dir`` in sacrebleu's cache layout — ``wmt20/wmt20.en-ja.src`` with ``wmt20/wmt20.en-ja.ref`` beside
it (and ``ja-en``), line-aligned (``~/.sacrebleu`` works as a data dir). Online: WMT20's ``test.tgz`` at the address
sacrebleu downloads (md5-checked), its SGML files read as sacrebleu reads them: 1,000 (en→ja) / 993 (ja→en)
sentences. Segmenters: ``pip install 'lm-eval-ja[translation]'`` (nagisa 0.2.11, Janome 0.5.0). See
docs/translation.md.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from functools import partial
from pathlib import Path
from typing import Any

from lm_eval_ja.benchmarks.spec import (
    Benchmark,
    Family,
    Headline,
    Metric,
    Source,
    TaskVersion,
)
from lm_eval_ja.benchmarks.wmt20 import protocols as P
from lm_eval_ja.errors import UserError
from lm_eval_ja.requests import generation
from lm_eval_ja.scorers import PerDocument

#: sacrebleu's address and checksum of the WMT20 test sets (``sacrebleu.DATASETS["wmt20"]``, sacrebleu 2.x)
WMT20_TGZ = "https://data.statmt.org/wmt20/translation-task/test.tgz"
WMT20_TGZ_MD5 = "3b1f777cfd2fb15ccf66e9bfdb2b1699"
#: the SGML members of test.tgz per direction (source, reference), as sacrebleu lists them
WMT20_SGM = {
    "en-ja": ("sgm/newstest2020-enja-src.en.sgm", "sgm/newstest2020-enja-ref.ja.sgm"),
    "ja-en": ("sgm/newstest2020-jaen-src.ja.sgm", "sgm/newstest2020-jaen-ref.en.sgm"),
}
LANGUAGE = {"en": "English", "ja": "Japanese"}
PROTOCOLS = {"swallow": "swallow", "jp_stable": "jp-stable"}  # version name in task names -> protocols.py name


# ----------------------------------------------------------------------------------------------- readers


def read_pair(path: Path) -> list[dict[str, Any]]:
    """A line-aligned ``<name>.src`` with its ``<name>.ref`` beside it -> rows ``{src, ref}`` (lines ``rstrip()``-ed,
    as lm-eval 0.3 reads them)."""
    path = Path(path)
    ref = path.with_suffix(".ref")
    if path.suffix != ".src":
        raise UserError(f"Data file {path} is not a .src file; the WMT20 reader reads <name>.src with <name>.ref "
                        "beside it (sacrebleu's cache layout).")
    if not ref.is_file():
        raise UserError(f"Reference file {ref} is missing; put the references line-aligned with {path.name} "
                        f"beside it (sacrebleu's cache layout: wmt20/{ref.name}).")
    return [{"src": p.src, "ref": p.ref} for p in P.read_pairs(str(path), str(ref))]


def _sgm_lines(raw: bytes, member: str, archive: Path) -> list[str]:
    """The ``<seg>`` texts of an SGML file exactly as sacrebleu's ``FakeSGMLDataset._convert_format`` writes them
    (lines read in text mode; the tags removed, the text stripped and whitespace runs collapsed; entities kept)."""
    try:
        lines = list(io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{member} in {archive} is not UTF-8; delete the download and retry.") from None
    return [re.sub(r"\s+", " ", re.sub(r"<seg.*?>(.*)</seg>.*?", "\\1", line).strip())
            for line in lines if line.startswith("<seg ")]


def read_test_tgz(direction: str, path: Path) -> list[dict[str, Any]]:
    """WMT20's downloaded ``test.tgz`` (md5-checked) -> the direction's rows ``{src, ref}``."""
    path = Path(path)
    digest = hashlib.md5(path.read_bytes()).hexdigest()
    if digest != WMT20_TGZ_MD5:
        raise UserError(f"{path} (WMT20 test.tgz) has md5 {digest}, not sacrebleu's {WMT20_TGZ_MD5}; delete it and "
                        "retry, or pass --data_dir with sacrebleu's text files.")
    try:
        with tarfile.open(path, "r:gz") as archive:
            names = {m.name.lstrip("./"): m for m in archive.getmembers()}
            columns = []
            for member in WMT20_SGM[direction]:
                found = names.get(member)
                if found is None:
                    raise UserError(f"{path} (WMT20 test.tgz) has no {member}; delete it and retry.")
                columns.append(_sgm_lines(archive.extractfile(found).read(), member, path))
    except tarfile.TarError as exc:
        raise UserError(f"{path} is not a readable WMT20 test.tgz ({exc}); delete it and retry.") from None
    src, ref = columns
    if len(src) != len(ref) or len(src) != P.WMT20_SIZES[direction]:
        raise UserError(f"{path} gives {len(src)} source and {len(ref)} reference sentences for WMT20 {direction}, "
                        f"expected {P.WMT20_SIZES[direction]}; delete it and retry.")
    return [{"src": s, "ref": r} for s, r in zip(src, ref)]


def convert(row: dict[str, Any]) -> dict[str, Any]:
    return {"src": row["src"], "ref": row["ref"]}


# ----------------------------------------------------------------------------------------------- requests


def _direction(task) -> str:
    return task.spec.name.split("_", 1)[1].replace("_", "-")


def _protocol(task) -> str:
    return PROTOCOLS[task.task_version.protocol]


def _num_fewshot(task) -> int:
    return int(task.config.num_fewshot or 0)


def _jp_stable_contexts(task) -> list[tuple[int, str]]:
    """lm-eval 0.3's contexts for every document of the task, in its evaluation order (cached per shot count)."""
    k = _num_fewshot(task)
    cache = task.__dict__.setdefault("_wmt20_contexts", {})
    if k not in cache:
        pairs = [P.Pair(d["src"], d["ref"]) for d in task.fewshot_docs() or []]
        if len(pairs) != len(task.eval_docs):
            raise UserError(f"{task.config.task}: the shot pool ({len(pairs)}) is not the test set "
                            f"({len(task.eval_docs)}); jp-stable draws its shots from the test set itself.")
        description = task.description_override or ""
        cache[k] = P.jp_stable_contexts(pairs, _direction(task), k, description, seed=task.seed)
    return cache[k]


def request(task, doc, ctx, kwargs):
    """Swallow: the chat-templated zero-shot prompt as built, greedy, no stop string. jp-stable: lm-eval 0.3's
    context for this document (its own shots), greedy until ``"\\n"``, 256 new tokens."""
    name, k = task.config.task, _num_fewshot(task)
    if _protocol(task) == "swallow":
        if k:
            raise UserError(f"{name} is evaluated 0-shot (the Swallow protocol); use --num_fewshot 0 for it.")
        if ctx == task.doc_to_text(doc):
            raise UserError(f"{name} is a chat prompt (the Swallow protocol): pass --apply_chat_template; for the "
                            f"completion prompt use {task.spec.name}-jp_stable.")
        return generation(task, doc, ctx, kwargs, [], None)
    plain = task.plain_context(doc, task.shots(doc, k))
    if ctx != plain:
        raise UserError(f"{name} is lm-eval 0.3's completion prompt (the jp-stable protocol): run it without "
                        f"--apply_chat_template and --system_instruction; the chat protocol is {task.spec.name}.")
    position = doc["_eval_pos"]
    index, context = _jp_stable_contexts(task)[position]
    if P.Pair(doc["src"], doc["ref"]) != P.Pair(**{f: task.fewshot_docs()[index][f] for f in ("src", "ref")}):
        raise AssertionError("the jp-stable replay and the task disagree on the evaluation order")
    return generation(task, doc, context, kwargs, list(P.JP_STABLE_UNTIL), P.JP_STABLE_MAX_GEN_TOKS)


# ----------------------------------------------------------------------------------------------- scoring


def score(task, doc, results) -> dict[str, Any]:
    """The document's (hypothesis, reference) pair per metric, segmented as the protocol segments them."""
    direction, output = _direction(task), results[0]
    if _protocol(task) == "jp-stable":
        pair = P.jp_stable_prepare(P.jp_stable_extract(output), doc["ref"], direction)
        return {"bleu": pair, "chrf": pair, "ter": pair}
    hypothesis = P.swallow_extract(output, direction)
    return {name: P.swallow_prepare(hypothesis, doc["ref"], direction, segmenter)
            for name, segmenter in P.SWALLOW_METRICS[direction].items()}


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("sacrebleu", "nagisa", "janome"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    return out


def metric_facts(protocol: str, direction: str) -> dict[str, Any]:
    """What result.json records about the metrics: each one's sacrebleu signature, segmenter, scale and the
    upstream pins (signatures come from the installed sacrebleu, configured with the protocol's options)."""
    one = (["a"], ["a"])
    if protocol == "jp-stable":
        segmenter = "nagisa" if direction == "en-ja" else None
        signatures = {"bleu": P.corpus_bleu(*one)[1], "chrf": P.corpus_chrf(*one)[1], "ter": P.corpus_ter(*one)[1]}
        metrics = {name: {"signature": sig, "segmenter": segmenter,
                          "scale": "0-100" if name == "bleu" else "fraction (sacrebleu 1.5.0's, x0.01)",
                          "upstream_signature": P.JP_STABLE_UPSTREAM_SIGNATURES[name]}
                   for name, sig in signatures.items()}
    else:
        trg_lang = "" if direction == "en-ja" else "en"
        metrics = {name: {"signature": P.corpus_bleu(*one, trg_lang=trg_lang)[1], "segmenter": segmenter,
                          "scale": "0-100"}
                   for name, segmenter in P.SWALLOW_METRICS[direction].items()}
    return {"protocol": protocol, "corpus_level": True, "metrics": metrics, "installed": _versions(),
            "upstream": P.UPSTREAM_VERSIONS[protocol]}


def scorer(task) -> PerDocument:
    """Per-document pairs; records the metrics' signatures with the task's data sources (result.json)."""
    if isinstance(getattr(task, "data_sources", None), dict):
        task.data_sources["metrics"] = metric_facts(_protocol(task), _direction(task))
    return PerDocument(score, task)


def corpus(kind: str, factor: float = 1.0, trg_lang: str = ""):
    """The aggregation of one corpus metric over every document's (hypothesis, reference) item."""
    fn = {"bleu": partial(P.corpus_bleu, trg_lang=trg_lang), "chrf": P.corpus_chrf, "ter": P.corpus_ter}[kind]

    def aggregate(items: list) -> float:
        return fn([h for h, _ in items], [r for _, r in items])[0] * factor

    aggregate.__name__ = f"corpus_{kind}"
    return aggregate


# ----------------------------------------------------------------------------------------------- specs


def _benchmark(direction: str) -> Benchmark:
    src, tgt = direction.split("-")
    name = f"wmt20_{src}_{tgt}"
    local = Source(local=f"wmt20/wmt20.{direction}.src", format="wmt20_pair", online=WMT20_TGZ,
                   online_format=f"wmt20_tgz_{src}_{tgt}")
    swallow = tuple(Metric(m, corpus("bleu", trg_lang="" if tgt == "ja" else "en"))
                    for m in P.SWALLOW_METRICS[direction])
    jp_stable = (Metric("bleu", corpus("bleu")), Metric("chrf", corpus("chrf", P.JP_STABLE_UPSTREAM_SCALE["chrf"])),
                 Metric("ter", corpus("ter", P.JP_STABLE_UPSTREAM_SCALE["ter"]), higher_is_better=False))
    segmented = {"ja": ("Janome", "nagisa"), "en": (None, None)}[tgt]
    swallow_label = f"BLEU (Swallow{', ' + segmented[0] if segmented[0] else ''})"
    jp_stable_label = f"BLEU (jp-stable{', ' + segmented[1] if segmented[1] else ''})"
    return Benchmark(
        name=name, display_name=f"WMT20 {src}→{tgt}",
        title=f"WMT20 news translation {LANGUAGE[src]}→{LANGUAGE[tgt]} (newstest2020 via sacrebleu; "
              f"{P.WMT20_SIZES[direction]} sentences), corpus BLEU; Swallow's or jp-stable's protocol",
        output_type="generate_until", convert=convert, format="wmt20_pair",
        sources={"test": local}, eval_split="test", train_split="train",
        scorer=scorer, requests=request, default_target=" {ref}",
        generation_kwargs={"until": [], "do_sample": False},
        metrics=swallow, headline=Headline("bleu", 1.0, swallow_label),
        versions=(
            TaskVersion(None, f"{name}_swallow", number=1.0, protocol="swallow"),
            TaskVersion(None, f"{name}_jp_stable", number=0, protocol="jp_stable",
                        sources={"test": local, "train": local}, metrics=jp_stable, headline=Headline("bleu", 1.0, jp_stable_label)),
        ),
        alias=(None, "swallow"),
        other_names={f"wmt20-{direction}": (None, "jp_stable")},  # jp-stable's own task names
    )


FAMILY = Family(
    order=70,
    name="wmt20",
    benchmarks=(_benchmark("en-ja"), _benchmark("ja-en")),
    readers={"wmt20_pair": read_pair,
             **{f"wmt20_tgz_{d.replace('-', '_')}": partial(read_test_tgz, d) for d in P.DIRECTIONS}},
)
