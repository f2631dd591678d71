"""The activation lab: the run pipeline (`pipeline`), the article's claims (`claims`), the reports
(`reporting`) and developer tools (`devtools`), with the figure and statistics libraries they share."""

from pathlib import Path

# The checkout this package runs from (an editable install): conf/, experiments/ and results/ live here.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def write_atomic(path: Path, text: str) -> Path:
    """Write `text` so that readers see the old file or the whole new one, never half of it."""
    import os

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


# conf/hydra/ replaces three of Hydra's plugin configs by files of the same name on purpose (the
# joblib and SLURM launchers, the basic sweeper); Hydra 1.3 warns that merging them is deprecated.
# Every process that composes a config filters it (run.py, the plugins' modules, which workers import).
# The message starts with a newline, hence the leading \s*.
SHADOWED_CONFIG_WARNING = r"\s*'hydra/(launcher/joblib|launcher/submitit_slurm|sweeper/basic)' is validated against ConfigStore schema"
