"""The web pages for people (``/ui``): sign-in, the hit queue and review, the relay view, charts,
the CSV export, the case handlers' pages and the mailroom page. Server-rendered (aiohttp-jinja2),
no JavaScript."""

from __future__ import annotations

import functools
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from gateway.http import RUNTIME, api_handler
from gateway.ui import caseviews, charts, contactviews, hitviews, login, mailroom
from gateway.ui.pages import format_ms, zone

HERE = Path(__file__).resolve().parent.parent


def setup_ui(app: web.Application) -> None:
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        filters={"when": functools.partial(format_ms, tz=zone(app[RUNTIME].settings.timezone))},
    )
    login.setup(app)
    hitviews.setup(app)
    charts.setup(app)
    caseviews.setup(app)
    mailroom.setup(app)
    contactviews.setup(app)
    _setup_static(app, HERE / "static")


STATIC_ENDPOINT = "/ui/static"  # the metrics' endpoint label of every static file


def _setup_static(app: web.Application, directory: Path) -> None:
    """The stylesheet and any other file directly in `directory`, by name (the set is fixed at
    start, so no path can lead outside it); a handler of our own rather than aiohttp's static
    resource, so its answers are counted, logged and their errors JSON like every route's."""
    files = {path.name: path for path in directory.iterdir() if path.is_file()}

    async def static_file(request: web.Request) -> web.StreamResponse:
        path = files.get(request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound()
        return web.FileResponse(path)

    app.router.add_get(STATIC_ENDPOINT + "/{name}", api_handler(static_file, STATIC_ENDPOINT))
