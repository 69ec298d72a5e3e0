"""The prompt-sensitivity report: rows, the tie rule, refusals, the CLI and its outputs."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from lm_eval_ja import cli
from lm_eval_ja.errors import UserError
from lm_eval_ja.report.by_prompt import by_prompt
from tests.report.helpers import write_result

HEADER = "| task | metric | shots | 0.2 | 0.3 | 0.4 | min | mean | max | spread | n | best |"
JCQA = "| jcommonsenseqa-1.1 | acc×100 | 3 | 50.00 | 60.00 | 55.00 | 50.00 | 55.00 | 60.00 | 10.00 | 3 | 0.3 |"
JNLI = "| jnli-1.3 | acc×100 | 3 | 40.00 | 40.00 | – | 40.00 | 40.00 | 40.00 | 0.00 | 2 | 0.2 |"
JSQUAD = "| jsquad-1.1 | exact_match | 3 | 70.00 | – | – | 70.00 | 70.00 | 70.00 | 0.00 | 1 | 0.2 |"


def _model(tmp_path):
    """One model's runs in two files; jnli ties, its higher version read first."""
    first = write_result(tmp_path / "m" / "result.json", {
        "jcommonsenseqa-1.1-0.2": {"acc": 0.5}, "jcommonsenseqa-1.1-0.3": {"acc": 0.6},
        "jnli-1.3-0.3": {"acc": 0.4}, "xwinograd_ja": {"acc": 0.7},
    }, num_fewshot=3)
    second = write_result(tmp_path / "m" / "result.more.json", {
        "jcommonsenseqa-1.1-0.4": {"acc": 0.55}, "jnli-1.3-0.2": {"acc": 0.4},
        "jsquad-1.1-0.2": {"exact_match": 70.0}, "jcommonsenseqa-1.1-0.3": {"acc": 0.6},  # an identical duplicate
    }, num_fewshot=3)
    return first, second


def test_rows_min_mean_max_spread_best_and_notes(tmp_path):
    md = by_prompt(_model(tmp_path)).to_markdown()
    lines = md.splitlines()
    assert lines[0] == HEADER
    assert lines[2:5] == [JCQA, JNLI, JSQUAD]  # registry order; jnli's tie goes to the lower version
    assert "* Run with one prompt version only (spread 0 says nothing): jsquad-1.1." in lines
    assert "* Skipped, no prompt version in the name: xwinograd_ja." in lines


def test_groups_with_and_without_a_prompt_version(tmp_path):
    results = {"jmmlu-llmjp-1.0": {"acc": 0.3}, "ja_mt_bench": {"score": 5.0}, "jsts-1.1-llmjp-1.0": {"pearson": 0.5},
               "jsts-1.1-0.2": {"pearson": 0.25}}
    path = write_result(tmp_path / "m" / "result.json", results, num_fewshot=0, versions=dict.fromkeys(results, 1.0))
    report = by_prompt(path)
    assert report.versions == ["0.2", "llmjp-1.0"]  # jp-stable numbers before llm-jp names, as in the registry
    rows = {t.task: (t.min, t.max, t.best) for t in report.tasks}
    assert rows == {"jsts-1.1": (25.0, 50.0, "llmjp-1.0"), "jmmlu": (30.0, 30.0, "llmjp-1.0")}
    assert "* Skipped, no prompt version in the name: ja_mt_bench." in report.to_markdown().splitlines()


def test_different_setups_are_noted(tmp_path):
    a = write_result(tmp_path / "m" / "result.json", {"jnli-1.3-0.2": {"acc": 0.4}}, num_fewshot=3)
    b = write_result(tmp_path / "m" / "result.b.json", {"jnli-1.3-0.3": {"acc": 0.5}}, num_fewshot=2)
    md = by_prompt([a, b]).to_markdown()
    assert "| jnli-1.3 | acc×100 | 3/2 |" in md
    assert ("* jnli-1.3: the versions ran with different setups (0.2: 3-shot, 0.3: 2-shot), so its spread mixes "
            "prompt and setup effects.") in md


