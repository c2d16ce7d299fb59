"""Responses checked against the OpenAPI document: `check()` for one response, `watch(client)` for
every response of a test client's documented /v1 routes.

A response fails when its status is not documented for its operation, or when its JSON body (success
or problem) does not match the documented schema for that status (closed objects, required members,
enums, formats). Streams (Server-Sent Events, CSV) are checked for status and content type only.
"""
from __future__ import annotations

import functools
import json
import re
from typing import Any

import jsonschema
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from api.openapi import document

JSON_TYPES = ("application/json", "application/problem+json")


class ResponseMismatch(AssertionError):
    """A response that the OpenAPI document does not describe."""


@functools.cache
def _doc() -> dict[str, Any]:
    return document()


@functools.cache
def _routes() -> list[tuple[re.Pattern[str], str]]:
    """Documented paths as regexes, most literal first (so `/v1/me/live` wins over a template)."""
    paths = sorted(_doc()["paths"], key=lambda p: -len(re.sub(r"{\w+}", "", p)))
    return [(re.compile("^" + "".join("[^/]+" if part.startswith("{") else re.escape(part)
                                      for part in re.split(r"({\w+})", p)) + "$"), p) for p in paths]


def operation(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """The documented path template and operation for a concrete request, or None if undocumented."""
    for pattern, template in _routes():
        if pattern.match(path):
            op = _doc()["paths"][template].get(method.lower())
            return (template, op) if op is not None else None
    return None


@functools.cache
def _validator(template: str, method: str, status: str, media: str) -> jsonschema.Draft202012Validator:
    schema = _doc()["paths"][template][method]["responses"][status]["content"][media]["schema"]
    root = {**schema, "components": _doc()["components"]}
    return jsonschema.Draft202012Validator(root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def check(method: str, path: str, status: int, content_type: str, body: bytes | None) -> None:
    """Raise ResponseMismatch unless the response is what the document says `method path` answers
    with `status`. Requests to undocumented routes or methods are not checked."""
    found = operation(method, path)
    if found is None:
        return
    template, op = found
    where = f"{method.upper()} {path} ({template}) answered {status}"
    described = op["responses"].get(str(status))
    if described is None:
        raise ResponseMismatch(f"{where}: status not documented (documented: {', '.join(op['responses'])})"
                               f"\nbody: {(body or b'')[:500]!r}")
    content = described.get("content", {})
    if not content:
        return
    if content_type not in content:
        raise ResponseMismatch(f"{where} as {content_type!r}; documented: {', '.join(content)}")
    if content_type not in JSON_TYPES or body is None:
        return
    data = json.loads(body)
    errors = sorted(_validator(template, method.lower(), str(status), content_type).iter_errors(data),
                    key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  at /{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors[:10]]
        raise ResponseMismatch(f"{where}: body does not match its schema:\n" + "\n".join(lines)
                               + f"\nbody: {body[:1000]!r}")


def watch(client: TestClient) -> None:
    """Check every response `client` gets from a documented /v1 route (JSON bodies read here; the
    test can still read them)."""
    send = client._request

    async def request(method: str, path: Any, **kwargs: Any) -> ClientResponse:
        response = await send(method, path, **kwargs)
        url_path = response.url.path
        if url_path.startswith("/v1/") and method.upper() != "HEAD":
            body = await response.read() if response.content_type in JSON_TYPES else None
            check(method, url_path, response.status, response.content_type, body)
        return response

    client._request = request  # type: ignore[method-assign]
