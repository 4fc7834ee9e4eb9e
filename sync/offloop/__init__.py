"""Keeping the event loop answering while a gateway builds, reads and frees indexes of millions of
entries in the same process.

- ``workers``: CPU work goes to a pool of low-priority threads (``run_in_worker``), handed over as a
  ``Handoff`` that lets go of its inputs before the result comes back;
- ``giveway``: a worker that lets the GIL go and takes it straight back gives way to the loop;
- ``collector``: the cyclic collector paused (counted, across threads) while a worker allocates;
- ``retire``: big containers emptied in slices (``release``, in a worker) or in steps on the loop
  (``Retirer``, for a replaced index);
- ``malloc``: glibc's mmap threshold fixed for a serving process;
- ``looplag``: how late the loop wakes (tests and benchmarks).
"""
