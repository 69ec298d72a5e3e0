"""XL-Sum ja: the reference's prompt truncation by hand, ROUGE-2 on the model tokenizer end to end."""

from __future__ import annotations

import os

from lm_eval_ja.benchmarks.xlsum import truncate_prompt
from lm_eval_ja.metrics.rouge import rouge2_score
from lm_eval_ja.benchmarks import registry
from lm_eval_ja.templates import load_template

PROMPTS = next(f.prompt_templates for f in registry.families() if f.name == "xlsum")
from tests.benchmarks.conftest import CharTokenizer
from tests.conftest import DATA, needs_shared, run_tasks


def test_truncation_by_hand():
    tpl = load_template("xlsum_ja", "0.0", default_target="{summary}", templates_dir=PROMPTS)
    desc = "与えられたニュース記事を要約してください。\n\n"
    ctx = desc + "ニュース記事:AAA。BB。C\n要約:S1\n\nニュース記事:DD。EEEE。F\n要約:"
    tok = CharTokenizer()
    kw = dict(ctx_prompt=tpl.extras["ctx_prompt"], summary_prompt=tpl.extras["summary_prompt"], sep=tpl.sep)
    assert truncate_prompt(ctx, len(ctx), tok.encode, tok.decode, **kw) == ctx  # fits: unchanged
    # 2 pieces, 12 tokens each: "ニュース記事:AAA" (10) fits, + "。BB" (13) does not -> cut after AAA.
    assert truncate_prompt(ctx, 24, tok.encode, tok.decode, **kw) == (
        desc + "ニュース記事:AAA。\n要約:S1\n\nニュース記事:DD。\n要約:")
    # 8 tokens each: even the first sentence is too long -> its first 8 tokens + SEP.
    assert truncate_prompt(ctx, 16, tok.encode, tok.decode, **kw) == (
        desc + "ニュース記事:A\n要約:S1\n\nニュース記事:D\n要約:")


def test_rinna_truncation_collapses_nl():
    tpl = load_template("xlsum_ja", "0.4", default_target="{summary}", templates_dir=PROMPTS)
    assert (tpl.extras["ctx_prompt"], tpl.extras["summary_prompt"]) == ("ユーザー: ", "<NL>システム: ")
    a, b, c, d = "A" * 10, "B" * 10, "C" * 10, "D" * 10
    ctx = (tpl.render_description() + tpl.doc_to_text({"text": f"{a}。{b}"}) + "S<NL>"
           + tpl.doc_to_text({"text": f"{c}。{d}"}))
    tok = CharTokenizer()
    out = truncate_prompt(ctx, 3 * 26, tok.encode, tok.decode, ctx_prompt=tpl.extras["ctx_prompt"],
                          summary_prompt=tpl.extras["summary_prompt"], sep=tpl.sep,
                          collapse=(tpl.extras["collapse_from"], tpl.extras["collapse_to"]))
    # 3 pieces of 26 tokens: the description turn is a piece too ("ユーザー: 与えられた…ください" is 26 tokens);
    # every cut text ends in "。<NL>" + "<NL>システム: ", and the doubled <NL> is collapsed.
    assert out == ("ユーザー: 与えられたニュース記事を要約してください。<NL>システム: 分かりました。<NL>"
                   f"ユーザー: ニュース記事:{a}。<NL>システム: S<NL>ユーザー: ニュース記事:{c}。<NL>システム: ")
    five = load_template("xlsum_ja", "0.5", default_target="{summary}", templates_dir=PROMPTS)
    assert five.extras["collapse_from"] == "<NL><NL>" and five.extras["summary_prompt"] == "\nシステム: "


@needs_shared
def test_end_to_end_cap_and_rouge2_on_tokenizer_pieces(conformance_lm, synthetic_dir):
    result, samples = run_tasks(conformance_lm, ["xlsum_ja-1.0-0.0"], [1], 3,
                                os.pathsep.join([str(synthetic_dir), str(DATA)]))
    assert set(result["results"]["xlsum_ja-1.0-0.0"]) == {"rouge2", "rouge2_mecab"}
    tok = conformance_lm.tokenizer
    for row in samples["xlsum_ja-1.0-0.0"]:
        assert row["arguments"][0][1]["max_gen_toks"] == len(tok.encode(row["doc"]["summary"], add_special_tokens=False)) + 10
        # rouge2 items are the reference's per-document scores on the model tokenizer's pieces
        assert tuple(row["rouge2"]) == rouge2_score(row["doc"]["summary"], row["resps"][0][0], tok)
