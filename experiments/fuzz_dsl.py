"""Fuzz the law language: generated inputs must give a program or a DslError, nothing else, quickly.

Four generators, a quarter of the inputs each: random unicode text; token soup from the language's
own words and symbols; cut-and-corrupted slices of examples/crafter.law; and whole valid laws with
a few characters changed. Inputs that parse are also checked against the Crafter schema (which may
only report DslErrors too). Prints one line per generator and the total.

    .venv/bin/python experiments/fuzz_dsl.py            # 10,000 inputs
    .venv/bin/python experiments/fuzz_dsl.py --n 1000
"""

from __future__ import annotations

import argparse
import collections
import pathlib
import time
import traceback

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lawsmith.dsl import DslError, check, parse
from lawsmith.envs.crafter_world import crafter_schema
from lawsmith.envs.rules import load_rules

N = 10_000
SLOW_SECONDS = 1.0
EXAMPLE = (pathlib.Path(__file__).resolve().parent.parent / "examples" / "crafter.law").read_text()
TOKENS = ["law", "for", "each", "when", "then", "remove", "spawn", "at", "with", "probability",
          "beta", "init", "choose", "dirichlet", "if", "else", "or", "and", "not", "true", "false",
          "none", "exists", "count", "where", "(", ")", "{", "}", ",", ".", ":", "~", "=", "+=",
          "-=", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "player", "c", "cow", "pos",
          "inventory", "wood", "material", "ahead", "action", "do", "tree", "near", "moved", "left",
          "0", "1", "0.5", "99999999999999", "1e400", '"text"', "# note\n", "\n", "é", "\u2028",
          "\x00"]
MUTATIONS = "()[]{},.:~=+-*<>!#\"\\ \n\t\r0123456789abcxyz_é€\u2028\x00"


@st.composite
def _slice_and_corrupt(draw) -> str:
    start = draw(st.integers(0, len(EXAMPLE) - 1))
    length = draw(st.integers(1, 600))
    chars = list(EXAMPLE[start:start + length])
    for _ in range(draw(st.integers(0, 6))):
        if not chars:
            break
        i = draw(st.integers(0, len(chars) - 1))
        action = draw(st.sampled_from(["replace", "delete", "insert", "duplicate"]))
        if action == "replace":
            chars[i] = draw(st.sampled_from(MUTATIONS))
        elif action == "delete":
            del chars[i]
        elif action == "insert":
            chars.insert(i, draw(st.sampled_from(TOKENS)))
        else:
            chars[i:i] = chars[i:i + draw(st.integers(1, 50))]
    return "".join(chars)


@st.composite
def _whole_law_mutated(draw) -> str:
    laws = EXAMPLE.split("\n\n")
    text = draw(st.sampled_from(laws[1:]))
    chars = list(text)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(chars) - 1))
        chars[i] = draw(st.sampled_from(MUTATIONS + "abcdefghijklmnopqrstuvwxyz"))
    return "".join(chars)


GENERATORS = {
    "random text": st.text(max_size=300),
    "token soup": st.lists(st.sampled_from(TOKENS), max_size=80).map(" ".join),
    "corrupted slices": _slice_and_corrupt(),
    "mutated laws": _whole_law_mutated(),
}


def run(n: int) -> bool:
    schema = crafter_schema(load_rules(None))
    check(parse(EXAMPLE), schema)  # build the parser first, so that times are per input
    tally: dict[str, collections.Counter] = {}
    failures: list[str] = []
    slowest, slowest_text = 0.0, ""
    for name, strategy in GENERATORS.items():
        counts = tally.setdefault(name, collections.Counter())

        @settings(max_examples=n // len(GENERATORS), deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), derandomize=True)
        @given(strategy)
        def one(text: str) -> None:
            nonlocal slowest, slowest_text
            start = time.perf_counter()
            try:
                program = parse(text)
                counts["parsed"] += 1
                counts["checked clean" if not check(program, schema) else "check errors"] += 1
            except DslError:
                counts["DslError"] += 1
            except Exception:  # noqa: BLE001 - what the fuzz looks for
                counts["OTHER EXCEPTION"] += 1
                failures.append(f"{text!r}\n{traceback.format_exc()}")
            seconds = time.perf_counter() - start
            if seconds > slowest:
                slowest, slowest_text = seconds, text

        one()
    total = sum(c["parsed"] + c["DslError"] + c["OTHER EXCEPTION"] for c in tally.values())
    for name, counts in tally.items():
        print(f"{name:18s} {dict(counts)}")
    bad = sum(c["OTHER EXCEPTION"] for c in tally.values())
    print(f"total inputs {total}: other exceptions {bad}, slowest input {slowest * 1000:.0f} ms"
          f" ({'ok' if slowest < SLOW_SECONDS else 'TOO SLOW'})")
    print(f"slowest input ({len(slowest_text)} characters): {slowest_text[:120]!r}")
    for failure in failures[:3]:
        print(failure)
    return bad == 0 and slowest < SLOW_SECONDS


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=N, help=f"inputs in all (default {N})")
    raise SystemExit(0 if run(parser.parse_args().n) else 1)
