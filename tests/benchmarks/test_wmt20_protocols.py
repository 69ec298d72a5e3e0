"""WMT20 en<->ja protocols (jp-stable, Swallow) on a small hand-written set (not WMT text)."""

from __future__ import annotations

import os
import random
import sys

import pytest
import sacrebleu

from lm_eval_ja.benchmarks.wmt20 import protocols as P
from lm_eval_ja.errors import UserError

# Our own sentences (en, ja), written for these tests.
PAIRS_EN_JA = [
    ("The library opens at nine in the morning.", "図書館は朝九時に開館する。"),
    ("My sister bought a new bicycle yesterday.", "妹は昨日新しい自転車を買った。"),
    ("It rained heavily all night in the mountains.", "山間部では一晩中激しい雨が降った。"),
    ("The committee will announce its decision next week.", "委員会は来週、決定を発表する予定だ。"),
    ("Please turn off the lights when you leave the room.", "部屋を出るときは電気を消してください。"),
    ("The train was delayed by twenty minutes.", "電車は二十分遅れた。"),
    ("He has been studying Japanese for three years.", "彼は三年間日本語を勉強している。"),
    ("The new bridge connects the two towns.", "新しい橋が二つの町を結んでいる。"),
    ("Fresh vegetables are sold at the market every Sunday.", "毎週日曜日に市場で新鮮な野菜が売られている。"),
    ("The museum displays paintings from the nineteenth century.", "その美術館は十九世紀の絵画を展示している。"),
    ("Our team won the final match by two goals.", "私たちのチームは決勝戦に二点差で勝った。"),
    ("The price of coffee has risen this year.", "今年はコーヒーの価格が上がった。"),
]
PAIRS_JA_EN = [(ja, en) for en, ja in PAIRS_EN_JA]

# imperfect system outputs (same order as the pairs)
HYP_JA = [
    "図書館は午前九時に開く。", "妹は昨日新しい自転車を買った。", "山では一晩中強い雨が降った。",
    "委員会は来週決定を発表する。", "部屋を出る時は明かりを消してください。", "電車は二十分遅れた。",
    "彼は三年間日本語を勉強している。", "新しい橋は二つの町をつなぐ。", "毎週日曜日、市場で新鮮な野菜が売られる。",
    "その博物館は十九世紀の絵を展示している。", "私たちのチームは決勝で二点差で勝った。", "今年コーヒーの値段が上がった。",
]
HYP_EN = [
    "The library opens at 9 in the morning.", "My sister bought a new bicycle yesterday.",
    "It rained hard all night in the mountains.", "The committee announces its decision next week.",
    "Please switch off the light when you leave the room.", "The train was twenty minutes late.",
    "He has studied Japanese for three years.", "A new bridge links the two towns.",
    "Fresh vegetables are sold in the market each Sunday.", "The museum shows nineteenth-century paintings.",
    "Our team won the final by two goals.", "Coffee prices rose this year.",
]

try:
    import nagisa  # noqa: F401
    HAVE_NAGISA = True
except ImportError:
    HAVE_NAGISA = False
needs_nagisa = pytest.mark.skipif(not HAVE_NAGISA, reason="nagisa not installed")
try:
    import janome  # noqa: F401
    HAVE_JANOME = True
except ImportError:
    HAVE_JANOME = False
needs_janome = pytest.mark.skipif(not HAVE_JANOME, reason="janome not installed")


def _write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


@pytest.fixture
def cache_dir(tmp_path):
    """A sacrebleu >= 2 cache folder holding our pairs for both directions."""
    for direction, pairs in (("en-ja", PAIRS_EN_JA), ("ja-en", PAIRS_JA_EN)):
        _write(tmp_path / "wmt20" / f"wmt20.{direction}.src", [s for s, _ in pairs])
        _write(tmp_path / "wmt20" / f"wmt20.{direction}.ref", [r for _, r in pairs])
    return tmp_path


# ----------------------------------------------------------------------------- data

def test_local_layout_matches_sacrebleu_cache_names(cache_dir):
    """Our data-dir layout is the one sacrebleu writes under $SACREBLEU (so ~/.sacrebleu works)."""
    ds = sacrebleu.DATASETS["wmt20"]
    for direction in P.DIRECTIONS:
        assert direction in ds.langpairs
        src, ref = P.local_files(cache_dir, direction)
        for field, ours in (("src", src), ("ref", ref)):
            theirs = ds._get_txt_file_path(direction, field)
            assert os.path.relpath(ours, cache_dir) == os.path.relpath(theirs, os.path.dirname(ds._outdir))


