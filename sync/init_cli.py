"""``nocontact init``: publish an explicitly empty blocklist in a store that has none, so the
gateways on it become ready (a follower never takes an empty list that is not explicit, and a
store nobody has published to holds nothing at all). A no-op, saying so, on a store that already
has a blocklist: it never empties one. ``nocontact serve --init`` does the same before serving.

The embedded Redis (no ``NOCONTACT_REDIS_URL``) is initialised by ``serve`` itself; this is for a
store of your own."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

import redis

from matcher.errors import ConfigError
from sync.client import sync_client
from sync.embedded import store_url
from sync.errors import SyncError
from sync.importer import add_store_options, store_settings
from sync.redis_url import unreachable
from sync.settings import SyncSettings
from sync.writer import Writer


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "init",
        help="publish an empty blocklist in a new store (once, before the first gateway)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_store_options(parser)
    parser.set_defaults(handler=run)


def initialise(url: str, settings: SyncSettings) -> str:
    """Initialise the store at `url`; what happened, in one line. Raises redis and sync errors."""
    with sync_client(url, settings, name="nocontact-init") as client:
        result = Writer.configured(client, settings).initialise()
    if result.changed:
        return (
            f"published an empty blocklist (epoch {result.epoch}, version 0): gateways on this store "
            "are ready; add blocks through the API, `nocontact import` or casework"
        )
    return (
        f"nothing to do: this store already has a blocklist (epoch {result.epoch}, "
        f"version {result.version}); it was left as it is"
    )


def run(args: argparse.Namespace, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        settings = store_settings(args)
    except (ConfigError, OSError, ValueError) as exc:
        err.write(f"init: {exc}\n")
        return 2
    try:
        with store_url(settings.redis_url, settings.data_dir) as url:
            try:
                said = initialise(url, settings)
            except (redis.RedisError, OSError) as exc:
                err.write(f"init: {unreachable(url, exc)}\n")
                return 2
    except SyncError as exc:
        err.write(f"init: {exc}\n")
        return 2
    out.write(f"init: {said}\n")
    return 0
