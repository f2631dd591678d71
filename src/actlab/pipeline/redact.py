"""Secrets never logged: the one place that blanks passwords and tokens out of what the harness
writes (MLflow params, tags and description, the config.yaml / overrides.yaml artifacts, Hydra's
.hydra/ folder and multirun.yaml, outcome files, the console, reports). Every writer calls it.

A secret is:
- the password in a URI's user part (`http://user:PASSWORD@host`), and a query parameter named
  like a secret (`?token=...`);
- a config value under a key named like a secret: its last part contains `password`, `token`,
  `secret` or `api_key` (`db.password`, `hf_token`, `client_secret`, `openai_api_key`);
- the value of an environment variable named like one (MLFLOW_TRACKING_PASSWORD,
  MLFLOW_TRACKING_TOKEN, MY_API_KEY, ...), wherever it appears in text;
- any value `remember`ed from a config (so an error message quoting it is blanked too).
Each is replaced by `***`. Values shorter than MIN_LENGTH characters are blanked where their key
or URI says they are secret, but not searched for in free text (a 1-character "secret" would
blank every digit).
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterable

MASK = "***"
MIN_LENGTH = 4
# A key is secret-like when one of these is a whole word of its last part (`hf_token`, `db_password`,
# `openai_api_key`; not `tokenizer` or `max_tokens`).
_SECRET_KEY = re.compile(r"(?:^|_)(?:password|passwd|token|secret|secrets|api_key|apikey)(?:_|$)")
# scheme://user:password@  (the user name stays: it says who wrote, and is no secret)
_URI_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(?P<secret>[^@/\s]+)(?=@)")
# ?token=...  &api_key=...  (kept only where the name is secret-like: see _keyed)
_QUERY_SECRET = re.compile(r"(?P<head>[?&;](?P<key>[\w-]+)=)(?P<secret>[^&#\s'\"]+)")
# key=value or key: value (command-line overrides, YAML lines, messages)
_KEY_VALUE = re.compile(r"(?P<head>(?:^|(?<=[\s,(\[{'\"]))[+~]{0,2}(?P<key>[\w./-]+)['\"]?[ \t]*[=:][ \t]*)"
                        r"(?P<secret>(?!\*\*\*)[^\s,'\"\])}]+)", re.MULTILINE)
_PATTERNS = (_URI_PASSWORD, _QUERY_SECRET, _KEY_VALUE)


def _keyed(match: re.Match) -> bool:
    """A match is a secret: a URI password always, a key=value pair if its key is secret-like."""
    return "key" not in match.groupdict() or is_secret_key(match.group("key"))


_REMEMBERED: set[str] = set()


def is_secret_key(key: Any) -> bool:
    """`db.password`, `+tracking.api_key`, `HF_TOKEN`, `client-secret`: named like a secret."""
    last = re.split(r"[./]", str(key).lstrip("+~"))[-1].lower().replace("-", "_")
    return bool(_SECRET_KEY.search(last))


def _environment() -> list[tuple[str, str]]:
    """os.environ's items, read again if another thread (MLflow's telemetry) sets or unsets a variable
    meanwhile: iterating os.environ then raises KeyError or RuntimeError."""
    for _ in range(100):
        try:
            return list(os.environ.items())
        except (KeyError, RuntimeError):
            continue
    return list(os.environ.items())


def _env_secrets() -> list[str]:
    return [value for name, value in _environment() if is_secret_key(name) and len(value) >= MIN_LENGTH]


def remember(value: Any) -> None:
    """Blank this value wherever it appears in text from now on (this process)."""
    if isinstance(value, str) and len(value) >= MIN_LENGTH and value != MASK:
        _REMEMBERED.add(value)


def remember_config(tree: Any) -> None:
    """Remember every secret a config holds: values under secret-like keys, URI passwords."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if is_secret_key(key) and not isinstance(value, (dict, list)):
                remember(str(value))
            remember_config(value)
    elif isinstance(tree, (list, tuple)):
        for value in tree:
            remember_config(value)
    elif isinstance(tree, str):
        for pattern in _PATTERNS:
            for match in pattern.finditer(tree):
                if _keyed(match):
                    remember(match.group("secret"))


def remember_omegaconf(cfg: Any) -> None:
    """`remember_config` for an OmegaConf tree, its interpolations resolved where they resolve."""
    from omegaconf import OmegaConf

    for resolve in (True, False):
        try:
            remember_config(OmegaConf.to_container(cfg, resolve=resolve))
        except Exception:
            continue


def text(value: Any) -> str:
    """`value` as text with every secret in it replaced by ***."""
    out = str(value)
    if not out:
        return out
    for pattern in _PATTERNS:
        out = pattern.sub(lambda m: m.group("head") + MASK if _keyed(m) else m.group(0), out)
    for secret in sorted({*_REMEMBERED, *_env_secrets()}, key=len, reverse=True):
        if secret in out:
            out = out.replace(secret, MASK)
    return out


def tree(node: Any) -> Any:
    """A copy of a config tree (dicts, lists, scalars) with secret-keyed values and secrets in
    strings replaced by ***; other values are left as they are (numbers stay numbers)."""
    if isinstance(node, dict):
        return {key: (MASK if is_secret_key(key) and value not in (None, "") else tree(value))
                for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        return [tree(value) for value in node]
    if isinstance(node, str):
        return text(node)
    return node


def override(item: str) -> str:
    """One command-line override, `key=value`, with its value blanked if the key is secret-like."""
    key, sep, value = str(item).partition("=")
    if sep and is_secret_key(key) and value:
        return f"{key}={MASK}"
    return text(item)


def overrides(items: Iterable[str]) -> list[str]:
    return [override(item) for item in items]


def uri(value: str) -> str:
    """A tracking URI as it may be shown: `http://alice:***@host:5000`."""
    return text(value)
