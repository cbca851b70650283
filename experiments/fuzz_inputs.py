"""Hostile input against every CLI verb: mutated trace headers and lines, model folders, rules files,
law texts built to exhaust the tool chain, and argument sweeps; each run classified.

    python experiments/fuzz_inputs.py [--cases 2100] [--seed 0] [--jobs 2] [--timeout 30]
                                      [--category header,line,...] [-o reports/fuzz/benchmark.txt]

Every case is one `lawsmith VERB ...` command on files written for it (from a small valid toy trace,
a 30-step Crafter trace and model folders fitted on them, made first). The commands run inside
worker processes (`lawsmith.cli.main`, in-process, many cases per worker) and each ends as one of:

- `ok`: exit 0; `refused`: exit 1 or 2 with the message on stderr and no traceback;
- `traceback`: an exception escaped the CLI (the defect this counts);
- `hang`: still running after `--timeout` seconds (SIGALRM in the worker; a worker that stops
  answering is killed and its case counted here too);
- `memory`: MemoryError, or the worker died (the kernel's OOM killer, a fatal signal);
- `loss`: a file the case said must survive a refused command changed or vanished (for kills: the
  resumed run left leftovers or ended elsewhere than the uninterrupted run; for two writers: both
  wrote);
- `accepted`: exit 0 where the input must be refused (a promise of the format not kept: a name
  the law language cannot spell, `material(ahead) = none`, an observable written twice).

A worker runs under an address-space limit (`--memory-gib`, 8), so an allocation bomb ends in a
MemoryError instead of taking the machine. Categories and what each mutates:

- `header`: one field of the trace header's schema replaced by a hostile value (wrong JSON type,
  NaN/Infinity, 10^20, a 5,000-digit integer, nesting 100,000 deep, names the law language cannot
  spell) or one of its names renamed so;
- `line`: one field of a step line replaced so (grid rows with run lengths of 10^12 and 10^20,
  a 10 MB action name, ...);
- `model`: one field of a model folder's manifest.json or params.json replaced, or a whole file
  replaced (not JSON, a list, deep nesting, empty);
- `rules`: one field of a rules YAML file replaced (`explore --rules`);
- `laws`: law texts built to exhaust the DSL tool chain (sympy products of sums, nested count
  quantifiers, huge names and literals, deep parentheses) through `check`, `fmt` and `fit --laws`;
- `args`: every option of every verb (read from the parser itself) given hostile values, and
  positional paths that are missing, a folder, empty or binary;
- `output`: outputs that must not be overwritten (an existing model folder, a file where a folder
  goes) and outputs on a read-only filesystem (`/sys`), each with the files that must survive.

The table printed (and written with `-o`) counts outcomes per category; every non-clean case is
listed with its command and the exception's last line, so a regression is one run away.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import pathlib
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = pathlib.Path(__file__).resolve().parent.parent
CATEGORIES = ("listed", "header", "line", "model", "rules", "laws", "args", "output", "disk",
              "llm", "kills", "concurrent")
SHARE = {"header": 0.2, "line": 0.14, "model": 0.2, "rules": 0.05, "laws": 0.05, "args": 0.2,
         "output": 0.05, "disk": 0.04, "llm": 0.05, "kills": 0.015, "concurrent": 0.005}
FIXED = ("listed",)   # generated in full whatever --cases says
PARENT = ("kills", "concurrent")   # need processes of their own: run by the parent
CLEAN = ("ok", "refused")

# Hostile JSON values, as raw JSON text (some are not what json.dumps would write).
HOSTILE = {
    "null": "null", "list": "[]", "object": "{}", "string": '"x"', "zero": "0", "negative": "-1",
    "half": "0.5", "true": "true", "infinity": "Infinity", "-infinity": "-Infinity", "nan": "NaN",
    "1e20": "100000000000000000000", "5000 digits": "9" * 5000, "1e400": "1e400",
    "a space": '"a b"', "non-ASCII": '"\u00e9t\u00e9"', "a keyword": '"when"', "empty": '""',
    "nested 100000 deep": "[" * 100_000 + "]" * 100_000,
    "a 1 MB string": '"' + "a" * 1_000_000 + '"', "list of lists": "[[1, 2], [3]]",
}
HOSTILE_NAMES = ["a b", "\u00e9t\u00e9", "when", "", "1abc", "x" * 10_000, "law", "player.x"]
HOSTILE_ARGS = ["nan", "-1", "0", "inf", "-inf", "1e400", "abc", "", "99999999999999999999",
                "cuda", "cuda:7", "bogus", "0.0", "1.5", "-0", "/nonexistent/dir/x"]
# Grid rows that decode to far more than a row: run lengths of 10^12 and 10^20 and 5,000 digits.
HOSTILE_ROWS = ["1000000000000.", "100000000000000000000.", "9" * 5000 + "."]
# Distinct counts two by two: expanding the product would make 2^20 terms.
_ITEMS = ["wood", "stone", "coal", "iron", "diamond", "sapling", "food", "drink", "energy",
          "health", "wood_pickaxe", "stone_pickaxe", "iron_pickaxe", "wood_sword", "stone_sword",
          "iron_sword"]
CRAFTER_BOMBS = {
    "product of 20 two-term sums of distinct counts": "law bomb\n  when " + " * ".join(
        f"(player.inventory.{_ITEMS[i % 16]} + player.inventory.{_ITEMS[(i * 5 + 3) % 16]})"
        for i in range(20)) + " > 0\n  then player.facing = left\n",
}
BOMB_LAWS = {
    "product of 20 two-term sums": "law bomb\n  when " + " * ".join(
        f"(player.inventory.berry + {i})" for i in range(20)) + " > 0\n  then player.facing = left\n",
    "nested count quantifiers": "law bomb\n  when count(sheep a where count(sheep b where "
        "count(sheep c where count(sheep d where dist(a.pos, d.pos) < 3) > 0) > 0) > 0) > 2\n"
        "  then player.facing = left\n",
    "a 100,000-character name": "law " + "n" * 100_000 + "\n  when action == do\n  then "
        "player.facing = left\n",
    "parentheses 50,000 deep": "law bomb\n  when " + "(" * 50_000 + "action == do" + ")" * 50_000
        + "\n  then player.facing = left\n",
    "a 5,000-digit literal": "law bomb\n  when player.inventory.berry > " + "9" * 5000
        + "\n  then player.facing = left\n",
    "10,000 laws": "".join(f"law l{i}\n  when action == do\n  then player.facing = left\n\n"
                           for i in range(10_000)),
    "sum of 2,000 terms": "law bomb\n  when " + " + ".join(["player.inventory.berry"] * 2000)
        + " > 3\n  then player.facing = left\n",
    "a 1e300 probability": "law bomb\n  when action == do\n  then player.inventory.berry += 1 "
        "with probability 1e300\n",
}


# --- the base files -------------------------------------------------------------------------

def make_base(folder: pathlib.Path) -> None:
    """A toy trace, a short Crafter trace and a model folder fitted on each (once per run)."""
    from lawsmith.cli import main
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["explore", "--world", "toy", "--steps", "60", "--seed", "1", "-o",
                     str(folder / "toy.jsonl")]) == 0
        assert main(["explore", "--world", "toy", "--steps", "3", "--seed", "1", "-o",
                     str(folder / "tiny.jsonl")]) == 0
        assert main(["explore", "--world", "crafter", "--steps", "30", "--seed", "1", "-o",
                     str(folder / "crafter.jsonl")]) == 0
        assert main(["fit", "--laws", str(ROOT / "examples/toy.law"), str(folder / "toy.jsonl"),
                     "-o", str(folder / "toy-model"), "--steps", "20"]) == 0
        assert main(["fit", "--laws", str(ROOT / "examples/crafter.law"),
                     str(folder / "crafter.jsonl"), "-o", str(folder / "crafter-model"),
                     "--steps", "10"]) == 0
    shutil.copy(ROOT / "examples/toy.law", folder / "toy.law")
    shutil.copy(ROOT / "examples/crafter.law", folder / "crafter.law")
    for rules in (ROOT / "examples/rules").glob("*.yaml"):
        shutil.copy(rules, folder / rules.name)


# --- JSON mutation --------------------------------------------------------------------------

def json_paths(value, prefix=(), depth=6):
    """Every path (a tuple of keys and indices) into `value`, its root excluded, to `depth`."""
    if depth == 0:
        return
    items = value.items() if isinstance(value, dict) else enumerate(value) \
        if isinstance(value, list) else ()
    for key, child in list(items)[:40]:   # long lists: their first elements stand for the rest
        yield prefix + (key,)
        yield from json_paths(child, prefix + (key,), depth - 1)


MARK = "@@hostile@@"


def replaced(value, path, raw: str) -> str:
    """`value` as JSON text with the node at `path` replaced by the raw JSON text `raw`."""
    copy = json.loads(json.dumps(value))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = MARK
    return json.dumps(copy).replace(json.dumps(MARK), raw, 1)


def renamed(value, path, name: str) -> str | None:
    """`value` as JSON text with the dict key at the end of `path` renamed to `name`."""
    copy = json.loads(json.dumps(value))
    node = copy
    for key in path[:-1]:
        node = node[key]
    if not isinstance(node, dict):
        return None
    node[name] = node.pop(path[-1])
    return json.dumps(copy)


# --- case generation ------------------------------------------------------------------------

class Cases:
    """Writes each case's files under `folder/NNNN/` and collects the commands."""

    def __init__(self, folder: pathlib.Path, base: pathlib.Path):
        self.folder, self.base, self.cases, self.made = folder, base, [], 0

    def add(self, category: str, what: str, argv: list[str], files: dict[str, str | bytes],
            copies: dict[str, str] = (), survive: tuple[str, ...] = (),
            expect: str | None = None) -> None:
        """A case: `files` written (text or bytes) and `copies` (name -> base file or folder)
        copied into its folder, then `lawsmith argv` run there; `survive`: paths whose bytes
        must be the same afterwards when the command does not succeed; `expect="refused"`: the
        command must fail (an exit 0 is a promise broken: outcome `accepted`)."""
        number, self.made = self.made, self.made + 1
        where = self.folder / f"{number:04d}"
        where.mkdir(parents=True)
        for name, content in files.items():
            target = where / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8", errors="surrogatepass")
        for name, source in dict(copies).items():
            source = self.base / source
            if source.is_dir():
                shutil.copytree(source, where / name)
            else:
                shutil.copy(source, where / name)
        self.cases.append({"id": number, "category": category, "what": what, "argv": argv,
                           "dir": str(where), "survive": list(survive), "expect": expect})


