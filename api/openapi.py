"""The OpenAPI 3.1 document for every /v1 route (a test checks it against the router)."""
from __future__ import annotations

from typing import Any

from aiohttp import web

UUID = {"type": "string", "format": "uuid"}
TIME = {"type": "string", "format": "date-time"}
NULL_TIME = {"type": ["string", "null"], "format": "date-time"}
ROLE = {"type": "string", "enum": ["orgAdmin", "organizer", "user"]}
CATEGORY = {"type": "string", "enum": ["concert", "webinar", "hackathon"]}
VISIBILITY = {"type": "string", "enum": ["public", "members"]}


def _obj(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(required), "additionalProperties": False}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


EVENT_FIELDS = {"name": {"type": "string", "minLength": 1, "maxLength": 200},
                "description": {"type": "string", "maxLength": 10000}, "category": CATEGORY,
                "starts_at": TIME, "ends_at": TIME,
                "total_slots": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
                "max_seats_per_booking": {"type": "integer", "minimum": 1, "maximum": 10_000, "default": 10},
                "visibility": VISIBILITY}
SCHEMAS: dict[str, Any] = {
    "Problem": {"type": "object", "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "field": {"type": "string"}, "limit": {"type": "string"}},
        "required": ["type", "title", "status"]},
    "Me": {"type": "object", "properties": {"id": UUID, "email": {"type": "string"}, "full_name": {"type": "string"},
                                            "memberships": {"type": "array", "items": {"type": "object", "properties": {
                                                "org_id": UUID, "org_name": {"type": "string"}, "role": ROLE}}}}},
    "AuthConfig": {"type": "object", "properties": {"issuer": {"type": "string"}, "audience": {"type": "string"},
                                                    "client_id": {"type": "string"},
                                                    "web_client_id": {"type": "string"}}},
    "Organization": {"type": "object", "properties": {"id": UUID, "name": {"type": "string"}, "created_at": TIME,
                                                      "role": ROLE}},
    "Member": {"type": "object", "properties": {"user_id": UUID, "email": {"type": "string"},
                                                "full_name": {"type": "string"}, "role": ROLE, "joined_at": TIME}},
    "Invite": {"type": "object", "properties": {
        "id": UUID, "org_id": UUID, "email": {"type": "string"}, "role": ROLE, "expires_at": TIME,
        "status": {"type": "string", "enum": ["pending", "accepted", "revoked", "expired"]},
        "token": {"type": "string", "description": "only in the 201 response"}}},
    "InvitePreview": {"type": "object", "properties": {
        "org_id": UUID, "org_name": {"type": "string"}, "role": ROLE, "email": {"type": "string"},
        "status": {"type": "string", "enum": ["pending", "accepted", "revoked", "expired"]}, "expires_at": TIME}},
    "Event": {"type": "object", "properties": {
        **EVENT_FIELDS, "id": UUID, "org_id": UUID, "org_name": {"type": "string"},
        "available_slots": {"type": "integer"}, "waitlist_length": {"type": "integer"},
        "status": {"type": "string", "enum": ["draft", "upcoming", "ongoing", "completed", "cancelled"]}}},
    "Booking": {"type": "object", "properties": {
        "id": UUID, "event_id": UUID, "user_id": UUID, "seats": {"type": "integer"},
        "status": {"type": "string", "enum": ["confirmed", "waiting", "cancelled"]},
        "waiting_number": {"type": ["integer", "null"]}, "position": {"type": ["integer", "null"]},
        "created_at": TIME, "updated_at": TIME, "event_name": {"type": "string"},
        "user_email": {"type": "string", "description": "in an event's lists for its organizers"},
        "user_name": {"type": "string", "description": "in an event's lists for its organizers"}}},
    "HistoryEntry": {"type": "object", "properties": {"action": {"type": "string"}, "details": {"type": "object"},
                                                      "created_at": TIME}},
    "Notification": {"type": "object", "properties": {
        "id": UUID, "type": {"type": "string"}, "status": {"type": "string", "enum": ["pending", "sent", "failed"]},
        "channel": {"type": "string", "enum": ["email", "sms", "push", "log"]},
        "delivered_via": {"type": ["string", "null"], "enum": ["email", "sms", "push", "log", None]},
        "message": {"type": "string"}, "event_id": {"type": ["string", "null"]}, "created_at": TIME,
        "sent_at": NULL_TIME}},
    "AuditEntry": {"type": "object", "properties": {
        "id": {"type": "integer"}, "org_id": UUID, "actor_id": UUID, "entity": {"type": "string"},
        "entity_id": UUID, "action": {"type": "string"}, "before": {}, "after": {}, "created_at": TIME}},
    "EventStats": {"type": "object", "properties": {
        "event_id": UUID, "total_slots": {"type": "integer"}, "confirmed_seats": {"type": "integer"},
        "confirmed_bookings": {"type": "integer"}, "waiting_bookings": {"type": "integer"},
        "waiting_seats": {"type": "integer"}, "cancelled_bookings": {"type": "integer"},
        "promotions": {"type": "integer", "description": "waitlist promotions of the event's bookings, ever"},
        "fill_rate": {"type": "number", "minimum": 0, "maximum": 1,
                      "description": "confirmed_seats / total_slots, 4 decimals"},
        "timeline": {"type": "array", "description": "from the booking history, oldest first, at most 60 points:"
                     " the counts after the last change (`at`) of each bucket", "items": _obj(
                         {"at": TIME, "confirmed_seats": {"type": "integer"},
                          "waiting_bookings": {"type": "integer"}}, ("at", "confirmed_seats", "waiting_bookings"))},
        "timeline_bucket_seconds": {"type": "integer", "description": "width of the timeline's buckets"}},
        "required": ["event_id", "total_slots", "confirmed_seats", "confirmed_bookings", "waiting_bookings",
                     "waiting_seats", "cancelled_bookings", "promotions", "fill_rate", "timeline",
                     "timeline_bucket_seconds"]},
}
for _name in ("Organization", "Member", "Invite", "Event", "Booking", "HistoryEntry", "Notification", "AuditEntry"):
    SCHEMAS[_name + "Page"] = _obj({"items": {"type": "array", "items": ref(_name)},
                                    "next_cursor": {"type": ["string", "null"]}}, ("items", "next_cursor"))


