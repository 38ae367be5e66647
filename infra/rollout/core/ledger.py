"""The audit ledger: one append-only record per promote, rollback and gate verdict.

Stores: a JSON-lines file in the repository (the default), or S3 (`s3://bucket/prefix`,
the bucket a self-managed Pulumi backend already uses) with one object per record, written
with If-None-Match so a record is never overwritten.

A move is two records with one id: `intent` before the stack file is edited, `done` after.
An intent left without a `done` (the command was killed in between) is closed by the next
move of that stack, under the stack lock: `recovered` if the file holds the intent's target,
`aborted` if it does not. So the ledger never calls a move done that the file does not hold,
and a move that reached the file is never missing from it.
"""
from __future__ import annotations

import fcntl
import getpass
import json
import os
import re
import subprocess
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol, Sequence

from rollout.errors import ConfigError, RolloutError

MOVES = ("promote", "rollback")
INTENT, DONE, RECOVERED, ABORTED = "intent", "done", "recovered", "aborted"
PHASES = (INTENT, DONE, RECOVERED, ABORTED)
CLOSING = (DONE, RECOVERED, ABORTED)
LANDED = (None, DONE, RECOVERED)  # None: a move written before records had phases

MAX_LEDGER_BYTES = 64 * 2**20  # what rollout reads of a ledger, file or S3
MAX_S3_RECORDS = 20_000
MAX_RECORD_BYTES = 2**20


class LedgerError(RolloutError):
    """The ledger cannot be read or written; nothing else was changed."""


