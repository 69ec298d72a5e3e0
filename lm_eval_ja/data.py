"""Reading a task's data: local folders (``--data_dir``), the online source, fallbacks, and generic file formats.

A benchmark spec names its sources (:class:`lm_eval_ja.benchmarks.spec.Source`): a ``local`` path, an ``online``
address at a pinned revision, the reader (``format``) and optionally a ``fallback`` file. Offline, ``local`` paths
are looked up in each folder of the data path (``--data_dir`` or the environment variable
``LM_EVAL_JA_DATA_DIR``; several folders joined with ``os.pathsep`` overlay, first match wins). Without a data
path the ``online`` address is downloaded (and cached by ``datasets``). A missing split may fall back to another
local file; that is printed and recorded in result.json, never silent.

Readers here are the generic formats (JSON Lines, SQuAD JSON, parquet, JSON arrays, TSV); a format only one
family uses is read by a reader that family declares (:attr:`lm_eval_ja.benchmarks.spec.Family.readers`).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from lm_eval_ja.errors import UserError

log = logging.getLogger("lm_eval_ja")

DATA_DIR_ENV = "LM_EVAL_JA_DATA_DIR"


def data_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The folders to read local data from (empty: use the online sources)."""
    value = str(data_dir) if data_dir else os.environ.get(DATA_DIR_ENV, "")
    dirs = [Path(p).expanduser() for p in value.split(os.pathsep) if p]
    for d in dirs:
        if not d.is_dir():
            raise UserError(
                f"Data folder {d} does not exist; point --data_dir (or {DATA_DIR_ENV}) at a folder laid out "
                f"like ../shared/data, or leave it unset to download the datasets."
            )
    return dirs


@dataclass
class SplitSource:
    """Where one split was read from; ``fallback`` explains a substitute file; ``file`` is the file read (the
    local path, or the downloaded copy of an online address)."""

    path: str
    fallback: str | None = None
    file: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, **({"fallback": self.fallback} if self.fallback else {})}


