"""The aiohttp application factory. Every resource (Redis clients, the index source, the hit
spool and its shipper, the token cache) lives in ``cleanup_ctx``: nothing starts at import time,
and each worker process gets its own after a fork."""

from __future__ import annotations

import functools
import logging
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import redis
import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway import validation
from gateway.auth import AuthUnavailable, Principal, TokenCache, bearer
from gateway.hits import Spool
from gateway.metrics import Metrics
from gateway.settings import GatewaySettings
from gateway.shipper import Shipper
from gateway.source import IndexSource
from gateway.validation import ApiError
from matcher.errors import ValidationError

if TYPE_CHECKING:
    from matcher.profile import Profile

log = logging.getLogger("nocontact.gateway")
access_log = logging.getLogger("nocontact.gateway.access")

SourceFactory = Callable[[GatewaySettings, "Profile", CollectorRegistry], IndexSource]


@dataclass(slots=True)
class Runtime:
    """What the handlers share; one per app (per worker process)."""

    settings: GatewaySettings
    profile: Profile
    source: IndexSource
    metrics: Metrics
    gateway_id: str
    spool: Spool
    store: Any | None = None
    store_sync: Any | None = None
    tokens: TokenCache | None = None
    shipper: Shipper | None = None
    writer: Any = None  # sync.writer.Writer, built on first use

    def stale(self) -> bool:
        return self.source.stale(self.settings.max_data_age)


RUNTIME = web.AppKey("runtime", Runtime)
PRINCIPAL = web.RequestKey("principal", Principal)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json")


