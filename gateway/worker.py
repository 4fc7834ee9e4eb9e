"""How a serving process runs: its tuning (switch interval, malloc's mmap threshold) and its event
loop serving an app on a listening socket. ``nocontact serve``'s workers and the benchmarks'
servers share it; it knows no app, so a benchmark's baseline server loads nothing of the gateway's."""

from __future__ import annotations

import asyncio
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
    """Serve `app` on the listening `sock` (over TLS with `ssl_context`) until a signal, as every
    worker does (the HTTP benchmark runs its servers through here too)."""
    web.run_app(
        app,
        sock=sock,
        ssl_context=ssl_context,
        loop=loop,
        print=None,
        access_log=None,
        handle_signals=True,
        shutdown_timeout=5.0,
    )
