"""Model folders: `laws.law` (the DSL text, human-editable), `params.json` (fitted values),
`manifest.json` (format, schema, versions, provenance, training data hash, fit metrics).

A save replaces the folder as a whole: the three files (and any other file the folder held) are
written into a sibling `.NAME.writing-*`, renamed to `.NAME.ready-*` once complete, and swapped
in (the old folder renamed to `.NAME.old-*`, the ready one to NAME, the old one removed). A kill at
any point leaves either the old folder or the new one whole, never files of two saves together;
the next save or load finishes or undoes an interrupted swap and removes what it left
(`recover`). Writers hold `folder_lock` (an flock on `.NAME.lock` beside the folder, released when
the process ends however it ends), so a second process writing the same folder is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import math
import os
import pathlib
import shlex
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from lawsmith.laws.errors import ModelError
from lawsmith.laws.formats import MODEL_FORMAT, MODEL_VERSION, check_manifest, check_params
from lawsmith.laws.model import WorldModel

LAWS_FILE, PARAMS_FILE, MANIFEST_FILE = "laws.law", "params.json", "manifest.json"
SOURCE_DIR = pathlib.Path(__file__).resolve().parent   # inside the lawsmith source tree
GIT_TIMEOUT = 5.0   # seconds per git call; a slow or hung git gives "unknown", not a failed save


def versions() -> dict[str, str]:
    """Versions of the packages a fit depends on."""
    result = {}
    for package in ("lawsmith", "torch", "pyro-ppl", "lark"):
        try:
            result[package] = version(package)
        except PackageNotFoundError:
            result[package] = "unknown"
    return result


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def source_commit(directory: pathlib.Path = SOURCE_DIR) -> str:
    """The git commit of the source tree holding `directory`, with "-dirty" appended when the tree
    has uncommitted changes; "unknown" when it is not a git checkout or git fails or is missing.
    Cached: the code a process runs is the code it imported."""
    try:
        head = _git(directory, "rev-parse", "HEAD")
        # --no-optional-locks: reading the status must not rewrite the index (another git
        # command may hold it).
        changes = _git(directory, "--no-optional-locks", "status", "--porcelain")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head.strip() + ("-dirty" if changes.strip() else "")


def _git(directory: pathlib.Path, *arguments: str) -> str:
    """The output of `git arguments` run in `directory` (CalledProcessError when it fails)."""
    return subprocess.run(["git", *arguments], cwd=directory, capture_output=True, text=True,
                          timeout=GIT_TIMEOUT, check=True).stdout


def provenance(command: str | None = None) -> dict[str, str]:
    """What made a model: the source commit and the command line (None: this process's)."""
    return {"commit": source_commit(), "command": command or shlex.join(sys.argv)}


def save_model(folder: str | os.PathLike, model: WorldModel, manifest: dict[str, Any],
               command: str | None = None) -> None:
    """Write the model folder as a whole (see the module docstring). The manifest gains
    `provenance` (`provenance(command)`): the CLI passes its `lawsmith VERB ...` command line;
    other callers may leave it to this process's `sys.argv`."""
    folder = pathlib.Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ModelError("exists and is not a folder", path=str(folder))
    folder.parent.mkdir(parents=True, exist_ok=True)
    full_manifest = {"format": MODEL_FORMAT, "version": MODEL_VERSION, "schema": model.schema,
                     "versions": versions(), "provenance": provenance(command), **manifest}
    contents = {LAWS_FILE: model.text if model.text.endswith("\n") else model.text + "\n",
                PARAMS_FILE: _json(model.params),
                MANIFEST_FILE: _json(full_manifest)}
    with folder_lock(folder):
        recover(folder)
        writing = pathlib.Path(tempfile.mkdtemp(prefix=f".{folder.name}.writing-",
                                                dir=folder.parent))
        try:
            for name, text in contents.items():
                with open(writing / name, "w", encoding="utf-8") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
            if folder.is_dir():   # what else the folder holds moves with it
                for other in folder.iterdir():
                    if other.name not in contents and not _is_stale_temporary(other):
                        (shutil.copytree if other.is_dir() else shutil.copy2)(
                            other, writing / other.name)
            ready = writing.with_name(writing.name.replace(".writing-", ".ready-"))
            os.rename(writing, ready)
        except BaseException:
            shutil.rmtree(writing, ignore_errors=True)
            raise
        old = writing.with_name(writing.name.replace(".writing-", ".old-"))
        if folder.is_dir():
            os.rename(folder, old)
        os.rename(ready, folder)
        shutil.rmtree(old, ignore_errors=True)
        _sync(folder.parent)


def recover(folder: str | os.PathLike) -> None:
    """Finish or undo a save that was interrupted (call with the folder's lock held): with the
    folder gone, a complete `.NAME.ready-*` takes its place, else `.NAME.old-*` goes back; then
    the leftovers (`.NAME.writing-*`, `.NAME.old-*`, stale `.*.tmp` files inside) are removed."""
    folder = pathlib.Path(folder)
    parent = folder.parent
    if not parent.is_dir():
        return
    siblings = {kind: sorted(parent.glob(f".{_glob_escape(folder.name)}.{kind}-*"))
                for kind in ("writing", "ready", "old")}
    if not folder.exists():
        if siblings["ready"]:
            os.rename(siblings["ready"].pop(), folder)
        elif siblings["old"]:
            os.rename(siblings["old"].pop(), folder)
    for leftover in siblings["writing"] + siblings["ready"] + siblings["old"]:
        shutil.rmtree(leftover, ignore_errors=True)
    if folder.is_dir():
        for other in folder.iterdir():
            if _is_stale_temporary(other):
                other.unlink(missing_ok=True)


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _is_stale_temporary(path: pathlib.Path) -> bool:
    """A temporary file an older writer (one file at a time) left inside a folder."""
    return path.is_file() and path.name.startswith(".") and path.name.endswith(".tmp")


def _sync(directory: pathlib.Path) -> None:
    """fsync a directory, so its renames survive a power cut (best effort)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


_HELD: dict[str, tuple[int, int]] = {}   # lock path -> (descriptor, depth), this process's


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike):
    """Hold the lock of a model folder for writing: ModelError at once when another process holds
    it. Reentrant within a process (`learn` holds it for the run; each save takes it again)."""
    folder = pathlib.Path(folder)
    lock = str(folder.parent.resolve() / f".{folder.name}.lock")
    if lock in _HELD:
        descriptor, depth = _HELD[lock]
        _HELD[lock] = (descriptor, depth + 1)
        try:
            yield
        finally:
            _HELD[lock] = (descriptor, _HELD[lock][1] - 1)
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(descriptor, 64).decode("ascii", "replace").strip() or "unknown"
        os.close(descriptor)
        raise ModelError(f"another lawsmith process (pid {holder}) is writing this model "
                         "folder; wait for it to finish or write elsewhere",
                         path=str(folder)) from None
    os.ftruncate(descriptor, 0)
    os.write(descriptor, f"{os.getpid()}\n".encode())
    _HELD[lock] = (descriptor, 1)
    try:
        yield
    finally:
        del _HELD[lock]
        os.close(descriptor)   # closing releases the flock


def _json(value: Any) -> str:
    return json.dumps(_finite(value), indent=1) + "\n"


def _finite(value: Any) -> Any:
    """Reject NaN/inf before they reach a file (JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ModelError(f"refusing to save a non-finite number ({value})")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def check_schema(model_schema: dict, data_schema: dict, path: str, what: str = "the trace") -> None:
    """ModelError unless the data at `path` has the model's schema (naming the first difference)."""
    if model_schema != data_schema:
        raise ModelError(f"{what}'s schema differs from the model's (first difference: "
                         f"{_first_difference(model_schema, data_schema)})", path=path)


def _first_difference(a: dict, b: dict, prefix: str = "schema") -> str:
    for key in sorted(set(a) | set(b), key=str):
        if a.get(key) != b.get(key):
            if isinstance(a.get(key), dict) and isinstance(b.get(key), dict):
                return _first_difference(a[key], b[key], f"{prefix}.{key}")
            return f"{prefix}.{key}"
    return prefix


def read_manifest(folder: str | os.PathLike) -> dict:
    """A model folder's manifest, checked to hold a format and a world schema (else ModelError)."""
    folder = pathlib.Path(folder)
    if folder.parent.is_dir() and any(folder.parent.glob(f".{_glob_escape(folder.name)}.*-*")):
        # A save was interrupted: finish or undo it, unless a writer is at work right now.
        try:
            with folder_lock(folder):
                recover(folder)
        except ModelError:
            pass
    if not folder.is_dir():
        raise ModelError("not a model folder (no such directory)", path=str(folder))
    manifest = _read_json(folder / MANIFEST_FILE)
    check_manifest(manifest, str(folder / MANIFEST_FILE))
    return manifest


def load_model(folder: str | os.PathLike) -> tuple[WorldModel, dict]:
    """The model in a folder and its manifest; ModelError (or the laws' DslError) when broken."""
    folder = pathlib.Path(folder)
    manifest = read_manifest(folder)
    params = _read_json(folder / PARAMS_FILE)
    check_params(params, str(folder / PARAMS_FILE))
    laws_path = folder / LAWS_FILE
    try:
        text = laws_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ModelError(f"cannot read the laws: {error}", path=str(laws_path)) from None
    try:
        model = WorldModel(text, manifest["schema"], params, filename=str(laws_path))
    except ModelError as error:
        raise ModelError(error.message, path=str(folder / PARAMS_FILE), field=error.field) from None
    return model, manifest


def _read_json(path: pathlib.Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError("missing file", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ModelError(f"cannot read: {error}", path=str(path)) from None
    except json.JSONDecodeError as error:
        raise ModelError(f"corrupt JSON: {error.msg} at line {error.lineno}", path=str(path)) from None
    except RecursionError:
        raise ModelError("corrupt JSON: nested too deeply", path=str(path)) from None
    except ValueError as error:   # an integer of more than 4,300 digits
        raise ModelError(f"corrupt JSON: {str(error).split(';')[0]}", path=str(path)) from None
    if not isinstance(value, dict):
        raise ModelError("expected a JSON object", path=str(path))
    return value
