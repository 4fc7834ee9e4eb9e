"""What a gateway pays before it listens (issue 17: restart with Redis down within the 3 s cold
start). Properties, not timings: work that is not needed to answer is not done at start."""

from __future__ import annotations

import json
import subprocess
import sys

from argon2 import PasswordHasher


def _in_fresh_interpreter(code: str) -> object:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def test_importing_the_gateway_computes_no_password_hash() -> None:
    """The dummy hash an unknown user name is verified against is a constant, not a fresh argon2id
    hash at import (0.19-0.23 s of CPU on every start, 64 MiB of memory)."""
    code = (
        "import json, argon2\n"
        "calls = []\n"
        "real = argon2.PasswordHasher.hash\n"
        "argon2.PasswordHasher.hash = lambda self, *a, **k: calls.append(1) or real(self, *a, **k)\n"
        "from gateway.app import create_app\n"
        "from gateway.cli import build_parser\n"
        "import gateway.serve, gateway.ui.users\n"
        "build_parser()\n"
        "print(json.dumps(len(calls)))\n"
    )
    assert _in_fresh_interpreter(code) == 0


def test_the_dummy_hash_costs_what_a_real_one_does() -> None:
    """A wrong user name costs as long as a wrong password: the constant has the hasher's own
    parameters (memory, time, parallelism), so verifying against it does the same work."""
    from gateway.ui import users

    assert not users._hasher.check_needs_rehash(users._DUMMY_HASH)
    assert not PasswordHasher().check_needs_rehash(users._DUMMY_HASH)
    assert users._DUMMY_HASH.startswith("$argon2id$")