class LedgerCorrupt(LedgerError):
    """A record that is not a ledger record (half a line, not JSON, a bad time, missing fields)."""


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
    id: str = ""  # shared by the intent and the record that closes it
    phase: str | None = None  # moves: intent, done, recovered, aborted; gate verdicts: None
    origin: str = ""  # moves: the stack file they edit (resolved), so a shared store knows whose intent it is

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["from"], data["to"] = data.pop("from_stage"), data.pop("to_stage")
        return data

    @classmethod
    def from_json(cls, data: Any) -> "Record":
        """A record read back; ValueError says what is wrong with it."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        for key in ("time", "stack", "action"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise ValueError(f"{key!r} is missing or not text")
        _timestamp(data["time"])
        action, phase = data["action"], data.get("phase")
        if phase is not None and phase not in PHASES:
            raise ValueError(f"'phase' {phase!r} is not one of {', '.join(PHASES)}")
        if action in MOVES and not (isinstance(data.get("from"), str) and isinstance(data.get("to"), str)):
            raise ValueError(f"a {action} needs 'from' and 'to' stages")
        if phase is not None and not (isinstance(data.get("id"), str) and data["id"]):
            raise ValueError("a record with a phase needs an 'id'")
        if not isinstance(data.get("values") or {}, dict):
            raise ValueError("'values' is not a mapping")
        return cls(
            time=data["time"], user=str(data.get("user", "")), commit=data.get("commit"), stack=data["stack"],
            action=action, from_stage=data.get("from"), to_stage=data.get("to"),
            verdict=data.get("verdict"), values=data.get("values") or {}, reason=str(data.get("reason", "")),
            id=str(data.get("id") or ""), phase=phase, origin=str(data.get("origin") or ""),
        )

    @property
    def timestamp(self) -> float:
        return _timestamp(self.time)


def _timestamp(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"'time' {text!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise ValueError(f"'time' {text!r} has no time zone (rollout writes UTC, ending in Z)")
    return moment.timestamp()


def iso_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def clock_text(seconds: float) -> str:
    """A moment for people (gate reports, Slack): to the second, UTC."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _iso_ms(millis: int) -> str:
    moment = datetime.fromtimestamp(millis // 1000, timezone.utc) + timedelta(milliseconds=millis % 1000)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record_time(records: Sequence[Record], now: float) -> str:
    """`now`, but after every record already read: under the stack lock, ledger time order is move order."""
    last = max((round(r.timestamp * 1000) for r in records), default=0)
    return _iso_ms(max(int(now * 1000), last + 1))


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
    shared: bool  # other checkouts write to it too (S3), so an open intent may be theirs and still running

    def append(self, record: Record) -> None: ...

    def records(self, stack: str) -> list[Record]: ...


class FileLedger:
    shared = False  # inside the project: only this checkout writes it

    def __init__(self, path: Path):
        self.path = path
        self.location = str(path)

    def append(self, record: Record) -> None:
        line = (json.dumps(record.to_json(), sort_keys=True) + "\n").encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # readers and other writers see whole lines only
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line  # never glue a record onto a half line
                os.write(fd, line)  # O_APPEND and one write: earlier lines are never overwritten
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise LedgerError(f"cannot write the ledger {self.path}: {exc.strerror or exc}") from None

    def records(self, stack: str) -> list[Record]:
        """This stack's records in the order they were written."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):  # no ledger yet; writing it will say what is in the way
            return []
        except OSError as exc:
            raise LedgerError(f"cannot read the ledger {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            size = os.fstat(fd).st_size
            if size > MAX_LEDGER_BYTES:
                raise LedgerError(
                    f"the ledger {self.path} is {size / 2**20:.0f} MiB, more than the {MAX_LEDGER_BYTES // 2**20} MiB "
                    "rollout reads; move it aside (keep it: it is the audit trail) and start a new one")
            chunks = []
            while chunk := os.read(fd, 2**20):
                chunks.append(chunk)
        except IsADirectoryError:
            raise LedgerError(f"cannot read the ledger {self.path}: it is a folder") from None
        except OSError as exc:
            raise LedgerError(f"cannot read the ledger {self.path}: {exc.strerror or exc}") from None
        finally:
            os.close(fd)
        out = []
        for number, raw in enumerate(b"".join(chunks).split(b"\n"), 1):
            if not raw.strip():
                continue
            try:
                record = Record.from_json(json.loads(raw.decode("utf-8")))
            except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError included
                raise LedgerCorrupt(f"{self.path}:{number}: not a ledger record ({_problem(exc)}); "
                                    "fix or remove that line: rollout never rewrites the ledger") from None
            if record.stack == stack:
                out.append(record)
        return out


def _problem(exc: ValueError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON: {exc.msg} at column {exc.colno}"
    return str(exc)


class S3Ledger:
    shared = True

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
        """This stack's records in time order; refuses more than MAX_S3_RECORDS or MAX_LEDGER_BYTES."""
        out: list[tuple[str, str, Record]] = []
        total = 0
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key_prefix(stack))
            for page in pages:
                for item in page.get("Contents", []):
                    total += item.get("Size", 0)
                    if len(out) >= MAX_S3_RECORDS or total > MAX_LEDGER_BYTES:
                        raise LedgerError(
                            f"the ledger at {self.location} holds more than {MAX_S3_RECORDS} records or "
                            f"{MAX_LEDGER_BYTES // 2**20} MiB for {stack}, more than rollout reads; "
                            f"move older records out of {self._key_prefix(stack)} (keep them: they are the audit trail)")
                    body = self.client.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read(MAX_RECORD_BYTES + 1)
                    try:
                        if len(body) > MAX_RECORD_BYTES:
                            raise ValueError(f"larger than {MAX_RECORD_BYTES // 2**20} MiB")
                        record = Record.from_json(json.loads(body.decode("utf-8")))
                    except ValueError as exc:
                        raise LedgerCorrupt(f"s3://{self.bucket}/{item['Key']}: not a ledger record ({_problem(exc)}); "
                                            "fix or remove that object: rollout never rewrites the ledger") from None
                    out.append((record.time, item["Key"], record))
        except LedgerError:
            raise
        except Exception as exc:
            raise LedgerError(f"cannot read the ledger at {self.location}: {_aws_reason(exc)}") from None
        return [record for _, _, record in sorted(out, key=lambda t: (_timestamp(t[0]), t[1]))]