def record_location(path: str, source, default_format: str, index: int) -> str:
    """Where record ``index`` (0-based) of a data file is: its line for line-based formats, else its number."""
    fmt = source.format or default_format
    if fmt in ("jsonl", "tsv") and Path(path).is_file():
        skip = 1 if fmt == "tsv" else 0  # the header line
        seen = -1
        with open(path, encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                if lineno <= skip or not line.strip():
                    continue
                seen += 1
                if seen == index:
                    return f"line {lineno}"
    return f"record {index + 1}"


@dataclass
class LoadedData:
    splits: dict[str, list[dict[str, Any]]]
    sources: dict[str, SplitSource] = field(default_factory=dict)


# --------------------------------------------------------------------------- file formats


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise UserError(
                    f"Data file {path} is corrupt (line {lineno}: {exc.msg}); replace it with the original file."
                ) from None
    return rows


def read_squad(path: Path) -> list[dict[str, Any]]:
    """SQuAD-format JSON flattened to one row per question, in file order."""
    try:
        with path.open(encoding="utf-8") as fh:
            data = json.load(fh)["data"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise UserError(f"Data file {path} is not SQuAD-format JSON ({exc}); replace it with the original file.") from None
    rows = []
    for article in data:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                rows.append(
                    {
                        "id": qa["id"],
                        "title": article["title"],
                        "context": para["context"],
                        "question": qa["question"],
                        "answers": {
                            "text": [a["text"] for a in qa["answers"]],
                            "answer_start": [a["answer_start"] for a in qa["answers"]],
                        },
                        "is_impossible": qa.get("is_impossible", False),
                    }
                )
    return rows


def read_parquet(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise UserError(f"Data file {path} is not a readable parquet file ({exc}); download it again.") from None


# ---- formats of the llm-jp-style suite and JMMLU (lm_eval_ja.llmjp); rows keep the upstream field names.


def read_json_array(path: Path) -> list[dict[str, Any]]:
    """A JSON file holding one array of objects (JEMHopQA, MAWPS-ja)."""
    try:
        with path.open(encoding="utf-8") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as exc:
        raise UserError(f"Data file {path} is corrupt ({exc}); replace it with the original file.") from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise UserError(f"Data file {path} is not a JSON array of objects; replace it with the original file.")
    return data


def read_tsv(path: Path) -> list[dict[str, Any]]:
    """Tab-separated values with a header row and no quoting (JaNLI, Jamp, JSICK)."""
    import csv

    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if not header:
            raise UserError(f"Data file {path} is empty; replace it with the original file.")
        rows = []
        for lineno, values in enumerate(reader, 2):
            if not values:
                continue
            if len(values) != len(header):
                raise UserError(f"Data file {path} is corrupt (line {lineno} has {len(values)} columns, the header "
                                f"{len(header)}); replace it with the original file.")
            rows.append(dict(zip(header, values)))
    return rows


def xml_root(path: Path):
    import xml.etree.ElementTree as ET

    try:
        return ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise UserError(f"Data file {path} is not well-formed XML ({exc}); "
                        f"replace it with the original file.") from None


def xml_text(elem) -> str:
    """Element text with the pretty-printing line breaks (and their indentation) removed."""
    import re

    return re.sub(r"\s*\n\s*", "", "".join(elem.itertext())).strip() if elem is not None else ""


#: Readers of the generic formats; families add their own (``Family.readers``).
READERS: dict[str, Callable[[Path], list[dict[str, Any]]]] = {
    "jsonl": read_jsonl,
    "squad": read_squad,
    "parquet": read_parquet,
    "json": read_json_array,
    "tsv": read_tsv,
}


# --------------------------------------------------------------------------- loading


def _find_local(rel: str, dirs: Iterable[Path]) -> Path | None:
    for d in dirs:
        p = d / rel
        if p.is_file():
            return p
    return None


def _download(url: str) -> Path:
    from datasets.utils.file_utils import cached_path

    try:
        return Path(cached_path(url))
    except Exception as exc:  # network errors come in many types
        raise UserError(
            f"Could not download {url} ({type(exc).__name__}: {exc}); check the network, or pass --data_dir "
            f"with a local copy (layout of ../shared/data)."
        ) from None


def load_splits(task_name: str, sources: Mapping[str, Any], default_format: str,
                readers: Mapping[str, Callable[[Path], list[dict[str, Any]]]],
                data_dir: str | None = None) -> LoadedData:
    """Read every split of ``sources`` (split name -> :class:`~lm_eval_ja.benchmarks.spec.Source`)."""
    dirs = data_dirs(data_dir)
    out = LoadedData(splits={})

    def read(fmt: str, path: Path) -> list[dict[str, Any]]:
        if fmt not in readers:
            raise ValueError(f"{task_name}: unknown data format {fmt!r}; known: {', '.join(readers)}")
        if path.stat().st_size == 0:
            raise UserError(f"Data file {path} is empty; replace it with the original file.")
        try:
            rows = readers[fmt](path)
        except UnicodeDecodeError:
            try:  # the decoder's own position is within its last chunk: find the byte in the whole file
                path.read_bytes().decode("utf-8")
                offset = "?"
            except UnicodeDecodeError as exc:
                offset = exc.start
            raise UserError(f"Data file {path} is not valid UTF-8 (byte {offset} cannot be decoded; the file may be "
                            "cut short); replace it with the original file.") from None
        if not rows:
            raise UserError(f"Data file {path} has no records; replace it with the original file.")
        return rows

    for split, where in sources.items():
        fmt = where.format or default_format
        if dirs:
            path = _find_local(where.local, dirs)
            fallback = None
            if path is None and where.fallback:
                path = _find_local(where.fallback, dirs)
                if path is not None:
                    fallback = where.fallback_note or f"{where.local} is missing; used {where.fallback}"
                    msg = f"[{task_name}] {split} split: {fallback}"
                    log.warning(msg)
                    print(f"WARNING: {msg}", flush=True)
            if path is None:
                searched = ", ".join(str(d) for d in dirs)
                hint = f" (or its fallback {where.fallback})" if where.fallback else ""
                raise UserError(
                    f"Data file {where.local}{hint} for {task_name} was not found under {searched}; put it "
                    f"there (layout of ../shared/data) or unset --data_dir/{DATA_DIR_ENV} to download it."
                )
            rows = read((where.fallback_format or fmt) if fallback else fmt, path)
            out.sources[split] = SplitSource(str(path), fallback, str(path))
        else:
            if not where.online:
                raise UserError(f"{task_name}: the {split} split has no online source; pass --data_dir with a "
                                f"local copy of {where.local}.")
            downloaded = _download(where.online)
            rows = read(where.online_format or fmt, downloaded)
            out.sources[split] = SplitSource(where.online, None, str(downloaded))
        out.splits[split] = rows
    return out
