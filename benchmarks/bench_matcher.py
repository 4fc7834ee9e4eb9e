"""Matcher figures: build time and memory per identifier, screen_call with 1M blocked numbers on
fresh strings, screen_mail with 1M blocked addresses, beside phonenumbers.parse and a Redis
round trip per check measured in the same run."""

from __future__ import annotations

import gc
import time
from typing import Any

import phonenumbers
import pytest
import redis

from benchmarks.figures import NOTES, per_op, record, rss_bytes
from config import load_profile
from matcher.index import Index
from sync.offloop.collector import gc_paused
from tests.support.blocklists import dial_strings, entries, envelopes, ocr_damaged

PROFILE = load_profile(environ={})
BATCH = 2000


@pytest.fixture(scope="module")
def call_index() -> tuple[Index, list[str]]:
    blocked = list(entries(1_000_000, phones=1))
    with gc_paused():
        index = Index.build(blocked, PROFILE)
    sample = [e.protected[0].phones[0] for e in blocked[::1000]]
    return index, sample


@pytest.mark.parametrize("size", [10_000, 100_000, 1_000_000])
@pytest.mark.parametrize("mix", ["phones+emails", "addresses"])
def test_build(benchmark: Any, size: int, mix: str) -> None:
    kinds = {"phones": 2, "emails": 1} if mix == "phones+emails" else {"addresses": 1}
    per_entry = sum(kinds.values())
    data = list(entries(size // per_entry, **kinds))
    identifiers = len(data) * per_entry
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    with gc_paused():  # as the follower's builds run
        index = Index.build(data, PROFILE)
    seconds = time.perf_counter() - started
    gc.collect()
    used = rss_bytes() - before
    benchmark.extra_info.update(identifiers=identifiers, bytes_per_identifier=round(used / identifiers))
    record(
        f"build_{mix}_{size}",
        seconds / identifiers * 1e9,
        f"{used / identifiers:.0f} B/identifier RSS, {seconds:.2f} s total",
    )
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    del index


def test_phonenumbers_parse(benchmark: Any) -> None:
    strings = dial_strings(BATCH, ["07700900123"], seed=11)
    stripped = [s[2:] if s.startswith("9 ") else s for s in strings]

    def run() -> None:
        for s in stripped:
            phonenumbers.parse(s, "GB")

    per_op(benchmark, run, len(stripped), "phonenumbers_parse")


def test_screen_call_1m(benchmark: Any, call_index: tuple[Index, list[str]]) -> None:
    index, sample = call_index
    rounds = 30
    batches = [
        dial_strings(BATCH, sample, seed=100 + r) for r in range(rounds + 1)
    ]  # fresh strings every round
    feed = iter(batches)
    screen = index.screen_call

    def run() -> None:
        for s in next(feed):
            screen("HLI", "A0001BC", s)

    per_op(benchmark, run, BATCH, "screen_call_1M", rounds=rounds)
    blocked = sum(index.screen_call("HLI", "A0001BC", s).decision == "block" for s in batches[0])
    assert blocked >= BATCH // 10  # the benchmark really hits the list


def test_redis_sismember(benchmark: Any, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.sadd("bench:phones", *[f"+4477{n:08d}" for n in range(10_000)])
    keys = [f"+4477{n:08d}" for n in range(0, 20_000, 10)][:BATCH]

    def run() -> None:
        for key in keys:
            client.sismember("bench:phones", key)

    per_op(benchmark, run, len(keys), "redis_sismember", rounds=5)
    client.delete("bench:phones")


@pytest.fixture(scope="module")
def mail_index() -> tuple[Index, list[str]]:
    blocked = list(entries(1_000_000, phones=0, addresses=1, seed=5))
    with gc_paused():
        index = Index.build(blocked, PROFILE)
    texts = envelopes(20_000, [e.protected[0].addresses[0] for e in blocked[::997]])
    return index, texts


def _time_mail(benchmark: Any, index: Index, texts: list[str], name: str, what: str) -> list[str]:
    """screen_mail over `texts` in rounds of 1000 fresh letters; the first 1000's decisions."""
    size = 1000
    rounds = len(texts) // size - 1
    feed = iter(texts[i : i + size] for i in range(0, len(texts), size))
    screen = index.screen_mail

    def run() -> None:
        for text in next(feed):
            screen("HLI", "A0001BC", text)

    per_op(benchmark, run, size, name, rounds=rounds)
    decisions = [index.screen_mail("HLI", "A0001BC", t).decision for t in texts[:size]]
    NOTES[name] = f"block {decisions.count('block')} hold {decisions.count('hold')} of {size} {what}"
    return decisions


def test_screen_mail_1m(benchmark: Any, mail_index: tuple[Index, list[str]]) -> None:
    index, texts = mail_index
    decisions = _time_mail(benchmark, index, texts, "screen_mail_1M", "envelopes")
    assert decisions.count("block") >= 80


def test_screen_mail_1m_ocr(benchmark: Any, mail_index: tuple[Index, list[str]]) -> None:
    """The same envelopes as OCR reads handwriting: what the near evidence (matcher.near) costs
    a letter the exact evidence does not block, beside test_screen_mail_1m's figure."""
    index, texts = mail_index
    _time_mail(benchmark, index, ocr_damaged(texts), "screen_mail_1M_ocr", "OCR-damaged envelopes")
