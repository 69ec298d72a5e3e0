"""Synthetic data (not real data) for the datasets that are online only, and a one-character tokenizer."""

from __future__ import annotations

import json

import pytest


class CharTokenizer:
    """One token per character (for hand-computable ROUGE and truncation)."""

    def tokenize(self, text):
        return list(text)

    def encode(self, text, add_special_tokens=False):
        return [ord(c) for c in text]

    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(i) for i in ids)


def dpr_questions(n: int, unanswerable=(), prefix="QA") -> list[dict]:
    """JAQKET v2 DPR retrieval rows: 7 passages each, the second holding the answer (except ``unanswerable``)."""
    out = []
    for q in range(n):
        filler = "長い説明の文です。" * (4 * q if prefix == "TR" else 0)  # shot pool: prompts of many lengths
        ctxs = [{"id": f"{q}-{i}", "title": f"題名{q}-{i}", "text": f"これは{q}番目の質問の{i}番目の文章です。答え{q}がある。{filler}",
                 "score": 10.0 - i, "has_answer": (i == 1 and q not in unanswerable)} for i in range(7)]
        out.append({"qid": f"{prefix}-{q}", "question": f"{q}番目の質問は何でしょう？",
                    "answers": [f"答え{q}", f"こたえ{q}"], "ctxs": ctxs})
    return out


def _write_parquet(path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory):
    """Synthetic files for the online-only datasets (JAQKET v2, XL-Sum, JaQuAD), in the layout the specs expect."""
    root = tmp_path_factory.mktemp("synthetic")
    dpr = root / "jaqket_v2_dpr"
    dpr.mkdir()
    (dpr / "dev_jaqket_59.350.json").write_text(json.dumps(dpr_questions(4, unanswerable={2}), ensure_ascii=False),
                                                encoding="utf-8")
    (dpr / "train_jaqket_59.350.json").write_text(
        json.dumps(dpr_questions(6, prefix="TR"), ensure_ascii=False), encoding="utf-8")
    for split, n in (("test", 4), ("train", 5)):
        _write_parquet(root / "xlsum_ja" / f"{split}.parquet", [
            {"id": f"{split}{i}", "url": f"https://example.invalid/{i}", "title": f"見出し{i}",
             "summary": f"{i}番目の記事の要約です。", "text": f"{i}番目のニュース記事です。" * (3 + i)} for i in range(n)])
    for split, n in (("validation", 3), ("train", 5)):
        _write_parquet(root / "jaquad" / f"{split}.parquet", [
            {"id": f"{split}{i}", "title": f"題名{i}", "context": f"{i}番目の文脈では東京が首都です。",
             "question": f"{i}番目の質問：首都はどこ？", "question_type": "Multiple sentence reasoning",
             "answer_type": "Object", "answers": {"text": ["東京"], "answer_start": [8], "answer_type": ["Object"]}}
            for i in range(n)])
    return root
