"""The leaderboard chart."""

from __future__ import annotations

import pytest

from lm_eval_ja.report import leaderboard
from tests.report.helpers import FIXTURES


def test_chart_is_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    from lm_eval_ja.report.charts import japanese_font, plot_leaderboard

    out = plot_leaderboard(leaderboard(FIXTURES), tmp_path / "lb.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    assert japanese_font() is not None  # else Japanese labels render as boxes
