"""Data: local folders, missing and corrupt files as one clear error, fallbacks recorded."""

from __future__ import annotations

import pytest

from lm_eval_ja.data import data_dirs
from lm_eval_ja.errors import UserError
from tests.conftest import make_task, needs_shared


def test_missing_data_folder(tmp_path):
    with pytest.raises(UserError, match=r"Data folder .*nope does not exist; point --data_dir"):
        data_dirs(str(tmp_path / "nope"))


@needs_shared
def test_missing_data_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError) as err:
        make_task("marc_ja-1.1-0.3", tmp_path)
    assert str(err.value).startswith("Data file jglue/datasets/marc_ja-v1.1/valid-v1.1.json for marc_ja-1.1-0.3 "
                                     f"was not found under {tmp_path}")


@needs_shared
def test_corrupt_data_file_is_a_user_error(tmp_path):
    bad = tmp_path / "jglue" / "datasets" / "marc_ja-v1.1"
    bad.mkdir(parents=True)
    (bad / "valid-v1.1.json").write_text('{"sentence": "x", "label": "positive"}\n{broken\n', encoding="utf-8")
    (bad / "train-v1.1.json").write_text('{"sentence": "x", "label": "positive"}\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"valid-v1.1.json is corrupt \(line 2"):
        make_task("marc_ja-1.1-0.3", tmp_path)
