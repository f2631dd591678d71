"""`python -m actlab.devtools.ui_check --out DIR`: the MLflow UI as a user meets it, checked in a real browser.

Runs a small real sweep (4 activations x 2 seeds, `deep_mlp`) into a fresh store, starts `mlflow ui`
on 127.0.0.1, opens the URL the harness prints in headless Chromium and, within two clicks
("Group by" -> "activation"), checks and photographs: test accuracy as bars per activation,
val_accuracy curves per activation, act_std against depth per activation, a run's page, and the
sweep's parent with its figure. Exits non-zero, naming what it did not find, if any is missing.

Needs Debian's `chromium` (apt-get install chromium) and Playwright (pip install playwright); no
browser download. `tests/test_ui.py` (slow) runs it.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from actlab import PROJECT_ROOT

ROOT = PROJECT_ROOT
CHROMIUM = os.environ.get("ACTLAB_CHROMIUM", "/usr/bin/chromium")
SWEEP = ["model=deep_mlp", "activation=relu,selu,tanh,sigmoid", "seed=0,1", "trainer.epochs=6",
         "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
RENDER_S = 10.0  # the UI draws its charts some seconds after the page loads (longer on a busy machine)


class UICheckFailed(AssertionError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_sweep(db: Path, sweep_dir: Path) -> str:
    """The sweep, as a user runs it; returns the URL its last line prints."""
    done = subprocess.run([sys.executable, "-m", "run", "-m", *SWEEP, f"tracking.uri=sqlite:///{db}",
                           f"hydra.sweep.dir={sweep_dir}"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise UICheckFailed(f"the sweep failed: {done.stderr[-2000:]}")
    last = done.stdout.strip().splitlines()[-1]
    return last.split("then open ")[-1].strip()


def start_ui(db: Path, port: int) -> subprocess.Popen:
    ui = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", f"sqlite:///{db}",
                           "--host", "127.0.0.1", "--port", str(port)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return ui
        except OSError:
            time.sleep(0.5)
    ui.kill()
    raise UICheckFailed("mlflow ui did not answer within 120 s")


def _expect(page, text: str, what: str) -> None:
    try:
        page.get_by_text(text, exact=False).first.wait_for(state="visible", timeout=30_000)
    except Exception as error:
        raise UICheckFailed(f"{what}: no '{text}' on the page ({type(error).__name__})") from None


def _screenshot(page, path: Path, full_page: bool = False) -> Path:
    time.sleep(RENDER_S)
    page.mouse.move(2, 600)  # no hover highlight on a run or a group
    page.screenshot(path=path, full_page=full_page)
    return path


def photograph(url: str, out: Path, parent_url: str, run_url: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    shots = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        _expect(page, "Model training", "the model-training view")
        close = page.get_by_role("button", name="Close")  # the assistant's side panel, if shown
        if close.count():
            close.first.click()
        # Click 1 and 2: Group by -> activation.
        page.get_by_role("button", name="Group by").click()
        page.get_by_text("activation", exact=True).first.click()
        _expect(page, "Group: relu", "runs grouped by activation")
        page.get_by_placeholder("Search metric charts").fill("test_accuracy|curves/val_accuracy")  # a regex
        for text in ("best/test_accuracy", "curves/val_accuracy"):
            _expect(page, text, f"the chart {text}")
        shots.append(_screenshot(page, out / "ui_accuracy_by_activation.png"))
        for phase in ("init", "trained"):  # one chart each, full screen: every group's legend shows
            key = f"depth_{phase}/act_std"
            page.get_by_placeholder("Search metric charts").fill(key)
            _expect(page, key, f"the chart {key}")
            card = page.get_by_text(key, exact=True).first.locator("xpath=ancestor::*[count(.//button)>=2][1]")
            card.get_by_role("button").first.click()  # the card's full-screen button
            shots.append(_screenshot(page, out / f"ui_depth_{phase}.png"))
            page.keyboard.press("Escape")
        for target, name, text in ((run_url, "ui_run_page.png", "best/test_accuracy"),
                                   (parent_url, "ui_sweep_parent.png", "sweep_summary.png")):
            page.goto(target)
            _expect(page, text, name)
            shots.append(_screenshot(page, out / name, full_page=True))
        browser.close()
    return shots


def check(out: Path, keep_store: Path | None = None) -> list[Path]:
    from mlflow import MlflowClient

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="actlab-ui-") as tmp:
        base = keep_store or Path(tmp)
        db = base / "mlflow.db"
        url = run_sweep(db, base / "sweep")
        client = MlflowClient(f"sqlite:///{db}")
        experiment = client.get_experiment_by_name("activation-lab").experiment_id
        runs = client.search_runs([experiment], order_by=["attributes.start_time ASC"])
        parent = next(r for r in runs if r.data.tags.get("sweep") == "true")
        child = next(r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id)
        port = _free_port()
        url = url.replace("http://127.0.0.1:5000", f"http://127.0.0.1:{port}")
        base_url = f"http://127.0.0.1:{port}/#/experiments/{experiment}/runs"
        ui = start_ui(db, port)
        try:
            view = "?workflowType=machine_learning"
            return photograph(url, out, f"{base_url}/{parent.info.run_id}/artifacts/sweep_summary.png{view}",
                              f"{base_url}/{child.info.run_id}{view}")
        finally:
            ui.terminate()
            ui.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the screenshots")
    parser.add_argument("--store", type=Path, help="keep the sweep's store in this folder (default: a temporary one)")
    args = parser.parse_args()
    try:
        shots = check(args.out, args.store)
    except UICheckFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("\n".join(f"saved {shot}" for shot in shots))
    return 0


if __name__ == "__main__":
    sys.exit(main())