def trace_lines(path: pathlib.Path) -> list[str]:
    return path.read_text().splitlines()


TRACE_VERBS = [
    ["trace", "info", "t.jsonl"],
    ["check", "--schema", "t.jsonl", "{laws}"],
    ["score", "{model}", "t.jsonl"],
    ["fit", "--laws", "{laws}", "t.jsonl", "-o", "out", "--steps", "3"],
    ["learn", "t.jsonl", "-o", "out", "--rounds", "1"],
    ["explain", "{model}", "t.jsonl", "--step", "0"],
    ["laws", "{model}", "t.jsonl"],
]


def header_cases(cases: Cases, rng: random.Random, count: int) -> None:
    for _ in range(count):
        world = rng.choice(["toy", "toy", "crafter"])
        lines = trace_lines(cases.base / f"{world}.jsonl")
        header = json.loads(lines[0])
        paths = [("schema",) + p for p in json_paths(header["schema"])] + [(k,) for k in header]
        path = rng.choice(paths)
        if rng.random() < 0.25 and isinstance(_at(header, path[:-1]), dict):
            name = rng.choice(HOSTILE_NAMES)
            text, what = renamed(header, path, name), f"{_dotted(path)} renamed to {name[:20]!r}"
        else:
            label = rng.choice(list(HOSTILE))
            text, what = replaced(header, path, HOSTILE[label]), f"{_dotted(path)} = {label}"
        if text is None:
            continue
        argv = _verb(rng, world)
        cases.add("header", what, argv, {"t.jsonl": "\n".join([text, *lines[1:]]) + "\n"},
                  copies=_copies(argv, world))


def line_cases(cases: Cases, rng: random.Random, count: int) -> None:
    for _ in range(count):
        world = rng.choice(["toy", "toy", "crafter"])
        lines = trace_lines(cases.base / f"{world}.jsonl")
        index = rng.randrange(1, len(lines))
        record = json.loads(lines[index])
        roll = rng.random()
        if roll < 0.15 and isinstance(record.get("state", {}).get("grid"), list):
            row = rng.randrange(len(record["state"]["grid"]))
            label = rng.choice(HOSTILE_ROWS)
            text = replaced(record, ("state", "grid", row), json.dumps(label))
            what = f"line {index + 1} state.grid[{row}] = a row of run length {label[:24]}..."
        elif roll < 0.2:
            text = replaced(record, ("action",), json.dumps("m" * 10_000_000))
            what = f"line {index + 1} action = a 10 MB name"
        elif roll < 0.25:
            text, what = "[" * 100_000 + "]" * 100_000, f"line {index + 1} nested 100000 deep"
        else:
            path = rng.choice(list(json_paths(record)))
            label = rng.choice(list(HOSTILE))
            text = replaced(record, path, HOSTILE[label])
            what = f"line {index + 1} {_dotted(path)} = {label}"
        lines = lines[:index] + [text] + lines[index + 1:]
        argv = _verb(rng, world)
        cases.add("line", what, argv, {"t.jsonl": "\n".join(lines) + "\n"},
                  copies=_copies(argv, world))


