"""The gateway's HTTP API as the mailroom uses it: screen a letter's OCR text. Anything that is
not an answer (no connection, a timeout, a 5xx, a 503 not_ready or stale_data) is
GatewayUnavailable: nothing was decided, and the caller keeps the letter; it never reads as
allow. A 4xx is GatewayRefused, with the gateway's error and detail."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from gateway.mailroom.errors import GatewayRefused, GatewayUnavailable, MailroomError

log = logging.getLogger("nocontact.mailroom.client")

MAIL_PATH = "/v1/screen/mail"
SELF_PATH = "/v1/tokens/self"
DECISIONS = ("allow", "hold", "block")


@dataclass(frozen=True, slots=True)
class Screened:
    """The gateway's answer to one letter."""

    decision: str
    matches: tuple[dict[str, Any], ...]
    hit_id: str | None
    version: int | None
    stale: bool
    reason: str | None = None

    @classmethod
    def from_dict(cls, data: Any) -> Screened:
        if not isinstance(data, dict):
            raise GatewayUnavailable("the gateway's answer is not a JSON object")
        decision = data.get("decision")
        if decision not in DECISIONS:
            raise GatewayUnavailable(f"the gateway's answer has no decision (decision: {decision!r})")
        matches = data.get("matches")
        if not isinstance(matches, list) or not all(isinstance(m, dict) for m in matches):
            raise GatewayUnavailable("the gateway's answer has no list of matches (matches)")
        hit_id = data.get("hit_id")
        version = data.get("version")
        reason = data.get("reason")
        return cls(
            decision,
            tuple(matches),
            hit_id if isinstance(hit_id, str) else None,
            version if isinstance(version, int) else None,
            data.get("stale") is True,
            reason if isinstance(reason, str) else None,
        )


class GatewayClient:
    """A blocking client (the scanner side has nothing else to do while it waits)."""

    def __init__(self, url: str, token: str, timeout: float = 15.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise MailroomError(f"gateway URL {url!r}: expected http://HOST:PORT or https://...")
        if not token:
            raise MailroomError(
                "no token: pass --token or set NOCONTACT_TOKEN (nocontact token create --role mailroom)"
            )
        self.url = url.rstrip("/")
        self._token = token
        self.timeout = timeout

    def establishment(self) -> str:
        """The establishment this token is bound to (GET /v1/tokens/self)."""
        request = urllib.request.Request(  # noqa: S310 - the URL's scheme was checked: http(s) only
            self.url + SELF_PATH, headers={"Authorization": f"Bearer {self._token}"}
        )
        data = self._answer(request)
        bound = data.get("establishment") if isinstance(data, dict) else None
        if not isinstance(bound, str):
            raise MailroomError("this token is bound to no establishment: pass --establishment CODE")
        return bound

    def screen_mail(self, establishment: str, prisoner: str | None, envelope: str) -> Screened:
        body = {"establishment": establishment, "prisoner": prisoner, "envelope": envelope}
        return Screened.from_dict(self.post(MAIL_PATH, body))

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST `body` as JSON to `path`; the decoded answer (errors as the module says)."""
        request = urllib.request.Request(  # noqa: S310 - the URL's scheme was checked: http(s) only
            self.url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
        )
        return self._answer(request)

    def _answer(self, request: urllib.request.Request) -> Any:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise _refusal(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise GatewayUnavailable(f"gateway {self.url}: {reason}") from None
        try:
            return json.loads(raw)
        except ValueError:
            raise GatewayUnavailable(f"gateway {self.url}: the answer is not JSON") from None


def _refusal(exc: urllib.error.HTTPError) -> MailroomError:
    try:
        data = json.loads(exc.read())
    except (ValueError, OSError):
        data = {}
    error = str(data.get("error", "")) if isinstance(data, dict) else ""
    detail = str(data.get("detail", "")) if isinstance(data, dict) else ""
    if exc.code >= 500 or exc.code in (408, 429):
        return GatewayUnavailable(f"gateway: {exc.code} {error or exc.reason}: {detail}".rstrip(": "))
    return GatewayRefused(exc.code, error or str(exc.reason), detail)
