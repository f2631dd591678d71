"""Hydra's sweeper plugin for `experiment=challenger` (found by Hydra's plugin discovery)."""
