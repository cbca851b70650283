"""Hostile input against every CLI verb: mutated trace headers and lines, model folders, rules files,
law texts built to exhaust the tool chain, and argument sweeps; each run classified.

    python experiments/fuzz_inputs.py [--cases 2000] [--seed 0] [--jobs 2] [--timeout 30]
                                      [--category header,line,...] [-o reports/fuzz/benchmark.txt]

Every case is one `lawsmith VERB ...` command on files written for it (from a small valid toy trace,
a 30-step Crafter trace and model folders fitted on them, made first). The commands run inside
worker processes (`lawsmith.cli.main`, in-process, many cases per worker) and each ends as one of:

- `ok`: exit 0; `refused`: exit 1 or 2 with the message on stderr and no traceback;
- `traceback`: an exception escaped the CLI (the defect this counts);
- `hang`: still running after `--timeout` seconds (SIGALRM in the worker; a worker that stops
  answering is killed and its case counted here too);
- `memory`: MemoryError, or the worker died (the kernel's OOM killer, a fatal signal);
- `loss`: a file the case said must survive a refused command changed or vanished.

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
CATEGORIES = ("header", "line", "model", "rules", "laws", "args", "output")
SHARE = {"header": 0.2, "line": 0.15, "model": 0.2, "rules": 0.05, "laws": 0.05, "args": 0.25,
         "output": 0.1}
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
        self.folder, self.base, self.cases = folder, base, []

    def add(self, category: str, what: str, argv: list[str], files: dict[str, str | bytes],
            copies: dict[str, str] = (), survive: tuple[str, ...] = ()) -> None:
        """A case: `files` written (text or bytes) and `copies` (name -> base file or folder)
        copied into its folder, then `lawsmith argv` run there; `survive`: paths whose bytes
        must be the same afterwards when the command does not succeed."""
        number = len(self.cases)
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
                           "dir": str(where), "survive": list(survive)})


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
        ("fmt --write a law file on a read-only filesystem", ["fmt", "--write",
                                                             "/sys/kernel/lawsmith.law"], {}, ()),
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


GENERATORS = {"header": header_cases, "line": line_cases, "model": model_cases,
              "rules": rules_cases, "laws": laws_cases, "args": args_cases,
              "output": output_cases}


# --- running --------------------------------------------------------------------------------

class Hang(BaseException):
    """Raised by SIGALRM inside a case (BaseException: `except Exception` must not eat it)."""


def run_case(case: dict, timeout: float) -> dict:
    """Run one case in this process; its outcome and the last line of any exception."""
    from lawsmith.cli import main
    before = {name: _digest(pathlib.Path(case["dir"]) / name) for name in case["survive"]}
    out, err = io.StringIO(), io.StringIO()
    outcome, detail, began = None, "", time.perf_counter()

    def alarm(signum, frame):
        raise Hang()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    cwd = os.getcwd()
    try:
        os.chdir(case["dir"])
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(case["argv"])
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
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        os.chdir(cwd)
    if outcome is None:
        outcome = "ok" if code == 0 else "refused" if code in (1, 2) else "traceback"
        detail = err.getvalue().strip().splitlines()[-1][:200] if err.getvalue().strip() else ""
        if outcome == "refused" and "Traceback" in err.getvalue():
            outcome = "traceback"
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
    done = {json.loads(line)["id"] for line in pathlib.Path(results_file).read_text().splitlines()}
    with open(results_file, "a") as results:
        for case in cases:
            if case["id"] in done:
                continue
            results.write(json.dumps({"id": case["id"], "started": True}) + "\n")
            results.flush()
            results.write(json.dumps(run_case(case, timeout)) + "\n")
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


def table(results: list[dict]) -> str:
    outcomes = ("ok", "refused", "traceback", "hang", "memory", "loss")
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
    parser.add_argument("--cases", type=int, default=2000)
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
        total = sum(SHARE[c] for c in chosen)
        for category in chosen:
            GENERATORS[category](cases, rng, max(1, round(args.cases * SHARE[category] / total)))
        print(f"{len(cases.cases)} cases; running with {args.jobs} workers", flush=True)
        results = run_all(cases.cases, args.jobs, args.timeout, args.memory_gib, scratch)
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
