"""Model folders: `laws.law` (the DSL text, human-editable), `params.json` (fitted values),
`manifest.json` (format, schema, versions, provenance, training data hash, fit metrics).

Every file is written to a temporary file in the folder and renamed into place, and all three are
written before the first rename, so a failed save leaves the old folder as it was.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import pathlib
import shlex
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
    """Write the model folder atomically (see the module docstring). The manifest gains
    `provenance` (`provenance(command)`): the CLI passes its `lawsmith VERB ...` command line;
    other callers may leave it to this process's `sys.argv`."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    full_manifest = {"format": MODEL_FORMAT, "version": MODEL_VERSION, "schema": model.schema,
                     "versions": versions(), "provenance": provenance(command), **manifest}
    contents = {LAWS_FILE: model.text if model.text.endswith("\n") else model.text + "\n",
                PARAMS_FILE: _json(model.params),
                MANIFEST_FILE: _json(full_manifest)}
    temporary = {}
    try:
        for name, text in contents.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
            temporary[name] = tmp
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
        for name, tmp in temporary.items():
            os.replace(tmp, folder / name)
    finally:
        for tmp in temporary.values():
            if os.path.exists(tmp):
                os.remove(tmp)


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
