"""Issue 16 item 10's reproductions: the served OpenAPI document was looser than the server (empty
strings, id and reference patterns, scope, prison numbers and establishment codes), said
`establishment: null` was not allowed where the server took it, and left 413 and 408 out. Each
request below is judged by the document's schema and by the server, and the two must agree."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from config import load_profile
from gateway.app import create_app
from gateway.source import StaticSource
from tests.support.case_data import request_data
from tests.support.gateway_data import ADMIN, TokenFactory, build_index, gateway_settings

ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}
HIT = "0" + "1" * 25  # a ULID no hit has
ENTRY = {"prisoner": "A1234BC", "protected": [{"name": "Jane Smith", "phones": ["07700 900777"]}]}


async def _doc(client: Any) -> dict[str, Any]:
    return dict(await (await client.get("/v1/openapi.json")).json())


def _body_schema(doc: dict[str, Any], path: str, method: str) -> Any:
    schema = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    # resolve the document's own references against it
    return jsonschema_rs.validator_for({**schema, "components": doc["components"]})


@pytest.mark.parametrize(
    ("path", "body", "accepted"),
    [
        ("/v1/tokens", {"role": "admin", "establishment": None}, True),
        ("/v1/tokens", {"role": "dialler", "establishment": "HLI"}, True),
        ("/v1/screen/call", {"establishment": "HLI", "prisoner": "A1234BC", "number": ""}, False),
        ("/v1/screen/call", {"establishment": "HLI", "prisoner": "A1234BC", "number": "   "}, False),
        ("/v1/screen/message", {"establishment": "HLI", "prisoner": "A1234BC", "to": ""}, False),
        (
            "/v1/screen/message",
            {"establishment": "HLI", "prisoner": "A1234BC", "to": "a@example.com", "content": ""},
            False,
        ),
        (
            "/v1/screen/mail",
            {"establishment": "HLI", "prisoner": None, "envelope": "x", "content": ""},
            False,
        ),
        # null where the server takes null for "not given" (schemathesis' coverage phase)
        (
            "/v1/screen/mail",
            {"establishment": "HLI", "prisoner": "A1234BC", "envelope": "", "content": None},
            True,
        ),
        (
            "/v1/screen/message",
            {"establishment": "HLI", "prisoner": "A1234BC", "to": "a@example.com", "content": None},
            True,
        ),
        (
            "/v1/screen/contact",
            {
                "establishment": "HLI",
                "prisoner": "A1234BC",
                "contact": {"id": "c1", "name": "A", "relationship": None},
            },
            True,
        ),
        # prison numbers of the profile's pattern (A1234BC), codes of the registry
        ("/v1/screen/call", {"establishment": "HLI", "prisoner": "bob", "number": "07700 900999"}, False),
        (
            "/v1/screen/call",
            {"establishment": "HLI", "prisoner": "A12345BC", "number": "07700 900999"},
            False,
        ),
        ("/v1/screen/call", {"establishment": "XYZ", "prisoner": "A1234BC", "number": "07700 900999"}, False),
        ("/v1/screen/call", {"establishment": "WDI", "prisoner": "Z9999ZZ", "number": "07700 900999"}, True),
        ("/v1/screen/message", {"establishment": "HLI", "prisoner": "1234567", "to": "a@example.com"}, False),
        ("/v1/screen/mail", {"establishment": "HLJ", "prisoner": None, "envelope": "x"}, False),
        ("/v1/tokens", {"role": "dialler", "establishment": "XYZ"}, False),
        (
            "/v1/screen/contact",
            {"establishment": "HLI", "prisoner": "bob", "contact": {"id": "c1", "name": "A"}},
            False,
        ),
        (
            "/v1/screen/contact",
            {"establishment": "HLI", "prisoner": "A1234BC", "contact": {"id": "c1", "name": "A"}},
            True,
        ),
    ],
)
async def test_the_document_and_the_server_agree_on_these_bodies(
    client: Any, path: str, body: dict[str, Any], accepted: bool
) -> None:
    validator = _body_schema(await _doc(client), path, "post")
    assert validator.is_valid(body) is accepted
    resp = await client.post(path, json=body, headers=ADMIN_H)
    assert (resp.status < 400) is accepted, await resp.text()


async def test_path_patterns_say_what_the_server_takes(client: Any, auth: TokenFactory) -> None:
    doc = await _doc(client)
    casework = await auth("casework")

    def pattern_of(path: str, method: str, name: str) -> Any:
        item = doc["paths"][path]
        params = item[method].get("parameters", []) + item.get("parameters", [])
        [param] = [p for p in params if p["name"] == name]
        return jsonschema_rs.validator_for(param["schema"])

    case_id = pattern_of("/v1/requests/{id}", "get", "id")
    assert case_id.is_valid("UPC-2026-000123") and not case_id.is_valid("nonsense")
    assert (await client.get("/v1/requests/nonsense", headers=casework)).status == 400
    reference = pattern_of("/v1/entries/{reference}", "put", "reference")
    assert reference.is_valid("UPC-1") and not reference.is_valid("-bad ref")
    resp = await client.put(
        "/v1/entries/-bad%20ref", json={**ENTRY, "reference": "-bad ref"}, headers=ADMIN_H
    )
    assert resp.status == 400
    entry = _body_schema(doc, "/v1/entries/{reference}", "put")
    assert not entry.is_valid({**ENTRY, "reference": "UPC-1", "scope": [""]})
    assert not entry.is_valid({**ENTRY, "reference": "UPC-1", "scope": []})
    resp = await client.put("/v1/entries/UPC-1", json={**ENTRY, "scope": []}, headers=ADMIN_H)
    assert resp.status == 400
    intake = _body_schema(doc, "/v1/requests", "post")
    assert not intake.is_valid(request_data(scope=["not a code"]))


async def test_every_action_route_documents_413_and_answers_it(client: Any, auth: TokenFactory) -> None:
    doc = await _doc(client)
    for path, item in doc["paths"].items():
        if path.startswith("/v1/requests/{id}") and "post" in item:
            assert "413" in item["post"]["responses"], path
    casework = await auth("casework")
    created = await (await client.post("/v1/requests", json=request_data(), headers=casework)).json()
    resp = await client.post(
        f"/v1/requests/{created['id']}/withdraw", json={"reason": "x" * 9000}, headers=casework
    )
    assert resp.status == 413 and (await resp.json())["error"] == "body_too_large"


async def test_entries_and_requests_take_registered_codes_and_prison_numbers_only(
    client: Any, auth: TokenFactory
) -> None:
    doc = await _doc(client)
    casework = await auth("casework")
    entry = _body_schema(doc, "/v1/entries/{reference}", "put")
    for bad in ({"prisoner": "bob"}, {"scope": ["XYZ"]}):
        body = {**ENTRY, "reference": "UPC-7", **bad}
        assert not entry.is_valid(body), bad
        assert (await client.put("/v1/entries/UPC-7", json=body, headers=ADMIN_H)).status == 400
    assert entry.is_valid({**ENTRY, "reference": "UPC-7", "scope": ["WDI"]})
    exemption = {"prisoner": "bob", "identifier": "07700 900777", "reason": "her son"}
    assert not entry.is_valid({**ENTRY, "reference": "UPC-7", "exemptions": [exemption]})
    intake = _body_schema(doc, "/v1/requests", "post")
    assert intake.is_valid(request_data())
    for prisoner in (
        {"number": "bob", "establishment": "HLI"},
        {"number": "A1234BC", "establishment": "XYZ"},
    ):
        body = request_data(prisoner=prisoner)
        assert not intake.is_valid(body), prisoner
        assert (await client.post("/v1/requests", json=body, headers=casework)).status == 400
    action = _body_schema(doc, "/v1/requests/{id}/{action}", "post")
    assert not action.is_valid({"establishment": "XYZ"}) and not action.is_valid({"prisoner_number": "b"})
    assert action.is_valid({"establishment": "WDI", "prisoner_number": "A1234BC"})


async def test_the_document_names_the_deployments_registry_and_pattern(
    aiohttp_client: Any, tmp_path: Path, redis_url: str
) -> None:
    """The registry and the pattern are the deployment's (profile plus deployment file), so the
    served document is built from the profile the gateway loaded."""
    site = tmp_path / "site.toml"
    site.write_text(
        "[establishments.ZZI]\nname = 'HMP Example'\n[prisoners]\npattern = '[0-9]{6}'\nexample = '123456'\n"
    )
    profile = load_profile(site, environ={})
    app = create_app(
        gateway_settings(tmp_path, redis_url), source=StaticSource(build_index()), profile=profile
    )
    client = await aiohttp_client(app)
    call = _body_schema(await _doc(client), "/v1/screen/call", "post")
    assert call.is_valid({"establishment": "ZZI", "prisoner": "123456", "number": "07700 900999"})
    assert not call.is_valid({"establishment": "ZZI", "prisoner": "A1234BC", "number": "07700 900999"})
    body = {"establishment": "ZZI", "prisoner": "123456", "number": "07700 900999"}
    assert (await client.post("/v1/screen/call", json=body, headers=ADMIN_H)).status == 200


def _operations_with_a_body(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method, path)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "requestBody" in operation
    ]


async def test_every_operation_with_a_body_documents_413_and_408(client: Any) -> None:
    doc = await _doc(client)
    found = _operations_with_a_body(doc)
    assert len(found) >= 15, found
    for method, path in found:
        responses = doc["paths"][path][method]["responses"]
        assert {"408", "413"} <= responses.keys(), (method, path)


@pytest.mark.parametrize(
    ("method", "path", "role", "body"),
    [
        ("POST", "/v1/tokens", "admin", {"role": "dialler", "establishment": "HLI", "x": "y" * 9000}),
        ("PUT", "/v1/contacts/HLI/A1234BC", "admin", {"contacts": [], "x": "y" * 1_100_000}),
        ("POST", "/v1/screen/contact", "admin", {"establishment": "HLI", "x": "y" * 300_000}),
        ("POST", "/v1/contact-tasks/ct_1/removed", "admin", {"reason": "y" * 9000}),
        ("POST", "/v1/contact-tasks/ct_1/kept", "admin", {"reason": "y" * 9000}),
        ("POST", f"/v1/hits/{HIT}/review", "admin", {"outcome": "y" * 9000}),
    ],
)
async def test_the_routes_that_did_not_document_413_answer_it(
    client: Any, auth: TokenFactory, method: str, path: str, role: str, body: dict[str, Any]
) -> None:
    """Reproduction: POST /v1/tokens and the contacts routes with bodies answered 413 with no 413
    in the document."""
    doc = await _doc(client)
    template = next(p for p in doc["paths"] if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", p), path))
    assert "413" in doc["paths"][template][method.lower()]["responses"], template
    headers = {**await auth(role), "Content-Type": "application/json"}
    resp = await client.request(method, path, data=io.BytesIO(json.dumps(body).encode()), headers=headers)
    assert resp.status == 413, await resp.text()
    assert (await resp.json())["error"] == "body_too_large"


@pytest.fixture
def slow_settings(tmp_path: Path, redis_url: str) -> Any:
    return dataclasses.replace(gateway_settings(tmp_path, redis_url), body_timeout=0.3)


async def test_every_operation_with_a_body_answers_408_to_a_body_too_slow(
    aiohttp_client: Any, slow_settings: Any
) -> None:
    """Reproduction: a body slower than ``body_timeout`` is answered 408 `body_timeout` (fd65a28),
    which the document named nowhere. Each operation with a body gets a head and part of its body,
    and no more; every one answers 408 and its document says it can."""
    client = await aiohttp_client(create_app(slow_settings, source=StaticSource(build_index())))
    doc = await _doc(client)
    casework = await _token(client, "casework")
    created = await (await client.post("/v1/requests", json=request_data(), headers=casework)).json()
    values = {
        "id": created["id"],
        "action": "withdraw",
        "exemption": "EX1",
        "reference": "UPC-9",
        "establishment": "HLI",
        "prisoner": "A1234BC",
    }

    async def drip(method: str, template: str) -> bytes:
        path = re.sub(r"\{([^}]+)\}", lambda m: values[m.group(1)], template)
        if template.startswith("/v1/contact-tasks/"):
            path = path.replace(created["id"], "ct_1")
        if template.startswith("/v1/hits/"):
            path = path.replace(created["id"], HIT)
        token = casework["Authorization"] if template.startswith("/v1/requests") else f"Bearer {ADMIN}"
        reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
        head = (
            f"{method.upper()} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {token}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        writer.write(head.encode())
        answer = await reader.readuntil(b"\r\n\r\n")  # not to the end: the server lingers 10 s
        length = re.search(rb"Content-Length: ([0-9]+)", answer)
        answer += await reader.readexactly(int(length.group(1)) if length else 0)
        writer.close()
        return answer

    operations = _operations_with_a_body(doc)
    answers = await asyncio.gather(*(drip(method, path) for method, path in operations))
    for (method, path), answer in zip(operations, answers, strict=True):
        assert answer.startswith(b"HTTP/1.1 408 "), (method, path, answer[:300])
        assert b'"error":"body_timeout"' in answer
        assert "408" in doc["paths"][path][method]["responses"], (method, path)


async def _token(client: Any, role: str) -> dict[str, str]:
    resp = await client.post("/v1/tokens", json={"role": role}, headers=ADMIN_H)
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}


async def test_a_path_that_takes_no_post_does_not_advertise_it(client: Any, auth: TokenFactory) -> None:
    """Reproduction (schemathesis' allow_header_conformance): `/v1/requests/{id}/{action}` took
    any last segment, so `OPTIONS /v1/requests/{id}/live` answered `Allow: GET,HEAD,POST`."""
    casework = await auth("casework")
    created = await (await client.post("/v1/requests", json=request_data(), headers=casework)).json()
    for path in ("live", "notice"):
        resp = await client.options(f"/v1/requests/{created['id']}/{path}", headers=casework)
        assert resp.status == 405 and resp.headers["Allow"] == "GET,HEAD", path
    resp = await client.post(
        f"/v1/requests/{created['id']}/withdraw", json={"reason": "made twice"}, headers=casework
    )
    assert resp.status == 200, await resp.text()
