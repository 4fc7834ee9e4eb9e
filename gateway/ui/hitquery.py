"""The hit pages' filter as people give it: parsed from a query string (whole local days in the
configured zone, the viewer's establishment enforced, each problem a sentence naming the field),
and written back as query parameters (links, paging, the CSV) and as words (the page and the CSV)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from gateway.hitlog.model import CHANNELS, MATCHES, OUTCOMES
from gateway.hits_read import HitFilter
from gateway.ui.pages import Viewer, zone
from matcher.entries import ESTABLISHMENT_RE, PRISONER_RE, REFERENCE_RE

REVIEWED = ("yes", "no")
KINDS = ("phone", "email", "address")
STRENGTHS = ("strong", "partial", "weak")
REVIEW_STATES = ("none", *OUTCOMES)
DAY_MS = 86_400_000
# The form's fields, in the order the filter is described and linked.
FIELDS = (
    "prisoner",
    "reference",
    "establishment",
    "channel",
    "kind",
    "strength",
    "match",
    "review",
    "reviewed",
    "escalated",
    "since",
    "until",
)


def day_ms(day: dt.date, tz: ZoneInfo | None = None) -> int:
    """The first ms of `day` in `tz` (local midnight; Europe/London by default)."""
    start = dt.datetime(day.year, day.month, day.day, tzinfo=tz or zone())
    return int(start.timestamp() * 1000)


def local_day(ms: int, tz: ZoneInfo | None = None) -> dt.date:
    return dt.datetime.fromtimestamp(ms / 1000, tz or zone()).date()


def parse_filter(
    query: Mapping[str, str], viewer: Viewer, tz: ZoneInfo | None = None
) -> tuple[HitFilter, list[str]]:
    """The filter and a list of problems (each names the field); bad values are dropped."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    code = query.get("establishment", "").strip().upper()
    if code:
        if ESTABLISHMENT_RE.fullmatch(code):
            values["establishment"] = code
        else:
            problems.append("Establishment: an establishment code is 2-8 letters or digits, e.g. HLI.")
    prisoner = query.get("prisoner", "").strip().upper()
    if prisoner:
        if PRISONER_RE.fullmatch(prisoner):
            values["prisoner"] = prisoner
        else:
            problems.append("Prisoner: a prison number such as A1234BC.")
    days: dict[str, dt.date] = {}
    for name in ("since", "until"):
        raw = query.get(name, "").strip()
        if raw:
            try:
                days[name] = dt.date.fromisoformat(raw)
            except ValueError:
                problems.append(f"{'From' if name == 'since' else 'To'} date: a date such as 2026-03-02.")
    if "since" in days:
        values["since_ms"] = day_ms(days["since"], tz)
    if "until" in days:  # the whole of the last local day
        values["until_ms"] = day_ms(days["until"] + dt.timedelta(days=1), tz)
    choices: dict[str, str] = {}
    for name, label, allowed in (
        ("channel", "Channel", CHANNELS),
        ("match", "Who tried", MATCHES),
        ("reviewed", "Reviewed", REVIEWED),
        ("kind", "Detail matched", KINDS),
        ("strength", "Strength", STRENGTHS),
        ("review", "Review", REVIEW_STATES),
        ("escalated", "Escalated", ("me",)),
    ):
        raw = query.get(name, "").strip()
        if raw:
            if raw in allowed:
                choices[name] = raw
            else:
                problems.append(f"{label}: one of {', '.join(allowed)}.")
    for name in ("channel", "kind", "strength"):
        if name in choices:
            values[name] = choices[name]
    if "match" in choices:
        values["relay"] = choices["match"] == "relay"
    if "reviewed" in choices:
        values["reviewed"] = choices["reviewed"] == "yes"
    if "review" in choices:
        values["outcome"] = choices["review"]
    if "escalated" in choices:
        values["escalated_to"] = viewer.actor_id
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


def filter_query(filt: HitFilter, tz: ZoneInfo | None = None) -> dict[str, str]:
    """The filter as the query parameters ``parse_filter`` reads (links, paging, the CSV)."""
    out = {
        "prisoner": filt.prisoner,
        "reference": filt.reference,
        "establishment": filt.establishment,
        "channel": filt.channel,
        "kind": filt.kind,
        "strength": filt.strength,
        "match": None if filt.relay is None else MATCHES[filt.relay],
        "review": filt.outcome,
        "reviewed": None if filt.reviewed is None else REVIEWED[not filt.reviewed],
        "escalated": "me" if filt.escalated_to else None,
        "since": local_day(filt.since_ms, tz).isoformat() if filt.since_ms is not None else None,
        "until": local_day(filt.until_ms - 1, tz).isoformat() if filt.until_ms is not None else None,
    }
    return {k: v for k, v in out.items() if v}


def describe(filt: HitFilter, tz: ZoneInfo | None = None) -> str:
    """Human-readable, for the page and the CSV: "establishment=HLI; channel=call"."""
    parts = [f"{k}={v}" for k, v in filter_query(filt, tz).items()]
    return "; ".join(parts) if parts else "none (all hits visible to the exporter)"
