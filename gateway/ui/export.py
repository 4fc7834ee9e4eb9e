"""CSV export of a filtered hit list, for the police or the CPS. The file says who exported it,
when, and with which filter, before the header row; each hit has its match strength and its time
both local (with the offset) and UTC; cells that a spreadsheet would run as a formula are quoted
with a leading apostrophe.

Integrity: the first record is ``# sha256,<hex>``, the SHA-256 of every byte after that record's
line end; ``nocontact hits verify FILE`` (``verify``) recomputes it, so a file altered after export
is detected."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gateway.hitlog.model import OUTCOMES
from gateway.hits_read import HitFilter, Row
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
    "strength",
    "all_references",
    "review_outcome",
    "review_note",
    "reviewed_by",
    "reviewed_at_local",
    "reviewed_at_utc",
    "reviews",
)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
DIGEST_RECORD = "# sha256"
LINE_END = b"\r\n"


def utc_text(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def hits_csv(
    rows: Sequence[Row], filt: HitFilter, exporter: str, *, total: int, tz: ZoneInfo | None = None
) -> bytes:
    """The export's bytes (UTF-8), its SHA-256 in the first record."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    writer.writerow(["# nocontact hit export"])
    writer.writerow(["# exported_at", format_ms(now, tz), utc_text(now)])
    writer.writerow(["# exported_by", _cell(exporter)])
    writer.writerow(["# filter", _cell(describe(filt, tz))])
    shown = str(len(rows)) + (f" of {total} (limit reached: narrow the filter)" if total > len(rows) else "")
    writer.writerow(["# rows", shown])
    writer.writerow(COLUMNS)
    for row in rows:
        hit, review = row.hit, row.review or {}
        at = review.get("time")
        writer.writerow(
            [
                _cell(v)
                for v in (
                    hit.id,
                    format_ms(hit.time, tz),
                    utc_text(hit.time),
                    hit.establishment,
                    hit.prisoner,
                    hit.channel,
                    hit.decision,
                    "relay" if hit.relay else "primary",
                    hit.reference,
                    hit.kind,
                    hit.strength,
                    " ".join(sorted({m[0] for m in hit.matches})),
                    OUTCOMES.get(review.get("outcome", ""), review.get("outcome")) if review else "",
                    review.get("note"),
                    review.get("by"),
                    format_ms(at, tz) if at else "",
                    utc_text(at) if at else "",
                    row.reviews,
                )
            ]
        )
    body = out.getvalue().encode("utf-8")
    return f"{DIGEST_RECORD},{hashlib.sha256(body).hexdigest()}".encode() + LINE_END + body


def verify(data: bytes) -> tuple[bool, str]:
    """(intact, what to tell the person) for an export's bytes."""
    first, sep, rest = data.partition(LINE_END)
    name, _, recorded = first.decode("utf-8", "replace").partition(",")
    if not sep or name != DIGEST_RECORD or len(recorded) != 64:
        return False, "not a nocontact hit export (no `# sha256` record on its first line)"
    actual = hashlib.sha256(rest).hexdigest()
    if actual != recorded.lower():
        return False, f"ALTERED: the file's SHA-256 is {actual}, the export recorded {recorded}"
    rows = sum(1 for line in rest.split(LINE_END) if line and not line.startswith(b"#")) - 1
    return True, f"intact: SHA-256 {actual} matches the export's record ({max(rows, 0)} hits)"


def register(sub: Any) -> None:
    hits = sub.add_parser("hits", help="hit log exports: verify a CSV export's integrity")
    actions = hits.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser("verify", help="check a CSV export against the SHA-256 it records")
    check.add_argument("file", type=Path)
    hits.set_defaults(handler=run)


def run(args: argparse.Namespace, out: Any = None) -> int:
    """Exit 0: intact; 1: altered or not an export; 2: unreadable."""
    out = out or sys.stdout
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"nocontact hits verify: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    ok, message = verify(data)
    print(f"{args.file}: {message}", file=out)
    return 0 if ok else 1
