"""The README and docs/: short, in step with the report, every link and every command working.

Nothing here trains: commands are checked by composing their configs (`--cfg job`, or a sweep's
jobs composed in one process) and by parsing their arguments (actlab.devtools.doc_commands).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from actlab.devtools import doc_commands
from actlab.reporting import readme

ROOT = Path(__file__).resolve().parents[1]
PAGES = doc_commands.pages(ROOT)  # README.md, docs/*.md, examples/*/README.md
# Pages written on other branches, linked from here before they arrive: drop a name once it is merged.
WRITTEN_ELSEWHERE: set[Path] = set()
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_the_readme_is_a_page_read_in_five_minutes():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    for heading in ("## Two commands", "## Extend it", "## Read more"):
        assert heading in text


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_carry_no_dates_and_no_issue_numbers(page):
    """History goes to CHANGELOG.md; the pages say how things are."""
    text = page.read_text(encoding="utf-8")
    assert not re.findall(r"\b20\d\d-\d\d-\d\d\b", text)
    assert not re.findall(r"\b[Ii]ssues? #?\d+", text)


def test_the_readme_claims_table_is_the_reports_summary():
    assert readme.readme_table() == readme.summary_table(), (
        "README.md's claims table differs from results/REPORT.md's summary: run `python -m actlab.reporting.readme`")


def test_the_summary_table_is_read_from_under_its_heading(tmp_path):
    report = tmp_path / "REPORT.md"
    report.write_text("# R\n\nintro | not a table\n\n## Summary\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n## Next\n\n| x |\n")
    page = tmp_path / "README.md"
    page.write_text(f"# P\n\n{readme.START}\n| old |\n{readme.END}\n\nafter\n")
    assert readme.summary_table(report) == "| a | b |\n|---|---|\n| 1 | 2 |"
    assert readme.update(page, report) and not readme.update(page, report)
    assert readme.readme_table(page) == readme.summary_table(report)
    assert page.read_text().endswith(f"{readme.END}\n\nafter\n")


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings."""
    found = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_leads_somewhere(page):
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not followed offline
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if linked in WRITTEN_ELSEWHERE and not linked.exists():
            continue
        assert linked.exists(), f"{page.name} links {target}, which does not exist"
        if anchor and linked.suffix == ".md":
            assert anchor in _anchors(linked), f"{page.name} links {target}: no such heading in {linked.name}"


def test_every_page_is_linked_from_the_readme():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"docs/{page.name}" in text, f"docs/{page.name} is not linked from README.md"


@pytest.mark.slow
def test_every_command_shown_parses():
    """All commands of README.md and docs/*.md in one process (composes; `--cfg job` subprocesses)."""
    done = subprocess.run([sys.executable, "-m", "actlab.devtools.doc_commands", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    results = json.loads(done.stdout)
    failed = [f"{r['source']}: {r['command']} [{r['how']}] {r['error']}" for r in results if not r["ok"]]
    assert not failed, "\n".join(failed)
    shown = {r["command"] for r in results}
    assert {"python -m run activation=selu model=deep_mlp", "pytest"} <= shown  # the README's two commands
    checked = [r for r in results if not r["how"].startswith("skipped")]
    assert len(checked) >= 20
    assert done.returncode == 0


def test_commands_are_read_from_bash_blocks_as_a_shell_reads_them():
    text = ("text\n```bash\npip install -e . && python -m run a=1   # a comment\n# only a comment\n"
            "python -m run -m \\\n  b=1,2 \\\n  c=3\n```\n```\npython -m run not=bash\n```\n")
    assert doc_commands.commands(text) == [(3, "pip install -e ."), (3, "python -m run a=1"),
                                           (5, "python -m run -m b=1,2 c=3")]


@pytest.mark.parametrize("command", [
    "python -m run -m activation=relu,swishy seed=0,1",  # an unknown option in a sweep's second value
    "python -m run +activaton=selu",  # composes, but the run refuses a key nothing reads
    "python -m run model.depth=0",  # composes, but the run refuses the value
    "python -m run -m +activaton=selu seed=0,1",
    "python -m run -m experiment=claim99_nothing",
    "python -m report --claim 99",
    "python -m report --bogus",
    "python -m report --challenger swishy",
    "python -m challenge swishy",
    "python -m challenge relu --profile medium",
    "pytest -m slwo",
    "pytest tests/test_nothing.py",
    "bash experiments/nothing.sh",
    "./deploy/nothing.sh",
    "python something_else",
])
def test_the_checker_refuses_what_would_fail(command):
    how, ok, error = doc_commands.check(command)
    assert not ok and error, (command, how)


def test_a_single_run_with_a_typo_fails_its_compose():
    how, ok, error = doc_commands.check("python -m run activaton=selu")
    assert how == "--cfg job" and not ok


def test_a_page_can_show_the_files_of_a_readers_folder():
    text = ("```yaml\n# my_folder/activation/mine.yaml\n_target_: keras.activations.hard_silu\n```\n"
            "```yaml\n# conf/activation/elu.yaml\nnot: written\n```\n")
    assert doc_commands.shown_files(text) == {"my_folder/activation/mine.yaml": "_target_: keras.activations.hard_silu\n"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_test_a_page_names_exists(page):
    """The fault and API tables say which test checks each promise: that test must exist."""
    for path, name in re.findall(r"`?(tests/[\w/]+\.py)(?:::(\w+))?", page.read_text(encoding="utf-8")):
        assert (ROOT / path).is_file(), f"{page.name} names {path}, which does not exist"
        if name:
            assert re.search(rf"^\s*(async )?def {name}\(", (ROOT / path).read_text(), re.MULTILINE), (
                f"{page.name} names {path}::{name}, which is not a test there")


def test_ci_runs_the_readmes_commands_as_written():
    """.ci/run sets up a fresh environment as the README says and runs its test command verbatim."""
    shown = [command for _, command in doc_commands.commands((ROOT / "README.md").read_text(encoding="utf-8"))]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -e '.[test]' && pytest" in ci
    assert {"pip install -e '.[test]'", "pytest"} <= set(shown)


def test_no_text_the_project_generates_or_ships_names_an_issue():
    """Reports, figures and messages say what is so, not which ticket asked for it."""
    pattern = re.compile(r"\(issues? #?\d+\)|\bissue #?\d+\b", re.IGNORECASE)
    for folder in ("src", "experiments", "examples", "conf", "docs"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".yaml", ".md", ".sh") and "egg-info" not in str(path):
                assert not pattern.search(path.read_text(encoding="utf-8")), f"{path.relative_to(ROOT)} names an issue"
