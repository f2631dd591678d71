"""A run's end (summaries, heatmaps, artifacts, figures, ending the MLflow run, the sweep job's
outcome) beside the next job: one writer thread per process, off the training's critical path.

Only inside `deferred()` (a sweep chunk, see hydra_plugins/actlab_joblib_launcher) does a run's end
go to the writer; everywhere else it runs inline, as before. The guarantees stay those of an inline
end: the MLflow run is FINISHED only once everything it wrote has arrived (the end's last write),
and its outcome file is written after that; a killed process leaves the run RUNNING (ended KILLED by
the sweep's `mark_stale_runs`) and no outcome (recorded as killed). At most one end waits at a
time (a new one first waits for the one before), and `deferred()` drains the writer on leaving.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

_STATE = threading.local()  # `deferred` is per thread: only the sweep chunk's thread defers
_WRITER: list[ThreadPoolExecutor] = []
_PENDING: list[Future] = []


class Pending:
    """A run's end, to be done on the writer thread once `then` says who gets its outcome."""

    def __init__(self, end: Callable[[], dict[str, Any]], when_failed: Callable[[BaseException], dict[str, Any]]):
        self.end, self.when_failed = end, when_failed

    def then(self, done: Callable[[dict[str, Any]], None]) -> None:
        """Queue the end; `done` gets its summary, or the failure's outcome (the run is ended FAILED)."""
        def work() -> None:
            try:
                outcome = self.end()
            except BaseException as error:
                outcome = self.when_failed(error)
            done(outcome)

        if not _WRITER:
            _WRITER.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="run-end"))
        _PENDING.append(_WRITER[0].submit(work))


def is_deferred() -> bool:
    return getattr(_STATE, "deferred", False)


@contextlib.contextmanager
def deferred():
    """Runs ended in this block end on the writer thread; leaving the block waits for every end."""
    _STATE.deferred = True
    try:
        yield
    finally:
        _STATE.deferred = False
        drain()


def later(end: Callable[[], dict[str, Any]], when_failed: Callable[[BaseException], dict[str, Any]]) -> dict[str, Any] | Pending:
    """`end()` now (outside `deferred`), or a `Pending` end for the writer thread."""
    if not is_deferred():
        return end()
    drain()  # at most one end in flight: the one before is long done, as a rule
    return Pending(end, when_failed)


def drain() -> None:
    """Wait until every queued run end has been written (its outcome too)."""
    while _PENDING:
        _PENDING.pop(0).result()
