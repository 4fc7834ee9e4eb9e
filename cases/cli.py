"""``nocontact case ...``: the case handlers' command line (role casework), straight to the store.

nocontact case new request.json          nocontact case list [--prisoner N] [--establishment E]
nocontact case show UPC-2026-000001      nocontact case overdue | reviews-due
nocontact case send|authorise|reject|withdraw|revoke|release|review ID [--reason R]
nocontact case transfer ID --to WDI      nocontact case accept-transfer ID (the receiving prison's step)
nocontact case exempt ID --prisoner P --identifier X --reason R
nocontact case unexempt ID EX1 --reason R
nocontact case breach ID --channel call --description D [--prisoner P] [--hit H]...
nocontact case notice ID                 nocontact case live ID
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import config
from cases.calendar import load_policy
from cases.codec import case_summary, history_to_dict
from cases.errors import CaseError
from cases.hitindex import HIT_INDEX_FILE, HitIndex
from cases.model import Request
from cases.notice import prisoner_notice
from cases.store import CaseStore
from cases.workflow import STEPS, Action, Actor, Case, State
from config import establishments
from matcher.entries import Exemption
from matcher.errors import ConfigError, ValidationError
from matcher.index import check_entry
from matcher.profile import Profile
from sync.client import async_client, sync_client
from sync.embedded import EmbeddedRedis
from sync.errors import NotReplicated, SyncError
from sync.settings import SyncSettings
from sync.store import FleetStore
from sync.writer import Writer

SIMPLE = {action.value: action for action in STEPS}
LIST_COLUMNS = (
    "id",
    "state",
    "pathway",
    "consent",
    "prisoner",
    "establishment",
    "send_due",
    "block_due",
    "review_due",
)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _flag(case: Case, now: dt.datetime) -> str:
    d = case.deadlines(now)
    flags = [name for name in ("send", "block", "review") if d[f"{name}_overdue"]]
    return ",".join(f"{f} OVERDUE" for f in flags)


def listing(cases: Sequence[Case], now: dt.datetime) -> str:
    rows = []
    for case in sorted(cases, key=lambda c: c.id):
        s = case_summary(case, now)
        rows.append([*(s[c] for c in LIST_COLUMNS), _flag(case, now)])
    if not rows:
        return "(no requests)"
    return table(rows, [*LIST_COLUMNS, "flags"])


def show(case: Case, now: dt.datetime) -> str:
    r = case.request
    head: list[list[Any]] = [
        ["id", case.id],
        ["state", case.state.value],
        ["pathway", r.pathway.value],
        ["consent", r.consent.value],
        ["rationale", r.rationale],
        [
            "requester",
            f"{r.requester.name} ({r.requester.role.value}"
            f"{', ' + r.requester.organisation if r.requester.organisation else ''})",
        ],
        ["requester contact", r.requester.contact],
        ["prisoner", f"{case.prisoner_number or '(number unknown)'} {r.prisoner.name}"],
        [
            "held at",
            case.establishment + (f" (transfer to {case.transfer_to} pending)" if case.transfer_to else ""),
        ],
        ["scope", "all establishments" if case.scope is None else ", ".join(sorted(case.scope))],
        *([k, v] for k, v in case.deadlines(now).items()),
    ]
    people = [
        [
            p.name,
            ", ".join(p.phones),
            ", ".join(p.emails),
            "; ".join(f"{' '.join(a.lines)} {a.postcode}" for a in p.addresses),
        ]
        for p in r.protected
    ]
    history = [
        [
            h["at"][:19],
            h["action"],
            h["actor"],
            h["role"],
            h["from"],
            h["to"],
            h["reason"],
            " ".join(f"{k}={v}" for k, v in h["details"].items()),
        ]
        for h in map(history_to_dict, case.history)
    ]
    parts = [
        table(head, ["field", "value"]),
        "",
        table(people, ["protected", "phones", "emails", "addresses"]),
    ]
    if case.exemptions:
        parts += [
            "",
            table(
                [
                    [e.id, e.exemption.prisoner, e.exemption.identifier, e.exemption.reason]
                    for e in case.exemptions
                ],
                ["exemption", "prisoner", "identifier", "reason"],
            ),
        ]
    if case.breaches:
        parts += [
            "",
            table(
                [
                    [b.id, b.at.isoformat()[:19], b.by, b.prisoner, b.channel, " ".join(b.hits)]
                    for b in case.breaches
                ],
                ["breach", "at", "by", "prisoner", "channel", "hits"],
            ),
        ]
    parts += ["", table(history, ["at", "action", "by", "role", "from", "to", "reason", "details"])]
    return "\n".join(parts)


def register(subparsers: Any) -> None:
    case = subparsers.add_parser("case", help="UPC requests: intake, authorisation, transfers, releases")
    case.add_argument("--redis-url", help="default: NOCONTACT_REDIS_URL, else the embedded Redis")
    case.add_argument("--data-dir", type=Path, help="the embedded Redis's data directory (default ./data)")
    case.add_argument("--config", help="deployment file (profile, [sync], [cases])")
    case.add_argument("--as", dest="actor", help="your user id, recorded in the history (default: login)")
    sub = case.add_subparsers(dest="case_command", required=True, metavar="ACTION")
    sub.add_parser("new", help="record a request from a JSON file ('-': stdin)").add_argument("file")
    for name in ("show", "notice", "live"):
        sub.add_parser(name).add_argument("id")
    for name in SIMPLE:
        p = sub.add_parser(name)
        p.add_argument("id")
        p.add_argument("--reason")
        if name == "authorise":
            p.add_argument("--prisoner-number")
    p = sub.add_parser("transfer")
    p.add_argument("id")
    p.add_argument("--to", required=True, help="receiving establishment code")
    p.add_argument("--reason")
    p = sub.add_parser("accept-transfer", help="accept a recorded transfer: the receiving prison holds it")
    p.add_argument("id")
    p.add_argument("--reason")
    p = sub.add_parser("exempt", help="add an exemption (legitimate contact the block would stop)")
    p.add_argument("id")
    p.add_argument("--prisoner", required=True)
    p.add_argument("--identifier", required=True)
    p.add_argument("--name")
    p.add_argument("--reason", required=True)
    p = sub.add_parser("unexempt")
    p.add_argument("id")
    p.add_argument("exemption")
    p.add_argument("--reason", required=True)
    p = sub.add_parser("breach", help="report continuing contact; links hits on the entry")
    p.add_argument("id")
    p.add_argument("--channel", required=True)
    p.add_argument("--description", required=True)
    p.add_argument("--prisoner")
    p.add_argument("--hit", action="append", default=[])
    p = sub.add_parser("list")
    p.add_argument("--prisoner")
    p.add_argument("--establishment")
    p.add_argument("--state", choices=[s.value for s in State])
    sub.add_parser("overdue")
    sub.add_parser("reviews-due")
    case.set_defaults(handler=run)


def connect(
    args: argparse.Namespace, name: str
) -> tuple[Any, SyncSettings, Profile, str, Callable[[], None]]:
    """A client for the store `args` name (``--redis-url``, ``--data-dir``, ``--config``; else the
    embedded Redis), with the settings, the profile, the URL and a function that closes it all."""
    settings = SyncSettings.from_mapping(config.deployment_table(args.config, "sync"))
    if args.redis_url:
        settings = settings.with_(redis_url=args.redis_url)
    if args.data_dir:
        settings = settings.with_(data_dir=args.data_dir)
    profile = config.load_profile(args.config)
    embedded = None
    url = settings.redis_url
    if not url:
        embedded = EmbeddedRedis(settings.data_dir)
        url = embedded.start()
    client = sync_client(url, settings, name=f"nocontact-{name}")

    def close() -> None:
        client.close()
        if embedded is not None:
            embedded.stop()

    return client, settings, profile, url, close


def _connect(args: argparse.Namespace) -> tuple[Any, Any, Callable[[], None]]:
    client, settings, profile, url, close = connect(args, "case")
    hits = HitIndex(settings.data_dir / HIT_INDEX_FILE, client, settings.keys)
    writer = Writer.configured(client, settings, validate=functools.partial(check_entry, profile=profile))
    store = CaseStore(
        client, profile, keys=settings.keys, policy=load_policy(args.config), writer=writer, hits=hits
    )
    return store, (url, settings), close


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        store, (url, settings), close = _connect(args)
    except (ConfigError, OSError, ValueError) as exc:
        err.write(f"case: {exc}\n")
        return 2
    try:
        return _dispatch(args, store, url, settings, out)
    except (ValidationError, CaseError) as exc:
        err.write(f"case: {exc}\n")
        return 1
    except NotReplicated as exc:
        # In the primary, on no replica: a failover now could undo it. Look before doing it again.
        look = f"`nocontact case show {args.id}`" if getattr(args, "id", None) else "`nocontact case list`"
        err.write(f"case: {exc}; it may be in the store all the same: look with {look} before retrying\n")
        return 2
    except SyncError as exc:
        err.write(f"case: {exc}\n")
        return 2
    except OSError as exc:
        err.write(f"case: {exc}\n")
        return 2
    except Exception as exc:  # redis errors: name them without a traceback
        if type(exc).__module__.startswith("redis"):
            err.write(f"case: Redis error: {type(exc).__name__}\n")
            return 2
        raise
    finally:
        close()


def _dispatch(args: argparse.Namespace, store: CaseStore, url: str, settings: Any, out: TextIO) -> int:
    actor = Actor(args.actor or os.environ.get("NOCONTACT_USER") or getpass.getuser(), "casework")
    now = store.clock()
    command = args.case_command
    case: Case | None = None
    if command == "new":
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError("file", f"not valid JSON ({exc.msg}, line {exc.lineno})") from None
        case = store.create(Request.from_dict(data, store.profile), actor)
        out.write(f"{case.id} submitted; due at the prison by {case.send_due.isoformat()}\n")
        return 0
    if command in SIMPLE:
        kwargs: dict[str, Any] = {"reason": args.reason}
        if command == "authorise" and args.prisoner_number:
            kwargs["prisoner_number"] = establishments.prisoner_number(
                store.profile, args.prisoner_number, "--prisoner-number"
            )
        case = store.act(args.id, SIMPLE[command], actor, **kwargs)
    elif command == "transfer":
        case = store.act(
            args.id,
            Action.TRANSFER,
            actor,
            establishment=establishments.require(store.profile, args.to, "--to"),
            reason=args.reason,
        )
    elif command == "accept-transfer":
        case = store.act(args.id, Action.ACCEPT_TRANSFER, actor, reason=args.reason)
    elif command == "exempt":
        prisoner = establishments.prisoner_number(store.profile, args.prisoner, "--prisoner")
        exemption = Exemption(prisoner, args.identifier, args.reason, args.name)
        case = store.act(args.id, Action.ADD_EXEMPTION, actor, exemption=exemption, reason=args.reason)
    elif command == "unexempt":
        case = store.act(
            args.id, Action.REMOVE_EXEMPTION, actor, exemption_id=args.exemption, reason=args.reason
        )
    elif command == "breach":
        case = store.report_breach(
            args.id,
            actor,
            prisoner=args.prisoner,
            channel=args.channel,
            reason=args.description,
            hits=args.hit,
        )
        b = case.breaches[-1]
        out.write(f"{case.id} breach {b.id} recorded; linked hits: {' '.join(b.hits) or 'none'}\n")
        pattern = store.hit_pattern(case.id)
        if pattern:
            out.write(table(sorted(pattern.items(), key=lambda kv: -kv[1]), ["prisoner", "hits"]) + "\n")
        return 0
    elif command == "show":
        out.write(show(store.get(args.id), now) + "\n")
        return 0
    elif command == "notice":
        out.write(prisoner_notice(store.get(args.id)))
        return 0
    elif command == "live":
        return _live(store, url, settings, args.id, out)
    elif command == "list":
        if args.prisoner:
            cases = store.by_prisoner(args.prisoner.strip().upper())
        elif args.establishment:
            cases = store.by_establishment(args.establishment.strip().upper())
        else:
            cases = store.open_cases()
        if args.establishment:
            cases = [c for c in cases if c.establishment == args.establishment.strip().upper()]
        if args.state:
            cases = [c for c in cases if c.state.value == args.state]
        out.write(listing(cases, now) + "\n")
        return 0
    elif command == "overdue":
        out.write(listing(store.overdue(now), now) + "\n")
        return 0
    elif command == "reviews-due":
        out.write(listing(store.reviews_due(now), now) + "\n")
        return 0
    assert case is not None
    out.write(f"{case.id} {case.history[-1].action.value}: now {case.state.value}\n")
    return 0


def _live(store: CaseStore, url: str, settings: Any, case_id: str, out: TextIO) -> int:
    case = store.get(case_id)
    if case.state is not State.AUTHORISED:
        out.write(f"{case.id} is {case.state.value}: nothing to enforce\n")
        return 1

    async def ask() -> Any:
        client = async_client(url, settings, name="nocontact-case")
        try:
            return await FleetStore(client, store.keys).enforcement(reference=case.id)
        finally:
            await client.aclose()

    found = asyncio.run(ask())
    rows = [
        [g.gateway_id, g.state, g.version, "yes" if g.gateway_id in found.enforced else "NO"]
        for g in found.gateways
    ]
    out.write(table(rows, ["gateway", "state", "version", "enforced"]) + "\n")
    verdict = "LIVE" if found.everywhere else "NOT YET LIVE"
    out.write(f"{case.id}: {verdict} on {found.summary()} (entry version {found.version})\n")
    return 0 if found.everywhere else 1
