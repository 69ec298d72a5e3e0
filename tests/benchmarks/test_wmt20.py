"""WMT20 en<->ja family: names, prompts, data reading and end-to-end runs on a small hand-written set (not WMT text)."""

from __future__ import annotations

import io
import json
import random
import tarfile

import pytest
import sacrebleu

from lm_eval_ja.benchmarks import registry
from lm_eval_ja.benchmarks import wmt20 as W
from lm_eval_ja.benchmarks.wmt20 import protocols as P
from lm_eval_ja.cli import main
from lm_eval_ja.errors import UserError
from lm_eval_ja.names import TaskName
from tests.conftest import TINY_MODEL, make_task

pytest.importorskip("nagisa")
pytest.importorskip("janome")

# Our own sentences (en, ja), written for these tests.
PAIRS = [
    ("The bakery sells fresh bread every morning.", "そのパン屋は毎朝焼きたてのパンを売っている。"),
    ("We walked along the river after lunch.", "私たちは昼食の後、川沿いを歩いた。"),
    ("The meeting was moved to Thursday.", "会議は木曜日に変更された。"),
    ("She plays the piano very well.", "彼女はピアノをとても上手に弾く。"),
    ("Snow fell on the village overnight.", "一晩で村に雪が積もった。"),
    ("The station is five minutes from here.", "駅はここから五分だ。"),
]
JP_STABLE = ("wmt20_en_ja-jp_stable", "wmt20_ja_en-jp_stable")
SWALLOW = ("wmt20_en_ja", "wmt20_ja_en")


def _write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """sacrebleu's cache layout with our pairs in both directions."""
    root = tmp_path_factory.mktemp("wmt20-data")
    for direction, pairs in (("en-ja", PAIRS), ("ja-en", [(j, e) for e, j in PAIRS])):
        _write(root / "wmt20" / f"wmt20.{direction}.src", [s for s, _ in pairs])
        _write(root / "wmt20" / f"wmt20.{direction}.ref", [r for _, r in pairs])
    return root


def _rows(out, task):
    path = out.parent / f"{out.stem}.samples.{task}.jsonl"
    return sorted((json.loads(line) for line in path.open(encoding="utf-8")), key=lambda r: r["doc_id"])


# ----------------------------------------------------------------------------- names


def test_names_resolve():
    for name, protocol, version in (("wmt20_en_ja", "swallow", 1.0), ("wmt20_en_ja-swallow", "swallow", 1.0),
                                    ("wmt20_ja_en", "swallow", 1.0), ("wmt20_ja_en-swallow", "swallow", 1.0),
                                    ("wmt20_en_ja-jp_stable", "jp_stable", 0), ("wmt20_ja_en-jp_stable", "jp_stable", 0)):
        resolved = registry.resolve(name)
        assert resolved is not None and resolved.version.protocol == protocol, name
        assert resolved.version.result_version == version
        assert str(TaskName.parse(name)) == name
    assert [m.name for m in registry.resolve("wmt20_en_ja").metrics] == ["bleu", "bleu_lmevalja"]
    assert [m.name for m in registry.resolve("wmt20_ja_en").metrics] == ["bleu"]
    assert [m.name for m in registry.resolve("wmt20_ja_en-jp_stable").metrics] == ["bleu", "chrf", "ter"]
    assert all(m.stderr is None for m in registry.resolve("wmt20_en_ja-jp_stable").metrics)
    # jp-stable's own names do not fit the grammar (the whole name parses as a benchmark): they are other names of
    # the jp-stable versions
    assert TaskName.parse("wmt20-en-ja") == TaskName("wmt20-en-ja")
    assert registry.resolve("wmt20-en-ja").version is registry.resolve("wmt20_en_ja-jp_stable").version


# ----------------------------------------------------------------------------- prompts


