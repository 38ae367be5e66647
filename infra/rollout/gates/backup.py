"""Is there a fresh Cloud SQL backup? The newest successful backup run of an instance, from the Cloud
SQL Admin API (`GET /v1/projects/{project}/instances/{instance}/backupRuns`).

GREEN when the newest successful run ended within the bound; RED when the newest one is older, or
none succeeded; NO DATA when the API cannot be asked or answers something unreadable. Backups made
with the newer `projects/*/backups` API (enhanced backups) are not listed by backupRuns.
"""
from __future__ import annotations

import http.client
import json
import os
import urllib.parse
from datetime import datetime
from typing import Any, Callable, Mapping

from rollout.gates.evaluate import GREEN, NO_DATA, RED, Row, format_duration
from rollout.gates.google import GoogleCredentialsUnavailable
from rollout.net.http import Deadline, TimeUp, TooLarge, send
from rollout.spec.gcp import BackupCheck
from rollout.spec.model import Unit

SQLADMIN_URL = "https://sqladmin.googleapis.com"
SQLADMIN_ENV = "ROLLOUT_SQLADMIN_URL"  # another API root, e.g. a local fake in tests
CHECK = "cloudSqlBackup"
MAX_ANSWER_BYTES = 1024 * 1024  # 100 backup runs are a few tens of kB


class BackupUnknown(Exception):
    """The API could not say (unreachable, refused, or an answer without a readable time)."""


def backup_runs(check: BackupCheck, headers: Mapping[str, str], api_root: str, timeout: float) -> list[dict[str, Any]]:
    path = f"/v1/projects/{urllib.parse.quote(check.project)}/instances/{urllib.parse.quote(check.instance)}/backupRuns"
    try:
        with Deadline(timeout) as deadline:
            status, body = send(f"{api_root.rstrip('/')}{path}?maxResults=100", None,
                                {"Accept": "application/json", **headers}, deadline, MAX_ANSWER_BYTES)
    except TimeUp:
        raise BackupUnknown(f"the Cloud SQL Admin API at {api_root} did not answer within {timeout:g}s") from None
    except TooLarge:
        raise BackupUnknown("the Cloud SQL Admin API's answer is larger than any list of backup runs") from None
    except (OSError, http.client.HTTPException) as exc:
        raise BackupUnknown(f"cannot reach the Cloud SQL Admin API at {api_root}: {getattr(exc, 'strerror', None) or exc}") from None
    if status != 200:
        detail = body[:300].decode("utf-8", "replace").strip()
        raise BackupUnknown(f"the Cloud SQL Admin API answered HTTP {status} for {check.project}/{check.instance}: "
                            f"{detail or 'no detail'}")
    try:
        data = json.loads(body)
    except ValueError:
        raise BackupUnknown("the Cloud SQL Admin API answered something that is not JSON") from None
    items = data.get("items", []) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise BackupUnknown("the Cloud SQL Admin API's answer has no list of backup runs")
    return items


def newest_success(runs: list[dict[str, Any]]) -> float | None:
    """When the newest successful run ended (unix seconds), or None when none succeeded.
    Every successful run must carry a readable endTime: a success we cannot date is not evidence."""
    ends = []
    for run in runs:
        if not isinstance(run, dict) or run.get("status") != "SUCCESSFUL":
            continue
        try:
            ends.append(datetime.fromisoformat(str(run["endTime"]).replace("Z", "+00:00")).timestamp())
        except (KeyError, ValueError):
            raise BackupUnknown(f"a successful backup run ({run.get('id', '?')}) has no readable endTime") from None
    return max(ends, default=None)


def backup_row(check: BackupCheck, stage: str, now: float, headers: Callable[[], Mapping[str, str]],
               api_root: str | None = None, timeout: float = 10.0) -> Row:
    """The gate's row for `promote` into `stage`: a successful backup younger than check.max_age."""
    api_root = api_root or os.environ.get(SQLADMIN_ENV) or SQLADMIN_URL
    threshold = f"<= {check.max_age} old before {stage}"
    title = f"Cloud SQL backup of {check.instance}"
    try:
        ended = newest_success(backup_runs(check, headers(), api_root, timeout))
    except (BackupUnknown, GoogleCredentialsUnavailable) as exc:
        return Row("-", CHECK, title, Unit.SECONDS, {check.instance: None}, threshold, NO_DATA, str(exc))
    if ended is None:
        return Row("-", CHECK, title, Unit.SECONDS, {check.instance: None}, threshold, RED,
                   f"{check.project}/{check.instance} has no successful backup run: take one "
                   f"(gcloud sql backups create --instance {check.instance} --project {check.project})")
    age = max(0.0, now - ended)
    if age > check.max_age.seconds:
        return Row("-", CHECK, title, Unit.SECONDS, {check.instance: age}, threshold, RED,
                   f"the newest successful backup of {check.instance} is {format_duration(round(age))} old: take one "
                   f"(gcloud sql backups create --instance {check.instance} --project {check.project})")
    return Row("-", CHECK, title, Unit.SECONDS, {check.instance: age}, threshold, GREEN)