def test_load_local_both_directions(cache_dir):
    en_ja = P.load_pairs("en-ja", data_dir=cache_dir)
    ja_en = P.load_local(cache_dir, "ja-en")
    assert [(p.src, p.ref) for p in en_ja] == PAIRS_EN_JA
    assert [(p.src, p.ref) for p in ja_en] == PAIRS_JA_EN


def test_load_local_sacrebleu1_layout_and_rstrip(tmp_path):
    _write(tmp_path / "wmt20" / "en-ja.en", ["Hello there.  ", "Good night."])
    _write(tmp_path / "wmt20" / "en-ja.ja", ["こんにちは。", "おやすみ。\t"])
    pairs = P.load_local(tmp_path, "en-ja")
    assert pairs == [P.Pair("Hello there.", "こんにちは。"), P.Pair("Good night.", "おやすみ。")]


def test_load_local_errors(tmp_path):
    with pytest.raises(UserError, match="wmt20.en-ja.src"):
        P.load_local(tmp_path, "en-ja")
    _write(tmp_path / "wmt20" / "wmt20.en-ja.src", ["a", "b"])
    _write(tmp_path / "wmt20" / "wmt20.en-ja.ref", ["あ"])
    with pytest.raises(UserError, match="line-aligned"):
        P.load_local(tmp_path, "en-ja")
    with pytest.raises(ValueError):
        P.load_local(tmp_path, "en-de")


def test_online_path_goes_through_sacrebleu_dataset(tmp_path, monkeypatch):
    calls = []

    class FakeDataset:
        def get_source_file(self, langpair):
            calls.append(("src", langpair))
            return str(tmp_path / "s")

        def get_reference_files(self, langpair):
            calls.append(("ref", langpair))
            return [str(tmp_path / "r")]

    _write(tmp_path / "s", ["x"] * 993)
    _write(tmp_path / "r", ["y"] * 993)
    monkeypatch.setitem(sacrebleu.DATASETS, "wmt20", FakeDataset())
    assert len(P.load_pairs("ja-en")) == 993
    assert calls == [("src", "ja-en"), ("ref", "ja-en")]
    with pytest.raises(UserError, match="expected 1000"):
        P.load_online("en-ja")


# ----------------------------------------------------------------------------- jp-stable prompt

def test_jp_stable_prompt_exact_bytes():
    assert P.jp_stable_prompt("The train was delayed.", "en-ja") == \
        "English phrase: The train was delayed.\nJapanese phrase:"
    assert P.jp_stable_prompt("電車が遅れた。", "ja-en") == "Japanese phrase: 電車が遅れた。\nEnglish phrase:"
    shots = [P.Pair("Good morning.", "おはよう。"), P.Pair("Thank you.", "ありがとう。")]
    got = P.jp_stable_prompt("See you.", "en-ja", shots)
    assert got.encode("utf-8") == (
        "English phrase: Good morning.\nJapanese phrase: おはよう。\n\n"
        "English phrase: Thank you.\nJapanese phrase: ありがとう。\n\n"
        "English phrase: See you.\nJapanese phrase:").encode("utf-8")
    assert P.jp_stable_prompt("See you.", "en-ja", description="Translate.") == \
        "Translate.\n\nEnglish phrase: See you.\nJapanese phrase:"
    assert P.jp_stable_doc_to_target("おはよう。") == " おはよう。"


def _reference_replay(pairs, direction, k, limit):
    """lm-eval 0.3 evaluator + Task.fewshot_context, written out on dicts."""
    src_name, tgt_name = {"en-ja": ("English", "Japanese"), "ja-en": ("Japanese", "English")}[direction]
    docs = [{"src": s, "ref": r} for s, r in pairs]
    task_docs = list(docs)
    rnd = random.Random()
    rnd.seed(42)
    rnd.shuffle(task_docs)
    out = []
    for doc in task_docs[:limit]:
        ex = [x for x in rnd.sample(list(docs), k + 1) if x != doc][:k]
        text = lambda d: f"{src_name} phrase: " + d["src"] + f"\n{tgt_name} phrase:"  # noqa: E731
        labeled = "\n\n".join(text(d) + " " + d["ref"] for d in ex) + "\n\n" if k else ""
        out.append((doc["src"], labeled + text(doc)))
    return out


