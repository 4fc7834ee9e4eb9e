"""Reading the blocklist's entries back, with their owner: an entry a request authorised (its
reference is the request's id, and the request's record is beside it: ``sync.owners``) is that
request's, changed only through the request's workflow; any other was loaded directly (``PUT /v1/entries``,
``nocontact import``). ``GET /v1/entries[/{reference}]`` and ``nocontact entries list|show``
read through here."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any, TextIO

import redis

from matcher.entries import Entry
from matcher.errors import ConfigError
from sync.changes import decode_entry
from sync.embedded import store_url
from sync.importer import add_store_options, store_settings
from sync.keys import Keys
from sync.redis_url import redis_client

MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class StoredEntry:
    entry: Entry
    request: str | None  # the request that owns it; None: loaded directly

    def summary(self) -> dict[str, Any]:
        """A listing's line: the shape of the entry, no protected person's details."""
        people = self.entry.protected
        return {
            "reference": self.entry.reference,
            "prisoner": self.entry.prisoner,
            "scope": "all" if self.entry.scope is None else sorted(self.entry.scope),
            "people": len(people),
            "identifiers": sum(len(p.phones) + len(p.emails) + len(p.addresses) for p in people),
            "exemptions": len(self.entry.exemptions),
            "request": self.request,
        }

    def to_dict(self) -> dict[str, Any]:
        """The whole entry (for casework and admin only) and its owner."""
        return {"entry": self.entry.to_dict(), "request": self.request}


def get_entry(client: Any, keys: Keys, reference: str) -> StoredEntry | None:
    with client.pipeline(transaction=True) as pipe:
        pipe.hget(keys.entries, reference)
        pipe.exists(keys.case(reference))
        raw, owned = pipe.execute()
    if raw is None:
        return None
    return StoredEntry(decode_entry(raw), reference if owned else None)


def page_entries(client: Any, keys: Keys, cursor: int, limit: int) -> tuple[list[StoredEntry], int]:
    """About `limit` entries from HSCAN `cursor` (Redis may return a few more or fewer), sorted by
    reference, and the next cursor (0: the end)."""
    cursor, found = client.hscan(keys.entries, cursor=cursor, count=limit)
    references = sorted(found)
    with client.pipeline(transaction=False) as pipe:
        for reference in references:
            pipe.exists(keys.case(_text(reference)))
        owned = pipe.execute()
    out = [
        StoredEntry(decode_entry(found[reference]), _text(reference) if is_owned else None)
        for reference, is_owned in zip(references, owned, strict=True)
    ]
    return out, int(cursor)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# -- nocontact entries list|show -------------------------------------------------------------------
def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("entries", help="list the blocklist's entries or show one")
    add_store_options(parser)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every entry: reference, prisoner, scope, owner (no details)")
    listing.add_argument("--json", action="store_true", help="one JSON object a line")
    show = actions.add_parser("show", help="one entry in full, with the protected people's details")
    show.add_argument("reference")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        settings = store_settings(args)
        with (
            store_url(settings.redis_url, settings.data_dir) as url,
            redis_client(url, socket_timeout=10) as client,
        ):
            if args.action == "show":
                found = get_entry(client, settings.keys, args.reference)
                if found is None:
                    err.write(f"entries: no entry {args.reference}\n")
                    return 1
                out.write(json.dumps(found.to_dict(), indent=2, ensure_ascii=False) + "\n")
                return 0
            cursor, rows = 0, 0
            if not args.json:
                out.write("reference\tprisoner\tscope\tpeople\tidentifiers\towner\n")
            while True:
                page, cursor = page_entries(client, settings.keys, cursor, MAX_PAGE)
                for stored in page:
                    line = stored.summary()
                    rows += 1
                    if args.json:
                        out.write(json.dumps(line, ensure_ascii=False) + "\n")
                    else:
                        scope = "all" if line["scope"] == "all" else ",".join(line["scope"])
                        owner = f"request {line['request']}" if line["request"] else "direct"
                        out.write(
                            f"{line['reference']}\t{line['prisoner']}\t{scope}\t{line['people']}\t"
                            f"{line['identifiers']}\t{owner}\n"
                        )
                if cursor == 0:
                    break
            if not args.json:
                err.write(f"{rows} entries\n")
            return 0
    except (redis.RedisError, OSError, ConfigError, ValueError) as exc:  # named, without a traceback
        err.write(f"entries: {type(exc).__name__}: {exc}\n")
        return 1
