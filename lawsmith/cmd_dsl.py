"""`lawsmith check` (laws against a world schema) and `lawsmith fmt` (canonical layout of a laws file)."""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile


CHECK_EXAMPLE = """examples:
  lawsmith check examples/crafter.law --schema runs/crafter.jsonl.gz
  lawsmith check models/learned                # its laws.law against its manifest's schema
  lawsmith check models/learned/laws.law       # the same, after editing the file
Prints each problem with its line and column; exit code 0 when the laws check, 2 when not."""

FMT_EXAMPLE = """example:
  lawsmith fmt examples/crafter.law            # rewrite in the canonical layout
  lawsmith fmt --check examples/crafter.law    # exit 1 if it is not already formatted"""


def register(subparsers: argparse._SubParsersAction) -> None:
    check_parser = subparsers.add_parser(
        "check", help="check a laws file against a world schema (a trace's or a model folder's)",
        description="Parse a laws file and check it against a world schema: names, types, "
                    "probabilities, observables written twice. The schema is the one in the "
                    "header of --schema TRACE; without it, a model folder's (its manifest), "
                    "given as the folder or as a laws file inside one.",
        epilog=CHECK_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    check_parser.add_argument("file", metavar="FILE.law|MODEL_DIR")
    check_parser.add_argument("--schema", metavar="TRACE",
                              help="trace file whose header holds the world schema (default: the "
                                   "manifest of the model folder holding the laws)")
    check_parser.set_defaults(run=run_check)

    fmt = subparsers.add_parser(
        "fmt", help="rewrite a laws file in the canonical layout",
        description="Rewrite a laws file in the canonical layout (atomically); comments are kept "
                    "above the law they belong to.",
        epilog=FMT_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    fmt.add_argument("file", metavar="FILE.law")
    fmt.add_argument("--check", action="store_true",
                     help="only report whether the file is formatted (exit 1 if not)")
    fmt.set_defaults(run=run_fmt)


def _read(path: str) -> str:
    from lawsmith.dsl import DslError

    try:
        return pathlib.Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DslError(f"cannot read {path}: {error}") from None


def run_check(args: argparse.Namespace) -> int:
    from lawsmith.dsl import check, parse
    from lawsmith.envs.trace import open_trace

    from lawsmith.laws.folder import LAWS_FILE, MANIFEST_FILE, read_manifest
    from lawsmith.errors import UsageError

    path = pathlib.Path(args.file)
    laws_path = path / LAWS_FILE if path.is_dir() else path
    if args.schema is not None:
        schema = open_trace(args.schema).schema
    elif path.is_dir() or (path.parent / MANIFEST_FILE).exists():
        schema = read_manifest(path if path.is_dir() else path.parent)["schema"]
    else:
        raise UsageError(f"{args.file} is not in a model folder: give --schema TRACE")
    name = str(laws_path)
    program = parse(_read(name), filename=name)
    errors = check(program, schema)
    for error in errors:
        print(error.with_filename(name), file=sys.stderr)
    if errors:
        print(f"{len(errors)} problem(s) in {name}", file=sys.stderr)
        return 2
    print(f"{name}: {len(program.laws)} laws check")
    return 0


def run_fmt(args: argparse.Namespace) -> int:
    from lawsmith.dsl import format_program, parse

    text = _read(args.file)
    formatted = format_program(parse(text, filename=args.file))
    if formatted == text:
        return 0
    if args.check:
        print(f"{args.file} is not in the canonical layout", file=sys.stderr)
        return 1
    _write_atomically(args.file, formatted)
    print(f"reformatted {args.file}")
    return 0


def _write_atomically(path: str, text: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".fmt-", suffix=".law")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        if os.path.exists(path):
            os.chmod(temporary, os.stat(path).st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
