"""The OpenAPI document describes exactly the registered /v1 routes (so it cannot drift)."""
from __future__ import annotations

import re


async def test_openapi_matches_routes(api_client) -> None:
    response = await api_client.get("/v1/openapi.json")
    assert response.status == 200
    doc = await response.json()
    assert doc["openapi"].startswith("3.1")
    documented = {(method.upper(), path) for path, ops in doc["paths"].items()
                  for method in ops if method in ("get", "post", "put", "patch", "delete")}
    registered = {(r.method, r.resource.canonical) for r in api_client.app.router.routes()
                  if r.resource is not None and r.resource.canonical.startswith("/v1") and r.method != "HEAD"}
    assert documented == registered


async def test_openapi_is_well_formed(api_client) -> None:
    doc = await (await api_client.get("/v1/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    text = str(doc)
    for name in re.findall(r"#/components/schemas/(\w+)", text):
        assert name in schemas, name
    for path, item in doc["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        declared = {p["name"] for p in item.get("parameters", []) if p["in"] == "path"}
        assert names == declared, path
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert operation["summary"] and operation["responses"], (method, path)
            if method in ("post", "patch") and "{token}" not in path and not path.endswith(("/publish", "/cancel")):
                assert "requestBody" in operation, (method, path)


async def test_openapi_validates_as_3_1(api_client) -> None:
    import pytest

    validator = pytest.importorskip("openapi_spec_validator")
    doc = await (await api_client.get("/v1/openapi.json")).json()
    validator.validate(doc)


def test_every_response_schema_is_closed_and_lists_what_is_always_sent() -> None:
    from api.openapi_schemas import SCHEMAS

    def objects(schema: object):
        if isinstance(schema, dict):
            if schema.get("type") == "object" and "properties" in schema:
                yield schema
            for value in schema.values():
                yield from objects(value)
        elif isinstance(schema, list):
            for value in schema:
                yield from objects(value)

    for name, schema in SCHEMAS.items():
        for found in objects(schema):
            assert found["additionalProperties"] is False, name
            if name != "Problem":
                assert set(found["required"]) == set(found["properties"]), name


def test_a_response_the_document_does_not_describe_fails_with_what_differs() -> None:
    import pytest

    from tests.openapi_check import ResponseMismatch, check

    me = b'{"id": "7d9d2f7e-8d1a-4b43-9d6a-3f3c3b0e4f10", "email": "a@b.c", "full_name": "A", "memberships": []}'
    check("GET", "/v1/me", 200, "application/json", me)
    with pytest.raises(ResponseMismatch, match="'memberships' is a required property"):
        check("GET", "/v1/me", 200, "application/json", b'{"id": "7d9d2f7e-8d1a-4b43-9d6a-3f3c3b0e4f10",'
              b' "email": "a@b.c", "full_name": "A"}')
    with pytest.raises(ResponseMismatch, match="'extra' was unexpected"):
        check("GET", "/v1/me", 200, "application/json", me[:-1] + b', "extra": 1}')
    with pytest.raises(ResponseMismatch, match="status not documented"):
        check("GET", "/v1/me", 409, "application/problem+json", b'{"type": "x", "title": "y", "status": 409}')
    with pytest.raises(ResponseMismatch, match="is not a 'uuid'"):
        check("GET", "/v1/me", 200, "application/json", me.replace(b"7d9d2f7e-8d1a", b"not-a-uuid"))
    check("GET", "/v1/not-documented", 500, "text/plain", b"")  # only documented routes are checked


async def test_a_request_line_too_long_to_read_is_a_documented_400(api_client, make_user) -> None:
    """aiohttp refuses it before routing (text/plain); the document says so for every operation."""
    user = await make_user()
    response = await api_client.get("/v1/events?q=" + "a" * 9000, headers=user.headers)
    assert response.status == 400 and response.content_type == "text/plain"  # checked against the document too
