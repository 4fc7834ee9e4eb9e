"""``nocontact user add|list|disable|enable``: web UI accounts. The password is read from the
terminal (twice) or, with ``--password-stdin``, from the first line of standard input; it is never
taken from the command line, where other users could see it."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

import redis

from config import establishments
from gateway.settings import GatewaySettings
from gateway.ui.users import UI_ROLES, add_user, list_users, set_disabled, set_role
from matcher.errors import ConfigError
from sync.embedded import attached_url
from sync.errors import NotReplicated
from sync.redis_url import redis_client, unreachable
from sync.replication import Replication


def register(sub: Any) -> None:
    user = sub.add_parser("user", help="add, list, disable or enable web UI accounts")
    user.add_argument("--config", help="deployment TOML file")
    user.add_argument("--data-dir", type=Path)
    actions = user.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add an account")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=UI_ROLES)
    add.add_argument("--establishment", help="the establishment a security or mailroom account is bound to")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    actions.add_parser("list", help="list accounts (no password hashes)")
    disable = actions.add_parser("disable", help="disable an account (its sessions stop at once)")
    disable.add_argument("username")
    enable = actions.add_parser("enable", help="enable a disabled account (its old sessions stay over)")
    enable.add_argument("username")
    role = actions.add_parser("role", help="change an account's role (its sessions stop at once)")
    role.add_argument("username")
    role.add_argument("--role", required=True, choices=UI_ROLES)
    role.add_argument("--establishment", help="the establishment a security or mailroom account is bound to")
    user.set_defaults(handler=run_user)


class NoTerminal(Exception):
    """`user add` without --password-stdin, and no terminal to ask on."""


def _password(from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise NoTerminal()
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        return None
    return first


def run_user(args: argparse.Namespace) -> int:
    try:
        settings = GatewaySettings.load(args.config, data_dir=args.data_dir)
    except ConfigError as exc:
        print(f"nocontact user: {exc}", file=sys.stderr)
        return 2
    url = attached_url("user", settings.sync.redis_url, settings.data_dir)
    if url is None:
        return 2
    keys = settings.sync.keys
    replication = Replication.configured(settings.sync)
    try:
        with redis_client(url, socket_timeout=5, socket_connect_timeout=2) as client:
            if args.action == "add":
                try:
                    password = _password(args.password_stdin)
                except NoTerminal:
                    print(
                        "nocontact user: no terminal to ask the password on: pipe it with --password-stdin",
                        file=sys.stderr,
                    )
                    return 2
                if password is None:
                    print("nocontact user: the passwords differ", file=sys.stderr)
                    return 2
                try:
                    establishment = establishments.option(args.config, args.establishment)
                    user = add_user(
                        client,
                        keys,
                        args.username.strip().lower(),
                        args.role,
                        establishment,
                        password,
                        replication=replication,
                    )
                except ValueError as exc:
                    print(f"nocontact user: {exc}", file=sys.stderr)
                    return 2
                print(f"added {user.label}")
            elif args.action == "list":
                for u in list_users(client, keys):
                    state = "disabled" if u.disabled else "active"
                    print(f"{u.username}\t{u.role}\t{u.establishment or '-'}\t{state}")
            elif args.action == "role":
                try:
                    establishment = establishments.option(args.config, args.establishment)
                    changed = set_role(
                        client,
                        keys,
                        args.username.strip().lower(),
                        args.role,
                        establishment,
                        replication=replication,
                    )
                except ValueError as exc:
                    print(f"nocontact user: {exc}", file=sys.stderr)
                    return 2
                if changed is None:
                    print(f"nocontact user: no account {args.username}", file=sys.stderr)
                    return 1
                print(f"changed {changed.label}; its sessions have ended")
            else:
                disable = args.action == "disable"
                if not set_disabled(
                    client, keys, args.username.strip().lower(), disable, replication=replication
                ):
                    print(f"nocontact user: no account {args.username}", file=sys.stderr)
                    return 1
                print(f"{args.action}d {args.username}")
    except NotReplicated as exc:
        print(
            f"nocontact user: {exc}; it may be in the store all the same: look with `nocontact user list`",
            file=sys.stderr,
        )
        return 2
    except (redis.RedisError, OSError) as exc:
        print(f"nocontact user: {unreachable(url, exc)}", file=sys.stderr)
        return 2
    return 0
