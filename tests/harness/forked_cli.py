"""`rollout` in a forked child of the test process: a real process that a real SIGKILL can stop at
any instant, minus the interpreter start and imports (about 0.15 s each), so hundreds of kills
fit in seconds. The child runs the same `rollout.cli.main.main()` the installed command runs."""
from __future__ import annotations

import os
import select
import signal
import sys
import time
from dataclasses import dataclass, field


@dataclass
class Child:
    pid: int
    out_fd: int
    err_fd: int
    out: bytes = b""
    err: bytes = b""
    returncode: int | None = field(default=None)

    def _drain(self, fd: int, timeout: float) -> bool:
        """Read what is there; False at end of file."""
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return True
        chunk = os.read(fd, 65536)
        if fd == self.out_fd:
            self.out += chunk
        else:
            self.err += chunk
        return bool(chunk)

    def wait_for_stderr(self, text: str, timeout: float = 20.0) -> bool:
        """True once the child has written `text` to stderr; False if it ended first."""
        deadline = time.monotonic() + timeout
        while text.encode() not in self.err:
            if time.monotonic() > deadline:
                raise TimeoutError(f"pid {self.pid} never wrote {text!r}; stderr so far: {self.err!r}")
            if not self._drain(self.err_fd, 0.05):
                return text.encode() in self.err
        return True

    def alive(self) -> bool:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode is None

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)

    def wait(self, timeout: float = 60.0) -> int:
        """The exit status (-9 when killed); output is collected in `out` and `err`."""
        deadline = time.monotonic() + timeout
        for fd in (self.out_fd, self.err_fd):
            while self._drain(fd, 0.05):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"pid {self.pid} still writing after {timeout:g}s")
            os.close(fd)
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def fork_rollout(argv: list[str], env: dict[str, str]) -> Child:
    from rollout.cli.main import main

    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 70
        try:
            os.close(out_r)
            os.close(err_r)
            sys.stdout = open(out_w, "w", buffering=1)
            sys.stderr = open(err_w, "w", buffering=1)
            os.environ.update(env)
            code = main(argv)
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
    os.close(out_w)
    os.close(err_w)
    return Child(pid, out_r, err_r)
