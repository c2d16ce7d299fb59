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