def test_prompt_bytes_zero_shot(data_dir):
    """The prompt of the first document (file order) of every task, byte for byte."""
    expected = {
        "wmt20_en_ja-jp_stable": "English phrase: The bakery sells fresh bread every morning.\nJapanese phrase:",
        "wmt20_ja_en-jp_stable": "Japanese phrase: そのパン屋は毎朝焼きたてのパンを売っている。\nEnglish phrase:",
        "wmt20_en_ja": ("以下に示す英文を日本語に翻訳せよ。\n翻訳文の文体は、常体（だ、である）を用いること。\n"
                        "翻訳文を出力するときは、改行してから `日本語: 翻訳文` という形式で出力すること。\n\n"
                        "英語: The bakery sells fresh bread every morning.\n"),
        "wmt20_ja_en": ("Translate the following Japanese sentence into English.\nOn a new line, output the result in "
                        "this exact format: `English: <your translation>`\n\nJapanese: そのパン屋は毎朝焼きたてのパンを売っている。"),
    }
    for name, prompt in expected.items():
        task = make_task(name, data_dir)
        doc = next(d for d in task.eval_docs if d["_raw_index"] == 0)
        assert task.fewshot_context(doc, 0).encode("utf-8") == prompt.encode("utf-8"), name
        direction = W._direction(task)
        if name in SWALLOW:
            assert prompt == P.swallow_query(doc["src"], direction)
        else:
            assert prompt == P.jp_stable_prompt(doc["src"], direction)
            assert task.doc_to_target(doc) == P.jp_stable_doc_to_target(doc["ref"])


def test_chat_template_and_shot_rules(data_dir):
    task = make_task("wmt20_en_ja", data_dir)
    task.set_config(key="num_fewshot", value=0)
    doc = task.eval_docs[0]
    with pytest.raises(UserError, match="--apply_chat_template"):
        W.request(task, doc, task.fewshot_context(doc, 0), {"metadata": ("wmt20_en_ja", 0, 1)})
    task.set_config(key="num_fewshot", value=1)
    with pytest.raises(UserError, match="0-shot"):
        W.request(task, doc, "user: ...", {"metadata": ("wmt20_en_ja", 0, 1)})
    task = make_task("wmt20_en_ja-jp_stable", data_dir)  # a completion prompt: a chat-templated context is refused
    task.set_config(key="num_fewshot", value=1)
    doc = task.eval_docs[0]
    plain = task.fewshot_context(doc, 1)
    request = W.request(task, doc, plain, {"metadata": ("wmt20_en_ja-jp_stable", 0, 1)})
    assert request.args[0] == W._jp_stable_contexts(task)[0][1] and request.args[1]["until"] == ["\n"]
    with pytest.raises(UserError, match="without --apply_chat_template"):
        W.request(task, doc, "user: " + plain, {"metadata": ("wmt20_en_ja-jp_stable", 0, 1)})


# ----------------------------------------------------------------------------- data


def test_reader_pairs_and_missing_reference(tmp_path):
    _write(tmp_path / "wmt20" / "wmt20.en-ja.src", [e + "  " for e, _ in PAIRS])
    _write(tmp_path / "wmt20" / "wmt20.en-ja.ref", [j for _, j in PAIRS])
    rows = W.read_pair(tmp_path / "wmt20" / "wmt20.en-ja.src")
    assert rows == [{"src": e, "ref": j} for e, j in PAIRS]
    (tmp_path / "wmt20" / "wmt20.en-ja.ref").unlink()
    with pytest.raises(UserError, match="wmt20.en-ja.ref"):
        W.read_pair(tmp_path / "wmt20" / "wmt20.en-ja.src")


