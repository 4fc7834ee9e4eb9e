"""The hit pages' filter as people give it: parsed from a query string (whole UTC days, the
viewer's establishment enforced, each problem a sentence naming the field), and written back as
query parameters (links, paging, the CSV) and as words (the page and the CSV)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from gateway.hitlog.model import CHANNELS, MATCHES
from gateway.hitlog.scan import HitFilter
from gateway.ui.pages import Viewer
from matcher.entries import ESTABLISHMENT_RE, REFERENCE_RE

REVIEWED = ("yes", "no")
DAY_MS = 86_400_000


def day_ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


def _day(ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).date()


def parse_filter(query: Mapping[str, str], viewer: Viewer) -> tuple[HitFilter, list[str]]:
    """The filter and a list of problems (each names the field); bad values are dropped."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    code = query.get("establishment", "").strip().upper()
    if code:
        if ESTABLISHMENT_RE.fullmatch(code):
            values["establishment"] = code
        else:
            problems.append("Establishment: an establishment code is 2-8 letters or digits, e.g. HLI.")
    days: dict[str, dt.date] = {}
    for name in ("since", "until"):
        raw = query.get(name, "").strip()
        if raw:
            try:
                days[name] = dt.date.fromisoformat(raw)
            except ValueError:
                problems.append(f"{'From' if name == 'since' else 'To'} date: a date such as 2026-03-02.")
    if "since" in days:
        values["since_ms"] = day_ms(days["since"])
    if "until" in days:  # the whole of the last day
        values["until_ms"] = day_ms(days["until"]) + DAY_MS
    choices: dict[str, str] = {}
    for name, allowed in (("channel", CHANNELS), ("match", MATCHES), ("reviewed", REVIEWED)):
        raw = query.get(name, "").strip()
        if raw:
            if raw in allowed:
                choices[name] = raw
            else:
                problems.append(f"{name.capitalize()}: one of {', '.join(allowed)}.")
    if "channel" in choices:
        values["channel"] = choices["channel"]
    if "match" in choices:
        values["relay"] = choices["match"] == "relay"
    if "reviewed" in choices:
        values["reviewed"] = choices["reviewed"] == "yes"
    ref = query.get("reference", "").strip()
    if ref:
        if REFERENCE_RE.fullmatch(ref):
            values["reference"] = ref
        else:
            problems.append("Request reference: letters, digits and . _ : / - only.")
    if viewer.establishment is not None:
        if values.get("establishment", viewer.establishment) != viewer.establishment:
            problems.append(f"Establishment: your account sees {viewer.establishment} only.")
        values["establishment"] = viewer.establishment
    if "since" in days and "until" in days and days["since"] > days["until"]:
        problems.append("From date: must not be after the To date.")
    return HitFilter(**values), problems


def filter_query(filt: HitFilter) -> dict[str, str]:
    """The filter as the query parameters ``parse_filter`` reads (links, paging, the CSV)."""
    out = {
        "establishment": filt.establishment,
        "since": _day(filt.since_ms).isoformat() if filt.since_ms is not None else None,
        "until": _day(filt.until_ms - DAY_MS).isoformat() if filt.until_ms is not None else None,
        "channel": filt.channel,
        "match": None if filt.relay is None else MATCHES[filt.relay],
        "reviewed": None if filt.reviewed is None else REVIEWED[not filt.reviewed],
        "reference": filt.reference,
    }
    return {k: v for k, v in out.items() if v}


def describe(filt: HitFilter) -> str:
    """Human-readable, for the page and the CSV: "establishment=HLI; channel=call"."""
    parts = [f"{k}={v}" for k, v in filter_query(filt).items()]
    return "; ".join(parts) if parts else "none (all hits visible to the exporter)"
