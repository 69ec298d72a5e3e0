"""Prompt templates reproduce every string of the reference (protocol Appendix A) byte for byte."""

from __future__ import annotations

import json

import pytest

from lm_eval_ja.benchmarks import registry
from lm_eval_ja.errors import UserError
from lm_eval_ja.templates import load_template, supported_versions
from tests.conftest import SHARED



def prompts(family: str) -> str:
    """The prompt folder of a family."""
    return next(f.prompt_templates for f in registry.families() if f.name == family)


RENDERED = SHARED / "reference" / "jp-stable-rendered-templates.json"
# Gold labels of the reference's placeholder documents: (query, first shot, second shot). JCoLA shows " はい"
# (acceptable, choice 0) for the query and the second shot, " いいえ" for the first.
PLACEHOLDER_LABELS = {"jcommonsenseqa": (0, 1, 2), "jnli": (0, 1, 2), "marc_ja": (1, 0, 1), "jcola": (0, 1, 0)}
# The reference's symbolic generation cap -> the request builder of our spec.
CAPS = {"MAX_GOLD_ANSWER_TOKENS": "gold_answer_capped", "LEN_TOKENS(gold_summary)+10": "request",
        "lm.max_gen_toks(=256)": "request"}


def _placeholder_doc(benchmark: str, p: str, label: int | None) -> dict:
    """The reference's placeholder document: every field is ``{<prefix><field>}``."""
    if benchmark == "jcommonsenseqa":
        doc = {"question": f"{{{p}question}}", "choices": [f"{{{p}choice{i}}}" for i in range(5)], "label": label}
        doc.update({f"choice{i}": f"{{{p}choice{i}}}" for i in range(5)})
        return doc
    if benchmark == "jnli":
        return {"sentence1": f"{{{p}sentence1}}", "sentence2": f"{{{p}sentence2}}", "label": label}
    if benchmark in ("marc_ja", "jcola"):
        return {"sentence": f"{{{p}sentence}}", "label": label}
    if benchmark == "mgsm":
        return {"question": f"{{{p}question}}", "answer_steps": f"{{{p}answer_steps}}"}
    if benchmark == "xlsum_ja":
        return {"text": f"{{{p}text}}", "summary": f"{{{p}summary}}"}
    if benchmark == "jaqket_v2":
        doc = {"question": f"{{{p}question}}", "answer": f"{{{p}answer}}"}
        for i in range(5):
            doc.update({f"title{i}": f"{{{p}title{i}}}", f"text{i}": f"{{{p}text{i}}}"})
        return doc
    return {"title": f"{{{p}title}}", "context": f"{{{p}context}}", "question": f"{{{p}question}}",
            "answer": f"{{{p}answer}}"}


def _rendered() -> dict:
    return json.loads(RENDERED.read_text(encoding="utf-8")) if RENDERED.is_file() else {}


def _reference_names() -> list[str]:
    """Every rendered reference task that we define and that has a prompt (XWinograd has none)."""
    return [n for n in _rendered() if registry.resolve(n) is not None and registry.resolve(n).prompt_version]


@pytest.mark.skipif(not RENDERED.is_file(), reason="shared reference not present")
def test_every_rendered_reference_task_is_checked():
    assert len(_reference_names()) >= 60
    assert {registry.resolve(n).benchmark.name for n in _reference_names()} == {
        "jcommonsenseqa", "jnli", "marc_ja", "jsquad", "jcola", "mgsm", "jaqket_v2", "xlsum_ja", "jaquad"}


