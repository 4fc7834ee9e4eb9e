"""The mailroom client's exceptions."""

from __future__ import annotations


class MailroomError(Exception):
    """A scan that cannot be screened: an unreadable file, a missing OCR engine, a refused request.
    The message says what to do."""


class GatewayUnavailable(MailroomError):
    """The gateway cannot answer now (down, not ready, stale under the refuse policy, hit log
    unavailable): nothing was decided, so the scan is kept and tried again, never allowed."""


class GatewayRefused(MailroomError):
    """The gateway answered with a 4xx: this request will not succeed as it is."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(status, error, detail)
        self.status = status
        self.error = error
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.status} {self.error}: {self.detail}"
