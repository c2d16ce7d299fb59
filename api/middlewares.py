"""Request middlewares, outermost first: access log with request id -> problem+json for every error
(domain errors, aiohttp's 404/405/413) -> per-address limit -> auth -> per-user limits (ratelimit.py)."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from prometheus_client import Histogram

from happening_engine.errors import DomainError
from happening_engine.ids import new_id

from . import keys
from .auth import authenticate
from .problems import problem
from .ratelimit import address_limit, user_limit

log = structlog.get_logger("api.access")
REQUESTS = Histogram("happening_http_request_seconds", "HTTP requests by method, route and status",
                     ["method", "route", "status"],
                     buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC_PATHS = frozenset({"/v1/auth/config", "/v1/openapi.json"})
_MAX_REQUEST_ID = 128
CLIENT_CLOSED = 499  # nginx's status for a request its client abandoned; logged and counted as such


def _request_id(request: web.Request) -> str:
    given = request.headers.get("X-Request-ID", "")
    if given and len(given) <= _MAX_REQUEST_ID and given.isprintable():
        return given
    return new_id()


@web.middleware
async def access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind request_id (and later user_id) to structlog contextvars; one line per request."""
    started = time.perf_counter()
    request_id = _request_id(request)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    for name, key in (("event", "event_id"), ("booking", "booking_id"), ("org", "org_id")):
        if name in request.match_info:  # every line of this request names what it is about
            structlog.contextvars.bind_contextvars(**{key: request.match_info[name]})
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-ID"] = request_id
        return response
    except asyncio.CancelledError:  # the client went away and the server cancelled its handler
        status = CLIENT_CLOSED
        raise
    finally:
        elapsed = time.perf_counter() - started
        log.info("request", method=request.method, path=request.path, status=status,
                 latency_ms=round(elapsed * 1000, 2),
                 user_id=str(user.id) if (user := request.get(keys.USER)) else None)
        # by route pattern, not path: one series per route, whatever the ids in the URL
        route = request.match_info.route.resource
        REQUESTS.labels(request.method, route.canonical if route else "unmatched", str(status)).observe(elapsed)
        structlog.contextvars.clear_contextvars()


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map every error to a problem response (RFC 9457)."""
    try:
        return await handler(request)
    except DomainError as exc:
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if exc.status == 401 else None
        if exc.retry_after is not None:  # a 503 says when a retry may succeed
            headers = {"Retry-After": str(exc.retry_after)}
        if exc.status == 404:  # names nothing: a hidden resource must answer exactly as a missing one
            return problem(404, exc.detail, title=exc.title)
        return problem(exc.status, exc.detail, title=exc.title, headers=headers, field=exc.field, **exc.extra)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "www-authenticate")}
        return problem(exc.status, exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else None,
                       title=exc.reason, headers=headers)
    except ConnectionResetError:  # the client went away mid-request (e.g. mid-body): not our error
        log.info("client_disconnected", method=request.method, path=request.path)
        return problem(CLIENT_CLOSED, "the client closed the connection", title="Client Closed Request")
    except Exception:
        log.exception("unhandled_error", method=request.method, path=request.path)
        return problem(500, "internal error")


@web.middleware
async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every matched /v1 route except the public ones needs a valid bearer token."""
    if (request.path.startswith("/v1/") and request.path not in PUBLIC_PATHS
            and request.match_info.http_exception is None):
        user = await authenticate(request)
        request[keys.USER] = user
        structlog.contextvars.bind_contextvars(user_id=str(user.id))
    return await handler(request)


MIDDLEWARES = [access_log, errors, address_limit, auth, user_limit]