def test_online_tgz_read_as_sacrebleu_does(tmp_path, monkeypatch):
    """The downloaded test.tgz: the direction's two SGML members' <seg> texts as sacrebleu writes them (our sentences)."""
    def sgm(lines):
        body = "".join(f'<seg id="{i + 1}">  {s}</seg>\r\n' for i, s in enumerate(lines))
        return f'<srcset setid="x" srclang="any">\n<doc docid="d" genre="news">\n{body}</doc>\n</srcset>\n'.encode()

    src = [e.replace("five", "5 &amp;\t 5") for e, _ in PAIRS]
    path = tmp_path / "test.tgz"
    with tarfile.open(path, "w:gz") as archive:
        for member, lines in zip(W.WMT20_SGM["en-ja"], (src, [j for _, j in PAIRS])):
            data = sgm(lines)
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    with pytest.raises(UserError, match="md5"):
        W.read_test_tgz("en-ja", path)
    import hashlib

    monkeypatch.setattr(W, "WMT20_TGZ_MD5", hashlib.md5(path.read_bytes()).hexdigest())
    monkeypatch.setitem(P.WMT20_SIZES, "en-ja", len(PAIRS))
    rows = W.FAMILY.readers["wmt20_tgz_en_ja"](path)
    assert rows[5] == {"src": "The station is 5 &amp; 5 minutes from here.", "ref": PAIRS[5][1]}
    assert [r["ref"] for r in rows] == [j for _, j in PAIRS]
    (tmp_path / "src.sgm").write_bytes(sgm(src))  # sacrebleu's own conversion of the same file gives the same text
    sacrebleu.DATASETS["wmt20"]._convert_format(str(tmp_path / "src.sgm"), str(tmp_path / "src.txt"))
    assert [r["src"] for r in rows] == (tmp_path / "src.txt").read_text(encoding="utf-8").splitlines()
    with pytest.raises(UserError, match="has no sgm/newstest2020-jaen-src.ja.sgm"):
        W.read_test_tgz("ja-en", path)
    assert registry.resolve("wmt20_ja_en").sources["test"].online == sacrebleu.DATASETS["wmt20"].data[0]
    assert W.WMT20_SGM["ja-en"] == tuple(sacrebleu.DATASETS["wmt20"].langpairs["ja-en"])


