"""The local copy of the token table, so a gateway restarted while Redis is down still knows its
PBXs' and mailrooms' tokens. It holds what the Redis hash holds and no more: each token's sha256
(never a token), its id, role and establishment binding, and certificate principals' fingerprints.
Written atomically at mode 0600 beside the snapshot file whenever the table the gateway reloads
changes, and verified on reading (format, count and the sha256 of its body): a file that fails any
check is ignored, as a bad snapshot file is."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import orjson

from sync.atomic import atomic_write

log = logging.getLogger("nocontact.gateway.auth")

FORMAT = "nocontact-tokens/1"
FILE_NAME = "tokens.cache"


def _body(table: dict[str, dict[str, Any]]) -> bytes:
    return orjson.dumps(table, option=orjson.OPT_SORT_KEYS)


def write_token_file(path: Path, table: dict[str, dict[str, Any]]) -> None:
    """`table`: the tokens hash's field (a token's sha256, or cert:FINGERPRINT) to its record
    (id, role, establishment, certificate). Blocking: run it off the event loop."""
    body = _body(table)
    header = {"format": FORMAT, "count": len(table), "sha256": hashlib.sha256(body).hexdigest()}
    atomic_write(path, [orjson.dumps(header), b"\n", body], mode=0o600)


def read_token_file(path: Path) -> dict[str, dict[str, Any]] | None:
    """The table written by ``write_token_file``, or None (logged) when the file is missing or
    fails a check."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("auth: token cache file unreadable (%s)", type(exc).__name__)
        return None
    head, _, body = raw.partition(b"\n")
    try:
        header = orjson.loads(head)
        table = orjson.loads(body)
        valid = (
            isinstance(header, dict)
            and header.get("format") == FORMAT
            and isinstance(table, dict)
            and header.get("count") == len(table)
            and header.get("sha256") == hashlib.sha256(body).hexdigest()
            and all(isinstance(record, dict) for record in table.values())
        )
    except orjson.JSONDecodeError:
        valid = False
    if not valid:
        log.warning("auth: token cache file rejected (partial, corrupt or another format): %s", path)
        return None
    result: dict[str, dict[str, Any]] = table
    return result
