"""A sample of experiments/fuzz_inputs.py in the suite: cases of every category (the issue's
listed ones among them) run through the harness, each ending clean (a result or a one-line
refusal; kills resumed to the uninterrupted run's model; concurrent writers refused)."""

from __future__ import annotations

import random

import pytest

from lawsmith.experiments import fuzz_inputs as fuzz


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    base = folder / "base"
    fuzz.make_base(base)
    made = fuzz.Cases(folder / "cases", base)
    rng = random.Random(0)
    fuzz.listed_cases(made, rng, 0)
    listed = made.cases[::9]   # a spread of the listed cases
    made.cases = []
    for category in fuzz.CATEGORIES:
        if category != "listed":
            fuzz.GENERATORS[category](made, rng, 1)
    return base, listed + made.cases


def test_every_category_is_sampled(cases):
    _, sample = cases
    assert {c["category"] for c in sample} == set(fuzz.CATEGORIES)


def test_the_sample_ends_clean(cases):
    base, sample = cases
    llm = fuzz.llm_server()
    inside = [c for c in sample if c["category"] not in fuzz.PARENT]
    results = [{**c, **fuzz.run_case(c, timeout=60, llm=llm)} for c in inside]
    results += fuzz.run_parents([c for c in sample if c["category"] in fuzz.PARENT], 2, 60, base)
    bad = [r for r in results if r["outcome"] not in fuzz.CLEAN]
    assert not bad, fuzz.table(results)
