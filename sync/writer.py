"""The writer: every change to the blocklist is one Lua script that bumps ``version``, writes the
entry and appends the change, with that version, to the stream (trimmed approximately). A full
republish writes a staging hash and swaps it in with a new epoch and an explicit ``reset`` message.

Versions are strictly ordered because Redis runs one script at a time: two writers racing get
distinct, contiguous versions and the stream holds the changes in version order.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from matcher.entries import Entry
from matcher.index import NORMALISER_VERSIONS
from sync.changes import OP_REMOVE, OP_UPSERT, decode_entry, encode_entry
from sync.client import SyncRedis
from sync.cut import shrink_refusal
from sync.errors import ConcurrentChange, OwnedByRequest, ShrinkRefused
from sync.keys import Keys
from sync.owners import owned, owned_entries
from sync.replication import Replication
from sync.settings import SyncSettings

log = logging.getLogger("nocontact.sync")

STAGING_TTL_S = 3600  # a republish that dies half-way leaves nothing behind for long

_TIME_MS = """
local t = redis.call('TIME')
local now = string.format('%.0f', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
"""

# Identifiers in an entry's JSON, to keep meta.identifiers right without the client reading back.
_IDCOUNT = """
local function idcount(raw)
  local ok, e = pcall(cjson.decode, raw)
  if not ok or type(e) ~= 'table' or type(e.protected) ~= 'table' then return 0 end
  local n = 0
  for _, p in ipairs(e.protected) do
    if type(p) == 'table' then
      for _, k in ipairs({'phones', 'emails', 'addresses'}) do
        if type(p[k]) == 'table' then n = n + #p[k] end
      end
    end
  end
  return n
end
"""

# KEYS: meta, entries, changes, versions, then (unless the request workflow writes its own entry)
#       the request record key of each change's reference, in order
# ARGV: maxlen, candidate epoch, normalisers JSON, then (op, reference, payload) triples
# A change naming a request's reference refuses the whole script before anything is written: the
# ownership check and the write are one atomic step (no request can take the id in between).
APPLY_LUA = (
    _TIME_MS
    + _IDCOUNT
    + """
local meta, entries, changes, versions = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
for i = 4, #ARGV, 3 do
  if ARGV[i] ~= 'upsert' and ARGV[i] ~= 'remove' then return redis.error_reply('ERR unknown op') end
end
if #KEYS > 4 then
  local owned = {}
  for i = 4, #ARGV, 3 do
    if redis.call('EXISTS', KEYS[4 + (i - 1) / 3]) == 1 then owned[#owned + 1] = ARGV[i + 1] end
  end
  if #owned > 0 then return redis.error_reply('OWNED ' .. table.concat(owned, ' ')) end
end
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = ARGV[2]
  redis.call('HSET', meta, 'epoch', epoch, 'version', 0, 'entries', 0, 'identifiers', 0,
             'normalisers', ARGV[3], 'shrink_ok', '0', 'published_version', 0, 'published_ms', now)
end
local out = {}
for i = 4, #ARGV, 3 do
  local op, ref, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local old = redis.call('HGET', entries, ref)
  if op == 'upsert' then
    local v = redis.call('HINCRBY', meta, 'version', 1)
    redis.call('HSET', entries, ref, payload)
    redis.call('HSET', versions, ref, v)
    if old then
      redis.call('HINCRBY', meta, 'identifiers', idcount(payload) - idcount(old))
    else
      redis.call('HINCRBY', meta, 'entries', 1)
      redis.call('HINCRBY', meta, 'identifiers', idcount(payload))
    end
    local id = redis.call('XADD', changes, 'MAXLEN', '~', ARGV[1], '*',
                          'v', v, 'e', epoch, 'op', 'upsert', 'ref', ref, 'entry', payload)
    out[#out + 1] = {v, id}
  elseif old then
    local v = redis.call('HINCRBY', meta, 'version', 1)
    redis.call('HDEL', entries, ref)
    redis.call('HDEL', versions, ref)
    redis.call('HINCRBY', meta, 'entries', -1)
    redis.call('HINCRBY', meta, 'identifiers', -idcount(old))
    local id = redis.call('XADD', changes, 'MAXLEN', '~', ARGV[1], '*',
                          'v', v, 'e', epoch, 'op', 'remove', 'ref', ref)
    out[#out + 1] = {v, id}
  else
    out[#out + 1] = {0, ''}
  end
end
redis.call('HSET', meta, 'updated_ms', now)
return {epoch, out}
"""
)

# KEYS: meta, entries, changes, staging, versions
# ARGV: new epoch, entry count, identifier count, allow_shrink (0/1), maxlen, normalisers JSON,
#       expected "epoch/version" at the start of the republish ('' skips the check)
SWAP_LUA = (
    _TIME_MS
    + """
local meta, entries, changes, staging, versions = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local cur = (redis.call('HGET', meta, 'epoch') or '') .. '/' .. (redis.call('HGET', meta, 'version') or '')
if ARGV[7] ~= '' and cur ~= ARGV[7] then
  redis.call('DEL', staging)
  return redis.error_reply('CONFLICT ' .. cur)
end
local n = redis.call('HLEN', staging)
if n ~= tonumber(ARGV[2]) then
  redis.call('DEL', staging)
  return redis.error_reply('ERR staging holds ' .. n .. ' entries, expected ' .. ARGV[2])
end
if n > 0 then
  redis.call('RENAME', staging, entries)
  redis.call('PERSIST', entries)
else
  redis.call('DEL', entries)
end
redis.call('UNLINK', versions)
local v = tonumber(redis.call('HGET', meta, 'version') or '0') + 1
redis.call('HSET', meta, 'epoch', ARGV[1], 'version', v, 'entries', n, 'identifiers', ARGV[3],
           'normalisers', ARGV[6], 'shrink_ok', ARGV[4], 'published_version', v,
           'published_ms', now, 'updated_ms', now)
local id = redis.call('XADD', changes, 'MAXLEN', '~', ARGV[5], '*',
                      'v', v, 'e', ARGV[1], 'op', 'reset', 'entries', n, 'allow_shrink', ARGV[4])
return {v, id}
"""
)

# KEYS: meta, changes; ARGV: new epoch, maxlen, normalisers JSON. An explicit, empty first epoch.
INITIALISE_LUA = (
    _TIME_MS
    + """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if epoch then return {epoch, tonumber(redis.call('HGET', KEYS[1], 'version')), 0} end
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'version', 0, 'entries', 0, 'identifiers', 0,
           'normalisers', ARGV[3], 'shrink_ok', '1', 'published_version', 0,
           'published_ms', now, 'updated_ms', now)
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'v', 0, 'e', ARGV[1], 'op', 'reset',
                     'entries', 0, 'allow_shrink', '1')
return {ARGV[1], 0, id}
"""
)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """`version` is 0 and `stream_id` None when nothing changed (removing an absent reference)."""

    epoch: str
    version: int
    stream_id: str | None
    kept: int = 0  # a republish: the requests' entries it kept from the old list (``sync.owners``)

    @property
    def changed(self) -> bool:
        return self.stream_id is not None


Change = tuple[str, "Entry | str"]  # (OP_UPSERT, Entry) or (OP_REMOVE, reference)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def owned_refusal(exc: redis.ResponseError) -> OwnedByRequest | None:
    """The apply script's refusal of references that requests own, or None for another error."""
    text = str(exc)
    return OwnedByRequest(tuple(text.split()[1:])) if text.startswith("OWNED ") else None


class _Staging:
    """A republish's staging hash being filled, with its counts."""

    def __init__(self, keys: Keys, validate: Callable[[Entry], None] | None) -> None:
        self.key = keys.staging(uuid.uuid4().hex)
        self.validate = validate
        self.count = 0
        self.identifiers = 0
        self.seen: set[str] = set()

    def add(self, entry: Entry) -> tuple[str, str]:
        if self.validate is not None:
            self.validate(entry)
        return self.add_encoded(entry, encode_entry(entry))

    def add_encoded(self, entry: Entry, payload: str) -> tuple[str, str]:
        if entry.reference in self.seen:
            raise ValueError(f"reference {entry.reference} appears twice in the republish")
        self.seen.add(entry.reference)
        self.count += 1
        self.identifiers += entry.identifier_count()
        return entry.reference, payload


class Writer:
    """Writes entries to Redis with a blocking client (the gateway's entry endpoints run it in a
    thread; the CLI, the importer and the case store call it directly). `validate` (for example
    ``matcher.index.check_entry`` bound to a profile) runs on every entry before it is written, so
    followers never meet an entry they cannot index. With `replicas`, each write returns only once
    WAIT sees it on that many replicas, else raises NotReplicated: an acknowledged block survives
    the primary's loss. A request's entry is written only by the request's workflow: any other
    write naming it is refused, in the same script, with OwnedByRequest."""

    def __init__(
        self,
        client: SyncRedis,
        *,
        keys: Keys | None = None,
        stream_max_len: int = 100_000,
        normalisers: Mapping[str, str] | None = None,
        validate: Callable[[Entry], None] | None = None,
        replicas: int = 0,
        wait_ms: int = 2000,
        max_shrink: float = 0.2,
    ) -> None:
        self.client = client
        self.max_shrink = max_shrink
        self.replicas = replicas
        self.wait_ms = wait_ms
        self._apply = client.register_script(APPLY_LUA)
        self._swap = client.register_script(SWAP_LUA)
        self._initialise = client.register_script(INITIALISE_LUA)
        self.keys = keys or Keys()
        self.stream_max_len = stream_max_len
        self.normalisers_json = json.dumps(dict(normalisers or {}), sort_keys=True)
        self.validate = validate

    @classmethod
    def configured(
        cls, client: SyncRedis, settings: SyncSettings, *, validate: Callable[[Entry], None] | None = None
    ) -> Writer:
        """The writer every part of nocontact uses: the deployment's key prefix, stream length and
        replicas to acknowledge on, the matcher's normaliser versions."""
        return cls(
            client,
            keys=settings.keys,
            stream_max_len=settings.stream_max_len,
            normalisers=NORMALISER_VERSIONS,
            validate=validate,
            replicas=settings.acknowledging_replicas,
            wait_ms=settings.write_wait_ms,
            max_shrink=settings.max_shrink,
        )

    def upsert(self, entry: Entry) -> WriteResult:
        return self.apply([(OP_UPSERT, entry)])[0]

    def remove(self, reference: str) -> WriteResult:
        return self.apply([(OP_REMOVE, reference)])[0]

    def upsert_many(self, entries: Sequence[Entry]) -> list[WriteResult]:
        """All of `entries` in one atomic script: one version and one stream message each."""
        return self.apply([(OP_UPSERT, e) for e in entries])

    def apply(self, changes: Sequence[Change], *, by_request: bool = False) -> list[WriteResult]:
        """Upserts and removals, in order, as one atomic script. A change naming a request's
        reference refuses them all (OwnedByRequest, nothing written) unless `by_request`: the
        request workflow writing its own entry (``cases.store``)."""
        if not changes:
            return []
        keys = self._apply_keys(changes, by_request)
        try:
            reply = self._apply(keys=keys, args=self._apply_args(changes))
        except redis.ResponseError as exc:
            refusal = owned_refusal(exc)
            if refusal is None:
                raise
            raise refusal from None
        results = self.results(reply)
        self.acknowledge()
        return results

    def pipeline_apply(self, pipe: Any, changes: Sequence[Change], *, by_request: bool = False) -> None:
        """Queue `changes` on `pipe` as one script call (refused as `apply` says); read its reply
        with `results`, and call `acknowledge` once the pipeline has run."""
        keys = self._apply_keys(changes, by_request)
        self._apply(keys=keys, args=self._apply_args(changes), client=pipe)

    @staticmethod
    def results(reply: Any) -> list[WriteResult]:
        """Read the reply of an apply script (e.g. one queued with `pipeline_apply`). A refusal
        read from a pipeline (``execute(raise_on_error=False)``) is raised: OwnedByRequest or the
        Redis error."""
        if isinstance(reply, redis.ResponseError):
            raise owned_refusal(reply) or reply
        epoch = _text(reply[0])
        return [WriteResult(epoch, int(v), _text(sid) if int(v) else None) for v, sid in reply[1]]

    def initialise(self) -> WriteResult:
        """Create an explicitly empty first epoch if the store has none; a no-op otherwise.
        Followers accept an empty blocklist only when it is explicit like this."""
        args: list[str | int] = [uuid.uuid4().hex, self.stream_max_len, self.normalisers_json]
        epoch, version, created = self._initialise(keys=[self.keys.meta, self.keys.changes], args=args)
        self.acknowledge()
        if created:
            log.info("sync: store initialised (epoch=%s)", _text(epoch))
        return WriteResult(_text(epoch), int(version), _text(created) if created else None)

    def republish(
        self, entries: Iterable[Entry], *, allow_shrink: bool = False, batch: int = 1000, guard: bool = True
    ) -> WriteResult:
        """Replace the whole blocklist with `entries` under a new epoch, keeping every entry a
        request owns (``sync.owners``: those change only through their requests, which still say
        authorised; ``WriteResult.kept`` counts them). `allow_shrink` tells the followers that an
        empty or much smaller list is intended. Raises, having published nothing: OwnedByRequest
        when `entries` names a request's reference; ConcurrentChange when another write landed
        meanwhile (nothing is lost: retry); ShrinkRefused when the followers' guard would refuse
        the new list (``sync.cut.shrink_refusal`` against the store's entries) and `allow_shrink`
        is not set. `guard=False` publishes it all the same, leaving the followers' own guard to
        refuse it (the tests of that guard: a store restored from an old backup meets it the same
        way)."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hmget(self.keys.meta, ["epoch", "version"])
            pipe.hlen(self.keys.entries)
            start, live = pipe.execute()
        expected = f"{_text(start[0] or '')}/{_text(start[1] or '')}"
        # A store with nothing published has no list to shrink; an empty one is still refused.
        live_entries = int(live) if start[0] else None
        # Read after `expected`: a request's write since then (authorising, withdrawing, an
        # exemption) moves the version, and the swap refuses to publish a list that missed it.
        kept = owned_entries(self.client, self.keys)
        staging = _Staging(self.keys, self.validate)
        pipe = self.client.pipeline(transaction=False)
        try:
            for entry in entries:
                pipe.hset(staging.key, *staging.add(entry))
                if staging.count % batch == 0:
                    pipe.expire(staging.key, STAGING_TTL_S)
                    pipe.execute()
            pipe.expire(staging.key, STAGING_TTL_S)
            pipe.execute()
            taken = owned(self.client, self.keys, staging.seen)
            if taken:
                raise OwnedByRequest(tuple(sorted(taken)))
            for raw in kept.values():
                pipe.hset(staging.key, *staging.add_encoded(decode_entry(raw), _text(raw)))
            pipe.expire(staging.key, STAGING_TTL_S)
            pipe.execute()
        except BaseException:
            self.client.delete(staging.key)
            raise
        refused = shrink_refusal(
            live_entries, staging.count, explicit=allow_shrink, max_shrink=self.max_shrink
        )
        if refused is not None and guard:
            self.client.delete(staging.key)
            raise ShrinkRefused(refused)
        k = self.keys
        epoch = uuid.uuid4().hex
        args: list[str | int] = [
            epoch,
            staging.count,
            staging.identifiers,
            int(allow_shrink),
            self.stream_max_len,
            self.normalisers_json,
            expected,
        ]
        try:
            version, stream_id = self._swap(
                keys=[k.meta, k.entries, k.changes, staging.key, k.versions], args=args
            )
        except redis.ResponseError as exc:
            if str(exc).startswith("CONFLICT"):
                raise ConcurrentChange(expected, str(exc).removeprefix("CONFLICT ")) from None
            raise
        self.acknowledge()
        log.info(
            "sync: republished (epoch=%s version=%s entries=%d kept=%d allow_shrink=%s)",
            epoch,
            int(version),
            staging.count,
            len(kept),
            allow_shrink,
        )
        return WriteResult(epoch, int(version), _text(stream_id), len(kept))

    def acknowledge(self) -> None:
        """Return once `replicas` replicas hold every write this process made; NotReplicated if they
        do not within `wait_ms` (``sync.replication``)."""
        Replication(self.replicas, self.wait_ms, self.keys).confirm(self.client)

    def meta(self) -> dict[str, str]:
        return {_text(f): _text(v) for f, v in self.client.hgetall(self.keys.meta).items()}

    def _apply_keys(self, changes: Sequence[Change], by_request: bool) -> list[str]:
        k = self.keys
        keys = [k.meta, k.entries, k.changes, k.versions]
        if not by_request:
            keys += [k.case(item.reference if isinstance(item, Entry) else item) for _, item in changes]
        return keys

    def _apply_args(self, changes: Sequence[Change]) -> list[str | int]:
        args: list[str | int] = [self.stream_max_len, uuid.uuid4().hex, self.normalisers_json]
        for op, item in changes:
            if op == OP_UPSERT and isinstance(item, Entry):
                if self.validate is not None:
                    self.validate(item)
                args += [OP_UPSERT, item.reference, encode_entry(item)]
            elif op == OP_REMOVE and isinstance(item, str):
                args += [OP_REMOVE, item, ""]
            else:
                raise ValueError(f"not a change: ({op!r}, {type(item).__name__})")
        return args
