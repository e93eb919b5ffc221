"""Errors a user can cause and fix; the CLI turns them into one line and exit code 2."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: unknown name, bad option value, bad data. Exit code 2, no traceback."""


class DataError(UserError):
    """A data set that is missing, partial or malformed. The message names the path and what was expected."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