MODEL_VERBS = [
    ["show", "m"], ["score", "m", "{trace}"], ["check", "m"], ["fit", "m", "{trace}", "--steps", "3"],
    ["explain", "m", "{trace}", "--step", "0"], ["laws", "m", "{trace}"], ["diff", "m", "{model}"],
    ["simulate", "m", "--n", "2", "--steps", "2"],
    ["learn", "{trace}", "-o", "m", "--resume", "--rounds", "1"],
]
WHOLE_FILES = {"not JSON": "{not json", "a list": "[1, 2]", "empty": "",
               "nested 100000 deep": "[" * 100_000 + "]" * 100_000, "binary": b"\x00\xff\xfe" * 100}


def model_cases(cases: Cases, rng: random.Random, count: int) -> None:
    for _ in range(count):
        world = rng.choice(["toy", "toy", "crafter"])
        folder = cases.base / f"{world}-model"
        name = rng.choice(["manifest.json", "params.json", "manifest.json", "laws.law"])
        files: dict[str, str | bytes] = {}
        if name == "laws.law" or rng.random() < 0.1:
            label = rng.choice(list(WHOLE_FILES))
            files[f"m/{name}"] = WHOLE_FILES[label]
            what = f"{name} replaced: {label}"
        else:
            value = json.loads((folder / name).read_text())
            paths = list(json_paths(value, depth=4))
            if not paths:
                continue
            path = rng.choice(paths)
            label = rng.choice(list(HOSTILE))
            files[f"m/{name}"] = replaced(value, path, HOSTILE[label])
            what = f"{name} {_dotted(path)} = {label}"
        template = rng.choice(MODEL_VERBS)
        if "learn" in template and name != "manifest.json":
            template = MODEL_VERBS[0]
        argv = [a.replace("{trace}", f"{world}.jsonl").replace("{model}", "m2") for a in template]
        copies = {f"{world}.jsonl": f"{world}.jsonl", "m2": f"{world}-model"}
        # The untouched files of the folder first; the mutated one overwrites its copy.
        where_files = {f"m/{p.name}": p.read_bytes() for p in folder.iterdir() if p.is_file()}
        where_files.update(files)
        cases.add("model", what, argv, where_files, copies=copies)


def rules_cases(cases: Cases, rng: random.Random, count: int) -> None:
    from ruamel.yaml import YAML
    yaml = YAML(typ="safe")
    sources = sorted(cases.base.glob("*.yaml"))
    for _ in range(count):
        source = rng.choice(sources)
        value = yaml.load(source.read_text())
        path = rng.choice(list(json_paths(value)))
        label = rng.choice(list(HOSTILE))
        if label in ("nested 100000 deep", "a 1 MB string"):
            label = "list of lists"
        text = replaced(value, path, HOSTILE[label])   # JSON is YAML
        cases.add("rules", f"{source.name} {_dotted(path)} = {label}",
                  ["explore", "--world", "crafter", "--rules", "r.yaml", "--steps", "5", "-o",
                   "out.jsonl"], {"r.yaml": text})


