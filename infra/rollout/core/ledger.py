"""The audit ledger: one append-only record per promote, rollback and gate verdict.

Stores: a JSON-lines file in the repository (the default), or S3 (`s3://bucket/prefix`,
the bucket a self-managed Pulumi backend already uses) with one object per record, written
with If-None-Match so a record is never overwritten.
"""
from __future__ import annotations

import getpass
import json
import os
import subprocess
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from rollout.errors import RolloutError

MOVES = ("promote", "rollback")


class LedgerError(RolloutError):
    """The ledger cannot be read or written; nothing else was changed."""


@dataclass(frozen=True)
class Record:
    time: str  # RFC 3339, UTC
    user: str
    commit: str | None
    stack: str
    action: str  # promote, rollback, gate, watch
    from_stage: str | None
    to_stage: str | None
    verdict: str | None
    values: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["from"], data["to"] = data.pop("from_stage"), data.pop("to_stage")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Record":
        return cls(
            time=data["time"], user=data.get("user", ""), commit=data.get("commit"), stack=data["stack"],
            action=data["action"], from_stage=data.get("from"), to_stage=data.get("to"),
            verdict=data.get("verdict"), values=data.get("values") or {}, reason=data.get("reason", ""),
        )

    @property
    def timestamp(self) -> float:
        return datetime.fromisoformat(self.time.replace("Z", "+00:00")).timestamp()


def iso_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def current_user() -> str:
    """Who ran the command: $ROLLOUT_USER (CI sets it), else git's user.email, else the login name."""
    if os.environ.get("ROLLOUT_USER"):
        return os.environ["ROLLOUT_USER"]
    email = _git(["config", "user.email"], Path.cwd())
    return email or getpass.getuser()


def current_commit(folder: Path) -> str | None:
    return _git(["rev-parse", "HEAD"], folder)


def _git(args: list[str], folder: Path) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


class Ledger(Protocol):
    location: str

    def append(self, record: Record) -> None: ...

    def records(self, stack: str) -> list[Record]: ...


class FileLedger:
    def __init__(self, path: Path):
        self.path = path
        self.location = str(path)

    def append(self, record: Record) -> None:
        line = (json.dumps(record.to_json(), sort_keys=True) + "\n").encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # O_APPEND and one write: concurrent writers add lines, never overwrite them.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise LedgerError(f"cannot write the ledger {self.path}: {exc.strerror or exc}") from None

    def records(self, stack: str) -> list[Record]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise LedgerError(f"cannot read the ledger {self.path}: {exc.strerror or exc}") from None
        out = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = Record.from_json(json.loads(line))
            except (ValueError, KeyError, TypeError):
                raise LedgerError(f"{self.path}:{number}: not a ledger record") from None
            if record.stack == stack:
                out.append(record)
        return out


class S3Ledger:
    def __init__(self, location: str, client: Any = None):
        self.location = location
        bucket, _, prefix = location[len("s3://"):].partition("/")
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # only when an S3 ledger is configured: boto3 takes a while to import

            self._client = boto3.client("s3")
        return self._client

    def _key_prefix(self, stack: str) -> str:
        return f"{self.prefix}/{stack}/" if self.prefix else f"{stack}/"

    def append(self, record: Record) -> None:
        # Time first so keys list in order; a random tail so two writers never pick the same key.
        key = f"{self._key_prefix(record.stack)}{record.time}-{uuid.uuid4().hex[:12]}.json"
        body = json.dumps(record.to_json(), sort_keys=True).encode()
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*",
                                   ContentType="application/json")
        except Exception as exc:  # botocore raises many types; all mean "not recorded"
            raise LedgerError(f"cannot write the ledger at {self.location}: {_aws_reason(exc)}") from None

    def records(self, stack: str) -> list[Record]:
        out = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key_prefix(stack))
            for page in pages:
                for item in page.get("Contents", []):
                    body = self.client.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
                    out.append(Record.from_json(json.loads(body)))
        except LedgerError:
            raise
        except Exception as exc:
            raise LedgerError(f"cannot read the ledger at {self.location}: {_aws_reason(exc)}") from None
        return sorted(out, key=lambda r: r.time)


def _aws_reason(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        err = response["Error"]
        return f"{err.get('Code')}: {err.get('Message')}"
    return f"{type(exc).__name__}: {exc}"


def open_ledger(location: str, stack_file: Path) -> Ledger:
    """`s3://...` or a path; a relative path is relative to the stack file's folder (the repository)."""
    if location.startswith("s3://"):
        return S3Ledger(location)
    path = Path(location)
    return FileLedger(path if path.is_absolute() else stack_file.parent / path)


def make_record(stack: str, action: str, from_stage: str | None, to_stage: str | None, verdict: str | None,
                now: float, folder: Path, values: dict[str, Any] | None = None, reason: str = "") -> Record:
    return Record(
        time=iso_time(now), user=current_user(), commit=current_commit(folder), stack=stack, action=action,
        from_stage=from_stage, to_stage=to_stage, verdict=verdict, values=values or {}, reason=reason,
    )


def soak_start(records: list[Record], stage: str) -> float | None:
    """When the current stage began: the last promote or rollback, if it moved to this stage."""
    moves = [r for r in records if r.action in MOVES]
    if not moves:
        return None
    last = max(moves, key=lambda r: r.time)
    return last.timestamp if last.to_stage == stage else None
