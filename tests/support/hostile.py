"""Hostile texts for screening: padding that gives the matcher the most work per character it
can (the caps' tests, the loop-time tests and benchmarks/loop_cost_probe.py)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from matcher.entries import PostalAddress
from tests.support.blocklists import address, postcode

Make = Callable[[random.Random, int], str]


def digit_groups(size: int, seed: int = 17) -> str:
    """`size` characters of space-separated random 3-digit groups: every window of them is a
    candidate number, and nearly all go to phonenumbers (the padding of the audit of issue 17)."""
    rng = random.Random(seed)
    return " ".join(f"{rng.randrange(1000):03d}" for _ in range(size // 4 + 1))[:size].strip()


def distinct_numbers(count: int) -> str:
    """`count` different mobile numbers the fast path reads, one candidate each."""
    return ", ".join(f"07{n:09d}" for n in range(count))


def _fill(rng: random.Random, size: int, piece: Callable[[random.Random], str]) -> str:
    out: list[str] = []
    length = 0
    while length < size:
        part = piece(rng)
        out.append(part)
        length += len(part) + 1
    return " ".join(out)[:size]


def short_hostile(blocked: Sequence[PostalAddress]) -> dict[str, Make]:
    """Texts short enough to be screened on a gateway's event loop by length alone, made of what
    the matcher must look at one by one, by name: ``make(rng, size)`` is a fresh one of `size`
    characters. `blocked`: addresses in the index (their lines and their postcodes, OCR-read)."""

    def blocked_lines(rng: random.Random) -> str:
        target = rng.choice(blocked)
        return " ".join((*target.lines, target.postcode or ""))

    def ocr_postcode(rng: random.Random) -> str:
        return (rng.choice(blocked).postcode or "").replace("1", "I").replace("0", "O").replace("5", "S")

    def odd_digits(rng: random.Random) -> str:
        return f"({rng.randrange(100)})-{rng.randrange(1000)}.{rng.randrange(10)}"

    return {
        "3-digit groups": lambda rng, n: _fill(rng, n, lambda r: f"{r.randrange(1000):03d}"),
        "digit groups 1-4": lambda rng, n: _fill(rng, n, lambda r: str(r.randrange(10 ** r.randint(1, 4)))),
        "digits with - . ( )": lambda rng, n: _fill(rng, n, odd_digits),
        "issue 17 alphabet": lambda rng, n: "".join(rng.choice("HU12AB 0789@.-+") for _ in range(n)),
        "emails": lambda rng, n: _fill(rng, n, lambda r: f"a{r.randrange(10**6)}@b{r.randrange(99)}.co"),
        "postcodes": lambda rng, n: _fill(rng, n, postcode),
        "blocked addresses": lambda rng, n: _fill(rng, n, blocked_lines),
        "OCR postcodes": lambda rng, n: _fill(rng, n, ocr_postcode),
        "N street, no postcode": lambda rng, n: _fill(rng, n, lambda r: f"{r.randint(1, 400)} High Street"),
        "house names": lambda rng, n: _fill(rng, n, lambda r: address(r).lines[0]),
    }


def prose(rng: random.Random, size: int) -> str:
    """`size` characters of words with nothing to look at: the loop's fixed cost per character."""
    words = [
        "Dear", "Jane", "I", "hope", "you", "are", "well", "and", "the", "weather", "is", "kind", "now",
    ]  # fmt: skip
    return _fill(rng, size, lambda r: r.choice(words))
