"""The run's files: --output_path checked before anything runs, the overwrite policy, atomic 0644 writes."""

from __future__ import annotations

import json
import os

import pytest

from lm_eval_ja.errors import UserError
from lm_eval_ja.outputs import RunFiles, claim, resolve_output, write_atomic


def test_a_folder_or_a_trailing_slash_means_result_json_inside(tmp_path):
    assert resolve_output(str(tmp_path)).result == tmp_path / "result.json"
    assert resolve_output(f"{tmp_path}/new/").result == tmp_path / "new" / "result.json"
    assert (tmp_path / "new").is_dir()
    assert resolve_output(str(tmp_path / "a" / "b" / "r.json")).result == tmp_path / "a" / "b" / "r.json"
    assert resolve_output(None) is None


def test_unusable_output_paths(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError) as err:
        resolve_output(str(tmp_path / "file" / "out" / "result.json"))
    assert str(err.value) == (f"--output_path {tmp_path}/file/out/result.json: {tmp_path}/file is a file, not a "
                              "folder; choose another --output_path.")
    with pytest.raises(UserError, match=r"--output_path /proc/lm-eval-ja/result.json: cannot create the folder "
                                        r"/proc/lm-eval-ja \("):
        resolve_output("/proc/lm-eval-ja/result.json")
    with pytest.raises(UserError, match=r"the folder /proc is not writable"):
        resolve_output("/proc/result.json")


def test_stale_temporaries_of_a_killed_write_are_removed(tmp_path):
    (tmp_path / ".result.json.abc123.tmp").write_text("{half")
    (tmp_path / ".result.samples.jnli.jsonl.x.tmp").write_text("{")
    (tmp_path / ".other.tmp").write_text("not ours")
    resolve_output(str(tmp_path / "result.json"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.tmp"]


def test_overwrite_policy(tmp_path, capsys):
    files = RunFiles(tmp_path / "result.json")
    ours = {"model": "hf-causal", "model_args": "pretrained=a", "tasks": ["jnli-1.1-0.3"]}
    assert claim(files, ours, overwrite=False) == "new"
    files.result.write_text(json.dumps({"results": {}, "manifest": {"run": ours}}))
    assert claim(files, ours, overwrite=False) == "resume"
    theirs = {**ours, "model_args": "pretrained=b"}
    files.result.write_text(json.dumps({"results": {}, "manifest": {"run": theirs}}))
    files.samples("jnli-1.1-0.3").write_text("{}\n")
    files.store.write_text('{"lm_eval_ja_store": 1}\n')
    with pytest.raises(UserError) as err:
        claim(files, ours, overwrite=False)
    assert str(err.value) == (f"{files.result} holds another run (model_args: 'pretrained=a' now, 'pretrained=b' "
                              "there); pass --overwrite to replace it, its sample files and its store, or choose "
                              "another --output_path.")
    assert claim(files, ours, overwrite=True) == "overwrite"
    assert list(tmp_path.iterdir()) == []
    files.result.write_text(json.dumps({"results": {"x": {}}, "config": {}}))  # the reference's own file
    with pytest.raises(UserError, match="it was not written by this version of lm-eval-ja"):
        claim(files, ours, overwrite=False)


def test_atomic_writes_are_readable_by_everyone(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "r.json", lambda fh: fh.write("{}"))
    finally:
        os.umask(old)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_a_refused_run_leaves_no_new_empty_folder(tmp_path):
    from lm_eval_ja.store import ResponseStore

    # folders resolve_output created, with only an opened (empty) store in them: all removed again
    files = resolve_output(str(tmp_path / "a" / "b" / "result.json"))
    assert files.created == (tmp_path / "a" / "b", tmp_path / "a")
    ResponseStore(files.store).close()
    assert files.discard_if_empty() == [files.store, tmp_path / "a" / "b", tmp_path / "a"]
    assert sorted(tmp_path.iterdir()) == []
    # a folder that existed before is never removed, even when empty
    (tmp_path / "old").mkdir()
    files = resolve_output(str(tmp_path / "old" / "result.json"))
    assert files.created == () and files.discard_if_empty() == [] and (tmp_path / "old").is_dir()
    # a folder that holds something (a stored response, a result) is kept, and so are its parents
    files = resolve_output(str(tmp_path / "c" / "d" / "result.json"))
    store = ResponseStore(files.store)
    store.put("k", 1.0)
    store.close()
    assert files.discard_if_empty() == [] and files.store.exists()
    files = resolve_output(str(tmp_path / "e" / "f" / "result.json"))
    (tmp_path / "e" / "note.txt").write_text("someone's")
    assert files.discard_if_empty() == [tmp_path / "e" / "f"] and (tmp_path / "e" / "note.txt").exists()
    # what was created is bookkeeping: it takes no part in comparing two runs' files
    assert RunFiles(tmp_path / "result.json") == files.__class__(tmp_path / "result.json", created=(tmp_path,))
