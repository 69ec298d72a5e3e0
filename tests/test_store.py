"""The response store: JSON Lines (no pickle), keyed by model fingerprint and request, resumable after a kill."""

from __future__ import annotations

import json
import sqlite3

import pytest
from lm_eval.api.instance import Instance
from lm_eval.api.model import LM

from lm_eval_ja.errors import UserError
from lm_eval_ja.store import ResponseStore, StoredLM, model_fingerprint, request_key


class CountingLM(LM):
    """Answers with a function of the request; reports each response to its cache hook, counts what it computed."""

    def __init__(self, offset: float = 0.0):
        super().__init__()
        self.offset, self.seen = offset, []

    def loglikelihood(self, requests, disable_tqdm=False):
        out = []
        for req in requests:
            self.seen.append(req.args)
            result = (-len(req.args[1]) - self.offset, False)
            self.cache_hook.add_partial("loglikelihood", req.args, result)
            out.append(result)
        return out

    def loglikelihood_rolling(self, requests, disable_tqdm=False):
        return [-1.0 for _ in requests]

    def generate_until(self, requests, disable_tqdm=False):
        self.seen += [r.args for r in requests]
        return [f"{r.args[0]}!{self.offset}" for r in requests]  # no hook: the store still keeps them


def _ll(pairs):
    return [Instance("loglikelihood", {}, (c, x), i) for i, (c, x) in enumerate(pairs)]


def test_round_trip_and_a_line_cut_by_a_kill(tmp_path):
    path = tmp_path / "s.jsonl"
    store = ResponseStore(path)
    store.put("a", (-1.5, True))
    store.put("b", "東京")
    store.close()
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"key": "c", "val')  # the last line, cut by a kill
    again = ResponseStore(path)
    assert again.get("a") == [-1.5, True] and again.get("b") == "東京" and "c" not in again
    assert path.read_text(encoding="utf-8").splitlines()[0] == '{"lm_eval_ja_store": 1}'


def test_a_resumed_store_drops_the_cut_line_before_appending(tmp_path):
    path = tmp_path / "s.jsonl"
    ResponseStore(path).put("a", 1.0)
    with path.open("ab") as fh:
        fh.write('{"key": "c", "value": "東'.encode("utf-8")[:-1])  # cut inside a UTF-8 character
    again = ResponseStore(path)
    again.put("d", 2.0)  # starts on a line of its own: the file stays valid JSON Lines
    again.close()
    assert [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()] == [
        {"lm_eval_ja_store": 1}, {"key": "a", "value": 1.0}, {"key": "d", "value": 2.0}]
    assert ResponseStore(path).get("d") == 2.0
    with path.open("ab") as fh:
        fh.write(b'{"key": "e", "value": 3.0}')  # whole, but killed before its newline
    again = ResponseStore(path)
    again.put("f", 4.0)
    again.close()
    assert ResponseStore(path).get("e") == 3.0 and ResponseStore(path).get("f") == 4.0
    header_only = tmp_path / "h.jsonl"
    header_only.write_bytes(b'{"lm_eval_ja_st')  # killed while writing the header
    ResponseStore(header_only).close()
    assert header_only.read_text(encoding="utf-8") == '{"lm_eval_ja_store": 1}\n'


def _store_text(*entries) -> str:
    return "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries)


@pytest.mark.parametrize("content, message", [
    # two stores joined: a second header mid-file (was a KeyError)
    (_store_text({"lm_eval_ja_store": 1}, {"key": "a", "value": 1}, {"lm_eval_ja_store": 1}, {"key": "b", "value": 2}),
     r"s\.jsonl line 3 is a second store header: two stores were joined into one file; give another path"),
    # a cut line in the middle (a cut store with another appended to it)
    ('{"lm_eval_ja_store": 1}\n{"key": "a", "val{"lm_eval_ja_store": 1}\n{"key": "b", "value": 2}\n',
     r"s\.jsonl line 2 is not valid JSON \(.*\): this response store is damaged in the middle or two files were "
     r"joined; give another path"),
    # invalid UTF-8 in the middle
    (b'{"lm_eval_ja_store": 1}\n{"key": "a", "value": "\xe6\x9d"}\n{"key": "b", "value": 2}\n',
     r"s\.jsonl line 2 is not valid UTF-8 \(byte 24 of the line\)"),
    (_store_text({"lm_eval_ja_store": 1}, {"key": "a"}), r"s\.jsonl line 2 is not a stored response"),
    (_store_text({"lm_eval_ja_store": 1}) + "garbage", r"s\.jsonl line 2 is not a stored response \(nor the start"),
])
def test_anything_but_a_cut_last_line_is_refused_with_file_and_line(tmp_path, content, message):
    path = tmp_path / "s.jsonl"
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    with pytest.raises(UserError, match=message) as err:
        ResponseStore(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)
    assert path.read_bytes() == content  # a refused file is left as it was


def test_a_folder_given_as_the_store_is_one_line(tmp_path):
    with pytest.raises(UserError) as err:  # --use_cache pointing at a folder (was IsADirectoryError)
        ResponseStore(tmp_path)
    assert str(err.value) == (f"{tmp_path} is a folder, not a response store file; give a file path (e.g. "
                              f"{tmp_path / 'responses.jsonl'}).")


