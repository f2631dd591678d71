"""`python -m report`: the claims report from the MLflow runs of the claim experiments.

    python -m report                      # all claims, full profile -> results/REPORT.md
    python -m report --claim 7            # one claim (by number or name) -> results/REPORT-claim07_....md
    python -m report --claim my_claim --config-dir D   # a claim of your own, from D/experiment/
    python -m report --profile quick      # the quick profile -> results/quick/REPORT.md
    python -m report --commands           # the sweeps that make its runs (what run_claims.sh runs)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

PROFILES = ("quick", "full")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=PROFILES, default="full", help="which experiments' runs to read (default: full)")
    parser.add_argument("--claim", action="append", metavar="N|NAME",
                        help="only this claim, by number (1-12) or name (e.g. claim07_selu_self_normalization, or one of "
                             "your own with --config-dir); repeat for several")
    parser.add_argument("--uri", default="sqlite:///results/mlflow.db", help="MLflow tracking URI (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="output folder (default: results, or results/quick for --profile quick)")
    parser.add_argument("--wall-time-s", type=float, help="experiments' wall time, for the report header")
    parser.add_argument("--no-mlflow", action="store_true", help="do not log the report as an MLflow run")
    parser.add_argument("--commands", action="store_true", help="print the sweeps that make the report's runs, one per line, and exit")
    parser.add_argument("--challenger", metavar="NAME", help="write results/challengers/NAME.md: where activation NAME stands on each claim "
                        "(`python -m challenge NAME` trains its runs first)")
    parser.add_argument("--config-dir", action="append", default=[], type=Path, metavar="DIR",
                        help="a config folder of your own, as given to `python -m run --config-dir` (repeatable)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from actlab.claims.registry import ClaimError, discover, find
    from actlab.pipeline.config import CONF_DIR, use_user_modules

    dirs = [CONF_DIR, *(d.resolve() for d in args.config_dir)]
    use_user_modules(dirs)
    try:
        claims = discover(dirs)
        chosen = [find(k, claims) for k in args.claim or []]
    except ClaimError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.commands:
        from actlab.reporting.claims_report import sweep_commands

        print("\n".join(sweep_commands(args.profile, chosen or list(claims.values()), dirs)))
        return 0
    from mlflow import MlflowClient

    from actlab.pipeline.track import resolve_uri

    uri = resolve_uri(args.uri)
    experiment = f"claims-{args.profile}"
    if MlflowClient(uri).get_experiment_by_name(experiment) is None:
        from actlab.pipeline.redact import uri as shown

        if args.challenger:
            from actlab.reporting.challenger import command

            first = f"`{command(args.challenger, args.profile, dirs, uri)}` trains what its report needs (the field included) and writes it"
        else:
            first = f"run the claim experiments first (bash experiments/run_claims.sh {args.profile})"
        print(f"error: no MLflow experiment '{experiment}' in {shown(uri)}: {first}", file=sys.stderr)
        return 2
    if args.challenger:
        from actlab.pipeline.config import options
        from actlab.reporting.challenger import MissingRuns, NoRunsOfThisVersion, build_challenger_report

        if args.challenger not in options("activation", dirs):
            print(f"error: --challenger {args.challenger} is not an activation of the config tree "
                  f"(one of {', '.join(options('activation', dirs))}; a file of your own needs --config-dir)", file=sys.stderr)
            return 2
        out = args.out or Path("results") / ("challengers" if args.profile == "full" else "quick/challengers")
        try:
            path = build_challenger_report(uri, args.challenger, args.profile, dirs, out)
        except (NoRunsOfThisVersion, MissingRuns) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"challenger report written: {path}")
        return 0
    from actlab.reporting.claims_report import build_report

    out = args.out or (Path("results") if args.profile == "full" else Path("results/quick"))
    path = build_report(uri, args.profile, [c.name for c in chosen], out, args.wall_time_s, not args.no_mlflow, dirs)
    print(f"report written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
