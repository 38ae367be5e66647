"""One writer per stack file: an exclusive flock on `.Pulumi.<stack>.yaml.lock` beside the file.

The holder writes who it is into the lock file so that a waiter can name it, and removes the
file when it is done (a waiter that locked a file just removed tries again on the new one).
A holder killed with -9 loses the lock with its process; its stale lock file is taken over.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from rollout.core.ledger import current_user, iso_time
from rollout.errors import RolloutError, UsageError

WAIT_ENV = "ROLLOUT_LOCK_WAIT"
DEFAULT_WAIT = 10.0  # seconds a second writer waits before giving up
_POLL = 0.02
_HOLDER_BYTES = 4096


class StackLocked(RolloutError):
    """Another rollout is moving this stack and did not finish within the wait."""


@dataclass(frozen=True)
class Holder:
    user: str
    host: str
    pid: int
    command: str
    since: str

    def describe(self) -> str:
        return f"{self.user} on {self.host} (pid {self.pid}, `{self.command}`, since {self.since})"

    def alive(self) -> bool:
        """False only when we can tell the process is gone (same host, no such pid)."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def lock_path(stack_file: Path) -> Path:
    """Beside the file that is edited: a symlinked stack file is locked where its target lives."""
    target = stack_file.resolve()
    return target.with_name(f".{target.name}.lock")


def lock_wait() -> float:
    text = os.environ.get(WAIT_ENV)
    if not text:
        return DEFAULT_WAIT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise UsageError(f"${WAIT_ENV}={text!r} is not a number of seconds (e.g. 10)")
    return seconds


@contextmanager
def stack_lock(stack_file: Path, command: str, wait: float | None = None) -> Iterator[Holder]:
    """Hold the stack's lock for the block; waits up to `wait` seconds, then raises StackLocked."""
    path = lock_path(stack_file)
    wait = lock_wait() if wait is None else wait
    deadline = time.monotonic() + wait
    last_try = False
    while True:
        fd = _open(path, stack_file)
        if _try_lock(fd):
            if _still_there(fd, path):
                break
            os.close(fd)  # the last holder removed the file as we locked it: lock the new one
            continue
        os.close(fd)
        if time.monotonic() >= deadline:
            holder = _read_holder(path)
            if holder is None and not last_try:
                last_try = True  # the holder finished while we gave up: one more try
                continue
            who = holder.describe() if holder else "another rollout process that has not said who it is yet"
            raise StackLocked(
                f"{stack_file.name} is being changed by {who}; waited {wait:g}s for it "
                f"(lock {path}). Nothing was changed: run the command again when it is done "
                f"(${WAIT_ENV} sets the wait)")
        time.sleep(_POLL)
    holder = Holder(current_user(), socket.gethostname(), os.getpid(), command, iso_time(time.time()))
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(holder)).encode(), 0)
        yield holder
    finally:
        try:
            os.unlink(path)  # while still locked: nobody can be holding the file we remove
        except FileNotFoundError:
            pass
        os.close(fd)


def _open(path: Path, stack_file: Path) -> int:
    try:
        # O_NOFOLLOW: a link planted at the lock's name must not make us truncate another file.
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RolloutError(f"the lock file {path} is a symbolic link; remove it and run again") from None
        raise RolloutError(f"cannot create the lock file {path} beside {stack_file.name}: "
                           f"{exc.strerror or exc}; rollout needs to write in that folder") from None


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _still_there(fd: int, path: Path) -> bool:
    """The file we locked is still the one at `path` (the last holder may have just removed it)."""
    try:
        current = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (current.st_dev, current.st_ino)


def _read_holder(path: Path, patience: float = 0.3) -> Holder | None:
    """Who holds the lock, if a live process says so; one that just took it may not have written yet."""
    deadline = time.monotonic() + patience
    holder = None
    while True:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                data = json.loads(os.read(fd, _HOLDER_BYTES))
            finally:
                os.close(fd)
            holder = Holder(str(data["user"]), str(data["host"]), int(data["pid"]), str(data["command"]),
                            str(data["since"]))
        except (OSError, ValueError, KeyError, TypeError):
            holder = None
        if holder and holder.alive():
            return holder
        if time.monotonic() >= deadline:
            return None
        time.sleep(_POLL)
