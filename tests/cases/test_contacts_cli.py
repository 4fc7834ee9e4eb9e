"""``nocontact contacts import`` (JSONL and CSV, bad lines named by line and field) and
``nocontact contacts tasks``, against a real Redis."""

from __future__ import annotations

import io
import json
from pathlib import Path

from cases.contacts import ContactStore
from cases.sweep import Sweeper
from config import load_profile
from gateway.cli import build_parser
from matcher.entries import Entry
from matcher.index import Index
from sync.writer import Writer
from tests.support.redis_server import RedisFactory

PROFILE = load_profile(None)


def _run(url: str, *argv: str) -> tuple[int, str, str]:
    args = build_parser().parse_args(["contacts", "--redis-url", url, *argv])
    out, err = io.StringIO(), io.StringIO()
    code = args.handler(args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_import_jsonl_names_bad_lines_and_writes_the_good(redis_server: RedisFactory, tmp_path: Path) -> None:
    server = redis_server()
    good = {
        "establishment": "HLI",
        "prisoner": "B1111BB",
        "contacts": [{"id": "c1", "name": "Mum", "phones": ["07700 900123"], "approved": True}],
    }
    bad_phone = {
        "establishment": "MDI",
        "prisoner": "C2222CC",
        "contacts": [{"id": "c1", "name": "X", "phones": ["nope"], "approved": True}],
    }
    lines = [json.dumps(good), "{not json", json.dumps(bad_phone), json.dumps({**good, "prisoner": "??"})]
    path = tmp_path / "lists.jsonl"
    path.write_text("\n".join(lines) + "\n")
    code, _, err = _run(server.url, "import", str(path))
    assert code == 1
    assert "line 2: (line): not JSON" in err
    assert "line 3: contacts[0].phones[0]:" in err
    assert "line 4: prisoner:" in err
    assert "contacts: 1 lists written (1 changed), 3 lines failed" in err
    store = ContactStore(server.client(), PROFILE)
    stored = store.get("HLI", "B1111BB")
    assert stored is not None and [c.id for c in stored.contacts] == ["c1"]
    assert store.get("MDI", "C2222CC") is None
    code, _, err = _run(server.url, "import", "--strict", str(path))
    assert code == 1 and "nothing written" in err


def test_import_csv_and_list_tasks(redis_server: RedisFactory, tmp_path: Path) -> None:
    server = redis_server()
    path = tmp_path / "lists.csv"
    rows = (
        "establishment,prisoner,contact_id,name,phones,address,postcode\n"
        "HLI,B1111BB,c1,Mum,07700 900123;01632 960001,,\n"
        "HLI,B1111BB,c2,Friend,,14 High Street|Hull,HU1 2AB\n"
        "HLI,B1111BB,c2,,,2 Low Street|Hull,HU1 3AB\n"
    )
    path.write_text(rows + "HLI,B1111BB,c3,,,,\n")
    code, _, err = _run(server.url, "import", str(path))
    assert code == 1 and "line 5: contact.name: required" in err, err
    assert "0 lists written (0 changed), 1 lines failed; 1 lists with a bad line not written" in err
    client = server.client()
    assert ContactStore(client, PROFILE).get("HLI", "B1111BB") is None
    path.write_text(rows)
    assert _run(server.url, "import", str(path))[0] == 0
    stored = ContactStore(client, PROFILE).get("HLI", "B1111BB")
    assert stored is not None
    assert [(c.id, c.phones, len(c.addresses)) for c in stored.contacts] == [
        ("c1", ("07700 900123", "01632 960001"), 0),
        ("c2", (), 2),
    ]
    writer = Writer(client)
    writer.initialise()
    entry = Entry.from_dict(
        {
            "reference": "UPC-7",
            "prisoner": "A1234BC",
            "scope": "all",
            "protected": [{"name": "Jane Smith", "phones": ["07700 900123"]}],
        }
    )
    Sweeper(client, PROFILE, lambda: Index.build([], PROFILE)).run_until_idle()
    writer.upsert(entry)
    Sweeper(client, PROFILE, lambda: Index.build([entry], PROFILE, version=2)).run_until_idle()
    code, out, _ = _run(server.url, "tasks", "--establishment", "HLI")
    assert code == 0
    assert "B1111BB" in out and "UPC-7" in out and "07700" not in out
    code, out, _ = _run(server.url, "tasks", "--csv", "--status", "open")
    rows = out.splitlines()
    assert rows[0].startswith("id,establishment,prisoner,contact_id,reference") and len(rows) == 2
    code, out, _ = _run(server.url, "tasks", "--reference", "UPC-8")
    assert out == "(no tasks)\n"


def test_a_bad_csv_row_keeps_its_whole_list_out_and_its_open_tasks_open(
    redis_server: RedisFactory, tmp_path: Path
) -> None:
    """A bad row used to drop only its contact: the list was written without it, and the sweep
    closed that contact's open task as "removed" although the prison never removed it."""
    server = redis_server()
    client = server.client()
    writer = Writer(client)
    writer.initialise()
    entry = Entry.from_dict(
        {
            "reference": "UPC-7",
            "prisoner": "A1234BC",
            "scope": "all",
            "protected": [{"name": "Jane Smith", "phones": ["07700 900123"]}],
        }
    )
    writer.upsert(entry)
    path = tmp_path / "lists.csv"
    header = "establishment,prisoner,contact_id,name,approved,phones\n"
    path.write_text(header + "HLI,B1111BB,c1,Mum,true,07700 900123\nHLI,B1111BB,c2,Dad,true,01632 960001\n")
    assert _run(server.url, "import", str(path))[0] == 0
    live = lambda: Index.build([entry], PROFILE, version=2)  # noqa: E731
    Sweeper(client, PROFILE, live).run_until_idle()
    code, out, _ = _run(server.url, "tasks", "--csv", "--status", "open")
    assert len(out.splitlines()) == 2  # c1's task
    # the prison's next export has c1 with a bad cell, and a good list for another prisoner
    path.write_text(
        header + "HLI,B1111BB,c1,Mum,maybe,07700 900123\n"
        "HLI,B1111BB,c2,Dad,true,01632 960001\n"
        "MDI,C2222CC,c1,Pat,true,01632 960002\n"
    )
    code, _, err = _run(server.url, "import", str(path))
    assert code == 1
    assert "line 2: approved: true or false" in err, err
    assert "contacts: 1 lists written (1 changed), 1 lines failed" in err, err
    store = ContactStore(client, PROFILE)
    stored = store.get("HLI", "B1111BB")
    assert stored is not None and stored.version == 1 and [c.id for c in stored.contacts] == ["c1", "c2"]
    assert store.get("MDI", "C2222CC") is not None
    Sweeper(client, PROFILE, live).run_until_idle()
    code, out, _ = _run(server.url, "tasks", "--csv", "--status", "open")
    assert len(out.splitlines()) == 2, out
