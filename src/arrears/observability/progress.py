"""Progress of a long command: a bar on a terminal (tqdm), plain lines otherwise (a log file,
cron's mail), nothing when events are logged as JSON lines (they say it already)."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import IO, Any

# seconds between plain lines of a running count: a command done sooner prints none
PLAIN_EVERY = 5.0


class Progress:
    """Counts `unit`s under a `desc`; `label` names what is being worked (a file, a table)."""

    def __init__(
        self,
        desc: str,
        *,
        unit: str,
        total: int | None = None,
        stream: IO[str] | None = None,
        bar: bool | None = None,
        quiet: bool = False,
        every: float = PLAIN_EVERY,
    ) -> None:
        self.desc, self.unit, self.total = desc, unit, total
        self.stream = stream or sys.stderr
        self.quiet, self.every = quiet, every
        self.lines = 0
        self.count = 0
        self.label: str | None = None
        self._bar: Any = None
        self._said = time.monotonic()
        if not quiet and (self.stream.isatty() if bar is None else bar):
            from tqdm import tqdm

            self._bar = tqdm(desc=desc, unit=unit, total=total, file=self.stream)

    def update(self, n: int, label: str | None = None) -> None:
        self.count += n
        if label is not None and label != self.label:
            self.label = label
            if self._bar is not None:
                self._bar.set_postfix_str(label)
        if self._bar is not None:
            self._bar.update(n)
        elif time.monotonic() - self._said >= self.every:
            self._line()

    def on_batch(self, label: str, n: int) -> None:
        """A callback for services that report batches as (what, how many)."""
        self.update(n, label)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.lines:  # a line was said: say how it ended
            self._line(done=True)

    def _line(self, done: bool = False) -> None:
        self._said = time.monotonic()
        if self.quiet:
            return
        self.lines += 1
        where = f" {self.label}" if self.label and not done else ""
        of = f"/{self.total}" if self.total is not None else ""
        state = "done" if done else "…"
        self.stream.write(f"{self.desc}{where}: {self.count}{of} {self.unit} {state}\n")
        self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None or kind is None:
            self.close()


def progress(desc: str, *, unit: str, total: int | None = None) -> Progress:
    """The command's progress: quiet while events are logged as JSON lines."""
    from arrears.observability.logs import json_active

    return Progress(desc, unit=unit, total=total, quiet=json_active())
