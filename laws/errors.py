"""The one exception type of `laws/`: a model folder that cannot be read or does not fit its data."""

from __future__ import annotations

from lawsmith.envs.errors import shortened


class ModelError(Exception):
    """A bad model folder or a model/data mismatch; `path` and `field` say where."""

    def __init__(self, message: str, *, path: str | None = None, field: str | None = None):
        # A value echoed from hostile input (a 100 MB name) is cut, as TraceError cuts it.
        self.message, self.path, self.field = shortened(message), path, field
        where = ": ".join(part for part in (path, field) if part)
        super().__init__(f"{where}: {message}" if where else message)
