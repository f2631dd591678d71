"""The claims, found where their files are: an experiment YAML with a `claim:` node, and the
module of the same name beside it (as lm-evaluation-harness finds its tasks).

    experiments/claim07_selu_self_normalization.yaml   # the sweep, and `claim:` (sentence, workers, ...)
    experiments/claim07_selu_self_normalization.py     # `analysis`: runs -> verdict, numbers, figure

`discover(dirs)` walks `experiments/` and every `--config-dir` folder's `experiment/` subfolder; a
user's claim of the same name replaces the project's. Nothing else lists the claims.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from omegaconf import OmegaConf

from actlab.claims.base import Challenge, Claim, DecidingTest
from actlab.pipeline.config import CONF_DIR
from actlab.stats import SIDES

# The keys a `claim:` node may hold (a typo is an error, not a silently ignored key).
# `tests`: the deciding tests (declared, see docs/claims.md); `rule`: the thresholds a claim's
# rule reads, stated beside them (its module loads them from this YAML).
CLAIM_KEYS = {"number", "title", "article", "workers", "within", "challenger", "literature", "tests", "rule"}
CHALLENGE_KEYS = {"joins", "in_place_of", "column", "as", "skip", "field"}
TEST_KEYS = {"test", "blocks", "over", "margin", "treatments", "without"}  # margin: a TOST's equivalence margin, which the claim states


class ClaimError(ValueError):
    """A claim's files are incomplete or malformed: the message names the file."""


def _experiment_folders(dirs: list[Path] | None) -> list[Path]:
    folders = []
    for d in dirs or [CONF_DIR]:
        folder = Path(d) / "experiment"
        if folder.is_dir() and folder.resolve() not in [f.resolve() for f in folders]:
            folders.append(folder)
    return folders


def _module(path: Path):
    """The claim's module, imported from its file (experiment folders are not packages)."""
    name = f"actlab_claim_{path.stem}_{abs(hash(str(path.resolve()))) % 10**8}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise ClaimError(f"{path}: the claim's module does not import: {type(error).__name__}: {error}") from None
    return module


def load(path: Path) -> Claim | None:
    """The claim an experiment YAML declares, or None for an experiment that is not a claim."""
    node = OmegaConf.load(path).get("claim")
    if node is None:
        return None
    spec = OmegaConf.to_container(node, resolve=False)
    unknown = set(spec) - CLAIM_KEYS
    if unknown:
        raise ClaimError(f"{path}: claim.{sorted(unknown)[0]} is not a claim key (allowed: {', '.join(sorted(CLAIM_KEYS))})")
    for key in ("title", "article"):
        if not spec.get(key):
            raise ClaimError(f"{path}: claim.{key} is missing (every claim says what the article says and names itself)")
    module_path = path.with_suffix(".py")
    if not module_path.exists():
        raise ClaimError(f"{path}: no module {module_path.name} beside it (it defines `analysis`: runs -> verdict)")
    module = _module(module_path)
    if not callable(getattr(module, "analysis", None)):
        raise ClaimError(f"{module_path}: defines no `analysis` (an actlab.claims.base.Analysis, or evidence, out -> ClaimResult)")
    challenge = dict(spec.get("challenger") or {})
    if set(challenge) - CHALLENGE_KEYS:
        raise ClaimError(f"{path}: claim.challenger.{sorted(set(challenge) - CHALLENGE_KEYS)[0]} is not allowed "
                         f"(one of {', '.join(sorted(CHALLENGE_KEYS))})")
    challenge["as_value"] = challenge.pop("as", None)
    literature = list(spec.get("literature") or [])
    for row in literature:
        if not callable(getattr(module, row.get("harness", ""), None)):
            raise ClaimError(f"{path}: literature row '{row.get('paper')}' names harness '{row.get('harness')}', "
                             f"which {module_path.name} does not define")
    return Claim(name=path.stem, title=spec["title"], article=spec["article"], module=module, path=path,
                 tests=deciding_tests(path, spec.get("tests") or {}),
                 number=spec.get("number"), workers=int(spec.get("workers", 2)), within=spec.get("within"),
                 challenge=Challenge(**challenge), literature=literature)


def deciding_tests(path: Path, spec: dict) -> tuple[DecidingTest, ...]:
    """`claim.tests`: name -> {test, blocks, over, margin}, checked against what actlab.stats knows."""
    tests = []
    for name, node in spec.items():
        node = dict(node or {})
        if set(node) - TEST_KEYS:
            raise ClaimError(f"{path}: claim.tests.{name}.{sorted(set(node) - TEST_KEYS)[0]} is not allowed (one of {', '.join(sorted(TEST_KEYS))})")
        if node.get("test") not in SIDES:
            raise ClaimError(f"{path}: claim.tests.{name}.test is '{node.get('test')}' (one of {', '.join(SIDES)})")
        if node["test"] in ("friedman", "page") and not node.get("over"):
            raise ClaimError(f"{path}: claim.tests.{name} is a Friedman test: it needs `over`, the column of its treatments")
        if (node["test"] == "tost") != ("margin" in node):
            raise ClaimError(f"{path}: claim.tests.{name}: a TOST needs its `margin` (a positive number), and only a TOST has one")
        if "margin" in node and (not isinstance(node["margin"], (int, float)) or isinstance(node["margin"], bool) or node["margin"] <= 0):
            raise ClaimError(f"{path}: claim.tests.{name}.margin is '{node['margin']}' (a positive number)")
        blocks = node.get("blocks", ["seed"])
        without = node.get("without") or {}
        if not isinstance(without, dict):
            raise ClaimError(f"{path}: claim.tests.{name}.without is '{without}' (a mapping: column -> the values the test leaves out)")
        left_out = tuple((column, tuple(str(v) for v in (values if isinstance(values, list) else [values])))
                         for column, values in without.items())
        tests.append(DecidingTest(name, node["test"], tuple([blocks] if isinstance(blocks, str) else blocks), node.get("over"),
                                  node.get("treatments"), left_out))
    return tuple(tests)


def discover(dirs: list[Path] | None = None) -> dict[str, Claim]:
    """Every claim of the config tree, in the article's order, then a user's claims by name."""
    found: dict[str, Claim] = {}
    for folder in _experiment_folders(dirs):
        for path in sorted(folder.glob("*.yaml")):
            claim = load(path)
            if claim is not None:
                found[claim.name] = claim
    for claim in found.values():
        if claim.within is not None and claim.within not in found:
            raise ClaimError(f"{claim.path}: claim.within names '{claim.within}', which is not a claim (one of {', '.join(found)})")
    return dict(sorted(found.items(), key=lambda item: (item[1].number is None, item[1].number or 0, item[0])))


def find(key: str | int, claims: dict[str, Claim]) -> Claim:
    """A claim by its name, or by its number (`7`): what `python -m report --claim` takes."""
    key = str(key)
    if key in claims:
        return claims[key]
    by_number = {str(c.number): c for c in claims.values() if c.number is not None}
    if key in by_number:
        return by_number[key]
    raise ClaimError(f"--claim {key} is not a claim (one of: {', '.join(c.key for c in claims.values())}; "
                     "a claim of your own needs --config-dir)")
