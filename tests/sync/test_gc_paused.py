"""gc_paused blocks overlap (a cut read or a build beside a snapshot write): the collector stays off
until the last one ends, then comes back as it was before the first."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from sync.offloop.collector import gc_paused


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
