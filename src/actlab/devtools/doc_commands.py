"""Every command the README and docs/ show, checked far enough to know it parses; nothing trains.

    python -m actlab.devtools.doc_commands                  # README.md, docs/*.md, examples/*/README.md
    python -m actlab.devtools.doc_commands docs/runs.md     # one page

Commands are read from ```bash fenced blocks (a trailing backslash continues a line, `#` starts a
comment, `&&` separates commands). Each is checked by what it is:

- `python -m run ...` (one run): run as written with `--cfg job` appended (Hydra composes the
  config and prints it; nothing is trained), then composed here and put through the checks a run
  makes before it trains (`actlab.pipeline.preflight.check`, without opening the store);
- `python -m run -m ...` (a sweep): composed here, as Hydra's basic sweeper would compose its jobs,
  with the experiment's own sweep parameters: the first value of every axis, and every value of an
  axis that chooses a config group (whose options may not exist); each composition preflighted;
- `python -m report ...`: its arguments parsed by the report's own parser, each `--claim` looked up
  in the claims' registry, `--challenger` among the activations; `--commands` run for real;
- `python -m challenge NAME ...`: its arguments parsed by its own parser, NAME among the activations;
- `python -m actlab.…` and `python FILE.py`: `--help` (the module or file exists and starts);
- `pytest ...`: the files named exist, the markers named are registered;
- `bash FILE ...` or `./FILE.sh`: the file exists and `bash -n` parses it;
- `pip install`, environment setup and other programs (`mlflow`, `apt-get`, …): not run, listed.

A page may show the files of a folder of the reader's own (a fenced block whose first line is a
comment naming its path, `# my_claims/experiment/x.yaml`, in a folder the project does not have):
those files are written to a scratch folder, and `--config-dir my_claims` finds them there.

A `python` command of another shape is an error: teach this module to check it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
import warnings
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import asdict, dataclass
from pathlib import Path

from actlab import PROJECT_ROOT, SHADOWED_CONFIG_WARNING

# As in run.py: conf/hydra/ replaces plugin configs of the same name on purpose.
warnings.filterwarnings("ignore", message=SHADOWED_CONFIG_WARNING)

FENCE = re.compile(r"^```bash[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
ANY_FENCE = re.compile(r"^```\w*[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
SHOWN_FILE = re.compile(r"^(?:#|//) ([\w.-]+(?:/[\w.-]+)+\.(?:yaml|yml|py))[ \t]*$")
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")



@dataclass
class Checked:
    source: str  # file:line
    command: str
    how: str  # what was done: "cfg job", "sweep composed (N compositions)", "skipped: pip", ...
    ok: bool
    error: str = ""


def commands(markdown: str) -> list[tuple[int, str]]:
    """(line number, command) for each command in the text's ```bash blocks."""
    found: list[tuple[int, str]] = []
    for block in FENCE.finditer(markdown):
        first_line = markdown.count("\n", 0, block.start(1)) + 1
        pending, start = "", 0
        for offset, line in enumerate(block.group(1).splitlines()):
            if not pending:
                start = first_line + offset
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            text = (pending + line).strip()
            pending = ""
            words = shlex.split(text, comments=True)
            while words:
                cut = words.index("&&") if "&&" in words else len(words)
                if words[:cut]:
                    found.append((start, shlex.join(words[:cut])))
                words = words[cut + 1:]
    return found


def shown_files(markdown: str) -> dict[str, str]:
    """{path: text} of the files a page shows for a folder the project does not have."""
    found = {}
    for block in ANY_FENCE.finditer(markdown):
        first, _, rest = block.group(1).partition("\n")
        match = SHOWN_FILE.match(first)
        if match and not (PROJECT_ROOT / match.group(1).split("/")[0]).exists():
            found[match.group(1)] = rest
    return found