@pytest.mark.skipif(not RENDERED.is_file(), reason="shared reference not present")
@pytest.mark.parametrize("name", _reference_names())
def test_template_matches_reference(name):
    ref = _rendered()[name]
    resolved = registry.resolve(name)
    bench, version = resolved.benchmark, resolved.version
    assert version.result_version == ref["VERSION"]
    assert resolved.prompt_version == str(ref["PROMPT_VERSION"])
    tpl = load_template(version.template, resolved.prompt_version, default_target=bench.default_target,
                        labels=version.labels, templates_dir=registry.family_of(bench).prompt_templates)
    q_label, ex1_label, ex2_label = PLACEHOLDER_LABELS.get(bench.name, (None, None, None))
    query = _placeholder_doc(bench.name, "", q_label)
    ex1, ex2 = _placeholder_doc(bench.name, "ex1_", ex1_label), _placeholder_doc(bench.name, "ex2_", ex2_label)
    assert tpl.render_description() == (ref["DESCRIPTION"] or "")
    if ref["SEP"] is not None:  # multiple-choice templates of the reference define none
        assert tpl.sep == ref["SEP"]
    assert tpl.fewshot_sep == ref["FEWSHOT_SEP(effective)"]
    assert tpl.doc_to_text(query) == ref["doc_to_text"]
    assert tpl.doc_to_target(query) == ref["doc_to_target"]
    shots = "".join(tpl.doc_to_text(ex) + tpl.doc_to_target(ex) + tpl.fewshot_sep for ex in (ex2, ex1))
    assert tpl.render_description() + shots + tpl.doc_to_text(query) == ref["context_2shot"]
    kind, args = ref["requests"][0]
    if kind == "loglikelihood":
        assert [r[1][1] for r in ref["requests"]] == tpl.doc_to_choice(query)
        assert bench.default_target == "{gold_choice}"
    else:
        until, cap = args[1], args[2]
        assert bench.requests.__name__ == CAPS[cap]
        assert until == (["<tokenizer.eos_token>", "\n"] if bench.name == "mgsm" else [tpl.sep])


@pytest.mark.skipif(not RENDERED.is_file(), reason="shared reference not present")
def test_xwinograd_has_no_prompt():
    ref = _rendered()["xwinograd_ja"]
    assert ref["PROMPT_VERSION"] is None and ref["DESCRIPTION"] is None
    resolved = registry.resolve("xwinograd_ja")
    assert resolved.prompt_version is None and resolved.version.result_version == ref["VERSION"]
    assert resolved.benchmark.zero_shot_only


def test_literal_nl_is_kept():
    tpl = load_template("jsquad", "0.4", default_target="{answer}", templates_dir=prompts('extractive_qa'))
    assert tpl.sep == "<NL>" and tpl.fewshot_sep == "<NL>"
    assert "\n" not in tpl.text and tpl.text.endswith("<NL>システム: ")


def test_rinna_bilingual_is_rinna_sft_with_newlines():
    a = load_template("jnli", "0.4", default_target="{gold_choice}", labels=["含意", "矛盾", "中立"], templates_dir=prompts('jglue_choice'))
    b = load_template("jnli", "0.5", default_target="{gold_choice}", labels=["含意", "矛盾", "中立"], templates_dir=prompts('jglue_choice'))
    assert a.description.replace("<NL>", "\n") == b.description
    assert a.text.replace("<NL>", "\n") == b.text


def test_system_prompt_env_override(monkeypatch):
    monkeypatch.setenv("SYSTEM_PROMPT", "You are {helpful}.")
    tpl = load_template("marc_ja", "0.6", default_target="{gold_choice}", labels=["ポジティブ", "ネガティブ"], templates_dir=prompts('jglue_choice'))
    assert tpl.render_description() == "<s>[INST] <<SYS>>\nYou are {helpful}.\n<</SYS>>\n\n"


def test_extra_strings_are_slots_of_the_entry():
    tpl = load_template("xlsum_ja", "0.0", default_target="{summary}", templates_dir=prompts('xlsum'))
    assert tpl.extras == {"ctx_prompt": "ニュース記事:", "summary_prompt": "要約:"}
    assert tpl.text == "ニュース記事:{text}\n要約:"


def test_supported_versions_and_unknown_version_message():
    assert supported_versions("jcommonsenseqa", prompts('jglue_choice')) == ["0.1", "0.2", "0.2.1", "0.3", "0.4", "0.5", "0.6"]
    assert supported_versions("jsquad_title", prompts('extractive_qa')) == ["0.2", "0.3", "0.4", "0.5", "0.6"]
    with pytest.raises(UserError) as err:
        load_template("marc_ja", "0.1", default_target="{gold_choice}", templates_dir=prompts('jglue_choice'))
    assert str(err.value) == ("Prompt version '0.1' is not defined for marc_ja; "
                              "supported versions: 0.2, 0.3, 0.4, 0.5, 0.6.")
