"""The server side of bench_http.py: the real gateway app (create_app with a fixed index of 1M
blocked numbers plus blocked addresses, real bearer tokens in a real Redis, the SQLite hit spool
with fsync in the data directory, the access log on as in production) or an empty aiohttp JSON
handler, each pinned to one core and run on uvloop exactly as ``nocontact serve`` runs a worker.

    python -m benchmarks.http_server gateway --ready READY.json --data-dir DIR [--cpu 0]
    python -m benchmarks.http_server empty --ready READY.json [--cpu 0]

When it listens it writes READY.json (port, pid, tokens, a sample of the blocked numbers and
addresses for the load scripts). SIGINT or SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import gc
import json
import logging
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from gateway.answer import JsonAnswer
from gateway.worker import new_event_loop, run_worker_app, tune_process
from sync.replication import Replication

log = logging.getLogger("nocontact.bench.http")

ESTABLISHMENT = "HLI"
CONFIRM_EVERY = 5.0  # seconds; the follower confirms freshness about this often in production
SAMPLE_EVERY = 1000  # every n-th blocked identifier goes into READY.json


class GcWatch:
    """Counts garbage collections and their pauses per generation (gc.callbacks), so the bench
    can tell whether a slow request met a full collection of the large index heap."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self.max_ms = [0.0, 0.0, 0.0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        generation = info["generation"]
        self.count[generation] += 1
        self.seconds[generation] += pause
        self.max_ms[generation] = max(self.max_ms[generation], pause * 1000)

    async def handler(self, request: web.Request) -> web.Response:
        answer = {"count": self.count, "seconds": self.seconds, "max_ms": self.max_ms}
        if request.query.get("reset_max"):
            self.max_ms = [0.0, 0.0, 0.0]
        return web.Response(body=orjson.dumps(answer), content_type="application/json")


GC_PATH = "/_bench/gc"


def _listen() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    return sock


def _write_ready(path: Path, info: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(info))
    os.replace(tmp, path)


def _rss_mib() -> float:
    with Path("/proc/self/statm").open() as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _phone_entries(count: int) -> Iterator[Any]:
    from tests.support.blocklists import entries

    return entries(count, phones=1)


def _address_entries(count: int) -> Iterator[Any]:
    from tests.support.blocklists import entries

    # entries() numbers its references from 0 on every call; keep these apart from the phones'.
    for entry in entries(count, phones=0, addresses=1, seed=5):
        yield dataclasses.replace(entry, reference=entry.reference.replace("UPC-", "UPC-M", 1))


def build_gateway(args: argparse.Namespace, sock: socket.socket) -> tuple[web.Application, Any]:
    from config import load_profile
    from gateway.app import create_app
    from gateway.auth import create_token
    from gateway.settings import GatewaySettings
    from gateway.source import StaticSource
    from matcher.index import Index
    from sync.offloop.collector import gc_paused
    from sync.settings import SyncSettings
    from tests.support.redis_server import RedisServer

    data_dir: Path = args.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    # Started after sched_setaffinity, so Redis shares the gateway's core and leaves wrk's alone.
    redis_server = RedisServer(data_dir / "redis", persistence=False).start()
    try:
        profile = load_profile(environ={})
        sync = SyncSettings(redis_url=redis_server.url, data_dir=data_dir, gateway_id="bench-gw")
        settings = GatewaySettings(sync=sync, access_log=not args.no_access_log)
        # The app first: a broken tree fails in a second, not after the minutes the index takes.
        source = StaticSource(None)
        app = create_app(settings, source=source, profile=profile)
        client = redis_server.client()
        dialler, _ = create_token(
            client, settings.sync.keys, "dialler", ESTABLISHMENT, replication=Replication()
        )
        mailroom, _ = create_token(
            client, settings.sync.keys, "mailroom", ESTABLISHMENT, replication=Replication()
        )
        client.close()

        started = time.perf_counter()
        phones = list(_phone_entries(args.phones))
        addresses = list(_address_entries(args.addresses))
        with gc_paused():  # as the follower's builds run
            index = Index.build([*phones, *addresses], profile, version=1)
        build_seconds = time.perf_counter() - started
        blocked_phones = [e.protected[0].phones[0] for e in phones[::SAMPLE_EVERY]]
        blocked_addresses = [
            {"lines": list(a.lines), "postcode": a.postcode}
            for a in (e.protected[0].addresses[0] for e in addresses[::SAMPLE_EVERY])
        ]
        del phones, addresses
        gc.collect()
        source.set_index(index)
        log.info(
            "bench: index built",
            extra={"fields": {"seconds": round(build_seconds, 1), "rss_mib": round(_rss_mib())}},
        )

        async def confirm(app: web.Application) -> AsyncIterator[None]:
            # Stands in for the follower's round trips, so answers are not flagged stale.
            async def loop() -> None:
                while True:
                    await asyncio.sleep(CONFIRM_EVERY)
                    source.set_index(index)

            task = asyncio.create_task(loop())
            yield
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        app.cleanup_ctx.append(confirm)
        watch = GcWatch()
        gc.callbacks.append(watch)
        app.router.add_get(GC_PATH, watch.handler)
        info = {
            "mode": "gateway",
            "establishment": ESTABLISHMENT,
            "dialler": dialler,
            "mailroom": mailroom,
            "blocked_phones": blocked_phones,
            "blocked_addresses": blocked_addresses,
            "phones": args.phones,
            "addresses": args.addresses,
            "build_seconds": round(build_seconds, 1),
            "rss_mib": round(_rss_mib()),
        }
        _announce(app, args.ready, sock, info)
        return app, redis_server
    except BaseException:
        redis_server.stop()
        raise