def _q(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


PAGE = [_q("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
        _q("cursor", {"type": "string"})]
EVENT_LIST = [_q("category", CATEGORY), _q("from", TIME), _q("to", TIME), _q("org", UUID),
              _q("q", {"type": "string", "minLength": 1, "maxLength": 200,
                       "description": "only events whose name contains this text (case ignored)"})]
AUDIT_LIST = [_q("entity", {"type": "string"}), _q("actor", UUID), _q("from", TIME), _q("to", TIME)]
STATUS = [_q("status", {"type": "string", "enum": ["confirmed", "waiting", "cancelled"]})]
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
               "schema": {"type": "string", "minLength": 1, "maxLength": 255}}


def op(summary: str, ok: int | None, schema: str | None = None, *, body: dict[str, Any] | None = None,
       params: list[dict[str, Any]] | None = None, public: bool = False) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if ok == 204:
        responses["204"] = {"description": "done"}
    elif ok:
        responses[str(ok)] = {"description": "ok", "content": {"application/json": {"schema": ref(schema or "")}}}
    problem = {"content": {"application/problem+json": {"schema": ref("Problem")}}}
    for code in ("400", "401", "403", "404", "409", "413", "422") if not public else ("404",):
        responses[code] = {"description": "problem", **problem}
    retry = {"Retry-After": {"description": "seconds until a retry may succeed", "schema": {"type": "integer"}}}
    responses["429"] = {"description": "rate limited (docs/contract.md section 2)", "headers": retry, **problem}
    responses["500"] = {"description": "internal error", **problem}
    if not public:
        responses["503"] = {"description": "a dependency is unavailable; retry later", "headers": retry, **problem}
    out: dict[str, Any] = {"summary": summary, "responses": responses, "parameters": params or []}
    if body is not None:
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if public:
        out["security"] = []
    return out


CSV_OP = op("The event's bookings as CSV, streamed (organizer, orgAdmin)", None)
CSV_OP["responses"] = {"200": {
    "description": "header row `" + ",".join(("id", "email", "full_name", "seats", "status", "waiting_number",
                                             "created_at", "updated_at")) + "`, then one line per booking,"
                   " oldest first (chunked; a failure half way truncates the download)",
    "content": {"text/csv": {"schema": {"type": "string"}}}}, **CSV_OP["responses"]}
LIVE_BOOKING = {"id": UUID, "event_id": UUID, "user_id": UUID, "seats": {"type": "integer"},
                "status": {"type": "string", "enum": ["confirmed", "waiting", "cancelled"]},
                "waiting_number": {"type": ["integer", "null"]}, "position": {"type": ["integer", "null"]},
                "updated_at": TIME}
COMMITTED_AT = {"type": ["string", "null"], "format": "date-time",
                "description": "when the change was committed (null in a snapshot read at connect)"}
SCHEMAS.update({
    "LiveState": _obj({"event_id": UUID, "status": SCHEMAS["Event"]["properties"]["status"],
                       "total_slots": {"type": "integer"}, "available_slots": {"type": "integer"},
                       "waitlist_length": {"type": "integer"}, "committed_at": COMMITTED_AT},
                      ("event_id", "status", "total_slots", "available_slots", "waitlist_length", "committed_at")),
    "LiveBooking": _obj({**LIVE_BOOKING, "committed_at": COMMITTED_AT}, (*LIVE_BOOKING, "committed_at")),
    "LiveSnapshot": _obj({"items": {"type": "array", "items": _obj(LIVE_BOOKING, tuple(LIVE_BOOKING))}}, ("items",)),
})


def live_op(summary: str, events: str, messages: dict[str, str]) -> dict[str, Any]:
    """A Server-Sent Events stream: `event: <name>` and one `data:` line of JSON per message."""
    out = op(summary, None)
    out["responses"] = {"200": {"description": events + " Heartbeat: a `: ping` comment every ~15 s. The"
                                " stream ends at shutdown and when the token expires; reconnect with a fresh"
                                " token (each connection starts with the current state).",
                                "content": {"text/event-stream": {
                                    "schema": {"type": "string"},
                                    "x-sse-events": {name: ref(schema) for name, schema in messages.items()}}}},
                        **out["responses"]}
    return out


EVENT_OPS = {
    "get": op("Get an event the caller may see", 200, "Event"),
    "patch": op("Update an event (via the engine)", 200, "Event", body=_obj(EVENT_FIELDS)),
}
PATHS: dict[str, dict[str, Any]] = {
    "/v1/openapi.json": {"get": op("This document", 200, "Problem", public=True)},
    "/v1/auth/config": {"get": op("Issuer, audience and client id for logging in", 200, "AuthConfig", public=True)},
    "/v1/me": {"get": op("My profile and memberships (signs up on the first request)", 200, "Me")},
    "/v1/organizations": {
        "post": op("Create an organization (caller becomes orgAdmin)", 201, "Organization",
                   body=_obj({"name": {"type": "string"}}, ("name",))),
        "get": op("My organizations", 200, "OrganizationPage", params=PAGE)},
    "/v1/organizations/{org}": {
        "get": op("Read an organization (member)", 200, "Organization"),
        "patch": op("Rename (orgAdmin)", 200, "Organization", body=_obj({"name": {"type": "string"}}, ("name",)))},
    "/v1/organizations/{org}/members": {"get": op("Members (orgAdmin)", 200, "MemberPage", params=PAGE)},
    "/v1/organizations/{org}/members/{user}": {
        "patch": op("Change a role (orgAdmin)", 200, "Member", body=_obj({"role": ROLE}, ("role",))),
        "delete": op("Remove a member (orgAdmin)", 204)},
    "/v1/organizations/{org}/invites": {
        "post": op("Invite by email (orgAdmin)", 201, "Invite", body=_obj(
            {"email": {"type": "string", "format": "email"},
             "role": {"type": "string", "enum": ["organizer", "user"]}}, ("email", "role"))),
        "get": op("Invites (orgAdmin)", 200, "InvitePage", params=PAGE)},
    "/v1/organizations/{org}/invites/{invite}": {"delete": op("Revoke an invite (orgAdmin)", 204)},
    "/v1/invites/{token}": {"get": op("Preview an invite: its organization and role (email must match, else 404)",
                                      200, "InvitePreview")},
    "/v1/invites/{token}/accept": {"post": op("Accept an invite (email must match)", 200, "Member")},
    "/v1/organizations/{org}/audit-log": {"get": op("Audit log (orgAdmin)", 200, "AuditEntryPage",
                                                    params=PAGE + AUDIT_LIST)},
    "/v1/organizations/{org}/events": {
        "post": op("Create a draft event (organizer, orgAdmin)", 201, "Event",
                   body=_obj(EVENT_FIELDS, ("name", "category", "starts_at", "ends_at", "total_slots"))),
        "get": op("The organization's events (drafts for organizers)", 200, "EventPage", params=PAGE)},
    "/v1/events": {"get": op("Published events visible to me", 200, "EventPage", params=PAGE + EVENT_LIST)},
    "/v1/events/{event}/bookings": {
        "post": op("Book seats (optional Idempotency-Key)", 201, "Booking", params=[IDEMPOTENCY],
                   body=_obj({"seats": {"type": "integer", "minimum": 1}}, ("seats",)))},
    "/v1/bookings": {"get": op("My bookings, newest first", 200, "BookingPage",
                               params=PAGE + STATUS + [_q("event", UUID)])},
    "/v1/bookings/{booking}": {"get": op("One booking (owner or organizer)", 200, "Booking")},
    "/v1/bookings/{booking}/history": {"get": op("A booking's history", 200, "HistoryEntryPage", params=PAGE)},
    "/v1/bookings/{booking}/cancel": {"post": op("Cancel a booking (owner or organizer)", 200, "Booking")},
    "/v1/notifications": {"get": op("My notifications", 200, "NotificationPage", params=PAGE)},
    "/v1/me/live": {"get": live_op(
        "Live updates of my bookings (Server-Sent Events)",
        "First `snapshot` (my confirmed and waiting bookings, with positions), then a `booking` message"
        " whenever one of my bookings changes status or waitlist position.",
        {"snapshot": "LiveSnapshot", "booking": "LiveBooking"})},
    "/v1/events/{event}/live": {"get": live_op(
        "Live updates of an event's seats and waitlist (Server-Sent Events; who may see the event)",
        "First `state` (the current counters), then a `state` message whenever the status, capacity,"
        " available seats or waitlist length change (several changes within ~0.1 s arrive as the newest).",
        {"state": "LiveState"})},
}
for _base in ("/v1/events/{event}", "/v1/organizations/{org}/events/{event}"):
    PATHS.setdefault(_base, {}).update(EVENT_OPS)
    PATHS[_base + "/publish"] = {"post": op("Publish (organizer, orgAdmin; via the engine)", 200, "Event")}
    PATHS[_base + "/cancel"] = {"post": op("Cancel the event and its bookings (via the engine)", 200, "Event")}
    PATHS.setdefault(_base + "/bookings", {})["get"] = op(
        "The event's bookings (organizer, orgAdmin)", 200, "BookingPage", params=PAGE + STATUS)
    PATHS[_base + "/stats"] = {"get": op("Seat and booking counts (organizer, orgAdmin)", 200, "EventStats")}
    PATHS[_base + "/bookings.csv"] = {"get": CSV_OP}
    PATHS[_base + "/waitlist"] = {"get": op("The ordered waitlist (organizer, orgAdmin)", 200, "BookingPage",
                                            params=PAGE)}


def _with_path_params(paths: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path, ops in paths.items():
        names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        params = [{"name": n, "in": "path", "required": True,
                   "schema": {"type": "string"} if n == "token" else UUID} for n in names]
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
