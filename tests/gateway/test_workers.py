"""`nocontact serve --workers 2` as an operator runs it (issue 17 item 6): one /metrics whichever
worker answers, a dead worker logged and replaced, a crashing worker's traceback logged and its
restarts backed off, and SIGTERM draining what is in flight, logging each step and exiting 0."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.workermetrics import GAUGE_MODES
from tests.support.gateway_process import Gateway, request
from tests.support.processes import clean_env, free_port

CALL = {"establishment": "HLI", "prisoner": "Z9999ZZ", "number": "07700 900123"}
STARTED = re.compile(r"supervisor: worker (\d+) started")


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    gw = Gateway(tmp_path / "data", free_port(), args=["--workers", "2"])
    yield gw
    gw.close()


def until(predicate: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def scrape(gateway: Gateway) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{gateway.port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def calls_counted(text: str) -> float:
    """Screening calls answered 200, as /metrics counts them."""
    for family in text_string_to_metric_families(text):
        if family.name == "nocontact_gateway_http_requests":
            return sum(
                s.value
                for s in family.samples
                if s.labels["endpoint"] == "/v1/screen/call" and s.labels["status"] == "200"
            )
    return 0.0


def call(gateway: Gateway, token: str, times: int) -> None:
    for _ in range(times):  # a connection each: the kernel hands them to either worker
        status, answer = request(gateway.port, "POST", "/v1/screen/call", CALL, token)
        assert status == 200 and answer["decision"] == "allow", answer


def logged(gateway: Gateway, words: str) -> None:
    until(lambda: words in gateway.text(), f"never logged: {words}")


def workers(gateway: Gateway) -> list[int]:
    return [int(pid) for pid in STARTED.findall(gateway.text())]


def test_metrics_are_the_same_whichever_worker_answers(gateway: Gateway, promtool: str) -> None:
    gateway.start()
    gateway.wait_ready()
    dialler = gateway.token("dialler", "HLI")
    call(gateway, dialler, 20)
    # Every scrape, whichever worker answers it, counts all 20 (before: 4, 6, 4... each its own).
    texts = [scrape(gateway) for _ in range(6)]
    assert [calls_counted(text) for text in texts] == [20.0] * 6

    check = subprocess.run(
        [promtool, "check", "metrics"], input=texts[-1].encode(), capture_output=True, check=False
    )
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    families = text_string_to_metric_families(texts[-1])
    # (a counter's _created time is written as a gauge of its own: the earliest worker's is kept)
    gauges = {f.name for f in families if f.type == "gauge" and not f.name.endswith("_created")}
    assert gauges <= set(GAUGE_MODES), f"say how workers merge {gauges - set(GAUGE_MODES)} (GAUGE_MODES)"
    assert 'nocontact_gateway_index_state{state="VALID"} 1.0' in texts[-1]
    assert oct((gateway.data_dir / "metrics").stat().st_mode & 0o777) == "0o700"


def test_a_killed_worker_is_logged_and_replaced_and_its_counts_kept(gateway: Gateway) -> None:
    gateway.start()
    gateway.wait_ready()
    dialler = gateway.token("dialler", "HLI")
    call(gateway, dialler, 10)
    assert calls_counted(scrape(gateway)) == 10
    first = workers(gateway)
    assert len(first) == 2
    for n, pid in enumerate(first, start=1):  # one after the other: then only new workers are left
        os.kill(pid, signal.SIGKILL)
        logged(gateway, f"worker {pid} killed by signal 9 (SIGKILL) after")
        until(lambda n=n: len(workers(gateway)) == len(first) + n, f"no worker replaced {pid}")
    replacements = workers(gateway)[2:]
    assert not set(replacements) & set(first)
    assert all(Path(f"/proc/{pid}").exists() for pid in replacements)

    call(gateway, dialler, 5)  # answered by the new workers: the killed ones are gone
    # The killed workers' counts stay in the totals: a counter never goes back.
    assert [calls_counted(scrape(gateway)) for _ in range(6)] == [15.0] * 6


# A supervisor whose workers raise, as a worker whose app cannot start does.
CRASHING = """
import socket, sys
from gateway.logs import setup_logging
from gateway.supervisor import Supervisor

def build_the_app():
    raise RuntimeError("the worker could not start")

