"""Per-request persistence: every model response is kept as it is computed, so a rerun resumes.

:class:`ResponseStore` is an append-only JSON Lines file (no pickle: a store is data, never code). Each line is
``{"key": ..., "value": ...}`` where the key is the sha256 of the model fingerprint, the request type and the
request's arguments, so one store may hold several models' responses and never hands one model another's. It is
read with :func:`lm_eval_ja.jsonl.read_jsonl`: a last line cut by a kill is ignored (that response is computed
again, and the cut bytes are removed from the file before anything is appended); anything else wrong — a second
store header mid-file (two stores joined), a damaged line in the middle, a folder — is refused with file and line.

:class:`StoredLM` wraps any lm-eval model (``hf-causal``, lm-eval's ``hf``, API models): requests already in the
store are answered from it, the rest go to the model, whose cache hook appends each response the moment the model
reports it (``hf-causal`` and lm-eval's models report per batch or per request), so a kill loses at most the batch
in flight.

:func:`model_fingerprint` identifies what produced a response: the model type, every model_arg, batch size and
device, and the identity of the weights, tokenizer and adapter — a hub revision's commit, or the names, sizes
and modification times of the local files.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from lm_eval_ja.errors import UserError
from lm_eval_ja.jsonl import read_jsonl
from lm_eval_ja.modelargs import parse_model_args, redacted

#: The request types lm-eval's evaluator sends to a model.
REQUEST_TYPES = ("loglikelihood", "loglikelihood_rolling", "generate_until")
_MAGIC = {"lm_eval_ja_store": 1}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    return value


def request_key(fingerprint: str, kind: str, args: Any, occurrence: int = 0) -> str:
    """The store key of one request (``occurrence`` tells apart repeats of a sampled request)."""
    text = json.dumps([fingerprint, kind, _jsonable(args), occurrence], ensure_ascii=False, sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def rank_path(path: str | os.PathLike, rank: int) -> Path:
    """The store file of data-parallel rank ``rank``: ``path`` itself for rank 0, ``<stem>.rank<N><suffix>`` beside."""
    path = Path(path)
    return path if rank == 0 else path.with_name(f"{path.stem}.rank{rank}{path.suffix}")


def rank_paths(path: str | os.PathLike) -> list[Path]:
    """``path`` and the store files of every other rank beside it."""
    path = Path(path)
    return [path, *sorted(path.parent.glob(f"{path.stem}.rank*{path.suffix}"))]


def is_empty_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a response store file holding nothing but its header (opened, never written to)."""
    path = Path(path)
    try:
        return path.is_file() and path.read_bytes() == (json.dumps(_MAGIC) + "\n").encode("utf-8")
    except OSError:
        return False


class ResponseStore:
    """An append-only JSON Lines store of responses (see the module docstring).

    Data-parallel rank ``rank`` appends to its own file (:func:`rank_path`) and reads every rank's, so a rerun with
    any number of processes resumes from all of them.
    """

    def __init__(self, path: str | os.PathLike, rank: int = 0):
        self.path = rank_path(path, rank)
        self._write_lock = threading.Lock()
        self._values: dict[str, Any] = {}
        for file in rank_paths(path):
            if file.exists():
                cut_offset = self._load(file)
                if file == self.path and cut_offset is not None:
                    _truncate(file, cut_offset)  # the next response starts on a line of its own
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            new = not self.path.exists() or self.path.stat().st_size == 0
            self._fh = self.path.open("a", encoding="utf-8")
            if not new and not _ends_a_line(self.path):  # a whole last line whose newline a kill kept from disk
                self._fh.write("\n")
        except OSError as exc:
            raise UserError(f"{self.path}: cannot write the response store there ({exc.strerror}); give another "
                            "path (--use_cache, or --output_path for the store beside the result).") from None
        if new:
            self._write(_MAGIC)

    def _load(self, path: Path) -> int | None:
        """Read one rank's store file; returns the byte offset of a cut last line (None when it ends cleanly)."""
        if path.is_dir():
            raise UserError(f"{path} is a folder, not a response store file; give a file path (e.g. "
                            f"{path / 'responses.jsonl'}).")
        with path.open("rb") as fh:
            head = fh.read(16)
        if head.startswith(b"SQLite format 3"):
            raise UserError(f"{path} is an SQLite cache of an older lm-eval-ja or of lm-eval; lm-eval-ja's response "
                            "store is a JSON Lines file: give another path (or delete that file).")
        header = json.dumps(_MAGIC).encode("utf-8")
        with path.open("rb") as fh:
            first = fh.readline(len(header) + 2)
        if not (first.rstrip(b"\r\n") == header or (not first.endswith(b"\n") and header.startswith(first))):
            # (an empty file, or one whose only line, the header, was cut by a kill, is an empty store)
            raise UserError(f"{path} is not an lm-eval-ja response store (its first line is not the store header); "
                            "give another path (or delete that file).")
        fix = "give another path (or delete that file: its responses are then computed again)."
        lines = read_jsonl(path, "response store", fix)
        rows = lines.rows[1:] if lines.rows and lines.rows[0].number == 1 else lines.rows
        if lines.cut not in (None, 1) and not lines.cut_bytes.startswith(b'{"key": "'[:len(lines.cut_bytes)]):
            raise UserError(f"{path} line {lines.cut} is not a stored response (nor the start of one cut by a kill); "
                            f"{fix}")
        for row in rows:
            entry = row.value
            if entry == _MAGIC:
                raise UserError(f"{path} line {row.number} is a second store header: two stores were joined into "
                                f"one file; {fix}")
            if not isinstance(entry, dict) or set(entry) != {"key", "value"} or not isinstance(entry["key"], str):
                raise UserError(f"{path} line {row.number} is not a stored response ({{\"key\": ..., \"value\": "
                                f"...}}); {fix}")
            self._values[entry["key"]] = entry["value"]
        return lines.cut_offset

    def _write(self, entry: dict) -> None:
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._write_lock:  # one whole line at a time, whichever thread reports a response
            self._fh.write(line)
            self._fh.flush()

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def __contains__(self, key: str) -> bool:
        return key in self._values

    def put(self, key: str, value: Any) -> None:
        value = _jsonable(value)
        self._values[key] = value
        self._write({"key": key, "value": value})

    def close(self) -> None:
        self._fh.close()


