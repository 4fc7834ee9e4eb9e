"""The casework exceptions. None carries a protected person's or requester's details: they name
fields, states, actions and request ids only. Bad input raises ``matcher.errors.ValidationError``."""

from __future__ import annotations


class CaseError(Exception):
    """Base class for refusals raised by ``cases``."""


class Forbidden(CaseError):
    """The actor's role or establishment may not take this action on this request."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(field, detail)
        self.field = field
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.field}: {self.detail}"


class InvalidTransition(CaseError):
    """The action cannot be taken from the request's current state."""

    def __init__(self, state: str, action: str, allowed: list[str]) -> None:
        super().__init__(state, action, allowed)
        self.state = state
        self.action = action
        self.allowed = allowed

    def __str__(self) -> str:
        allowed = ", ".join(self.allowed) or "nothing (final)"
        return f"state: cannot {self.action} a request that is {self.state} (allowed: {allowed})"


class NotFound(CaseError):
    """No request with this id (or none visible to this actor)."""

    def __init__(self, case_id: str) -> None:
        super().__init__(case_id)
        self.case_id = case_id

    def __str__(self) -> str:
        return f"id: no request {self.case_id}"


class Busy(CaseError):
    """The request kept changing under concurrent writers; nothing was written. Retry."""

    def __str__(self) -> str:
        return "id: the request is being changed by someone else; nothing was written, retry"


class ReferenceTaken(CaseError):
    """The request's block would replace an entry it did not write: one loaded directly under the
    request's id. Nothing was written; the entry stays as it was."""

    def __init__(self, case_id: str) -> None:
        super().__init__(case_id)
        self.case_id = case_id

    def __str__(self) -> str:
        return (
            f"id: an entry loaded directly already holds the reference {self.case_id}; the request's "
            "block would replace it: move that entry to another reference first"
        )
