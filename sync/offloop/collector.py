"""The cyclic garbage collector paused while worker threads allocate millions of objects."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator


class _GcPauses:
    """How many gc_paused blocks are open (they overlap: a cut read or a build beside a snapshot
    write, in different threads) and whether the collector was on before the first."""

    lock = threading.Lock()
    open = 0
    was_enabled = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """A big build, cut read or snapshot write allocates millions of objects; the generational
    collector would run collections over them, each holding the GIL, while it does. The index
    holds no cycles. The collector comes back as it was when the last open block ends."""
    with _GcPauses.lock:
        if _GcPauses.open == 0:
            _GcPauses.was_enabled = gc.isenabled()
            gc.disable()
        _GcPauses.open += 1
    try:
        yield
    finally:
        with _GcPauses.lock:
            _GcPauses.open -= 1
            if _GcPauses.open == 0 and _GcPauses.was_enabled:
                gc.enable()
