"""The one reader of JSON Lines files lm-eval-ja writes: response stores and sample logs.

:func:`read_jsonl` reads every line as UTF-8 JSON and tolerates exactly one flaw: a cut **last** line (the line a
process was writing when it was killed — bytes without the closing newline that do not parse). That line is
reported in :attr:`Lines.cut` and left out; the caller decides what to say about it. Anything else is refused with
a :class:`~lm_eval_ja.errors.UserError` naming the file and the line: a folder where a file was expected, invalid
UTF-8 or invalid JSON on any line that ends with a newline (a file damaged in the middle, or two files joined
into one). Blank lines are skipped.

What the callers make of a cut last line:

* a response store (:mod:`lm_eval_ja.store`): the cut response is computed again, silently (a kill mid-write is
  how stores end); before appending, the store removes the cut bytes from its own file so the next line starts
  on a line of its own;
* a sample log: sample logs are written atomically, so a cut one was damaged afterwards (an interrupted copy).
  ``lm-eval-ja pairwise`` leaves that last question out with a note on stderr; ``compare --samples-*`` does not
  pair on an incomplete log and falls back to the stderr test, saying why in the task's note.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lm_eval_ja.errors import UserError


@dataclass(frozen=True)
class Line:
    #: 1-based line number in the file
    number: int
    value: Any


@dataclass
class Lines:
    path: Path
    rows: list[Line] = field(default_factory=list)
    #: the number of the cut last line that was left out, None when the file ends cleanly
    cut: int | None = None
    #: the byte offset the cut last line starts at (where a writer should truncate before appending)
    cut_offset: int | None = None
    #: the bytes of the cut last line
    cut_bytes: bytes = b""


def check_file(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` as a Path; refuses a folder (one line: give a file path) and a missing file."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a folder, not a {what}; give a file path (e.g. {path / 'name.jsonl'}).")
    if not path.exists():
        raise UserError(f"{path}: no such {what}; give the path of an existing one.")
    return path


def read_jsonl(path: str | os.PathLike, what: str = "JSON Lines file", fix: str = "") -> Lines:
    """Every line of ``path`` parsed (see the module docstring); ``what`` names the file in errors, ``fix`` ends them."""
    path = check_file(path, what)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read this {what} ({exc.strerror}); {fix or 'check its permissions.'}") \
            from None
    out = Lines(path)
    parts = data.split(b"\n")
    # parts[-1] is what follows the last newline: b"" for a file that ends cleanly
    offset = 0
    for index, raw in enumerate(parts):
        number = index + 1
        last = index == len(parts) - 1
        start, offset = offset, offset + len(raw) + 1
        if not raw.strip():
            continue
        try:
            value = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            if last:
                out.cut, out.cut_offset, out.cut_bytes = number, start, raw
                continue
            raise UserError(f"{path} line {number} is not valid UTF-8 (byte {exc.start + 1} of the line): this "
                            f"{what} is damaged in the middle; {fix or 'give an undamaged file.'}") from None
        except json.JSONDecodeError as exc:
            if last:
                out.cut, out.cut_offset, out.cut_bytes = number, start, raw
                continue
            raise UserError(f"{path} line {number} is not valid JSON ({exc.msg}, column {exc.colno}): this {what} "
                            f"is damaged in the middle or two files were joined; "
                            f"{fix or 'give an undamaged file.'}") from None
        out.rows.append(Line(number, value))
    return out
