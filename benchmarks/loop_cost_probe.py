"""The most event-loop time one letter or message can cost a gateway (issue 17 item 5: ~2 ms):
hostile texts short enough to be screened on the loop, each screened as POST /v1/screen/mail and
/message do it (gateway.routes.screening: on the loop with a work budget, in the screening thread
when it runs out or the text is long), timed with time.perf_counter around the on-loop part,
against a large index. Not a pytest benchmark: a probe whose figures go in benchmarks/README.md.

Run: .venv/bin/python -m benchmarks.loop_cost_probe [PHONES] [ADDRESSES]   (default 1M and 200k)
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator

from config import load_profile
from gateway.routes.screening import ON_LOOP_CHARS, ON_LOOP_WORK
from matcher.budget import Budget
from matcher.entries import Entry
from matcher.errors import OverBudget
from matcher.index import Index
from tests.support.blocklists import SENDER, entries, envelopes, ocr_damaged
from tests.support.hostile import Make, prose, short_hostile

REPEATS = 7
TO = "friend@example.com"


def on_loop_ms(
    index: Index, channel: str, target: str, content: str | None, work: int = ON_LOOP_WORK
) -> tuple[float, float, str]:
    """The route's on-loop part: (wall ms by time.perf_counter, CPU ms of this thread by
    time.thread_time: the machine is shared, and a preempted probe's wall time is not its cost),
    and what became of the text. `work` huge: the rule before the budget (length only)."""
    started, cpu = time.perf_counter(), time.thread_time()
    what = "thread (length)"
    if len(target) + (len(content) if content else 0) <= ON_LOOP_CHARS:
        try:
            if channel == "mail":
                answer = index.screen_mail("HLI", "A1234BC", target, content, budget=Budget(work))
            else:
                answer = index.screen_message("HLI", "A1234BC", target, content, Budget(work))
            what = f"loop: {answer.decision}/{answer.reason}"
        except OverBudget:
            what = "thread (work)"
    return (time.perf_counter() - started) * 1000, (time.thread_time() - cpu) * 1000, what


def worst(
    index: Index, make: Make, channel: str, work: int, seeds: range
) -> tuple[float, float, dict[str, int]]:
    wall, cpu, where = 0.0, 0.0, {}
    for seed in seeds:
        rng = random.Random(seed)
        if channel == "mail":
            taken = on_loop_ms(index, channel, make(rng, ON_LOOP_CHARS), None, work)
        else:
            taken = on_loop_ms(index, channel, TO, make(rng, ON_LOOP_CHARS - len(TO)), work)
        wall, cpu = max(wall, taken[0]), max(cpu, taken[1])
        where[taken[2]] = where.get(taken[2], 0) + 1
    return wall, cpu, where


def main(phones: int = 1_000_000, addresses: int = 200_000) -> None:
    profile = load_profile(environ={})
    started = time.perf_counter()
    with_addresses = list(entries(addresses, phones=0, addresses=1, seed=5))

    def everything() -> Iterator[Entry]:
        yield from entries(phones, phones=1)
        for i, entry in enumerate(with_addresses):
            yield Entry(f"UPC-A{i:07d}", entry.prisoner, entry.scope, entry.protected)

    index = Index.build(everything(), profile)
    print(f"index: {index.counts()} built in {time.perf_counter() - started:.0f} s")
    print(f"on-loop rule: at most {ON_LOOP_CHARS} characters and {ON_LOOP_WORK} units of work")
    print("worst of 7 texts each, on-loop ms: wall (perf_counter) / CPU (thread_time)")
    blocked = [e.protected[0].addresses[0] for e in with_addresses[:5_000]]
    for name, make in {**short_hostile(blocked), "prose": prose}.items():
        for channel in ("mail", "message"):
            row = []
            # texts of their own for each row: no cache (phonenumbers', email-validator's) is shared
            for work in (10**12, ON_LOOP_WORK):
                first = len(row) * 100 + (channel == "mail") * 1000
                wall, cpu, where = worst(index, make, channel, work, range(first, first + REPEATS))
                row.append(f"{wall:7.2f} / {cpu:6.2f}  {where}")
            print(f"{name:22} {channel:7} before {row[0]}\n{'':30} after  {row[1]}")
    ordinary = envelopes(200, blocked[:1_000])
    for name, texts in (("ordinary envelopes", ordinary), ("OCR-damaged envelopes", ocr_damaged(ordinary))):
        walls, cpus, kinds = [], [], {}
        for text in texts:
            wall, cpu, what = on_loop_ms(index, "mail", text, None)
            walls.append(wall)
            cpus.append(cpu)
            kind = what.split(":")[0]
            kinds[kind] = kinds.get(kind, 0) + 1
        walls.sort()
        cpus.sort()
        print(
            f"{name:22} mail    median {walls[100]:.3f} / {cpus[100]:.3f} ms, "
            f"worst {walls[-1]:.3f} / {cpus[-1]:.3f} ms  {kinds}"
        )
    plain = f"Mr P Jones\n16 High Street\nHull HU1 2AB\n\n{SENDER}"
    print(f"{'one plain envelope':22} mail    {on_loop_ms(index, 'mail', plain, None)}")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