def laws_cases(cases: Cases, rng: random.Random, count: int) -> None:
    verbs = [["check", "--schema", "toy.jsonl", "b.law"], ["fmt", "b.law"],
             ["fit", "--laws", "b.law", "toy.jsonl", "-o", "out", "--steps", "3"]]
    labels = sorted(BOMB_LAWS)
    for i in range(count):
        label, argv = labels[i % len(labels)], verbs[(i // len(labels)) % len(verbs)]
        cases.add("laws", f"{label} via {argv[0]}", argv, {"b.law": BOMB_LAWS[label]},
                  copies={"toy.jsonl": "toy.jsonl"})


def verb_options(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """Each verb's options that take a value (e.g. fit: --steps, --lr, ...), from the parser."""
    result = {}
    for action in parser._subparsers._group_actions:
        for verb, sub in action.choices.items():
            nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
            if nested:   # `trace info`
                for inner, subsub in nested[0].choices.items():
                    result[f"{verb} {inner}"] = _value_options(subsub)
            else:
                result[verb] = _value_options(sub)
    return result


def _value_options(parser: argparse.ArgumentParser) -> list[str]:
    return [a.option_strings[-1] for a in parser._actions
            if a.option_strings and a.nargs != 0 and a.option_strings[-1] != "--help"]


# A valid command per verb, for the argument sweep to break one option of.
VALID = {
    "explore": ["explore", "--world", "toy", "--steps", "20", "-o", "out.jsonl"],
    "trace info": ["trace", "info", "toy.jsonl"],
    "check": ["check", "--schema", "toy.jsonl", "toy.law"],
    "fmt": ["fmt", "toy.law"],
    "fit": ["fit", "--laws", "toy.law", "toy.jsonl", "-o", "out", "--steps", "3"],
    "score": ["score", "toy-model", "toy.jsonl"],
    "show": ["show", "toy-model"],
    "diff": ["diff", "toy-model", "toy-model", "toy.jsonl"],
    "explain": ["explain", "toy-model", "toy.jsonl", "--step", "0"],
    "laws": ["laws", "toy-model", "toy.jsonl"],
    "learn": ["learn", "toy.jsonl", "-o", "out", "--rounds", "1"],
    "simulate": ["simulate", "toy-model", "--n", "2", "--steps", "2"],
}
BAD_PATHS = {"missing": None, "a folder": "dir/", "empty": "", "binary": b"\x00\x9f\x92\x96" * 50,
             "a directory-like name": "dir/"}


def args_cases(cases: Cases, rng: random.Random, count: int) -> None:
    from lawsmith.cli import build_parser
    options = verb_options(build_parser())
    copies = {"toy.jsonl": "toy.jsonl", "toy.law": "toy.law", "toy-model": "toy-model"}
    for _ in range(count):
        verb = rng.choice(sorted(VALID))
        argv = list(VALID[verb])
        files: dict[str, str | bytes] = {}
        if rng.random() < 0.7 and options.get(verb):
            option, value = rng.choice(options[verb]), rng.choice(HOSTILE_ARGS)
            argv += [option, value]
            what = f"{verb} {option} {value!r}"
        else:
            positions = [i for i, a in enumerate(argv) if a in copies]
            if not positions:
                continue
            i, label = rng.choice(positions), rng.choice(sorted(BAD_PATHS))
            content = BAD_PATHS[label]
            name = f"bad{pathlib.Path(argv[i]).suffix}"
            if content == "dir/":
                (cases.folder / "dirs").mkdir(exist_ok=True)
                name = "bad_dir"
                files[f"{name}/.keep"] = ""
            elif content is not None:
                files[name] = content
            argv[i] = name
            what = f"{verb}: {VALID[verb][i]} -> {label}"
        cases.add("args", what, argv, files, copies=copies)


def output_cases(cases: Cases, rng: random.Random, count: int) -> None:
    copies = {"toy.jsonl": "toy.jsonl", "toy.law": "toy.law", "toy-model": "toy-model"}
    model_files = tuple(f"toy-model/{n}" for n in ("laws.law", "params.json", "manifest.json"))
    recipes = [
        ("fit --laws onto an existing model", ["fit", "--laws", "toy.law", "toy.jsonl", "-o",
                                               "toy-model", "--steps", "3"], {}, model_files),
        ("learn onto an existing model", ["learn", "toy.jsonl", "-o", "toy-model", "--rounds",
                                          "1"], {}, model_files),
        ("learn -o an existing file", ["learn", "toy.jsonl", "-o", "keep.txt", "--rounds", "1"],
         {"keep.txt": "precious\n"}, ("keep.txt",)),
        ("fit -o an existing file", ["fit", "--laws", "toy.law", "toy.jsonl", "-o", "keep.txt",
                                     "--steps", "3"], {"keep.txt": "precious\n"}, ("keep.txt",)),
        ("explore -o inside a file", ["explore", "--world", "toy", "--steps", "5", "-o",
                                      "keep.txt/t.jsonl"], {"keep.txt": "precious\n"},
         ("keep.txt",)),
        ("explore -o a read-only filesystem", ["explore", "--world", "toy", "--steps", "5", "-o",
                                               "/sys/lawsmith-fuzz.jsonl"], {}, ()),
        ("fit -o a read-only filesystem", ["fit", "--laws", "toy.law", "toy.jsonl", "-o",
                                           "/sys/lawsmith-fuzz", "--steps", "3"], {}, ()),
        ("learn -o a read-only filesystem", ["learn", "toy.jsonl", "-o", "/sys/lawsmith-fuzz",
                                             "--rounds", "1"], {}, ()),
        ("check a laws file on a read-only filesystem that is not there",
         ["check", "--schema", "toy.jsonl", "/sys/lawsmith.law"], {}, ()),
        ("fit DIR refits in place", ["fit", "toy-model", "toy.jsonl", "--steps", "3"], {}, ()),
    ]
    for i in range(count):
        what, argv, files, survive = recipes[i % len(recipes)]
        cases.add("output", what, argv, dict(files), copies=copies, survive=survive)


def _at(value, path):
    for key in path:
        value = value[key]
    return value


def _dotted(path) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path).replace(".[", "[")


def _verb(rng: random.Random, world: str) -> list[str]:
    laws, model = f"{world}.law", f"{world}-model"
    return [a.replace("{laws}", laws).replace("{model}", model) for a in rng.choice(TRACE_VERBS)]


def _copies(argv: list[str], world: str) -> dict[str, str]:
    return {name: name for name in (f"{world}.law", f"{world}-model") if name in argv}

def listed_cases(cases: Cases, rng: random.Random, count: int) -> None:
    """Every case the hostile-input issue lists, one command each (the random categories cover
    the rest of the space)."""
    toy = trace_lines(cases.base / "toy.jsonl")
    crafter = trace_lines(cases.base / "crafter.jsonl")

    def header_case(what, change, lines=toy, verb=("trace", "info", "t.jsonl"), expect=None):
        header = json.loads(lines[0])
        text = change(header)
        cases.add("listed", what, list(verb), {"t.jsonl": "\n".join([text, *lines[1:]]) + "\n"},
                  copies={n: n for n in verb if n.endswith(".law")}, expect=expect)

    def at(path, raw):
        return lambda header: replaced(header, path, raw)

    for field in ("kinds", "globals", "engine"):
        for verb in (("trace", "info", "t.jsonl"), ("learn", "t.jsonl", "-o", "out", "--rounds",
                                                     "1")):
            header_case(f"header schema.{field} a list ({verb[0]})", at(("schema", field), "[]"),
                        crafter, verb)
    header_case("header schema.grid empty", at(("schema", "grid"), "{}"))
    header_case("header schema.items are ints", at(("schema", "items", "berry"), "5"))
    header_case("header schema.actions are ints", at(("schema", "actions"), "[0, 1, 2]"))
    header_case("header schema.items.berry.min a string", at(("schema", "items", "berry", "min"),
                                                           '"0"'))
    header_case("header schema.items.berry.max Infinity", at(("schema", "items", "berry", "max"),
                                                          "Infinity"))
    header_case("header an item name with a space",
                lambda h: renamed(h, ("schema", "items", "berry"), "ber ry"), expect="refused")
    header_case("header a non-ASCII item name",
                lambda h: renamed(h, ("schema", "items", "berry"), "b\u00e9rry"),
                expect="refused")
    header_case("header an item named like a keyword",
                lambda h: renamed(h, ("schema", "items", "berry"), "when"), expect="refused")
    header_case("header an unbounded float attribute (hunger without min/max)",
                at(("schema", "kinds", "player", "hunger"), '{"type": "float"}'), crafter,
                ("fit", "--laws", "crafter.law", "t.jsonl", "-o", "out", "--steps", "3"))
    header_case("header a 5,000-digit integer", at(("schema", "grid", "width"), "9" * 5000))
    header_case("header nested 100,000 deep", at(("schema", "kinds"), HOSTILE["nested 100000 deep"]))
    copies_crafter = {"crafter.law": "crafter.law"}
    for label, row in (("10^12", "1000000000000."), ("10^20", "100000000000000000000.")):
        record = json.loads(crafter[3])
        text = replaced(record, ("state", "grid", 0), json.dumps(row))
        lines = crafter[:3] + [text] + crafter[4:]
        cases.add("listed", f"a grid run length of {label}", ["score", "crafter-model", "t.jsonl"],
                  {"t.jsonl": "\n".join(lines) + "\n"}, copies={"crafter-model": "crafter-model"})
    record = json.loads(toy[2])
    lines = toy[:2] + [replaced(record, ("action",), json.dumps("m" * 100_000_000))] + toy[3:]
    cases.add("listed", "a 100 MB action name", ["trace", "info", "t.jsonl"],
              {"t.jsonl": "\n".join(lines) + "\n"})
    del lines
    model_changes = [
        ("manifest.json", ("schema",), "{}"), ("manifest.json", ("schema",), "[]"),
        ("manifest.json", ("data",), '"x"'), ("manifest.json", ("learn", "rounds"), '"x"'),
        ("manifest.json", ("learn", "rounds"), "[1, 2]"), ("params.json", ("spawn",), "5"),
        ("params.json", ("uncertainty",), '{"p": 5}'),
        ("manifest.json", (), HOSTILE["nested 100000 deep"]),
    ]
    folder = cases.base / "toy-model"
    for name, path, raw in model_changes:
        value = json.loads((folder / name).read_text())
        if path and path[0] == "learn" and "learn" not in value:
            value["learn"] = {"rounds": []}
        text = replaced(value, path, raw) if path else raw
        for verb in (["show", "m"], ["score", "m", "toy.jsonl"], ["fit", "m", "toy.jsonl",
                                                                  "--steps", "3"],
                     ["learn", "toy.jsonl", "-o", "m", "--resume", "--rounds", "1"]):
            files = {f"m/{p.name}": p.read_bytes() for p in folder.iterdir() if p.is_file()}
            files[f"m/{name}"] = text
            cases.add("listed", f"{name} {_dotted(path) or 'whole'} = {raw[:12]} ({verb[0]})",
                      verb, files, copies={"toy.jsonl": "toy.jsonl"})
    copies = {"toy.jsonl": "toy.jsonl", "toy.law": "toy.law", "toy-model": "toy-model"}
    fit = ["fit", "--laws", "toy.law", "toy.jsonl", "-o", "out", "--steps", "3"]
    import torch
    cuda = "ok" if torch.cuda.is_available() else "refused"
    for extra in (["--lr", "nan"], ["--lr", "-1"], ["--seed", "-1"], ["--device", "cuda"],
                  ["--device", "bogus"], ["--steps", "-5"]):
        cases.add("listed", f"fit {' '.join(extra)}", fit + extra, {}, copies=copies,
                  expect=cuda if extra == ["--device", "cuda"] else "refused")
    cases.add("listed", "fit --heldout 0.9 leaving 1 of 3 transitions",
              ["fit", "--laws", "toy.law", "tiny.jsonl", "-o", "out", "--heldout", "0.9"], {},
              copies={"tiny.jsonl": "tiny.jsonl", "toy.law": "toy.law"}, expect="refused")
    cases.add("listed", "fit --laws -o an existing model", fit[:5] + ["-o", "toy-model"], {},
              copies=copies, survive=("toy-model/laws.law", "toy-model/params.json",
                                      "toy-model/manifest.json"), expect="refused")
    cases.add("listed", "learn -o an existing file", ["learn", "toy.jsonl", "-o", "keep.txt"],
              {"keep.txt": "precious\n"}, copies=copies, survive=("keep.txt",),
              expect="refused")
    for label, text in BOMB_LAWS.items():
        cases.add("listed", f"laws: {label} (learn --laws)",
                  ["learn", "toy.jsonl", "--laws", "b.law", "-o", "out", "--rounds", "1"],
                  {"b.law": text}, copies=copies)
    for label, text in CRAFTER_BOMBS.items():
        for verb in (["learn", "crafter.jsonl", "--laws", "b.law", "-o", "out", "--rounds", "1"],
                     ["fit", "--laws", "b.law", "crafter.jsonl", "-o", "out", "--steps", "3"]):
            cases.add("listed", f"laws: {label} ({verb[0]})", verb, {"b.law": text},
                      copies={"crafter.jsonl": "crafter.jsonl"})
    count_bomb = BOMB_LAWS["nested count quantifiers"].replace("sheep", "cow")
    cases.add("listed", "laws: four nested count quantifiers on Crafter (fit)",
              ["fit", "--laws", "b.law", "crafter.jsonl", "-o", "out", "--steps", "3"],
              {"b.law": count_bomb}, copies={"crafter.jsonl": "crafter.jsonl"})
    cases.add("listed", "laws: material(ahead) = none", ["check", "--schema", "toy.jsonl", "b.law"],
              {"b.law": "law x\n  when action == do\n  then material(ahead) = none\n"},
              copies=copies, expect="refused")
    cases.add("listed", "laws: one observable written twice through an alias",
              ["check", "--schema", "toy.jsonl", "b.law"],
              {"b.law": "law x\n  for each player p\n  when action == do\n"
                        "  then p.facing = left\n       player.facing = right\n"},
              copies=copies, expect="refused")
    for name in ("not JSON", "content an int", "content a list", "message a string",
                 "usage not numbers", "dripping", "retry-after"):
        _llm_case(cases, "listed", name)


def disk_cases(cases: Cases, rng: random.Random, count: int) -> None:
    """Outputs written under a file-size limit (RLIMIT_FSIZE, what a full disk looks like to the
    writer: EFBIG); what existed before must survive."""
    copies = {"toy.jsonl": "toy.jsonl", "toy.law": "toy.law", "toy-model": "toy-model"}
    model_files = tuple(f"toy-model/{n}" for n in ("laws.law", "params.json", "manifest.json"))
    unformatted = "law   x\n when action==do\n then player.facing=left\n"
    recipes = [
        ("explore over an existing trace", ["explore", "--world", "toy", "--steps", "200", "-o",
                                            "keep.jsonl"], {"keep.jsonl": "precious\n"},
         ("keep.jsonl",)),
        ("fit DIR (refit in place)", ["fit", "toy-model", "toy.jsonl", "--steps", "3"], {},
         model_files),
        ("learn --resume", ["learn", "toy.jsonl", "-o", "toy-model", "--resume", "--rounds", "2"],
         {}, model_files),
        ("fit --laws -o a new folder", ["fit", "--laws", "toy.law", "toy.jsonl", "-o", "new",
                                        "--steps", "3"], {}, ()),
        ("fmt a laws file", ["fmt", "u.law"], {"u.law": unformatted}, ("u.law",)),
    ]
    for i in range(count):
        what, argv, files, survive = recipes[i % len(recipes)]
        limit = rng.choice([0, 64, 4096, 20_000])
        cases.add("disk", f"{what} (files limited to {limit} bytes)", argv, dict(files),
                  copies=copies, survive=survive)
        cases.cases[-1]["fsize"] = limit


# Hostile chat-completion answers the worker's scripted server gives, by name.
LLM_ANSWERS = ("not JSON", "content an int", "content a list", "message a string",
               "usage not numbers", "dripping", "retry-after", "a 500 each time", "empty choices",
               "a sympy bomb law", "a law of 100,000 characters", "a 400", "prose")


def llm_cases(cases: Cases, rng: random.Random, count: int) -> None:
    for i in range(count):
        _llm_case(cases, "llm", LLM_ANSWERS[i % len(LLM_ANSWERS)])


def _llm_case(cases: Cases, category: str, answer: str) -> None:
    cases.add(category, f"LLM answer: {answer}",
              ["learn", "toy.jsonl", "-o", "out", "--rounds", "1", "--proposer", "llm",
               "--llm-base-url", "{llm}/" + answer.replace(" ", "_").replace(",", ""),
               "--llm-model", "fake", "--llm-cache", "cache.sqlite", "--llm-timeout", "3",
               "--llm-retries", "1"], {}, copies={"toy.jsonl": "toy.jsonl"})


KILL_RECIPES = [
    # (what, command, files, copies, targets, resume): after the kill, `resume` runs the command
    # again with --resume and the targets must equal the uninterrupted run's; without it each
    # target must be as it was before or as the uninterrupted run left it.
    ("learn", ["learn", "toy.jsonl", "-o", "m", "--rounds", "3"], {}, {"toy.jsonl": "toy.jsonl"},
     ("m/laws.law", "m/params.json"), True),
    ("fit DIR (refit in place)", ["fit", "toy-model", "toy.jsonl", "--steps", "20"], {},
     {"toy.jsonl": "toy.jsonl", "toy-model": "toy-model"},
     ("toy-model/laws.law", "toy-model/params.json"), False),
    ("explore over an existing trace", ["explore", "--world", "toy", "--steps", "300", "-o",
                                        "t.jsonl"], {}, {"t.jsonl": "toy.jsonl"}, ("t.jsonl",),
     False),
    ("fmt", ["fmt", "u.law"], {"u.law": "law   x\n when action==do\n then player.facing=left\n"},
     {}, ("u.law",), False),
]


def kills_cases(cases: Cases, rng: random.Random, count: int) -> None:
    """A command killed (os._exit: no clean-up, no finally) right at its Nth rename or after a
    random delay; then `learn --resume` must end as the uninterrupted run, and for the others
    every output must be whole: as before, or as the uninterrupted run left it. Either way no
    leftovers (temporary files and folders)."""
    for i in range(count):
        what, argv, files, copies, targets, resume = KILL_RECIPES[i % len(KILL_RECIPES)]
        round_ = i // len(KILL_RECIPES)
        point = (("rename", 1 + round_ % 8) if round_ % 3 != 2
                 else ("seconds", round(rng.uniform(2.2, 6), 2)))
        cases.add("kills", f"{what} killed at {point[0]} {point[1]}"
                  + (", then --resume" if resume else ""), argv, dict(files), copies=copies)
        cases.cases[-1].update(kill=point, targets=list(targets), resume=resume)


def concurrent_cases(cases: Cases, rng: random.Random, count: int) -> None:
    """Two `learn` runs into one folder at once: one must be refused (exit 2) or both succeed
    one after the other; never both exit 0 having written over each other unseen."""
    for i in range(count):
        cases.add("concurrent", "two learn runs into one folder at once",
                  ["learn", "toy.jsonl", "-o", "m", "--rounds", "2"], {},
                  copies={"toy.jsonl": "toy.jsonl"})



GENERATORS = {"listed": listed_cases, "header": header_cases, "line": line_cases,
              "model": model_cases, "rules": rules_cases, "laws": laws_cases, "args": args_cases,
              "output": output_cases, "disk": disk_cases, "llm": llm_cases,
              "kills": kills_cases, "concurrent": concurrent_cases}


# --- running --------------------------------------------------------------------------------

GOOD_LAW = ('law pick "Doing at a bush gives a berry."\n  when action == do and material(ahead) '
            '== bush\n  then player.inventory.berry += 1\n')


def llm_server():
    """A chat-completions endpoint on 127.0.0.1 answering by the first part of the path (one of
    LLM_ANSWERS, spaces as _): its base URL, e.g. http://127.0.0.1:PORT."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    def body(content=GOOD_LAW, change=None):
        answer = {"id": "x", "object": "chat.completion", "created": 0, "model": "fake",
                  "choices": [{"index": 0, "finish_reason": "stop",
                               "message": {"role": "assistant", "content": content}}],
                  "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
        if change:
            change(answer)
        return json.dumps(answer).encode()

    bomb = BOMB_LAWS["product of 20 two-term sums"]
    answers = {
        "not_JSON": (200, b"{not json", {}),
        "content_an_int": (200, body(change=lambda a: a["choices"][0]["message"].update(
            content=5)), {}),
        "content_a_list": (200, body(change=lambda a: a["choices"][0]["message"].update(
            content=["law", 1])), {}),
        "message_a_string": (200, body(change=lambda a: a["choices"][0].update(message="x")), {}),
        "usage_not_numbers": (200, body(change=lambda a: a.update(
            usage={"prompt_tokens": "many", "completion_tokens": [1]})), {}),
        "dripping": (200, body(), {}),
        "retry-after": (429, b'{"error": {"message": "later"}}', {"Retry-After": "100000"}),
        "a_500_each_time": (500, b'{"error": {"message": "down"}}', {}),
        "empty_choices": (200, body(change=lambda a: a.update(choices=[])), {}),
        "a_sympy_bomb_law": (200, body(bomb), {}),
        "a_law_of_100000_characters": (200, body("law " + "x" * 100_000 + "\n  when action == "
                                                 "do\n  then player.facing = left\n"), {}),
        "a_400": (400, b'{"error": {"message": "bad"}}', {}),
        "prose": (200, body("Sure! The berry comes from the bush."), {}),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            name = self.path.strip("/").split("/")[0]
            status, data, headers = answers.get(name, (404, b"{}", {}))
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if name == "dripping":   # one byte every 0.1 s: no gap timeout ever trips
                    for byte in data[:200]:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.1)
                else:
                    self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


class Hang(BaseException):
    """Raised by SIGALRM inside a case (BaseException: `except Exception` must not eat it)."""


def run_case(case: dict, timeout: float, llm: str = "") -> dict:
    """Run one case in this process; its outcome and the last line of any exception."""
    from lawsmith.cli import main
    before = {name: _digest(pathlib.Path(case["dir"]) / name) for name in case["survive"]}
    argv = [a.replace("{llm}", llm) for a in case["argv"]]
    fsize = case.get("fsize")
    out, err = io.StringIO(), io.StringIO()
    outcome, detail, began = None, "", time.perf_counter()

    def alarm(signum, frame):
        raise Hang()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    cwd = os.getcwd()
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    try:
        os.chdir(case["dir"])
        if fsize is not None:   # a full disk, as the writer sees it: EFBIG, not SIGXFSZ
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, limits[1]))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except SystemExit as exit_:   # argparse: bad usage
        code = exit_.code if isinstance(exit_.code, int) else 2
    except Hang:
        outcome, detail = "hang", f"still running after {timeout:.0f} s"
    except MemoryError:
        outcome, detail = "memory", "MemoryError"
    except BaseException as error:  # noqa: BLE001 - this is what the harness counts
        frames = traceback.extract_tb(error.__traceback__)
        place = f"{pathlib.Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        outcome, detail = "traceback", f"{type(error).__name__}: {str(error)[:160]} ({place})"
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        os.chdir(cwd)
    if outcome is None:
        outcome = "ok" if code == 0 else "refused" if code in (1, 2) else "traceback"
        detail = err.getvalue().strip().splitlines()[-1][:200] if err.getvalue().strip() else ""
        if outcome == "refused" and "Traceback" in err.getvalue():
            outcome = "traceback"
        if outcome == "ok" and case.get("expect") == "refused":
            outcome, detail = "accepted", "exit 0: this input must be refused"
        if code != 0:
            after = {name: _digest(pathlib.Path(case["dir"]) / name) for name in case["survive"]}
            lost = [name for name in before if before[name] != after[name]]
            if lost:
                outcome, detail = "loss", f"changed or removed: {', '.join(lost)}"
    return {"id": case["id"], "outcome": outcome, "detail": detail,
            "seconds": round(time.perf_counter() - began, 2)}


def _digest(path: pathlib.Path) -> str | None:
    import hashlib
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def worker(cases_file: str, results_file: str, timeout: float, memory_gib: float) -> None:
    """Run the cases in `cases_file` that `results_file` has no line for yet, appending one result
    line each (flushed, so a parent sees how far a dying worker got)."""
    limit = int(memory_gib * 2 ** 30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import torch
    torch.set_num_threads(1)
    cases = json.loads(pathlib.Path(cases_file).read_text())
    done = {record["id"] for record in map(json.loads,
                                           pathlib.Path(results_file).read_text().splitlines())
            if "outcome" in record}
    llm = llm_server()
    with open(results_file, "a") as results:
        for case in cases:
            if case["id"] in done:
                continue
            results.write(json.dumps({"id": case["id"], "started": True}) + "\n")
            results.flush()
            results.write(json.dumps(run_case(case, timeout, llm)) + "\n")
            results.flush()


def run_all(cases: list[dict], jobs: int, timeout: float, memory_gib: float,
            scratch: pathlib.Path) -> list[dict]:
    """Each job's share of the cases through a worker, restarted after a case that killed it."""
    shares = [cases[j::jobs] for j in range(jobs)]
    files = []
    for j, share in enumerate(shares):
        (scratch / f"cases{j}.json").write_text(json.dumps(share))
        (scratch / f"results{j}.jsonl").write_text("")
        files.append((scratch / f"cases{j}.json", scratch / f"results{j}.jsonl", share))
    running = {}   # job -> (worker, result lines seen, when they last grew)

    def start(j):
        cases_file, results_file, _ = files[j]
        process = subprocess.Popen([sys.executable, __file__, "--worker", str(cases_file),
                                    str(results_file), str(timeout), str(memory_gib)],
                                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        running[j] = (process, -1, time.monotonic())

    for j in range(jobs):
        start(j)
    while running:
        time.sleep(0.5)
        for j in list(running):
            process, seen, since = running[j]
            _, results_file, share = files[j]
            lines = [json.loads(x) for x in results_file.read_text().splitlines()]
            if len(lines) != seen:
                running[j] = (process, len(lines), time.monotonic())
            finished = {x["id"] for x in lines if "outcome" in x}
            started = [x["id"] for x in lines if x.get("started") and x["id"] not in finished]
            # SIGALRM ends a slow case inside the worker; this catches a worker stuck in C code.
            stuck = bool(started) and time.monotonic() - running[j][2] > timeout + 60
            if process.poll() is None and not stuck:
                continue
            if stuck:
                process.kill()
                process.wait()
            if started:   # the worker died (or hung) inside this case
                outcome = "hang" if stuck else "memory"
                detail = ("the worker stopped answering" if stuck else
                          f"the worker died (exit {process.returncode})")
                with open(results_file, "a") as handle:
                    handle.write(json.dumps({"id": started[0], "outcome": outcome,
                                             "detail": detail, "seconds": None}) + "\n")
                finished.add(started[0])
            del running[j]
            if len(finished) < len(share):
                start(j)
    results = {}
    for _, results_file, _ in files:
        for line in results_file.read_text().splitlines():
            record = json.loads(line)
            if "outcome" in record:
                results[record["id"]] = record
    return [{**case, **results.get(case["id"], {"outcome": "memory", "detail": "no result"})}
            for case in cases]


# --- cases that need processes of their own -------------------------------------------------

KILL_AT_RENAME = """
import os, sys
real, count = os.rename, [0]
def rename(*args, **kwargs):
    count[0] += 1
    if count[0] == {n}:
        os._exit(9)   # a kill right here: no finally, no clean-up
    return real(*args, **kwargs)
os.rename = rename
from lawsmith.cli import main
sys.exit(main({argv!r}))
"""


def lawsmith_process(argv: list[str], cwd: str, timeout: float, kill_at: int | None = None):
    program = ([sys.executable, "-c", KILL_AT_RENAME.format(n=kill_at, argv=argv)]
               if kill_at is not None else [sys.executable, "-m", "lawsmith", *argv])
    return subprocess.Popen(program, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def run_parent_case(case: dict, timeout: float) -> dict:
    """A kills or concurrent case (see kills_cases, concurrent_cases)."""
    began, where = time.perf_counter(), case["dir"]
    argv = case["argv"]
    if case["category"] == "concurrent":
        first, second = (lawsmith_process(argv, where, timeout) for _ in range(2))
        outputs = [p.communicate(timeout=timeout * 4) for p in (first, second)]
        codes = sorted(p.returncode for p in (first, second))
        errors = "".join(err for _, err in outputs)
        if "Traceback" in errors:
            outcome, detail = "traceback", errors.strip().splitlines()[-1][:200]
        elif codes == [0, 2] and "another lawsmith process" in errors:
            outcome, detail = "refused", "the second run was refused: " + errors.strip()[-120:]
        elif codes == [0, 2]:
            outcome, detail = "refused", errors.strip().splitlines()[-1][:200]
        else:
            outcome, detail = "loss", f"exit codes {codes}: both wrote the folder"
        return {"id": case["id"], "outcome": outcome, "detail": detail,
                "seconds": round(time.perf_counter() - began, 2)}
    kind, value = case["kill"]
    case_dir = pathlib.Path(where)
    reference_dir = case_dir.with_name(case_dir.name + ".reference")
    shutil.copytree(case_dir, reference_dir)   # the same command, not interrupted
    subprocess.run([sys.executable, "-m", "lawsmith", *argv], cwd=reference_dir,
                   capture_output=True, timeout=timeout * 4)
    before = {n: _digest(case_dir / n) for n in case["targets"]}
    reference = {n: _digest(reference_dir / n) for n in case["targets"]}
    process = lawsmith_process(argv, where, timeout, value if kind == "rename" else None)
    try:
        process.communicate(timeout=value if kind == "seconds" else timeout * 4)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
    stderr = ""
    if case["resume"]:
        resumed = subprocess.run([sys.executable, "-m", "lawsmith", *argv, "--resume"],
                                 cwd=where, capture_output=True, text=True, timeout=timeout * 4)
        stderr = resumed.stderr if resumed.returncode else ""
    else:   # any later command that loads the folder finishes an interrupted swap
        checked = subprocess.run([sys.executable, "-m", "lawsmith", "show", case["targets"][0]
                                  .split("/")[0]], cwd=where, capture_output=True, text=True,
                                 timeout=timeout * 4) if case["targets"][0].endswith(
                                     ("laws.law", "params.json")) else None
        stderr = checked.stderr if checked is not None and checked.returncode else ""
    after = {n: _digest(case_dir / n) for n in case["targets"]}
    leftovers = sorted(str(p.relative_to(case_dir)) for p in case_dir.rglob(".*")
                       if not p.name.endswith(".lock") and p.name != ".keep")
    if "Traceback" in stderr:
        outcome, detail = "traceback", stderr.strip().splitlines()[-1][:200]
    elif stderr:
        outcome, detail = "loss", f"after the kill: {stderr.strip()[-200:]}"
    elif leftovers:
        outcome, detail = "loss", f"left behind: {', '.join(leftovers)}"
    elif case["resume"] and after != reference:
        outcome, detail = "loss", "resumed to a different model than the uninterrupted run"
    elif not case["resume"] and after not in (before, reference):
        changed = [n for n in after if after[n] not in (before[n], reference[n])]
        outcome, detail = "loss", f"neither the old nor the new: {', '.join(changed)}"
    else:
        outcome, detail = "ok", (f"killed (exit {process.returncode}); "
                                 + ("resumed to the same model" if case["resume"] else
                                    "old" if after == before else "new") )
    return {"id": case["id"], "outcome": outcome, "detail": detail,
            "seconds": round(time.perf_counter() - began, 2)}


def run_parents(cases: list[dict], jobs: int, timeout: float, base: pathlib.Path) -> list[dict]:
    from concurrent.futures import ThreadPoolExecutor
    if not cases:
        return []
    with ThreadPoolExecutor(jobs) as pool:
        results = list(pool.map(lambda c: run_parent_case(c, timeout), cases))
    return [{**case, **result} for case, result in zip(cases, results)]


def table(results: list[dict]) -> str:
    outcomes = ("ok", "refused", "traceback", "hang", "memory", "loss", "accepted")
    counts = collections.defaultdict(collections.Counter)
    for r in results:
        counts[r["category"]][r["outcome"]] += 1
    rows = [f"{'category':<10}" + "".join(f"{o:>11}" for o in outcomes) + f"{'cases':>8}"]
    for category in [*CATEGORIES, "all"]:
        c = (sum(counts.values(), collections.Counter()) if category == "all"
             else counts[category])
        rows.append(f"{category:<10}" + "".join(f"{c[o]:>11}" for o in outcomes)
                    + f"{sum(c.values()):>8}")
    bad = [r for r in results if r["outcome"] not in CLEAN]
    rows += ["", f"not clean: {len(bad)}"]
    for r in bad:
        rows.append(f"  [{r['id']:04d} {r['category']}/{r['outcome']}] {r['what'][:90]}\n"
                    f"      lawsmith {' '.join(a[:40] for a in r['argv'])}\n      {r['detail']}")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=2100,
                        help="cases to make (2,100; a few mutations that do not apply are skipped)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per case (30)")
    parser.add_argument("--memory-gib", type=float, default=8.0,
                        help="address-space limit of a worker (8 GiB)")
    parser.add_argument("--category", default=",".join(CATEGORIES))
    parser.add_argument("-o", "--output", help="also write the table here")
    parser.add_argument("--keep", help="keep the cases' files in this folder")
    args = parser.parse_args()
    from lawsmith.laws.folder import provenance
    made = provenance()
    chosen = [c for c in args.category.split(",") if c]
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = pathlib.Path(args.keep or scratch)
        base = scratch / "base"
        make_base(base)
        cases = Cases(scratch / "cases", base)
        rng = random.Random(args.seed)
        for category in chosen:
            if category in FIXED:
                GENERATORS[category](cases, rng, 0)
        rest = max(args.cases - len(cases.cases), 0)
        total = sum(SHARE[c] for c in chosen if c not in FIXED)
        for category in chosen:
            if category not in FIXED:
                GENERATORS[category](cases, rng, max(1, round(rest * SHARE[category] / total)))
        print(f"{len(cases.cases)} cases; running with {args.jobs} workers", flush=True)
        inside = [c for c in cases.cases if c["category"] not in PARENT]
        results = run_all(inside, args.jobs, args.timeout, args.memory_gib, scratch)
        results += run_parents([c for c in cases.cases if c["category"] in PARENT], args.jobs,
                               args.timeout, base)
        results.sort(key=lambda r: r["id"])
    text = (f"# experiments/fuzz_inputs.py: {len(results)} hostile runs against the CLI\n\n"
            f"Made by `{made['command']}` at commit {made['commit']}; "
            f"{time.perf_counter() - began:.0f} s on {args.jobs} workers, timeout "
            f"{args.timeout:.0f} s a case, {args.memory_gib:g} GiB address space a worker.\n\n"
            + table(results) + "\n")
    print(text)
    if args.output:
        out = pathlib.Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]))
    else:
        sys.exit(main())
