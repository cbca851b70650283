"""The `lawsmith` command line: `lawsmith <verb> ...`; exit code 0 ok, 1 failed, 2 bad usage or input."""

from __future__ import annotations

import argparse
import shlex
import sys

from lawsmith import cmd_dsl, cmd_env, cmd_inspect, cmd_learn, cmd_model, cmd_sim

# Each command module adds its verbs with `register(subparsers)`.
COMMAND_MODULES = [cmd_env, cmd_dsl, cmd_model, cmd_inspect, cmd_learn, cmd_sim]


def input_errors() -> tuple[type[Exception], ...]:
    """The errors that mean bad input: reported in one line, exit code 2. (Imported only when an
    error is raised: `dsl` loads torch, which a quick command need not pay for.)"""
    from lawsmith.dsl.errors import DslError
    from lawsmith.envs.errors import TraceError
    from lawsmith.laws.errors import ModelError
    from lawsmith.errors import UsageError
    return TraceError, DslError, ModelError, UsageError


def build_parser() -> argparse.ArgumentParser:
    # argparse itself reports bad usage with exit code 2.
    parser = argparse.ArgumentParser(
        prog="lawsmith", description="Learn world models as readable programs of laws.",
        epilog="example:\n  lawsmith explore --world crafter --steps 2000 --seed 1 -o crafter.jsonl.gz",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    subparsers = parser.add_subparsers(dest="verb", required=True)
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    # What made a model folder, for its manifest's provenance (laws.folder.save_model).
    args.command = shlex.join(["lawsmith", *argv])
    return reported(f"lawsmith {args.verb}", lambda: args.run(args))


def reported(program: str, run) -> int:
    """`run()`'s exit code, with bad input and faults said in one line (exit 2) instead of a
    traceback; an interrupt is exit 1. Also what experiments/evaluate.py answers with."""
    try:
        return int(run() or 0)
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stdout = None
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1
    except OSError as error:   # a read-only or full filesystem, a path through a file, ...
        where = f"{error.filename}: " if error.filename else ""
        print(f"{program}: error: {where}{error.strerror or error}", file=sys.stderr)
        return 2
    except Exception as error:
        if not isinstance(error, input_errors()):
            raise
        print(f"{program}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
