"""``lm-eval-ja report`` / ``compare`` command lines."""

from __future__ import annotations

import pytest

from lm_eval_ja.errors import UserError
from lm_eval_ja.report.__main__ import main
from tests.report.helpers import FIXTURES, run_with_samples


def test_cli_leaderboard_writes_all_outputs(tmp_path, capsys):
    rc = main(["leaderboard", str(FIXTURES), "--out-md", str(tmp_path / "lb.md"),
               "--out-csv", str(tmp_path / "new" / "lb.csv"), "--out-png", str(tmp_path / "lb.png")])
    assert rc == 0
    assert "| model-c | **77.50** |" in capsys.readouterr().out
    assert (tmp_path / "lb.md").read_text(encoding="utf-8").startswith("| model |")
    # a folder that does not exist yet is created, as for --output_path
    assert (tmp_path / "new" / "lb.csv").read_text(encoding="utf-8").startswith("model,average,n_tasks,prompt,")
    assert (tmp_path / "lb.png").stat().st_size > 0


def test_cli_compare(tmp_path, capsys):
    ra, la = run_with_samples(tmp_path, "a", [i % 2 == 0 for i in range(400)])
    rb, lb_ = run_with_samples(tmp_path, "b", [i % 2 == 0 or i % 10 in (1, 3) for i in range(400)])
    assert main(["compare", str(ra), str(rb), "--samples-a", str(la), "--samples-b", str(lb_)]) == 0
    out = capsys.readouterr().out
    assert "paired bootstrap (n=400)" in out and "B better" in out
    with pytest.raises(UserError):
        main(["compare", str(tmp_path / "nope.json"), str(rb)])