async def authorize(request: web.Request, roles: frozenset[str]) -> Principal:
    header = request.headers.get("Authorization")
    runtime = request.app[RUNTIME]
    assert runtime.tokens is not None
    principal = runtime.tokens.known(header) if header else None
    if principal is None:
        token = bearer(header)
        if token is None:
            raise ApiError(
                401,
                "unauthorized",
                "Authorization: a bearer token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            principal = await runtime.tokens.lookup(token, header)
        except AuthUnavailable:
            raise ApiError(
                503, "auth_unavailable", "Authorization: the token store cannot be reached"
            ) from None
        if principal is None:
            raise ApiError(
                401,
                "unauthorized",
                "Authorization: unknown or revoked token",
                headers={"WWW-Authenticate": "Bearer"},
            )
    request[PRINCIPAL] = principal
    if principal.role not in roles:
        raise ApiError(403, "forbidden", f"role: {principal.role} may not use this endpoint")
    return principal


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
API_HANDLER = "_nocontact_api_handler"
UNMATCHED = "unmatched"  # the endpoint label of requests no route takes


def internal_error(exc: BaseException) -> web.Response:
    # The message may quote input; log the type and the stack only.
    log.error(
        "gateway: internal error %s\n%s",
        type(exc).__name__,
        "".join(traceback.format_tb(exc.__traceback__)),
    )
    return ApiError(500, "internal", "server: internal error").response()


def log_request(method: str, endpoint: str, status: int, elapsed: float, principal: Principal | None) -> None:
    access_log.info(
        "request",
        extra={
            "fields": {
                "method": method,
                "endpoint": endpoint,
                "status": status,
                "ms": round(elapsed * 1000, 3),
                "token": principal.id if principal else None,
                "role": principal.role if principal else None,
            }
        },
    )


_HTTP_ERRORS = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def http_error(exc: web.HTTPException) -> web.Response:
    """aiohttp's own 4xx/5xx (no route, wrong method, body too large) as our JSON error."""
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    error = _HTTP_ERRORS.get(exc.status, "http_error")
    return ApiError(exc.status, error, f"path: {exc.reason}", headers=headers).response()


def error_response(exc: Exception) -> web.Response:
    """What a handler raised, as our JSON error: its own ApiError, a field that failed
    validation, aiohttp's HTTP errors, and anything else as a logged 500."""
    if isinstance(exc, ApiError):
        return exc.response()
    if isinstance(exc, ValidationError):
        return validation.invalid(exc.field, exc.detail).response()
    if isinstance(exc, web.HTTPException):
        return http_error(exc)
    return internal_error(exc)


def api_handler(handler: Handler, endpoint: str | None = None) -> Handler:
    """`handler` as every route but the screening ones is served: what it raises answered as our
    JSON error (redirects pass through), request metrics and the access log. The app has no
    middleware, because a middleware layer is paid by every request, the screening routes (which
    do all this inline) too: measured, ~15k instructions of the ~265k an allowed call cost. The
    metrics' endpoint is the route's path (its canonical form), or `endpoint` when given."""

    async def serve(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = error_response(exc)
        except Exception as exc:
            response = error_response(exc)
        name = endpoint
        if name is None:
            resource = request.match_info.route.resource
            name = resource.canonical if resource is not None else UNMATCHED
        finish_request(
            request.app[RUNTIME], request.method, name, started, response.status, request.get(PRINCIPAL)
        )
        return response

    functools.update_wrapper(serve, handler)
    setattr(serve, API_HANDLER, True)
    return serve


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


def finish_request(
    runtime: Runtime, method: str, endpoint: str, started: float, status: int, principal: Principal | None
) -> None:
    """A request's metrics and its access-log line (for a successful screening answer only
    under ``log_screening``: metrics and the hit log cover those)."""
    elapsed = time.perf_counter() - started
    runtime.metrics.observe_request(endpoint, method, status, elapsed)
    settings = runtime.settings
    if settings.access_log and (
        status >= 400 or settings.log_screening or not endpoint.startswith("/v1/screen/")
    ):
        log_request(method, endpoint, status, elapsed, principal)


def default_source(settings: GatewaySettings, profile: Profile, registry: CollectorRegistry) -> IndexSource:
    from gateway.follow import FollowerSource

    return FollowerSource(settings, profile, registry)


def create_app(
    settings: GatewaySettings,
    *,
    source: IndexSource | None = None,
    source_factory: SourceFactory | None = None,
    profile: Profile | None = None,
) -> web.Application:
    """The gateway. `source` (tests, offline) or `source_factory` supplies the index; by default
    sync's follower is started per process. Redis is `settings.sync.redis_url` (required here:
    serve starts the embedded server and fills it in)."""
    from config import load_profile
    from gateway import admin, health, hitlog, openapi, screening

    if profile is None:
        profile = load_profile(settings.config_file)
    metrics = Metrics()
    if source is None:
        source = (source_factory or default_source)(settings, profile, metrics.registry)
    app = web.Application(client_max_size=validation.CLIENT_MAX_SIZE)
    runtime = Runtime(
        settings, profile, source, metrics, settings.sync.gateway_name, Spool(settings.spool_file)
    )
    metrics.watch(source, lambda: runtime.shipper, settings.max_data_age)
    app[RUNTIME] = runtime
    app.cleanup_ctx.append(_redis_ctx)
    app.cleanup_ctx.append(_source_ctx)
    app.cleanup_ctx.append(_spool_ctx)
    app.cleanup_ctx.append(_tokens_ctx)
    screening.setup(app)
    admin.setup(app)
    hitlog.setup(app)
    health.setup(app)
    openapi.setup(app)
    from cases import api as cases_api
    from gateway.ui import setup_ui

    cases_api.setup_routes(app)
    setup_ui(app)
    app.router.add_route("*", "/{path:.*}", api_handler(unmatched, UNMATCHED))
    return app


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    sync = runtime.settings.sync
    if sync.redis_url is None:
        raise RuntimeError("settings.sync.redis_url is required (serve starts the embedded Redis)")
    options: dict[str, Any] = {
        "socket_timeout": sync.socket_timeout,
        "socket_connect_timeout": sync.connect_timeout,
    }
    runtime.store = aioredis.Redis.from_url(sync.redis_url, **options)
    runtime.store_sync = redis.Redis.from_url(sync.redis_url, **options)
    yield
    await runtime.store.aclose()
    runtime.store_sync.close()


async def _source_ctx(app: web.Application) -> AsyncIterator[None]:
    source = app[RUNTIME].source
    await source.start()
    yield
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
    )
    runtime.shipper.start()
    yield
    await runtime.shipper.stop()
    runtime.spool.close()


async def _tokens_ctx(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    assert runtime.store is not None
    runtime.tokens = TokenCache(
        runtime.store,
        runtime.settings.sync.keys,
        admin_token=runtime.settings.admin_token,
        refresh=runtime.settings.token_refresh,
    )
    await runtime.tokens.start()
    yield
    await runtime.tokens.stop()
