"""Hostile texts for screening: padding that gives the matcher the most work per character it
can (the caps' tests, the loop-time tests and benchmarks/loop_cost_probe.py)."""

from __future__ import annotations

import random


def digit_groups(size: int, seed: int = 17) -> str:
    """`size` characters of space-separated random 3-digit groups: every window of them is a
    candidate number, and nearly all go to phonenumbers (the padding of the audit of issue 17)."""
    rng = random.Random(seed)
    return " ".join(f"{rng.randrange(1000):03d}" for _ in range(size // 4 + 1))[:size].strip()


def distinct_numbers(count: int) -> str:
    """`count` different mobile numbers the fast path reads, one candidate each."""
    return ", ".join(f"07{n:09d}" for n in range(count))
