"""Every /v1 route in one table."""
from __future__ import annotations

from aiohttp import web

from . import live, openapi
from .handlers import audit, bookings, events, invites, me, notifications, orgs, reports

ORG = "/v1/organizations/{org}"
ORG_EVENT = ORG + "/events/{event}"
EVENT = "/v1/events/{event}"


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/v1/openapi.json", openapi.serve)
    r.add_get("/v1/auth/config", me.auth_config)
    r.add_get("/v1/me", me.me)
    r.add_get("/v1/me/live", live.my_stream)

    r.add_post("/v1/organizations", orgs.create)
    r.add_get("/v1/organizations", orgs.list_mine)
    r.add_get(ORG, orgs.get)
    r.add_patch(ORG, orgs.rename)
    r.add_get(ORG + "/members", orgs.list_members)
    r.add_patch(ORG + "/members/{user}", orgs.change_role)
    r.add_delete(ORG + "/members/{user}", orgs.remove_member)
    r.add_post(ORG + "/invites", invites.create)
    r.add_get(ORG + "/invites", invites.list_for_org)
    r.add_delete(ORG + "/invites/{invite}", invites.revoke)
    r.add_get("/v1/invites/{token}", invites.preview)
    r.add_post("/v1/invites/{token}/accept", invites.accept)
    r.add_get(ORG + "/audit-log", audit.list_for_org)

    r.add_post(ORG + "/events", events.create)
    r.add_get(ORG + "/events", events.list_for_org)
    r.add_get("/v1/events", events.list_visible)
    # the booking route first among /v1/events/...: aiohttp tries an index entry's resources in order
    bookings_of_event = r.add_resource(EVENT + "/bookings")
    bookings_of_event.add_route("POST", bookings.book)
    bookings_of_event.add_route("HEAD", bookings.list_for_event)
    bookings_of_event.add_route("GET", bookings.list_for_event)
    # an event's management routes answer under the event and under its organization
    r.add_get(ORG_EVENT + "/bookings", bookings.list_for_event)
    for base in (EVENT, ORG_EVENT):
        r.add_get(base, events.get)
        r.add_patch(base, events.update)
        r.add_post(base + "/publish", events.publish)
        r.add_post(base + "/cancel", events.cancel)
        r.add_get(base + "/waitlist", bookings.waitlist)
        r.add_get(base + "/stats", reports.stats)
        r.add_get(base + "/bookings.csv", reports.bookings_csv)
    r.add_get(EVENT + "/live", live.event_stream)

    r.add_get("/v1/bookings", bookings.list_mine)
    r.add_get("/v1/bookings/{booking}", bookings.get)
    r.add_get("/v1/bookings/{booking}/history", bookings.history)
    r.add_post("/v1/bookings/{booking}/cancel", bookings.cancel)
    r.add_get("/v1/notifications", notifications.list_mine)
