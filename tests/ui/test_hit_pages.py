"""Issue 20's reproductions on the hit pages, in-process against a real redis-server: search by
prisoner, links, totals and paging, local-time date filters, the relay rule, the review trail,
escalation and bulk review, charts, and the CSV's integrity check (``nocontact hits verify``)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import pytest
import redis

from gateway import hits_read
from gateway.cli import main
from gateway.hitlog.model import Hit
from gateway.ui import charts, export, hitviews
from gateway.ulid import new_ulid
from sync.keys import Keys
from tests.support.hit_seed import write_hits
from tests.support.ui_site import csrf_of, signed_in_cookie

LONDON_JULY_1 = int(dt.datetime(2026, 6, 30, 23, 0, tzinfo=dt.UTC).timestamp() * 1000)  # 00:00 BST


def _hit(
    t: int,
    prisoner: str,
    reference: str = "UPC-1",
    *,
    establishment: str = "HLI",
    channel: str = "call",
    matches: tuple[tuple[str, str, str, bool], ...] | None = None,
) -> Hit:
    kind = {"call": "phone", "mail": "address", "message": "email"}[channel]
    matches = matches or ((reference, kind, "strong", prisoner != "A1234BC"),)
    decision = "block" if matches[0][2] == "strong" else "hold"
    return Hit(new_ulid(t), t, establishment, prisoner, channel, decision, matches[0][0], matches[0][1],
               matches[0][3], "gw", 1, matches)  # fmt: skip


def _ship(redis_url: str, hits: list[Hit]) -> None:
    with redis.Redis.from_url(redis_url) as r:
        write_hits(r, Keys(), sorted(hits, key=lambda h: h.time))


def _prisoners(text: str) -> list[str]:
    body = text.split("<tbody>", 1)[1].split("</tbody>", maxsplit=1)[0]
    return re.findall(r'href="/ui/prisoners/([A-Z0-9]+)">', body)


async def test_the_queue_searches_by_prisoner_links_and_counts(client: Any, redis_url: str) -> None:
    now = dt.datetime.now(dt.UTC).timestamp() * 1000
    hits = [_hit(int(now) - i * 60_000, ("A1234BC", "B2345CD", "C3456DE")[i % 3]) for i in range(120)]
    _ship(redis_url, hits)
    cookie = await signed_in_cookie(client, redis_url, "sec", "security", "HLI")
    page = await client.get("/ui/hits?prisoner=b2345cd", headers=cookie)
    text = await page.text()
    assert page.status == 200
    assert set(_prisoners(text)) == {"B2345CD"}  # the prisoner field is not ignored
    assert re.search(r"<strong>40</strong> hits match; showing 1&ndash;40 \(page 1 of 1\)", text)
    assert "<strong>40</strong> not reviewed" in text
    assert 'href="/ui/hits?reference=UPC-1"' in text  # the reference links to its filtered view
    assert "<td>phone</td>" in text and "<td>strong</td>" in text  # kind and strength on the queue
    everything = await (await client.get("/ui/hits", headers=cookie)).text()
    assert "page 1 of 3" in everything
    oldest = re.search(r'<a href="([^"]+)">Oldest</a>', everything)
    assert oldest is not None
    last = await (await client.get(oldest.group(1).replace("&amp;", "&"), headers=cookie)).text()
    assert "showing 101&ndash;120 (page 3 of 3)" in last
    person = await (await client.get("/ui/prisoners/B2345CD", headers=cookie)).text()
    assert "Everything B2345CD tried" in person and "<strong>40</strong> hits" in person and "UPC-1" in person


async def test_dates_are_local_days_and_times_show_the_offset(client: Any, redis_url: str) -> None:
    before_midnight = _hit(LONDON_JULY_1 - 30 * 60_000, "A1234BC")  # 30 June, 23:30 BST
    after_midnight = _hit(LONDON_JULY_1 + 30 * 60_000, "A1234BC")  # 1 July, 00:30 BST (23:30 UTC)
    _ship(redis_url, [before_midnight, after_midnight])
    cookie = await signed_in_cookie(client, redis_url, "sec", "security", "HLI")
    text = await (await client.get("/ui/hits?since=2026-07-01&until=2026-07-01", headers=cookie)).text()
    assert after_midnight.id in text and before_midnight.id not in text
    assert "2026-07-01 00:30:00 BST (UTC+01:00)" in text
    jumped = await (await client.get("/ui/hits?jump=2026-06-30", headers=cookie)).text()
    assert before_midnight.id in jumped and after_midnight.id not in jumped


async def test_relay_counts_strong_matches_only_and_names_its_rule(client: Any, redis_url: str) -> None:
    now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    neighbour = (("UPC-OTHER", "address", "strong", False), ("UPC-2", "address", "partial", True))
    hits = [
        _hit(now - 1000, "A1234BC", "UPC-1"),
        _hit(now - 2000, "B2345CD", "UPC-1"),
        _hit(now - 3000, "A1234BC", "UPC-2"),  # the named prisoner writes to 2 Acacia Avenue
        _hit(now - 4000, "E5678FG", channel="mail", matches=neighbour),  # a letter to 1 Acacia Avenue
        _hit(now - 40 * 86_400_000, "F6789GH", "UPC-3"),  # two prisoners on UPC-3, 40 days ago
        _hit(now - 41 * 86_400_000, "G7890HJ", "UPC-3"),
    ]
    _ship(redis_url, hits)
    cookie = await signed_in_cookie(client, redis_url, "sec", "security", "HLI")
    text = await (await client.get("/ui/relay", headers=cookie)).text()
    assert "Partial and weak matches" in text and "The last 30 days" in text
    assert "UPC-1: 2 prisoners, 2 hits" in text
    assert "UPC-2:" not in text and "E5678FG" not in text  # the neighbour's letter is no relay
    assert "UPC-3" not in text  # outside the default 30 days
    since = (dt.date.today() - dt.timedelta(days=60)).isoformat()
    older = await (await client.get(f"/ui/relay?since={since}", headers=cookie)).text()
    assert "UPC-3: 2 prisoners, 2 hits" in older
    assert re.search(r"<strong>2</strong> requests tried by two or more prisoners", older)


async def test_a_partial_match_is_no_attempt_on_the_hit_page_or_behind_the_relay_link(
    client: Any, redis_url: str
) -> None:
    """The neighbour's letter (strong on its own request, partial on UPC-2) is not another prisoner
    trying UPC-2 on the hit page, nor one of UPC-2's strong hits in the queue the relay page links."""
    now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    neighbour = (("UPC-OTHER", "address", "strong", False), ("UPC-2", "address", "partial", True))
    hits = [
        _hit(now - 1000, "A1234BC", "UPC-2"),  # the named prisoner writes to 2 Acacia Avenue
        _hit(now - 2000, "E5678FG", channel="mail", matches=neighbour),  # a letter to 1 Acacia Avenue
        _hit(now - 3000, "B2345CD", "UPC-2"),
        _hit(now - 4000, "C3456DE", "UPC-2"),
    ]
    _ship(redis_url, hits)
    cookie = await signed_in_cookie(client, redis_url, "sec", "security", "HLI")
    page = await (await client.get(f"/ui/hits/{hits[0].id}", headers=cookie)).text()
    others = re.search(r"Other prisoners have tried this request:</strong> ([^<.]*)\.", page)
    assert others is not None and others.group(1) == "B2345CD, C3456DE"
    relay = await (await client.get("/ui/relay", headers=cookie)).text()
    assert "UPC-2: 3 prisoners, 3 hits" in relay
    link = re.search(r'<a href="([^"]+)">See these hits in the queue</a>', relay)
    assert link is not None
    queue = await (await client.get(link.group(1).replace("&amp;", "&"), headers=cookie)).text()
    assert sorted(_prisoners(queue)) == ["A1234BC", "B2345CD", "C3456DE"]
    assert "<strong>3</strong> hits match" in queue


