"""Screening answers. A Match names the entry and the kind of identifier that matched, never the
identifier itself: answers and hits must not carry the protected person's details."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Channel(StrEnum):
    """How the prisoner tried to make contact."""

    CALL = "call"
    """An outgoing telephone call from the PIN-phone system."""
    MAIL = "mail"
    """A letter screened in the mailroom."""
    MESSAGE = "message"
    """Email-a-prisoner replies, texts, video-call bookings."""


class Strength(StrEnum):
    """How much a match weighs under the policy."""

    STRONG = "strong"
    """Enough to block on its own."""
    PARTIAL = "partial"
    """Enough for a person to look (mail: hold)."""
    WEAK = "weak"
    """Recorded, not acted on (a postcode alone, a name alone)."""


REASONS = {
    "unreadable": "the address block cannot be read (no postcode, no house number): a person reads it",
    "near": "the evidence is near, not exact (OCR-damaged handwriting): a person compares",
    "unknown_prisoner": "the sender is not known and an exemption lets one prisoner write here",
    "over_limit": "more candidate numbers or emails than are screened automatically: a person reads it",
}
UNKNOWN_PRISONER = ""  # the prisoner of a letter whose sender is not known (matcher.index)

STRENGTH_OF_DECISION = {"block": Strength.STRONG, "hold": Strength.PARTIAL, "allow": Strength.WEAK}


class Match(NamedTuple):
    """A NamedTuple, not a frozen dataclass: several are made for every letter, and a tuple is far
    cheaper to make."""

    reference: str
    kind: str  # "phone" | "email" | "address"
    strength: Strength
    relay: bool  # the prisoner screened is not the one named in the request
    evidence: frozenset[str] = frozenset()

    def to_dict(self) -> dict[str, object]:
        return {"reference": self.reference, "kind": self.kind, "strength": self.strength.value}


class Decision(NamedTuple):
    """One answer. A NamedTuple for the same reason as Match: one is made for every screening."""

    channel: Channel
    decision: str  # "allow" | "hold" | "block"
    version: int
    matches: tuple[Match, ...] = ()
    reason: str | None = None  # mail held for a reason of its own: one of REASONS

    @property
    def top(self) -> Match | None:
        """The match a hit is filed under: strongest first, the named prisoner before a relay."""
        return self.matches[0] if self.matches else None

    @property
    def reference(self) -> str | None:
        top = self.top
        return None if top is None or self.decision == "allow" else top.reference

    @property
    def relay(self) -> bool | None:
        top = self.top
        return None if top is None or self.decision == "allow" else top.relay

    @property
    def acted(self) -> bool:
        return self.decision != "allow"


_RANK = {Strength.STRONG: 0, Strength.PARTIAL: 1, Strength.WEAK: 2}


def order_matches(matches: list[Match]) -> tuple[Match, ...]:
    if len(matches) == 1:  # nearly every block
        return (matches[0],)
    return tuple(sorted(matches, key=lambda m: (_RANK[m.strength], m.relay, m.reference, m.kind)))
