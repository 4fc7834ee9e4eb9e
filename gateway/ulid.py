"""ULIDs for hit ids: 48-bit millisecond time + 80 random bits, Crockford base32 (26 characters).
Sortable by time, unique without coordination between gateways."""

from __future__ import annotations

import os
import re
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ULID_RE = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")


def new_ulid(ms: int | None = None) -> str:
    value = ((time.time_ns() // 1_000_000 if ms is None else ms) << 80) | int.from_bytes(
        os.urandom(10), "big"
    )
    out = []
    for _ in range(26):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def ulid_ms(ulid: str) -> int:
    value = 0
    for char in ulid[:10]:
        value = value * 32 + _ALPHABET.index(char)
    return value
