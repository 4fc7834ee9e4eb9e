"""Reading the hit log for people: the filters of the queue (parsed from a query string, the
viewer's establishment enforced), a newest-first scan of the Redis hits stream with reviews
attached, and the request (case) behind a hit."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.hits import Hit
from gateway.ui.pages import Viewer
from matcher.entries import ESTABLISHMENT_RE, REFERENCE_RE
from sync.keys import Keys

CHANNELS = ("call", "mail", "message")
MATCHES = ("primary", "relay")
REVIEWED = ("yes", "no")
OUTCOMES = {
    "confirmed": "Confirmed attempt",
    "false_positive": "False positive",
    "escalated": "Escalated",
    "no_action": "No action needed",
}
STREAM_ID_RE = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
CHUNK = 500
BUDGET = 50_000  # stream messages read per page at most; "older" continues from there
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class HitFilter:
    establishment: str | None = None
    since: dt.date | None = None  # UTC days, inclusive
    until: dt.date | None = None
    channel: str | None = None
    match: str | None = None
    reviewed: str | None = None
    reference: str | None = None

    def since_ms(self) -> int | None:
        return None if self.since is None else _day_ms(self.since)

    def until_ms(self) -> int | None:
        return None if self.until is None else _day_ms(self.until) + DAY_MS

    def query(self) -> dict[str, str]:
        """The filter as query parameters (links, paging, the CSV)."""
        out = {
            "establishment": self.establishment,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "channel": self.channel,
            "match": self.match,
            "reviewed": self.reviewed,
            "reference": self.reference,
        }
        return {k: v for k, v in out.items() if v}

    def describe(self) -> str:
        """Human-readable, for the page and the CSV: "establishment=HLI; channel=call"."""
        parts = [f"{k}={v}" for k, v in self.query().items()]
        return "; ".join(parts) if parts else "none (all hits visible to the exporter)"

    def wants(self, hit: Hit) -> bool:
        if self.establishment and hit.establishment != self.establishment:
            return False
        if self.channel and hit.channel != self.channel:
            return False
        if self.match and hit.relay != (self.match == "relay"):
            return False
        if self.reference and self.reference not in {hit.reference, *(m[0] for m in hit.matches)}:
            return False
        since, until = self.since_ms(), self.until_ms()
        if since is not None and hit.time < since:
            return False
        return until is None or hit.time < until


def _day_ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


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
    for name in ("since", "until"):
        raw = query.get(name, "").strip()
        if raw:
            try:
                values[name] = dt.date.fromisoformat(raw)
            except ValueError:
                problems.append(f"{'From' if name == 'since' else 'To'} date: a date such as 2026-03-02.")
    for name, choices in (("channel", CHANNELS), ("match", MATCHES), ("reviewed", REVIEWED)):
        raw = query.get(name, "").strip()
        if raw:
            if raw in choices:
                values[name] = raw
            else:
                problems.append(f"{name.capitalize()}: one of {', '.join(choices)}.")
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
    filt = HitFilter(**values)
    if filt.since and filt.until and filt.since > filt.until:
        problems.append("From date: must not be after the To date.")
    return filt, problems


@dataclass(slots=True)
class Row:
    stream_id: str
    hit: Hit
    review: dict[str, Any] | None

    @property
    def when(self) -> str:
        return format_ms(self.hit.time)


@dataclass(slots=True)
class Page:
    rows: list[Row] = field(default_factory=list)
    next_cursor: str | None = None
    scanned: int = 0


def format_ms(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _decode(raw_fields: Mapping[bytes, bytes]) -> Hit:
    return Hit.from_stream({k.decode(): v.decode() for k, v in raw_fields.items()})


async def scan(
    client: Any,
    keys: Keys,
    filt: HitFilter,
    *,
    limit: int,
    cursor: str | None = None,
    budget: int = BUDGET,
) -> Page:
    """Hits matching `filt`, newest first, at most `limit`; `next_cursor` continues the scan."""
    page = Page()
    upper = "+" if cursor is None else f"({cursor}"
    since = filt.since_ms()
    while len(page.rows) < limit:
        chunk = await client.xrevrange(keys.hits, max=upper, min="-", count=CHUNK)
        if not chunk:
            return page
        candidates: list[tuple[str, Hit]] = []
        stop = False
        for raw_id, raw_fields in chunk:
            stream_id = raw_id.decode()
            page.scanned += 1
            # A hit is shipped after it is recorded; allow five minutes of gateway clock skew.
            if since is not None and int(stream_id.split("-")[0]) < since - 300_000:
                stop = True
                break
            hit = _decode(raw_fields)
            if filt.wants(hit):
                candidates.append((stream_id, hit))
        reviews = await reviews_for(client, keys, [h.id for _, h in candidates])
        for stream_id, hit in candidates:
            review = reviews.get(hit.id)
            if filt.reviewed and (review is not None) != (filt.reviewed == "yes"):
                continue
            page.rows.append(Row(stream_id, hit, review))
            if len(page.rows) == limit:
                page.next_cursor = stream_id
                return page
        if stop:
            return page
        last = chunk[-1][0].decode()
        if page.scanned >= budget:
            page.next_cursor = last
            return page
        upper = f"({last}"
    return page


async def reviews_for(client: Any, keys: Keys, hit_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not hit_ids:
        return {}
    raw = await client.hmget(keys.hit_reviews, hit_ids)
    return {i: orjson.loads(r) for i, r in zip(hit_ids, raw, strict=True) if r is not None}


async def get_hit(client: Any, keys: Keys, hit_id: str) -> Row | None:
    stream_id = await client.hget(keys.hit_ids, hit_id)
    if stream_id is None:
        return None
    entries = await client.xrange(keys.hits, min=stream_id, max=stream_id)
    if not entries:
        return None
    hit = _decode(entries[0][1])
    reviews = await reviews_for(client, keys, [hit.id])
    return Row(entries[0][0].decode(), hit, reviews.get(hit.id))


async def request_summary(client: Any, keys: Keys, reference: str) -> dict[str, Any] | None:
    """The case behind a reference, as much as a hit page shows: no protected or requester details.
    None when the entry was loaded directly (``PUT /v1/entries``, import) rather than by a case."""
    raw = await client.get(keys.case(reference))
    if raw is None:
        return None
    record = orjson.loads(raw)
    return {
        "id": record.get("id", reference),
        "pathway": record.get("request", {}).get("pathway"),
        "state": record.get("state"),
        "establishment": record.get("establishment"),
        "prisoner": record.get("prisoner_number"),
        "protected_count": len(record.get("request", {}).get("protected", [])),
    }
