"""`lawsmith explore` (record a one-life trace) and `lawsmith trace info` (summarise a trace)."""

from __future__ import annotations

import argparse
import collections

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from lawsmith.envs.changes import changes
from lawsmith.envs.errors import TraceError
from lawsmith.envs.recorder import record, record_lives
from lawsmith.envs.relabel import RelabelledWorld
from lawsmith.envs.trace import open_trace
from lawsmith.envs.worlds import POLICIES, WORLDS, make_policy, make_world
from lawsmith.args import nonnegative_int, positive_int

EXPLORE_EXAMPLE = """example:
  lawsmith explore --world crafter --steps 2000 --seed 1 -o runs/crafter.jsonl.gz
  lawsmith explore --world crafter --rules examples/rules/wood_pickaxe_3.yaml --steps 500 -o v.jsonl
  lawsmith explore --world crafter --transitions 2000 -o runs/lives.jsonl.gz   # several lives
  lawsmith explore --world crafter --relabel 7 --steps 500 -o runs/opaque.jsonl   # opaque names
  lawsmith explore --world crafter --policy curious --steps 2000 -o runs/curious.jsonl.gz
The same arguments give a byte-identical file."""

INFO_EXAMPLE = """example:
  lawsmith trace info runs/crafter.jsonl.gz"""


def register(subparsers: argparse._SubParsersAction) -> None:
    explore = subparsers.add_parser(
        "explore", help="record one unguided life in a world to a trajectory file",
        description="Record one episode (until death or --steps actions) of an unguided policy: "
                    "no reward, no goal.", epilog=EXPLORE_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    explore.add_argument("--world", choices=WORLDS, default="crafter")
    explore.add_argument("--rules", metavar="FILE", help="Crafter rules variant (YAML in the shape "
                         "of crafter's data.yaml)")
    explore.add_argument("--steps", type=positive_int, default=2000, help="most actions (default 2000)")
    explore.add_argument("--seed", type=nonnegative_int, default=0)
    explore.add_argument("--policy", choices=POLICIES, default="explorer",
                         help="explorer: count-based novelty (default); curious: the explorer "
                              "with the learner in the loop, looking ahead in its own model "
                              "(synth/curious.py, slower: learning rounds); random: uniform")
    explore.add_argument("--transitions", type=positive_int, metavar="N",
                         help="record lives (seeds S, S+1, ...) until the trace holds N "
                              "transitions, each life at most --steps actions")
    explore.add_argument("--relabel", type=int, metavar="SEED",
                         help="record the world with every name (materials, items, actions, "
                              "kinds, attributes...) replaced by an opaque one drawn from SEED "
                              "(envs/relabel.py); the trace's schema is the relabelled one")
    explore.add_argument("-o", "--output", required=True, metavar="TRACE",
                         help="output file (.jsonl, or .jsonl.gz to compress)")
    explore.set_defaults(run=run_explore)

    trace = subparsers.add_parser("trace", help="inspect trajectory files")
    trace_verbs = trace.add_subparsers(dest="trace_verb", required=True)
    info = trace_verbs.add_parser(
        "info", help="steps, episodes, actions and kinds of change in a trace",
        epilog=INFO_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    info.add_argument("file", metavar="TRACE")
    info.set_defaults(run=run_info)


def run_explore(args: argparse.Namespace) -> int:
    world = make_world(args.world, args.rules)
    if args.relabel is not None:
        world = RelabelledWorld(world, args.relabel)
    policy = _policy(args.policy, world)
    if args.transitions:
        lives = record_lives(world, policy, args.output, args.transitions, args.seed, args.steps)
        print(f"wrote {args.output}: {args.transitions} transitions over {lives} lives "
              f"(world {_described(args)}, seeds {args.seed}..{args.seed + lives - 1}, "
              f"policy {args.policy})")
        return 0
    columns = (TextColumn("exploring"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task("explore", total=args.steps)
        taken = record(world, policy, args.output, args.steps, args.seed,
                       progress=lambda done: progress.update(task, completed=done))
    ended = "died" if taken < args.steps else "reached the step limit"
    print(f"wrote {args.output}: {taken} steps, {ended} (world {_described(args)}, seed "
          f"{args.seed}, policy {args.policy})")
    return 0


def _policy(name: str, world):
    if name == "curious":
        from lawsmith.synth.curious import CuriousExplorer
        return CuriousExplorer(health=getattr(world, "health", None))
    return make_policy(name)


def _described(args: argparse.Namespace) -> str:
    return args.world + ("" if args.relabel is None else f" relabelled with seed {args.relabel}")


def run_info(args: argparse.Namespace) -> int:
    reader = open_trace(args.file)
    header, schema = reader.header, reader.schema
    actions: collections.Counter[str] = collections.Counter()
    kinds: collections.Counter[str] = collections.Counter()
    episodes: set[int] = set()
    transitions = 0
    for transition in reader.transitions():
        transitions += 1
        episodes.add(transition.episode)
        actions[transition.action] += 1
        kinds.update(set(changes(transition.state, transition.next_state, schema)))
    if transitions == 0:
        raise TraceError("no transitions in the file", path=args.file)
    print(f"{args.file}")
    relabel = (header.get("config") or {}).get("relabel")
    print(f"  format      {header['format']} v{header['version']}, world {header['world']}"
          + ("" if relabel is None else f" relabelled with seed {relabel}"))
    recorder = header.get("recorder") or {}
    if recorder:
        print("  recorder    " + ", ".join(f"{k} {v}" for k, v in recorder.items()))
    print(f"  episodes    {len(episodes)}")
    print(f"  transitions {transitions}")
    print()
    _table("action", actions, transitions)
    print()
    _table("kind of change (transitions showing it)", kinds, transitions)
    return 0


def _table(title: str, counts: collections.Counter, total: int) -> None:
    width = max([len(title)] + [len(k) for k in counts])
    print(f"  {title:<{width}}  {'count':>7}  {'share':>6}")
    for key, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {key:<{width}}  {count:>7}  {100 * count / total:>5.1f}%")