@pytest.mark.parametrize("direction,pairs", [("en-ja", PAIRS_EN_JA), ("ja-en", PAIRS_JA_EN)])
@pytest.mark.parametrize("k", [0, 1, 3])
def test_jp_stable_contexts_replay_the_evaluator(direction, pairs, k):
    got = P.jp_stable_contexts([P.Pair(s, r) for s, r in pairs], direction, k, limit=8)
    want = _reference_replay(pairs, direction, k, 8)
    assert [(pairs[i][0], ctx) for i, ctx in got] == want
    for i, ctx in got:  # the evaluated doc never appears among its own shots
        assert ctx.count(pairs[i][0]) == 1
        assert ctx.count("\n\n") == k


# ----------------------------------------------------------------------------- jp-stable extraction

@pytest.mark.parametrize("raw,want", [
    (" 電車は遅れた。\nEnglish phrase: next", " 電車は遅れた。"),  # cut at the first newline, no strip
    ("\n電車は遅れた。", ""),                                      # leading newline -> empty
    (" 電車は遅れた。", " 電車は遅れた。"),                         # no stop sequence
    (" 電車は遅れた。</s>ゴミ", " 電車は遅れた。"),                 # EOS text also cuts (when given)
])
def test_jp_stable_extract(raw, want):
    assert P.jp_stable_extract(raw, eot_token="</s>") == want


def test_jp_stable_extract_without_eot_keeps_it():
    assert P.jp_stable_extract("a</s>b\nc") == "a</s>b"


# ----------------------------------------------------------------------------- jp-stable metrics

@needs_nagisa
def test_jp_stable_segmentation():
    assert P.jp_stable_segment("  図書館は朝九時に開館する。 ", "en-ja") == "図書 館 は 朝 九 時 に 開館 する 。"
    assert P.jp_stable_segment(" The train. ", "ja-en") == " The train. "  # English untouched


@needs_nagisa
def test_jp_stable_en_ja_bleu_equals_sacrebleu_on_nagisa_text():
    import nagisa

    refs = [r for _, r in PAIRS_EN_JA]
    got = P.jp_stable_score([" " + h for h in HYP_JA], refs, "en-ja")
    seg_h = [" ".join(nagisa.tagging(h.strip()).words) for h in HYP_JA]
    seg_r = [" ".join(nagisa.tagging(r.strip()).words) for r in refs]
    assert got.scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(seg_h, [seg_r]).score, abs=1e-9)
    # chrF / TER as jp-stable reported them: sacrebleu 1.5.0 fractions
    assert got.scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(seg_h, [seg_r]).score / 100, abs=1e-12)
    assert got.scores["ter"] == pytest.approx(sacrebleu.corpus_ter(seg_h, [seg_r]).score / 100, abs=1e-12)
    full = P.jp_stable_score([" " + h for h in HYP_JA], refs, "en-ja", upstream_scale=False)
    assert full.scores["bleu"] == got.scores["bleu"]
    assert full.scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(seg_h, [seg_r]).score, abs=1e-9)
    assert full.scores["ter"] == pytest.approx(sacrebleu.corpus_ter(seg_h, [seg_r]).score, abs=1e-9)
    assert 0 < got.scores["bleu"] < 100
    # corpus-level, not a mean of sentence scores
    mean = sum(sacrebleu.sentence_bleu(h, [r]).score for h, r in zip(seg_h, seg_r)) / len(seg_h)
    assert abs(got.scores["bleu"] - mean) > 1e-3
    # without segmentation 13a sees whole sentences as one token: a different (lower) number
    assert sacrebleu.corpus_bleu(HYP_JA, [refs]).score < got.scores["bleu"]
    assert got.n == len(refs)
    sig = got.signatures
    assert sig["bleu"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    assert sig["chrf"].startswith("nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:")
    assert sig["ter"].startswith("nrefs:1|case:lc|tok:tercom|norm:no|punct:yes|asian:no|version:")


def test_jp_stable_ja_en_metrics_equal_sacrebleu():
    refs = [r for _, r in PAIRS_JA_EN]
    hyps = [" " + h for h in HYP_EN]  # raw generations keep the leading space
    got = P.jp_stable_score(hyps, refs, "ja-en", upstream_scale=False)
    assert got.scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score, abs=1e-9)
    assert got.scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score, abs=1e-9)
    assert got.scores["ter"] == pytest.approx(sacrebleu.corpus_ter(hyps, [refs]).score, abs=1e-9)


# Computed out of band with sacrebleu==1.5.0 (the jp-stable pin: corpus_bleu/corpus_chrf/corpus_ter with
# defaults) on the nagisa-0.2.11-segmented text of this file's set: same numbers, same scale.
SACREBLEU_150 = {
    "en-ja": (62.157377703212006, 0.6251286145994536, 0.18571428571428572),
    "ja-en": (49.44287587342037, 0.7139436385952193, 0.28865979381443296),
}


