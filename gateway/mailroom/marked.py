"""The mailroom page's screening of one read envelope: its decision and, for each OCR line, whether
the decision rests on it. The page runs this in the gateway's screening thread (gateway.app), never
on the event loop: marking the lines screens the letter several more times, and one screen of a
letter that exact evidence does not block takes 130-180 µs at 200k addresses (benchmarks/README.md).

A line is marked when, on its own, it matches one of the requests the whole letter matched, or when
without it the letter would go more easily. Shown to the
officer holding the envelope, who reads every line of it anyway; no protected detail comes from
the blocklist."""

from __future__ import annotations

from collections.abc import Sequence

from matcher.decisions import Decision
from matcher.index import Index

RANK = {"allow": 0, "hold": 1, "block": 2}


def letter_text(lines: Sequence[str], pages: Sequence[int], keep: Sequence[bool]) -> str:
    """The text of the kept lines as the reader joins them (gateway.mailroom.reading.Reading.text):
    a page's lines one per line, the pages with any line kept separated by a blank line."""
    by_page: dict[int, list[str]] = {}
    for line, page, kept in zip(lines, pages, keep, strict=True):
        if kept:
            by_page.setdefault(page, []).append(line)
    return "\n\n".join("\n".join(kept) for _, kept in sorted(by_page.items()))


def screen_upload(
    index: Index, establishment: str, prisoner: str | None, lines: Sequence[str], pages: Sequence[int]
) -> tuple[Decision, list[bool], int]:
    """The letter's decision, its lines' marks and how many screens they took. `pages`: each line's
    page (its side of the envelope)."""
    decision = index.screen_mail(establishment, prisoner, letter_text(lines, pages, [True] * len(lines)))
    marks, screens = marked_lines(index, establishment, prisoner, lines, pages, decision)
    return decision, marks, screens + 1


def marked_lines(
    index: Index,
    establishment: str,
    prisoner: str | None,
    lines: Sequence[str],
    pages: Sequence[int],
    whole: Decision,
) -> tuple[list[bool], int]:
    """Each line's mark (see the module) and the screens taken: none for a letter that matched
    nothing; otherwise the letter without each line that is not blank, then each line not marked
    by that on its own (two per line at most; the letter itself is not screened again).

    Fewer screens by removing lines in groups and halving the groups that matter was tried: a
    letter's lines are few (4-8), most of them matter, and removing lines does not only take
    evidence away (a letter without its readable lines is held as unreadable; a neighbour's house
    number stops a near street counting), so it took as many screens and missed marks."""
    marked = [False] * len(lines)
    if not whole.matches:
        return marked, 0
    references = {m.reference for m in whole.matches}
    rank = RANK[whole.decision]
    screens = 0
    everything = range(len(lines))
    for at, line in enumerate(lines):
        if not line.strip():
            continue
        without = index.screen_mail(
            establishment, prisoner, letter_text(lines, pages, [o != at for o in everything])
        )
        screens += 1
        if RANK[without.decision] < rank:
            marked[at] = True
            continue
        alone = index.screen_mail(
            establishment, prisoner, letter_text(lines, pages, [o == at for o in everything])
        )
        screens += 1
        marked[at] = any(m.reference in references for m in alone.matches)
    return marked, screens
