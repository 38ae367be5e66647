"""Does a plain config value look like a credential? Yelp's detect-secrets decides; webhook URLs it misses are added.

detect-secrets costs about 0.1 s to import (it pulls in `requests`), so it is imported only when
there is something to check, and `credential_problems` remembers clean batches in a small cache
so that `rollout status` on an unchanged stack file never imports it.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from pathlib import Path
from typing import Iterable
from urllib.parse import parse_qsl, urlsplit

# The file name only tells detect-secrets's keyword plugin to read `KEY: "value"` as YAML config.
_SCAN_AS = "rollout-env.yaml"
# Query parameters that carry a credential in webhook and API URLs (`?token=`, `?sig=` ...).
_TOKEN_PARAMS = re.compile(r"(access_?)?token|(api_?)?key|secret|sig|signature|password|passwd|auth|code", re.I)
# A path under .../webhook(s)/ or .../hooks/ (Discord, Teams ...) whose segment is a token: long, letters and digits.
_WEBHOOK_DIR = re.compile(r"/(web)?hooks?[a-z0-9]*/(.+)", re.I)
_TOKEN_SEGMENT = re.compile(r"(?=[A-Za-z0-9_-]*[0-9])(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{20,}")
_KEEP_CACHE_ENTRIES = 256


def credential_problem(key: str, value: str) -> str | None:
    """Why `value`, set as `key` in plain config, looks like a credential; None when it does not."""
    kinds = _detect_secrets_kinds(key, value) + _webhook_kinds(value)
    if not kinds:
        return None
    return f"looks like a credential ({', '.join(dict.fromkeys(kinds))})"


def credential_problems(pairs: Iterable[tuple[str, str]], cache_dir: Path | None = None) -> list[tuple[str, str]]:
    """(key, why) for every (key, value) that looks like a credential, in order.

    A batch found clean is remembered by a digest (never the values) in the cache folder, so the
    next run with the same values, detect-secrets and rules skips the import.
    """
    pairs = [(str(k), str(v)) for k, v in pairs if str(v)]
    if not pairs:
        return []
    folder = cache_dir if cache_dir is not None else default_cache_dir()
    marker = folder / f"clean-{_batch_digest(pairs)}" if folder else None
    if marker is not None and marker.exists():
        return []
    problems = [(k, why) for k, v in pairs if (why := credential_problem(k, v))]
    if not problems and marker is not None:
        _remember(marker)
    return problems


def default_cache_dir() -> Path | None:
    """$ROLLOUT_CACHE_DIR, else the XDG cache folder; an empty ROLLOUT_CACHE_DIR turns the cache off."""
    configured = os.environ.get("ROLLOUT_CACHE_DIR")
    if configured is not None:
        return Path(configured) if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rollout" / "credential-checks"


# -- detect-secrets ---------------------------------------------------------------------------

def _detect_secrets_kinds(key: str, value: str) -> list[str]:
    from detect_secrets.core.scan import _process_line_based_plugins  # the scan detect-secrets runs on a file, filters included
    from detect_secrets.settings import default_settings

    lines = [(number, f'{key}: "{line.replace(chr(34), chr(39))}"')
             for number, line in enumerate(value.splitlines() or [value], start=1)]
    with default_settings():  # every plugin, default filters and entropy limits
        return sorted({secret.type for secret in _process_line_based_plugins(lines, _SCAN_AS)})


# -- webhook URLs detect-secrets does not know ---------------------------------------------------

def _webhook_kinds(value: str) -> list[str]:
    kinds = []
    for word in value.split():
        if "://" not in word:
            continue
        parts = urlsplit(word)
        if any(_TOKEN_PARAMS.fullmatch(name) and len(val) >= 8 for name, val in parse_qsl(parts.query)):
            kinds.append("URL with a token in its query")
        under_hooks = _WEBHOOK_DIR.search(parts.path)
        if under_hooks and any(_TOKEN_SEGMENT.fullmatch(s) for s in under_hooks.group(2).split("/")):
            kinds.append("webhook URL with a token in its path")
    return kinds


# -- the clean-batch cache ---------------------------------------------------------------------

def _batch_digest(pairs: list[tuple[str, str]]) -> str:
    """Changes with the values, the installed detect-secrets and this module's rules."""
    digest = hashlib.sha256()
    spec = importlib.util.find_spec("detect_secrets")  # finds the package without importing it
    for source in (spec.origin if spec else None, __file__):
        if source:
            stat = os.stat(source)
            digest.update(f"{source}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    for key, value in sorted(pairs):
        digest.update(f"{len(key)}:{key}{len(value)}:{value}".encode())
    return digest.hexdigest()[:32]


def _remember(marker: Path) -> None:
    """Best effort: a cache that cannot be written only costs the next run the import."""
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        entries = sorted(marker.parent.glob("clean-*"), key=lambda p: p.stat().st_mtime)
        for old in entries[:-_KEEP_CACHE_ENTRIES]:
            old.unlink(missing_ok=True)
    except OSError:
        pass
