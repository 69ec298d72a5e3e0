"""The run manifest: what produced a result, stable across reruns of the same inputs; timing apart."""

from __future__ import annotations

import hashlib
from pathlib import Path

from lm_eval_ja.manifest import command_line, git_commit
from tests.conftest import DATA, needs_shared, run_tasks


@needs_shared
def test_manifest_of_a_run(conformance_lm):
    result, _ = run_tasks(conformance_lm, ["jcommonsenseqa-1.1-0.3"], [1], 2, DATA)
    manifest, timing = result["manifest"], result["timing"]
    assert set(manifest) == {"lm_eval_ja", "packages", "device", "processes", "dtype", "model_fingerprint",
                             "data_files", "command", "run"}
    assert manifest["lm_eval_ja"]["git_commit"] == git_commit()
    assert all(manifest["packages"][p] for p in ("lm_eval", "transformers", "torch", "python"))
    assert (manifest["device"], manifest["dtype"], manifest["processes"]) == ("cpu", "torch.float32", 1)
    assert len(manifest["model_fingerprint"]["digest"]) == 20
    valid = DATA / "jglue" / "datasets" / "jcommonsenseqa-v1.1" / "valid-v1.1.json"
    assert manifest["data_files"][str(valid)] == hashlib.sha256(valid.read_bytes()).hexdigest()
    assert manifest["run"]["tasks"] == ["jcommonsenseqa-1.1-0.3"] and manifest["run"]["num_fewshot"] == [1]
    assert set(timing) == {"started", "finished", "tasks"} and timing["tasks"]["jcommonsenseqa-1.1-0.3"]["seconds"] > 0


def test_the_command_line_never_shows_a_secret():
    line = command_line(["--model", "local-chat-completions", "--model_args", "model=m,api_key=sk-123,base_url=u"])
    assert "sk-123" not in line and line.endswith("--model_args 'model=m,api_key=<redacted>,base_url=u'")


def test_git_commit_of_a_checkout():
    commit = git_commit()
    if (Path(__file__).parents[1] / ".git").exists():
        assert commit is not None and len(commit.split("+")[0]) == 40
