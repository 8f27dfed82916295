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
    """The rich bar: runs done of all, elapsed, and RunsEta's ETA."""

    def __init__(self, total: int, done: int, what: str, clock: Callable[[], float] = time.monotonic,
                 console=None) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, \
            TimeElapsedColumn
        from rich.text import Text

        self.eta = RunsEta(total, done, clock)
        eta = self.eta

        class _EtaColumn(ProgressColumn):
            def render(self, task) -> Text:  # noqa: ARG002 - the ETA is the sweep's, not rich's
                return Text(eta.text(), style="progress.remaining")

        self._p = Progress(TextColumn("[bold]sweep[/] " + what), BarColumn(), MofNCompleteColumn(),
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
    by one through a queue (``queue``, handed to each task), so the bar and its ETA
    move with every run, not once per task (a task is a whole symbol's ~55 runs: on
    two workers the first news came a fifth of the way in). Only for a local
    process pool (a manager process serves the queue); elsewhere ``queue`` is None
    and the bar moves per task."""

    def __init__(self, executor) -> None:
        from concurrent.futures import ProcessPoolExecutor

        self._manager = None
        self.queue = None
        if isinstance(executor, ProcessPoolExecutor):
            import multiprocessing

            self._manager = multiprocessing.Manager()
            self.queue = self._manager.Queue()

    def drain(self) -> int:
        """Runs told since the last call."""
        if self.queue is None:
            return 0
        import queue as _queue

        n = 0
        while True:
            try:
                n += self.queue.get_nowait()
            except _queue.Empty:
                return n

    def close(self) -> None:
        if self._manager is not None:
            self._manager.shutdown()
            self._manager = None
            self.queue = None
