"""Hydra's basic sweeper, writing the sweep's `multirun.yaml` with its secrets blanked.

Hydra's own writes the whole composed config there before the first job starts, passwords in a
tracking URI and values under secret-like keys included. `conf/hydra/sweeper/basic.yaml` points
`hydra/sweeper=basic` here. The sweeper reads its `self.config` only for the sweep folder and to
write that file (Hydra 1.3.8); the jobs are composed from the overrides and launched with the
real config, so a blanked copy changes nothing else. `tests/test_secrets.py` checks the file.
"""

from __future__ import annotations

import warnings
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper as HydraBasicSweeper
from omegaconf import DictConfig, OmegaConf

from actlab import SHADOWED_CONFIG_WARNING

warnings.filterwarnings("ignore", message=SHADOWED_CONFIG_WARNING)


class BasicSweeper(HydraBasicSweeper):
    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
        from actlab.pipeline import redact

        blanked = OmegaConf.create(redact.tree(OmegaConf.to_container(config, resolve=False)))
        self.config = blanked
