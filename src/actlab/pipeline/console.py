"""A long sweep's console: one line per finished job, with its place and what tells it apart
(`[37/60] relu · lr=0.01 · seed 3 · finished · test_accuracy 0.9067 · 12 s`), and on a terminal a
progress bar with the elapsed time and an estimate of the rest.

The launching process follows the jobs through the outcome files they write (actlab.pipeline.sweep), so the
same code serves every launcher: jobs run in this process (basic), in joblib's workers, or on a
cluster (submitit). Not a terminal (CI logs): the lines only, no bar.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

POLL_S = 0.5
SHORT_KEYS = {"learning_rate": "lr"}


def short_name(key: str) -> str:
    """An axis's name in one word: `+experiment/task` -> `task`, `optimizer.learning_rate` -> `lr`."""
    from actlab.pipeline.config import column_name

    name = column_name(key).split(".")[-1]
    return SHORT_KEYS.get(name, name)


def job_label(overrides: str, axes: list[str]) -> str:
    """The job's values on the sweep's axes: `activation=relu optimizer.learning_rate=0.01 seed=3`
    -> `relu · lr=0.01 · seed 3` (a config group by its option, a value by its last key)."""
    values = dict(o.split("=", 1) for o in overrides.split() if "=" in o)
    parts = []
    for key in axes or list(values):
        if key not in values:
            continue
        value = values[key]
        if key == "seed":
            parts.append(f"seed {value}")
        elif "." in key:
            parts.append(f"{short_name(key)}={value}")
        else:
            parts.append(value)
    return " · ".join(parts) or overrides


def outcome_line(outcome: dict[str, Any], axes: list[str]) -> str:
    parts = [job_label(outcome.get("overrides", ""), axes), outcome.get("status", "?")]
    if "test_accuracy" in outcome and outcome.get("status") in ("finished", "skipped"):
        parts.append(f"test_accuracy {outcome['test_accuracy']:.4f}")
    elif outcome.get("reason"):
        parts.append(str(outcome["reason"])[:160])
    if outcome.get("elapsed_s") is not None:
        parts.append(f"{outcome['elapsed_s']:.0f} s")
    return " · ".join(parts)


class SweepProgress:
    """Follows `sweep_dir/<job>/outcome.json` files in a thread and reports each once."""

    def __init__(self, sweep_dir: Path, total: int | None, axes: list[str], outcome_file: str,
                 terminal: bool | None = None):
        self.sweep_dir, self.total, self.axes, self.outcome_file = Path(sweep_dir), total, axes, outcome_file
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        self.done = 0
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="sweep-progress", daemon=True)
        self._bar = None
        self._task = None

    def start(self) -> "SweepProgress":
        if self.terminal:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("elapsed"),
                                 TimeElapsedColumn(), TextColumn("left ~"), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=True)
            self._bar.start()
            self._task = self._bar.add_task("sweep", total=self.total)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Report what has not been reported yet, then remove the bar."""
        self._stop.set()
        self._thread.join()
        self._poll()
        if self._bar is not None:
            self._bar.stop()

    def _follow(self) -> None:
        while not self._stop.wait(POLL_S):
            self._poll()

    def _poll(self) -> None:
        if not self.sweep_dir.exists():
            return
        for path in sorted(self.sweep_dir.glob(f"*/{self.outcome_file}"), key=lambda p: p.stat().st_mtime):
            if path.parent.name in self._seen:
                continue
            try:
                outcome = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # written atomically: a read that fails is retried at the next poll
            self._seen.add(path.parent.name)
            self.done += 1
            place = f"[{self.done}/{self.total}]" if self.total else f"[{self.done}]"
            self._print(f"{place} {outcome_line(outcome, self.axes)}")

    def _print(self, line: str) -> None:
        from actlab.pipeline import redact

        line = redact.text(line)
        if self._bar is not None:
            self._bar.console.print(line, markup=False, highlight=False, soft_wrap=True)
            self._bar.advance(self._task)
        else:
            print(line, flush=True)
