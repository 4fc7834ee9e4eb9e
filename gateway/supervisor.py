"""``nocontact serve --workers N``: the parent process keeps N workers serving one listening socket.

The parent forks each worker; a worker builds its own app (follower, spool thread, shipper) after
the fork. The parent then only waits for signals and for its workers to end:

- a worker that dies (a crash, an unhandled exception, ``kill -9``) is logged with its pid and its
  exit status or signal, and a new one is forked after a back-off: RESTART_FIRST seconds, doubled on
  each death up to RESTART_MAX, and back to RESTART_FIRST once a worker has lived RESTART_RESET_AFTER
  seconds, so a worker that cannot start costs a fork every RESTART_MAX seconds, not a busy loop;
- SIGTERM (or SIGINT) stops the workers: each stops accepting, drains its in-flight requests
  (gateway.worker), ships or keeps its spool, and exits; the parent logs each worker's exit and
  kills one that is still there STOP_WAIT seconds later;
- SIGHUP (``systemctl reload``) is passed to every worker, which reloads its TLS certificate.

A worker's metrics reach /metrics through gateway.workermetrics: ``on_exit`` retires a dead
worker's counters so that totals carry on across restarts."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from gateway.app import create_app
from gateway.settings import GatewaySettings
from gateway.tls import ServerTls
from gateway.worker import DRAIN_SECONDS, new_event_loop, run_worker_app
from sync.embedded import dies_with

log = logging.getLogger("nocontact.gateway.supervisor")

RESTART_FIRST = 0.5
RESTART_MAX = 30.0
RESTART_RESET_AFTER = 60.0
# The drain, the spool's last shipping (app.SHIP_ON_STOP) and the rest of the app's cleanup; within
# the example unit's TimeoutStopSec=20, so the supervisor, not systemd, names a worker that hangs.
STOP_WAIT = DRAIN_SECONDS + 10.0
_HANDLED = (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def run_worker(
    settings: GatewaySettings, sock: socket.socket, tls: ServerTls | None, metrics_dir: Path | None = None
) -> None:
    """One worker: the app served on `sock` until SIGTERM (``serve`` with one worker runs this in
    its own process; with several, each forked worker does)."""
    loop = new_event_loop()
    if tls is not None:
        loop.add_signal_handler(signal.SIGHUP, tls.reload)  # certificate rotation: each worker its own
        # A SIGHUP that reached this worker before the handler above was installed was ignored (the
        # supervisor ignores it across the fork): pick up a rotation made in that window now.
        tls.reload_if_changed()
    app = create_app(settings, metrics_dir=metrics_dir)
    run_worker_app(app, sock, loop, ssl_context=None if tls is None else tls.context)


def exit_description(status: int) -> str:
    """A wait status in words: "exited with status 1", "killed by signal 9 (SIGKILL)"."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "unknown"
        return f"killed by signal {number} ({name})"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


@dataclass(slots=True)
class _Slot:
    """One of the N places a worker fills: the worker in it now, or when the next one starts."""

    number: int
    pid: int | None = None
    started: float = 0.0
    restart_at: float = 0.0  # time.monotonic() at which to fork, while pid is None
    delay: float = RESTART_FIRST  # the back-off before the next restart


