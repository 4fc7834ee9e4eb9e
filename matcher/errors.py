"""The matcher's exceptions. Each names the field or identifier at fault."""

from __future__ import annotations


class ValidationError(ValueError):
    """Input that cannot be accepted; `field` is a dotted path such as ``protected[0].phones[1]``."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(field, detail)
        self.field = field
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.field}: {self.detail}"


class DuplicateReference(ValidationError):
    """One reference given twice to one build (the builds index entries by reference, so this is
    where a snapshot file that repeats one is caught: sync.snapshot)."""


class InvalidNumber(ValidationError):
    """A dial string that cannot be read as a telephone number."""


class UnblockableNumber(ValidationError):
    """An emergency, short-code or protected (legal-advice) number: never blockable."""


class InvalidEmail(ValidationError):
    """A string that is not an email address."""


class InvalidAddress(ValidationError):
    """A blocked postal address that cannot be indexed (no valid postcode, no premise...)."""


class TooMuchToRead(Exception):
    """A text holds more candidate numbers or email addresses than are screened automatically
    (``matcher.emails.MAX_TEXT_CANDIDATES``, ``matcher.phones.TEXT_MAX_CANDIDATES`` and
    ``TEXT_SLOW_BUDGET``): its work is bounded, and a text that would exceed it is never screened
    in part. A letter is held for a person (reason "over_limit"), a message blocked."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(what, limit)
        self.what = what
        self.limit = limit

    def __str__(self) -> str:
        return f"more than {self.limit} candidate {self.what} in one text"


class OverBudget(Exception):
    """Screening a text needs more work than its caller's budget (``matcher.budget.Budget``):
    nothing is decided. The caller screens it again without one, where it can wait (a gateway,
    in its screening thread instead of on its event loop)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what

    def __str__(self) -> str:
        return f"more work than the budget allows ({self.what})"


class ConfigError(ValueError):
    """A configuration value that is missing or of the wrong kind; names the key and the value."""

    def __init__(self, key: str, value: object, expected: str) -> None:
        super().__init__(key, value, expected)
        self.key = key
        self.value = value
        self.expected = expected

    def __str__(self) -> str:
        return f"Config '{self.key}' has value {self.value!r}. {self.expected}"
