"""The README's claims table: results/REPORT.md's "## Summary" table, copied between two markers.

    python -m actlab.reporting.readme           # copy the report's summary table into README.md
    python -m actlab.reporting.readme --check   # exit 1 (saying so) when the two tables differ

tests/test_docs.py fails while they differ, so a new report and the README arrive together.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from actlab import PROJECT_ROOT, write_atomic

REPORT = PROJECT_ROOT / "results" / "REPORT.md"
README = PROJECT_ROOT / "README.md"
START = "<!-- summary table: generated from results/REPORT.md -->"
END = "<!-- end of summary table -->"


def summary_table(report: Path = REPORT) -> str:
    """The Markdown table under the report's "## Summary" heading (its header row to its last row)."""
    lines = report.read_text(encoding="utf-8").splitlines()
    try:
        start = lines.index("## Summary")
    except ValueError:
        raise ValueError(f"{report}: no '## Summary' heading") from None
    table: list[str] = []
    for line in lines[start + 1:]:
        if line.startswith("|"):
            table.append(line)
        elif table or line.startswith("#"):
            break
    if not table:
        raise ValueError(f"{report}: no table under '## Summary'")
    return "\n".join(table)


def _span(text: str, readme: Path) -> tuple[int, int]:
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{readme}: the markers {START!r} and {END!r} are missing")
    return start + len(START), end


def readme_table(readme: Path = README) -> str:
    """The table the README shows between its markers."""
    text = readme.read_text(encoding="utf-8")
    start, end = _span(text, readme)
    return text[start:end].strip("\n")


def update(readme: Path = README, report: Path = REPORT) -> bool:
    """Copy the report's summary table into the README; True if the README changed."""
    text = readme.read_text(encoding="utf-8")
    start, end = _span(text, readme)
    new = text[:start] + "\n" + summary_table(report) + "\n" + text[end:]
    if new == text:
        return False
    write_atomic(readme, new)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actlab.reporting.readme", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when the tables differ")
    parser.add_argument("--readme", type=Path, default=README, help="default: %(default)s")
    parser.add_argument("--report", type=Path, default=REPORT, help="default: %(default)s")
    args = parser.parse_args(argv)
    try:
        if args.check:
            if readme_table(args.readme) != summary_table(args.report):
                print(f"{args.readme}'s claims table differs from {args.report}'s summary: "
                      "run `python -m actlab.reporting.readme`", file=sys.stderr)
                return 1
            return 0
        changed = update(args.readme, args.report)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{args.readme}: {'claims table updated' if changed else 'claims table already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