async def test_reviews_keep_their_trail_prefill_the_form_escalate_to_an_owner_and_go_in_bulk(
    client: Any, redis_url: str
) -> None:
    now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    hits = [_hit(now - i * 1000, "B2345CD") for i in range(3)]
    _ship(redis_url, hits)
    cookie = await signed_in_cookie(client, redis_url, "sec", "security", "HLI")
    lead = await signed_in_cookie(client, redis_url, "lead", "security", "HLI")
    url = f"/ui/hits/{hits[0].id}"
    token = await csrf_of(client, url, cookie)
    form = {"csrf_token": token, "outcome": "false_positive", "note": "a taxi firm", "action": "review"}
    assert (
        await client.post(f"{url}/review", data=form, headers=cookie, allow_redirects=False)
    ).status == 303
    page = await (await client.get(url, headers=cookie)).text()
    assert '<option value="false_positive" selected>' in page  # prefilled: not "Confirmed attempt"
    assert ">a taxi firm</textarea>" in page
    assert "B2345CD" in re.search(r"<h1>(.*?)</h1>", page, re.S).group(1)  # type: ignore[union-attr]
    form = {"csrf_token": token, "outcome": "confirmed", "note": "police: it was her", "action": "review"}
    await client.post(f"{url}/review", data=form, headers=cookie, allow_redirects=False)
    form = {
        "csrf_token": token,
        "note": "for the police liaison",
        "escalate_to": "lead",
        "action": "escalate",
    }
    await client.post(f"{url}/review", data=form, headers=cookie, allow_redirects=False)
    page = await (await client.get(url, headers=cookie)).text()
    trail = page.split('class="trail"')[1].split("</table>")[0]
    assert trail.count("<tr><td>") == 3 and "a taxi firm" in trail and "police: it was her" in trail
    mine = await (await client.get("/ui/hits?escalated=me", headers=lead)).text()
    assert hits[0].id in mine and hits[1].id not in mine
    bulk = {"csrf_token": await csrf_of(client, "/ui/hits", cookie), "outcome": "no_action",
            "note": "same call", "back": "/ui/hits"}  # fmt: skip
    data = [*bulk.items(), ("hit", hits[1].id), ("hit", hits[2].id)]
    done = await client.post("/ui/hits/bulk-review", data=data, headers=cookie, allow_redirects=False)
    assert done.status == 303
    left = await (await client.get("/ui/hits?reviewed=no", headers=cookie)).text()
    assert "<strong>0</strong> hits match" in left


