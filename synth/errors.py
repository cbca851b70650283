"""The one exception of the learner: `ProposerError`."""

from __future__ import annotations


class ProposerError(Exception):
    """A proposer could not produce candidates: an endpoint unreachable after its retries, a server
    answering with an error, or a grammar that cannot be exported. The message says which and why."""
