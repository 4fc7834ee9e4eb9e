"""What every route shares, and nothing else: the per-app ``Runtime`` and its key, the principal
of a request, JSON answers and errors, bearer-token authorization, the ``api_handler`` wrapper
(errors as JSON, request metrics, the access log) and ``off_loop`` for blocking store work. Route
modules import this, never the app factory, so ``gateway.app`` can import its routes at the top."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from aiohttp import web
from redis.exceptions import RedisError

from cases.hitindex import HitIndex
from cases.store import CaseStore
from gateway import validation
from gateway.auth import AuthUnavailable, Principal, TokenCache, bearer
from gateway.contacts import ContactsRuntime
from gateway.hitlog.shipper import Shipper
from gateway.hitlog.spool import Spool
from gateway.metrics import Metrics
from gateway.settings import GatewaySettings
from gateway.source import IndexSource
from gateway.tls import peer_fingerprint
from gateway.validation import ApiError
from matcher.errors import ValidationError
from matcher.profile import Profile
from sync.errors import NotReplicated
from sync.store import FleetStore
from sync.writer import Writer

log = logging.getLogger("nocontact.gateway")
access_log = logging.getLogger("nocontact.gateway.access")

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
API_HANDLER = "_nocontact_api_handler"  # set on every handler api_handler wraps
UNMATCHED = "unmatched"  # the endpoint label of requests no route takes
# The status a request is finished with when its client went away before the answer (nginx's 499):
# counted as nocontact_gateway_http_client_closed, never as a request answered.
CLIENT_CLOSED = 499
STORE_DOWN = "store: Redis cannot be reached"


@dataclass(slots=True)
class Cases:
    """The request workflow's store and the fleet's enforcement reads (string-decoding clients)."""

    store: CaseStore
    fleet: FleetStore
    client: Any  # redis.Redis (typed Any as in sync.client: stub versions disagree)
    aclient: Any  # redis.asyncio.Redis


@dataclass(slots=True)
class Runtime:
    """What the handlers share; one per app (per worker process). The resources left None are
    made by the app's cleanup contexts when it starts."""

    settings: GatewaySettings
    profile: Profile
    source: IndexSource
    metrics: Metrics
    gateway_id: str
    spool: Spool
    store: Any | None = None  # redis.asyncio.Redis
    store_sync: Any | None = None  # redis.Redis
    tokens: TokenCache | None = None
    shipper: Shipper | None = None
    cases: Cases | None = None
    hit_index: HitIndex | None = None  # the hit log's one reader (cases.hitindex)
    writer: Writer | None = None  # built on first use (``gateway.routes.admin.writer_for``)
    contacts: ContactsRuntime | None = None  # contacts lists, removal tasks and their sweeper
    # long letters and messages are screened here, off the event loop (one thread: a flood of them
    # queues rather than taking more of the GIL from the loop)
    screening_pool: ThreadPoolExecutor | None = None

    def stale(self) -> bool:
        return self.source.stale(self.settings.max_data_age)

    async def off_loop_screening(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` (a screening decision) in the screening thread."""
        return await asyncio.get_running_loop().run_in_executor(self.screening_pool, fn, *args)


RUNTIME = web.AppKey("runtime", Runtime)


def hit_index(request: web.Request) -> HitIndex:
    """The app's hit index (made by the app's cleanup context before any request)."""
    index = request.app[RUNTIME].hit_index
    assert index is not None
    return index


PRINCIPAL = web.RequestKey("principal", Principal)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json")


class StoreUnavailable(ApiError):
    """Redis cannot be reached (or its socket failed): 503, whatever the route was doing."""

    def __init__(self, detail: str = STORE_DOWN) -> None:
        super().__init__(503, "store_unavailable", detail)


class NotAcknowledged(StoreUnavailable):
    """The write reached the primary but WAIT saw it on too few replicas: not acknowledged."""

    def __init__(self) -> None:
        super().__init__(
            "store: the write reached the primary but no replica confirmed it in time; "
            "it may be there: read it back before retrying"
        )


@contextlib.contextmanager
def store_errors(detail: str = STORE_DOWN) -> Iterator[None]:
    """A store error inside the block becomes ``StoreUnavailable(detail)``: a 503 for the API, the
    "store unavailable" page for the UI (``gateway.ui.pages.page``)."""
    try:
        yield
    except NotReplicated:
        raise NotAcknowledged() from None
    except (RedisError, OSError):
        raise StoreUnavailable(detail) from None


async def off_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in the default executor, for blocking work (the synchronous Redis
    clients, password hashing) that must not stall the event loop; store errors as
    ``store_errors``."""
    with store_errors(f"{STORE_DOWN}; nothing was written"):
        return await in_worker(fn, *args, **kwargs)


async def in_worker(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in the default executor (the threads ``off_loop`` uses), for work
    that is only CPU: rendering a page, building a CSV or a chart. The loop that answers calls
    waits for none of it (it still shares the GIL, which the switch interval bounds)."""
    call = functools.partial(fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(None, call)


async def authorize(request: web.Request, roles: frozenset[str]) -> Principal:
    """The caller's principal, from its bearer token or, without an Authorization header, from the
    client certificate it presented (mutual TLS); 401 for neither, 403 for a role not in `roles`."""
    header = request.headers.get("Authorization")
    runtime = request.app[RUNTIME]
    assert runtime.tokens is not None
    principal = runtime.tokens.known(header) if header else None
    if principal is None:
        token = bearer(header)
        fingerprint = peer_fingerprint(request.transport) if header is None else None
        if token is None and fingerprint is None:
            raise ApiError(
                401,
                "unauthorized",
                "Authorization: a bearer token (or a registered client certificate) is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            if token is not None:
                principal = await runtime.tokens.lookup(token, header)
            else:
                assert fingerprint is not None
                principal = await runtime.tokens.by_certificate(fingerprint)
        except AuthUnavailable:
            raise ApiError(
                503, "auth_unavailable", "Authorization: the token store cannot be reached"
            ) from None
        if principal is None:
            raise ApiError(
                401,
                "unauthorized",
                "Authorization: unknown or revoked token or certificate",
                headers={"WWW-Authenticate": "Bearer"},
            )
    request[PRINCIPAL] = principal
    if principal.role not in roles:
        raise ApiError(403, "forbidden", f"role: {principal.role} may not use this endpoint")
    return principal


def bound_to(principal: Principal, establishment: str) -> None:
    """403 naming `establishment` when the principal is bound to another establishment."""
    if principal.establishment is not None and principal.establishment != establishment:
        raise ApiError(
            403,
            "forbidden",
            f"establishment: this token is bound to {principal.establishment}",
            "establishment",
        )


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
    validation, aiohttp's HTTP errors, a client that went away mid-request (CLIENT_CLOSED, nobody
    to answer), and anything else as a logged 500."""
    if isinstance(exc, ConnectionResetError):
        log.debug("gateway: client closed the connection before the answer")
        return web.Response(status=CLIENT_CLOSED)
    if isinstance(exc, ApiError):
        return exc.response()
    if isinstance(exc, ValidationError):
        return validation.invalid(exc.field, exc.detail).response()
    if isinstance(exc, web.HTTPException):
        return http_error(exc)
    return internal_error(exc)


def finish_request(
    runtime: Runtime, method: str, endpoint: str, started: float, status: int, principal: Principal | None
) -> None:
    """A request's metrics and its access-log line (for a successful screening answer only
    under ``log_screening``: metrics and the hit log cover those)."""
    if status == CLIENT_CLOSED:
        runtime.metrics.client_closed(endpoint)
        return
    elapsed = time.perf_counter() - started
    runtime.metrics.observe_request(endpoint, method, status, elapsed)
    settings = runtime.settings
    if settings.access_log and (
        status >= 400 or settings.log_screening or not endpoint.startswith("/v1/screen/")
    ):
        log_request(method, endpoint, status, elapsed, principal)


def api_handler(handler: Handler, endpoint: str | None = None) -> Handler:
    """`handler` as every route but the screening ones is served: what it raises answered as our
    JSON error (redirects pass through), request metrics and the access log. The app has no
    middleware, because a middleware is paid by every request, the screening routes' too (they
    do all this inline). The metrics' endpoint is the route's path (its canonical form), or
    `endpoint` when given."""

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
