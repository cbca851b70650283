"""A clean install: `pip install .` adds only the `lawsmith` package (and its metadata) to
site-packages, the user's folders land under that one namespace with their data files, and no
library module imports `lawsmith.experiments`."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
FOLDERS = ("dsl", "laws", "synth", "envs", "experiments", "lawsmith")
LIBRARY = ("lawsmith.dsl", "lawsmith.laws", "lawsmith.synth", "lawsmith.envs")


def _source_copy(target: pathlib.Path) -> pathlib.Path:
    """The files a build reads, copied, so that building leaves no build/ or egg-info behind in
    the checkout."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, target / name)
    for name in FOLDERS:
        shutil.copytree(ROOT / name, target / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    return target


def test_pip_install_adds_only_lawsmith(tmp_path):
    source = _source_copy(tmp_path / "source")
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-compile", "--target", str(site), str(source)],
                   check=True, timeout=300, capture_output=True)
    installed = {path.name for path in site.iterdir()} - {"bin"}   # bin: the console script
    assert installed == {"lawsmith", "lawsmith-0.1.0.dist-info"}, installed
    package = site / "lawsmith"
    assert {"dsl", "laws", "synth", "envs", "experiments"} <= {p.name for p in package.iterdir()}
    assert (package / "dsl" / "grammar.lark").is_file()
    assert list((package / "experiments" / "data").glob("*.json"))
    assert (site / "bin" / "lawsmith").is_file()
    # The installed copy works on its own, from a folder that is not the checkout.
    program = ("import lawsmith.dsl, lawsmith.cli, sys\n"
               "assert lawsmith.dsl.__file__.startswith(sys.argv[1]), lawsmith.dsl.__file__\n"
               "law = 'law grow\\n  when action == noop\\n  then player.health = player.health + 1\\n'\n"
               "print(len(lawsmith.dsl.parse(law).laws))\n"
               "sys.exit(lawsmith.cli.main(['fmt', '--help']))\n")
    environment = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", program, str(site)], cwd=tmp_path,
                          env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "1"


def test_the_library_never_imports_experiments(tmp_path):
    """Every module of the library and the CLI imported in a fresh process, outside the checkout
    (so a leftover top-level `import dsl` would fail): none pulls in `lawsmith.experiments`."""
    program = f"""
import importlib, pkgutil, sys
import lawsmith
names = [m.name for m in pkgutil.iter_modules(lawsmith.__path__, 'lawsmith.')]
for package in {LIBRARY!r}:
    module = importlib.import_module(package)
    names += [m.name for m in pkgutil.walk_packages(module.__path__, package + '.')]
for name in names:
    if name != 'lawsmith.__main__':
        importlib.import_module(name)
bad = sorted(m for m in sys.modules if m.split('.')[:2] == ['lawsmith', 'experiments'])
print(len(names), bad)
"""
    done = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    count, bad = done.stdout.split(" ", 1)
    assert int(count) > 40
    assert bad.strip() == "[]"


def test_the_library_loads_no_module_of_the_cli(tmp_path):
    """`lawsmith/`'s own modules (the CLI, lawsmith.gym) are the top layer: importing every
    library package loads none of them (only the package's registration in __init__)."""
    program = f"""
import importlib, sys
for package in {LIBRARY!r}:
    importlib.import_module(package)
import lawsmith.laws.model, lawsmith.synth.learn, lawsmith.envs.trace
own = sorted(m for m in sys.modules if m.startswith('lawsmith.')
             and m.split('.')[1] not in {{p.split('.')[1] for p in {LIBRARY!r}}})
print(own)
"""
    done = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
