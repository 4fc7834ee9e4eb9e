"""The aiohttp application factory. Every resource (Redis clients, the index source, the hit
spool and its shipper, the token cache, the case store) lives in ``cleanup_ctx``: nothing starts
at import time, and each worker process gets its own after a fork."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from cases.calendar import load_policy
from cases.hitindex import HitIndex
from cases.store import CaseStore
from cases.sweep import Sweeper
from config import load_profile
from gateway import validation
from gateway.auth import TokenCache
from gateway.contacts import contacts_runtime
from gateway.follow import FollowerSource
from gateway.hitlog.shipper import Shipper
from gateway.hitlog.spool import Spool
from gateway.http import RUNTIME, UNMATCHED, Cases, Runtime, api_handler
from gateway.metrics import Metrics
from gateway.proxy import forwarded_middleware
from gateway.routes import admin, contacts, health, hits, openapi, requests, screening
from gateway.settings import GatewaySettings
from gateway.source import IndexSource
from gateway.ui import setup_ui
from gateway.workermetrics import FLUSH_EVERY, WorkerMetrics
from matcher.index import check_entry
from matcher.profile import Profile
from sync.redis_url import async_redis_client, redis_client
from sync.replication import Replication
from sync.store import FleetStore
from sync.writer import Writer

log = logging.getLogger("nocontact.gateway")

SHIP_ON_STOP = 3.0  # seconds a stopping worker spends shipping its spool before keeping the rest

SourceFactory = Callable[[GatewaySettings, Profile, CollectorRegistry], IndexSource]


async def unmatched(request: web.Request) -> web.StreamResponse:
    """Every method on every path, registered last, so it only sees what no other route takes:
    405 with the methods the path's own routes allow (as aiohttp's router answers), else 404."""
    own = request.match_info.route.resource
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource is not own:
            _, methods = await resource.resolve(request)
            allowed |= methods
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound()


def default_source(settings: GatewaySettings, profile: Profile, registry: CollectorRegistry) -> IndexSource:
    return FollowerSource(settings, profile, registry)


def create_app(
    settings: GatewaySettings,
    *,
    source: IndexSource | None = None,
    source_factory: SourceFactory | None = None,
    profile: Profile | None = None,
    metrics_dir: Path | None = None,
) -> web.Application:
    """The gateway. `source` (tests, offline) or `source_factory` supplies the index; by default
    sync's follower is started per process. Redis is `settings.sync.redis_url` (required here:
    serve starts the embedded server and fills it in). `metrics_dir`: one of ``serve --workers N``'s
    workers, whose /metrics merges them all (gateway.workermetrics)."""
    if profile is None:
        profile = load_profile(settings.config_file)
    metrics = Metrics(None if metrics_dir is None else WorkerMetrics(metrics_dir))
    if source is None:
        source = (source_factory or default_source)(settings, profile, metrics.registry)
    # Only a deployment behind a trusted TLS proxy pays for the header check on every request.
    middlewares = [forwarded_middleware(settings.proxies)] if settings.proxies else []
    app = web.Application(client_max_size=validation.CLIENT_MAX_SIZE, middlewares=middlewares)
    runtime = Runtime(
        settings, profile, source, metrics, settings.sync.gateway_name, Spool(settings.spool_file)
    )
    metrics.watch(source, lambda: runtime.shipper, settings.max_data_age)
    app[RUNTIME] = runtime
    app[validation.BODY_TIMEOUT] = settings.body_timeout
    app.cleanup_ctx.append(_worker_metrics_ctx)  # first in, last out: a worker's final counts
    app.cleanup_ctx.append(_redis_ctx)
    app.cleanup_ctx.append(_source_ctx)
    app.cleanup_ctx.append(_spool_ctx)
    app.cleanup_ctx.append(_hit_index_ctx)
    app.cleanup_ctx.append(_cases_ctx)
    app.cleanup_ctx.append(_contacts_ctx)
    app.cleanup_ctx.append(_screening_ctx)
    screening.setup(app)
    admin.setup(app)
    hits.setup(app)
    health.setup(app)
    openapi.setup(app)
    requests.setup(app)
    contacts.setup(app)
    if settings.pages:
        setup_ui(app)
    app.router.add_route("*", "/{path:.*}", api_handler(unmatched, UNMATCHED))
    return app


def _redis_options(runtime: Runtime) -> dict[str, Any]:
    sync = runtime.settings.sync
    if sync.redis_url is None:
        raise RuntimeError("settings.sync.redis_url is required (serve starts the embedded Redis)")
    return {"socket_timeout": sync.socket_timeout, "socket_connect_timeout": sync.connect_timeout}


async def _worker_metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    """One of several workers writes its metrics for the others every FLUSH_EVERY seconds, when
    another asks (answering a scrape), and a last time once everything else has stopped (the
    spool's last shipping counted)."""
    metrics = app[RUNTIME].metrics
    shared = metrics.shared
    if shared is None:
        yield
        return
    loop = asyncio.get_running_loop()
    shared.listen(loop, metrics.registry)
    task = asyncio.create_task(_write_metrics(metrics))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    shared.close(loop)
    shared.write(metrics.registry)


async def _write_metrics(metrics: Metrics) -> None:
    shared = metrics.shared
    assert shared is not None
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(FLUSH_EVERY)
        try:
            await loop.run_in_executor(None, shared.store, shared.snapshot(metrics.registry))
        except Exception:
            log.exception("worker %d: metrics not written for the other workers", os.getpid())


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    options = _redis_options(runtime)
    url = str(runtime.settings.sync.redis_url)
    runtime.store = async_redis_client(url, **options)
    runtime.store_sync = redis_client(url, **options)
    yield
    await runtime.store.aclose()
    runtime.store_sync.close()


async def _source_ctx(app: web.Application) -> AsyncIterator[None]:
    """The index source and the token table start together: each asks the store first, and facing
    a store that does not answer, each waits out a socket timeout (the follower's first contact,
    then the table's: 5 s each, one after the other, before the gateway listened)."""
    runtime = app[RUNTIME]
    source = runtime.source
    runtime.tokens = _token_cache(runtime)
    tokens = asyncio.create_task(runtime.tokens.start(), name="nocontact-tokens-start")
    try:
        await source.start()
    finally:
        await tokens  # (it falls back to the cache file; it raises nothing of the store's)
    yield
    await runtime.tokens.stop()
    await source.stop()


async def _spool_ctx(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    assert runtime.store is not None
    runtime.spool.open()
    settings = runtime.settings
    runtime.shipper = Shipper(
        runtime.spool,
        runtime.store,
        settings.sync.keys,
        batch=settings.ship_batch,
        retry_max=settings.ship_retry_max,
        linger=settings.ship_linger,
        retention_ms=int(settings.spool_retention_days * 86_400_000),
        evidence_retention_ms=int(settings.evidence_retention_days * 86_400_000),
        replicas=settings.sync.acknowledging_replicas,
        wait_ms=settings.sync.write_wait_ms,
    )
    runtime.shipper.start()
    yield
    await runtime.shipper.stop()
    shipped, kept = await runtime.shipper.ship_remaining(SHIP_ON_STOP)
    fields = {"pid": os.getpid(), "shipped": shipped, "kept": kept}
    if kept:
        log.warning(
            "worker %d: spool: %d hit(s) shipped, %d kept in %s for the next start to ship",
            os.getpid(),
            shipped,
            kept,
            settings.spool_file,
            extra={"fields": fields},
        )
    else:
        log.info(
            "worker %d: spool: %d hit(s) shipped; none left", os.getpid(), shipped, extra={"fields": fields}
        )
    runtime.spool.close()


async def _hit_index_ctx(app: web.Application) -> AsyncIterator[None]:
    """The hit index (``cases.hitindex``): a file in the data directory, followed by a thread."""
    runtime = app[RUNTIME]
    settings = runtime.settings
    runtime.hit_index = HitIndex(settings.hit_index_file, runtime.store_sync, settings.sync.keys)
    runtime.hit_index.start()
    yield
    runtime.hit_index.stop()


def _token_cache(runtime: Runtime) -> TokenCache:
    assert runtime.store is not None
    return TokenCache(
        runtime.store,
        runtime.settings.sync.keys,
        admin_token=runtime.settings.admin_token,
        refresh=runtime.settings.token_refresh,
        cache_file=runtime.settings.token_cache_file,
        block_s=runtime.settings.sync.socket_timeout / 2,
        replication=Replication.configured(runtime.settings.sync),
    )


async def _screening_ctx(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    runtime.screening_pool = ThreadPoolExecutor(1, thread_name_prefix="nocontact-screening")
    yield
    runtime.screening_pool.shutdown(wait=True, cancel_futures=True)


async def _cases_ctx(app: web.Application) -> AsyncIterator[None]:
    """The case store reads and writes JSON text: its clients decode responses."""
    runtime = app[RUNTIME]
    options = {**_redis_options(runtime), "decode_responses": True}
    url = str(runtime.settings.sync.redis_url)
    client: Any = redis_client(url, **options)
    aclient: Any = async_redis_client(url, **options)
    sync = runtime.settings.sync
    keys = sync.keys
    writer = Writer.configured(client, sync, validate=functools.partial(check_entry, profile=runtime.profile))
    policy = load_policy(runtime.settings.config_file)
    store = CaseStore(
        client, runtime.profile, keys=keys, policy=policy, writer=writer, hits=runtime.hit_index
    )
    runtime.cases = Cases(store, FleetStore(aclient, keys), client, aclient)
    yield
    await aclient.aclose()
    client.close()


async def _contacts_ctx(app: web.Application) -> AsyncIterator[None]:
    """Contacts lists and removal tasks, and the sweeper that keeps the tasks in step (one
    gateway sweeps at a time: a lease in Redis). Its own client: its rounds block on XREAD."""
    runtime = app[RUNTIME]
    options = {**_redis_options(runtime), "decode_responses": True}
    client: Any = redis_client(str(runtime.settings.sync.redis_url), **options)
    settings = runtime.settings
    source = runtime.source
    sweeper = Sweeper(
        client,
        runtime.profile,
        lambda: source.index,
        keys=settings.sync.keys,
        owner=f"{runtime.gateway_id}:{os.getpid()}",
    )
    runtime.contacts = contacts_runtime(sweeper)
    runtime.contacts.register(runtime.metrics.registry)
    runtime.contacts.start()
    yield
    await runtime.contacts.stop()
    client.close()
