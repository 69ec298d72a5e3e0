"""The files of a run, checked before the model loads: result.json, its sample logs, its response store.

``--output_path`` names result.json; an existing folder or a path ending in ``/`` means ``result.json`` inside it
(as lm-eval does). Beside it: ``<stem>.samples.<task>.jsonl`` (``--log_samples``) and ``<stem>.responses.jsonl``
(every model response, for resuming). :func:`resolve_output` creates the folder and proves it writable, and
records the folders it created: a run refused afterwards, before it wrote anything, calls
:meth:`RunFiles.discard_if_empty` so that it leaves no new empty folder behind;
:func:`claim` applies the overwrite policy: the same run at the same path resumes, another run there is refused
(saying what differs) unless ``--overwrite``, which also removes that run's sample files and store. Files are
written atomically with the usual 0644 permissions; temporary files a kill left behind are removed.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from lm_eval_ja.errors import UserError

_TMP_SUFFIX = ".tmp"


@dataclass(frozen=True)
class RunFiles:
    result: Path
    #: the folders :func:`resolve_output` created for this run, deepest first (:meth:`discard_if_empty` removes them)
    created: tuple[Path, ...] = field(default=(), compare=False, repr=False)

    @property
    def folder(self) -> Path:
        return self.result.parent

    def samples(self, task: str) -> Path:
        return self.folder / f"{self.result.stem}.samples.{task}.jsonl"

    @property
    def store(self) -> Path:
        return self.folder / f"{self.result.stem}.responses.jsonl"

    def remove_stale_temporaries(self) -> list[Path]:
        """Remove the half-written temporary files an interrupted atomic write of this run left behind."""
        stale = [*self.folder.glob(f".{self.result.name}.*{_TMP_SUFFIX}"),
                 *self.folder.glob(f".{self.result.stem}.samples.*{_TMP_SUFFIX}")]
        for p in stale:
            p.unlink(missing_ok=True)
        return stale

    def discard_if_empty(self) -> list[Path]:
        """Undo :func:`resolve_output` for a run refused before it wrote anything; returns what was removed.

        Removes the folders it created (deepest first) as long as they are empty, after removing this run's
        response stores in them that hold nothing but their header (opened, never written to). A folder that holds
        anything else — a result, a sample log, a stored response, anyone's file — is kept, and so are its parents.
        Folders that existed before are never touched.
        """
        from lm_eval_ja.store import is_empty_store, rank_paths

        removed: list[Path] = []
        for folder in self.created:
            if not folder.is_dir():
                continue
            if folder == self.folder:
                for store in rank_paths(self.store):
                    if is_empty_store(store):
                        store.unlink()
                        removed.append(store)
            try:
                folder.rmdir()
            except OSError:  # not empty: something was written there
                break
            removed.append(folder)
        return removed

    def existing(self) -> list[Path]:
        """This run's files on disk: result.json, sample logs, store (every data-parallel rank's)."""
        from lm_eval_ja.store import rank_paths

        found = [p for p in (self.result, *rank_paths(self.store)) if p.exists()]
        return found + sorted(self.folder.glob(f"{self.result.stem}.samples.*.jsonl"))


def output_files(output_path: str | None) -> RunFiles | None:
    """The run's files for ``--output_path`` (None without one); nothing is touched."""
    if not output_path:
        return None
    path = Path(output_path).expanduser()
    if output_path.endswith(("/", os.sep)) or path.is_dir():
        path = path / "result.json"
    return RunFiles(path)


def resolve_output(output_path: str | None) -> RunFiles | None:
    """The run's files for ``--output_path`` (None without one), its folder created and checked writable."""
    files = output_files(output_path)
    if files is None:
        return None
    path = files.result
    folder = path.parent
    missing = []
    for p in [folder, *folder.parents]:
        if p.exists() or p.is_symlink():
            break
        missing.append(p)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), folder)
        raise UserError(f"--output_path {output_path}: {blocker} is a file, not a folder; choose another "
                        "--output_path.") from None
    except OSError as exc:
        raise UserError(f"--output_path {output_path}: cannot create the folder {folder} ({exc.strerror}); choose "
                        "another --output_path.") from None
    files = replace(files, created=tuple(missing))
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=_TMP_SUFFIX)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        files.discard_if_empty()
        raise UserError(f"--output_path {output_path}: the folder {folder} is not writable ({exc.strerror}); choose "
                        "another --output_path.") from None
    files.remove_stale_temporaries()
    return files


def differences(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    return [f"{key}: {ours.get(key)!r} now, {theirs.get(key)!r} there" for key in ours
            if ours.get(key) != theirs.get(key)]


def claim(files: RunFiles, identity: dict[str, Any], overwrite: bool, say: Callable[..., None] = print) -> str:
    """Apply the overwrite policy before anything is computed; returns ``"new"``, ``"resume"`` or ``"overwrite"``."""
    if not files.result.exists():
        return "new"
    try:
        previous = json.loads(files.result.read_text(encoding="utf-8"))
        theirs = previous["manifest"]["run"]
    except (OSError, ValueError, KeyError, TypeError):
        theirs = None
    if theirs == identity:
        return "resume"
    if not overwrite:
        what = "; ".join(differences(identity, theirs)) if isinstance(theirs, dict) else \
            "it was not written by this version of lm-eval-ja"
        raise UserError(f"{files.result} holds another run ({what}); pass --overwrite to replace it, its sample files "
                        "and its store, or choose another --output_path.")
    for p in files.existing():
        p.unlink()
        say(f"removed {p} (--overwrite)", flush=True)
    return "overwrite"


def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: str | os.PathLike, write: Callable[[Any], None]) -> None:
    """Write through ``write(file)`` to a temporary file, then move it over ``path`` (readers never see half a file)."""
    path = Path(path)
    if path.parent != Path(""):
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_TMP_SUFFIX)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            write(fh)
        os.chmod(tmp, _file_mode())  # mkstemp makes 0600 files; results are for everyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
