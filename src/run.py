"""`python -m run KEY=VALUE ...`: train, probe and track one model (or a sweep, with -m).

Thin on purpose: Hydra composes conf/ (and experiments/), `actlab.pipeline.runner.run` does the work.
TensorFlow is imported only inside the run, so `--help` and `--cfg job` stay fast.
"""

import atexit
import gc
import os
import sys
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow C++ start-up chatter (CUDA probes on a CPU box)
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import warnings

import hydra

from actlab import PROJECT_ROOT, SHADOWED_CONFIG_WARNING

# conf/hydra/ replaces plugin configs of the same name on purpose (actlab.SHADOWED_CONFIG_WARNING).
warnings.filterwarnings("ignore", message=SHADOWED_CONFIG_WARNING)
from omegaconf import DictConfig  # noqa: E402 - after the warning filter above

# An absolute path: works however this module is started (python -m run, or imported and called).
CONF_DIR = str(PROJECT_ROOT / "conf")


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> dict | None:
    from actlab.pipeline import redact
    from actlab.pipeline.config import ConfigError
    from actlab.pipeline.data import DatasetUnavailable
    from actlab.pipeline.finish import Pending
    from actlab.pipeline.preflight import check
    from actlab.pipeline.runner import install_interrupts, run
    from actlab.pipeline.sweep import job_context, outcome_recorder
    from actlab.pipeline.track import TrackingUnreachable

    # Secrets in the config (under secret-like keys, in URIs) are blanked in every line printed.
    redact.remember_omegaconf(cfg)
    context = job_context(cfg)
    record_outcome = outcome_recorder()
    try:
        # From here Ctrl-C, SIGTERM and SLURM's SIGUSR2 end the job 'killed', whatever stage it is in.
        install_interrupts()
        # In a sweep the launching process has checked the store once, before any job started.
        check(cfg, store=not context.parent_run_id)
        result = run(cfg, context)
    except (ConfigError, DatasetUnavailable) as error:
        record_outcome({"status": "failed", "reason": str(error)})
        print(f"error: {redact.text(error)}", file=sys.stderr)
        if not context.parent_run_id:
            sys.exit(2)
        return None
    except KeyboardInterrupt as interrupt:  # Ctrl-C or SIGTERM: the MLflow run is already KILLED
        try:
            what = interrupted_what(cfg, context)
        except Exception:  # interrupted while a config that cannot be named was being checked
            what = "the job"
        cause = str(interrupt) or "Ctrl-C"
        record_outcome({"status": "killed", "reason": f"interrupted by {cause}: {what}"})
        print(f"interrupted by {cause}: {what} was ended as KILLED", file=sys.stderr)
        sys.exit(130)
    except TrackingUnreachable as error:  # retried for tracking.retry_s; the run is not FINISHED
        record_outcome({"status": "failed", "reason": str(error)})
        print(f"error: {redact.text(error)}", file=sys.stderr)
        if not context.parent_run_id:
            sys.exit(1)
        return None
    except Exception as error:
        # In a sweep one job's failure must not stop the others (its MLflow run is already FAILED).
        record_outcome({"status": "failed", "reason": f"{type(error).__name__}: {error}"[:500]})
        if not context.parent_run_id:
            # A crash inside a run: its traceback is wanted (cli's one-line errors are for input).
            print(redact.text(traceback.format_exc()), file=sys.stderr, end="")
            sys.exit(1)
        print(redact.text(f"error: job failed: {type(error).__name__}: {error}"), file=sys.stderr)
        return None
    if isinstance(result, Pending):  # a sweep job's end, on the run-end writer: it records the outcome
        result.then(record_outcome)
        return None
    record_outcome(result)
    return result


def interrupted_what(cfg: DictConfig, context) -> str:
    """What Ctrl-C stopped, for its one line: the run by its name (and its sweep, if any)."""
    from actlab.pipeline.config import initializer_config, names
    from actlab.pipeline.runner import run_name

    effective = names(cfg) | {"initializer": initializer_config(cfg)[0]}  # `auto` named as what it chose
    return f"run '{run_name(effective, cfg.seed)}'" + (" of a sweep" if context.parent_run_id else "")


def cli() -> int:
    """`main` as the shell calls it. Bad input of any kind (an unknown option, key or group, an
    override that does not parse, a bad value, an unusable store) ends in one line on stderr and
    exit status 2; Hydra itself prints several lines and exits 1 for the first kinds."""
    from hydra.errors import HydraException

    from actlab.pipeline import redact
    from actlab.pipeline.config import ConfigError
    from actlab.pipeline.preflight import TrackingUnreachable, one_line

    # Hydra's documented switch: its errors reach us as exceptions instead of being printed.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        main()
    except TrackingUnreachable as error:  # a sweep's parent run could not be started
        print(f"error: {redact.text(error)}", file=sys.stderr)
        return 1
    except (HydraException, ConfigError, ValueError) as error:
        # Input errors; Hydra raises plain ValueErrors, too, for overrides it cannot apply
        # (`activation=0`). A crash inside a run never gets here: `main` prints its traceback.
        print(f"error: {redact.text(one_line(error))}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    # The interpreter's last garbage collection walks every object TensorFlow created: about a
    # second per process. Objects frozen at exit are skipped; atexit handlers and log flushing
    # still run. (Sweep workers are stopped by the sweep callback instead: actlab/sweep.py.)
    atexit.register(gc.freeze)
    sys.exit(cli())
