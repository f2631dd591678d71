"""What every Markdown report shares: verdict marks, the machine and software lines, stability text."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from actlab import write_atomic  # noqa: F401 - the reports' one way to write a file
from actlab.claims.base import Stability
from actlab.pipeline.version import software

VERDICT_MARK = {"supported": "✅ supported", "not supported": "❌ not supported", "mixed": "◐ mixed",
                "inconclusive": "？ inconclusive"}


def machine() -> str:
    """CPU model, cores, memory and OS: numbers differ across CPUs, so every report names its own."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")).split()[1])
        memory = f"{mem_kb / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        memory = "memory unknown"
    return f"{cpu}, {os.cpu_count()} cores, {memory}, {platform.system()} {platform.release()}"


def software_versions() -> str:
    return ", ".join(f"{name} {version}" for name, version in software().items()
                     if name in ("tensorflow", "keras", "mlflow", "hydra-core", "scipy"))


def stability_text(stability: Stability | None, long: bool = False) -> str:
    """A verdict's stability for a table cell, or (long) for the claim's section."""
    if stability is None:
        return ("n/a (deterministic checks, no runs, or fewer than 3 task × seed blocks: nothing to resample)"
                if long else "n/a")
    if not long:
        return str(stability)
    return (f"{stability} — {stability.share * stability.resamples:.0f} of {stability.resamples} bootstrap resamples of the blocks "
            f"({' × '.join(stability.blocks)}) give this verdict")
