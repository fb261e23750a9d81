"""Errors the facade raises: each names what is wrong, and where, so the API can answer 4xx."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SpecError:
    """One problem in a process bundle, pinned to a file and (where there is one) an element id."""

    message: str
    element: str | None = None
    file: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"message": self.message, "element": self.element, "file": self.file}


class WorkflowError(Exception):
    """Base class of everything the facade raises on purpose."""


class SpecValidationError(WorkflowError):
    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = errors
        super().__init__("; ".join(_describe(e) for e in errors))


class TaskNotReady(WorkflowError):
    """The task is not ready any more (completed, cancelled or never existed): a conflict."""


class NotWaiting(WorkflowError):
    """A message or timer was delivered to an instance that is not waiting for it."""


class ScriptFailure(WorkflowError):
    """A script, condition or decision failed while the engine ran; nothing is saved."""

    def __init__(self, message: str, *, element: str | None = None) -> None:
        self.element = element
        super().__init__(message)


def _describe(error: SpecError) -> str:
    where = " ".join(part for part in (error.file, error.element) if part)
    return f"{where}: {error.message}" if where else error.message