async def empty_handler(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(
        body=orjson.dumps({"decision": "allow", "reference": None, "hit_id": None, "version": 1}),
        content_type="application/json",
    )


async def empty_direct_handler(request: web.Request) -> web.Response:
    """The empty handler answering as the gateway's screening routes do (gateway.answer): the
    baseline that shows what the screening itself costs, apart from how the answer is written."""
    await request.read()
    return JsonAnswer(orjson.dumps({"decision": "allow", "reference": None, "hit_id": None, "version": 1}))


def build_empty(args: argparse.Namespace, sock: socket.socket) -> web.Application:
    app = web.Application()
    app.router.add_post("/empty", empty_handler)
    app.router.add_post("/empty-direct", empty_direct_handler)
    _announce(app, args.ready, sock, {"mode": "empty", "path": "/empty"})
    return app


def _announce(app: web.Application, ready: Path, sock: socket.socket, info: dict[str, Any]) -> None:
    async def write(app: web.Application) -> None:
        # The socket already listens, so a request sent after this is accepted once the site starts.
        _write_ready(ready, {**info, "port": sock.getsockname()[1], "pid": os.getpid()})

    app.on_startup.append(write)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_server", description=__doc__)
    parser.add_argument("mode", choices=("gateway", "empty"))
    parser.add_argument("--ready", type=Path, required=True, help="JSON file written once listening")
    parser.add_argument("--data-dir", type=Path, help="spool and Redis (gateway mode)")
    parser.add_argument("--cpu", type=int, default=0, help="the core to pin this process to")
    parser.add_argument("--phones", type=int, default=1_000_000, help="blocked numbers (one entry each)")
    parser.add_argument("--addresses", type=int, default=1_000_000, help="blocked addresses (one entry each)")
    parser.add_argument("--cprofile", type=Path, help="profile the serving loop into this pstats file")
    parser.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate (and --tls-key)")
    parser.add_argument("--tls-key", type=Path)
    parser.add_argument(
        "--no-access-log", action="store_true", help="gateway.access_log off (production default: on)"
    )
    args = parser.parse_args(argv)
    if args.mode == "gateway" and args.data_dir is None:
        parser.error("gateway mode needs --data-dir")

    os.sched_setaffinity(0, {args.cpu})
    from gateway.logs import setup_logging

    setup_logging(os.environ.get("NOCONTACT_LOG_LEVEL", "INFO"))  # as `nocontact serve` does
    tune_process()  # as `nocontact serve` does, for both handlers
    loop = new_event_loop()
    sock = _listen()
    redis_server = None
    if args.mode == "gateway":
        app, redis_server = build_gateway(args, sock)
    else:
        app = build_empty(args, sock)
    profiler = cProfile.Profile() if args.cprofile else None
    tls = None
    if args.tls_cert is not None:
        from gateway.tls import ServerTls, TlsFiles  # as `nocontact serve --tls-cert` builds it

        tls = ServerTls(TlsFiles(args.tls_cert, args.tls_key)).context
    try:
        if profiler is not None:
            profiler.enable()
        run_worker_app(app, sock, loop, ssl_context=tls)
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.cprofile)
        if redis_server is not None:
            redis_server.stop()
    print(json.dumps({"stopped": args.mode}), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
