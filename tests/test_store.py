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
