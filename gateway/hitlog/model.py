"""A hit: one non-allow screening decision as the hit log keeps it (the spool's JSON row and the
Redis stream's fields), and the words its readers share: channels, match kinds, review outcomes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from cases.hitrecords import stream_record
from gateway.ulid import new_ulid
from matcher.decisions import Decision

CHANNELS = ("call", "mail", "message")
MATCHES = ("primary", "relay")  # the prisoner named in the request, or another one
OUTCOMES = {  # a review's outcome -> how people read it
    "confirmed": "Confirmed attempt",
    "false_positive": "False positive",
    "escalated": "Escalated",
    "no_action": "No action needed",
}

# The fields of a hit, in the order they are written to the Redis stream.
HIT_FIELDS = (
    "id",
    "time",
    "establishment",
    "prisoner",
    "channel",
    "decision",
    "reference",
    "kind",
    "relay",
    "gateway",
    "version",
    "matches",
)


@dataclass(frozen=True, slots=True)
class Hit:
    id: str
    time: int  # ms since the epoch (gateway wall clock; the ULID carries the same instant)
    establishment: str
    prisoner: str
    channel: str
    decision: str
    reference: str
    kind: str
    relay: bool
    gateway: str
    version: int
    matches: tuple[tuple[str, str, str, bool], ...]  # (reference, kind, strength, relay)
    # What was tried (gateway.hitlog.evidence): the protected person's details. Never in the
    # stream, the API's list, a log line or a screening answer; see ``to_record``.
    evidence: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def strength(self) -> str:
        """The top match's strength (the one the hit is filed under)."""
        return self.matches[0][2] if self.matches else ""

    @classmethod
    def from_decision(
        cls,
        decision: Decision,
        establishment: str,
        prisoner: str,
        gateway: str,
        evidence: dict[str, Any] | None = None,
    ) -> Hit:
        top = decision.top
        assert top is not None and decision.acted
        now = time.time_ns() // 1_000_000
        return cls(
            new_ulid(now),
            now,
            establishment,
            prisoner,
            decision.channel.value,
            decision.decision,
            top.reference,
            top.kind,
            top.relay,
            gateway,
            decision.version,
            tuple((m.reference, m.kind, m.strength.value, m.relay) for m in decision.matches),
            evidence,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time,
            "establishment": self.establishment,
            "prisoner": self.prisoner,
            "channel": self.channel,
            "decision": self.decision,
            "reference": self.reference,
            "kind": self.kind,
            "relay": self.relay,
            "gateway": self.gateway,
            "version": self.version,
            "matches": [
                {"reference": r, "kind": k, "strength": s, "relay": rel} for r, k, s, rel in self.matches
            ],
        }

    def to_record(self) -> dict[str, Any]:
        """``to_dict`` with the evidence: the spool's row (kept on the gateway's own disk)."""
        return {**self.to_dict(), "evidence": self.evidence}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hit:
        return cls(
            str(data["id"]),
            int(data["time"]),
            str(data["establishment"]),
            str(data["prisoner"]),
            str(data["channel"]),
            str(data["decision"]),
            str(data["reference"]),
            str(data["kind"]),
            bool(data["relay"]),
            str(data["gateway"]),
            int(data["version"]),
            tuple((m["reference"], m["kind"], m["strength"], bool(m["relay"])) for m in data["matches"]),
            data.get("evidence"),
        )

    def stream_fields(self) -> list[str]:
        """Flat field/value strings for XADD."""
        d = self.to_dict()
        out: list[str] = []
        for name in HIT_FIELDS:
            value = d[name]
            if name == "relay":
                text = "1" if value else "0"
            elif name == "matches":
                text = orjson.dumps(value).decode()
            else:
                text = str(value)
            out += [name, text]
        return out

    @classmethod
    def from_stream(cls, fields: dict[str, str]) -> Hit:
        return cls.from_dict(stream_record(fields))
