"""What a hit's attempt tried, kept with the hit as evidence for the police and the CPS: the dialled
string and the number it reads as, the email or number a message went to, the envelope's text and
the lines of it that matched. It holds the protected person's details, so it is shown to security
and admin only, never logged, counted or put in a screening answer; every other reader sees
``which`` (the kind and e.g. "phone 2 of 3": which of the request's identifiers was tried).

Kept in the spool row (durable before the answer) and, once shipped, in the ``hit_evidence`` hash
beside the stream, pruned after ``gateway.evidence_retention_days``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from matcher import emails as email_norm
from matcher.decisions import Decision
from matcher.entries import Entry
from matcher.errors import ValidationError
from matcher.index import Index

MAX_TEXT = 4_000  # an envelope as read is kept whole up to this (the matcher reads no more)
_POSTCODE_SPACE = re.compile(r"\s+")


def _identifiers(entry: Entry, kind: str) -> list[str]:
    out: list[str] = []
    for person in entry.protected:
        if kind == "phone":
            out += person.phones
        elif kind == "email":
            out += person.emails
        else:
            out += [a.postcode for a in person.addresses]
    return out


def _which(kind: str, position: int | None, count: int) -> dict[str, Any]:
    return {"kind": kind, "position": position, "of": count}


def describe_which(which: dict[str, Any] | None) -> str:
    """ "phone 2 of 3", or "address" when which one is not known."""
    if not which:
        return ""
    kind = str(which.get("kind", ""))
    if which.get("position") and which.get("of"):
        return f"{kind} {which['position']} of {which['of']}"
    return kind


def _phone_position(index: Index, establishment: str, entry: Entry, key: str | None) -> dict[str, Any]:
    phones = _identifiers(entry, "phone")
    position = None
    if key is not None:
        for i, raw in enumerate(phones, 1):
            if index.phone_key(establishment, raw) == key:
                position = i
                break
    return _which("phone", position, len(phones))


def _email_position(entry: Entry, keys: Sequence[str]) -> dict[str, Any]:
    emails = _identifiers(entry, "email")
    position = None
    for i, raw in enumerate(emails, 1):
        try:
            if set(email_norm.email_keys(raw).all()) & set(keys):
                position = i
                break
        except ValidationError:
            continue
    return _which("email", position, len(emails))


def _compact(text: str) -> str:
    return _POSTCODE_SPACE.sub("", text).upper()


def _address_lines(entry: Entry, envelope: str) -> tuple[dict[str, Any], list[str]]:
    """Which of the entry's addresses the envelope names (by its postcode) and the envelope's
    lines that hold that postcode or the address's own lines."""
    postcodes = _identifiers(entry, "address")
    letter = _compact(envelope)
    position = None
    for i, postcode in enumerate(postcodes, 1):
        if postcode and _compact(postcode) in letter:
            position = i
            break
    wanted: set[str] = set()
    if position is not None:
        addresses = [a for p in entry.protected for a in p.addresses]
        address = addresses[position - 1]
        wanted = {_compact(address.postcode), *(_compact(line) for line in address.lines)}
    lines = [line.strip() for line in envelope.splitlines() if line.strip()]
    matched = [line for line in lines if any(w and w in _compact(line) for w in wanted)]
    return _which("address", position, len(postcodes)), matched


def evidence_for(
    index: Index,
    decision: Decision,
    establishment: str,
    attempt: str,
    content: str | None = None,
) -> dict[str, Any]:
    """What the attempt tried, as a hit keeps it. `attempt` is the dialled string (call), the
    recipient (message) or the envelope text (mail); `content` a letter's or message's text."""
    top = decision.top
    assert top is not None
    entry = index.entry(top.reference)
    channel = decision.channel.value
    out: dict[str, Any] = {"channel": channel}
    if channel == "call" or (channel == "message" and "@" not in attempt):
        key = index.phone_key(establishment, attempt)
        out.update(dialled=attempt[:MAX_TEXT], normalised=key)
        if channel == "message":
            out = {"channel": channel, "to": attempt[:MAX_TEXT], "normalised": key}
        if entry is not None and top.kind == "phone":
            out["which"] = _phone_position(index, establishment, entry, key)
    elif channel == "message":
        try:
            keys = email_norm.email_keys(attempt, "to")
            out.update(to=attempt[:MAX_TEXT], normalised=keys.canonical)
            found: tuple[str, ...] = keys.all()
        except ValidationError:
            out.update(to=attempt[:MAX_TEXT], normalised=None)
            found = ()
        if entry is not None and top.kind == "email":
            out["which"] = _email_position(entry, found)
    else:
        out["envelope"] = attempt[:MAX_TEXT]
        if entry is not None and top.kind == "address":
            which, lines = _address_lines(entry, attempt)
            out["which"] = which
            out["address_as_read"] = lines
    if "which" not in out:
        out["which"] = _which(top.kind, None, len(_identifiers(entry, top.kind)) if entry else 0)
    if content is not None:
        out["content_excerpt"] = content[:MAX_TEXT]
    return out
