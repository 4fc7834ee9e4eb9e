"""Taking a snapshot file (format 4: a JSON header line, then length-prefixed frames) apart and
putting it back, for tests that damage or edit one on purpose."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from sync.snapshot import FRAME_HEAD


def frames_of(body: bytes) -> list[bytes]:
    frames, at = [], 0
    while at < len(body):
        (length,) = FRAME_HEAD.unpack_from(body, at)
        frames.append(body[at + FRAME_HEAD.size : at + FRAME_HEAD.size + length])
        at += FRAME_HEAD.size + length
    return frames


def framed(frames: Iterable[bytes]) -> bytes:
    return b"".join(FRAME_HEAD.pack(len(frame)) + frame for frame in frames)


def rewrite_body(path: Path, head: bytes, body: bytes, **header_changes: object) -> None:
    """`path` with this body, its header changed as given and its digest made to agree."""
    header = json.loads(head)
    header.update(header_changes, sha256=hashlib.sha256(body).hexdigest())
    path.write_bytes(json.dumps(header).encode() + b"\n" + body)