def _ends_a_line(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def _truncate(path: Path, offset: int) -> None:
    """Cut ``path`` back to ``offset`` bytes (drop the partial line a kill left at its end)."""
    with path.open("r+b") as fh:
        fh.truncate(offset)


def _restore(kind: str, value: Any) -> Any:
    """A stored value in the type the evaluator expects (log-likelihoods are ``(float, bool)`` tuples)."""
    if kind == "loglikelihood":
        return (float(value[0]), bool(value[1]))
    if kind == "loglikelihood_rolling":
        return float(value)
    return value


class _Hook:
    """lm-eval's cache hook interface: the wrapped model calls ``add_partial`` for every response it computes."""

    def __init__(self, owner: "StoredLM"):
        self.owner = owner

    def add_partial(self, attr: str, req: Any, res: Any) -> None:
        self.owner._record(attr, req, res)


class StoredLM:
    """An lm-eval model whose responses are read from and appended to a :class:`ResponseStore`."""

    def __init__(self, lm, store: ResponseStore, fingerprint: str, *, read: bool = True, say=print,
                 what: str = "requests"):
        self.lm, self.store, self.fingerprint, self.read, self.say = lm, store, fingerprint, read, say
        self.what = what
        self._pending: dict[tuple, list[str]] = {}  # (kind, args) -> keys of requests in flight
        self._lock = threading.Lock()
        self._recorded: set[str] = set()
        lm.set_cache_hook(_Hook(self))
        self.computed: Counter = Counter()
        self.reused: Counter = Counter()

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self.lm, attr)
        if attr not in REQUEST_TYPES:
            return value

        def run(requests, **kwargs):
            return self._run(attr, requests, **kwargs)

        return run

    def _keys(self, kind: str, requests) -> list[str]:
        seen: Counter = Counter()
        keys = []
        for req in requests:
            args_key = json.dumps(_jsonable(req.args), ensure_ascii=False, sort_keys=True, default=str)
            keys.append(request_key(self.fingerprint, kind, req.args, seen[args_key] if _sampled(kind, req) else 0))
            seen[args_key] += 1
        return keys

    def _run(self, kind: str, requests, **kwargs):
        keys = self._keys(kind, requests)
        results: list[Any] = [None] * len(requests)
        todo = []
        for i, key in enumerate(keys):
            if self.read and key in self.store:
                results[i] = _restore(kind, self.store.get(key))
            else:
                todo.append(i)
        done = len(requests) - len(todo)
        if done:
            self.say(f"    resuming: {done} of {len(requests)} {self.what} already done", flush=True)
        self.reused[kind] += done
        if todo:
            first = {}  # identical requests (same key) are asked once and the answer given to each
            for i in todo:
                first.setdefault(keys[i], i)
            unique = list(first.values())
            self._pending, self._recorded = {}, set()
            for i in unique:
                self._pending.setdefault((kind, _args_id(requests[i].args)), []).append(keys[i])
            outputs = self._dispatch(kind, [requests[i] for i in unique], kwargs)
            for i, out in zip(unique, outputs):
                if keys[i] not in self._recorded:  # a response the model did not report through its hook
                    self.store.put(keys[i], out)
            answered = {keys[i]: out for i, out in zip(unique, outputs)}
            for i in todo:
                results[i] = answered[keys[i]]
            self._pending = {}
            self.computed[kind] += len(unique)
        return results

    def _dispatch(self, kind: str, requests: list, kwargs: dict) -> list:
        """The model's responses to ``requests``. An API model asked for generations with different keyword
        arguments (sampled answers, each with its own seed) gets each group from a thread of its own, up to its
        ``num_concurrent``: lm-eval sends one group at a time, so sampled answers would otherwise go one by one."""
        call = getattr(self.lm, kind)
        workers = _api_concurrency(self.lm) if kind == "generate_until" else 1
        groups: dict[str, list[int]] = {}
        for i, request in enumerate(requests):
            groups.setdefault(_args_id(request.args[1] if len(request.args) > 1 else None), []).append(i)
        if workers <= 1 or len(groups) <= 1:
            return call(requests, **kwargs)
        from concurrent.futures import ThreadPoolExecutor

        outputs: list[Any] = [None] * len(requests)
        with ThreadPoolExecutor(max_workers=min(workers, len(groups))) as pool:
            answered = pool.map(lambda idx: (idx, call([requests[i] for i in idx], **{**kwargs, "disable_tqdm": True})),
                                groups.values())
            for idx, group_outputs in answered:
                for i, out in zip(idx, group_outputs):
                    outputs[i] = out
        return outputs

    def _record(self, kind: str, args: Any, value: Any) -> None:
        with self._lock:  # the model's threads report responses concurrently
            waiting = self._pending.get((kind, _args_id(args)))
            key = waiting.pop(0) if waiting else None
            if key is not None:
                self._recorded.add(key)
        if key is not None:
            self.store.put(key, value)


