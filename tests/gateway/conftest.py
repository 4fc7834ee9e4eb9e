"""Gateway fixtures (the in-process app and tokens are in tests/conftest.py): Debian's promtool."""

from __future__ import annotations

import pytest

from tests.support.tools import require_command


@pytest.fixture(scope="session")
def promtool() -> str:
    return require_command("promtool", "prometheus")
