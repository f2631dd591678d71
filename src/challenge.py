"""`python -m challenge NAME`: where does activation NAME stand on the article's claims? One command.

    python -m challenge serf --config-dir examples/serf                 # quick profile: a preview in minutes
    python -m challenge serf --config-dir examples/serf --profile full  # the full design

It runs the challenger sweep (`python -m run -m experiment=challenger activation=NAME`): NAME's jobs
in every claim it can be asked, and the jobs of the field those claims compare it with, training
only those without a finished run in the store (a field trained once serves every later
challenger); then it writes the challenger report (`python -m report --challenger NAME`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

PROFILES = ("quick", "full")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m challenge", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="the activation: a file of conf/activation/ or of DIR/activation/")
    parser.add_argument("--config-dir", action="append", default=[], type=Path, metavar="DIR",
                        help="a config folder of your own, as given to `python -m run --config-dir` (repeatable)")
    parser.add_argument("--profile", choices=PROFILES, default="quick", help="the claims' design: quick (a preview, default) or full")
    parser.add_argument("--workers", type=int, default=2, help="parallel training jobs (default: %(default)s; timed jobs run alone)")
    parser.add_argument("--uri", default="sqlite:///results/mlflow.db", help="MLflow tracking URI (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="report folder (default: results/challengers, or results/quick/challengers)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from actlab.pipeline.config import CONF_DIR, options

    dirs = [CONF_DIR, *(d.resolve() for d in args.config_dir)]
    missing_dirs = [str(d) for d in args.config_dir if not d.is_dir()]
    if missing_dirs:
        print(f"error: --config-dir {missing_dirs[0]} is not a folder", file=sys.stderr)
        return 2
    if args.name not in options("activation", dirs):
        print(f"error: {args.name} is not an activation of the config tree (one of {', '.join(options('activation', dirs))}; "
              "a file of your own needs --config-dir, the folder that holds activation/NAME.yaml)", file=sys.stderr)
        return 2
    if args.workers < 1:
        print(f"error: --workers {args.workers}: at least 1", file=sys.stderr)
        return 2
    started = time.perf_counter()
    sweep = [sys.executable, "-m", "run", "-m", *[a for d in args.config_dir for a in ("--config-dir", str(d))],
             "experiment=challenger", f"activation={args.name}", f"profile={args.profile}", f"tracking.uri={args.uri}",
             "hydra/launcher=joblib", f"hydra.launcher.n_jobs={args.workers}"]
    print(f"challenge: {args.name} · {args.profile} profile · training what the store lacks: python {' '.join(sweep[1:])}", flush=True)
    try:
        code = subprocess.run(sweep).returncode
    except KeyboardInterrupt:  # the sweep got the Ctrl-C too and ended its runs as KILLED
        code = 130
    if code in (2, 130):  # a config the sweep refused (its one line says why), or an interruption: no report
        if code == 130:
            print(f"interrupted: run `{' '.join(['python', '-m', 'challenge', *(argv if argv is not None else sys.argv[1:])])}` "
                  "again to train what is still missing", file=sys.stderr)
        return code
    if code:
        print(f"warning: the challenger sweep exited with status {code} (its table above names the jobs); the report reads what finished",
              file=sys.stderr)
    swept = time.perf_counter() - started
    import report

    report_args = ["--challenger", args.name, "--profile", args.profile, "--uri", args.uri,
                   *[a for d in args.config_dir for a in ("--config-dir", str(d))], *(["--out", str(args.out)] if args.out else [])]
    written = report.main(report_args)
    print(f"challenge: {args.name} · sweep {swept / 60:.1f} min + report {time.perf_counter() - started - swept:.0f} s", flush=True)
    return written or code


if __name__ == "__main__":
    sys.exit(main())