async def test_an_escalation_goes_to_a_real_account_in_one_form_from_the_api_and_the_page(
    client: Any, redis_url: str, auth: Any
) -> None:
    now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    hits = [_hit(now - i * 1000, "B2345CD") for i in range(3)]
    _ship(redis_url, hits)
    cookie = await signed_in_cookie(client, redis_url, "sec", "security", "HLI")
    lead = await signed_in_cookie(client, redis_url, "lead", "security", "HLI")
    await signed_in_cookie(client, redis_url, "casey", "casework")
    await signed_in_cookie(client, redis_url, "far", "security", "WDI")
    security = await auth("security", "HLI")
    url = f"/v1/hits/{hits[0].id}/review"
    done = await client.post(
        url, json={"outcome": "escalated", "note": "police", "escalated_to": "lead"}, headers=security
    )
    assert done.status == 200 and (await done.json())["review"]["escalated_to"] == "user:lead"
    mine = await (await client.get("/ui/hits?escalated=me", headers=lead)).text()
    assert hits[0].id in mine  # an API escalation is in the owner's "escalated to me"
    for owner, why in (
        ("nobody", "no account"),
        ("casey", "casework"),
        ("far", "WDI"),
        ("Not a name!", "user name"),
        (None, "owner"),
    ):
        body = {"outcome": "escalated", "note": "police", **({"escalated_to": owner} if owner else {})}
        refused = await client.post(f"/v1/hits/{hits[1].id}/review", json=body, headers=security)
        answer = await refused.json()
        assert refused.status == 400 and answer["field"] == "escalated_to", answer
        assert why in answer["detail"], answer
    token = await csrf_of(client, f"/ui/hits/{hits[1].id}", cookie)
    for owner, why in (("nobody", "no account"), ("casey", "casework"), ("far", "WDI")):
        form = {"csrf_token": token, "note": "police", "escalate_to": owner, "action": "escalate"}
        page = await client.post(f"/ui/hits/{hits[1].id}/review", data=form, headers=cookie)
        assert page.status == 400 and why in await page.text() and "Escalate to" in await page.text()
    form = {"csrf_token": token, "note": "police", "escalate_to": "lead", "action": "escalate"}
    page = await client.post(
        f"/ui/hits/{hits[1].id}/review", data=form, headers=cookie, allow_redirects=False
    )
    assert page.status == 303
    trail = (await (await client.get(f"/v1/hits/{hits[1].id}", headers=security)).json())["reviews"]
    assert [r["escalated_to"] for r in trail] == ["user:lead"]  # the refused ones left nothing
    mine = await (await client.get("/ui/hits?escalated=me", headers=lead)).text()
    assert hits[0].id in mine and hits[1].id in mine and hits[2].id not in mine


