"""Phrase backends on THE SAME realistic UK address phrases ("14A HIGH ST", "ROSE COTTAGE"):
pyahocorasick (AutomatonPhrases), ahocorasick-rs (benchmark only: it cannot be pickled) and
GramPhrases, at 100k and 1M addresses; plus AddressIndex.scan end to end at 1M.

Run: ./dev bench benchmarks/bench_phrases.py
     (add -s to see the build table: build time, longest uninterruptible call, memory)

Per backend and size it reports, in the benchmark table and in `extra_info`:
- build: the whole build, one round (phrases added in chunks of CHUNK);
- stall_ms: the longest single call that cannot yield to an event loop during that build
  (pyahocorasick: make_automaton(); ahocorasick-rs: the constructor; gram: one chunk of
  CHUNK phrases, so it scales down with the chunk);
- peak_mb / retained_mb: RSS growth of a fresh process building the same phrases from fresh
  string copies (polled from outside, so C and Rust allocations count; gram keeps its
  phrase strings, the automata copy them into their own nodes); traced_mb: the Python heap
  the finished structure holds (tracemalloc; pyahocorasick allocates there, Rust does not);
- scan: one 300-byte envelope (normalised once, outside the timing), cycling over 200 envelopes.
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import psutil
import pytest

from benchmarks.figures import record
from benchmarks.phrase_corpus import FIRST_NAMES, SURNAMES, make_addresses, make_envelopes, make_phrases
from matcher.addresses import AddressIndex, ParsedAddress, normalise_text
from matcher.names import parse_name
from matcher.phrases import AutomatonBuilder, GramPhrases, NormalisedText
from sync.offloop.collector import gc_paused

pytestmark = pytest.mark.timeout(900)  # 1M-address builds, several times over

SIZES = (100_000, 1_000_000)
BACKENDS = ("pyahocorasick", "ahocorasick_rs", "gram")
CHUNK = 2_000


class _RustPhrases:
    """ahocorasick-rs over the padded text (the same whole-word trick as AutomatonPhrases)."""

    def __init__(self, pairs: list[tuple[str, int]]) -> None:
        import ahocorasick_rs

        ids: dict[str, list[int]] = {}
        for phrase, ident in pairs:
            ids.setdefault(f" {phrase} ", []).append(ident)
        self._patterns = list(ids)
        self._ids = [tuple(v) for v in ids.values()]
        started = time.thread_time()
        self._automaton = ahocorasick_rs.AhoCorasick(
            self._patterns, matchkind=ahocorasick_rs.MatchKind.Standard
        )
        self.stall = time.thread_time() - started

    def find(self, text: NormalisedText) -> set[int]:
        found: set[int] = set()
        for index, _start, _end in self._automaton.find_matches_as_indexes(text.text, overlapping=True):
            found.update(self._ids[index])
        return found


def build(backend: str, pairs: Iterable[tuple[str, int]]) -> tuple[Any, float]:
    """The structure and its longest uninterruptible call (CPU seconds of this thread, so that
    other processes on a shared machine do not count). Phrases go in by CHUNK with the cyclic
    GC paused per chunk (sync.offloop.collector.gc_paused, as the follower's builds run)."""
    if backend == "ahocorasick_rs":
        rust = _RustPhrases(list(pairs))
        return rust, rust.stall
    builder: AutomatonBuilder | GramPhrases
    builder = AutomatonBuilder() if backend == "pyahocorasick" else GramPhrases()
    stall = 0.0
    stream = iter(pairs)
    while chunk := list(itertools.islice(stream, CHUNK)):
        began = time.thread_time()
        with gc_paused():
            for phrase, ident in chunk:
                builder.add(phrase, ident)
        stall = max(stall, time.thread_time() - began)
    began = time.thread_time()
    structure = builder.finish()
    return structure, max(stall, time.thread_time() - began)


def _child_build(backend: str, size: int, ready: Any, go: Any, done: Any, traced: Any) -> None:
    pairs = make_phrases(make_addresses(size))
    ready.set()
    go.wait()
    # fresh copies of the phrase strings: what a structure keeps of them is counted
    structure, _ = build(backend, ((phrase.encode().decode(), ident) for phrase, ident in pairs))
    done.set()
    time.sleep(0.3)
    del structure
    gc.collect()
    # again, traced: the Python heap it holds (pyahocorasick allocates there too; Rust does not)
    tracemalloc.start()
    kept, _ = build(backend, ((phrase.encode().decode(), ident) for phrase, ident in pairs))
    traced.value = tracemalloc.get_traced_memory()[0] / 1e6
    tracemalloc.stop()
    del kept


def measure_memory(backend: str, size: int) -> tuple[float, float, float]:
    """(peak RSS, retained RSS, traced Python heap) growth in MB of a fresh process building
    the phrases. RSS undercounts Python structures that reuse memory the corpus generation
    freed; the traced figure does not (but misses Rust allocations)."""
    ctx = multiprocessing.get_context("spawn")
    ready, go, done = ctx.Event(), ctx.Event(), ctx.Event()
    traced = ctx.Value("d", 0.0)
    child = ctx.Process(target=_child_build, args=(backend, size, ready, go, done, traced))
    child.start()
    ready.wait(300)
    proc = psutil.Process(child.pid)
    time.sleep(0.2)
    base = proc.memory_info().rss
    go.set()
    peak = base
    while not done.is_set():
        peak = max(peak, proc.memory_info().rss)
        time.sleep(0.002)
    retained = proc.memory_info().rss
    child.join(600)
    return (max(peak, retained) - base) / 1e6, (retained - base) / 1e6, float(traced.value)


@pytest.fixture(scope="module")
def corpus() -> Iterator[dict[int, tuple[list[ParsedAddress], list[tuple[str, int]], list[NormalisedText]]]]:
    data = {}
    for size in SIZES:
        addresses = make_addresses(size)
        envelopes = [normalise_text(e) for e in make_envelopes(addresses)]
        data[size] = (addresses, make_phrases(addresses), envelopes)
    yield data


@pytest.fixture(
    scope="module", params=[(s, b) for s in SIZES for b in BACKENDS], ids=lambda p: f"{p[1]}-{p[0]}"
)
def case(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    size, backend = request.param
    yield {"size": size, "backend": backend}


def test_build(benchmark: Any, corpus: Any, case: dict[str, Any]) -> None:
    _, pairs, _ = corpus[case["size"]]
    result: dict[str, Any] = {}

    def run() -> None:
        result["structure"], result["stall"] = build(case["backend"], pairs)

    benchmark.pedantic(run, rounds=1, iterations=1)
    case["structure"] = result["structure"]
    peak, retained, traced = measure_memory(case["backend"], case["size"])
    benchmark.extra_info.update(
        phrases=len(pairs),
        stall_ms=round(result["stall"] * 1000, 1),
        peak_mb=round(peak),
        retained_mb=round(retained),
        traced_mb=round(traced),
    )
    print(
        f"\n{case['backend']:>15} {case['size']:>8}: build {benchmark.stats.stats.max:.2f} s, "
        f"longest call {result['stall'] * 1000:.1f} ms, "
        f"RSS peak +{peak:.0f} MB, retained +{retained:.0f} MB, traced {traced:.0f} MB"
    )


def test_scan(benchmark: Any, corpus: Any, case: dict[str, Any]) -> None:
    _, pairs, envelopes = corpus[case["size"]]
    structure = case.get("structure") or build(case["backend"], pairs)[0]
    find: Callable[[NormalisedText], set[int]] = structure.find
    cycle = itertools.cycle(envelopes)
    hits = sum(bool(find(e)) for e in envelopes)
    benchmark(lambda: find(next(cycle)))
    benchmark.extra_info["envelopes_with_hits"] = f"{hits}/{len(envelopes)}"
    size = f"{case['size'] // 1_000_000}M" if case["size"] >= 1_000_000 else f"{case['size'] // 1000}k"
    record(f"scan_{case['backend']}_{size}", benchmark.stats.stats.median * 1e9)  # figures.RATIOS
    case.pop("structure", None)


@pytest.fixture(scope="module")
def big_index(corpus: Any) -> Iterator[dict[str, AddressIndex]]:
    addresses = corpus[SIZES[-1]][0]
    names = [parse_name(f"{FIRST_NAMES[i % 10]} {SURNAMES[i % 9]}") for i in range(100)]
    items = [(i, a, names[i % 100]) for i, a in enumerate(addresses)]
    with gc_paused():
        built = {b: AddressIndex.build(items, backend=b) for b in ("gram", "automaton")}
    yield built


@pytest.mark.parametrize("backend", ["gram", "automaton"])
def test_address_scan_end_to_end(
    benchmark: Any, corpus: Any, big_index: dict[str, AddressIndex], backend: str
) -> None:
    """normalise_text + postcodes + phrases + per-address checks, 1M addresses, return address ignored."""
    addresses = corpus[SIZES[-1]][0]
    raw = make_envelopes(addresses)
    index = big_index[backend]
    prison = ParsedAddress("HU9 5LS", None, "HMP HULL", None, "HEDON ROAD", "HULL")
    cycle = itertools.cycle(raw)
    blocked = sum(bool(index.scan(normalise_text(e), prison)) for e in raw)
    benchmark(lambda: index.scan(normalise_text(next(cycle)), prison))
    benchmark.extra_info["envelopes_with_evidence"] = f"{blocked}/{len(raw)}"


@pytest.mark.parametrize("backend", ["gram", "automaton"])
def test_with_changes_one_address(benchmark: Any, big_index: dict[str, AddressIndex], backend: str) -> None:
    """One address added and one removed on the 1M index (the live-update path)."""
    index = big_index[backend]
    added = ParsedAddress("HU3 1AA", "9", None, None, "ELM GROVE", "HULL")
    ident = itertools.count(10_000_000)
    benchmark(lambda: index.with_changes([(next(ident), added, None)], [17]))


def test_normalise_baseline(benchmark: Any, corpus: Any) -> None:
    """Baseline in the same run: normalise_text alone (upper, words, postcodes, expansion)."""
    raw = itertools.cycle(make_envelopes(corpus[SIZES[0]][0]))
    benchmark(lambda: normalise_text(next(raw)))
