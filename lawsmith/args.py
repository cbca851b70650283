"""Argument types for the command line: a bad value is a one-line usage error (exit 2) from
argparse itself, before any work starts."""

from __future__ import annotations

import argparse
import math


# The largest count a command takes (steps, rounds, transitions, rollouts): beyond it a run
# would not end in any useful time, so it is refused as a typo rather than started.
MAX_COUNT = 10_000_000
# The largest seed or index (what numpy and torch generators take).
MAX_INDEX = 2 ** 31 - 1


def positive_int(text: str) -> int:
    value = _int(text)
    if not 0 < value <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"expected a positive integer up to {MAX_COUNT:,}, "
                                         f"got {text[:40]!r}")
    return value


def nonnegative_int(text: str) -> int:
    value = _int(text)
    if not 0 <= value <= MAX_INDEX:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to {MAX_INDEX:,}, got "
                                         f"{text[:40]!r}")
    return value


def positive_float(text: str) -> float:
    value = _float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def share(text: str) -> float:
    """A share in [0, 1)."""
    value = _float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a share in [0, 1), got {text!r}")
    return value


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None


def device(text: str) -> str:
    """A torch device present on this machine (cpu, or cuda where there is one)."""
    from lawsmith.laws.errors import ModelError
    from lawsmith.laws.simulator import resolve_device
    try:
        resolve_device(text)
    except ModelError as error:
        raise argparse.ArgumentTypeError(error.message) from None
    return text


def _int(text: str) -> int:
    if len(text) > 20:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text[:20]!r}...")
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
