"""The one exception type of `envs/`: bad trace files, states and rules files."""

from __future__ import annotations


# The longest message an error carries: a value echoed from hostile input (a 100 MB action
# name) is cut, keeping its start and end and saying how long it was.
MAX_MESSAGE = 600


def shortened(text: str, limit: int = MAX_MESSAGE) -> str:
    """`text`, or its start and end with the number of characters left out."""
    if len(text) <= limit:
        return text
    keep = limit // 2
    return f"{text[:keep]} ... ({len(text) - 2 * keep} characters left out) ... {text[-keep:]}"


class TraceError(Exception):
    """Bad input to envs/, located as precisely as the input allows.

    `path` is the file (or None for in-memory data), `line` its 1-based line, `field` a dotted path
    into the JSON or YAML (`state.objects[3].pos`), `message` what was expected.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None):
        self.message = shortened(message)
        self.path = path
        self.line = line
        self.field = field
        super().__init__(self.__str__())

    def located(self, *, path: str | None = None, line: int | None = None,
                prefix: str | None = None) -> "TraceError":
        """The same error with a file, line or field prefix filled in (existing values win)."""
        field = self.field
        if prefix:
            field = prefix if not field else f"{prefix}.{field}"
        return TraceError(self.message, path=self.path or path,
                          line=self.line if self.line is not None else line, field=field)

    def __str__(self) -> str:
        where = ""
        if self.path:
            where = self.path + (f":{self.line}" if self.line is not None else "")
        elif self.line is not None:
            where = f"line {self.line}"
        if self.field:
            where = f"{where}: {self.field}" if where else self.field
        return f"{where}: {self.message}" if where else self.message