def test_foreign_files_are_refused(tmp_path):
    db = tmp_path / "old.sqlite"
    sqlite3.connect(db).execute("create table t (x)").connection.commit()
    with pytest.raises(UserError, match="is an SQLite cache of an older lm-eval-ja or of lm-eval"):
        ResponseStore(db)
    other = tmp_path / "notes.txt"
    other.write_text("hello\n", encoding="utf-8")
    with pytest.raises(UserError, match="is not an lm-eval-ja response store"):
        ResponseStore(other)


def test_stored_lm_resumes_and_never_crosses_models(tmp_path, capsys):
    path = tmp_path / "s.jsonl"
    pairs = [("文脈", "あ"), ("文脈", "いい"), ("別", "ううう")]
    a = CountingLM()
    first = StoredLM(a, ResponseStore(path), "model-a")
    assert first.loglikelihood(_ll(pairs[:2])) == [(-1, False), (-2, False)]
    # The same model again: the two stored responses are reused, only the third is computed.
    a2 = CountingLM()
    again = StoredLM(a2, ResponseStore(path), "model-a")
    assert again.loglikelihood(_ll(pairs)) == [(-1, False), (-2, False), (-3, False)]
    assert a2.seen == [("別", "ううう")]
    assert "resuming: 2 of 3 requests already done" in capsys.readouterr().out
    # Another model with the same store gets its own answers.
    b = CountingLM(offset=10)
    other = StoredLM(b, ResponseStore(path), "model-b")
    assert other.loglikelihood(_ll(pairs)) == [(-11, False), (-12, False), (-13, False)] and len(b.seen) == 3
    # --fresh: nothing is read, everything computed again
    fresh = CountingLM()
    StoredLM(fresh, ResponseStore(path), "model-a", read=False).loglikelihood(_ll(pairs))
    assert len(fresh.seen) == 3


def test_responses_without_a_hook_are_stored_and_sampled_repeats_are_kept_apart(tmp_path):
    path = tmp_path / "s.jsonl"
    greedy = Instance("generate_until", {}, ("問", {"until": ["\n"]}), 0)
    sampled = Instance("generate_until", {}, ("問", {"until": ["\n"], "do_sample": True}), 0)
    StoredLM(CountingLM(), ResponseStore(path), "m").generate_until([greedy, sampled, sampled])
    store = ResponseStore(path)
    assert len(store) == 3  # two repeats of the sampled request have keys of their own
    assert request_key("m", "generate_until", sampled.args, 0) != request_key("m", "generate_until", sampled.args, 1)
    lm = CountingLM()
    assert StoredLM(lm, store, "m").generate_until([greedy]) == ["問!0.0"] and lm.seen == []


def test_fingerprint_follows_weights_args_and_hides_secrets(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"0" * 10)
    fp = model_fingerprint("hf-causal", f"pretrained={model}", 8, "cpu")
    assert fp["pretrained_files"] == [["model.safetensors", 10, (model / "model.safetensors").stat().st_mtime_ns]]
    assert model_fingerprint("hf-causal", f"pretrained={model}", 8, "cpu")["digest"] == fp["digest"]
    (model / "model.safetensors").write_bytes(b"1" * 11)  # other weights at the same path
    assert model_fingerprint("hf-causal", f"pretrained={model}", 8, "cpu")["digest"] != fp["digest"]
    assert model_fingerprint("hf-causal", f"pretrained={model},dtype=bfloat16", 8, "cpu")["digest"] != fp["digest"]
    api = model_fingerprint("local-chat-completions", "model=m,api_key=sk-secret,base_url=http://127.0.0.1:1/v1")
    assert "sk-secret" not in json.dumps(api) and api["model_args"]["api_key"] == "<redacted>"


def test_the_one_json_lines_reader(tmp_path):
    from lm_eval_ja.jsonl import read_jsonl

    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{"b": "\xe6\x9d\xb1"}\n')
    lines = read_jsonl(path)
    assert [(r.number, r.value) for r in lines.rows] == [(1, {"a": 1}), (3, {"b": "東"})] and lines.cut is None
    path.write_bytes(b'{"a": 1}\n{"b": 2}')  # a whole last line without its newline is a line
    assert len(read_jsonl(path).rows) == 2 and read_jsonl(path).cut is None
    path.write_bytes(b'{"a": 1}\n{"b": "\xe6\x9d')  # cut inside a character: only the last line may be
    lines = read_jsonl(path)
    assert (len(lines.rows), lines.cut, lines.cut_offset, lines.cut_bytes) == (1, 2, 9, b'{"b": "\xe6\x9d')
    path.write_bytes(b'{"a": 1}\n{"b": "\xe6\x9d\n{"c": 3}\n')
    with pytest.raises(UserError, match=r"x\.jsonl line 2 is not valid UTF-8 \(byte 8 of the line\): this thing is "
                                        r"damaged in the middle; fix it\.$"):
        read_jsonl(path, "thing", "fix it.")
    with pytest.raises(UserError, match=r"is a folder, not a thing; give a file path"):
        read_jsonl(tmp_path, "thing")
    with pytest.raises(UserError, match=r"nope\.jsonl: no such thing"):
        read_jsonl(tmp_path / "nope.jsonl", "thing")