async def test_charts_show_one_prison_without_a_place_chart_with_a_real_axis_and_tops(
    client: Any, redis_url: str
) -> None:
    now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    _ship(redis_url, [_hit(now - i * 60_000, f"A{i % 4:04d}BC", f"UPC-{i % 3}") for i in range(37)])
    cookie = await signed_in_cookie(client, redis_url, "sec", "security", "HLI")
    text = await (await client.get("/ui/charts", headers=cookie)).text()
    assert "Hits per establishment" not in text  # one prison: no one-bar chart
    assert "Top prisoners" in text and "Top requests" in text and 'href="/ui/prisoners/A0000BC"' in text
    ticks = re.findall(r'class="axis">(\d+)</text>', text)
    assert len(ticks) >= 3  # more than 0 and the maximum
    admin = await signed_in_cookie(client, redis_url, "root", "admin")
    _ship(redis_url, [_hit(now, "A1234BC", establishment="WDI")])
    assert "Hits per establishment" in await (await client.get("/ui/charts", headers=admin)).text()


async def test_the_csv_has_strength_local_and_utc_times_and_a_verifiable_sha256(
    client: Any, redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ship(redis_url, [_hit(LONDON_JULY_1 + 60_000, "A1234BC")])
    cookie = await signed_in_cookie(client, redis_url, "sec", "security", "HLI")
    export = await client.get("/ui/hits.csv", headers=cookie)
    body = await export.read()
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0][0] == "# sha256" and len(rows[0][1]) == 64
    record = dict(zip(rows[6], rows[7], strict=True))
    assert record["strength"] == "strong"
    assert record["time_local"] == "2026-07-01 00:01:00 BST (UTC+01:00)"
    assert record["time_utc"] == "2026-06-30T23:01:00.000Z"
    path = tmp_path / "export.csv"
    path.write_bytes(body)
    assert main(["hits", "verify", str(path)]) == 0
    path.write_bytes(body.replace(b"A1234BC", b"A1234BD"))
    assert main(["hits", "verify", str(path)]) == 1
    assert "ALTERED" in capsys.readouterr().out


async def test_the_hit_pages_render_and_build_their_rows_charts_and_csv_off_the_event_loop(
    client: Any, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop that answers screening calls renders none of the hit pages' templates and builds
    none of their rows, relay groups, charts or CSV (bench_hitpages: call p99 while pages render)."""
    now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    hits = [_hit(now - i * 60_000, ("A1234BC", "B2345CD")[i % 2], f"UPC-{i % 3}") for i in range(30)]
    _ship(redis_url, hits)
    cookie = await signed_in_cookie(client, redis_url, "sec", "security", "HLI")
    ran: list[tuple[str, int]] = []

    def spy(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def spied(*args: Any, **kwargs: Any) -> Any:
            label = f"{name}:{args[0].name}" if name == "template" else name
            ran.append((label, threading.get_ident()))
            return fn(*args, **kwargs)

        return spied

    monkeypatch.setattr(jinja2.Template, "render", spy("template", jinja2.Template.render))
    monkeypatch.setattr(export, "hits_csv", spy("csv", export.hits_csv))
    monkeypatch.setattr(charts, "per_day_svg", spy("chart", charts.per_day_svg))
    monkeypatch.setattr(hitviews, "format_ms", spy("relay times", hitviews.format_ms))
    monkeypatch.setattr(hits_read, "row_of", spy("rows", hits_read.row_of))
    loop_thread = threading.get_ident()
    for path in (
        "/ui/hits",
        f"/ui/hits/{hits[0].id}",
        "/ui/prisoners/A1234BC",
        "/ui/relay",
        "/ui/charts",
        "/ui/hits.csv",
    ):
        assert (await client.get(path, headers=cookie)).status == 200, path
    names = {name for name, _ in ran}
    for template in ("hits", "hit", "prisoner", "relay", "charts"):
        assert f"template:{template}.html" in names
    assert {"csv", "chart", "relay times", "rows"} <= names
    assert sorted({name for name, thread in ran if thread == loop_thread}) == []
