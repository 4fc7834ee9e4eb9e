"""Server-rendered SVG charts: hits per local day by channel, and hits per establishment (only for an
account that sees several), with a real axis (gridlines at round numbers), the top prisoners and
top requests of the period. Each channel has its own fill pattern as well as its own colour, bars
wide enough carry their number, and every chart has its data table beside it, so nothing depends
on telling colours apart or reading a bar's height. Counts come from the hit index, off the loop."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from markupsafe import Markup

from cases.hitindex import HitIndex
from gateway.hitlog.model import CHANNELS
from gateway.hits_read import HitFilter
from gateway.http import api_handler, hit_index, off_loop
from gateway.ui.hitquery import DAY_MS, day_ms, local_day
from gateway.ui.pages import VIEWER, page, render_off, zone_of

DEFAULT_DAYS = 30
MAX_DAYS = 366
TOP = 10
# (fill colour, pattern id) per channel: solid, diagonal hatch, dots.
STYLE = {"call": ("#1d4f91", "solid"), "mail": ("#b35900", "hatch"), "message": ("#2e7d32", "dots")}


def _defs() -> str:
    return (
        "<defs>"
        f'<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
        f'<rect width="3" height="6" fill="{STYLE["mail"][0]}"/></pattern>'
        f'<pattern id="dots" width="5" height="5" patternUnits="userSpaceOnUse">'
        f'<rect width="5" height="5" fill="#fff"/><circle cx="2.5" cy="2.5" r="1.7" '
        f'fill="{STYLE["message"][0]}"/></pattern>'
        "</defs>"
    )


def _fill(channel: str) -> str:
    colour, pattern = STYLE[channel]
    return colour if pattern == "solid" else f"url(#{pattern})"


def axis_ticks(peak: int) -> list[int]:
    """Round gridline values from 0 to at least `peak`: at most about six, 1, 2 or 5 times a power
    of ten apart."""
    power = 1
    while True:
        for multiple in (1, 2, 5):
            step = power * multiple
            if peak <= step * 5:
                return list(range(0, -(-peak // step) * step + 1, step))
        power *= 10


def per_day_svg(days: list[dt.date], counts: dict[tuple[dt.date, str], int]) -> Markup:
    width, height, left, bottom, top = 760, 260, 48, 40, 30
    plot_w, plot_h = width - left - 10, height - bottom - top
    ticks = axis_ticks(max([counts.get((d, c), 0) for d in days for c in CHANNELS] + [1]))
    peak = ticks[-1]
    slot = plot_w / max(len(days), 1)
    bar = max(slot / (len(CHANNELS) + 1), 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="pd-title pd-desc" '
        f'viewBox="0 0 {width} {height}" class="chart">',
        '<title id="pd-title">Hits per day by channel</title>',
        f'<desc id="pd-desc">Bars for {len(days)} days from {days[0]} to {days[-1]}; the same numbers are '
        "in the table below the chart.</desc>",
        _defs(),
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" stroke="#333"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>',
    ]
    for tick in ticks:  # a real axis: every gridline labelled
        y = top + plot_h - plot_h * tick / peak
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#ccc" stroke-width=".5"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{tick}</text>'
        )
    for i, day in enumerate(days):
        x0 = left + i * slot + bar / 2
        for j, channel in enumerate(CHANNELS):
            n = counts.get((day, channel), 0)
            if not n:
                continue
            h = plot_h * n / peak
            x = x0 + j * bar
            y = top + plot_h - h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{_fill(channel)}" '
                f'stroke="#222" stroke-width="0.6"><title>{day} {channel}: {n}</title></rect>'
            )
            if bar >= 10 or (bar >= 6 and n < 100):
                parts.append(
                    f'<text x="{x + bar / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                    f'class="value">{n}</text>'
                )
        if len(days) <= 14 or i % max(len(days) // 10, 1) == 0:
            parts.append(
                f'<text x="{left + i * slot + slot / 2:.1f}" y="{top + plot_h + 16}" '
                f'text-anchor="middle" class="axis">{day.strftime("%d %b")}</text>'
            )
    for j, channel in enumerate(CHANNELS):  # legend: pattern swatch and the channel's name
        x = left + j * 120
        parts.append(
            f'<rect x="{x}" y="6" width="14" height="14" fill="{_fill(channel)}" stroke="#222"/>'
            f'<text x="{x + 20}" y="18" class="legend">{channel}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  # every interpolated value is a number, date or constant


def per_establishment_svg(counts: list[tuple[str, int]]) -> Markup:
    row_h, left, width = 26, 80, 760
    height = max(len(counts), 1) * row_h + 20
    peak = max([n for _, n in counts] + [1])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="pe-title" '
        f'viewBox="0 0 {width} {height}" class="chart">',
        '<title id="pe-title">Hits per establishment</title>',
    ]
    for i, (code, n) in enumerate(counts):
        y = 10 + i * row_h
        w = (width - left - 60) * n / peak
        parts.append(
            f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" class="axis">{escape(code)}</text>'
            f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{row_h - 8}" fill="#1d4f91" stroke="#222" '
            f'stroke-width="0.6"/><text x="{left + w + 6:.1f}" y="{y + 14}" class="value">{n}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  # codes are escaped; the rest are numbers


@page("security", "casework", "admin")
async def charts(request: web.Request) -> web.StreamResponse:
    viewer = request[VIEWER]
    tz = zone_of(request)
    problems: list[str] = []
    try:
        days_wanted = int(request.query.get("days", DEFAULT_DAYS))
        if not 1 <= days_wanted <= MAX_DAYS:
            raise ValueError
    except ValueError:
        problems.append(f"Days: a whole number from 1 to {MAX_DAYS}.")
        days_wanted = DEFAULT_DAYS
    today = local_day(int(dt.datetime.now(dt.UTC).timestamp() * 1000), tz)
    first = today - dt.timedelta(days=days_wanted - 1)
    filt = HitFilter(establishment=viewer.establishment, since_ms=day_ms(first, tz))
    days = [first + dt.timedelta(days=i) for i in range(days_wanted)]
    shown = await off_loop(_charts, hit_index(request), filt, days, tz)
    return await render_off(
        request,
        "charts.html",
        {"days": days_wanted, "first": first, "today": today, "problems": problems, **shown},
        status=400 if problems else 200,
    )


def _charts(index: HitIndex, filt: HitFilter, days: list[dt.date], tz: ZoneInfo) -> dict[str, Any]:
    """The counts, the SVGs and the tables of the charts page (in a worker thread)."""
    per_day: Counter[tuple[dt.date, str]] = Counter()
    for hour_ms, channel, n in index.per_hour(filt):
        per_day[(local_day(hour_ms, tz), channel)] += n
    places = index.counts(filt, "establishment")
    table = [
        (d, [per_day.get((d, c), 0) for c in CHANNELS])
        for d in reversed(days)
        if any(per_day.get((d, c), 0) for c in CHANNELS)
    ]
    return {
        "total": sum(per_day.values()),
        "per_day_svg": per_day_svg(days, dict(per_day)),
        # One bar is no comparison: the chart is for an account that sees several prisons.
        "per_place_svg": per_establishment_svg(places) if len(places) > 1 else None,
        "table": table,
        "places": places,
        "top_prisoners": index.counts(filt, "prisoner", TOP),
        "top_requests": index.counts(filt, "reference", TOP),
        "channels": CHANNELS,
        "day_ms": DAY_MS,
    }


def setup(app: web.Application) -> None:
    app.router.add_get("/ui/charts", api_handler(charts))
