"""The OpenAPI document's schemas: request bodies with every limit the server enforces
(api/validation.py and the handlers' `Field`s), and closed response schemas listing what the
server always sends (the suite checks every response against them: tests/openapi_check.py)."""
from __future__ import annotations

from typing import Any

UUID = {"type": "string", "format": "uuid"}
NULL_UUID = {"type": ["string", "null"], "format": "uuid"}
TIME = {"type": "string", "format": "date-time"}
NULL_TIME = {"type": ["string", "null"], "format": "date-time"}
INT = {"type": "integer"}
COUNT = {"type": "integer", "minimum": 0}
NULL_POSITIVE = {"type": ["integer", "null"], "minimum": 1}
STR = {"type": "string"}
ROLE = {"type": "string", "enum": ["orgAdmin", "organizer", "user"]}
INVITE_ROLE = {"type": "string", "enum": ["organizer", "user"]}
CATEGORY = {"type": "string", "enum": ["concert", "webinar", "hackathon"]}
VISIBILITY = {"type": "string", "enum": ["public", "members"]}
EVENT_STATUS = {"type": "string", "enum": ["draft", "upcoming", "ongoing", "completed", "cancelled"]}
BOOKING_STATUS = {"type": "string", "enum": ["confirmed", "waiting", "cancelled"]}
INVITE_STATUS = {"type": "string", "enum": ["pending", "accepted", "revoked", "expired"]}
CHANNEL = ["email", "sms", "push", "log"]
AUDIT_ENTITY = {"type": "string", "enum": ["organization", "membership", "invite", "event", "booking",
                                           "notification"]}

# Text the server stores: no C0/C1 control character (api/validation.py; lone surrogates are refused
# too, which a JSON Schema pattern cannot name). A one-line field also takes no line break.
LINE_PATTERN = "^[^\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029]*$"
TEXT_PATTERN = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$"
# One line with at least one character that is not white space (str.strip() leaves something).
_ANY = "[^\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029]"
_VISIBLE = "[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
NOT_BLANK_PATTERN = f"^{_ANY}*{_VISIBLE}{_ANY}*$"
TIME_RANGE = "between 0001-01-02T00:00:00Z and 9999-12-30T00:00:00Z, with a time zone (else 422)"
TIME_IN = {**TIME, "description": f"RFC 3339, {TIME_RANGE}"}


def obj(props: dict[str, Any], required: tuple[str, ...] | None = None, **extra: Any) -> dict[str, Any]:
    """A closed object; `required` defaults to every property (what a response always carries)."""
    return {"type": "object", "properties": props, "required": list(props if required is None else required),
            "additionalProperties": False, **extra}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def line(min_length: int, max_length: int, description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "string", "minLength": min_length, "maxLength": max_length,
                           "pattern": LINE_PATTERN}
    return {**out, "description": description} if description else out


# -- request bodies ---------------------------------------------------------------------------------
EVENT_FIELDS = {
    "name": line(1, 200),
    "description": {"type": "string", "maxLength": 10000, "pattern": TEXT_PATTERN,
                    "description": "line breaks and tabs allowed"},
    "category": CATEGORY,
    "starts_at": {**TIME, "description": f"RFC 3339, in the future, {TIME_RANGE}"},
    "ends_at": {**TIME, "description": f"RFC 3339, after starts_at, {TIME_RANGE}"},
    "total_slots": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
    "max_seats_per_booking": {"type": "integer", "minimum": 1, "maximum": 10_000, "default": 10},
    "visibility": {**VISIBILITY, "default": "public"}}
EVENT_CREATE = obj(EVENT_FIELDS, ("name", "category", "starts_at", "ends_at", "total_slots"))
EVENT_PATCH = obj(EVENT_FIELDS, (), minProperties=1,
                  description="at least one field; capacity changes go through the event's engine")
ORG_NAME = obj({"name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": NOT_BLANK_PATTERN,
                         "description": "one line, not blank; stored without surrounding white space"}})
ROLE_BODY = obj({"role": ROLE})
INVITE_BODY = obj({"email": {"type": "string", "format": "email", "maxLength": 254,
                             "description": "one address local@domain (dot-atom, no display name or list,"
                                            " a domain of two labels or more; the local part at most 64)"},
                   "role": INVITE_ROLE})
BOOK_BODY = obj({"seats": {"type": "integer", "minimum": 1, "maximum": 10_000,
                           "description": "also at most the event's max_seats_per_booking (else 422)"}})
EMPTY_BODY = obj({}, description="nothing, or an empty object")

# -- responses --------------------------------------------------------------------------------------
BOOKING = {"id": UUID, "event_id": UUID, "user_id": UUID, "seats": {"type": "integer", "minimum": 1},
           "status": BOOKING_STATUS, "waiting_number": {**NULL_POSITIVE, "description": "while waiting"},
           "position": {**NULL_POSITIVE, "description": "1-based place in the waitlist while waiting"},
           "created_at": TIME, "updated_at": TIME}
LIVE_BOOKING = {k: v for k, v in BOOKING.items() if k != "created_at"}
COMMITTED_AT = {"type": ["string", "null"], "format": "date-time",
                "description": "when the change was committed (null in a snapshot read at connect)"}
