"""Liveness, readiness and metrics. Readiness is the PBX's and the load balancer's signal, and
follows the configured stale policy: 200 whenever screening will answer (with ``stale: true`` and
why when the data is stale and ``stale_policy = "serve"``), 503 only when screening would refuse
(no index yet, or stale data under ``stale_policy = "refuse"``), the body saying why."""

from __future__ import annotations

from aiohttp import web

from gateway.decided import not_ready_why, stale_why
from gateway.http import RUNTIME, api_handler, json_response
from gateway.metrics import CONTENT_TYPE


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    index = runtime.source.index
    age = runtime.source.age_seconds()
    stale = runtime.stale()
    answering = index is not None and not (stale and runtime.settings.stale_policy == "refuse")
    why = not_ready_why(runtime) if index is None else stale_why(runtime) if stale else None
    return json_response(
        {
            "status": "ready" if answering else "not_ready",
            "stale": stale,
            "why": why,
            "state": runtime.source.state,
            "version": None if index is None else index.version,
            "age_seconds": None if age is None else round(age, 3),
            "max_data_age": runtime.settings.max_data_age,
            "stale_policy": runtime.settings.stale_policy,
        },
        status=200 if answering else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    body = await request.app[RUNTIME].metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", api_handler(healthz))
    app.router.add_get("/readyz", api_handler(readyz))
    app.router.add_get("/metrics", api_handler(metrics))
