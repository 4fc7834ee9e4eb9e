"""wrk against a server on 127.0.0.1, each pinned to its own core (SERVER_CPU, WRK_CPU): one run's
figures parsed from wrk's own summary and benchmarks/wrk/bodies.lua's done() line, and a wait
(bounded) for both cores to be quiet before a measurement on a shared machine."""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from tests.support.tools import require_command

LUA = Path(__file__).resolve().parent / "wrk" / "bodies.lua"
SERVER_CPU = 0
WRK_CPU = 1
CONNECTIONS = 64
QUIET_SHARE = 0.25  # a measurement starts once neither core is busier than this...
QUIET_WAIT = 20  # ...or after this many seconds of waiting


@dataclass(frozen=True)
class WrkRun:
    seconds: float
    requests: int
    rps: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    socket_errors: int
    non_2xx: int
    offered_delay_ms: float = 0.0

    @property
    def errors(self) -> int:
        return self.socket_errors + self.non_2xx


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)([a-z]+)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_wrk(output: str, offered_delay_ms: float = 0.0) -> WrkRun:
    """wrk's own summary (--latency) for rps, percentiles and errors; the done() line of
    bodies.lua for p99.9 and the maximum."""
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", output, re.M)
    total = re.search(r"^\s+(\d+) requests in ([0-9.]+[a-z]+)", output, re.M)
    if rps is None or total is None:
        raise AssertionError(f"unexpected wrk output:\n{output}")
    percentiles = {
        int(p): _ms(value)
        for p, value in re.findall(r"^\s+(50|75|90|99)%\s+([0-9.]+[a-z]+)\s*$", output, re.M)
    }
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    extra = re.search(r"^NOCONTACT_WRK (\{.*\})$", output, re.M)
    done = orjson.loads(extra.group(1)) if extra else {}
    return WrkRun(
        seconds=_ms(total.group(2)) / 1000,
        requests=int(total.group(1)),
        rps=float(rps.group(1)),
        p50_ms=percentiles[50],
        p75_ms=percentiles[75],
        p90_ms=percentiles[90],
        p99_ms=percentiles[99],
        p999_ms=done.get("p999_us", 0) / 1000,
        max_ms=done.get("max_us", 0) / 1000,
        socket_errors=sum(int(n) for n in socket.groups()) if socket else 0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        offered_delay_ms=offered_delay_ms,
    )


def run_wrk(wrk: str, url: str, bodies: Path, token: str, seconds: int, delay_ms: float = 0.0) -> WrkRun:
    command = [
        "taskset", "-c", str(WRK_CPU),
        wrk, "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "--timeout", "2s",
        "-s", str(LUA), url, "--", str(bodies), token, f"{delay_ms:.3f}",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise AssertionError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return parse_wrk(done.stdout, delay_ms)


def _busy_shares(seconds: float = 1.0) -> dict[int, float]:
    """Share of each of our two cores busy (any process) over `seconds`, from /proc/stat."""

    def sample() -> dict[int, tuple[int, int]]:
        out = {}
        for line in Path("/proc/stat").read_text().splitlines():
            name, *values = line.split()
            if name in (f"cpu{SERVER_CPU}", f"cpu{WRK_CPU}"):
                ticks = [int(x) for x in values]
                idle = ticks[3] + ticks[4]  # idle + iowait
                out[int(name[3:])] = (sum(ticks) - idle, sum(ticks))
        return out

    first = sample()
    time.sleep(seconds)
    second = sample()
    return {cpu: (second[cpu][0] - first[cpu][0]) / max(second[cpu][1] - first[cpu][1], 1) for cpu in first}


def wait_for_quiet() -> float:
    """The machine may be shared: wait (bounded) until both cores are nearly idle before a
    measurement. Returns the busiest core's share at the start of the measurement."""
    deadline = time.monotonic() + QUIET_WAIT
    while True:
        busiest = max(_busy_shares().values())
        if busiest <= QUIET_SHARE or time.monotonic() > deadline:
            return round(busiest, 3)


def pinned_wrk() -> str:
    """wrk's path, or skip: the server and wrk each need a core of their own."""
    if len(os.sched_getaffinity(0) & {SERVER_CPU, WRK_CPU}) < 2:
        pytest.skip(f"needs cores {SERVER_CPU} and {WRK_CPU} (one for the server, one for wrk)")
    return require_command("wrk", "wrk")
