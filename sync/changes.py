"""The change stream's message format, the entry codec shared by writer, follower and snapshot, and
how the follower folds what one read of the stream returns into one delta (``fold_changes``).

A message's fields (all strings):

- ``v``      the store version this change produced (an int; contiguous within an epoch)
- ``e``      the epoch the change belongs to
- ``op``     ``upsert`` | ``remove`` | ``reset``
- ``ref``    the entry's reference (upsert, remove)
- ``entry``  the entry as canonical JSON (upsert)
- ``entries``, ``allow_shrink``  (reset) the new epoch's entry count, and "1" when the publisher
  explicitly allowed it to be empty or much smaller than the last one
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import orjson

from matcher.entries import Entry
from matcher.errors import ValidationError
from sync.errors import UnparsableChange

OP_UPSERT = "upsert"
OP_REMOVE = "remove"
OP_RESET = "reset"
OPS = frozenset({OP_UPSERT, OP_REMOVE, OP_RESET})

log = logging.getLogger("nocontact.sync")


def encode_entry(entry: Entry) -> str:
    return json.dumps(entry.to_dict(), separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def decode_entry(raw: str | bytes) -> Entry:
    """Raises ValueError (ValidationError or JSONDecodeError) when `raw` is not a valid entry.
    orjson, for speed on a cut of a million entries (encode_entry writes nothing orjson does not
    read)."""
    return Entry.from_dict(orjson.loads(raw))


@dataclass(frozen=True, slots=True)
class Change:
    stream_id: str
    version: int
    epoch: str
    op: str
    reference: str | None = None
    entry: Entry | None = None
    allow_shrink: bool = False


def parse_change(stream_id: str, fields: Mapping[str, str]) -> Change:
    """Read one stream message; raises UnparsableChange naming the stream id and the field."""
    try:
        version = int(fields["v"])
        epoch = fields["e"]
        op = fields["op"]
    except KeyError as exc:
        raise UnparsableChange(stream_id, f"missing field {exc.args[0]!r}") from None
    except ValueError:
        raise UnparsableChange(stream_id, "field 'v' is not an int") from None
    if op not in OPS:
        raise UnparsableChange(stream_id, f"unknown op {op!r}")
    if version < 0 or not epoch:
        raise UnparsableChange(stream_id, "negative version or empty epoch")
    if op == OP_RESET:
        return Change(stream_id, version, epoch, op, allow_shrink=fields.get("allow_shrink") == "1")
    reference = fields.get("ref")
    if not reference:
        raise UnparsableChange(stream_id, "missing field 'ref'")
    if op == OP_REMOVE:
        return Change(stream_id, version, epoch, op, reference)
    raw = fields.get("entry")
    if raw is None:
        raise UnparsableChange(stream_id, "missing field 'entry'")
    try:
        entry = decode_entry(raw)
    except ValidationError as exc:
        raise UnparsableChange(stream_id, f"entry {reference}: invalid field {exc.field}") from None
    except ValueError:
        raise UnparsableChange(stream_id, f"entry {reference}: not JSON") from None
    if entry.reference != reference:
        raise UnparsableChange(stream_id, f"entry reference does not match ref {reference}")
    return Change(stream_id, version, epoch, op, reference, entry)


@dataclass(slots=True)
class Batch:
    """Stream messages folded into one delta over the applied version: the last change of a
    reference wins. `stop` says why following cannot go on (a full resync), after what came before."""

    version: int  # the version the batch reaches (the applied one when it holds no change)
    upserts: dict[str, Entry] = field(default_factory=dict)
    removals: set[str] = field(default_factory=set)
    last_id: str | None = None  # the stream id of the last change applied
    cursor: str | None = None  # the stream id to read on from
    stop: str | None = None  # "unparsable" | "epoch" | "reset" | "gap" | "diverged"


def fold_changes(messages: Iterable[tuple[str, Mapping[str, str]]], epoch: str | None, applied: int) -> Batch:
    """The changes of `epoch` that follow version `applied`, in order, up to the first one that
    needs a full resync. Every message read after the cursor is newer than the version reached, so
    one at or below it means the store's history is not the one this gateway followed: a
    failover lost writes it had seen and the new primary has since reused their versions."""
    batch = Batch(applied)
    for stream_id, fields in messages:
        try:
            change = parse_change(stream_id, fields)
        except UnparsableChange as exc:
            log.warning("sync: unparsable change (%s)", exc)
            batch.stop = "unparsable"
            break
        if change.epoch != epoch:
            batch.stop = "epoch"
            break
        if change.op == OP_RESET:
            batch.stop = "reset"
            break
        if change.version <= batch.version:
            log.warning(
                "sync: history diverged (change %s has version %d, this gateway reached %d)",
                stream_id,
                change.version,
                batch.version,
            )
            batch.stop = "diverged"
            break
        if change.version != batch.version + 1:
            log.warning("sync: gap (applied %d, next change in the stream %d)", batch.version, change.version)
            batch.stop = "gap"
            break
        assert change.reference is not None
        if change.op == OP_UPSERT:
            assert change.entry is not None
            batch.upserts[change.reference] = change.entry
            batch.removals.discard(change.reference)
        else:
            batch.upserts.pop(change.reference, None)
            batch.removals.add(change.reference)
        batch.version = change.version
        batch.last_id = batch.cursor = stream_id
    return batch
