"""Child processes for tests and benchmarks: a free port, and a service whose output goes to a log
file, waited for until it is ready and stopped by signal (then SIGKILL when it will not go)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without NOCONTACT_* settings (a child must not inherit the
    developer's), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOCONTACT_")}
    env.update(extra)
    return env


class Service:
    """One child process writing stdout and stderr to `log`."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def spawn(
        self, command: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        assert not self.running, "already running"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:  # a restart appends: the earlier run stays readable
            self.process = subprocess.Popen(
                list(command), stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd
            )

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str, step: float = 0.05) -> None:
        """Poll `ready` until it holds; fail with the log's tail if the process exits first or the
        time runs out (an OSError from `ready` counts as not ready yet)."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None, "not started"
            if self.process.poll() is not None:
                raise AssertionError(f"{what} exited ({self.process.returncode}):\n{self.tail()}")
            try:
                if ready():
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"{what} not ready within {timeout:.0f} s:\n{self.tail()}")
            time.sleep(step)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, size: int = 4000) -> str:
        return self.text()[-size:]

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process (its threads included), from /proc."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final write."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 10.0) -> None:
        """A clean shutdown by `sig`; SIGKILL when it takes longer than `timeout`."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