def _with_scratch(words: list[str], scratch: Path | None) -> list[str]:
    """`--config-dir D` pointed at the scratch folder when D is one of the files a page showed."""
    out = list(words)
    for i, word in enumerate(out[:-1]):
        if word in ("--config-dir", "-cd") and scratch and not (PROJECT_ROOT / out[i + 1]).exists() \
                and (scratch / out[i + 1]).exists():
            out[i + 1] = str(scratch / out[i + 1])
    return out


def _python(argv: list[str], env: dict[str, str] | None = None, timeout: float = 60) -> tuple[bool, str]:
    done = subprocess.run([sys.executable, *argv], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
    tail = (done.stderr.strip().splitlines() or [""])[-1]
    return done.returncode == 0, "" if done.returncode == 0 else f"exit {done.returncode}: {tail}"


def _config_dirs(args: list[str]) -> tuple[list[str], list[str]]:
    """(--config-dir folders, the other arguments)."""
    dirs, rest, i = [], [], 0
    while i < len(args):
        if args[i] in ("--config-dir", "-cd"):
            dirs.append(args[i + 1])
            i += 2
            continue
        if args[i].startswith("--config-dir="):
            dirs.append(args[i].split("=", 1)[1])
        else:
            rest.append(args[i])
        i += 1
    return dirs, rest


def _composed(overrides: list[str], folders: list[Path]):
    """The config `python -m run` would get, put through the run's own checks before training."""
    from actlab.pipeline.config import compose, config_dirs, use_user_modules
    from actlab.pipeline.preflight import check as preflight

    cfg = compose(overrides, tuple(str(f) for f in folders))
    use_user_modules(config_dirs(cfg))
    preflight(cfg, store=False)
    return cfg


# Hydra's flags that take a value (`--cfg job`): neither is an override.
VALUE_FLAGS = ("--cfg", "-c", "--package", "-p", "--config-name", "-cn", "--config-path", "-cp")


def check_run(args: list[str]) -> None:
    """Compose and preflight one run's command line; raises what the run would say."""
    dirs, rest = _config_dirs(args)
    overrides = [a for i, a in enumerate(rest) if not a.startswith("-") and (i == 0 or rest[i - 1] not in VALUE_FLAGS)]
    _composed(overrides, [PROJECT_ROOT / d for d in dirs])


def check_sweep(args: list[str]) -> int:
    """Compose a sweep's jobs as the basic sweeper would (see the module's docstring); the number of
    compositions. Raises whatever Hydra raises for a job that does not compose."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    from actlab.pipeline.config import options

    dirs, rest = _config_dirs([a for a in args if a not in ("-m", "--multirun")])
    flags = [a for a in rest if a.startswith("-")]
    if flags:
        raise ValueError(f"unexpected flag {flags[0]} in a sweep")
    folders = [Path(PROJECT_ROOT / d) for d in dirs]
    parser = OverridesParser.create()
    command_line = parser.parse_overrides(rest)

    def values(override) -> list[str]:
        key = override.get_key_element()
        if not override.is_sweep_override():
            return [f"{key}={override.get_value_element_as_str()}"]
        if not override.is_discrete_sweep():
            return []  # a range or interval for a sweeper that samples: left to it
        sweep = override.value()
        if type(sweep).__name__ == "Glob":
            chosen = sweep.filter(options(override.key_or_group, [PROJECT_ROOT / "conf", *folders]))
        else:
            chosen = list(override.sweep_string_iterator())
        return [f"{key}={value}" for value in chosen]

    axes = {o.get_key_element(): values(o) for o in command_line}
    first = [v[0] for v in axes.values() if v]
    cfg = _composed(first, folders)
    count = 1
    params = cfg.hydra.sweeper.get("params") or {}
    if params:  # the experiment's own sweep; the command line's keys win, as in Hydra
        resolved = OmegaConf.to_container(params, resolve=True)
        texts = [f"{k}={v}" for k, v in resolved.items() if k not in axes]
        axes = {**{o.get_key_element(): values(o) for o in parser.parse_overrides(texts)}, **axes}
        first = [v[0] for v in axes.values() if v]
        _composed(first, folders)
        count += 1
    search = [PROJECT_ROOT / "conf", *folders]
    for i, (key, choices) in enumerate(axes.items()):
        if not options(key.lstrip("+~"), search):
            continue  # a value, not a config group's option: it composes whatever it is
        for choice in choices[1:]:
            _composed([c if j != i else choice for j, c in enumerate(first)], folders)
            count += 1
    return count


def _parse(module_name: str, args: list[str]):
    """(parsed arguments, '') from the entry module's own `parse_args`, or (None, why it refused)."""
    import importlib

    if str(PROJECT_ROOT / "src") not in sys.path:  # report.py and challenge.py sit beside the package
        sys.path.insert(0, str(PROJECT_ROOT / "src"))
    stderr = io.StringIO()
    try:
        with redirect_stderr(stderr), redirect_stdout(io.StringIO()):
            return importlib.import_module(module_name).parse_args(args), ""
    except SystemExit as exit_:
        return None, "" if exit_.code == 0 else f"the {module_name}'s parser refused it: {stderr.getvalue().strip().splitlines()[-1]}"


def check_report(args: list[str]) -> str:
    """Parse a `python -m report` command line the way the report does; '' if it is fine."""
    from actlab.claims.registry import ClaimError, discover, find
    from actlab.pipeline.config import CONF_DIR, options, use_user_modules

    parsed, refused = _parse("report", args)
    if parsed is None:
        return refused
    dirs = [CONF_DIR, *(PROJECT_ROOT / d for d in parsed.config_dir)]
    use_user_modules(dirs)
    try:
        claims = discover(dirs)
        for key in parsed.claim or []:
            find(key, claims)
    except ClaimError as error:
        return str(error)
    if parsed.challenger and parsed.challenger not in options("activation", dirs):
        return f"--challenger {parsed.challenger} is not an activation of the config tree"
    if parsed.commands:
        import report

        out, stderr = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(stderr):
            status = report.main(args)
        if status != 0 or not out.getvalue().strip():
            return f"--commands gave exit {status} and {len(out.getvalue().splitlines())} lines: {stderr.getvalue().strip()}"
    return ""


def _pytest(args: list[str]) -> str:
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    markers = {m.split(":")[0].strip() for m in config.get("markers", [])}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "-m" and i + 1 < len(args):
            named = set(re.findall(r"[A-Za-z_]\w*", args[i + 1])) - {"not", "and", "or"}
            if named - markers:
                return f"marker {sorted(named - markers)[0]} is not registered in pyproject.toml"
            i += 2
            continue
        if not arg.startswith("-") and not (PROJECT_ROOT / arg.split("::")[0]).exists():
            return f"{arg.split('::')[0]} does not exist"
        i += 1
    return ""


def check_challenge(args: list[str]) -> str:
    """Parse a `python -m challenge` command line as it does; its activation must exist; '' if fine."""
    from actlab.pipeline.config import CONF_DIR, options

    parsed, refused = _parse("challenge", args)
    if parsed is None:
        return refused
    dirs = [CONF_DIR, *(PROJECT_ROOT / d for d in parsed.config_dir)]
    if parsed.name not in options("activation", dirs):
        return f"{parsed.name} is not an activation of the config tree"
    return ""


def check(command: str, scratch: Path | None = None) -> tuple[str, bool, str]:
    """(how it was checked, ok, error) for one command; `scratch` holds the files pages showed."""
    words = _with_scratch(shlex.split(command), scratch)
    env: dict[str, str] = {}
    while words and ENV_ASSIGNMENT.match(words[0]):
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    if not words:
        return "skipped: an environment assignment", True, ""
    program, args = words[0], words[1:]
    if program in ("pip", "pip3") or (program.startswith("python") and args[:2] == ["-m", "pip"]):
        return "skipped: pip", True, ""
    if program.startswith("python") and args[:2] == ["-m", "venv"]:
        return "skipped: creates a virtual environment", True, ""
    if program == "pytest":
        error = _pytest(args)
        return "pytest arguments", not error, error
    if program == "bash":
        script = PROJECT_ROOT / args[0] if args else None
        if script is None or not script.is_file():
            return "bash script exists", False, f"no file {args[0] if args else '(none)'}"
        done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        return "bash -n", done.returncode == 0, done.stderr.strip()
    if program.endswith(".sh") and not program.startswith("-"):  # ./deploy/x.sh
        script = PROJECT_ROOT / program
        if not script.is_file():
            return "script exists", False, f"no file {program}"
        done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        return "bash -n", done.returncode == 0, done.stderr.strip()
    if not program.startswith("python"):
        # mlflow, apt-get, sudo, psql, slurmctld, …: another program's command line, not this project's
        return f"skipped: {program} (not this project's)", True, ""
    if args[:2] == ["-m", "run"]:
        rest = args[2:]
        if "-m" in rest or "--multirun" in rest:
            try:
                count = check_sweep(rest)
            except Exception as error:  # what Hydra says about the job that does not compose
                return "sweep composed", False, f"{type(error).__name__}: {str(error).splitlines()[0]}"
            return f"sweep composed ({count} compositions)", True, ""
        shown = any(a in rest for a in ("--help", "-h", "--cfg", "-c", "--info", "--hydra-help"))
        ok, error = _python(["-m", "run", *rest, *([] if shown else ["--cfg", "job"])], env)
        how = "as written" if shown else "--cfg job"
        if ok and not any(a in rest for a in ("--help", "-h", "--hydra-help")):
            how += " + preflight"
            try:
                check_run(rest)
            except Exception as error:  # ConfigError: the one line the run would print
                return how, False, f"{type(error).__name__}: {str(error).splitlines()[0]}"
        return how, ok, error
    if args[:2] == ["-m", "report"]:
        error = check_report(args[2:])
        return "the report's parser and registry", not error, error
    if args[:2] == ["-m", "challenge"]:
        error = check_challenge(args[2:])
        return "the challenge's parser and the activations", not error, error
    if args[:1] == ["-m"] and len(args) > 1 and args[1].startswith("actlab."):
        ok, error = _python(["-m", args[1], "--help"], env)
        return "--help", ok, error
    if args and args[0].endswith(".py"):
        ok, error = _python([args[0], "--help"], env)
        return "--help", ok, error
    return "unknown python command", False, "no rule in actlab.devtools.doc_commands checks it"


def pages(root: Path = PROJECT_ROOT) -> list[Path]:
    """The README, every page in docs/ and the examples' READMEs."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md")), *sorted((root / "examples").glob("*/README.md"))]


def check_pages(paths: list[Path]) -> list[Checked]:
    import tempfile

    results = []
    with tempfile.TemporaryDirectory(prefix="actlab-doc-files-") as folder:
        scratch = Path(folder)
        for path in paths:
            text = path.read_text(encoding="utf-8")
            for name, content in shown_files(text).items():
                (scratch / name).parent.mkdir(parents=True, exist_ok=True)
                (scratch / name).write_text(content, encoding="utf-8")
            for line, command in commands(text):
                how, ok, error = check(command, scratch)
                results.append(Checked(f"{path.relative_to(PROJECT_ROOT)}:{line}", command, how, ok, error))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actlab.devtools.doc_commands", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pages", nargs="*", type=Path, help="Markdown files (default: README.md and docs/*.md)")
    parser.add_argument("--json", action="store_true", help="one JSON list of the results on stdout")
    args = parser.parse_args(argv)
    os.chdir(PROJECT_ROOT)  # the commands are shown to be run from the project folder
    results = check_pages([p.resolve() for p in args.pages] or pages())
    if args.json:
        print(json.dumps([asdict(r) for r in results]))
    else:
        for r in results:
            print(f"{'ok  ' if r.ok else 'FAIL'} {r.source}: {r.command}  [{r.how}]{'  ' + r.error if r.error else ''}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
