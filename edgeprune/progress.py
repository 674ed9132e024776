"""Progress bars (rich) that the library reports through; silent under --quiet or when not a terminal."""
from __future__ import annotations

import contextlib
import sys
from typing import Any, Iterator, Protocol


class Task(Protocol):
    def advance(self, steps: int = 1, **fields: Any) -> None: ...


class _NullTask:
    def advance(self, steps: int = 1, **fields: Any) -> None:
        pass


class Progress:
    """One object per command; stages open tasks on it. `enabled=False` makes every task a no-op."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._quiet = not enabled

    @contextlib.contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Task]:
        if not self.enabled:
            yield _NullTask()
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("{task.fields[info]}"))
        with RichProgress(*columns, transient=False) as bar:
            handle = bar.add_task(description, total=total, info="")

            class _Task:
                def advance(self, steps: int = 1, **fields: Any) -> None:
                    info = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
                    bar.update(handle, advance=steps, **({"info": info} if fields else {}))

            yield _Task()

    def log(self, message: str) -> None:
        """A status line on stderr (stdout is kept for --json)."""
        if not self._quiet:
            print(message, file=sys.stderr, flush=True)


QUIET = Progress(enabled=False)
