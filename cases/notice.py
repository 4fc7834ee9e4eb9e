"""The notice given to the prisoner: that a no-contact request is in place and the name of the
person (or people) — nothing else: no addresses, numbers, requester, pathway or rationale."""

from __future__ import annotations

from collections.abc import Sequence

from cases.workflow import Case

TEMPLATE = (
    "NO-CONTACT REQUEST\n"
    "\n"
    "A no-contact request is in place. You must not contact, or try to contact, {names} "
    "by any means, including by asking or allowing anyone else to make contact for you.\n"
)


def notice_text(names: Sequence[str]) -> str:
    if not names:
        raise ValueError("a notice needs the protected person's name")
    joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return TEMPLATE.format(names=joined)


def prisoner_notice(case: Case) -> str:
    return notice_text(case.request.names())
