"""Reading the hit log back for the API (``gateway.routes.hits``) and the pages (``gateway.ui``):
the hit index (``cases.hitindex``, the one reader of the hit log), called off the event loop, with
each hit as a ``Hit``. Only how a filter is parsed from a request and a page is shown differ."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from cases.hitindex import HitIndex
from cases.hitrecords import CURSOR_RE, HitFilter, IndexedHit, IndexPage
from gateway.hitlog.model import Hit
from gateway.http import off_loop
from sync.keys import Keys

__all__ = ["CURSOR_RE", "HitFilter", "Page", "Row", "get_evidence", "get_hit", "read_page", "save_review"]


@dataclass(slots=True)
class Row:
    stream_id: str
    hit: Hit
    review: dict[str, Any] | None  # the latest review
    reviews: int = 0  # how many reviews the hit has had (the trail)

    @property
    def cursor(self) -> str:
        return f"{self.hit.time}.{self.hit.id}"


Page = IndexPage[Row]


def row_of(indexed: IndexedHit) -> Row:
    return Row(indexed.stream_id, Hit.from_dict(indexed.record), indexed.review, indexed.reviews)


async def read_page(
    index: HitIndex,
    filt: HitFilter,
    *,
    limit: int,
    before: str | None = None,
    after: str | None = None,
    oldest: bool = False,
) -> Page:
    """Hits matching `filt`, newest first: see ``HitIndex.page``. Read and made ``Row``s off the
    event loop."""
    return await off_loop(page_of, index, filt, limit=limit, before=before, after=after, oldest=oldest)


def page_of(index: HitIndex, filt: HitFilter, **where: Any) -> Page:
    """``HitIndex.page`` as ``Row``s (synchronous: for a worker thread)."""
    found = index.page(filt, **where)
    return IndexPage(
        [row_of(r) for r in found.rows], found.total, found.newer, found.older_cursor, found.newer_cursor
    )


async def get_hit(index: HitIndex, hit_id: str) -> Row | None:
    """One hit by id with its latest review; None until its gateway has shipped it."""
    return await off_loop(_hit_of, index, hit_id)


def _hit_of(index: HitIndex, hit_id: str) -> Row | None:
    found = index.get(hit_id)
    return None if found is None else row_of(found)


async def get_evidence(client: Any, keys: Keys, hit_id: str) -> dict[str, Any] | None:
    """What the hit's attempt tried (gateway.hitlog.evidence); None once past its retention.
    Security and admin only: callers check the reader's role first."""
    raw = await client.hget(keys.hit_evidence, hit_id)
    return None if raw is None else dict(orjson.loads(raw))


async def save_review(
    index: HitIndex, hit_id: str, outcome: str, note: str | None, by: str, escalated_to: str | None = None
) -> dict[str, Any]:
    """Add a review to the hit's trail (earlier reviews are kept); returns it as stored."""
    return await off_loop(index.review, hit_id, outcome, note, by, escalated_to)