@pytest.mark.parametrize("direction,pairs,hyps", [
    pytest.param("en-ja", PAIRS_EN_JA, HYP_JA, marks=needs_nagisa), ("ja-en", PAIRS_JA_EN, HYP_EN)])
def test_jp_stable_matches_sacrebleu_150_numbers(direction, pairs, hyps):
    got = P.jp_stable_score([" " + h for h in hyps], [r for _, r in pairs], direction)
    bleu, chrf, ter = SACREBLEU_150[direction]
    assert got.scores["bleu"] == pytest.approx(bleu, abs=1e-9)
    assert got.scores["chrf"] == pytest.approx(chrf, abs=1e-12)
    assert got.scores["ter"] == pytest.approx(ter, abs=1e-12)


@pytest.mark.parametrize("direction,pairs", [
    pytest.param("en-ja", PAIRS_EN_JA, marks=needs_nagisa), ("ja-en", PAIRS_JA_EN)])
def test_jp_stable_echo_and_empty(direction, pairs):
    refs = [r for _, r in pairs]
    echo = P.jp_stable_score([" " + r for r in refs], refs, direction)
    assert echo.scores["bleu"] == pytest.approx(100.0)
    assert echo.scores["chrf"] == pytest.approx(1.0)  # sacrebleu 1.5.0 scale
    assert echo.scores["ter"] == pytest.approx(0.0)
    empty = P.jp_stable_score([P.jp_stable_extract("\nanything")] * len(refs), refs, direction)
    assert empty.scores["bleu"] == 0.0
    assert empty.scores["chrf"] == 0.0


def test_nagisa_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(P, "_NAGISA_TAGGER", None)
    monkeypatch.setitem(sys.modules, "nagisa", None)  # import nagisa -> ImportError
    with pytest.raises(UserError, match="pip install 'nagisa"):
        P.jp_stable_score(["猫"], ["猫"], "en-ja")
    with pytest.raises(UserError, match="nagisa"):
        P.swallow_score(["猫"], ["猫"], "en-ja")
    # ja->en needs no segmenter
    assert P.jp_stable_score(["the cat sat down"], ["the cat sat down"], "ja-en").scores["bleu"] == pytest.approx(100.0)


def test_length_mismatch_and_empty_corpus():
    with pytest.raises(ValueError):
        P.jp_stable_score(["a"], ["a", "b"], "ja-en")
    with pytest.raises(ValueError):
        P.swallow_score([], [], "ja-en")


# ----------------------------------------------------------------------------- Swallow prompt

def test_swallow_query_exact_bytes():
    assert P.swallow_query("The train was delayed.", "en-ja").encode("utf-8") == (
        "以下に示す英文を日本語に翻訳せよ。\n"
        "翻訳文の文体は、常体（だ、である）を用いること。\n"
        "翻訳文を出力するときは、改行してから `日本語: 翻訳文` という形式で出力すること。\n"
        "\n"
        "英語: The train was delayed.\n").encode("utf-8")
    assert P.swallow_query("電車が遅れた。", "ja-en").encode("utf-8") == (
        "Translate the following Japanese sentence into English.\n"
        "On a new line, output the result in this exact format: `English: <your translation>`\n"
        "\n"
        "Japanese: 電車が遅れた。").encode("utf-8")
    # braces in the source are data, not format fields
    assert P.swallow_query("{x}", "ja-en").endswith("Japanese: {x}")


def test_swallow_messages():
    assert P.swallow_messages("Hi.", "en-ja") == [{"role": "user", "content": P.swallow_query("Hi.", "en-ja")}]
    assert P.swallow_messages("やあ。", "ja-en", system_prompt="S") == [
        {"role": "system", "content": "S"}, {"role": "user", "content": P.swallow_query("やあ。", "ja-en")}]


# ----------------------------------------------------------------------------- Swallow extraction

