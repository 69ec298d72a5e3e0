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



@pytest.mark.parametrize("argv, message", [
    (["leaderboard", "x", "--top", "abc"], "lm-eval-ja report: argument --top: 'abc' is not an integer; pass --top N "
                                           "with N ≥ 0 (see lm-eval-ja report --help)."),
    (["leaderboard", "x", "--top", "-1"], "lm-eval-ja report: argument --top: -1 is below 0"),
    (["compare", "a.json", "b.json", "--resamples", "0"], "lm-eval-ja compare: argument --resamples: 0 is below 1"),
    (["compare", "a.json"], "lm-eval-ja compare: the following arguments are required: B.json"),
    (["by-prompt", "x", "--bogus"], "lm-eval-ja report --by-prompt: unrecognized arguments: --bogus (see "
                                    "lm-eval-ja report --by-prompt --help)."),
    (["leaderboard", "x", "--model-id", "folder"], "lm-eval-ja report: argument --model-id: invalid choice"),
])
def test_bad_flags_are_one_error_line_naming_the_command(argv, message, capsys):
    with pytest.raises(UserError) as err:
        main(argv)
    assert str(err.value).startswith(message)
    assert capsys.readouterr().err == ""  # not argparse's usage text


def test_bad_flags_through_the_top_level_command(capsys):
    from lm_eval_ja.cli import main as cli_main

    assert cli_main(["report", str(FIXTURES), "--top", "abc"]) == 2
    assert capsys.readouterr().err == ("error: lm-eval-ja report: argument --top: 'abc' is not an integer; pass --top N "
                                       "with N ≥ 0 (see lm-eval-ja report --help).\n")
    assert cli_main(["report", "--by-prompt", str(FIXTURES), "--nope"]) == 2
    assert capsys.readouterr().err.startswith("error: lm-eval-ja report --by-prompt: unrecognized arguments: --nope")


@pytest.mark.parametrize("argv, flags", [
    (["leaderboard", str(FIXTURES), "--out-png", "{tmp}/lb.png"], "--out-png needs"),
    (["leaderboard", str(FIXTURES), "--out-categories", "{tmp}/c.png"], "--out-categories needs"),
    (["leaderboard", str(FIXTURES), "--out-png", "{tmp}/lb.png", "--out-categories", "{tmp}/c.png"],
     "--out-png and --out-categories need"),
    (["by-prompt", str(FIXTURES), "--model-id", "dir", "--out-png", "{tmp}/bp.png"], "--out-png needs"),
])
def test_charts_without_matplotlib_are_refused_before_anything_is_written(tmp_path, monkeypatch, capsys, argv, flags):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    argv = [a.format(tmp=tmp_path / "new") for a in argv] + ["--out-md", str(tmp_path / "new" / "t.md")]
    with pytest.raises(UserError) as err:
        main(argv)
    assert str(err.value).startswith(f"{flags} matplotlib, which is not installed: pip install 'lm-eval-ja[report]'")
    assert not (tmp_path / "new").exists() and capsys.readouterr().out == ""


def test_a_judged_run_alone_has_no_0_100_chart(tmp_path):
    from tests.report.helpers import write_result

    path = write_result(tmp_path / "chat" / "result.json", {"elyza_tasks_100": {"score": 3.2}}, num_fewshot=[0])
    with pytest.raises(UserError, match=r"^--out-png charts 0–100 scores, and these result files hold none"):
        main(["leaderboard", str(path), "--out-png", str(tmp_path / "lb.png")])


def test_compare_refuses_fewer_than_one_resample(tmp_path):
    from lm_eval_ja.report.compare import compare

    ra, la = run_with_samples(tmp_path, "a", [1, 0, 1, 1])
    with pytest.raises(UserError, match=r"^--resamples 0: the bootstrap needs at least 1 resample"):
        compare(ra, ra, la, la, n_resamples=0)  # was an IndexError


def test_a_refused_report_creates_no_output_folder(tmp_path):
    out = ["--out-md", str(tmp_path / "new" / "t.md")]
    with pytest.raises(UserError, match="no such file or directory"):
        main(["leaderboard", str(tmp_path / "missing.json"), *out])
    with pytest.raises(UserError, match="No result file holds the members of a group"):
        main(["leaderboard", str(FIXTURES), "--out-categories", str(tmp_path / "new" / "c.png"), *out])
    with pytest.raises(UserError):
        main(["compare", str(tmp_path / "missing.json"), str(tmp_path / "missing.json"), *out])
    assert not (tmp_path / "new").exists()
