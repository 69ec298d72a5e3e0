"""The published Japanese MT-Bench protocols (lm_eval_ja.benchmarks.mt_bench.protocols).

Expected judge messages are rendered here straight from the upstream files with the simplest code (``str.format``
on the jsonl / YAML ``prompt_template``; ``jinja2.Template`` on the text cut out of the jsonnet file); aggregations
are checked against numbers computed by hand in the comments.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import jinja2
import pytest
import yaml

from lm_eval_ja.benchmarks.mt_bench import protocols as P
from lm_eval_ja.errors import UserError
from tests.conftest import DATA, needs_shared

RECORDED = Path(__file__).parents[1] / "fixtures" / "judge" / "fastchat-ja-gpt-4-single.jsonl"
MTP = "japanese_mt_bench/protocols"
PRESETS = ("fastchat", "stability-fd01e11", "stability-57d3a1a", "swallow", "swallow_fastchat", "nejumi3",
           "llmjp_judge", "flexeval", "sarashina")
#: answers with braces and Jinja syntax: neither str.format nor Jinja may interpret them
ANSWERS = ["一つ目の答え {question} {{ lm_output }} {% if x %}", "二つ目の答え\n{answer_1}"]


def jsonnet_blocks(path: Path) -> list[str]:
    """The ||| text blocks of a jsonnet file, as std.stripChars(block, '\\n') leaves them."""
    blocks, lines, i = [], path.read_text(encoding="utf-8").split("\n"), 0
    while i < len(lines):
        if lines[i].rstrip().endswith("|||"):
            i += 1
            indent = len(lines[i]) - len(lines[i].lstrip())
            body = []
            while not lines[i].strip().startswith("|||"):
                body.append(lines[i][indent:])
                i += 1
            blocks.append("\n".join(body).strip("\n"))
        i += 1
    return blocks


def jsonl(relative: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / relative).read_text(encoding="utf-8").splitlines() if line.strip()]


def first_of(questions: list[dict], category: str) -> dict:
    return next(q for q in questions if q["category"] == category)


# ---------------------------------------------------------------------------------------------------- presets


def test_presets_by_name():
    assert set(PRESETS) <= set(P.PROTOCOLS)
    assert set(P.ELYZA_PROTOCOLS) == {"elyza_flexeval", "elyza_sarashina"}
    assert set(P.VICUNA_PROTOCOLS) == {"ja_vicuna_qa", "ja_vicuna_qa_single"} and "mt_bench_en" in P.PROTOCOLS
    for name, protocol in P.ALL_PROTOCOLS.items():
        assert protocol.name == name and protocol.about and protocol.reproduces
        assert protocol.prompt_format in P.PROMPT_FORMATS and protocol.rating in P.RATING_PARSERS
        assert protocol.aggregation in P.AGGREGATIONS
        assert set(protocol.turns_judged) <= set(range(protocol.turns_generated))
        assert P.get_protocol(name) is protocol
    with pytest.raises(UserError):
        P.get_protocol("nejumi4")
    with pytest.raises(dataclasses.FrozenInstanceError):
        P.PROTOCOLS["fastchat"].name = "x"


@needs_shared
@pytest.mark.parametrize("name", sorted(P.ALL_PROTOCOLS))
def test_every_file_a_preset_names_exists(name):
    protocol = P.ALL_PROTOCOLS[name]
    named = [protocol.judge_prompts] + ([protocol.baseline] if protocol.baseline else [])
    if protocol.benchmark != "elyza_tasks_100":  # ELYZA-tasks-100 is on the Hugging Face hub only
        named += [protocol.questions, protocol.references]
    for relative in named:
        assert (DATA / relative).resolve().is_file(), relative
    if protocol.packaged_prompts:
        assert (P.PROMPTS_DIR / protocol.packaged_prompts[0]).is_file()


@needs_shared
def test_files_each_preset_reads_as_the_readme_decides():
    files = {name: (p.questions, p.references, p.judge_prompts) for name, p in P.PROTOCOLS.items()}
    assert files["fastchat"] == ("japanese_mt_bench/question.jsonl", "japanese_mt_bench/reference_answer/gpt-4.jsonl",
                                 "japanese_mt_bench/judge_prompts.jsonl")
    for name in ("stability-fd01e11", "stability-57d3a1a"):
        assert files[name][:2] == (f"{MTP}/stability/question.aedb44e.jsonl",
                                   f"{MTP}/stability/reference_answer/gpt-4.aed16da.jsonl")
    assert files["stability-fd01e11"][2].endswith("judge_ja_prompts.fd01e11.jsonl")
    assert files["stability-57d3a1a"][2].endswith("judge_ja_prompts.57d3a1a.jsonl")
    swallow_data = (f"{MTP}/swallow-fastchat/question.jsonl",
                    f"{MTP}/swallow-fastchat/reference_answer/gpt-4o-2024-08-06.jsonl")
    assert files["swallow"] == (*swallow_data, f"{MTP}/swallow-instruct/judge_prompts.jsonl")
    assert files["swallow_fastchat"] == (*swallow_data, f"{MTP}/swallow-fastchat/judge_prompts.jsonl")
    assert files["nejumi3"] == (f"{MTP}/nejumi3/question.jsonl",
                                f"{MTP}/nejumi3/reference_answer/base-gpt4o-with-human-annotation.jsonl",
                                f"{MTP}/nejumi3/judge_prompts.jsonl")
    assert files["llmjp_judge"] == ("japanese_mt_bench/question.jsonl",
                                    f"{MTP}/llm-jp-judge/reference_answer/base-gpt4o-with-human-annotation-v0.jsonl",
                                    f"{MTP}/llm-jp-judge/mt_bench_ja_prompt_v1.yaml")
    assert files["flexeval"][:2] == files["sarashina"][:2] == files["fastchat"][:2]
    flexeval_prompt = DATA.parent / "reference/judge/assistant_eval_ja_single_turn.jsonnet"
    assert (DATA / files["flexeval"][2]).resolve() == flexeval_prompt.resolve()
    assert files["sarashina"][2] == f"{MTP}/sarashina2.2/mt-ja.jsonnet"


# ----------------------------------------------------------------------------------- packaged prompt texts


@needs_shared
@pytest.mark.parametrize("name", ["flexeval", "sarashina", "elyza_flexeval", "elyza_sarashina"])
def test_packaged_prompts_are_byte_identical_to_the_jsonnet(name):
    protocol = P.ALL_PROTOCOLS[name]
    source = (DATA / protocol.judge_prompts).resolve()
    blocks = jsonnet_blocks(source)
    prompt = P.load_judge_prompts(protocol)[protocol.packaged_prompts[1]]
    assert prompt["template"] == blocks[0]
    if name == "sarashina":  # the system message is the second block (a template too)
        assert len(blocks) == 2 and prompt["system_template"] == blocks[1]
    elif name == "flexeval":
        assert len(blocks) == 1
        assert prompt["system"] == re.search(r"system_message: '(.*)'", source.read_text(encoding="utf-8")).group(1)
    else:
        assert len(blocks) == 1 and "system_message" not in source.read_text(encoding="utf-8") and not prompt["system"]
    model = re.search(r"model: '([^']+)'", source.read_text(encoding="utf-8")).group(1)
    assert model == protocol.judge_model == prompt["model"]
    # the shipped YAML's text is the file's bytes: reading it as bytes gives the same strings
    raw = yaml.safe_load((P.PROMPTS_DIR / protocol.packaged_prompts[0]).read_bytes().decode("utf-8"))
    assert raw[protocol.packaged_prompts[1]]["template"].encode("utf-8") == blocks[0].encode("utf-8")


# ------------------------------------------------------------------------------------ judge messages, exact


def fastchat_expected(rows: dict, question: dict, answers, turn: int, refs) -> list[dict]:
    """FastChat common.py run_judge_single, in the fewest lines: [system, prompt_template.format(...)]."""
    q = question["turns"]
    name = ("single-math-v1" if refs else "single-v1") + ("-multi-turn" if turn == 1 else "")
    row = rows[name]
    if turn == 0:
        kwargs = dict(question=q[0], answer=answers[0], **({"ref_answer_1": refs[0]} if refs else {}))
    else:
        kwargs = dict(question_1=q[0], question_2=q[1], answer_1=answers[0], answer_2=answers[1],
                      **({"ref_answer_1": refs[0], "ref_answer_2": refs[1]} if refs else {}))
    return [{"role": "system", "content": row["system_prompt"]},
            {"role": "user", "content": row["prompt_template"].format(**kwargs)}]


CASES = [(category, turn) for category in ("writing", "math", "reasoning", "coding") for turn in (0, 1)]


@needs_shared
@pytest.mark.parametrize("name", ["fastchat", "stability-fd01e11", "stability-57d3a1a", "swallow", "swallow_fastchat",
                                  "nejumi3", "llmjp_judge", "mt_bench_en"])
@pytest.mark.parametrize("category, turn", CASES)
def test_fastchat_style_judge_messages(name, category, turn):
    protocol = P.PROTOCOLS[name]
    if turn not in protocol.turns_judged:
        pytest.skip(f"{name} does not judge turn {turn + 1}")
    if protocol.prompt_format == "llmjp_yaml":
        rows = yaml.safe_load((DATA / protocol.judge_prompts).read_text(encoding="utf-8"))
    else:
        rows = {r["name"]: r for r in jsonl(protocol.judge_prompts)}
    raw_questions = jsonl(protocol.questions)
    question = first_of(raw_questions, category)
    raw_refs = {str(r["question_id"]): r["choices"][0]["turns"] for r in jsonl(protocol.references)}
    refs = raw_refs[str(question["question_id"])] if category != "writing" else None
    expected = fastchat_expected(rows, question, ANSWERS, turn, refs)

    prompts = P.load_judge_prompts(protocol, DATA)
    questions = {q["question_id"]: q for q in P.load_questions(protocol, DATA)}
    references = P.load_references(protocol, DATA)
    qid = int(question["question_id"])
    got = P.judge_messages(protocol, prompts, questions[qid], ANSWERS, turn, references.get(qid))
    assert got == expected
    assert ANSWERS[turn] in got[1]["content"]
    if refs:
        assert refs[turn] in got[1]["content"]


@needs_shared
def test_fastchat_turn2_with_reference_spelled_out():
    """One case without the jsonl's template: FastChat's single-math-v1-multi-turn layout, by hand."""
    protocol = P.PROTOCOLS["fastchat"]
    question = first_of(P.load_questions(protocol, DATA), "math")
    refs = P.load_references(protocol, DATA)[question["question_id"]]
    q1, q2 = question["turns"]
    got = P.judge_messages(protocol, P.load_judge_prompts(protocol, DATA), question, ["A1", "A2"], 1, refs)
    assert got[0]["content"].startswith("Please act as an impartial judge")
    assert got[0]["content"].endswith("[[5]]\".\n\n")
    assert got[1]["content"] == (
        f"<|The Start of Reference Answer|>\n\n### User:\n{q1}\n\n### Reference answer:\n{refs[0]}\n\n### User:\n{q2}"
        f"\n\n### Reference answer:\n{refs[1]}\n\n<|The End of Reference Answer|>\n\n\n"
        f"<|The Start of Assistant A's Conversation with User|>\n\n### User:\n{q1}\n\n### Assistant A:\nA1\n\n"
        f"### User:\n{q2}\n\n### Assistant A:\nA2\n\n<|The End of Assistant A's Conversation with User|>")


def jinja_expected(source: Path, question: dict, answers, refs, system_literal: str | None) -> list[dict]:
    """flexeval ChatLLMScore: template over {lm_output, references, messages (all but the last answer)}."""
    blocks = jsonnet_blocks(source)
    q = question["turns"]
    messages = [{"role": "user", "content": q[0]}, {"role": "assistant", "content": answers[0]},
                {"role": "user", "content": q[1]}]
    fields = {"lm_output": answers[1], "references": refs or [], "messages": messages}
    out = [{"role": "user", "content": jinja2.Template(blocks[0]).render(**fields)}]
    if len(blocks) > 1:
        out.insert(0, {"role": "system", "content": jinja2.Template(blocks[1]).render(**fields)})
    elif system_literal:
        out.insert(0, {"role": "system", "content": system_literal})
    return out


@needs_shared
@pytest.mark.parametrize("name, turn", [("flexeval", 0), ("sarashina", 1)])
@pytest.mark.parametrize("category", ["writing", "math", "reasoning", "coding"])
def test_flexeval_style_judge_messages(name, turn, category):
    protocol = P.PROTOCOLS[name]
    source = (DATA / protocol.judge_prompts).resolve()
    question = first_of(jsonl(protocol.questions), category)
    refs = {r["question_id"]: r["choices"][0]["turns"] for r in jsonl(protocol.references)}[question["question_id"]]
    refs = refs if category != "writing" else None
    system = "あなたは優秀な助手です。" if name == "flexeval" else None
    expected = jinja_expected(source, question, ANSWERS, refs, system)
    got = P.judge_messages(protocol, P.load_judge_prompts(protocol), question, ANSWERS, turn, refs)
    assert got == expected
    text = got[-1]["content"]
    if name == "flexeval":  # turn 1 is judged: the second answer is not shown
        assert ANSWERS[0] in text and ANSWERS[1] not in text and question["turns"][1] not in text
        assert ("[参考回答の開始]" in text) == (refs is not None)
    else:  # turn 2: the whole conversation, both reference turns
        assert ANSWERS[0] in text and ANSWERS[1] in text
        assert ("<|参照回答の開始|>" in text) == (refs is not None)
        assert "２つ目の質問" in got[0]["content"]
    with pytest.raises(UserError):
        P.judge_messages(protocol, P.load_judge_prompts(protocol), question, ANSWERS, 1 - turn, refs)


@needs_shared
@pytest.mark.parametrize("name", ["elyza_flexeval", "elyza_sarashina"])
def test_elyza_judge_messages(name):
    protocol = P.ELYZA_PROTOCOLS[name]
    question = {"question_id": 1, "category": "elyza", "turns": ["仕事の熱意を取り戻すためのアイデアを5つ挙げてください。"],
                "eval_aspect": "- 5つ挙げていない場合: -1点"}
    blocks = jsonnet_blocks((DATA / protocol.judge_prompts).resolve())
    expected = [{"role": "user", "content": jinja2.Template(blocks[0]).render(
        messages=[{"role": "user", "content": question["turns"][0]}], references=["正解例の文"],
        lm_output="回答 {{ x }}", eval_aspect=question["eval_aspect"])}]
    got = P.judge_messages(protocol, P.load_judge_prompts(protocol), question, ["回答 {{ x }}"], 0, ["正解例の文"])
    assert got == expected
    assert got[0]["content"].endswith("回答 {{ x }}")
    assert P.parse_rating(protocol, "4") == 4.0 and P.parse_rating(protocol, "6") is None
    assert protocol.scale == (1, 5)
    with pytest.raises(UserError):  # every ELYZA task is judged with its reference
        P.judge_messages(protocol, P.load_judge_prompts(protocol), question, ["a"], 0, None)


# ----------------------------------------------------------------------------------------- upstream quirks


@needs_shared
def test_stability_fd01e11_adds_the_language_sentence_to_57d3a1a():
    sentence = "AIアシスタントの返答の言語は、ユーザーが使用している言語と一致しているべきで、そうでない場合は減点されるべきです。"
    old = P.load_judge_prompts(P.PROTOCOLS["stability-57d3a1a"], DATA)
    new = P.load_judge_prompts(P.PROTOCOLS["stability-fd01e11"], DATA)
    assert set(old) == set(new) == {"single-v1", "single-math-v1"}  # no Japanese multi-turn prompt
    for name in old:
        assert old[name]["system_prompt"] == new[name]["system_prompt"] == "あなたは有益な助手です。"
        assert sentence not in old[name]["prompt_template"] and new[name]["prompt_template"].count(sentence) == 1
        assert new[name]["prompt_template"].replace(sentence, "") == old[name]["prompt_template"]
    protocol = P.PROTOCOLS["stability-fd01e11"]
    question = first_of(P.load_questions(protocol, DATA), "writing")
    with pytest.raises(UserError):  # turn 2 is not judged
        P.judge_messages(protocol, new, question, ["a", "b"], 1, None)
    a = P.judge_messages(P.PROTOCOLS["stability-57d3a1a"], old, question, ["a"], 0, None)
    b = P.judge_messages(protocol, new, question, ["a"], 0, None)
    assert a != b and b[1]["content"].replace(sentence, "") == a[1]["content"]


@needs_shared
def test_stability_question_ids_are_strings_upstream_and_ints_here():
    protocol = P.PROTOCOLS["stability-57d3a1a"]
    assert all(isinstance(r["question_id"], str) for r in jsonl(protocol.questions))
    questions = P.load_questions(protocol, DATA)
    refs = P.load_references(protocol, DATA)
    assert len(questions) == 80 and all(isinstance(q["question_id"], int) for q in questions)
    assert len(refs) == 30 and all(isinstance(k, int) for k in refs)
    assert {q["question_id"] for q in questions if q["category"] in P.NEED_REF} == set(refs)


@needs_shared
def test_recorded_gpt4_judgments_parse_under_the_stability_presets():
    rows = [json.loads(line) for line in RECORDED.open(encoding="utf-8")]
    assert len(rows) == 14
    for name in ("stability-fd01e11", "stability-57d3a1a"):
        protocol = P.PROTOCOLS[name]
        questions = {q["question_id"]: q for q in P.load_questions(protocol, DATA)}
        refs = P.load_references(protocol, DATA)
        prompts = P.load_judge_prompts(protocol, DATA)
        for row in rows:
            assert P.parse_rating(protocol, row["judgment"]) == row["score"], row["judgment"][-80:]
            question = questions[int(row["question_id"])]  # every judged question renders (refs where needed)
            messages = P.judge_messages(protocol, prompts, question, ["x"], 0, refs.get(question["question_id"]))
            if "user_prompt" in row:  # the fixture records no prompt today
                assert messages[1]["content"] == row["user_prompt"]
    # the judgments of questions 1 and 6 (coding) compare with the reference: single-math-v1 was used
    assert {r["question_id"] for r in rows if "参考回答" in r["judgment"]} <= {"1", "6"}


@needs_shared
def test_swallow_instruct_prompt_quirks_are_kept():
    protocol = P.PROTOCOLS["swallow"]
    prompts = P.load_judge_prompts(protocol, DATA)
    writing = first_of(P.load_questions(protocol, DATA), "writing")
    t1 = P.judge_messages(protocol, prompts, writing, ["A1", "A2"], 0, None)
    t2 = P.judge_messages(protocol, prompts, writing, ["A1", "A2"], 1, None)
    assert t1[1]["content"].endswith("[The End of Assistant's Answer]\n")  # the extra trailing newline
    assert t2[0]["content"].startswith('"Please act as an impartial judge')  # the stray quote
    assert "### Assistant A:\nA1\n### User:\n" in t2[1]["content"]  # no blank line before the second User
    assert prompts["single-math-v1-multi-turn"]["system_prompt"].startswith('"')
    assert "The expected language is Japanese." in t1[1]["content"]


@needs_shared
def test_llmjp_multi_turn_system_prompts_lose_the_trailing_blank_line():
    prompts = P.load_judge_prompts(P.PROTOCOLS["llmjp_judge"], DATA)
    nejumi = {r["name"]: r for r in jsonl(P.PROTOCOLS["nejumi3"].judge_prompts)}
    assert prompts["single-v1-multi-turn"]["system_prompt"] == nejumi["single-v1-multi-turn"]["system_prompt"][:-2]
    math = "single-math-v1-multi-turn"
    assert prompts[math]["system_prompt"] == nejumi[math]["system_prompt"][:-1]
    for name in ("single-v1", "single-math-v1"):
        assert prompts[name]["prompt_template"] == nejumi[name]["prompt_template"]
        assert prompts[name]["regex"] == r"\[\[(10|[1-9])\]\]"


def test_missing_reference_is_an_error():
    protocol = P.PROTOCOLS["fastchat"]
    question = {"question_id": 1, "category": "math", "turns": ["q1", "q2"]}
    with pytest.raises(UserError):
        P.judge_messages(protocol, {}, question, ["a", "b"], 0, None)


# ----------------------------------------------------------------------------------------------- parsers


@pytest.mark.parametrize("text, rating", [
    ("評価：[[5]]", 5.0), ("Rating: [[8.5]]", 8.5), ("[7] だが最終的に [[3]]", 3.0), ("[[rating]] … [6]", 6.0),
    ("[[0]]", 0.0), ("[[11]]", 11.0), ("[[5.]]", 5.0), ("評価できません", None), ("[[A]]", None), (None, None),
])
def test_fastchat_parser(text, rating):
    for name in ("fastchat", "stability-fd01e11", "swallow", "swallow_fastchat", "nejumi3"):
        assert P.parse_rating(P.PROTOCOLS[name], text) == rating


@pytest.mark.parametrize("text, rating", [
    ("評価：[[10]]", 10.0), ("[[1]]", 1.0), ("[[3]] そして [[9]]", 3.0), ("[[0]]", None), ("[[7.5]]", None),
    ("[7]", None), ("[[11]]", None), ("Rating: [[ 7 ]]", None), ("none", None),
])
def test_llmjp_strict_parser(text, rating):
    assert P.parse_rating(P.PROTOCOLS["llmjp_judge"], text) == rating


@pytest.mark.parametrize("text, rating", [
    ("評価：[[7]]", 7.0), ("[[7]] 10点満点中", 10.0), ("7.5", 5.0), ("[[7]] (2024年)", None), ("", None),
    ("rating：[[10]]", 10.0), ("0", None), ("[[3]]\n", 3.0),
])
def test_last_integer_parser(text, rating):
    for name in ("flexeval", "sarashina"):
        assert P.parse_rating(P.PROTOCOLS[name], text) == rating


# ----------------------------------------------------------------------------------------------- answering


def test_answer_params():
    fastchat = P.PROTOCOLS["fastchat"]
    assert P.answer_params(fastchat, "writing") == {"temperature": 0.7, "do_sample": True, "max_new_tokens": 1024}
    assert P.answer_params(fastchat, "math") == {"temperature": 0.0, "do_sample": False, "max_new_tokens": 1024}
    assert P.answer_params(fastchat, "stem") == {"temperature": 0.1, "do_sample": True, "max_new_tokens": 1024}
    stability = P.PROTOCOLS["stability-57d3a1a"]
    assert P.answer_params(stability, "math") == {"temperature": 0.1, "do_sample": True, "top_p": 0.9,
                                                  "repetition_penalty": 1.1, "max_new_tokens": 512}
    assert P.answer_params(stability, "extraction")["temperature"] == 0.2
    assert P.answer_params(stability, "writing")["temperature"] == 0.5
    assert P.answer_params(P.PROTOCOLS["sarashina"], "math") == {
        "temperature": 0.7, "do_sample": True, "top_p": 0.9, "repetition_penalty": 1.05, "max_new_tokens": 1024}
    assert P.answer_params(P.PROTOCOLS["flexeval"], "writing") == {"max_new_tokens": 1024, "seed": 42}
    assert P.answer_params(P.PROTOCOLS["swallow"], "coding") == {"temperature": 0.0, "do_sample": False}
    assert P.judge_params(P.PROTOCOLS["swallow"]) == {"model": "gpt-4o-2024-08-06", "temperature": 0.0,
                                                      "max_tokens": 4096}
    assert P.judge_params(P.PROTOCOLS["sarashina"]) == {"model": "gpt-4o-2024-08-06"}
    assert P.judge_params(P.PROTOCOLS["nejumi3"]) == {"model": "gpt-4o-2024-05-13", "temperature": 0.0,
                                                      "max_tokens": 2048}


def test_answer_messages():
    question = {"question_id": 1, "category": "writing", "turns": ["Q1", "Q2"]}
    llmjp = P.PROTOCOLS["llmjp_judge"]
    system = {"role": "system", "content": "以下は、タスクを説明する指示です。要求を適切に満たす応答を書きなさい。"}
    assert P.answer_messages(llmjp, question, []) == [system, {"role": "user", "content": "Q1"}]
    assert P.answer_messages(llmjp, question, ["A1"]) == [
        system, {"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Q2"}]
    assert P.answer_messages(P.PROTOCOLS["fastchat"], question, []) == [{"role": "user", "content": "Q1"}]
    with pytest.raises(UserError):  # Stability generates one turn
        P.answer_messages(P.PROTOCOLS["stability-fd01e11"], question, ["A1"])


@pytest.mark.parametrize("text, kept", [
    ("<think>考える</think>答え", "答え"),
    ("前置き<think>考える</think>\n答え", "\n答え"),
    ("<think>考えるだけで終わる", "<think>考えるだけで終わる"),  # no closing tag: the whole output
    ("<think>考える</think>", "考える"),  # nothing after the reasoning: the reasoning counts as the answer
    ("普通の答え", "普通の答え"),
])
def test_swallow_think_removal(text, kept):
    assert P.strip_think(text) == kept
    assert P.postprocess_answer(P.PROTOCOLS["swallow"], text) == kept
    assert P.postprocess_answer(P.PROTOCOLS["fastchat"], text) == text


def test_swallow_cut_and_samples():
    swallow = P.PROTOCOLS["swallow"]
    assert P.postprocess_answer(swallow, "あ" * 9000) == "あ" * 8192
    assert P.postprocess_answer(swallow, "<think>" + "x" * 10 + "</think>" + "い" * 9000) == "い" * 8192
    assert swallow.num_samples == 5 and swallow.num_judgments == 1
    assert P.distinct_generations(swallow, "math") == 1 and P.distinct_generations(swallow, "writing") == 5
    assert P.distinct_generations(swallow, "stem") == 5
    assert [P.history_sample(swallow, k) for k in range(5)] == [0, 0, 0, 0, 0]
    fastchat_like = P.PROTOCOLS["swallow_fastchat"]
    assert P.distinct_generations(fastchat_like, "math") == 5
    assert [P.history_sample(fastchat_like, k) for k in range(5)] == [0, 1, 2, 3, 4]


# ----------------------------------------------------------------------------------------------- aggregation


def rec(qid, category, turn, rating, sample=0, judgment=0):
    return {"question_id": qid, "category": category, "turn": turn, "sample": sample, "judgment": judgment,
            "rating": rating}


FLAT = [rec(1, "writing", 0, 8.0), rec(1, "writing", 1, 6.0), rec(2, "math", 0, 4.0), rec(2, "math", 1, None),
        rec(3, "coding", 0, 9.0), rec(3, "coding", 1, 3.0)]


def test_flat_mean_fastchat_and_llmjp():
    for name in ("fastchat", "llmjp_judge"):
        out = P.aggregate(P.PROTOCOLS[name], FLAT)
        # valid 8, 6, 4, 9, 3 -> 30 / 5; turn 1: 8, 4, 9 -> 7; turn 2: 6, 3 -> 4.5
        assert out["score"] == pytest.approx(6.0)
        assert out["score_turn1"] == pytest.approx(7.0) and out["score_turn2"] == pytest.approx(4.5)
        assert out["categories"] == pytest.approx({"writing": 7.0, "math": 4.0, "coding": 6.0})
        assert out["n_judge_failed"] == 1 and out["n_judgments"] == 6 and out["scale"] == "1–10"


def test_turn_one_only_stability_and_flexeval():
    for name in ("stability-fd01e11", "flexeval"):
        out = P.aggregate(P.PROTOCOLS[name], FLAT)
        # only turn 1: 8, 4, 9 -> 7; the turn-2 failure is not a judgment of this protocol
        assert out["score"] == pytest.approx(7.0) and out["score_turn1"] == pytest.approx(7.0)
        assert out["score_turn2"] is None
        assert out["n_judge_failed"] == 0 and out["n_judgments"] == 3


def test_nejumi3_mean_of_category_means():
    records = FLAT + [rec(1, "writing", 0, 10.0, judgment=1)]
    out = P.aggregate(P.PROTOCOLS["nejumi3"], records)
    # writing: (q1 t1: (8 + 10) / 2 = 9, q1 t2: 6) -> 7.5; math: 4 (the failure dropped); coding: (9 + 3) / 2 = 6
    assert out["categories"] == pytest.approx({"writing": 7.5, "math": 4.0, "coding": 6.0})
    assert out["score"] == pytest.approx(17.5 / 3)  # (7.5 + 4 + 6) / 3 = 5.8333
    assert out["score_turn1"] == pytest.approx((9 + 4 + 9) / 3)  # writing 9, math 4, coding 9
    assert out["score_turn2"] == pytest.approx(4.5)  # writing 6, coding 3 (math has no valid turn 2)
    flat = P.aggregate(P.PROTOCOLS["fastchat"], records)["score"]
    assert flat == pytest.approx(40 / 6) and flat != pytest.approx(out["score"])


def test_swallow_instruct_failed_counts_as_minus_one():
    records = (
        [rec(1, "writing", 0, r, sample=k) for k, r in enumerate([8.0, 6.0, None])]       # (8 + 6 - 1) / 3 = 13/3
        + [rec(1, "writing", 1, 7.0, sample=k) for k in range(3)]                         # 7
        + [rec(2, "math", 0, None, sample=k) for k in range(3)]                           # -1 (dropped)
        + [rec(2, "math", 1, r, sample=k) for k, r in enumerate([5.0, None, 5.0])]        # (5 - 1 + 5) / 3 = 3
        + [rec(3, "coding", 0, 10.0, sample=k) for k in range(3)]                         # 10
        + [rec(3, "coding", 1, None, sample=k) for k in range(3)]                         # -1 (dropped)
        + [rec(4, "humanities", t, None, sample=k) for t in (0, 1) for k in range(3)]     # -1, -1: avg -1 dropped
    )
    out = P.aggregate(P.PROTOCOLS["swallow"], records)
    # turn 1: (13/3 + 10) / 2 = 43/6; turn 2: (7 + 3) / 2 = 5; ÷ 10
    assert out["score_turn1"] == pytest.approx(43 / 60) and out["score_turn2"] == pytest.approx(0.5)
    # per question (t1 + t2) / 2: q1 (13/3 + 7) / 2 = 17/3, q2 (-1 + 3) / 2 = 1, q3 (10 - 1) / 2 = 4.5, q4 -1 dropped
    assert out["score"] == pytest.approx((17 / 3 + 1 + 4.5) / 3 / 10)  # 67/180 = 0.3722
    assert out["categories"]["writing"] == pytest.approx(17 / 30)
    assert out["categories"]["math"] == pytest.approx(0.1) and out["categories"]["coding"] == pytest.approx(0.45)
    assert out["categories"]["humanities"] is None
    assert out["n_judge_failed"] == 14 and out["n_judgments"] == 24 and out["scale"] == "0.1–1"


def test_swallow_fastchat_per_sample_then_across_samples():
    records = [rec(1, "writing", 0, 8.0, 0), rec(1, "writing", 0, 6.0, 1), rec(1, "writing", 1, 4.0, 0),
               rec(1, "writing", 1, 5.0, 1), rec(2, "math", 0, None, 0), rec(2, "math", 0, 9.0, 1),
               rec(2, "math", 1, 2.0, 0), rec(2, "math", 1, 4.0, 1)]
    out = P.aggregate(P.PROTOCOLS["swallow_fastchat"], records)
    # overall: sample 0: (8 + 4 + 2) / 3 = 14/3, sample 1: (6 + 5 + 9 + 4) / 4 = 6 -> 16/3 (flat would be 38/7)
    assert out["score"] == pytest.approx(16 / 30)
    assert out["score_turn1"] == pytest.approx(0.775)  # sample 0: 8, sample 1: (6 + 9) / 2 = 7.5
    assert out["score_turn2"] == pytest.approx(0.375)  # sample 0: (4 + 2) / 2 = 3, sample 1: 4.5
    assert out["categories"] == pytest.approx({"writing": 0.575, "math": 0.425})  # (6 + 5.5) / 2; (2 + 6.5) / 2
    assert out["n_judge_failed"] == 1


def test_sarashina_mean_of_runs_turn_two_only():
    records = [rec(1, "writing", 1, 8.0, 0, 0), rec(2, "math", 1, 6.0, 0, 0),     # run (0, 0): 7
               rec(1, "writing", 1, None, 0, 1), rec(2, "math", 1, 4.0, 0, 1),    # run (0, 1): 4
               rec(1, "writing", 1, 10.0, 1, 0), rec(2, "math", 1, None, 1, 0),   # run (1, 0): 10
               rec(1, "writing", 1, 2.0, 1, 1), rec(2, "math", 1, 3.0, 1, 1),     # run (1, 1): 2.5
               rec(1, "writing", 0, 1.0)]                                          # turn 1: not judged here
    out = P.aggregate(P.PROTOCOLS["sarashina"], records)
    assert out["score"] == pytest.approx(23.5 / 4) and out["score_turn2"] == pytest.approx(5.875)
    assert out["score_turn1"] is None
    assert out["categories"] == pytest.approx({"writing": (8 + 10 + 2) / 3, "math": (6 + 4 + 3) / 3})
    assert out["n_judge_failed"] == 2 and out["n_judgments"] == 8


# ------------------------------------------------------------------------------------------ Japanese Vicuna QA


@needs_shared
@pytest.mark.parametrize("category", ["generic", "math", "coding"])
def test_vicuna_pairwise_judge_messages_both_orders(category):
    protocol = P.VICUNA_PROTOCOLS["ja_vicuna_qa"]
    rows = {r["name"]: r for r in jsonl("ja_vicuna_qa/judge_prompts.jsonl")}
    question = first_of(jsonl("ja_vicuna_qa/question.jsonl"), category)
    refs = {r["question_id"]: r["choices"][0]["turns"] for r in jsonl("ja_vicuna_qa/reference_answer/gpt-4.jsonl")}
    baseline = {r["question_id"]: r["choices"][0]["turns"][0]
                for r in jsonl("ja_vicuna_qa/baseline_answer/text-davinci-003.jsonl")}[question["question_id"]]
    ref = refs.get(question["question_id"]) if category != "generic" else None
    row = rows["pair-math" if ref else "pair"]
    prompts = P.load_judge_prompts(protocol, DATA)
    assert P.load_baseline_answers(protocol, DATA)[question["question_id"]] == [baseline]
    for a, b in ((ANSWERS[0], baseline), (baseline, ANSWERS[0])):
        extra = {"ref_answer_1": ref[0]} if ref else {}
        expected = [{"role": "system", "content": row["system_prompt"]},
                    {"role": "user", "content": row["prompt_template"].format(
                        question=question["turns"][0], answer_a=a, answer_b=b, **extra)}]
        assert P.pair_judge_messages(protocol, prompts, question, a, b, ref) == expected
    with pytest.raises(UserError):
        P.judge_messages(protocol, prompts, question, ANSWERS, 0, ref)


@needs_shared
def test_vicuna_single_judge_messages():
    protocol = P.VICUNA_PROTOCOLS["ja_vicuna_qa_single"]
    rows = {r["name"]: r for r in jsonl("ja_vicuna_qa/judge_prompts.jsonl")}
    prompts = P.load_judge_prompts(protocol, DATA)
    questions = P.load_questions(protocol, DATA)
    refs = P.load_references(protocol, DATA)
    assert sorted(refs) == list(range(61, 71))
    for category in ("generic", "coding"):
        q = first_of(questions, category)
        ref = refs.get(q["question_id"]) if category == "coding" else None
        row = rows["single-math" if ref else "single"]
        extra = {"ref_answer_1": ref[0]} if ref else {}
        assert P.judge_messages(protocol, prompts, q, ["答え"], 0, ref) == [
            {"role": "system", "content": row["system_prompt"]},
            {"role": "user", "content": row["prompt_template"].format(question=q["turns"][0], answer="答え", **extra)}]


def test_vicuna_verdicts_and_win_rates():
    assert P.parse_verdict("… [[A]]") == "A" and P.parse_verdict("[[B]] でも [[A]]") == "A"
    assert P.parse_verdict("[[C]]") == "tie" and P.parse_verdict("どちらとも") is None
    assert P.pair_winners("[[A]]", "[[A]]") == ("model_1", "model_2")  # g2 showed model_2 as A
    assert P.pair_winners("[[B]]", "[[C]]") == ("model_2", "tie")
    assert P.pair_winners(None, "x") == ("error", "error")
    results = [{"g1_winner": "model_1", "g2_winner": "model_1"},  # model_1 wins
               {"g1_winner": "model_2", "g2_winner": "model_2"},  # model_2 wins
               {"g1_winner": "tie", "g2_winner": "model_1"},      # tie
               {"g1_winner": "model_1", "g2_winner": "error"},    # orders differ: tie
               {"g1_winner": "error", "g2_winner": "error"}]      # upstream quirk: model_2 wins
    # as model_1: 1 win, 2 losses, 2 ties of 5 -> 20, 40, (1 + 1) / 5 = 40
    assert P.win_rates(results, True) == {"win_rate": 20.0, "lose_rate": 40.0, "adjusted_win_rate": 40.0,
                                          "n_tie": 2, "n_questions": 5}
    # as model_2: 2 wins, 1 loss -> 40, 20, (2 + 1) / 5 = 60
    out = P.win_rates(results, False)
    assert (out["win_rate"], out["lose_rate"], out["adjusted_win_rate"]) == (40.0, 20.0, 60.0)
    assert P.pair_order("cyberagent--calm2-7b-chat", "openai--text-davinci-003") is True
    assert P.pair_order("rinna--japanese-gpt-neox-3.6b-instruction-ppo", "openai--text-davinci-003") is False
    with pytest.raises(UserError):
        P.aggregate(P.VICUNA_PROTOCOLS["ja_vicuna_qa"], [])


def test_vicuna_single_rating_and_mean_with_failed():
    protocol = P.VICUNA_PROTOCOLS["ja_vicuna_qa_single"]
    assert P.parse_rating(protocol, "評価：[[7]]") == 7.0 and P.parse_rating(protocol, "[[rating:8]]") == 8.0
    assert P.parse_rating(protocol, "[[rating: 9]]") == 9.0 and P.parse_rating(protocol, "[[6.5]]") == 6.5
    assert P.parse_rating(protocol, "[7]") is None  # no single-bracket fallback
    out = P.aggregate(protocol, [rec(1, "generic", 0, 8.0), rec(2, "math", 0, None), rec(3, "coding", 0, 6.0)])
    assert out["score"] == pytest.approx(13 / 3)  # (8 - 1 + 6) / 3: the failure is averaged in as -1
    assert out["n_judge_failed"] == 1 and out["score_turn2"] is None
    assert P.answer_params(protocol, "generic") == {"temperature": 0.1}
    assert P.answer_params(protocol, "math") == {"temperature": 0.001}
