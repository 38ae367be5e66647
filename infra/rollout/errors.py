"""Errors written for people: each knows its exit status and names what was wrong."""
from __future__ import annotations


def one_line(text: str) -> str:
    """Errors are one line: a key or value holding a newline or control character is shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class RolloutError(Exception):
    """Anything the command reports without a traceback; exit status 1."""

    exit_code = 1

    def __str__(self) -> str:
        return one_line(super().__str__())


class UsageError(RolloutError):
    """Bad input on the command line or in a stack file; exit status 2."""

    exit_code = 2


class ConfigError(UsageError):
    """A stack file value is wrong: the message names the file and the key path."""

    def __init__(self, file: str, key: str, problem: str):
        self.file, self.key, self.problem = file, key, problem
        super().__init__(f"{file}: {key}: {problem}")