class Supervisor:
    """Keeps `count` workers running `work` (in forked children) until SIGTERM or SIGINT.
    `on_exit(pid)` runs in the parent after each worker has been reaped; `sock` (the listening
    socket) is closed in the parent when stopping, so the port stops taking connections once the
    workers have closed theirs."""

    def __init__(
        self,
        count: int,
        work: Callable[[], None],
        *,
        sock: socket.socket | None = None,
        on_exit: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.slots = [_Slot(n) for n in range(count)]
        self.work = work
        self.sock = sock
        self.on_exit = on_exit
        self.clock = clock
        self.stopping_since: float | None = None
        self._wakeup: tuple[int, int] | None = None

    def run(self) -> None:
        read, write = os.pipe()
        os.set_blocking(read, False)
        os.set_blocking(write, False)
        self._wakeup = (read, write)
        previous = {sig: signal.signal(sig, _record) for sig in _HANDLED}
        old_wakeup = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        try:
            self._loop(read)
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(read)
            os.close(write)
            self._wakeup = None

    def _loop(self, wakeup: int) -> None:
        while True:
            if self.stopping_since is None:
                self._fork_due()
            elif all(slot.pid is None for slot in self.slots):
                log.info("supervisor: every worker has stopped")
                return
            select.select([wakeup], [], [], self._timeout())
            for number in _drain(wakeup):
                self._signalled(number)
            self._reap()
            if self.stopping_since is not None and self.clock() - self.stopping_since > STOP_WAIT:
                self._kill_stragglers()

    def _timeout(self) -> float:
        now = self.clock()
        if self.stopping_since is not None:
            return max(0.0, self.stopping_since + STOP_WAIT - now) + 0.1
        due = [slot.restart_at for slot in self.slots if slot.pid is None]
        return max(0.0, min(due) - now) if due else 60.0

    def _signalled(self, number: int) -> None:
        if number == signal.SIGHUP:
            for pid in self._pids():
                _send(pid, signal.SIGHUP)
            log.info("supervisor: SIGHUP passed to %d worker(s) (TLS reload)", len(self._pids()))
        elif number in (signal.SIGTERM, signal.SIGINT) and self.stopping_since is None:
            self._stop(signal.Signals(number))

    def _stop(self, received: signal.Signals) -> None:
        self.stopping_since = self.clock()
        pids = self._pids()
        log.info(
            "supervisor: %s: stopping %d worker(s) %s: each stops accepting, drains its in-flight "
            "requests (at most %g s) and ships or keeps its spool",
            received.name,
            len(pids),
            ", ".join(map(str, pids)) or "-",
            DRAIN_SECONDS,
            extra={"fields": {"workers": pids}},
        )
        if self.sock is not None:
            self.sock.close()  # once the workers close theirs, the port refuses new connections
        for pid in pids:
            _send(pid, signal.SIGTERM)

    def _reap(self) -> None:
        # Each worker by its pid, not waitpid(-1): the embedded Redis is a child of this process too,
        # and its exit status belongs to its own Popen.
        for slot in self.slots:
            if slot.pid is None:
                continue
            try:
                pid, status = os.waitpid(slot.pid, os.WNOHANG)
            except ChildProcessError:  # pragma: no cover - reaped by someone else
                pid, status = slot.pid, 0
            if pid == 0:
                continue
            slot.pid = None
            self._exited(slot, pid, status)
            if self.on_exit is not None:
                self.on_exit(pid)

    def _exited(self, slot: _Slot, pid: int, status: int) -> None:
        now = self.clock()
        lived = now - slot.started
        how = exit_description(status)
        fields = {"pid": pid, "status": status, "lived": round(lived, 3)}
        if self.stopping_since is not None:
            log.info("supervisor: worker %d %s", pid, how, extra={"fields": fields})
            return
        if lived >= RESTART_RESET_AFTER:
            slot.delay = RESTART_FIRST
        slot.restart_at = now + slot.delay
        log.error(
            "supervisor: worker %d %s after %.1f s; starting another in %.1f s",
            pid,
            how,
            lived,
            slot.delay,
            extra={"fields": {**fields, "restart_in": slot.delay}},
        )
        slot.delay = min(slot.delay * 2, RESTART_MAX)

    def _fork_due(self) -> None:
        now = self.clock()
        for slot in self.slots:
            if slot.pid is not None or slot.restart_at > now:
                continue
            try:
                slot.pid = self._fork()
            except OSError as exc:  # out of processes or memory: try again after the back-off
                slot.restart_at = now + slot.delay
                log.error("supervisor: cannot start a worker (%s); trying again in %.1f s", exc, slot.delay)
                slot.delay = min(slot.delay * 2, RESTART_MAX)
                continue
            slot.started = now
            log.info("supervisor: worker %d started", slot.pid, extra={"fields": {"pid": slot.pid}})

    def _fork(self) -> int:
        # Signals wait until the child has set its own dispositions: a SIGHUP must not run the
        # parent's handler in the child, nor kill a worker that has not installed its own yet.
        arm = dies_with(os.getpid())
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _HANDLED)
        try:
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child
                self._child(mask, arm)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        return pid

    def _child(  # pragma: no cover - runs in the child
        self, mask: set[int | signal.Signals], arm: Callable[[], None] | None
    ) -> None:
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            if self._wakeup is not None:
                for fd in self._wakeup:
                    os.close(fd)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the worker's own (TLS reload)
            for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            if arm is not None:  # a supervisor killed with -9: its workers drain and go too (they
                arm()  # hold the data directory's lock and the port a new serve needs)
            self.work()
            code = 0
        except BaseException as exc:
            # The message may quote input (a victim's details): the type and the stack only.
            log.error(
                "supervisor: worker %d: unhandled %s; exiting 1\n%s",
                os.getpid(),
                type(exc).__name__,
                "".join(traceback.format_tb(exc.__traceback__)),
                extra={"fields": {"pid": os.getpid()}},
            )
        finally:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            os._exit(code)

    def _kill_stragglers(self) -> None:
        for pid in self._pids():
            log.warning(
                "supervisor: worker %d still running %g s after SIGTERM; killing it",
                pid,
                STOP_WAIT,
                extra={"fields": {"pid": pid}},
            )
            _send(pid, signal.SIGKILL)
        self.stopping_since = self.clock()  # the kill's exit is reaped within the next wait

    def _pids(self) -> list[int]:
        return [slot.pid for slot in self.slots if slot.pid is not None]


def _record(signum: int, frame: FrameType | None) -> None:
    """A Python-level handler, so the signal's number reaches the wakeup pipe (read in _loop)."""


def _drain(fd: int) -> list[int]:
    numbers: list[int] = []
    while True:
        try:
            chunk = os.read(fd, 512)
        except BlockingIOError:
            return numbers
        if not chunk:
            return numbers
        numbers.extend(chunk)


def _send(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone: reaped on the next pass
        os.kill(pid, sig)
