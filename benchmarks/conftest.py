"""Benchmarks report each figure beside a baseline measured in the same run: the summary prints
the figures and the ratios of benchmarks/figures.py. Run with ./dev bench."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from benchmarks.figures import NOTES, RATIOS, RESULTS, TABLES
from tests.support.redis_server import RedisServer


def pytest_terminal_summary(terminalreporter: Any) -> None:
    write = terminalreporter.write_line
    if TABLES:
        terminalreporter.section("nocontact tables (figures that are not times)")
    for table in TABLES:
        for line in table.splitlines():
            write(line)
    if not RESULTS:
        return
    terminalreporter.section("nocontact figures (median per operation)")
    for name, value in sorted(RESULTS.items()):
        unit = f"{value / 1000:10.2f} us" if value >= 1000 else f"{value:10.1f} ns"
        write(f"  {name:<40} {unit}  {NOTES.get(name, '')}")
    for label, top, bottom in RATIOS:
        if top in RESULTS and bottom in RESULTS and RESULTS[bottom]:
            write(f"  ratio {label:<50} {RESULTS[top] / RESULTS[bottom]:8.2f}x")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = RedisServer(tmp_path_factory.mktemp("bench-redis"), persistence=False).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of the module's own (persistence off): the sync benchmarks fill it with
    millions of keys and flush it."""
    server = RedisServer(tmp_path_factory.mktemp("bench-redis"), persistence=False).start()
    yield server
    server.stop()
