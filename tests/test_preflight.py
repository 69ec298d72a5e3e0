"""The preflight: every task's data read and validated, shot counts checked, description dicts checked — before
the model loads, each problem one message naming the file, the line and the field."""

from __future__ import annotations

import json

import pytest

from lm_eval_ja.errors import UserError
from lm_eval_ja.preflight import check_data, load_description_dict
from lm_eval_ja.selection import Selection, select

ROW = {"q_id": 1, "question": "日本の首都は？", "choice0": "東京", "choice1": "大阪", "choice2": "京都", "choice3": "奈良",
       "choice4": "札幌", "label": 0}


def _jcqa(tmp_path, valid: bytes | list, train: list | None = None):
    folder = tmp_path / "jglue" / "datasets" / "jcommonsenseqa-v1.1"
    folder.mkdir(parents=True, exist_ok=True)
    data = valid if isinstance(valid, bytes) else "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in valid).encode()
    (folder / "valid-v1.1.json").write_bytes(data)
    (folder / "train-v1.1.json").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                                    for r in (train or [ROW, ROW])), encoding="utf-8")
    return folder / "valid-v1.1.json"


def _check(tmp_path, shots=0):
    return check_data(Selection.of(["jcommonsenseqa-1.1-0.3"], shots), str(tmp_path), say=lambda *a, **k: None)


def test_valid_data_passes_and_is_handed_on(tmp_path):
    _jcqa(tmp_path, [ROW, {**ROW, "q_id": 2}])
    (documents,) = _check(tmp_path).values()
    assert len(documents.evaluated) == 2 and len(documents.pool) == 2


@pytest.mark.parametrize("content, message", [
    (b"", "is empty; replace it with the original file."),
    (b"\n\n", "has no records; replace it with the original file."),
    (json.dumps(ROW, ensure_ascii=False).encode()[:30], "is not valid UTF-8 (byte 28 cannot be decoded; the file may "
                                                        "be cut short); replace it with the original file."),
])
def test_unreadable_files(tmp_path, content, message):
    path = _jcqa(tmp_path, content)
    with pytest.raises(UserError) as err:
        _check(tmp_path)
    assert str(err.value) == f"Data file {path} {message}"


@pytest.mark.parametrize("field", ["choice3", "label"])
def test_a_row_without_a_field_its_converter_needs(tmp_path, field):
    path = _jcqa(tmp_path, [ROW, {k: v for k, v in ROW.items() if k != field}])
    with pytest.raises(UserError) as err:
        _check(tmp_path)
    assert str(err.value) == (f"Data file {path}, line 2, has no field {field!r}, which jcommonsenseqa-1.1-0.3 needs; "
                              "replace the file with the original one.")


def test_a_label_that_is_not_one_of_the_labels(tmp_path):
    folder = tmp_path / "jglue" / "datasets" / "jnli-v1.1"
    folder.mkdir(parents=True)
    rows = [{"sentence_pair_id": "1", "sentence1": "a", "sentence2": "b", "label": "entailment"},
            {"sentence_pair_id": "2", "sentence1": "a", "sentence2": "b", "label": "maybe"}]
    for name in ("valid", "train"):
        (folder / f"{name}-v1.1.json").write_text("".join(json.dumps(r) + "\n" for r in rows[: 2 if name == "valid" else 1]))
    with pytest.raises(UserError) as err:
        check_data(Selection.of(["jnli-1.1-0.3"], 0), str(tmp_path), say=lambda *a, **k: None)
    assert str(err.value) == (f"Data file {folder}/valid-v1.1.json, line 2, cannot be read (ValueError: label 'maybe' "
                              "is not one of entailment, contradiction, neutral), which jnli-1.1-0.3 needs; replace the "
                              "file with the original one.")


def test_shot_counts_beyond_the_pool(tmp_path):
    _jcqa(tmp_path, [ROW], train=[ROW, ROW, ROW])
    with pytest.raises(UserError) as err:
        _check(tmp_path, shots=4)
    assert str(err.value) == "jcommonsenseqa-1.1-0.3: --num_fewshot 4 is more than the 3 examples of its shot pool."


def test_description_dicts(tmp_path, capsys):
    selection = select("jnli-1.1-0.3")
    path = tmp_path / "d.json"
    path.write_text('["not", "an", "object"]')
    with pytest.raises(UserError) as err:
        load_description_dict(str(path), selection)
    assert str(err.value) == (f"--description_dict_path {path} holds a JSON list, not an object of task name to "
                              'description, e.g. {"jnli-1.1-0.3": "..."}.')
    path.write_text('{"jnli-1.1-0.3": 3}')
    with pytest.raises(UserError, match=r"the description of 'jnli-1.1-0.3' is a JSON int, not a string."):
        load_description_dict(str(path), selection)
    path.write_text('{"jnli-1.1-0.3": "説明", "jsquad-1.1-0.2": "x"}')
    assert load_description_dict(str(path), selection) == {"jnli-1.1-0.3": "説明", "jsquad-1.1-0.2": "x"}
    assert "names tasks that are not selected (ignored): jsquad-1.1-0.2" in capsys.readouterr().out
