"""Prisoners' social contacts lists in Redis (key names in ``sync.keys``). A list is written whole
by one Lua script: its record and version, the set of normalised identifiers it holds, the
identifier -> lists index a new block's sweep reads, and its mark in the "to sweep" hash, so the
index never disagrees with the lists and no write is left unswept (``cases.sweep``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from matcher.compiled import context_for
from matcher.contacts import Contact, contacts_from_list, identifier_keys
from matcher.errors import ValidationError
from matcher.profile import Profile
from sync.client import SyncRedis
from sync.keys import Keys
from sync.offloop.collector import gc_paused

# KEYS: list, held, lists, dirty; ARGV: identifier key prefix, list id, record JSON, updated (ISO),
# then the identifiers. An unchanged record is not written again (a PUT is idempotent).
_PUT = """
local current = redis.call('HGET', KEYS[1], 'record')
if current == ARGV[3] then
    return {tonumber(redis.call('HGET', KEYS[1], 'version')), 0}
end
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'record', ARGV[3], 'updated', ARGV[4])
local new = {}
for i = 5, #ARGV do new[ARGV[i]] = true end
for _, ident in ipairs(redis.call('SMEMBERS', KEYS[2])) do
    if not new[ident] then redis.call('SREM', ARGV[1] .. ident, ARGV[2]) end
end
redis.call('DEL', KEYS[2])
for i = 5, #ARGV do
    redis.call('SADD', ARGV[1] .. ARGV[i], ARGV[2])
    redis.call('SADD', KEYS[2], ARGV[i])
end
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('HSET', KEYS[4], ARGV[2], version)
return {version, 1}
"""

# KEYS: list, held, lists, dirty; ARGV: identifier key prefix, list id. Returns 0 for no list.
_DELETE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for _, ident in ipairs(redis.call('SMEMBERS', KEYS[2])) do
    redis.call('SREM', ARGV[1] .. ident, ARGV[2])
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[3], ARGV[2])
redis.call('HSET', KEYS[4], ARGV[2], 0)
return 1
"""

# KEYS: list, held; ARGV: identifier key prefix, list id, the version read, then the identifiers.
# The index of a list re-keyed in a new form; a list written since (so keyed by then) is left.
_REINDEX = """
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[3] then return 0 end
for _, ident in ipairs(redis.call('SMEMBERS', KEYS[2])) do
    redis.call('SREM', ARGV[1] .. ident, ARGV[2])
end
redis.call('DEL', KEYS[2])
for i = 4, #ARGV do
    redis.call('SADD', ARGV[1] .. ARGV[i], ARGV[2])
    redis.call('SADD', KEYS[2], ARGV[i])
end
return 1
"""

# KEYS: dirty; ARGV: (list id, the version swept) pairs. A list written again since stays marked.
_SWEPT = """
for i = 1, #ARGV, 2 do
    if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
        redis.call('HDEL', KEYS[1], ARGV[i])
    end
end
return 0
"""

# KEYS: lists; each one's version, record and updated, flat: one reply for a sweep's batch.
_GET_MANY = """
local out = {}
for i = 1, #KEYS do
    local found = redis.call('HMGET', KEYS[i], 'version', 'record', 'updated')
    out[#out + 1] = found[1] or ''
    out[#out + 1] = found[2] or ''
    out[#out + 1] = found[3] or ''
end
return out
"""


# The form of the identifier -> lists index (matcher.contacts.identifier_keys): 2 added address
# phrases. The sweeper re-keys every list when the stored form differs (ContactStore.reindex).
IDENT_FORM = "2"


def list_id(establishment: str, prisoner: str) -> str:
    return f"{establishment}:{prisoner}"


def split_list_id(value: str) -> tuple[str, str]:
    establishment, _, prisoner = value.partition(":")
    return establishment, prisoner


