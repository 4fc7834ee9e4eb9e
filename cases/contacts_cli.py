"""``nocontact contacts ...``: social contacts lists from the prison's systems, and their removal
tasks, straight to the store.

nocontact contacts import FILE [--format jsonl|csv]
    Write whole lists, as ``PUT /v1/contacts/{establishment}/{prisoner}`` does (a list in the file
    replaces the stored one; the gateways' sweeper turns matches into removal tasks).
    JSONL: one list a line, ``{"establishment", "prisoner", "contacts": [...]}``.
    CSV: a header row naming these columns (any order; the first three required):
        establishment,prisoner,contact_id,name,relationship,approved,phones,emails,address,postcode
    one row per contact (a contact's further addresses: more rows with its contact_id); phones
    and emails separated by ";", an address's lines by "|"; approved is true/false (default true).
    Every bad line is reported as ``line N: FIELD: problem``; a list with a bad line (in CSV, any
    of its rows) is not written, the stored copy stays as it was; the good lists are written and
    the command exits 1 if any line failed (``--strict``: nothing is written unless every line is
    good). A CSV row whose establishment or prisoner cannot be read belongs to no list it can
    name: the rest of the file is still written, so use ``--strict`` if such a row may be one of
    a list's contacts.

nocontact contacts tasks [--establishment E] [--prisoner P] [--reference R] [--status S] [--csv]
    The removal tasks, oldest first (a table, or CSV).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from cases import cli as cases_cli
from cases.contact_tasks import CSV_COLUMNS as TASK_CSV
from cases.contact_tasks import STATUSES, TaskStore, tasks_csv
from cases.contacts import ContactStore, list_id, split_list_id
from cases.model import establishment_code, prison_number
from config import establishments
from matcher.contacts import Contact
from matcher.errors import ConfigError, ValidationError
from matcher.profile import Profile
from sync.importer import MAX_REPORTED, LineError, Progress

WRITE_BATCH = 200  # lists per pipeline
CSV_REQUIRED = ("establishment", "prisoner", "contact_id")
CSV_COLUMNS = (*CSV_REQUIRED, "name", "relationship", "approved", "phones", "emails", "address", "postcode")
TASK_COLUMNS = (*TASK_CSV[:6], "match", "status")  # the table; --csv writes every column


@dataclass
class Lists:
    """Lists read from a file: list id -> (first line, its contacts as dicts), and the bad lines."""

    found: dict[str, tuple[int, list[dict[str, Any]]]] = field(default_factory=dict)
    errors: list[LineError] = field(default_factory=list)
    bad: set[str] = field(default_factory=set)  # lists with a bad line: not written


def read_jsonl(lines: Iterable[str], profile: Profile) -> Lists:
    out = Lists()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            out.errors.append(LineError(number, "(line)", f"not JSON ({exc.msg} at column {exc.colno})"))
            continue
        if not isinstance(data, dict):
            out.errors.append(LineError(number, "(line)", "must be a JSON object"))
            continue
        try:
            lid = _place(profile, data.get("establishment"), data.get("prisoner"))
            unknown = set(data) - {"establishment", "prisoner", "contacts"}
            if unknown:
                raise ValidationError(sorted(unknown)[0], "unknown field")
            contacts = data.get("contacts")
            if not isinstance(contacts, list):
                raise ValidationError("contacts", "required: a list of contacts")
        except ValidationError as exc:
            out.errors.append(LineError(number, exc.field, exc.detail))
            continue
        if lid in out.found:
            out.errors.append(LineError(number, "prisoner", f"{lid} already on line {out.found[lid][0]}"))
            out.bad.add(lid)
            continue
        out.found[lid] = (number, contacts)
    return out


def read_csv(lines: Iterable[str], profile: Profile) -> Lists:
    out = Lists()
    reader = csv.DictReader(lines)
    header = reader.fieldnames or []
    missing = [c for c in CSV_REQUIRED if c not in header]
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if missing or unknown:
        problem = f"missing columns {missing}" if missing else f"unknown columns {unknown}"
        out.errors.append(LineError(1, "(header)", f"{problem}; the columns are {list(CSV_COLUMNS)}"))
        return out
    by_contact: dict[tuple[str, str], dict[str, Any]] = {}
    for row in reader:
        number = reader.line_num
        lid = None
        try:
            lid = _place(profile, row.get("establishment"), row.get("prisoner"))
            contact = _csv_contact(row, by_contact.get((lid, row.get("contact_id") or "")))
        except ValidationError as exc:
            out.errors.append(LineError(number, exc.field, exc.detail))
            if lid is not None:
                # as in JSONL: the stored list stays as it was, rather than being replaced by one
                # lacking this contact (the sweep would close its open tasks as "removed")
                out.bad.add(lid)
            continue
        key = (lid, contact["id"])
        if key not in by_contact:
            by_contact[key] = contact
            out.found.setdefault(lid, (number, []))[1].append(contact)
    return out


def _csv_contact(row: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    def cell(name: str) -> str:
        return str(row.get(name) or "").strip()

    contact: dict[str, Any] = current if current is not None else {"id": cell("contact_id"), "approved": True}
    if cell("name"):
        contact["name"] = cell("name")
    if cell("relationship"):
        contact["relationship"] = cell("relationship")
    if cell("approved"):
        if cell("approved").lower() not in ("true", "false"):
            raise ValidationError("approved", "true or false")
        contact["approved"] = cell("approved").lower() == "true"
    for name in ("phones", "emails"):
        contact.setdefault(name, []).extend(p.strip() for p in cell(name).split(";") if p.strip())
    if cell("address") or cell("postcode"):
        lines = [part.strip() for part in cell("address").split("|") if part.strip()]
        contact.setdefault("addresses", []).append({"lines": lines, "postcode": cell("postcode")})
    Contact.from_dict(contact, "contact")  # each row checked as it completes a contact
    return contact


def _place(profile: Profile, establishment: Any, prisoner: Any) -> str:
    return list_id(
        establishments.require(profile, establishment, "establishment"),
        establishments.prisoner_number(profile, prisoner, "prisoner"),
    )


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "contacts",
        help="social contacts lists: import them, list their removal tasks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--redis-url", help="default: NOCONTACT_REDIS_URL, else the embedded Redis")
    parser.add_argument("--data-dir", type=Path, help="the embedded Redis's data directory (default ./data)")
    parser.add_argument("--config", help="deployment file (profile and [sync] table)")
    sub = parser.add_subparsers(dest="contacts_command", required=True, metavar="ACTION")
    imp = sub.add_parser("import", help="write whole lists from a JSONL or CSV file ('-': stdin)")
    imp.add_argument("file", help="the file ('-' for stdin)")
    imp.add_argument(
        "--format", choices=("jsonl", "csv"), help="default: from the file name (.csv), else jsonl"
    )
    imp.add_argument("--strict", action="store_true", help="write nothing unless every line is valid")
    tasks = sub.add_parser("tasks", help="removal tasks, oldest first")
    tasks.add_argument("--establishment")
    tasks.add_argument("--prisoner")
    tasks.add_argument("--reference")
    tasks.add_argument("--status", choices=STATUSES)
    tasks.add_argument("--csv", action="store_true", help="CSV instead of a table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    if args.contacts_command == "import":
        try:
            source = sys.stdin if args.file == "-" else Path(args.file).open(encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            err.write(f"contacts: cannot read {args.file}: {exc.strerror}\n")
            return 2
        with source:
            try:
                lines = source.read().splitlines(keepends=True)
            except UnicodeDecodeError as exc:
                err.write(f"contacts: {args.file} is not UTF-8 ({exc.reason} at byte {exc.start})\n")
                return 2
    try:
        client, settings, profile, _, close = cases_cli.connect(args, "contacts")
    except (ConfigError, OSError, ValueError) as exc:
        err.write(f"contacts: {exc}\n")
        return 2
    try:
        if args.contacts_command == "import":
            return _import(args, lines, ContactStore(client, profile, settings.keys), err)
        return _tasks(args, TaskStore(client, settings.keys), out)
    except ValidationError as exc:
        err.write(f"contacts: {exc}\n")
        return 1
    except Exception as exc:  # redis errors: name them without a traceback
        err.write(f"contacts: Redis error: {exc.__class__.__name__}: {exc}\n")
        return 2
    finally:
        close()


def _import(args: argparse.Namespace, lines: list[str], store: ContactStore, err: TextIO) -> int:
    fmt = args.format or ("csv" if str(args.file).lower().endswith(".csv") else "jsonl")
    read = read_csv(lines, store.profile) if fmt == "csv" else read_jsonl(lines, store.profile)
    checked: list[tuple[str, tuple[Contact, ...]]] = []
    kept_out = len(read.bad)
    for lid, (number, raw) in read.found.items():
        if lid in read.bad:
            continue
        try:
            checked.append((lid, store.parse(raw)))
        except ValidationError as exc:  # TooManyContacts too
            read.errors.append(LineError(number, exc.field, exc.detail))
            kept_out += 1
    read.errors.sort(key=lambda e: e.line)
    for error in read.errors[:MAX_REPORTED]:
        err.write(f"{error}\n")
    if len(read.errors) > MAX_REPORTED:
        err.write(f"... and {len(read.errors) - MAX_REPORTED} more bad lines\n")
    if read.errors and args.strict:
        err.write(f"contacts: {len(read.errors)} bad lines; nothing written (--strict)\n")
        return 1
    writing = Progress(err, len(checked), "contacts: writing")
    changed = 0
    for start in range(0, len(checked), WRITE_BATCH):
        batch = [(*split_list_id(lid), contacts) for lid, contacts in checked[start : start + WRITE_BATCH]]
        changed += sum(w.changed for w in store.put_many(batch))
        writing.update(start + len(batch))
    writing.done()
    not_written = f"; {kept_out} lists with a bad line not written (kept as stored)" if kept_out else ""
    err.write(
        f"contacts: {len(checked)} lists written ({changed} changed), {len(read.errors)} lines failed"
        f"{not_written}\n"
    )
    return 1 if read.errors else 0


def _tasks(args: argparse.Namespace, store: TaskStore, out: TextIO) -> int:
    filters: dict[str, Any] = {"status": args.status}
    if args.establishment:
        filters["establishment"] = establishment_code(args.establishment, "--establishment")
    if args.prisoner:
        filters["prisoner"] = prison_number(args.prisoner, "--prisoner")
    if args.reference:
        filters["reference"] = args.reference
    tasks: list[dict[str, Any]] = []
    after = None
    first = True
    while True:  # each page reads about a page (TaskStore.search): linear in the tasks listed
        page, after = store.search(**filters, after=after, limit=1000)
        if args.csv:  # streamed: one header, then each page's rows
            text = tasks_csv(page)
            out.write(text if first else text.partition("\n")[2])
            first = False
        else:
            tasks += page
        if after is None:
            break
    if args.csv:
        return 0
    if tasks:
        out.write(cases_cli.table([[t.get(c) for c in TASK_COLUMNS] for t in tasks], TASK_COLUMNS) + "\n")
    else:
        out.write("(no tasks)\n")
    return 0