def _api_concurrency(lm) -> int:
    """Requests an API model keeps in flight (its ``num_concurrent``); 1 for a model that runs in this process."""
    from lm_eval.models.api_models import TemplateAPI

    inner = unwrap(lm)
    return int(getattr(inner, "_concurrent", 1) or 1) if isinstance(inner, TemplateAPI) else 1


def unwrap(lm):
    """The model under run-store wrappers."""
    while hasattr(lm, "lm") and not hasattr(type(lm), "generate_until"):
        lm = lm.lm
    return lm


def _args_id(args: Any) -> str:
    return json.dumps(_jsonable(args), ensure_ascii=False, sort_keys=True, default=str)


def _sampled(kind: str, req) -> bool:
    if kind != "generate_until":
        return False
    kwargs = req.args[1] if len(req.args) > 1 and isinstance(req.args[1], dict) else {}
    return str(kwargs.get("do_sample", False)).lower() in ("true", "1")


# ------------------------------------------------------------------------------------------- fingerprint


def path_identity(value: str) -> list | None:
    """Names, sizes and modification times of a local file or of the files in a local folder; None if not local."""
    path = Path(str(value)).expanduser()
    if path.is_file():
        stat = path.stat()
        return [[path.name, stat.st_size, stat.st_mtime_ns]]
    if path.is_dir():
        out = []
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            stat = f.stat()
            out.append([str(f.relative_to(path)), stat.st_size, stat.st_mtime_ns])
        return out
    return None


def hub_revision(repo_id: str, revision: str | None = None) -> str | None:
    """The commit a hub id resolves to in the local Hugging Face cache (what transformers just loaded)."""
    try:
        from huggingface_hub.constants import HF_HUB_CACHE
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        return None
    folder = Path(HF_HUB_CACHE) / ("models--" + repo_id.replace("/", "--"))
    ref = folder / "refs" / (revision or "main")
    if ref.is_file():
        return ref.read_text(encoding="utf-8").strip()
    if revision and (folder / "snapshots" / revision).is_dir():
        return revision
    return None


def model_fingerprint(model: str, model_args: str, batch_size: Any = None, device: Any = None, lm=None) -> dict:
    """What produced a model's responses (see the module docstring); ``digest`` keys the store."""
    args = parse_model_args(model_args)
    facts: dict[str, Any] = {"model": model, "model_args": redacted(args), "batch_size": batch_size,
                             "device": device}
    for key in ("pretrained", "tokenizer", "peft"):
        value = args.get(key)
        if not isinstance(value, str) or not value:
            continue
        local = path_identity(value)
        if local is not None:
            facts[f"{key}_files"] = local
        else:
            facts[f"{key}_revision"] = hub_revision(value, args.get("revision") if key == "pretrained" else None)
    if args.get("gguf_file") and isinstance(args.get("pretrained"), str):
        facts["gguf_files"] = path_identity(str(Path(args["pretrained"]) / str(args["gguf_file"])))
    if lm is not None:
        config = getattr(getattr(lm, "model", None), "config", None)
        if getattr(config, "_commit_hash", None):
            facts["pretrained_commit"] = config._commit_hash
        dtype = getattr(getattr(lm, "model", None), "dtype", None)
        if dtype is not None:
            facts["dtype"] = str(dtype)
    text = json.dumps(facts, ensure_ascii=False, sort_keys=True, default=str)
    return {"digest": hashlib.sha256(text.encode("utf-8")).hexdigest()[:20], **facts}