@dataclass(frozen=True, slots=True)
class ContactList:
    establishment: str
    prisoner: str
    version: int
    updated: str
    contacts: tuple[Contact, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "establishment": self.establishment,
            "prisoner": self.prisoner,
            "version": self.version,
            "updated": self.updated,
            "contacts": [c.to_dict() for c in self.contacts],
        }


@dataclass(frozen=True, slots=True)
class Written:
    version: int
    changed: bool


class ContactStore:
    def __init__(self, client: SyncRedis, profile: Profile, keys: Keys | None = None) -> None:
        self.client = client
        self.profile = profile
        self.keys = keys or Keys()
        self._put = client.register_script(_PUT)
        self._delete = client.register_script(_DELETE)
        self._swept = client.register_script(_SWEPT)
        self._get_many = client.register_script(_GET_MANY)
        self._reindex = client.register_script(_REINDEX)

    def _list_keys(self, lid: str) -> list[str]:
        k = self.keys
        return [k.contact_list(lid), k.contact_held(lid), k.contact_lists, k.contacts_dirty]

    def parse(self, raw: Any) -> tuple[Contact, ...]:
        """A list's contacts from its JSON form; ValidationError naming the field (identifiers
        that cannot be read included), TooManyContacts past the limit."""
        contacts = contacts_from_list(raw)
        for i, contact in enumerate(contacts):
            self.readable(contact, f"contacts[{i}]")
        return contacts

    def readable(self, contact: Contact, path: str) -> None:
        """ValidationError naming ``path.phones[j]`` or ``path.emails[j]`` when a number or an
        email address cannot be read (a list holding it could never be checked)."""
        for _ in identifier_keys(
            context_for(self.profile).phones, contact, path, self.profile.address_format
        ):
            pass

    def put(self, establishment: str, prisoner: str, contacts: Sequence[Contact]) -> Written:
        return self.put_many([(establishment, prisoner, contacts)])[0]

    def _held(self, contacts: Sequence[Contact]) -> list[str]:
        phones = context_for(self.profile).phones
        address_format = self.profile.address_format
        held: dict[str, None] = {}
        for i, contact in enumerate(contacts):
            held.update(dict.fromkeys(identifier_keys(phones, contact, f"contacts[{i}]", address_format)))
        return list(held)

    def put_many(self, lists: Sequence[tuple[str, str, Sequence[Contact]]]) -> list[Written]:
        """Each list written whole (one script each), in one pipeline."""
        updated = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with self.client.pipeline(transaction=False) as pipe:
            for establishment, prisoner, contacts in lists:
                lid = list_id(establishment, prisoner)
                held = self._held(contacts)
                record = orjson.dumps([c.to_dict() for c in contacts]).decode()
                self._put(
                    keys=self._list_keys(lid),
                    args=[self.keys.contact_ident_prefix, lid, record, updated, *held],
                    client=pipe,
                )
            replies = pipe.execute()
        return [Written(int(version), bool(changed)) for version, changed in replies]

    def delete(self, establishment: str, prisoner: str) -> bool:
        lid = list_id(establishment, prisoner)
        return bool(self._delete(keys=self._list_keys(lid), args=[self.keys.contact_ident_prefix, lid]))

    def get(self, establishment: str, prisoner: str) -> ContactList | None:
        return self.get_by_id(list_id(establishment, prisoner))

    def get_by_id(self, lid: str) -> ContactList | None:
        found = self.get_many([lid])
        return found[0]

    def get_many(self, lids: Sequence[str]) -> list[ContactList | None]:
        if not lids:
            return []
        flat = self._get_many(keys=[self.keys.contact_list(lid) for lid in lids])
        out: list[ContactList | None] = []
        for n, lid in enumerate(lids):
            version, record, updated = flat[3 * n : 3 * n + 3]
            if not record:
                out.append(None)
                continue
            establishment, prisoner = split_list_id(lid)
            contacts = tuple(Contact.from_stored(c) for c in orjson.loads(record))
            out.append(ContactList(establishment, prisoner, int(version), _text(updated), contacts))
        return out

    def reindex(self, batch: int = 500) -> int:
        """Every stored list's identifiers keyed again in the current form (``IDENT_FORM``), each
        list by one script that leaves a list written meanwhile alone. Returns the lists re-keyed."""
        done = 0
        cursor = 0
        while True:
            cursor, members = self.client.sscan(self.keys.contact_lists, cursor, count=batch)
            lids = [_text(m) for m in members]
            with self.client.pipeline(transaction=False) as pipe:
                for lid, lst in zip(lids, self.get_many(lids), strict=True):
                    try:
                        held = [] if lst is None else self._held(lst.contacts)
                    except ValidationError:  # unreadable under today's profile: keep its old keys
                        continue
                    if lst is not None:
                        self._reindex(
                            keys=self._list_keys(lid)[:2],
                            args=[self.keys.contact_ident_prefix, lid, lst.version, *held],
                            client=pipe,
                        )
                done += sum(int(r) for r in pipe.execute())
            if int(cursor) == 0:
                return done

    def lists_holding(self, identifiers: Iterable[str]) -> set[str]:
        idents = list(identifiers)
        if not idents:
            return set()
        prefix = self.keys.contact_ident_prefix
        members = self.client.sunion([prefix + i for i in idents])
        return {_text(m) for m in members}

    # -- the sweeper's queue ----------------------------------------------------------------------
    def dirty(self, count: int, cursor: int = 0) -> tuple[list[tuple[str, str]], int]:
        """Up to `count` lists written and not yet swept, with the version written, and the HSCAN
        cursor to go on from. The scan goes on from `cursor` (where the last batch stopped: the
        buckets before it were emptied by the sweep, and scanning them again for every batch
        made a full sweep quadratic), until it has found some or come back to the start; a scan
        from the middle that found nothing goes round once more from the start (marks written
        meanwhile may sit in buckets it has passed). A scan step may return nothing while marks
        remain (its buckets were emptied), so it keeps scanning."""
        found: dict[str, str] = {}
        started_at = cursor
        while True:
            cursor, page = self.client.hscan(self.keys.contacts_dirty, cursor, count=count)
            cursor = int(cursor)
            found.update((_text(k), _text(v)) for k, v in page.items())
            if len(found) >= count:
                return list(found.items())[:count], cursor
            if cursor == 0:
                if found or started_at == 0:
                    return list(found.items()), 0
                started_at = 0  # round once more, from the start

    def swept(self, marks: Iterable[tuple[str, str]]) -> None:
        """Each (list, version) swept: its mark removed unless it was written again since."""
        args = [part for mark in marks for part in mark]
        if args:
            self._swept(keys=[self.keys.contacts_dirty], args=args)

    def _mark(self, lids: Sequence[Any]) -> int:
        with self.client.pipeline(transaction=False) as pipe:
            for lid in lids:
                pipe.hget(self.keys.contact_list(_text(lid)), "version")
            versions = pipe.execute()
        mapping = {_text(lid): _text(v) for lid, v in zip(lids, versions, strict=True) if v is not None}
        if mapping:
            self.client.hset(self.keys.contacts_dirty, mapping=mapping)
        return len(mapping)

    def mark_all_dirty(self, batch: int = 5_000) -> int:
        """Every stored list marked to be swept again (a new epoch: every block may have changed),
        at its current version."""
        marked = 0
        cursor = 0
        while True:
            # a batch's scan, pipeline of commands and replies: tens of thousands of objects, no
            # cycles; collections over them held the GIL up to 15 ms in the sweep's thread
            with gc_paused():
                cursor, lids = self.client.sscan(self.keys.contact_lists, cursor, count=batch)
                marked += self._mark(lids) if lids else 0
            if int(cursor) == 0:
                return marked


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