EVENT = {"id": UUID, "org_id": UUID, "org_name": STR, "name": STR, "description": STR, "category": CATEGORY,
         "status": EVENT_STATUS, "starts_at": TIME, "ends_at": TIME, "total_slots": {"type": "integer", "minimum": 1},
         "available_slots": COUNT, "waitlist_length": COUNT, "max_seats_per_booking": {"type": "integer", "minimum": 1},
         "visibility": VISIBILITY, "published_at": NULL_TIME, "cancelled_at": NULL_TIME, "created_at": TIME,
         "updated_at": TIME}
INVITE = {"id": UUID, "org_id": UUID, "email": STR, "role": INVITE_ROLE, "status": INVITE_STATUS,
          "expires_at": TIME, "created_at": TIME}
SCHEMAS: dict[str, Any] = {
    "Problem": obj({"type": STR, "title": STR, "status": INT, "detail": STR,
                    "field": {"type": "string", "description": "the offending input (422)"},
                    "limit": {"type": "string", "description": "the rate limit that refused the request (429)"},
                    "booking_id": {**UUID, "description": "the booking a 409 is about"},
                    "invite_id": {**UUID, "description": "the pending invite a 409 is about"}},
                   ("type", "title", "status")),
    "Document": {"type": "object", "description": "an OpenAPI 3.1 document"},
    "Me": obj({"id": UUID, "email": STR, "full_name": STR,
               "memberships": {"type": "array", "items": obj({"org_id": UUID, "org_name": STR, "role": ROLE})}}),
    "AuthConfig": obj({"issuer": STR, "audience": STR, "client_id": STR, "web_client_id": STR}),
    "Organization": obj({"id": UUID, "name": STR, "created_at": TIME, "role": {**ROLE, "description": "mine"}}),
    "Member": obj({"user_id": UUID, "email": STR, "full_name": STR, "role": ROLE, "joined_at": TIME}),
    "Invite": obj(INVITE),
    "NewInvite": obj({**INVITE, "token": {"type": "string", "description": "only in this response"}}),
    "InvitePreview": obj({"org_id": UUID, "org_name": STR, "role": INVITE_ROLE, "email": STR,
                          "status": INVITE_STATUS, "expires_at": TIME}),
    "InviteAccepted": obj({"org_id": UUID, "role": INVITE_ROLE, "invite_id": UUID}),
    "Event": obj(EVENT),
    "NewBooking": obj(BOOKING),
    "Booking": obj({**BOOKING, "event_name": STR}),
    "EventBooking": obj({**BOOKING, "event_name": STR, "user_email": STR, "user_name": STR},
                        description="a booking as the event's organizers list it: with the booker's email and name"),
    "HistoryEntry": obj({"action": {"type": "string", "enum": ["created", "cancelled", "promoted",
                                                               "event_cancelled"]},
                         "details": {"type": "object"}, "created_at": TIME}),
    "Notification": obj({
        "id": UUID, "type": {"type": "string", "enum": ["booking_confirmed", "booking_waitlisted", "booking_cancelled",
                                                        "waitlist_promoted", "event_updated", "org_invite"]},
        "status": {"type": "string", "enum": ["pending", "sent", "failed"]},
        "channel": {"type": "string", "enum": CHANNEL, "description": "where it was asked to go"},
        "delivered_via": {"type": ["string", "null"], "enum": [*CHANNEL, None],
                          "description": "what delivered it (log when no provider is configured)"},
        "message": STR, "event_id": NULL_UUID, "booking_id": NULL_UUID, "org_id": NULL_UUID, "attempts": COUNT,
        "sent_at": NULL_TIME, "created_at": TIME}),
    "AuditEntry": obj({"id": INT, "org_id": UUID,
                       "actor_id": {**NULL_UUID, "description": "null for the system (e.g. time-driven changes)"},
                       "entity": AUDIT_ENTITY, "entity_id": NULL_UUID, "action": STR,
                       "before": {"type": ["object", "null"]}, "after": {"type": ["object", "null"]},
                       "created_at": TIME}),
    "EventStats": obj({
        "event_id": UUID, "total_slots": INT, "confirmed_seats": COUNT, "confirmed_bookings": COUNT,
        "waiting_bookings": COUNT, "waiting_seats": COUNT, "cancelled_bookings": COUNT,
        "promotions": {**COUNT, "description": "waitlist promotions of the event's bookings, ever"},
        "fill_rate": {"type": "number", "minimum": 0, "maximum": 1,
                      "description": "confirmed_seats / total_slots, 4 decimals"},
        "timeline": {"type": "array", "maxItems": 60, "description": "from the booking history, oldest first:"
                     " the counts after the last change (`at`) of each bucket",
                     "items": obj({"at": TIME, "confirmed_seats": INT, "waiting_bookings": INT})},
        "timeline_bucket_seconds": {"type": "integer", "minimum": 60,
                                    "description": "width of the timeline's buckets"}}),
    "LiveState": obj({"event_id": UUID, "status": EVENT_STATUS, "total_slots": INT, "available_slots": INT,
                      "waitlist_length": INT, "committed_at": COMMITTED_AT}),
    "LiveBooking": obj({**LIVE_BOOKING, "committed_at": COMMITTED_AT}),
    "LiveSnapshot": obj({"items": {"type": "array", "items": obj(LIVE_BOOKING)}}),
}
for _name in ("Organization", "Member", "Invite", "Event", "Booking", "EventBooking", "HistoryEntry", "Notification",
              "AuditEntry"):
    SCHEMAS[_name + "Page"] = obj({"items": {"type": "array", "items": ref(_name)},
                                   "next_cursor": {"type": ["string", "null"], "minLength": 1}})
