"""`lawsmith learn`: from a trajectory file to a model folder of laws that explain it."""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import time

from lawsmith.envs.trace import open_trace
from lawsmith import args as args_
from lawsmith.errors import UsageError

LEARN_EXAMPLE = """examples:
  lawsmith learn runs/crafter.jsonl.gz -o models/learned
  lawsmith learn runs/crafter.jsonl.gz -o models/learned --resume          # continue a killed run
  lawsmith learn runs/crafter.jsonl.gz -o models/mine --laws my.law        # start from your laws
  LAWSMITH_LLM_API_KEY=... lawsmith learn runs/crafter.jsonl.gz -o models/llm --proposer llm \\
      --llm-base-url http://127.0.0.1:8080/v1 --llm-model smollm2"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "learn", help="learn laws that explain a trace (offline by default, or with an LLM)",
        description="Propose laws for what the current model leaves unexplained, check them, fit "
                    "them with Pyro, keep what lowers the held-out NLL, prune, repeat. Every kept "
                    "round is saved to MODEL_DIR.",
        epilog=LEARN_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trace", metavar="TRACE")
    parser.add_argument("-o", "--output", required=True, metavar="MODEL_DIR")
    parser.add_argument("--proposer", choices=("offline", "llm"), default="offline")
    parser.add_argument("--rounds", type=args_.positive_int, default=4, help="most rounds (4)")
    parser.add_argument("--resume", action="store_true", help="continue the run in MODEL_DIR")
    parser.add_argument("--laws", metavar="FILE.law",
                        help="start from these laws (checked against the trace's schema): they "
                             "are fitted first and kept unless the data refutes them (pruning: "
                             "a law that fired and that the held-out NLL does not need); what "
                             "was dropped is said")
    parser.add_argument("--seed", type=args_.nonnegative_int, default=0)
    parser.add_argument("--heldout", type=args_.share, default=0.2,
                        help="share of transitions held out (0.2; must leave both parts)")
    parser.add_argument("--llm-base-url", help="OpenAI-compatible endpoint, e.g. .../v1")
    parser.add_argument("--llm-model", help="model name at the endpoint")
    parser.add_argument("--llm-cache", metavar="FILE", help="SQLite cache of LLM answers")
    parser.add_argument("--llm-timeout", type=args_.positive_float, default=60.0, metavar="SECONDS",
                        help="most seconds one request may take in all (60)")
    parser.add_argument("--llm-retries", type=args_.nonnegative_int, default=3,
                        help="tries after the first on timeouts, 429 and 5xx (3)")
    parser.set_defaults(run=run_learn)


def run_learn(args: argparse.Namespace) -> int:
    from lawsmith.laws.folder import folder_lock

    # The run holds the folder's lock from its first check to its last checkpoint: a second
    # process learning into the same folder is refused rather than overwriting it.
    with folder_lock(args.output):
        return _run_learn(args)


def _run_learn(args: argparse.Namespace) -> int:
    # Heavy imports (torch, Pyro) where they are needed, so `lawsmith --help` stays quick.
    import torch

    from lawsmith.laws.folder import MANIFEST_FILE, check_schema, file_sha256
    from lawsmith.synth.fit import split
    from lawsmith.synth.learn import LearnConfig, learn, resume_state

    if args.heldout == 0:   # the parser takes [0, 1); learning needs a held-out part
        raise UsageError("--heldout must be in (0, 1)")
    folder = pathlib.Path(args.output)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is a file, not a model folder: choose another -o")
    if (folder / MANIFEST_FILE).exists() and not args.resume:
        raise UsageError(f"{folder} already holds a model: pass --resume to continue it, or "
                         "choose another -o")
    reader = open_trace(args.trace)
    transitions, episodes = reader.triples_with_episodes()
    if len(transitions) < 10:
        raise UsageError(f"{args.trace} has {len(transitions)} transitions; learning needs at "
                         "least 10")
    start, history, fruitless = (None, None, ())
    if args.laws and args.resume:
        raise UsageError("--laws starts a new run; --resume continues the laws in MODEL_DIR")
    if args.laws:
        start = _start_model(args.laws, reader.schema)
    if args.resume and (folder / MANIFEST_FILE).exists():
        start, history, fruitless = resume_state(str(folder))
        check_schema(start.schema, reader.schema, args.trace)
    config = LearnConfig(rounds=args.rounds, seed=args.seed, heldout=args.heldout)
    torch.set_num_threads(1)
    parts = split(transitions, config.heldout, config.seed, episodes)   # the split learn() uses
    proposer = _proposer(args, parts.train, reader.schema)
    began = time.perf_counter()
    manifest = {"world": reader.header["world"],
                "data": {"trace": args.trace, "sha256": file_sha256(args.trace),
                         "transitions": len(transitions)}}
    if args.laws:
        manifest["start"] = {"laws": args.laws, "sha256": file_sha256(args.laws),
                             "names": list(start.law_names)}
    model, history = learn(transitions, reader.schema, proposer, str(folder), config, manifest,
                           start=start, history=history, fruitless=fruitless,
                           progress=lambda message: print(f"  {message}", flush=True),
                           episodes=episodes, command=args.command)
    seconds = time.perf_counter() - began
    stats = dataclasses.asdict(proposer.stats)
    print()
    print(f"learned {folder} from {args.trace} ({len(transitions)} transitions, "
          f"{args.proposer} proposer)")
    print(f"  held out {len(parts.test)} transitions: {parts.describe()}")
    print(f"  {'round':>5} {'proposed':>9} {'kept':>5} {'pruned':>7} {'held-out NLL':>13} "
          f"{'seconds':>8}")
    for row in history:
        print(f"  {row['round']:>5} {row['proposed']:>9} {row['kept']:>5} {len(row['pruned']):>7} "
              f"{row['heldout_nll']:>13.4f} {row['seconds']:>8.1f}")
    parameters = sum(1 if not isinstance(v, list) else len(v)
                     for v in model.params["parameters"].values())
    print(f"  laws {len(model.law_names)}, parameters {parameters}, time {seconds:.1f} s")
    ablated = sum(row.get("ablated", 0) for row in history)
    print(f"  literal ablation removed {ablated} literals (each law's literals dropped in turn on "
          f"the held-out part; kept only where it needs them)")
    if args.proposer == "llm":
        print(f"  LLM calls {stats['calls']} ({stats['cached']} cached, {stats['failures']} failed), "
              f"tokens {stats['prompt_tokens']} in / {stats['completion_tokens']} out, "
              f"rejected {stats['rejected']}, repaired {stats['repaired']}")
        if getattr(proposer, "last_error", None):
            print(f"  last LLM error: {proposer.last_error}")
    if args.laws:
        given = start.law_names
        dropped = [name for name in given if name not in model.law_names]
        print(f"  started from {len(given)} laws of {args.laws}: kept {len(given) - len(dropped)}"
              + (f", dropped {len(dropped)} (the held-out NLL did not need them): "
                 f"{', '.join(dropped)}" if dropped else ""))
    elif len(history) <= 1:
        print("  no law lowered the held-out NLL: the model has no laws (only change rates)")
    return 0


def _start_model(path: str, schema: dict):
    """The laws of `path` as an unfitted model (parse and check errors name the file)."""
    from lawsmith.laws.model import WorldModel
    try:
        text = pathlib.Path(path).read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read {path}: {error}") from None
    return WorldModel(text, schema, filename=path)


def _proposer(args: argparse.Namespace, train: list, schema: dict):
    if args.proposer == "offline":
        from lawsmith.synth.offline import OfflineProposer
        return OfflineProposer(train, schema)
    if not args.llm_base_url or not args.llm_model:
        raise UsageError("--proposer llm needs --llm-base-url and --llm-model")
    from lawsmith.synth.llm import LLMProposer
    return LLMProposer(args.llm_base_url, args.llm_model, cache_path=args.llm_cache,
                       seed=args.seed, timeout=args.llm_timeout, retries=args.llm_retries)
