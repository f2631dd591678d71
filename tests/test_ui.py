"""The MLflow UI in a real browser (slow): `actlab.devtools.ui_check` over a real sweep, with its checks."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from actlab.devtools import ui_check

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not Path(ui_check.CHROMIUM).exists() or importlib.util.find_spec("playwright") is None,
                    reason="needs Debian's chromium (apt-get install chromium) and playwright (pip install playwright)")
def test_the_ui_shows_accuracy_and_depth_profiles_by_activation_within_two_clicks(tmp_path):
    shots = ui_check.check(tmp_path / "shots", keep_store=tmp_path)
    assert [shot.name for shot in shots] == ["ui_accuracy_by_activation.png", "ui_depth_init.png", "ui_depth_trained.png",
                                             "ui_run_page.png", "ui_sweep_parent.png"]
    assert all(shot.stat().st_size > 20_000 for shot in shots)  # drawn pages, not blank ones
