"""The mailroom page in-process (aiohttp's test client, real Redis, the real OCR pool): where an
upload is screened, and the day's held letters."""

from __future__ import annotations

import dataclasses
import re
import threading
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis

from config import load_profile
from gateway.hitlog.model import Hit
from gateway.settings import GatewaySettings
from gateway.source import StaticSource
from gateway.ui.mailroom_held import today_starts
from gateway.ui.pages import zone
from gateway.ulid import new_ulid
from matcher.entries import Entry
from matcher.index import Index
from sync.keys import Keys
from tests.support.gateway_data import gateway_settings
from tests.support.hit_seed import write_hits
from tests.support.mailroom_site import BLOCKED, ENTRIES, scan
from tests.support.ui_site import csrf_of, signed_in_cookie

ZONE = "Asia/Kolkata"  # UTC+05:30 all year: its day never starts at UTC midnight


@pytest.fixture
def source() -> StaticSource:
    return StaticSource(Index.build([Entry.from_dict(e) for e in ENTRIES], load_profile(None), version=1))


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> GatewaySettings:
    return dataclasses.replace(gateway_settings(tmp_path, redis_url), timezone=ZONE)


async def upload(client: Any, cookie: dict[str, str], path: Path, prisoner: str = "") -> str:
    """The envelope posted through the page's form; the page answered."""
    form = aiohttp.FormData()
    form.add_field("csrf_token", await csrf_of(client, "/ui/mailroom", cookie))
    form.add_field("prisoner", prisoner)
    form.add_field("envelope", path.read_bytes(), filename=path.name, content_type="image/png")
    resp = await client.post("/ui/mailroom/scan", data=form, headers=cookie)
    text = await resp.text()
    assert resp.status == 200, text
    return str(text)


async def test_an_upload_is_screened_and_its_lines_marked_off_the_event_loop(
    client: Any, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    screen_mail = Index.screen_mail

    def recording(self: Index, *args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return screen_mail(self, *args, **kwargs)

    monkeypatch.setattr(Index, "screen_mail", recording)
    cookie = await signed_in_cookie(client, redis_url, "post-hli", "mailroom", "HLI")
    page = await upload(client, cookie, scan(tmp_path / "blocked.png", BLOCKED))
    assert "Do not send" in page and '<tr class="matched"><td>27 Meadow Lane</td>' in page
    assert len(threads) > 2 and set(threads) == {"nocontact-screening_0"}, threads


def held_rows(page: str) -> list[str]:
    """The rows of the page's "held today" table, as text."""
    table = page[page.index('<h2 id="held-title">') :]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in rows[1:]]


async def decide(client: Any, cookie: dict[str, str], held_id: str, action: str) -> str:
    form = {"csrf_token": await csrf_of(client, "/ui/mailroom", cookie), "action": action}
    resp = await client.post(f"/ui/mailroom/held/{held_id}", data=form, headers=cookie)
    text = await resp.text()
    assert resp.status == 200, text
    return str(text)


async def test_a_letter_held_as_unreadable_is_in_the_days_list_to_confirm(
    client: Any, redis_url: str, tmp_path: Path
) -> None:
    cookie = await signed_in_cookie(client, redis_url, "post-hli", "mailroom", "HLI")
    envelope = scan(tmp_path / "unreadable.png", ("Ms K Taylor", "By hand"), sender="none")
    page = await upload(client, cookie, envelope, prisoner="C3456DE")
    assert "Hold for a person" in page and "the address block cannot be read" in page
    (row,) = held_rows(page)
    assert "C3456DE" in row and "none: the address block cannot be read" in row and "Waiting" in row, row
    (held_id,) = re.findall(r'action="/ui/mailroom/held/([0-9A-Z]{26})"', page)
    page = await decide(client, cookie, held_id, "confirm")
    assert "the letter is withheld" in page
    (row,) = held_rows(page)
    assert "Confirmed attempt" in row and "Waiting" not in row, row
    with redis.Redis.from_url(redis_url) as r:  # kept with the sender and the reason, not the text
        (kept,) = [v for key in r.keys("nocontact:mailroom:held:*") for v in r.hvals(key)]
    assert b"Taylor" not in kept and b"hand" not in kept and b"C3456DE" in kept
    other = await signed_in_cookie(client, redis_url, "post-wdi", "mailroom", "WDI")
    assert held_rows(await (await client.get("/ui/mailroom", headers=other)).text()) == [
        "No letters held today."
    ]


async def test_held_today_is_the_configured_zones_day(client: Any, redis_url: str) -> None:
    starts = today_starts(zone(ZONE))
    held = [  # a hold at the zone's last ms of yesterday and one at the first of today
        Hit(
            new_ulid(at),
            at,
            "HLI",
            f"A000{n}BC",
            "mail",
            "hold",
            "UPC-2026-000102",
            "address",
            False,
            "gw",
            1,
            (("UPC-2026-000102", "address", "partial", False),),
        )
        for n, at in enumerate((starts - 1, starts))
    ]
    with redis.Redis.from_url(redis_url) as r:
        write_hits(r, Keys(), held)
    cookie = await signed_in_cookie(client, redis_url, "post-hli", "mailroom", "HLI")
    (row,) = held_rows(await (await client.get("/ui/mailroom", headers=cookie)).text())
    assert "A0001BC" in row, row
