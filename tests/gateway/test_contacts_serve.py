"""Issue 18's "Done when", through a real `nocontact serve` on its embedded Redis: a list holding a
number a later request blocks gets a removal task; approving a contact at a blocked address is
answered hold/block; the list re-written without the number closes the task; revoking the request
closes it as no longer needed; another establishment's token sees none of it."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from cases.contact_tasks import NewTask, TaskStore
from sync.embedded import EmbeddedRedis
from tests.support.case_data import NAME, PHONE, POSTCODE, request_data
from tests.support.gateway_process import ADMIN, Gateway
from tests.support.processes import free_port

PRISONER = "B2345CD"  # not the request's prisoner: the sweep covers every prisoner in scope
LIST_PATH = f"/v1/contacts/HLI/{PRISONER}"
SWEEP_WAIT = 20.0  # seconds a poll waits for the sweeper before the test gives up (not a timing claim)


def _contacts(*, with_number: bool) -> dict[str, Any]:
    phones = ["01632 960001", PHONE] if with_number else ["01632 960001"]
    return {
        "contacts": [
            {"id": "c1", "name": "Mum", "relationship": "mother", "phones": phones, "approved": True},
            {"id": "c2", "name": "Solicitor", "phones": ["0345 345 4345"], "approved": True},
        ]
    }


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    gw = Gateway(tmp_path / "data", free_port())
    gw.start()
    gw.wait_ready()
    yield gw
    gw.close()


def _until(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + SWEEP_WAIT
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"waited for {what}"
        time.sleep(0.05)


def _tasks(gw: Gateway, token: str, query: str = "") -> list[dict[str, Any]]:
    status, body = gw.http("GET", f"/v1/contact-tasks{query}", token=token)
    assert status == 200, body
    return list(body["tasks"])


def _authorised(gw: Gateway, casework: str, **changes: Any) -> str:
    status, created = gw.http("POST", "/v1/requests", request_data(**changes), token=casework)
    assert status == 201, created
    case_id = str(created["id"])
    assert gw.http("POST", f"/v1/requests/{case_id}/send", {}, token=casework)[0] == 200
    status, body = gw.http("POST", f"/v1/requests/{case_id}/authorise", {}, token=casework)
    assert status == 200, body
    return case_id


def test_a_blocked_number_on_a_list_becomes_a_task_and_is_closed_by_a_rewrite_or_a_revoke(
    gateway: Gateway,
) -> None:
    gw = gateway
    hli = gw.token("contacts", "HLI")
    mdi = gw.token("contacts", "MDI")
    casework = gw.token("casework")
    security_hli = gw.token("security", "HLI")
    security_mdi = gw.token("security", "MDI")

    status, written = gw.http("PUT", LIST_PATH, _contacts(with_number=True), token=hli)
    assert status == 200 and written["version"] == 1, written
    case_id = _authorised(gw, casework)

    tasks = _until(lambda: _tasks(gw, hli), "the removal task")
    assert [
        (t["prisoner"], t["contact_id"], t["reference"], t["kind"], t["match"], t["status"]) for t in tasks
    ] == [(PRISONER, "c1", case_id, "phone", "relay", "open")]
    assert tasks[0]["identifier_index"] == 1
    assert PHONE not in str(tasks) and "Mum" not in str(tasks)  # the task never carries the details
    assert _tasks(gw, security_hli) == tasks and _tasks(gw, casework) == tasks

    # metrics: open tasks by establishment, the oldest one's age, sweep durations
    def metrics() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{gw.port}/metrics", timeout=5) as resp:
            text: str = resp.read().decode()
        return text if 'nocontact_contact_tasks_open{establishment="HLI"} 1.0' in text else ""

    text = _until(metrics, "the open-task gauge")
    assert 'nocontact_contact_task_oldest_open_seconds{establishment="HLI"}' in text
    assert 'nocontact_contact_sweep_seconds_count{kind="change"}' in text

    # the request's own view: N contacts still to remove at M prisons
    status, live = gw.http("GET", f"/v1/requests/{case_id}/live", token=casework)
    assert status == 200 and live["contacts_to_remove"] == {"contacts": 1, "prisons": 1}, live
    assert live["contacts_summary"] == "1 contact still to remove at 1 prison"

    # another establishment's tokens see none of it
    assert gw.http("GET", LIST_PATH, token=mdi)[0] == 403
    assert gw.http("PUT", LIST_PATH, _contacts(with_number=False), token=mdi)[0] == 403
    assert _tasks(gw, mdi) == [] and _tasks(gw, security_mdi) == []
    assert gw.http("GET", "/v1/contact-tasks?establishment=HLI", token=mdi)[0] == 403
    assert gw.http("POST", f"/v1/contact-tasks/{tasks[0]['id']}/removed", {}, token=security_mdi)[0] == 404

    # CSV of the same list
    req = urllib.request.Request(
        f"http://127.0.0.1:{gw.port}/v1/contact-tasks?format=csv", headers={"Authorization": f"Bearer {hli}"}
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        rows = resp.read().decode().splitlines()
    assert rows[0].startswith("id,establishment,prisoner,contact_id,reference,kind") and len(rows) == 2
    assert tasks[0]["id"] in rows[1]

    # the list written again without the number: the task closes as removed
    status, written = gw.http("PUT", LIST_PATH, _contacts(with_number=False), token=hli)
    assert status == 200 and written["version"] == 2
    closed = _until(lambda: [t for t in _tasks(gw, hli) if t["status"] == "removed"], "the task to close")
    assert closed[0]["id"] == tasks[0]["id"] and closed[0]["closed_by"] == "sweep"

    # the number back on the list: the same task opens again; revoking the request closes it
    gw.http("PUT", LIST_PATH, _contacts(with_number=True), token=hli)
    _until(lambda: [t for t in _tasks(gw, hli) if t["status"] == "open"], "the task to open again")
    assert len(_tasks(gw, hli)) == 1  # one task per prisoner x contact x reference
    status, body = gw.http("POST", f"/v1/requests/{case_id}/revoke", {"reason": "review"}, token=casework)
    assert status == 200, body
    ended = _until(
        lambda: [t for t in _tasks(gw, hli) if t["status"] == "no_longer_needed"], "no_longer_needed"
    )
    assert ended[0]["id"] == tasks[0]["id"]
    assert "Mum" not in gw.text() and PHONE not in gw.text()


def test_approving_a_contact_at_a_blocked_address_is_held_or_blocked(gateway: Gateway) -> None:
    gw = gateway
    hli = gw.token("contacts", "HLI")
    casework = gw.token("casework")
    proposed = {
        "id": "new-1",
        "name": NAME,
        "addresses": [{"lines": ["Flat 2", "14 High Street", "Hull"], "postcode": POSTCODE}],
    }
    check = {"establishment": "HLI", "prisoner": PRISONER, "contact": proposed}
    status, before = gw.http("POST", "/v1/screen/contact", check, token=hli)
    assert status == 200 and before["decision"] == "allow", before
    case_id = _authorised(gw, casework)

    def answer() -> dict[str, Any] | None:
        status, body = gw.http("POST", "/v1/screen/contact", check, token=hli)
        assert status == 200, body
        return body if body["decision"] != "allow" else None

    found = _until(answer, "the block to be live")
    assert found["decision"] in ("hold", "block")
    assert found["matches"][0] == {
        "reference": case_id,
        "kind": "address",
        "strength": "strong" if found["decision"] == "block" else "partial",
        "identifier_index": 0,
    }
    assert "High Street" not in str(found)

    # an emergency or legal-advice number is never matched as blocked; the 400s name the field
    legal = {**check, "contact": {"id": "n2", "name": "CLA", "phones": ["0345 345 4345"]}}
    assert gw.http("POST", "/v1/screen/contact", legal, token=hli)[1]["decision"] == "allow"
    status, bad = gw.http("POST", "/v1/screen/contact", {**check, "prisoner": "not a number!"}, token=hli)
    assert status == 400 and bad["field"] == "prisoner", bad
    for unknown in ("H", "XYZ"):  # malformed, and well formed but not a known establishment
        status, bad = gw.http("POST", "/v1/screen/contact", {**check, "establishment": unknown}, token=hli)
        assert status == 400 and bad["field"] == "establishment", bad
    status, bad = gw.http("PUT", f"/v1/contacts/XYZ/{PRISONER}", {"contacts": []}, token=gw.token("admin"))
    assert status == 400 and bad["field"] == "establishment", bad
    status, bad = gw.http("PUT", "/v1/contacts/HLI/not-a-number!", {"contacts": []}, token=hli)
    assert status == 400 and bad["field"] == "prisoner", bad
    too_many = {"contacts": [{"id": f"c{i}", "name": "X", "approved": True} for i in range(1001)]}
    status, bad = gw.http("PUT", LIST_PATH, too_many, token=hli)
    assert status == 413 and bad["error"] == "too_many_contacts", bad
    wrong = {"contacts": [{"id": "c1", "name": "X", "approved": True, "phones": ["not a phone"]}]}
    status, bad = gw.http("PUT", LIST_PATH, wrong, token=hli)
    assert status == 400 and bad["field"] == "contacts[0].phones[0]", bad
    unreadable = {**check, "contact": {"id": "n3", "name": "X", "emails": ["not an email"]}}
    status, bad = gw.http("POST", "/v1/screen/contact", unreadable, token=hli)
    assert status == 400 and bad["field"] == "contact.emails[0]", bad


def test_task_pages_follow_their_next_cursor(gateway: Gateway) -> None:
    """`GET /v1/contact-tasks` pages with `next`, for a bound token and across establishments; a
    cursor that is not a `next` value is a 400 naming it."""
    gw = gateway
    with redis.Redis(unix_socket_path=str(EmbeddedRedis(gw.data_dir).socket_path)) as client:
        TaskStore(client).ensure(
            NewTask(code, f"A{n:04d}BC", "c1", "UPC-PAGES", "phone", "strong", 0, False, 1)
            for code in ("HLI", "MDI")
            for n in range(7)
        )
    hli = gw.token("security", "HLI")
    for token, query, expected in ((hli, "?", 7), (None, "?establishment=MDI&", 7), (None, "?", 14)):
        seen: list[str] = []
        cursor = ""
        while True:
            status, body = gw.http("GET", f"/v1/contact-tasks{query}limit=3{cursor}", token=token or ADMIN)
            assert status == 200, body
            seen += [t["id"] for t in body["tasks"]]
            if body["next"] is None:
                break
            cursor = f"&cursor={body['next']}"
        assert len(seen) == len(set(seen)) == expected
    status, body = gw.http("GET", "/v1/contact-tasks?cursor=2026-01-01~x", token=hli)
    assert status == 400 and body["field"] == "cursor", body
