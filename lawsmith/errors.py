"""Errors of the command line itself."""


class UsageError(Exception):
    """Arguments that argparse accepts but that do not fit together (exit code 2)."""
