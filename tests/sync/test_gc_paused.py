"""gc_paused blocks overlap (a cut read or a build beside a snapshot write): the collector stays off
until the last one ends, then comes back as it was before the first. It is the only switch: the
matcher never turns the collector on or off itself."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator

import pytest

import matcher.addresses
from matcher.addresses import ParsedAddress
from matcher.index import Index
from matcher.profile import Profile
from sync.building import IndexBuilder
from sync.changes import encode_entry
from sync.offloop.collector import gc_paused
from tests.support.sync_data import address_entry


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_overlapping_pauses_keep_the_collector_off_until_the_last_ends(collector_on: None) -> None:
    first, second = gc_paused(), gc_paused()
    first.__enter__()
    second.__enter__()
    assert not gc.isenabled()
    first.__exit__(None, None, None)  # ends before the one opened after it
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_a_pause_that_raises_still_restores_the_collector(collector_on: None) -> None:
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("build failed")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off(collector_on: None) -> None:
    gc.disable()
    with gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def _watch_address_builds(monkeypatch: pytest.MonkeyPatch, each: Callable[[int], None]) -> list[bool]:
    """Calls `each(n)` as the build takes its n-th address, and lists whether the collector was on."""
    seen: list[bool] = []
    real = matcher.addresses.address_phrases

    def watched(address: ParsedAddress) -> list[str]:
        each(len(seen))
        seen.append(gc.isenabled())
        return real(address)

    monkeypatch.setattr(matcher.addresses, "address_phrases", watched)
    return seen


def test_a_build_beside_an_open_pause_does_not_turn_the_collector_back_on(
    collector_on: None, monkeypatch: pytest.MonkeyPatch, profile: Profile
) -> None:
    """The matcher leaves the collector alone: a pause opened while a build runs (a snapshot write
    in another thread) holds until it closes, and the build does not switch gc on under it."""
    with contextlib.ExitStack() as other:
        seen = _watch_address_builds(
            monkeypatch, lambda n: other.enter_context(gc_paused()) if n == 0 else None
        )
        Index.build([address_entry(i) for i in range(3)], profile)
        assert len(seen) == 3
        assert not gc.isenabled()  # the other block is still open
    assert gc.isenabled()


@pytest.mark.parametrize("was_on", [True, False])
async def test_a_build_under_gc_paused_keeps_the_collector_off_and_restores_it(
    collector_on: None, monkeypatch: pytest.MonkeyPatch, profile: Profile, was_on: bool
) -> None:
    """The sync builder pauses the collector around every build it runs off the loop; a pause that
    opens and closes beside it (a snapshot write) does not turn the collector on mid-build."""
    if not was_on:
        gc.disable()
    other = contextlib.ExitStack()

    def beside(n: int) -> None:
        if n == 1:
            other.enter_context(gc_paused())
        elif n == 3:
            other.close()

    seen = _watch_address_builds(monkeypatch, beside)
    with other:
        cut = {e.reference: encode_entry(e) for e in map(address_entry, range(5))}
        built = await IndexBuilder(profile).from_cut(cut, 1, None)
    assert built.entries == 5 and len(seen) == 5
    assert seen == [False] * 5
    assert gc.isenabled() is was_on
