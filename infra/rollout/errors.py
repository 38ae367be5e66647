"""Errors written for people: each knows its exit status and names what was wrong."""
from __future__ import annotations


class RolloutError(Exception):
    """Anything the command reports without a traceback; exit status 1."""

    exit_code = 1


class UsageError(RolloutError):
    """Bad input on the command line or in a stack file; exit status 2."""

    exit_code = 2


class ConfigError(UsageError):
    """A stack file value is wrong: the message names the file and the key path."""

    def __init__(self, file: str, key: str, problem: str):
        self.file, self.key, self.problem = file, key, problem
        super().__init__(f"{file}: {key}: {problem}")
