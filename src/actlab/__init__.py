"""The activation lab: the run pipeline (`pipeline`), the article's claims (`claims`), the reports
(`reporting`) and developer tools (`devtools`), with the figure and statistics libraries they share."""

from pathlib import Path

# The checkout this package runs from (an editable install): conf/, experiments/ and results/ live here.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
