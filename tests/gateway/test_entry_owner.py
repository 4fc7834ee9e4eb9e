"""Issue 16 item 2: entries carry their owner. A request's entry changes only through the request
(PUT or DELETE on it is a 409 naming the request); a request never replaces an entry loaded
directly (intake skips ids in use; authorising onto one is a 409); entries can be read back
(``GET /v1/entries[/{reference}]``, ``nocontact entries list|show``)."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Sequence
from typing import Any

import pytest
import redis

from cases.workflow import Action
from gateway.cli import main
from gateway.http import RUNTIME
from matcher.entries import Entry
from matcher.index import check_entry
from sync.changes import OP_UPSERT
from sync.keys import Keys
from sync.writer import Change, Writer, WriteResult
from tests.support.case_data import CASEWORKER, PHONE, make_request, request_data
from tests.support.gateway_data import ADMIN, TokenFactory

ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}
YEAR = dt.datetime.now(dt.UTC).year
README_ENTRY = {  # the README's first example
    "prisoner": "A1234BC",
    "scope": "all",
    "protected": [{"name": "Jane Smith", "phones": ["07700 900123"]}],
}


async def _authorised(client: Any, casework: dict[str, str]) -> str:
    resp = await client.post("/v1/requests", json=request_data(), headers=casework)
    assert resp.status == 201, await resp.text()
    case_id = str((await resp.json())["id"])
    for action in ("send", "authorise"):
        resp = await client.post(f"/v1/requests/{case_id}/{action}", json={}, headers=casework)
        assert resp.status == 200, await resp.text()
    return case_id


def _stored(client: Any, reference: str) -> dict[str, Any] | None:
    store = client.app[RUNTIME].store_sync
    raw = store.hget(Keys().entries, reference)
    return None if raw is None else dict(json.loads(raw))


async def test_the_readme_entry_and_a_first_request_coexist(client: Any, auth: TokenFactory) -> None:
    """Reproduction: authorising case UPC-YYYY-000001 replaced the entry UPC-YYYY-000001 loaded
    directly (the README's own example), dropping its number without a word."""
    reference = f"UPC-{YEAR}-000001"
    resp = await client.put(f"/v1/entries/{reference}", json=README_ENTRY, headers=ADMIN_H)
    assert resp.status == 200
    case_id = await _authorised(client, await auth("casework"))
    assert case_id != reference
    stored = _stored(client, reference)
    assert stored is not None and stored["protected"][0]["phones"] == ["07700 900123"]
    assert _stored(client, case_id) is not None


async def test_a_request_is_never_authorised_onto_an_entry_it_did_not_write(
    client: Any, auth: TokenFactory
) -> None:
    casework = await auth("casework")
    resp = await client.post("/v1/requests", json=request_data(), headers=casework)
    case_id = (await resp.json())["id"]
    assert (await client.post(f"/v1/requests/{case_id}/send", json={}, headers=casework)).status == 200
    # An import (or another gateway's write) got there first under the request's id: it landed
    # between intake choosing the id and recording the request, when the writer's guard saw no
    # request yet (by_request=True stands in for that moment).
    store = client.app[RUNTIME].store_sync
    Writer(store).apply(
        [(OP_UPSERT, Entry.from_dict({**README_ENTRY, "reference": case_id}))], by_request=True
    )
    resp = await client.post(f"/v1/requests/{case_id}/authorise", json={}, headers=casework)
    body = await resp.json()
    assert resp.status == 409 and body["error"] == "reference_in_use" and body["field"] == "id", body
    stored = _stored(client, case_id)
    assert stored is not None and stored["protected"][0]["phones"] == ["07700 900123"]
    resp = await client.get(f"/v1/requests/{case_id}", headers=casework)
    assert (await resp.json())["state"] == "sent_to_prison"


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_a_requests_entry_is_changed_only_through_the_request(
    client: Any, auth: TokenFactory, method: str
) -> None:
    """Reproduction: DELETE /v1/entries/{ref} on a request's entry lifted the block while the
    request still said authorised, with nothing in its history."""
    casework = await auth("casework")
    case_id = await _authorised(client, casework)
    before = _stored(client, case_id)
    body = {**README_ENTRY, "reference": case_id} if method == "PUT" else None
    for headers in (ADMIN_H, casework):
        resp = await client.request(method, f"/v1/entries/{case_id}", json=body, headers=headers)
        answer = await resp.json()
        assert resp.status == 409 and answer["error"] == "owned_by_request", answer
        assert answer["field"] == "reference" and answer["request"] == case_id
    assert _stored(client, case_id) == before
    resp = await client.get(f"/v1/requests/{case_id}", headers=casework)
    view = await resp.json()
    assert view["state"] == "authorised" and [h["action"] for h in view["history"]] == [
        "submit",
        "send",
        "authorise",
    ]


class RequestFirst(Writer):
    """A writer whose first write is overtaken: just before it reaches Redis, a request is created,
    sent and authorised (as on another gateway, or by another caseworker) under the reference the
    write names. This is the moment between a PUT's or DELETE's ownership check and its write."""

    def __init__(self, *args: Any, cases: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cases = cases
        self.request_id: str | None = None

    def apply(self, changes: Sequence[Change], **kwargs: Any) -> list[WriteResult]:
        if self.request_id is None:
            case = self.cases.create(make_request(), CASEWORKER)
            for action in (Action.SEND, Action.AUTHORISE):
                self.cases.act(case.id, action, CASEWORKER)
            self.request_id = case.id
        return super().apply(changes, **kwargs)


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_a_request_authorised_between_the_check_and_the_write_is_not_overwritten(
    client: Any, auth: TokenFactory, method: str
) -> None:
    """Reproduction (audit of issue 16, gap 3): the route checked the owner, then wrote. A request
    created and authorised in between under the same id had its block replaced (PUT) or lifted
    (DELETE), while it said authorised."""
    runtime = client.app[RUNTIME]
    runtime.writer = RequestFirst(
        runtime.store_sync,
        keys=runtime.settings.sync.keys,
        validate=functools.partial(check_entry, profile=runtime.profile),
        cases=runtime.cases.store,
    )
    reference = f"UPC-{YEAR}-000001"  # the id the first request gets
    body = {**README_ENTRY, "reference": reference} if method == "PUT" else None
    resp = await client.request(method, f"/v1/entries/{reference}", json=body, headers=ADMIN_H)
    answer = await resp.json()
    assert runtime.writer.request_id == reference
    assert resp.status == 409 and answer["error"] == "owned_by_request", answer
    assert answer["request"] == reference and "900123" not in str(answer) and "Jane" not in str(answer)
    stored = _stored(client, reference)
    assert stored is not None and stored["protected"][0]["phones"] == [PHONE]  # the request's block
    view = await (await client.get(f"/v1/requests/{reference}", headers=await auth("casework"))).json()
    assert view["state"] == "authorised"


async def test_entries_can_be_read_back_by_casework_and_admin_only(client: Any, auth: TokenFactory) -> None:
    """Reproduction: GET /v1/entries/{ref} was 405 and entries could not be listed."""
    casework = await auth("casework")
    case_id = await _authorised(client, casework)
    direct = "DIRECT-1"
    assert (await client.put(f"/v1/entries/{direct}", json=README_ENTRY, headers=ADMIN_H)).status == 200
    for headers in (ADMIN_H, casework):
        resp = await client.get(f"/v1/entries/{case_id}", headers=headers)
        body = await resp.json()
        assert resp.status == 200 and body["request"] == case_id
        assert body["entry"]["reference"] == case_id and PHONE in str(body["entry"])
        body = await (await client.get(f"/v1/entries/{direct}", headers=headers)).json()
        assert body["request"] is None and body["entry"]["protected"][0]["name"] == "Jane Smith"
    for role in ("security", "dialler", "mailroom"):
        headers = await auth(role, "HLI") if role != "casework" else casework
        assert (await client.get(f"/v1/entries/{direct}", headers=headers)).status == 403
        assert (await client.get("/v1/entries", headers=headers)).status == 403
    resp = await client.get("/v1/entries/NOPE-1", headers=casework)
    assert resp.status == 404 and (await resp.json())["field"] == "reference"

    seen: list[dict[str, Any]] = []
    cursor: str | None = "0"
    while cursor is not None:
        resp = await client.get(f"/v1/entries?limit=1&cursor={cursor}", headers=casework)
        page = await resp.json()
        assert resp.status == 200, page
        seen += page["entries"]
        cursor = page["next"]
    assert sorted(e["reference"] for e in seen) == sorted([case_id, direct])
    assert "900123" not in str(seen) and "Jane" not in str(seen)  # a listing holds no details
    [line] = [e for e in seen if e["reference"] == case_id]
    assert line["request"] == case_id and line["prisoner"] == "A1234BC" and line["identifiers"] == 3
    assert (await client.get("/v1/entries?limit=0", headers=casework)).status == 400


async def test_the_entries_command_lists_and_shows(
    client: Any, auth: TokenFactory, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    case_id = await _authorised(client, await auth("casework"))
    assert (await client.put("/v1/entries/DIRECT-1", json=README_ENTRY, headers=ADMIN_H)).status == 200
    assert main(["entries", "--redis-url", redis_url, "list"]) == 0
    out = capsys.readouterr().out
    assert (
        f"{case_id}\tA1234BC\tall\t1\t3\trequest {case_id}" in out
        and "DIRECT-1\tA1234BC\tall\t1\t1\tdirect" in out
    )
    assert main(["entries", "--redis-url", redis_url, "show", "DIRECT-1"]) == 0
    assert json.loads(capsys.readouterr().out)["entry"]["protected"][0]["phones"] == ["07700 900123"]
    assert main(["entries", "--redis-url", redis_url, "show", "NOPE"]) == 1
    with redis.Redis.from_url(redis_url) as r:
        assert r.hexists(Keys().entries, "DIRECT-1")
