"""Issue 16 item 10's reproductions: the served OpenAPI document was looser than the server (empty
strings, id and reference patterns, scope), said `establishment: null` was not allowed where the
server took it, and left 413 out on the action routes. Each request below is judged by the
document's schema and by the server, and the two must agree."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from tests.support.case_data import request_data
from tests.support.gateway_data import ADMIN, TokenFactory

ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}
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
