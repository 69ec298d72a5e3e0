"""HumanEval / JHumanEval: problems, requests, programs; the published solutions pass in the sandbox."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lm_eval_ja.benchmarks.humaneval import programs as P
from lm_eval_ja.scorers import sandbox as sb
from tests.conftest import DATA

needs_data = pytest.mark.skipif(not (DATA / P.DATASETS["jhumaneval"]).is_file()
                                or not (DATA / P.DATASETS["humaneval"]).is_file(),
                                reason=f"{DATA} (shared data) not present")


def sandbox(**kwargs) -> sb.Sandbox:
    """2 workers, 10 s; the published solutions are trusted code, so they may run unisolated where bwrap is missing."""
    return sb.Sandbox(timeout=10, workers=2, allow_unsafe=True, **kwargs)


@pytest.fixture(scope="module")
def humaneval():
    return P.load_problems(DATA, "humaneval")


@pytest.fixture(scope="module")
def jhumaneval():
    return P.load_problems(DATA, "jhumaneval")


@needs_data
def test_both_datasets_have_the_164_problems_in_order(humaneval, jhumaneval):
    assert [p["task_id"] for p in humaneval] == [f"HumanEval/{i}" for i in range(164)]
    assert [p["task_id"] for p in jhumaneval] == [f"JHumanEval/{i}" for i in range(164)]
    assert [p["entry_point"] for p in humaneval] == [p["entry_point"] for p in jhumaneval]
    # the Japanese prompt is the request (the English one kept beside it); the tests are HumanEval's
    assert "単語を表す文字列" in jhumaneval[64]["prompt"] and jhumaneval[0]["prompt_en"] == humaneval[0]["prompt"]
    assert [p["test"] for p in humaneval] == [p["test"] for p in jhumaneval]


@needs_data
def test_data_dir_may_be_several_folders_first_match_wins(tmp_path):
    problems = P.load_problems(f"{tmp_path}:{DATA}", "humaneval")
    assert len(problems) == 164
    with pytest.raises(FileNotFoundError):
        P.load_problems(tmp_path, "jhumaneval")
    with pytest.raises(ValueError):
        P.load_problems(DATA, "mbpp")


@needs_data
def test_every_published_humaneval_solution_passes(humaneval):
    start = time.monotonic()
    outcomes = sandbox().run([sb.Program(P.canonical_program(p), p["task_id"]) for p in humaneval])
    elapsed = time.monotonic() - start
    failed = {p["task_id"]: o for p, o in zip(humaneval, outcomes) if not o.passed}
    assert failed == {}
    assert elapsed < 240, elapsed


@needs_data
def test_every_published_jhumaneval_solution_passes_except_problem_64(jhumaneval):
    outcomes = sandbox().run([sb.Program(P.canonical_program(p), p["task_id"]) for p in jhumaneval])
    failed = {p["task_id"]: o for p, o in zip(jhumaneval, outcomes) if not o.passed}
    assert list(failed) == ["JHumanEval/64"]
    assert failed["JHumanEval/64"].status == "failed" and "SyntaxError" in failed["JHumanEval/64"].detail


@needs_data
def test_wrong_bodies_fail(humaneval):
    problems = humaneval[::12]
    wrong = ["    return None\n", "    raise NotImplementedError\n", "    while True:\n        pass\n",
             "    import sys\n    sys.exit(0)\n"]
    programs = [sb.Program(P.completion_program(p, wrong[i % len(wrong)])) for i, p in enumerate(problems)]
    outcomes = sb.Sandbox(timeout=2, workers=2, allow_unsafe=True).run(programs)
    assert [o.status for o in outcomes] == [("timed out" if i % len(wrong) == 2 else "failed")
                                            for i in range(len(problems))]


@needs_data
def test_completion_requests_as_is_and_trimmed(humaneval, jhumaneval):
    p = jhumaneval[0]
    assert P.completion_request(p) == p["prompt"] and p["prompt"].endswith("\n")
    trimmed = P.completion_request(p, trim=True)
    assert trimmed == p["prompt"].strip() and not trimmed.endswith("\n")
    # flexeval's program is built from the untrimmed prompt in both forms
    assert P.completion_program(p, "X").startswith(p["prompt"] + "X\n")
    assert P.completion_program(p, "X").endswith(p["test"] + "\n" + f"check({p['entry_point']})")
    # Jinja's trim strips both ends: HumanEval prompts that start with newlines lose them too
    q = next(q for q in humaneval if q["prompt"].startswith("\n"))
    assert not P.completion_request(q, trim=True).startswith("\n")


def test_stop_sequences_are_the_codex_papers_and_lm_evals():
    assert P.STOP_SEQUENCES == ("\nclass", "\ndef", "\n#", "\nif", "\nprint")
    yaml_path = None
    try:
        import lm_eval

        yaml_path = Path(lm_eval.__file__).parent / "tasks" / "humaneval" / "humaneval.yaml"
    except ImportError:
        pass
    if yaml_path is not None and yaml_path.is_file():
        import yaml

        class Loader(yaml.SafeLoader):
            pass

        Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
        config = yaml.load(yaml_path.read_text(encoding="utf-8"), Loader=Loader)
        assert tuple(config["generation_kwargs"]["until"]) == P.STOP_SEQUENCES
    assert set(P.STOP_SEQUENCES) < set(P.FLEXEVAL_STOP_SEQUENCES["humaneval"]) < set(
        P.FLEXEVAL_STOP_SEQUENCES["jhumaneval"])


def test_truncate_at_the_first_stop_sequence():
    text = "    return x\n\ndef other():\n    pass\nprint(1)"
    assert P.truncate_at_stop(text) == "    return x\n"
    assert P.truncate_at_stop("    return x\n", P.STOP_SEQUENCES) == "    return x\n"
    assert P.truncate_at_stop("    a = 1\n    # ok\n#top", ()) == "    a = 1\n    # ok\n#top"
    assert P.truncate_at_stop("    a = 1\n```\nmore", P.FLEXEVAL_STOP_SEQUENCES["humaneval"]) == "    a = 1"


def test_swallow_extracts_the_last_block_that_defines_the_entry_point():
    answer = ("Here is a helper:\n```python\ndef helper():\n    return 1\n```\n"
              "And the solution:\n```python\ndef f(x):\n    return helper() + x\n```\n"
              "Usage:\n```python\nprint(f(1))\n```\n")
    assert P.extract_code(answer, "f") == "def f(x):\n    return helper() + x\n"
    # no block defines it: the last block
    assert P.extract_code(answer, "g") == "print(f(1))\n"
    assert P.extract_code("no code here, `def f(x): pass` inline only", "f") == ""
    # an unclosed fence runs to the end; tildes count; indented code does not
    assert P.extract_code("```python\ndef f():\n    return 1", "f") == "def f():\n    return 1"
    assert P.extract_code("~~~\ndef f(): pass\n~~~\n", "f") == "def f(): pass\n"
    assert P.extract_code("    ```\n    def f(): pass\n    ```\n", "f") == ""


FENCE_CASES = [
    "```python\ndef f():\n    return 1\n```\n", "text\n```\na\n```\nmore\n~~~py\nb\n~~~\n",
    "  ```\n  x\n    y\n ```", "```python\nunclosed\n  more", "    ```\n    not\n    ```\n",
    "1. step\n   ```python\n   def f(): pass\n   ```\n2. x\n", "- ```py\n  code\n  ```\n",
    "````\n```\ninner\n```\n````\n", "``` a`b\nnot fence\n```\n", "x ```python\nno\n```",
    "```\r\nwin\r\n```\r\n", "Here:\n```python\ndef f(x):\n\treturn x\n```\nand\n```\nlast\n```",
    "\t```\n\tcode\n\t```", "```\n\n\n", "```py\na\n\n```", "~~~\n```\n~~~", "```\nx\n```   \ny", "",
]


@pytest.mark.parametrize("text", FENCE_CASES)
def test_fence_reader_agrees_with_markdown_it(text):
    markdown_it = pytest.importorskip("markdown_it")
    expected = [t.content for t in markdown_it.MarkdownIt().parse(text) if t.type == "fence"]
    assert P._fences(text) == expected


@needs_data
def test_chat_form_programs_swallow_layout(humaneval, jhumaneval):
    p = jhumaneval[2]
    request = P.chat_request(p, "jhumaneval")
    assert request.startswith("以下に与えられる未完成のコードスニペット") and p["prompt"] in request
    assert request.endswith("```\n\n")
    assert P.chat_request(humaneval[2], "humaneval").startswith("Complete the Python starter code below.")
    program = P.chat_program(p, "答え:\n```python\n" + p["prompt"] + p["canonical_solution"] + "```\n")
    assert program.startswith(P.SWALLOW_IMPORTS) and program.rstrip().endswith(f"check({p['entry_point']})")


@needs_data
def test_chat_answers_run_as_swallow_runs_them(humaneval):
    problems = humaneval[:6]
    good = ["Sure!\n\n```python\n" + p["prompt"] + p["canonical_solution"] + "```\n\nThis works." for p in problems]
    no_block = ["I cannot write code." for _ in problems]
    prose_only = ["```\n" + p["prompt"] + "```" for p in problems]  # the function body missing: a docstring only
    programs = [sb.Program(P.chat_program(p, a)) for answers in (good, no_block, prose_only)
                for p, a in zip(problems, answers)]
    outcomes = sandbox().run(programs)
    statuses = [o.status for o in outcomes]
    assert statuses[:6] == ["passed"] * 6
    assert statuses[6:] == ["failed"] * 12


@needs_data
def test_programs_for_cuts_completions_at_the_stop_sequences(humaneval):
    p = humaneval[0]
    body = p["canonical_solution"]
    (progs,) = P.programs_for([p], [[body + "\n\ndef extra():\n    raise ValueError\nextra()\n"]],
                              stops=P.STOP_SEQUENCES)
    assert progs == [P.completion_program(p, body + "\n")]
