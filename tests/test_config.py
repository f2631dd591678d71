"""Every config option composes; every bad value is refused in one line, before TensorFlow loads."""

from __future__ import annotations

import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from actlab.pipeline import config as config_stage
from actlab.pipeline.config import ConfigError
from helpers import CONF, ROOT, compose_config, run_cli

GROUPS = ["dataset", "model", "activation", "initializer", "optimizer", "trainer", "tracking"]
OPTIONS = [(group, path.stem) for group in GROUPS for path in sorted((CONF / group).glob("*.yaml"))]
EXPERIMENTS = sorted(p.stem for p in (ROOT / "experiments").glob("*.yaml"))


@pytest.mark.parametrize("group,option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_validates(group, option):
    overrides = [f"{group}={option}"]
    if group == "model" and option == "cnn":
        overrides.append("dataset=digits")
    cfg = compose_config(overrides)
    config_stage.validate(cfg)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
@pytest.mark.parametrize("profile", ["quick", "full"])
def test_every_experiment_composes_with_its_sweep(experiment, profile):
    cfg = config_stage.compose([f"experiment={experiment}", f"profile={profile}"])
    config_stage.validate(cfg)
    if experiment == "challenger":  # its sweeper expands the claims a new function joins (their YAML says so)
        assert "ChallengerSweeper" in cfg.hydra.sweeper._target_
        return
    assert OmegaConf.to_container(cfg.hydra.sweeper.params, resolve=True), f"{experiment} sweeps nothing"


BAD = [
    (["model.depth=0"], "model.depth=0"),
    (["trainer.epochs=-1"], "trainer.epochs=-1"),
    (["dataset.train_fraction=1.5"], "dataset.train_fraction=1.5"),
    (["optimizer.learning_rate=0"], "optimizer.learning_rate=0"),
    (["model=cnn", "dataset=breast_cancer"], "model=cnn needs an image dataset: one of cifar10, digits, fashion_mnist, mnist, mnist_5k"),
    (["activation=leaky_relu", "activation.negative_slope=1.5"], "activation.negative_slope=1.5"),
    (["activation=leaky_relu", "activation.negative_slope=-0.1"], "activation.negative_slope=-0.1"),
    (["trainer.batch_size=0"], "trainer.batch_size=0"),
    (["seed=-3"], "seed=-3"),
    (["model.dropout=1.0"], "model.dropout=1.0"),
    (["trainer.target_fraction=0"], "trainer.target_fraction=0"),
    (["trainer.dead_slope=0"], "trainer.dead_slope=0"),
    (["trainer.dead_slope=1"], "trainer.dead_slope=1"),
    (["dataset=synthetic", "dataset.n_informative=30"], "dataset.n_informative=30"),
]


@pytest.mark.parametrize("overrides,expected", BAD, ids=[" ".join(o) for o, _ in BAD])
def test_bad_values_are_refused_in_one_line(overrides, expected):
    cfg = compose_config(overrides)
    with pytest.raises(ConfigError) as error:
        config_stage.validate(cfg)
    message = str(error.value)
    assert expected in message and "\n" not in message
    assert "allowed" in message or "needs" in message


def test_cli_refuses_bad_value_before_tensorflow_and_tracking(tmp_path):
    db = tmp_path / "mlflow.db"
    done = run_cli("model.depth=0", f"tracking.uri=sqlite:///{db}", "hydra.run.dir=" + str(tmp_path / "out"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines == ["error: model.depth=0 is not allowed: an integer >= 1"]
    assert not db.exists()  # no tracking record of any kind


def test_validation_never_imports_tensorflow_or_mlflow():
    code = (
        "import sys\n"
        "import conftest  # noqa: F401 - its HOME redirect\nfrom helpers import compose_config\n"
        "from actlab.pipeline.runner import run\n"
        "from actlab.pipeline.config import ConfigError\n"
        "try:\n    run(compose_config(['trainer.epochs=-1']))\nexcept ConfigError:\n    pass\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'mlflow') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "tests", capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[]", done.stderr


def test_unknown_option_lists_the_choices_without_traceback():
    done = run_cli("activation=swishy")
    assert done.returncode != 0
    assert "Could not find 'activation/swishy'" in done.stderr
    assert "selu" in done.stderr and "Traceback" not in done.stderr


def test_help_and_cfg_job_do_not_import_tensorflow():
    for args in (["--help"], ["--cfg", "job"]):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "run", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0
        imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
        assert "tensorflow" not in imported and "keras" not in imported and "mlflow" not in imported


def test_fingerprint_ignores_tracking_but_not_what_is_trained():
    base = compose_config([])
    moved = compose_config(["tracking.experiment=elsewhere", "trainer.verbose=2"])
    other_seed = compose_config(["seed=1"])
    assert config_stage.fingerprint(base) == config_stage.fingerprint(moved)
    assert config_stage.fingerprint(base) != config_stage.fingerprint(other_seed)


@pytest.mark.parametrize("overrides,expected", [
    (["+activation.alpha=1"], "activation=relu ("),  # keras.activations.relu takes no alpha
    (["activation._target_=keras.activations.nope"], "_target_ keras.activations.nope cannot be imported"),
    (["optimizer._target_=keras.optimizers.Nope"], "optimizer=adam ("),
    (["model._target_=actlab.pipeline.model.nope"], "model=mlp ("),
    (["dataset.loader=load_nothing"], "dataset=digits ("),
])
def test_components_that_fail_once_imported_are_refused_in_one_line_before_tracking(overrides, expected, tmp_path):
    """Checked after the targets are imported, still before any MLflow record: the error names
    the component and its YAML file."""
    from actlab.pipeline.runner import run

    cfg = compose_config(overrides, tmp_path)
    with pytest.raises(ConfigError) as error:
        run(cfg)
    assert expected in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "mlflow.db").exists()


INTEGERS_FOR_FLOATS = [(group, option, key) for group in GROUPS for path in sorted((CONF / group).glob("*.yaml"))
                       for option in [path.stem]
                       for key, value in OmegaConf.load(path).items() if isinstance(value, float) and not isinstance(value, bool)]


@pytest.mark.parametrize("group,option,key", INTEGERS_FOR_FLOATS, ids=[f"{g}={o}:{k}" for g, o, k in INTEGERS_FOR_FLOATS])
@pytest.mark.parametrize("typed", ["1", "1e-1", ".5"])
def test_every_float_setting_accepts_an_integer_or_exponent_typed_on_the_command_line(group, option, key, typed):
    overrides = [f"{group}={option}", f"{group}.{key}={typed}"]
    if group == "model" and option == "cnn":
        overrides.append("dataset=digits")
    cfg = compose_config(overrides)
    try:
        config_stage.validate(cfg)
    except ConfigError as error:  # out of this key's range (e.g. dropout=1): refused in one line, not a crash
        assert f"{group}.{key}=" in str(error)
        return
    assert isinstance(cfg[group][key], float)


def test_an_integer_learning_rate_trains():
    from actlab.pipeline.runner import run

    assert run(compose_config(["optimizer.learning_rate=1", "optimizer=sgd"]))["status"] in ("finished", "diverged")


@pytest.mark.parametrize("added,expected", [
    ("+activaton=selu", "error: activaton is set but nothing reads it (did you mean activation? allowed: dataset,"),
    ("+trainer.epoch=3", "error: trainer.epoch is set but nothing reads it (did you mean trainer.epochs? allowed: trainer.batch_size,"),
    ("+tracking.url=http://x", "error: tracking.url is set but nothing reads it (did you mean tracking.uri? allowed:"),
])
def test_a_key_that_nothing_reads_is_refused_before_any_work(added, expected, tmp_path):
    """Hydra's hint for a typo (`activaton=selu`) is `+activaton=selu`, which would train a default
    run: a key that nothing reads is refused in one line, exit 2, before any record, run or sweep."""
    db = tmp_path / "mlflow.db"
    for mode in ([], ["-m"]):
        done = run_cli(*mode, added, f"tracking.uri=sqlite:///{db}", f"hydra.run.dir={tmp_path / 'out'}",
                       f"hydra.sweep.dir={tmp_path / 'sweep'}", timeout=120)
        assert done.returncode == 2 and done.stderr.strip().splitlines() == [done.stderr.strip()], done.stderr
        assert done.stderr.startswith(expected), done.stderr
        assert not db.exists()