def test_refuses_two_models(tmp_path):
    a = write_result(tmp_path / "a" / "result.json", {"jnli-1.3-0.2": {"acc": 0.4}}, num_fewshot=3)
    b = write_result(tmp_path / "b" / "result.json", {"jnli-1.3-0.3": {"acc": 0.5}}, num_fewshot=3)
    with pytest.raises(UserError) as exc:
        by_prompt([a, b])
    assert str(exc.value) == (
        f"{a} and {b} are of different models (org/a vs org/b); a prompt-sensitivity report is of one model: "
        "pass only its result files."
    )


def test_model_identity_is_pretrained_unless_told_dir(tmp_path):
    paths = []
    for version in ("0.2", "0.3"):
        p = write_result(tmp_path / f"run-{version}" / "result.json", {f"jnli-1.3-{version}": {"acc": 0.4}},
                         num_fewshot=3)
        data = json.loads(p.read_text(encoding="utf-8"))
        data["config"]["model_args"] = "pretrained=org/m"
        p.write_text(json.dumps(data), encoding="utf-8")
        paths.append(p)
    assert by_prompt(paths).model == "org/m"
    with pytest.raises(UserError, match=r"\(run-0.2 vs run-0.3\)"):
        by_prompt(paths, model_id_from="dir")


def test_refuses_one_version_with_two_scores(tmp_path):
    a = write_result(tmp_path / "m" / "result.json", {"jnli-1.3-0.2": {"acc": 0.4}}, num_fewshot=3)
    b = write_result(tmp_path / "m" / "result.rerun.json", {"jnli-1.3-0.2": {"acc": 0.5}}, num_fewshot=3)
    with pytest.raises(UserError) as exc:
        by_prompt([a, b])
    assert str(exc.value) == (
        f"jnli-1.3 prompt version 0.2 scores 40 in {a} but 50 in {b}; pass one run per prompt version."
    )


def test_cli_report_by_prompt_prints_and_writes(tmp_path, capsys):
    _model(tmp_path)
    csv_path, png = tmp_path / "out" / "bp.csv", tmp_path / "out" / "bp.png"
    rc = cli.main(["report", "--by-prompt", str(tmp_path / "m"), "--out-csv", str(csv_path), "--out-png", str(png),
                   "--out-md", str(tmp_path / "bp.md")])
    assert rc == 0
    out = capsys.readouterr().out
    assert HEADER in out and JCQA in out
    assert (tmp_path / "bp.md").read_text(encoding="utf-8") == out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = {r["task"]: r for r in csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8")))}
    jcqa = rows["jcommonsenseqa-1.1"]
    assert float(jcqa["mean"]) == pytest.approx(55.0, abs=1e-12) and jcqa["mean"] != "55.00"  # unrounded
    assert (jcqa["0.4"], jcqa["metric"], jcqa["n_versions"], jcqa["best"]) == ("55.00000000000001", "acc", "3", "0.3")
    assert rows["jsquad-1.1"]["0.3"] == ""  # not run: blank, not 0


def test_cli_refusal_is_one_error_line(tmp_path, capsys):
    a = write_result(tmp_path / "a" / "result.json", {"jnli-1.3-0.2": {"acc": 0.4}}, num_fewshot=3)
    b = write_result(tmp_path / "b" / "result.json", {"jnli-1.3-0.3": {"acc": 0.5}}, num_fewshot=3)
    assert cli.main(["report", str(a), "--by-prompt", str(b)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "(org/a vs org/b)" in err


def test_matplotlib_only_for_a_chart(tmp_path):
    first, _ = _model(tmp_path)
    code = ("import sys; from lm_eval_ja.report.by_prompt import by_prompt; "
            f"by_prompt({str(first)!r}).to_markdown(); assert 'matplotlib' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
