"""The immutable blocklist index and the screening decisions.

Built from entries for one region profile. `with_changes` returns a new Index that shares the big
structures with this one (layered maps and the address index's delta), so a live gateway applies
single changes in microseconds and swaps one reference; nothing here is ever mutated in place.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence

from matcher import emails as email_norm
from matcher import phones as phone_norm
from matcher.addresses import AddressIndex, normalise_text, without_return_address
from matcher.budget import MAIL_CHARACTERS, Budget
from matcher.compiled import (
    AddressOwner,
    Builder,
    Compiled,
    ContactKeys,
    Context,
    Postings,
    context_for,
    entry_counts,
    posting_changes,
)
from matcher.decisions import (
    STRENGTH_OF_DECISION,
    UNKNOWN_PRISONER,
    Channel,
    Decision,
    Match,
    Strength,
    order_matches,
)
from matcher.entries import Entry, normalise_prisoner
from matcher.errors import InvalidNumber, TooMuchToRead
from matcher.layered import LayeredMap
from matcher.names import name_evidence
from matcher.near import near_scan, readable
from matcher.profile import NEAR_EVIDENCE, Profile
from matcher.stored import StoredColumns
from matcher.stored_run import add_stored

ADDRESSES_VERSION = "addresses-1"
NORMALISER_VERSIONS: dict[str, str] = {
    "phones": phone_norm.NORMALISER_VERSION,
    "emails": email_norm.NORMALISER_VERSION,
    "addresses": ADDRESSES_VERSION,
}
MAX_ENVELOPE = 4_000
MAX_CONTENT = 200_000


def check_entry(entry: Entry, profile: Profile) -> None:
    """Raise ValidationError naming the field if `entry` cannot be indexed under `profile`."""
    Builder(context_for(profile), next_address_id=1, shards=1).add(entry)


class Index:
    __slots__ = (
        "_addresses",
        "_allow_call",
        "_counts",
        "_ctx",
        "_emails",
        "_entries",
        "_next_address_id",
        "_owners",
        "_phones",
        "version",
    )

    def __init__(
        self,
        ctx: Context,
        version: int,
        entries: LayeredMap[str, Compiled],
        phones: LayeredMap[str, Postings],
        emails: LayeredMap[str, Postings],
        addresses: AddressIndex,
        owners: LayeredMap[int, AddressOwner],
        next_address_id: int,
        counts: tuple[int, int, int, int],
    ) -> None:
        self._counts = counts  # entries, phones, emails, addresses
        self._allow_call = Decision(Channel.CALL, "allow", version)
        self._ctx = ctx
        self.version = version
        self._entries = entries
        self._phones = phones
        self._emails = emails
        self._addresses = addresses
        self._owners = owners
        self._next_address_id = next_address_id

    # ---- building -------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        entries: Iterable[Entry],
        profile: Profile,
        *,
        version: int = 0,
        keys: Iterable[ContactKeys] | None = None,
    ) -> Index:
        """Raises ValidationError naming ``<reference>: <field>`` for an entry that cannot be indexed.
        `keys`, one per entry in order, are the phone and email keys ``entries_with_keys`` gave
        under a profile with the same ``key_stamp``: trusted, not normalised again."""
        ctx = context_for(profile)
        builder = Builder(ctx, next_address_id=1)
        if keys is None:
            for entry in entries:
                builder.add(entry)
        else:
            for entry, contact_keys in zip(entries, keys, strict=True):
                builder.add(entry, contact_keys)
        return cls._finish(builder, version)

    @classmethod
    def build_stored(cls, chunks: Iterable[StoredColumns], profile: Profile, *, version: int = 0) -> Index:
        """From ``stored_row`` rows (written under this profile's ``key_stamp``) with their entries'
        ``record_json``, a chunk of columns at a time: trusted like ``build(keys=...)``, and the
        entries that need no compiling are only decoded when someone asks for them."""
        builder = Builder(context_for(profile), next_address_id=1)
        for chunk in chunks:
            add_stored(builder, chunk)
        return cls._finish(builder, version)

    @classmethod
    def _finish(cls, builder: Builder, version: int) -> Index:
        ctx = builder.ctx
        addresses = AddressIndex.build(builder.address_items, ctx.address_format)
        # Builds run in worker threads: every item tuple freed in one C call would hold the GIL
        # (and stall the event loop) throughout; in slices the thread can hand it over.
        items = builder.address_items
        while items:
            del items[-2048:]
        return cls(
            ctx,
            version,
            LayeredMap(builder.entries),
            LayeredMap(builder.phones),
            LayeredMap(builder.emails),
            addresses,
            LayeredMap(builder.owners),
            builder.next_address_id,
            (len(builder.entries), builder.counts[0], builder.counts[1], builder.counts[2]),
        )

    def with_changes(self, upserts: Sequence[Entry], removals: Sequence[str], *, version: int) -> Index:
        """A new Index with `upserts` added or replaced and `removals` (references) gone."""
        gone: dict[str, Compiled] = {}
        for reference in [*removals, *(e.reference for e in upserts)]:
            old = self._entries.get(reference)
            if old is not None:
                gone[reference] = old
        builder = Builder(self._ctx, self._next_address_id, shards=1)
        latest: dict[str, Entry] = {e.reference: e for e in upserts}
        for entry in latest.values():
            builder.add(entry)
        phone_changes = posting_changes(self._phones, gone.values(), builder.phones, "phone_keys")
        email_changes = posting_changes(self._emails, gone.values(), builder.emails, "email_keys")
        removed_ids = [aid for c in gone.values() for aid in c.address_ids]
        entry_changes: dict[str, Compiled | None] = dict.fromkeys(gone)
        entry_changes.update(builder.entries)
        owner_changes: dict[int, AddressOwner | None] = dict.fromkeys(removed_ids)
        owner_changes.update(builder.owners)
        counts = list(self._counts)
        for sign, changed in ((-1, [c.entry for c in gone.values()]), (1, list(latest.values()))):
            for entry in changed:
                counts[0] += sign
                for i, n in enumerate(entry_counts(entry), start=1):
                    counts[i] += sign * n
        return Index(
            self._ctx,
            version,
            self._entries.with_changes(entry_changes),
            self._phones.with_changes(phone_changes),
            self._emails.with_changes(email_changes),
            self._addresses.with_changes(builder.address_items, removed_ids),
            self._owners.with_changes(owner_changes),
            builder.next_address_id,
            (counts[0], counts[1], counts[2], counts[3]),
        )

    # ---- facts ------------------------------------------------------------------------------

    @property
    def profile(self) -> Profile:
        return self._ctx.profile

    def entry(self, reference: str) -> Entry | None:
        compiled = self._entries.get(reference)
        return None if compiled is None else compiled.entry

    def phone_key(self, establishment: str, raw: str) -> str | None:
        """`raw` as the blocklist keys a phone number at `establishment` (E.164), or None when it
        cannot be read as one (the hit log's record of what was dialled)."""
        try:
            return self._ctx.phones_for(establishment).key(raw)
        except InvalidNumber:
            return None

    def entries(self) -> Iterator[Entry]:
        for _, compiled in self._entries.items():
            yield compiled.entry

    def stored_chunks(self, size: int) -> Iterator[StoredColumns]:
        """Every entry's ``stored_row`` and record, `size` entries a chunk, for the snapshot file:
        ``StoredColumns.from_entries`` of ``entries_with_keys``, but an entry built from a stored
        row and never asked for since is written from its record as it was read, so a write after
        a cold start neither decodes nor keeps every entry."""
        compiled = (value for _, value in self._entries.items())
        while batch := list(itertools.islice(compiled, size)):
            yield StoredColumns.from_compiled(batch)

    def entries_with_keys(self) -> Iterator[tuple[Entry, ContactKeys]]:
        """Every entry with its phone and email keys, for ``build(keys=...)`` (see ``key_stamp``)."""
        for _, compiled in self._entries.items():
            yield compiled.entry, (compiled.phone_keys, compiled.email_keys)

    @property
    def entry_count(self) -> int:
        return self._counts[0]

    def counts(self) -> dict[str, int]:
        entries, phones, emails, addresses = self._counts
        return {"entries": entries, "phones": phones, "emails": emails, "addresses": addresses}

    @property
    def identifier_count(self) -> int:
        return self._counts[1] + self._counts[2] + self._counts[3]

    # ---- screening --------------------------------------------------------------------------

    def screen_call(self, establishment: str, prisoner: str, number: str) -> Decision:
        """allow | block. Raises InvalidNumber (field "number") for an unreadable dial string."""
        # Every Python-level call here is a noticeable share of a call's screening, so the
        # normaliser's key method is found with one dict lookup and the layered map is read inline.
        ctx = self._ctx
        key = ctx.call_keys.get(establishment, ctx.default_call_key)(number)
        phones = self._phones
        overlay = phones.overlay
        postings = overlay.get(key, _ABSENT) if overlay else _ABSENT
        if postings is _ABSENT:
            shards = phones.base.shards
            postings = shards[hash(key) % len(shards)].get(key)
        if postings is None:  # not blocked, or removed since the base was built
            return self._allow_call
        prisoner = normalise_prisoner(prisoner)
        if postings.__class__ is Compiled:  # one entry holds the number: nearly every block
            compiled: Compiled = postings
            if (compiled.scope is None or establishment in compiled.scope) and (
                compiled.exempt is None or (prisoner, key) not in compiled.exempt
            ):
                # what _blocking and order_matches make of one posting, built without their calls
                relay = compiled.prisoner != prisoner
                match = _new_tuple(Match, (compiled.reference, "phone", _STRONG, relay, _NONE))
                return _new_tuple(Decision, (_CALL, "block", self.version, (match,)))
            return self._allow_call
        matches = _blocking(postings, establishment, prisoner, key, "phone")  # type: ignore[arg-type]
        if not matches:
            return self._allow_call
        return Decision(Channel.CALL, "block", self.version, order_matches(matches))

    def screen_message(
        self,
        establishment: str,
        prisoner: str,
        to: str,
        content: str | None = None,
        budget: Budget | None = None,
    ) -> Decision:
        """allow | block: the recipient (an email address or a phone number) and any blocked number
        or email written in `content`. OverBudget (nothing decided) when `budget` runs out."""
        prisoner = normalise_prisoner(prisoner)
        matches: list[Match] = []
        if "@" in to:
            matches += self._email_matches(email_norm.email_keys(to, "to"), establishment, prisoner)
        else:
            try:
                key = self._ctx.phones_for(establishment).key(to)
            except InvalidNumber as exc:
                raise InvalidNumber("to", exc.detail) from None
            postings = self._phones.get(key)
            if postings is not None:
                matches += _blocking(postings, establishment, prisoner, key, "phone")
        if content:
            try:
                matches += self._contact_matches(
                    content[:MAX_CONTENT], establishment, prisoner, Strength.STRONG, budget
                )
            except TooMuchToRead:  # a message has no hold: not screened automatically, not sent
                return Decision(
                    Channel.MESSAGE, "block", self.version, order_matches(_dedupe(matches)), "over_limit"
                )
        if not matches:
            return Decision(Channel.MESSAGE, "allow", self.version)
        return Decision(Channel.MESSAGE, "block", self.version, order_matches(_dedupe(matches)))

    def screen_mail(
        self,
        establishment: str,
        prisoner: str | None,
        envelope: str,
        content: str | None = None,
        *,
        typed: bool = False,
        budget: Budget | None = None,
    ) -> Decision:
        """allow | hold | block under the profile's mail policy. `prisoner` None: the sender is not
        known (every block applies; no exemption can, so an exempt letter is held). A letter the
        exact evidence does not block is looked at again for near evidence (matcher.near), which
        may hold it; one whose address cannot be read at all is held (reason "unreadable").
        `typed`: text typed, not read by OCR (a contact's address): exact evidence only.
        OverBudget (nothing decided) when `budget` (matcher.budget) runs out."""
        prisoner = UNKNOWN_PRISONER if prisoner is None else normalise_prisoner(prisoner)
        if budget is not None:
            budget.spend((len(envelope) + len(content or "")) // MAIL_CHARACTERS, "letter length")
        envelope = envelope[:MAX_ENVELOPE]
        envelope_text = normalise_text(envelope, self._ctx.address_format)
        ignore = self._ctx.returns.get(establishment)
        found = self._addresses.scan(envelope_text, ignore, budget)
        matches = self._address_matches(found, envelope_text, establishment, prisoner, cap=None)
        over_limit = False  # a text with more candidates than are screened: held for a person
        if content:
            content = content[:MAX_CONTENT]
            content_text = normalise_text(content, self._ctx.address_format)
            in_content = self._addresses.scan(content_text, ignore, budget)
            matches += self._address_matches(in_content, content_text, establishment, prisoner, cap="hold")
            try:
                matches += self._contact_matches(content, establishment, prisoner, None, budget)
            except TooMuchToRead:
                over_limit = True
        try:
            matches += self._contact_matches(envelope, establishment, prisoner, None, budget)
        except TooMuchToRead:
            over_limit = True
        if (
            not typed
            and self._ctx.address_format == "uk"
            and not any(m.strength is Strength.STRONG for m in matches)
        ):
            letter = without_return_address(envelope_text, ignore)
            near = near_scan(self._addresses, letter, found, budget)
            if near:
                matches += self._address_matches(near, envelope_text, establishment, prisoner, cap=None)
            if not matches and not over_limit and not readable(letter):
                return Decision(Channel.MAIL, "hold", self.version, (), "unreadable")
        if over_limit and not any(m.strength is Strength.STRONG for m in matches):
            return Decision(Channel.MAIL, "hold", self.version, order_matches(_dedupe(matches)), "over_limit")
        if not matches:
            return Decision(Channel.MAIL, "allow", self.version)
        ordered = order_matches(_dedupe(matches))
        decision = "allow"
        for match in ordered:
            if match.strength is Strength.STRONG:
                decision = "block"
                break
            if match.strength is Strength.PARTIAL:
                decision = "hold"
        reason = _reason(ordered[0]) if decision == "hold" else None
        return Decision(Channel.MAIL, decision, self.version, ordered, reason)

    def key_matches(self, kind: str, key: str, establishment: str, prisoner: str) -> list[Match]:
        """The blocks on one normalised phone (E.164) or email key for `prisoner` at
        `establishment` (scope and exemptions applied): a contact's identifier, already keyed."""
        postings = (self._phones if kind == "phone" else self._emails).get(key)
        if postings is None:
            return []
        return _blocking(postings, establishment, normalise_prisoner(prisoner), key, kind)

    # ---- internals --------------------------------------------------------------------------

    def _email_matches(self, keys: email_norm.EmailKeys, establishment: str, prisoner: str) -> list[Match]:
        matches: list[Match] = []
        for key in keys.all():
            postings = self._emails.get(key)
            if postings is not None:
                matches += _blocking(postings, establishment, prisoner, key, "email")
        return matches

    def _contact_matches(
        self, text: str, establishment: str, prisoner: str, strength: Strength | None, budget: Budget | None
    ) -> list[Match]:
        """Blocked numbers and emails written inside free text (evidence "contact"); strength
        None: as the mail policy decides for "contact" alone."""
        found: list[Match] = []
        for key in self._ctx.phones_for(establishment).find_in_text(text, budget):
            postings = self._phones.get(key)
            if postings is not None:
                found += _blocking(postings, establishment, prisoner, key, "phone")
        for keys in email_norm.find_in_text(text, budget):
            found += self._email_matches(keys, establishment, prisoner)
        if not found:
            return found
        if strength is None:
            strength = STRENGTH_OF_DECISION[self._ctx.policy.decide(_CONTACT)]
        return [Match(m.reference, m.kind, strength, m.relay, _CONTACT) for m in found]

    def _address_matches(
        self,
        hits: dict[int, frozenset[str]],
        text: object,
        establishment: str,
        prisoner: str,
        cap: str | None,
    ) -> list[Match]:
        """The matches of a scan's `hits` (address id -> evidence) under the mail policy."""
        matches: list[Match] = []
        for address_id, found in hits.items():
            owner = self._owners.get(address_id)
            if owner is None:
                continue
            compiled = owner.compiled
            if compiled.scope is not None and establishment not in compiled.scope:
                continue
            evidence = found
            decision = self._ctx.policy.decide(evidence)
            if prisoner == UNKNOWN_PRISONER and decision != "allow":
                if _address_exempt(compiled, owner.postcode, None, text):  # some prisoner's, maybe this one's
                    evidence = evidence | _UNKNOWN
                    decision = "hold"
            elif _address_exempt(compiled, owner.postcode, prisoner, text):
                continue
            if cap == "hold" and decision == "block":
                decision = "hold"
            matches.append(
                Match(
                    compiled.reference,
                    "address",
                    STRENGTH_OF_DECISION[decision],
                    compiled.prisoner != prisoner,
                    evidence,
                )
            )
        return matches


_ABSENT = object()
# NamedTuples made without the Python-level __new__ that NamedTuple generates (screen_call's block path)
_new_tuple = tuple.__new__
_STRONG = Strength.STRONG
_CALL = Channel.CALL
_NONE: frozenset[str] = frozenset()
_RANKS = {Strength.STRONG: 0, Strength.PARTIAL: 1, Strength.WEAK: 2}
_CONTACT = frozenset({"contact"})
_UNKNOWN = frozenset({"unknown_prisoner"})  # marks a match held because the sender is not known


def _reason(top: Match) -> str | None:
    """Why a letter is held, when it is for a reason of its own (matcher.decisions.REASONS)."""
    evidence = top.evidence
    if "unknown_prisoner" in evidence:
        return "unknown_prisoner"
    if "premise_unread" in evidence:
        return "unreadable"
    if not NEAR_EVIDENCE.isdisjoint(evidence):
        return "near"
    return None


def _blocking(postings: Postings, establishment: str, prisoner: str, key: str, kind: str) -> list[Match]:
    matches: list[Match] = []
    for compiled in postings if isinstance(postings, tuple) else (postings,):
        if compiled.scope is not None and establishment not in compiled.scope:
            continue
        if compiled.exempt is not None and (prisoner, key) in compiled.exempt:
            continue
        matches.append(Match(compiled.reference, kind, Strength.STRONG, compiled.prisoner != prisoner))
    return matches


def _address_exempt(compiled: Compiled, postcode: str, prisoner: str | None, text: object) -> bool:
    """Whether an exemption lets `prisoner` (None: any prisoner) write to this address."""
    for exempt_prisoner, exempt_postcode, name in compiled.address_exemptions:
        if (prisoner is not None and exempt_prisoner != prisoner) or exempt_postcode != postcode:
            continue
        if name is None or name_evidence(name, text) == "full_name":  # type: ignore[arg-type]
            return True
    return False


def _dedupe(matches: list[Match]) -> list[Match]:
    best: dict[tuple[str, str], Match] = {}
    for match in matches:
        key = (match.reference, match.kind)
        current = best.get(key)
        if current is None or _RANKS[match.strength] < _RANKS[current.strength]:
            best[key] = match
    return list(best.values())
