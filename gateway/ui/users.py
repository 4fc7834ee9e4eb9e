"""Web UI accounts: one Redis hash (``Keys.ui_users``) of user name -> record. Passwords are stored
only as argon2id hashes (argon2-cffi's defaults); a disabled account cannot sign in and its open
sessions stop working at their next request.

Roles: ``security`` (prison security staff, bound to one establishment), ``mailroom`` (the officers
who screen letters, bound to one establishment), ``casework`` (the UPC team) and ``admin``."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from matcher.entries import ESTABLISHMENT_RE
from sync.keys import Keys
from sync.replication import Replication

UI_ROLES = ("security", "mailroom", "casework", "admin")
BOUND_ROLES = ("security", "mailroom")  # accounts that work for one establishment
OWNER_ROLES = ("security", "admin")  # who may own an escalated hit (the roles that review hits)
USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024

_hasher = PasswordHasher()
# Verified against when the user name is unknown, so a wrong name costs as long as a wrong password.
# A constant (argon2id of "nocontact: no such user" with argon2-cffi's defaults, the hasher's own
# parameters: tests/gateway/test_start_cost.py checks they agree), not hashed at import, which cost
# every start 0.2 s of CPU and 64 MiB.
_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$NSM1BQ9d+AAIrB7mbcs7EA$gAwjCF+enTQxPioWD3ALbRBpamkvZ0aVE1l03ahX40M"
)


@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: str
    establishment: str | None
    password_hash: str
    disabled: bool = False
    created: int = 0
    # Sessions started before this time (epoch seconds) are over: set when the account is disabled
    # or its role changes, so enabling it again does not bring an old cookie back.
    sessions_from: float = 0.0

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "username": self.username,
                "role": self.role,
                "establishment": self.establishment,
                "password_hash": self.password_hash,
                "disabled": self.disabled,
                "created": self.created,
                "sessions_from": self.sessions_from,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> User:
        d = orjson.loads(raw)
        return cls(
            str(d["username"]),
            str(d["role"]),
            d.get("establishment"),
            str(d["password_hash"]),
            bool(d.get("disabled", False)),
            int(d.get("created", 0)),
            float(d.get("sessions_from", 0.0)),
        )

    @property
    def label(self) -> str:
        return f"{self.username} ({self.role}{', ' + self.establishment if self.establishment else ''})"


def check_account(username: str, role: str, establishment: str | None) -> str | None:
    """An error message for a bad account, or None."""
    if not USERNAME_RE.fullmatch(username):
        return "username: 2-64 lower-case letters, digits and . _ - (starting with a letter or digit)"
    if role not in UI_ROLES:
        return f"role: one of {list(UI_ROLES)}"
    if role in BOUND_ROLES:
        if establishment is None:
            return f"establishment: a {role} account is bound to one establishment"
        if not ESTABLISHMENT_RE.fullmatch(establishment):
            return "establishment: an establishment code is 2-8 capital letters or digits"
    elif establishment is not None:
        return "establishment: only security and mailroom accounts are bound to an establishment"
    return None


def check_password(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"password: at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"password: at most {MAX_PASSWORD} characters"
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(user: User | None, password: str) -> bool:
    """Constant work whether or not the user exists. CPU-bound (tens of ms): call it off the loop."""
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return _hasher.verify(user.password_hash if user else _DUMMY_HASH, password) and user is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(user: User) -> bool:
    try:
        return _hasher.check_needs_rehash(user.password_hash)
    except InvalidHashError:
        return False


# -- operators' side (synchronous: the CLI) -------------------------------------------------------
# Each change returns once `replication`'s replicas hold it (NotReplicated if not): a failover must
# not bring back a disabled account or an old role.
def add_user(
    client: Any,
    keys: Keys,
    username: str,
    role: str,
    establishment: str | None,
    password: str,
    *,
    replication: Replication,
) -> User:
    problem = check_account(username, role, establishment) or check_password(password)
    if problem:
        raise ValueError(problem)
    user = User(username, role, establishment, hash_password(password), created=int(time.time()))
    if not client.hsetnx(keys.ui_users, username, user.to_json()):
        raise ValueError(f"username: {username} exists")
    replication.confirm(client)
    return user


def list_users(client: Any, keys: Keys) -> list[User]:
    return sorted(
        (User.from_json(raw) for raw in client.hgetall(keys.ui_users).values()), key=lambda u: u.username
    )


def set_disabled(
    client: Any, keys: Keys, username: str, disabled: bool = True, *, replication: Replication
) -> bool:
    """Disable (or enable) an account; disabling ends every session it has, for good."""
    raw = client.hget(keys.ui_users, username)
    if raw is None:
        return False
    user = replace(User.from_json(raw), disabled=disabled)
    if disabled:
        user = replace(user, sessions_from=time.time())
    client.hset(keys.ui_users, username, user.to_json())
    replication.confirm(client)
    return True


def set_role(
    client: Any, keys: Keys, username: str, role: str, establishment: str | None, *, replication: Replication
) -> User | None:
    """Give an account another role (and binding); its sessions end at once. None: no account."""
    raw = client.hget(keys.ui_users, username)
    if raw is None:
        return None
    problem = check_account(username, role, establishment)
    if problem:
        raise ValueError(problem)
    user = replace(User.from_json(raw), role=role, establishment=establishment, sessions_from=time.time())
    client.hset(keys.ui_users, username, user.to_json())
    replication.confirm(client)
    return user


# -- the gateway's side ---------------------------------------------------------------------------
async def get_user(client: Any, keys: Keys, username: str) -> User | None:
    raw = await client.hget(keys.ui_users, username)
    return None if raw is None else User.from_json(raw)


async def save_user(client: Any, keys: Keys, user: User) -> None:
    await client.hset(keys.ui_users, user.username, user.to_json())


async def escalation_owner(
    client: Any, keys: Keys, name: str, establishments: Iterable[str]
) -> tuple[str | None, str | None]:
    """The one stored form of an escalation's owner, ``user:NAME``, for the pages and the API alike
    (``?escalated=me`` reads it), with None; or None and what is wrong: the owner must be an
    enabled security or admin account that sees hits at each of `establishments`."""
    username = name.strip().lower().removeprefix("user:")
    if not USERNAME_RE.fullmatch(username):
        return None, "a user name (2-64 lower-case letters, digits and . _ -)"
    user = await get_user(client, keys, username)
    if user is None:
        return None, f"there is no account named {username}"
    if user.disabled:
        return None, f"the account {username} is disabled"
    if user.role not in OWNER_ROLES:
        return None, f"{username} is a {user.role} account; escalate to a security or admin account"
    others = sorted({e for e in establishments if user.establishment not in (None, e)})
    if others:
        return None, f"{username} works at {user.establishment} and cannot see hits at {', '.join(others)}"
    return f"user:{username}", None
