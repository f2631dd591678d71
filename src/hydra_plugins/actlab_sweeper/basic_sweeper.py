"""Hydra's basic sweeper, with three additions for the claims' sweeps.

- It writes the sweep's `multirun.yaml` with its secrets blanked: Hydra's own writes the whole
  composed config there before the first job starts, passwords in a tracking URI and values under
  secret-like keys included. The sweeper reads its `self.config` only for the sweep folder and to
  write that file (Hydra 1.3.8); the jobs are composed from the overrides and launched with the real
  config, so a blanked copy changes nothing else (`tests/test_secrets.py` checks the file).
- Before the first job of a claim's sweep it prints what the design can decide: each deciding
  test's smallest reachable p (actlab.claims.design).
- A sweep whose config has `tune:` runs in two stages (actlab.claims.tuning): the tuning grid,
  then the sweep's own grid at each group's value picked from the store's tuning runs.
`conf/hydra/sweeper/basic.yaml` points `hydra/sweeper=basic` here.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, List

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper as HydraBasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from actlab import SHADOWED_CONFIG_WARNING

warnings.filterwarnings("ignore", message=SHADOWED_CONFIG_WARNING)
# Arguments that say where and how a sweep runs, not which jobs it has.
NOT_JOB_ARGUMENTS = ("experiment=", "profile=", "hydra", "tracking.")


class BasicSweeper(HydraBasicSweeper):
    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
        from actlab.pipeline import redact

        self.real_config = config
        self.config = OmegaConf.create(redact.tree(OmegaConf.to_container(config, resolve=False)))

    def _grid(self, params: dict[str, str], arguments: List[str]) -> list[list[str]]:
        """The jobs `params` and the command line expand to, as Hydra's basic sweeper expands them."""
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides([*(f"{k}={v}" for k, v in params.items()), *arguments])
        return [list(job) for job in self.split_arguments(overrides, None)[0]]

    def _announce(self, jobs: list[list[str]]) -> None:
        """A claim's deciding tests and the smallest p each can reach with these jobs."""
        node = self.real_config.get("claim")
        if node is None or not node.get("tests"):
            return
        import pandas as pd

        from actlab.claims.design import announce, power
        from actlab.claims.registry import deciding_tests
        from actlab.pipeline.config import column_name

        tests = deciding_tests(Path(self.real_config.hydra.runtime.choices.get("experiment", "claim")),
                               OmegaConf.to_container(node.tests, resolve=True))
        table = pd.DataFrame([{column_name(o.split("=", 1)[0]): o.split("=", 1)[1] for o in job} for job in jobs])
        label = f"claim {node.get('number') or self.real_config.hydra.runtime.choices.get('experiment')}"
        print(announce(label, power(tests, table)), flush=True)

    def _launch(self, jobs: list[list[str]], start: int) -> list:
        returns = []
        for batch in self.split_overrides_to_chunks(jobs, self.max_batch_size):
            self.validate_batch_is_legal(batch)
            returns.append(self.launcher.launch(batch, initial_job_idx=start))
            start += len(batch)
        return returns

    def sweep(self, arguments: List[str]) -> Any:
        from actlab.claims.tuning import Tune

        tune = Tune.from_config(self.real_config.get("tune"))
        own = dict(self.params)
        self._announce(self._grid(own, arguments))
        if tune is None:
            return super().sweep(arguments)
        tuning = self._grid(tune.tuning_params(own), arguments)
        print(f"tune, then test: {len(tuning)} tuning jobs (seeds {tune.seeds}, {tune.param} ∈ {{{', '.join(tune.values)}}}), "
              f"then the sweep's own seeds at the value picked per {' × '.join(tune.by)}", flush=True)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        returns = self._launch(tuning, 0)
        launched = len(tuning)
        not_job = [a for a in arguments if a.startswith(NOT_JOB_ARGUMENTS)]  # the launcher's, Hydra's: not in a job's grid

        def widen(more: list[list[str]]) -> None:  # groups picked at their grid's edge: one value further
            nonlocal returns, launched
            print(f"widening the grid: {len(more)} tuning jobs one value beyond an edge pick", flush=True)
            returns += self._launch([[*job, *not_job] for job in more], launched)
            launched += len(more)

        jobs, missing = self._test_stage(tune, own, arguments, widen)
        for line in missing:
            print(f"warning: {line}", flush=True)
        return returns + self._launch(jobs, launched)

    def _test_stage(self, tune, own: dict[str, str], arguments: List[str], widen) -> tuple[list[list[str]], list[str]]:
        """The sweep's own jobs, each at its group's value picked from the store's tuning runs (the
        grid widened first where a pick sits at its edge: `widen` launches those jobs)."""
        from hydra.types import RunMode

        from actlab.claims.tuning import describe, picked_jobs
        from actlab.pipeline.config import config_dirs
        from actlab.pipeline.track import Store
        from actlab.reporting.claims_report import current_runs, tuning_stage

        cfg = self.real_config
        loader, name = self.hydra_context.config_loader, cfg.hydra.job.config_name

        def composer(overrides: List[str]):
            return loader.load_configuration(config_name=name, overrides=overrides, run_mode=RunMode.RUN)

        extra = [a for a in arguments if not a.startswith(NOT_JOB_ARGUMENTS)]
        store = Store(cfg.tracking.uri, cfg.tracking.experiment)
        _, _, selected = tuning_stage(cfg.hydra.runtime.choices["experiment"], str(cfg.profile), config_dirs(cfg), extra,
                                      composer, lambda: current_runs(store), launch=widen)
        print("picked on the tuning seeds (median best validation accuracy):\n  " + "\n  ".join(describe(selected, tune)), flush=True)
        return picked_jobs(self._grid(own, arguments), selected, tune)
