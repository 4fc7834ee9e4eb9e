"""The web pages for people (``/ui``): sign-in, the hit queue and review, the relay view, charts,
the CSV export and the case handlers' pages. Server-rendered (aiohttp-jinja2), no JavaScript."""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

HERE = Path(__file__).resolve().parent.parent


def setup_ui(app: web.Application) -> None:
    from gateway.ui import caseviews, charts, hitviews, login

    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
    )
    login.setup(app)
    hitviews.setup(app)
    charts.setup(app)
    caseviews.setup(app)
    app.router.add_static("/ui/static", HERE / "static", append_version=False)
