"""Shared fixtures: where ../shared lives, the conformance model, and data folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LM_EVAL_JA_SHARED", REPO.parent / "shared"))
CONFORMANCE = SHARED / "conformance"
DATA = SHARED / "data"
#: The data folder of the conformance runs: shared data overlaid with the synthetic MARC-ja.
CONFORMANCE_DATA_DIR = os.pathsep.join([str(CONFORMANCE / "data"), str(DATA)])
TINY_MODEL = CONFORMANCE / "models" / "tiny-neox-a"

needs_shared = pytest.mark.skipif(not (CONFORMANCE / "cases").is_dir(), reason=f"{SHARED} (shared data) not present")


@pytest.fixture(scope="session")
def conformance_lm():
    """The reference's tiny GPT-NeoX under our hf-causal wrapper (fp32, CPU)."""
    if not TINY_MODEL.is_dir():
        pytest.skip(f"{TINY_MODEL} not present")
    from lm_eval_ja.models.build import build_model

    return build_model("hf-causal", f"pretrained={TINY_MODEL}", batch_size=8, device="cpu")


def make_task(name: str, data_dir=CONFORMANCE_DATA_DIR, facts=None, **kwargs):
    """Task ``name`` built from its spec as lm-eval-ja's run loop builds it (data from ``data_dir``)."""
    from lm_eval_ja.task import JaTask

    return JaTask({"task": name, "metadata": {"data_dir": str(data_dir)}}, facts=facts, **kwargs)


def run_tasks(lm, names, shots, limit, data_dir=CONFORMANCE_DATA_DIR, **options):
    """``evaluate_tasks`` on these tasks (one few-shot count each, one limit for all); (result, samples)."""
    from lm_eval_ja.evaluator import RunConfig, evaluate_tasks
    from lm_eval_ja.selection import Selection

    options.setdefault("bootstrap_iters", 1000)
    cfg = RunConfig(model="hf-causal", model_args="", selection=Selection.of(names, shots, limit),
                    data_dir=str(data_dir), log_samples=True, **options)
    return evaluate_tasks(lm, cfg)


@pytest.fixture(scope="session")
def other_tiny_model(tmp_path_factory):
    """A second model: the conformance GPT-NeoX architecture and tokenizer with other random weights."""
    if not TINY_MODEL.is_dir():
        pytest.skip(f"{TINY_MODEL} not present")
    import torch
    import transformers

    path = tmp_path_factory.mktemp("other-model")
    torch.manual_seed(1)
    config = transformers.AutoConfig.from_pretrained(TINY_MODEL)
    transformers.AutoModelForCausalLM.from_config(config).save_pretrained(path)
    transformers.AutoTokenizer.from_pretrained(TINY_MODEL).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def chat_model_dir(tmp_path_factory):
    """A tiny random chat model (conformance architecture, a chat template) for chat tasks."""
    if not TINY_MODEL.is_dir():
        pytest.skip(f"{TINY_MODEL} not present")
    from tests.servers import chat_model

    return chat_model(tmp_path_factory.mktemp("chat-model"))


@pytest.fixture(scope="session")
def completion_server(tmp_path_factory):
    """``transformers serve`` on 127.0.0.1 with the conformance GPT-NeoX: a served base model."""
    if not TINY_MODEL.is_dir():
        pytest.skip(f"{TINY_MODEL} not present")
    from tests.servers import Server

    with Server(TINY_MODEL, tmp_path_factory.mktemp("completions") / "server.log") as server:
        yield server


@pytest.fixture(scope="session")
def judge_server(tmp_path_factory):
    """``transformers serve`` on 127.0.0.1 with a tiny judge trained to answer 評価：[[4]] to everything."""
    if not TINY_MODEL.is_dir():
        pytest.skip(f"{TINY_MODEL} not present")
    from tests.servers import Server, fixed_answer_model

    root = tmp_path_factory.mktemp("judge")
    model = fixed_answer_model(root / "model", "評価：[[4]]")
    with Server(model, root / "server.log") as server:
        yield server
