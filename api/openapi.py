"""The OpenAPI 3.1 document for every /v1 route (a test checks it against the router; the suite checks
real responses against it and fuzzes it with schemathesis). Its schemas: api/openapi_schemas.py."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from .openapi_schemas import (
    AUDIT_ENTITY,
    BOOK_BODY,
    BOOKING_STATUS,
    CATEGORY,
    EMPTY_BODY,
    EVENT_CREATE,
    EVENT_PATCH,
    INVITE_BODY,
    LINE_PATTERN,
    ORG_NAME,
    ROLE_BODY,
    SCHEMAS,
    TIME_IN,
    UUID,
    obj,
    ref,
)


def _q(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


# api/pagination.py: limit 1-200, a cursor is what a page's next_cursor gave (else 422)
PAGE = [_q("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
        _q("cursor", {"type": "string", "minLength": 1, "maxLength": 500,
                      "description": "a previous page's next_cursor, unchanged (anything else: 422)"})]
EVENT_LIST = [_q("category", CATEGORY), _q("from", TIME_IN), _q("to", TIME_IN), _q("org", UUID),
              _q("q", {"type": "string", "minLength": 1, "maxLength": 200, "pattern": LINE_PATTERN,
                       "description": "only events whose name contains this text (case ignored)"})]
AUDIT_LIST = [_q("entity", AUDIT_ENTITY), _q("actor", UUID), _q("from", TIME_IN), _q("to", TIME_IN)]
STATUS = [_q("status", BOOKING_STATUS)]
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
               "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]([ -~]*[!-~])?$",
                          "description": "1-255 printable characters; the same key and body replay the first"
                                         " answer (a different body: 409)"}}
RETRY = {"Retry-After": {"description": "seconds until a retry may succeed", "schema": {"type": "integer"}}}
PROBLEM = {"content": {"application/problem+json": {"schema": ref("Problem")}}}
PROBLEMS = {
    "401": "no valid access token", "403": "the caller's role does not allow it",
    "404": "no such resource, or not one the caller may see (the same answer)",
    "408": "the body did not arrive in time", "409": "conflicts with the resource's state",
    "413": "body over the size limit", "422": "invalid input (`field` names it)",
    "429": "rate limited (docs/contract.md section 2)", "500": "internal error",
    "503": "the booking engine is unavailable; nothing was changed, retry later"}


def op(summary: str, ok: int | None, schema: str | None = None, *, body: dict[str, Any] | None = None,
       params: list[dict[str, Any]] | None = None, public: bool = False, errors: str = "") -> dict[str, Any]:
    """One operation: its success response, and the problems it can answer (`errors`: the statuses
    beyond those of every authenticated request, 401 429 500)."""
    responses: dict[str, Any] = {}
    if ok == 204:
        responses["204"] = {"description": "done"}
    elif ok:
        responses[str(ok)] = {"description": "ok", "content": {"application/json": {"schema": ref(schema or "")}}}
    codes = {"429", "500"} | (set() if public else {"401", *errors.split()})
    if body is not None:
        codes |= {"408", "413", "422"}
    responses["400"] = {"description": "a request line or header the HTTP server cannot read (malformed, or over"
                                       " 8190 bytes), refused before routing", "content": {"text/plain": {
                                           "schema": {"type": "string"}}}}
    for code in sorted(codes):
        headers = {"headers": RETRY} if code in ("429", "503") else {}
        responses[code] = {"description": PROBLEMS[code], **headers, **PROBLEM}
    out: dict[str, Any] = {"summary": summary, "responses": responses, "parameters": params or []}
    if body is not None:
        out["requestBody"] = {"required": body is not EMPTY_BODY, "content": {"application/json": {"schema": body}}}
    if public:
        out["security"] = []
    return out


CSV_OP = op("The event's bookings as CSV, streamed (organizer, orgAdmin)", None, errors="403 404 422")
CSV_OP["responses"] = {"200": {
    "description": "header row `" + ",".join(("id", "email", "full_name", "seats", "status", "waiting_number",
                                             "created_at", "updated_at")) + "`, then one line per booking,"
                   " oldest first (chunked; a failure half way truncates the download)",
    "content": {"text/csv": {"schema": {"type": "string"}}}}, **CSV_OP["responses"]}


def _sse_message(name: str, schema: str) -> dict[str, Any]:
    return obj({"event": {"const": name}, "data": {"type": "string", "contentMediaType": "application/json",
                                                   "contentSchema": ref(schema)}})


def live_op(summary: str, events: str, messages: dict[str, str], errors: str) -> dict[str, Any]:
    """A Server-Sent Events stream: `event: <name>` and one `data:` line of JSON per message."""
    out = op(summary, None, errors=errors)
    out["responses"] = {"200": {"description": events + " Heartbeat: a `: ping` comment every ~15 s. The"
                                " stream ends at shutdown and when the token expires; reconnect with a fresh"
                                " token (each connection starts with the current state).",
                                "content": {"text/event-stream": {"schema": {
                                    "description": "one message (as OpenAPI 3.2's itemSchema): its event name"
                                                   " and its data, one line of JSON",
                                    "oneOf": [_sse_message(name, schema) for name, schema in messages.items()]}}}},
                        **out["responses"]}
    return out


ENGINE = "403 404 409 422 503"  # a change sent to the event's actor
MANAGE = "403 404 422"  # an event's organizer views
PATHS: dict[str, dict[str, Any]] = {
    "/v1/openapi.json": {"get": op("This document", 200, "Document", public=True)},
    "/v1/auth/config": {"get": op("Issuer, audience and client id for logging in", 200, "AuthConfig", public=True)},
    "/v1/me": {"get": op("My profile and memberships (signs up on the first request)", 200, "Me")},
    "/v1/organizations": {
        "post": op("Create an organization (caller becomes orgAdmin)", 201, "Organization", body=ORG_NAME),
        "get": op("My organizations", 200, "OrganizationPage", params=PAGE, errors="422")},
    "/v1/organizations/{org}": {
        "get": op("Read an organization (member)", 200, "Organization", errors="404 422"),
        "patch": op("Rename (orgAdmin)", 200, "Organization", body=ORG_NAME, errors="403 404")},
    "/v1/organizations/{org}/members": {"get": op("Members (orgAdmin)", 200, "MemberPage", params=PAGE,
                                                  errors="403 404 422")},
    "/v1/organizations/{org}/members/{user}": {
        "patch": op("Change a role (orgAdmin; the last orgAdmin cannot be demoted)", 200, "Member", body=ROLE_BODY,
                    errors="403 404 409"),
        "delete": op("Remove a member (orgAdmin; the last orgAdmin cannot be removed)", 204,
                     errors="403 404 409 422")},
    "/v1/organizations/{org}/invites": {
        "post": op("Invite by email (orgAdmin; one pending invite per address)", 201, "NewInvite",
                   body=INVITE_BODY, errors="403 404 409"),
        "get": op("Invites (orgAdmin)", 200, "InvitePage", params=PAGE, errors="403 404 422")},
    "/v1/organizations/{org}/invites/{invite}": {"delete": op("Revoke a pending invite (orgAdmin)", 204,
                                                              errors="403 404 409 422")},
    "/v1/invites/{token}": {"get": op("Preview an invite: its organization and role (email must match, else 404)",
                                      200, "InvitePreview", errors="404 422")},
    "/v1/invites/{token}/accept": {"post": op("Accept an invite (verified email must match; single use)", 200,
                                              "InviteAccepted", body=EMPTY_BODY, errors="403 404 409")},
    "/v1/organizations/{org}/audit-log": {"get": op("Audit log (orgAdmin), newest first", 200, "AuditEntryPage",
                                                    params=PAGE + AUDIT_LIST, errors="403 404 422")},
    "/v1/organizations/{org}/events": {
        "post": op("Create a draft event (organizer, orgAdmin)", 201, "Event", body=EVENT_CREATE,
                   errors="403 404"),
        "get": op("The organization's events (drafts for organizers)", 200, "EventPage", params=PAGE,
                  errors="404 422")},
    "/v1/events": {"get": op("Published events visible to me", 200, "EventPage", params=PAGE + EVENT_LIST,
                             errors="422")},
    "/v1/events/{event}/bookings": {
        "post": op("Book seats (optional Idempotency-Key)", 201, "NewBooking", params=[IDEMPOTENCY],
                   body=BOOK_BODY, errors="404 409 503")},
    "/v1/bookings": {"get": op("My bookings, newest first", 200, "BookingPage",
                               params=PAGE + STATUS + [_q("event", UUID)], errors="422")},
    "/v1/bookings/{booking}": {"get": op("One booking (owner or organizer)", 200, "Booking", errors="404 422")},
    "/v1/bookings/{booking}/history": {"get": op("A booking's history", 200, "HistoryEntryPage", params=PAGE,
                                                 errors="404 422")},
    "/v1/bookings/{booking}/cancel": {"post": op(
        "Cancel a booking (owner or organizer); one already cancelled is answered as it is", 200, "Booking",
        body=EMPTY_BODY, errors="404 409 503")},
    "/v1/notifications": {"get": op("My notifications", 200, "NotificationPage", params=PAGE, errors="422")},
    "/v1/me/live": {"get": live_op(
        "Live updates of my bookings (Server-Sent Events)",
        "First `snapshot` (my confirmed and waiting bookings, with positions), then a `booking` message"
        " whenever one of my bookings changes status or waitlist position.",
        {"snapshot": "LiveSnapshot", "booking": "LiveBooking"}, errors="")},
    "/v1/events/{event}/live": {"get": live_op(
        "Live updates of an event's seats and waitlist (Server-Sent Events; who may see the event)",
        "First `state` (the current counters), then a `state` message whenever the status, capacity,"
        " available seats or waitlist length change (several changes within ~0.1 s arrive as the newest).",
        {"state": "LiveState"}, errors="404 422")},
}
for _base in ("/v1/events/{event}", "/v1/organizations/{org}/events/{event}"):
    PATHS.setdefault(_base, {}).update({
        "get": op("Get an event the caller may see", 200, "Event", errors="404 422"),
        "patch": op("Update an event (via the engine)", 200, "Event", body=EVENT_PATCH, errors=ENGINE)})
    PATHS[_base + "/publish"] = {"post": op("Publish (organizer, orgAdmin; via the engine)", 200, "Event",
                                            body=EMPTY_BODY, errors=ENGINE)}
    PATHS[_base + "/cancel"] = {"post": op("Cancel the event and its bookings (via the engine)", 200, "Event",
                                           body=EMPTY_BODY, errors=ENGINE)}
    PATHS.setdefault(_base + "/bookings", {})["get"] = op(
        "The event's bookings (organizer, orgAdmin)", 200, "EventBookingPage", params=PAGE + STATUS, errors=MANAGE)
    PATHS[_base + "/stats"] = {"get": op("Seat and booking counts (organizer, orgAdmin)", 200, "EventStats",
                                         errors=MANAGE)}
    PATHS[_base + "/bookings.csv"] = {"get": CSV_OP}
    PATHS[_base + "/waitlist"] = {"get": op("The ordered waitlist (organizer, orgAdmin)", 200, "EventBookingPage",
                                            params=PAGE, errors=MANAGE)}


def _with_path_params(paths: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path, ops in paths.items():
        names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        token = {"type": "string", "minLength": 10, "maxLength": 200, "description": "the invite's secret"}
        params = [{"name": n, "in": "path", "required": True, "schema": token if n == "token" else UUID}
                  for n in names]
        out[path] = {"parameters": params, **ops} if params else ops
    return out


def _named(paths: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each operation gets an operationId (method and path) and a tag (the path's first segment)."""
    out: dict[str, dict[str, Any]] = {}
    for path, ops in paths.items():
        words = [part.strip("{}").replace("-", "_").replace(".", "_") for part in path.split("/")[2:]]
        out[path] = {method: operation if method == "parameters" else
                     {"operationId": "_".join([method, *words]), "tags": [words[0]], **operation}
                     for method, operation in ops.items()}
    return out


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Happening API", "version": "1.0.0",
                 "description": "Multi-tenant event booking. Errors are application/problem+json (RFC 9457)."},
        "paths": _named(_with_path_params(PATHS)),
        "components": {"schemas": SCHEMAS, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
        "security": [{"bearer": []}],
    }


async def serve(_: web.Request) -> web.Response:
    return web.json_response(document())
