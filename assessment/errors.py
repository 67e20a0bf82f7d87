"""Errors the product raises for people: one root, each message says what is wrong and what to do.

`ValueError`, `KeyError` and the like are left for programming errors, which show a traceback.
"""

from __future__ import annotations


class ItscmError(Exception):
    """Root of every error whose message is safe and useful to show to a user."""


class EngineError(ItscmError):
    """An engine operation refused: bad input, missing permission, wrong state."""


class DatabaseError(ItscmError):
    """A database problem explained for a person: what happened and what to do."""


class DatabaseLocked(DatabaseError):
    """Another process holds the embedded database file."""


class SettingsError(ItscmError):
    """An environment variable has a value the product cannot use."""


class PermissionDenied(EngineError):
    pass


class NotFound(EngineError):
    pass


class InvalidState(EngineError):
    pass


class StaleWrite(EngineError):
    """A write based on data that someone else changed meanwhile; `.conflicts` says who, what and when."""

    def __init__(self, message: str, conflicts: list[dict] | None = None):
        super().__init__(message)
        self.conflicts = conflicts or []


class ValidationError(EngineError):
    """One or more problems with input; every problem is listed."""

    def __init__(self, problems: list[str], context: str = ""):
        self.problems = problems
        head = f"{context}: " if context else ""
        super().__init__(head + "; ".join(problems))


class IncompleteAssessment(EngineError):
    def __init__(self, missing: list[str]):
        self.missing = missing
        super().__init__(f"{len(missing)} question(s) still need an answer: {', '.join(missing)}")
