"""RFC 9457 problem responses: the one helper every error goes through."""
from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import web

from .responses import dumps

PROBLEM_TYPE = "application/problem+json"


def problem(status: int, detail: str | None = None, *, title: str | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> web.Response:
    """An `application/problem+json` response; `extra` members (e.g. `field`) are added to the body."""
    try:
        default_title = HTTPStatus(status).phrase
    except ValueError:
        default_title = "Error"
    body: dict[str, Any] = {"type": "about:blank", "title": title or default_title, "status": status}
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    return web.json_response(body, status=status, content_type=PROBLEM_TYPE, headers=headers, dumps=dumps)
