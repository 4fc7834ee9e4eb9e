"""Call-screening traffic against running gateways from a thread, for the failover test and
benchmark: every answer kept with when it came, until stopped (or a bounded number of calls)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from tests.support.gateway_process import Gateway

MAX_CALLS = 50_000


def screen(gateway: Gateway, token: str, number: str) -> tuple[int, Any]:
    call = {"establishment": "HLI", "prisoner": "Z9999ZZ", "number": number}
    return gateway.http("POST", "/v1/screen/call", call, token)


class CallTraffic(threading.Thread):
    """Calls to `gateways` in turn, call i dialling `number(i)`, `pause` seconds apart. `answers`
    holds (monotonic time, status, body); a call that got no HTTP answer is status 0."""

    def __init__(
        self, gateways: list[Gateway], token: str, number: Callable[[int], str], pause: float
    ) -> None:
        super().__init__(daemon=True)
        self.gateways, self.token, self.number, self.pause = gateways, token, number, pause
        self.answers: list[tuple[float, int, Any]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.stopping.is_set() and i < MAX_CALLS:
            try:
                status, body = screen(self.gateways[i % len(self.gateways)], self.token, self.number(i))
            except OSError:
                status, body = 0, None
            self.answers.append((time.monotonic(), status, body))
            i += 1
            self.stopping.wait(self.pause)

    def stop(self) -> list[tuple[float, int, Any]]:
        self.stopping.set()
        self.join(10)
        return self.answers