def test_missing_reference_is_one_error_line(tmp_path, capsys):
    _write(tmp_path / "wmt20" / "wmt20.en-ja.src", [e for e, _ in PAIRS])
    code = main(["--model", "hf-causal", "--model_args", f"pretrained={TINY_MODEL}", "--device", "cpu",
                 "--tasks", "wmt20_en_ja-jp_stable", "--data_dir", str(tmp_path),
                 "--output_path", str(tmp_path / "out" / "result.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0
    assert len(err) == 1 and err[0].startswith("error:") and str(tmp_path / "wmt20" / "wmt20.en-ja.ref") in err[0]


# ----------------------------------------------------------------------------- end to end


def _jp_stable_replay(pairs, k):
    """lm-eval 0.3's evaluator, written out again: shuffle, then n+1 shots per document without itself."""
    rnd = random.Random(42)
    order = list(range(len(pairs)))
    rnd.shuffle(order)
    out = {}
    for i in order:
        shots = [p for p in rnd.sample(pairs, k + 1) if p != pairs[i]][:k]
        out[i] = shots
    return out


def test_jp_stable_end_to_end(data_dir, tmp_path, capsys):
    if not TINY_MODEL.is_dir():
        pytest.skip(f"{TINY_MODEL} not present")
    out = tmp_path / "jp" / "result.json"
    code = main(["--model", "hf-causal", "--model_args", f"pretrained={TINY_MODEL}", "--device", "cpu",
                 "--tasks", ",".join(JP_STABLE), "--num_fewshot", "2", "--data_dir", str(data_dir),
                 "--output_path", str(out), "--log_samples"])
    assert code == 0, capsys.readouterr().err
    result = json.loads(out.read_text(encoding="utf-8"))
    for name, pairs in zip(JP_STABLE, (PAIRS, [(j, e) for e, j in PAIRS])):
        direction = "en-ja" if name.startswith("wmt20_en_ja") else "ja-en"
        src_lang, tgt_lang = (P.JP_STABLE_LANGUAGE_NAMES[c] for c in direction.split("-"))
        shots = _jp_stable_replay(pairs, 2)
        rows = _rows(out, name)
        assert len(rows) == len(pairs)
        for row in rows:
            i = row["doc"]["_raw_index"]
            prompt = "".join(f"{src_lang} phrase: {s}\n{tgt_lang} phrase: {r}\n\n" for s, r in shots[i])
            prompt += f"{src_lang} phrase: {pairs[i][0]}\n{tgt_lang} phrase:"
            assert row["arguments"][0][0].encode("utf-8") == prompt.encode("utf-8")
            assert row["arguments"][0][1]["until"] == ["\n"] and row["arguments"][0][1]["max_gen_toks"] == 256
            hyp = row["resps"][0][0].split("\n")[0]
            assert tuple(row["bleu"]) == P.jp_stable_prepare(hyp, pairs[i][1], direction)
        hyps, refs = [r["bleu"][0] for r in rows], [r["bleu"][1] for r in rows]
        if direction == "en-ja":  # nagisa-segmented
            assert refs[0] == " ".join(P.nagisa_words(pairs[rows[0]["doc"]["_raw_index"]][1]))
        scores = result["results"][name]
        assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
        assert scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score / 100)
        assert scores["ter"] == pytest.approx(sacrebleu.corpus_ter(hyps, [refs]).score / 100)
        assert set(scores) == {"bleu", "chrf", "ter"}  # no standard errors: corpus metrics
        facts = result["config"]["lm_eval_ja"]["data_sources"][name]
        assert facts["metrics"]["metrics"]["bleu"]["signature"] == \
            f"nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:{sacrebleu.__version__}"
        assert facts["test"]["path"] == facts["train"]["path"]
        assert result["versions"][name] == 0


def test_swallow_end_to_end_chat(data_dir, chat_model_dir, tmp_path, capsys):
    from transformers import AutoTokenizer

    out = tmp_path / "sw" / "result.json"
    code = main(["--model", "hf-causal", "--model_args", f"pretrained={chat_model_dir},max_gen_toks=24",
                 "--device", "cpu", "--tasks", ",".join(SWALLOW), "--num_fewshot", "0", "--apply_chat_template",
                 "--data_dir", str(data_dir), "--output_path", str(out), "--log_samples"])
    assert code == 0, capsys.readouterr().err
    result = json.loads(out.read_text(encoding="utf-8"))
    tokenizer = AutoTokenizer.from_pretrained(chat_model_dir)
    for name, pairs in zip(SWALLOW, (PAIRS, [(j, e) for e, j in PAIRS])):
        direction = "en-ja" if name == "wmt20_en_ja" else "ja-en"
        rows = _rows(out, name)
        assert len(rows) == len(pairs)
        for row in rows:
            src, ref = pairs[row["doc"]["_raw_index"]]
            messages = [{"role": "user", "content": P.swallow_query(src, direction)}]
            assert row["arguments"][0][0] == tokenizer.apply_chat_template(messages, tokenize=False,
                                                                           add_generation_prompt=True)
            hyp = P.swallow_extract(row["resps"][0][0], direction)
            for metric, segmenter in P.SWALLOW_METRICS[direction].items():
                assert tuple(row[metric]) == P.swallow_prepare(hyp, ref, direction, segmenter)
        scores = result["results"][name]
        assert set(scores) == set(P.SWALLOW_METRICS[direction])
        for metric in scores:
            hyps, refs = [r[metric][0] for r in rows], [r[metric][1] for r in rows]
            assert scores[metric] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
        if direction == "en-ja":
            seg = rows[0]["bleu"][1]
            assert seg == " ".join(P.janome_words(pairs[rows[0]["doc"]["_raw_index"]][1]))
        recorded = result["config"]["lm_eval_ja"]["data_sources"][name]["metrics"]
        assert recorded["protocol"] == "swallow" and recorded["metrics"]["bleu"]["segmenter"] == \
            ("janome" if direction == "en-ja" else None)


def test_jp_stables_own_names_are_the_jp_stable_protocol_in_their_own_column():
    from lm_eval_ja.benchmarks import registry

    for direction in ("en-ja", "ja-en"):
        resolved = registry.resolve(f"wmt20-{direction}")
        assert resolved.version.protocol == "jp_stable"
        assert resolved.benchmark.name == f"wmt20_{direction.replace('-', '_')}"
        assert registry.headline(f"wmt20-{direction}")[0] == registry.headline(f"{resolved.benchmark.name}-jp_stable")[0]
        assert registry.headline(f"wmt20-{direction}")[0] != registry.headline(resolved.benchmark.name)[0]