def _aws_reason(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        err = response["Error"]
        return f"{err.get('Code')}: {err.get('Message')}"
    return f"{type(exc).__name__}: {exc}"


_STACK_FILE_NAME = re.compile(r"Pulumi(\..+)?\.ya?ml")


def open_ledger(location: str, stack_file: Path) -> Ledger:
    """`s3://...` or a path inside the stack file's folder (relative paths are relative to it)."""
    if location.startswith("s3://"):
        return S3Ledger(location)
    root = stack_file.parent.resolve()
    path = (root / location).resolve()  # `..` and symbolic links resolved before the check
    if path != root and root not in path.parents:
        raise ConfigError(stack_file.name, "rollout:gates.ledger",
                          f"{location!r} is outside the project folder {root}; give a path inside it "
                          "(e.g. ledger/prod.jsonl) or an s3://bucket/prefix URL")
    if path == root or _STACK_FILE_NAME.fullmatch(path.name):
        raise ConfigError(stack_file.name, "rollout:gates.ledger",
                          f"{location!r} is not a ledger file name; give e.g. ledger/prod.jsonl")
    return FileLedger(path)


def new_id() -> str:
    return uuid.uuid4().hex[:16]


def make_record(stack: str, action: str, from_stage: str | None, to_stage: str | None, verdict: str | None,
                now: float, folder: Path, values: dict[str, Any] | None = None, reason: str = "",
                phase: str | None = None, after: Sequence[Record] = (), origin: str = "") -> Record:
    """`after`: records it must come after in time order (a move's, read under the stack lock)."""
    return Record(
        time=record_time(after, now), user=current_user(), commit=current_commit(folder), stack=stack, action=action,
        from_stage=from_stage, to_stage=to_stage, verdict=verdict, values=values or {}, reason=reason,
        id=new_id(), phase=phase, origin=origin,
    )


# -- reading moves back ------------------------------------------------------------

def dangling_intents(records: list[Record]) -> list[Record]:
    """Intents that no done, recovered or aborted record closes."""
    closed = {r.id for r in records if r.phase in CLOSING}
    return [r for r in records if r.phase == INTENT and r.id not in closed]


def close_intent(intent: Record, file_stage: str, time: str) -> Record:
    """What became of an interrupted move, judged from the stage the stack file holds now."""
    if file_stage == intent.to_stage:
        phase = RECOVERED
        why = (f"recovered: the stack file holds {file_stage}; the command that moved it "
               "stopped before recording it")
    elif file_stage == intent.from_stage:
        phase = ABORTED
        why = f"aborted: the stack file still holds {file_stage}; the command stopped before changing it"
    else:
        phase = ABORTED
        why = (f"aborted: the stack file holds {file_stage}, neither {intent.from_stage} nor "
               f"{intent.to_stage}; it was changed outside rollout since")
    return replace(intent, time=time, phase=phase, reason=why + (f" ({intent.reason})" if intent.reason else ""))


def history(records: list[Record]) -> list[Record]:
    """One entry per move (its latest phase, so an intent shows only if nothing closed it) and every verdict."""
    closed = {r.id for r in records if r.phase in CLOSING}
    return [r for r in records if not (r.phase == INTENT and r.id in closed)]


def landed_moves(records: list[Record]) -> list[Record]:
    """Promotes and rollbacks that reached the stack file, in ledger order."""
    return [r for r in records if r.action in MOVES and r.phase in LANDED]


def soak_start(records: list[Record], stage: str) -> float | None:
    """When the current stage began: the last move that landed, if it moved to this stage."""
    moves = landed_moves(records)
    if not moves:
        return None
    last = max(moves, key=lambda r: r.timestamp)
    return last.timestamp if last.to_stage == stage else None
