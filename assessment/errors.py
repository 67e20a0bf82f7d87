"""Errors the engine raises for people: each says what is wrong and where."""

from __future__ import annotations


class EngineError(Exception):
    """Base class: the message is safe to show to the user."""


class PermissionDenied(EngineError):
    pass


class NotFound(EngineError):
    pass


class InvalidState(EngineError):
    pass


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
