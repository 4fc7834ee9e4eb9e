"""`serve --workers N`'s supervisor and SIGHUP (certificate rotation, `systemctl reload`): a reload
that arrives while a worker is still starting (before it has installed its own handler) must not kill
that worker, and the worker picks up the rotated certificate when its handler is in place."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from gateway.tls import ServerTls, TlsFiles
from tests.support.certs import Pki
from tests.support.gateway_process import Gateway
from tests.support.processes import free_port

# Workers that stand still where a real worker is still building its app: after the fork, before
# the SIGHUP handler. Each leaves a file when it starts and another if it lives to finish.
SUPERVISOR = """
import os, sys, time
from pathlib import Path
from gateway.supervisor import Supervisor

here = Path(sys.argv[1])

def worker():
    (here / f"started-{os.getpid()}").touch()
    while not (here / "go").exists():
        time.sleep(0.01)
    (here / f"finished-{os.getpid()}").touch()
    while True:  # serving, until the supervisor's SIGTERM
        time.sleep(1)

Supervisor(2, worker).run()
"""


def catches_sighup(pid: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGHUP - 1)))
    return False


def wait_for(predicate: object, what: str) -> None:
    deadline = time.monotonic() + 20
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_a_reload_during_worker_start_up_does_not_kill_the_worker(tmp_path: Path) -> None:
    supervisor = subprocess.Popen([sys.executable, "-c", SUPERVISOR, str(tmp_path)])
    try:
        wait_for(lambda: len(list(tmp_path.glob("started-*"))) == 2, "two workers started")
        wait_for(lambda: catches_sighup(supervisor.pid), "the supervisor's SIGHUP handler")
        supervisor.send_signal(signal.SIGHUP)  # forwarded to both workers, mid start-up
        time.sleep(0.3)
        (tmp_path / "go").touch()
        wait_for(lambda: len(list(tmp_path.glob("finished-*"))) == 2, "both workers went on")
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=20) == 0
    finally:
        supervisor.kill()
        supervisor.wait()
    started = {p.name.removeprefix("started-") for p in tmp_path.glob("started-*")}
    finished = {p.name.removeprefix("finished-") for p in tmp_path.glob("finished-*")}
    assert finished == started  # neither worker was killed by the reload


def test_a_worker_picks_up_a_rotation_it_missed(tmp_path: Path) -> None:
    pki = Pki(tmp_path / "pki")
    cert, key = pki.server()
    tls = ServerTls(TlsFiles(cert=cert, key=key))
    first = tls.fingerprint
    assert tls.reload_if_changed() is False  # nothing rotated: no reload, no log line
    new_cert, new_key = pki.server()
    cert.write_bytes(new_cert.read_bytes())
    key.write_bytes(new_key.read_bytes())
    assert tls.reload_if_changed() is True
    assert tls.fingerprint != first
    assert tls.reload_if_changed() is False


def test_a_reload_does_not_kill_a_single_worker_serve_without_tls(tmp_path: Path) -> None:
    """`systemctl reload` (the unit's ExecReload sends SIGHUP) on the default serve, one worker and
    plain HTTP: there is nothing to reload, and it must go on answering."""
    gateway = Gateway(tmp_path / "data", free_port())
    try:
        gateway.start()
        assert gateway.process is not None
        gateway.process.send_signal(signal.SIGHUP)
        assert gateway.http("GET", "/healthz")[0] == 200 and gateway.running, gateway.tail()
        gateway.process.send_signal(signal.SIGHUP)
        assert gateway.http("GET", "/healthz")[0] == 200 and gateway.running, gateway.tail()
    finally:
        gateway.close()
