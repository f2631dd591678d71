"""`hydra/sweeper=challenger`: one new activation through the claims' grids, in one sweep.

    python -m run -m experiment=challenger activation=serf profile=quick

expands every claim whose YAML says how a new function enters it (`claim.challenger.joins`: the
`activation` axis, or claim 7's condition) exactly as the claim's own sweep would run, together
with the jobs of the field those claims compare it with (each claim's own grid), and launches the
ones without a finished run in the store with the configured launcher: the timing claim's jobs one
at a time, so that no other job shares the cores while they measure. Jobs whose config another
claim already has run once. `python -m challenge NAME` runs this sweep, then the report.
"""


from dataclasses import dataclass
from pathlib import Path
from typing import Any, List

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from omegaconf import OmegaConf


@dataclass
class ChallengerSweeperConf:
    _target_: str = "hydra_plugins.actlab_challenger.challenger_sweeper.ChallengerSweeper"


ConfigStore.instance().store(group="hydra/sweeper", name="challenger", node=ChallengerSweeperConf, provider="actlab")


class ChallengerSweeper(Sweeper):
    def __init__(self):
        self.config = None
        self.launcher = None
        self.hydra_context = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> Any:
        from actlab.reporting.challenger import challenger_jobs

        assert self.config is not None and self.launcher is not None
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        from actlab.pipeline import redact

        OmegaConf.save(OmegaConf.create(redact.tree(OmegaConf.to_container(self.config))), sweep_dir / "multirun.yaml")  # secrets blanked
        dirs = [Path(s.path) for s in self.config.hydra.runtime.config_sources if s.schema == "file" and s.path]
        name = self.config.hydra.runtime.choices["activation"]
        from hydra.types import RunMode

        loader = self.hydra_context.config_loader  # composes with this sweep's search path (--config-dir)
        config_name = self.config.hydra.job.config_name

        def composer(overrides: List[str]):
            return loader.load_configuration(config_name=config_name, overrides=overrides, run_mode=RunMode.RUN)

        from actlab.pipeline.track import Store
        from actlab.reporting.claims_report import current_runs

        real = self.config
        store = Store(real.tracking.uri, real.tracking.experiment)
        profile = str(self.config.profile)
        jobs = challenger_jobs(name, profile, dirs, composer, field=True)
        passed = [a for a in arguments if not a.startswith(("experiment=", "profile=", "activation="))]
        todo = self._todo(jobs, store)
        own = sum(j.own for j in jobs)
        print(f"challenger: {name} · {own} jobs of its own and {len(jobs) - own} of the field it is compared with, "
              f"from {len({job.experiment for job in jobs})} claims · {len(jobs) - len(todo)} already in the store · "
              f"{len(todo)} to train ({sum(j.alone for j in todo)} timed one at a time)", flush=True)
        returns = self._launch(todo, passed, 0)
        # Claims that tune (actlab.claims.tuning): a grid widened where a pick sits at its edge, one
        # value per round, then their test stage at the values the tuning runs picked.
        launched = {job.fingerprint for job in todo}
        while True:  # each job at most once: a run that failed (diverged) is not retried in a loop
            later = [job for job in self._todo(challenger_jobs(name, profile, dirs, composer, runs=current_runs(store), field=True), store)
                     if job.fingerprint not in launched]
            if not later:
                break
            launched |= {job.fingerprint for job in later}
            print(f"challenger: {name} · {len(later)} jobs of the tuning claims' next stage (a widened grid, "
                  "or the test seeds at the picked learning rates)", flush=True)
            returns += self._launch(later, passed, len(returns))
        return returns

    @staticmethod
    def _todo(jobs, store) -> list:
        """The jobs without a finished run of this results version: a field trained once serves
        every later challenger, and a rerun trains only what is missing."""
        from actlab.reporting.claims_report import current_runs

        runs = current_runs(store)
        done = set(runs.loc[runs["status"] == "FINISHED", "tags.config_fingerprint"]) if not runs.empty else set()
        return [job for job in jobs if job.fingerprint not in done]

    def _launch(self, jobs, passed: List[str], index: int) -> list:
        """The jobs in one parallel batch, then the timed ones one at a time."""
        parallel = [[*job.overrides, *passed] for job in jobs if not job.alone]
        alone = [[*job.overrides, *passed] for job in jobs if job.alone]
        from actlab.pipeline.sweep import label_jobs

        label_jobs(parallel + alone)  # progress lines: claim, net, rate, seed, function
        returns = []
        for batch in [parallel, *[[job] for job in alone]]:
            if batch:
                returns += list(self.launcher.launch(batch, initial_job_idx=index))
                index += len(batch)
        return returns
