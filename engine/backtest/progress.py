"""A sweep's progress bar and its ETA, counted in (combination, symbol) runs.

Why not rich's own time-remaining column: it estimates the speed from the
updates of the last 30 seconds, and a sweep's runs finish in bursts (a task is a
whole symbol's combinations), so two bursts a few seconds apart read as a burst
per few seconds and the ETA came out several times too short; runs taken from a
resumed results file would count as done in no time as well. Here the rate is
the runs finished by this process over the time it took (``RunsEta``), and the
ETA counts down between bursts on the clock it is given (tests give it a fake one).
"""
from __future__ import annotations

import os
import tempfile
import time
from typing import Callable, Optional


class RunsEta:
    """Seconds left: runs still to do / (runs done since the start / time since the
    start), as of the last finished runs, less the time since then (never below 0).
    None until this process has finished a run."""

    def __init__(self, total: int, done: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.done = done
        self._done_at_start = done
        self._clock = clock
        self._started = clock()
        self._last = self._started

    def update(self, done: int) -> None:
        self.done = done
        self._last = self._clock()

    def remaining_s(self) -> Optional[float]:
        ran = self.done - self._done_at_start
        if self.done >= self.total:
            return 0.0
        if ran <= 0 or self._last <= self._started:
            return None
        per_run = (self._last - self._started) / ran
        return max(0.0, (self.total - self.done) * per_run - (self._clock() - self._last))

    def text(self) -> str:
        left = self.remaining_s()
        if left is None:
            return "-:--:--"
        s = int(round(left))
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class SweepProgress:
    """The rich bar: runs done of all, elapsed, and RunsEta's ETA (``title``: "sweep",
    or "verify" for the Engine's re-runs of the top results, counted in symbols)."""

    def __init__(self, total: int, done: int, what: str, clock: Callable[[], float] = time.monotonic,
                 console=None, title: str = "sweep") -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, \
            TimeElapsedColumn
        from rich.text import Text

        self.eta = RunsEta(total, done, clock)
        eta = self.eta

        class _EtaColumn(ProgressColumn):
            def render(self, task) -> Text:  # noqa: ARG002 - the ETA is the sweep's, not rich's
                return Text(eta.text(), style="progress.remaining")

        self._p = Progress(TextColumn(f"[bold]{title}[/] " + what), BarColumn(), MofNCompleteColumn(),
                           TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("ETA"), _EtaColumn(),
                           transient=False, console=console)
        self._task = self._p.add_task("runs", total=total, completed=done)
        self._p.start()

    def update(self, done: int) -> None:
        self.eta.update(done)
        self._p.update(self._task, completed=done)

    def stop(self) -> None:
        self._p.stop()


class RunTicker:
    """Runs finished inside tasks that are still working, told by the workers one
    by one, so the bar and its ETA move with every run, not once per task (a task
    is a whole symbol's ~55 runs: on two workers the first news came a fifth of the
    way in). The channel is a file each run appends a byte to (``channel``, its
    path, handed to each task): no server process to stop on Ctrl-C, and a worker
    still running after the sweep stopped finds it gone and carries on. Only for a
    local process pool; elsewhere ``channel`` is None and the bar moves per task."""

    def __init__(self, executor) -> None:
        from concurrent.futures import ProcessPoolExecutor

        self.channel: Optional[str] = None
        self._seen = 0
        if isinstance(executor, ProcessPoolExecutor):
            fd, self.channel = tempfile.mkstemp(prefix="cockpit-sweep-", suffix=".runs")
            os.close(fd)

    def drain(self) -> int:
        """Runs told since the last call."""
        if self.channel is None:
            return 0
        try:
            size = os.path.getsize(self.channel)
        except OSError:
            return 0
        n, self._seen = size - self._seen, size
        return n

    def close(self) -> None:
        if self.channel is not None:
            try:
                os.unlink(self.channel)
            except OSError:
                pass
            self.channel = None


def tell(channel: Optional[str]) -> None:
    """One run finished (a worker's side of RunTicker). Best effort: a channel gone
    (the sweep stopped) is not re-created and never fails the run."""
    if channel is None:
        return
    try:
        fd = os.open(channel, os.O_WRONLY | os.O_APPEND)
    except OSError:
        return
    try:
        os.write(fd, b".")
    except OSError:
        pass
    finally:
        os.close(fd)