@pytest.mark.parametrize("response,want", [
    ("日本語: 電車は遅れた。", "電車は遅れた。"),
    ("はい。\n日本語: 電車は遅れた。\n以上です。", "電車は遅れた。"),
    ("日本語: 一つ目。\n日本語: 二つ目。", "二つ目。"),                # last match wins
    ("日本語:電車は遅れた。", "電車は遅れた。"),                       # no space after the prefix
    ("   日本語:   電車は遅れた。  ", "電車は遅れた。  "),              # leading blanks ok, trailing kept
    ("訳: 日本語: 電車は遅れた。", ""),                                # prefix mid-line is ignored
    ("電車は遅れた。", ""),                                           # no prefix -> empty string
    ("日本語:\n電車は遅れた。", "電車は遅れた。"),                     # \s* after the prefix spans the newline
    ("日本語: 電車は遅れた。\r\n", "電車は遅れた。"),                   # CRLF stops the line
    ("**日本語:** 電車は遅れた。", ""),                                # markdown bold is not the prefix
    ("日本語：電車は遅れた。", ""),                                    # full-width colon is not the prefix
    ("日本語: ", ""),                                                # prefix, empty content
])
def test_swallow_extract_en_ja(response, want):
    assert P.swallow_extract(response, "en-ja") == want


@pytest.mark.parametrize("response,want", [
    ("English: The train was late.", "The train was late."),
    ("Sure!\nEnglish: The train was late.\n", "The train was late."),
    ("english: The train was late.", ""),   # case-sensitive
    ("English translation: x", ""),
    ("Japanese: 電車\nEnglish: A.\nEnglish: B.", "B."),
])
def test_swallow_extract_ja_en(response, want):
    assert P.swallow_extract(response, "ja-en") == want


def test_extract_dispatch():
    assert P.extract("swallow", "x\nEnglish: y", "ja-en") == "y"
    assert P.extract("jp-stable", " y\nz", "ja-en") == " y"
    with pytest.raises(ValueError):
        P.extract("other", "", "ja-en")


# ----------------------------------------------------------------------------- Swallow metrics

@needs_janome
@needs_nagisa
def test_swallow_en_ja_bleus_equal_sacrebleu_on_segmented_text():
    import nagisa
    from janome.tokenizer import Tokenizer

    refs = [r for _, r in PAIRS_EN_JA]
    responses = [f"了解しました。\n日本語: {h}" for h in HYP_JA]
    hyps = [P.swallow_extract(r, "en-ja") for r in responses]
    assert hyps == HYP_JA
    got = P.swallow_score(hyps, refs, "en-ja")
    jt, nt = Tokenizer(wakati=True), nagisa.Tagger()
    jh, jr = [" ".join(jt.tokenize(x)) for x in hyps], [" ".join(jt.tokenize(x.rstrip())) for x in refs]
    nh, nr = [" ".join(nt.wakati(x)) for x in hyps], [" ".join(nt.wakati(x.rstrip())) for x in refs]
    assert got.scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(jh, [jr]).score, abs=1e-9)
    assert got.scores["bleu_lmevalja"] == pytest.approx(sacrebleu.corpus_bleu(nh, [nr]).score, abs=1e-9)
    assert got.scores["bleu"] != got.scores["bleu_lmevalja"]  # Janome and nagisa segment differently
    assert set(got.scores) == {"bleu", "bleu_lmevalja"}
    for sig in got.signatures.values():
        assert sig.startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")


def test_swallow_ja_en_bleu_equals_sacrebleu():
    refs = [r for _, r in PAIRS_JA_EN]
    got = P.swallow_score(HYP_EN, refs, "ja-en")
    assert got.scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(HYP_EN, [refs]).score, abs=1e-9)
    assert set(got.scores) == {"bleu"}
    assert got.signatures["bleu"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")


@pytest.mark.parametrize("direction,pairs", [
    pytest.param("en-ja", PAIRS_EN_JA, marks=[needs_nagisa, needs_janome]), ("ja-en", PAIRS_JA_EN)])
def test_swallow_echo_and_empty(direction, pairs):
    refs = [r for _, r in pairs]
    prefix = P.SWALLOW_PREFIXES[direction]
    echo = P.score("swallow", [P.swallow_extract(f"{prefix} {r}", direction) for r in refs], refs, direction)
    assert all(v == pytest.approx(100.0) for v in echo.scores.values())
    no_prefix = [P.swallow_extract(r, direction) for r in refs]  # the reference itself, but no prefix line
    assert no_prefix == [""] * len(refs)
    empty = P.score("swallow", no_prefix, refs, direction)
    assert all(v == 0.0 for v in empty.scores.values())


@needs_janome
def test_janome_keeps_whitespace_tokens():
    assert P.janome_words("猫 が") == ["猫", " ", "が"]
    assert P.swallow_segment("猫 が", "janome") == "猫   が"
    with pytest.raises(ValueError):
        P.swallow_segment("猫", "mecab")