setup_logging("INFO")
Supervisor(1, build_the_app).run()
"""


def test_a_crashing_worker_is_logged_with_its_traceback_and_restarted_with_back_off(
    tmp_path: Path,
) -> None:
    log = tmp_path / "supervisor.log"
    with log.open("wb") as out:
        supervisor = subprocess.Popen(
            [sys.executable, "-c", CRASHING], stdout=out, stderr=subprocess.STDOUT, env=clean_env()
        )
    try:
        until(lambda: log.read_text().count("starting another in") >= 3, "three restarts")
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=30) == 0
    finally:
        supervisor.kill()
        supervisor.wait()
    text = log.read_text()
    assert text.count("unhandled RuntimeError; exiting 1") >= 3, text
    assert "in build_the_app" in text  # the stack, not only the type
    assert "could not start" not in text  # the message may quote input: never logged
    delays = re.findall(r"exited with status 1 after [\d.]+ s; starting another in ([\d.]+) s", text)
    assert delays[:3] == ["0.5", "1.0", "2.0"], text
    assert "SIGTERM: stopping" in text


def test_sigterm_drains_the_request_in_flight_logs_each_step_and_exits_0(gateway: Gateway) -> None:
    gateway.start()
    gateway.wait_ready()
    dialler = gateway.token("dialler", "HLI")
    body = b'{"establishment": "HLI", "prisoner": "Z9999ZZ", "number": "07700 900123"}'  # allowed
    head = (
        f"POST /v1/screen/call HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {dialler}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    )
    conn = socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
    try:
        conn.sendall(head.encode())
        # "100 Continue" comes from the route's handling: the request is in flight in a worker.
        assert conn.recv(100).startswith(b"HTTP/1.1 100 Continue"), "no 100 Continue"
        assert gateway.process is not None
        gateway.process.send_signal(signal.SIGTERM)
        logged(gateway, "draining 1 in-flight request(s)")
        conn.sendall(body)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = conn.recv(4096)
            assert chunk, answer
            answer += chunk
    finally:
        conn.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert b'"decision":"allow"' in answer.replace(b" ", b""), answer
    assert gateway.process.wait(timeout=60) == 0, gateway.tail()

    text = gateway.text()
    pids = workers(gateway)
    assert f"SIGTERM: stopping 2 worker(s) {pids[0]}, {pids[1]}" in text, text
    for pid in pids:
        assert f"worker {pid}: SIGTERM: stopped accepting; draining" in text
        assert f"worker {pid}: spool: " in text
        assert f"worker {pid}: drained and cleaned up; exiting" in text
        assert f"supervisor: worker {pid} exited with status 0" in text
    assert "supervisor: every worker has stopped" in text
    assert "Traceback" not in text and '"level":"ERROR"' not in text


def test_one_worker_takes_the_same_steps_on_sigterm(tmp_path: Path) -> None:
    gateway = Gateway(tmp_path / "data", free_port())  # no --workers: serve is the worker
    try:
        gateway.start()
        gateway.wait_ready()
        assert gateway.process is not None
        gateway.process.send_signal(signal.SIGTERM)
        assert gateway.process.wait(timeout=60) == 0, gateway.tail()
    finally:
        gateway.close()
    pid = gateway.process.pid
    for step in (
        f"worker {pid}: SIGTERM: stopped accepting; draining 0 in-flight request(s)",
        f"worker {pid}: spool: 0 hit(s) shipped; none left",
        f"worker {pid}: drained and cleaned up; exiting",
    ):
        assert step in gateway.text(), gateway.tail()
    assert "supervisor" not in gateway.text()


def test_workers_go_with_a_supervisor_killed_with_9_and_serve_starts_again(gateway: Gateway) -> None:
    gateway.start()
    gateway.wait_ready()
    first = workers(gateway)
    gateway.kill()  # SIGKILL to the supervisor: nothing of its own runs
    # Each worker is sent SIGTERM by the kernel (PR_SET_PDEATHSIG), drains and exits: none is left
    # holding the port and the data directory's lock.
    until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in first), "orphaned workers")
    gateway.start()
    gateway.wait_ready()
    dialler = gateway.token("dialler", "HLI")
    call(gateway, dialler, 2)
