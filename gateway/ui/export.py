"""CSV export of a filtered hit list, for the police or the CPS. The file says who exported it,
when, and with which filter, before the header row; cells that a spreadsheet would run as a
formula are quoted with a leading apostrophe."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from collections.abc import Sequence

from gateway.hitlog.model import OUTCOMES
from gateway.hitlog.scan import HitFilter, Row
from gateway.ui.hitquery import describe
from gateway.ui.pages import format_ms

COLUMNS = (
    "hit_id",
    "time_local",
    "time_utc",
    "establishment",
    "prisoner",
    "channel",
    "decision",
    "match",
    "reference",
    "kind",
    "all_references",
    "review_outcome",
    "review_note",
    "reviewed_by",
    "reviewed_at_utc",
)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def utc_text(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def hits_csv(rows: Sequence[Row], filt: HitFilter, exporter: str, *, truncated: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["# nocontact hit export"])
    writer.writerow(["# exported_at_utc", time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())])
    writer.writerow(["# exported_by", _cell(exporter)])
    writer.writerow(["# filter", _cell(describe(filt))])
    writer.writerow(["# rows", str(len(rows)) + (" (limit reached: narrow the filter)" if truncated else "")])
    writer.writerow(COLUMNS)
    for row in rows:
        hit, review = row.hit, row.review or {}
        writer.writerow(
            [
                _cell(v)
                for v in (
                    hit.id,
                    format_ms(hit.time),
                    utc_text(hit.time),
                    hit.establishment,
                    hit.prisoner,
                    hit.channel,
                    hit.decision,
                    "relay" if hit.relay else "primary",
                    hit.reference,
                    hit.kind,
                    " ".join(sorted({m[0] for m in hit.matches})),
                    OUTCOMES.get(review.get("outcome", ""), review.get("outcome")) if review else "",
                    review.get("note"),
                    review.get("by"),
                    utc_text(review["time"]) if review.get("time") else "",
                )
            ]
        )
    return out.getvalue()
