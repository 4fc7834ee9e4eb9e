"""How a serving process runs: its tuning (switch interval, malloc's mmap threshold) and its event
loop serving an app on a listening socket. ``nocontact serve``'s workers and the benchmarks'
servers share it; it knows no app, so a benchmark's baseline server loads nothing of the gateway's."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import ssl
import sys
from collections.abc import Callable

from aiohttp import web

from sync.offloop.malloc import fix_mmap_threshold

_new_uvloop: Callable[[], asyncio.AbstractEventLoop] | None
try:
    from uvloop import new_event_loop as _new_uvloop
except ImportError:  # pragma: no cover - uvloop is not installed on Windows
    _new_uvloop = None

# The sync follower builds and writes in worker threads, and the event loop waits up to one switch
# interval for the GIL each time it wakes: a short one keeps screening answers prompt meanwhile.
SWITCH_INTERVAL = 0.0005
# On SIGTERM a worker stops accepting, then gives the requests it is answering this long to finish
# (a screening answer takes a millisecond; an upload or a CSV export may take seconds).
DRAIN_SECONDS = 5.0
DRAIN_POLL = 0.05  # seconds between looks at what is still in flight
KEEPALIVE_SECONDS = 75.0  # an idle kept-alive connection is closed after this (web.run_app's default)

log = logging.getLogger("nocontact.gateway.worker")


def tune_process() -> None:
    """What a serving process sets before its event loop starts (the stall benchmark's gateway
    process too): the switch interval, and glibc malloc's mmap threshold fixed (sync.offloop.malloc)."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    fix_mmap_threshold()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A worker's loop: uvloop where it is installed, set as this thread's current loop."""
    loop = _new_uvloop() if _new_uvloop is not None else asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop


def run_worker_app(
    app: web.Application,
    sock: socket.socket,
    loop: asyncio.AbstractEventLoop,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Serve `app` on the listening `sock` (over TLS with `ssl_context`) until SIGTERM or SIGINT,
    as every worker does (the HTTP benchmark runs its servers through here too). Then, each step
    logged: stop accepting, drain the requests in flight (at most DRAIN_SECONDS), and run the app's
    cleanup (the spool shipped or kept, the follower stopped)."""
    try:
        loop.run_until_complete(_serve(app, sock, ssl_context))
    finally:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _serve(app: web.Application, sock: socket.socket, ssl_context: ssl.SSLContext | None) -> None:
    loop = asyncio.get_running_loop()
    pid = os.getpid()
    stop: asyncio.Future[signal.Signals] = loop.create_future()

    def stopping(sig: signal.Signals) -> None:
        if not stop.done():
            stop.set_result(sig)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping, sig)
    runner = web.AppRunner(
        app, handle_signals=False, access_log=None, shutdown_timeout=1.0, keepalive_timeout=KEEPALIVE_SECONDS
    )
    await runner.setup()
    try:
        site = web.SockSite(runner, sock, ssl_context=ssl_context)
        await site.start()
        received = await stop
        await site.stop()
        in_flight = _close_idle(runner)
        log.info(
            "worker %d: %s: stopped accepting; draining %d in-flight request(s) (at most %g s)",
            pid,
            received.name,
            in_flight,
            DRAIN_SECONDS,
            extra={"fields": {"pid": pid, "in_flight": in_flight}},
        )
        deadline = loop.time() + DRAIN_SECONDS
        while in_flight and loop.time() < deadline:
            await asyncio.sleep(DRAIN_POLL)
            in_flight = _close_idle(runner)
        if in_flight:
            log.warning(
                "worker %d: %d request(s) still in flight after %g s: cancelled",
                pid,
                in_flight,
                DRAIN_SECONDS,
                extra={"fields": {"pid": pid, "in_flight": in_flight}},
            )
    finally:
        await runner.cleanup()  # closes the connections, then runs the app's cleanup_ctx
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    log.info("worker %d: drained and cleaned up; exiting", pid, extra={"fields": {"pid": pid}})


def _close_idle(runner: web.AppRunner) -> int:
    """Close the connections that are between requests (a kept-alive one takes no new request now)
    and count those answering one. aiohttp's own graceful shutdown would close them all at once and
    drop the rest of a body still arriving, so a request in flight is waited for here first; its
    flag is aiohttp's, the one its shutdown waits on."""
    server = runner.server
    busy = 0
    for handler in [] if server is None else server.connections:
        if getattr(handler, "_request_in_progress", False):
            busy += 1
        else:
            handler.close()
    return busy
