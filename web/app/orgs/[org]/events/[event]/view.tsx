"use client";
// An event's management page for its organizers: status and details, publish or cancel, capacity and
// edits, stats with a chart, bookings and waitlist; everything reloads (debounced) on live messages.
import Link from "next/link";
import { useCallback, useEffect, useRef, useState } from "react";
import { capitalize, formatTime, plural } from "@/lib/format";
import { useLive } from "@/lib/live";
import { apiOrg, canManage, orgPath } from "@/lib/orgs";
import type { Booking, EventStats, HappeningEvent, Organization } from "@/lib/types";
import { useApi } from "@/lib/useApi";
import { usePaged } from "@/lib/usePaged";
import { usePathSegment } from "@/lib/usePathId";
import { Failure, Loading, NotFound, SignedIn } from "@/components/States";
import { Capacity, Lifecycle } from "./actions";
import EditEvent from "./edit";
import Stats from "./stats";
import { BookingsTable, WaitlistTable } from "./tables";
import PageTitle from "@/components/PageTitle";

export default function ManageEventView() {
  const org = usePathSegment(1), event = usePathSegment(3);
  return <SignedIn><Manage org={org} id={event} /></SignedIn>;
}

const LIVE_DEBOUNCE_MS = 400;

function Manage({ org, id }: { org: string; id: string }) {
  const base = apiOrg(org, `/events/${encodeURIComponent(id)}`);
  const organization = useApi<Organization>(apiOrg(org));
  const allowed = canManage(organization.data?.role);
  const event = useApi<HappeningEvent>(allowed ? base : null);
  const stats = useApi<EventStats>(allowed ? `${base}/stats` : null);
  const bookings = usePaged<Booking>(allowed ? `${base}/bookings?limit=100` : null);
  const waitlist = usePaged<Booking>(allowed ? `${base}/waitlist?limit=100` : null);
  const [, setTick] = useState(0);

  const [reloadEvent, reloadStats, reloadBookings, reloadWaitlist] = [event.reload, stats.reload, bookings.reload,
    waitlist.reload];
  const reloadAll = useCallback(() => {
    reloadEvent(); reloadStats(); reloadBookings(); reloadWaitlist();
  }, [reloadEvent, reloadStats, reloadBookings, reloadWaitlist]);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const onLive = useCallback(() => {
    if (timer.current) clearTimeout(timer.current);
    timer.current = setTimeout(reloadAll, LIVE_DEBOUNCE_MS);
  }, [reloadAll]);
  useEffect(() => () => { if (timer.current) clearTimeout(timer.current); }, []);
  useEffect(() => { // the chart runs to "now": redraw it each minute
    const every = setInterval(() => setTick((t) => t + 1), 60_000);
    return () => clearInterval(every);
  }, []);
  useLive(event.data && event.data.status !== "draft" ? `/v1/events/${encodeURIComponent(id)}/live` : null, onLive);

  if (organization.error) return <Failure error={organization.error} what="event" />;
  if (!organization.data) return <Loading what="Loading event" />;
  if (!allowed) return <NotFound what="event" />;
  if (event.error) return <Failure error={event.error} what="event" />;
  if (!event.data) return <Loading what="Loading event" />;
  const e = event.data;
  const changed = (updated: HappeningEvent) => { event.setData(() => updated); reloadAll(); };

  return (
    <article>
      <p className="muted"><Link href={orgPath(org)}>{organization.data.name}</Link></p>
      <PageTitle>{e.name}</PageTitle>
      <p className="meta">
        <span className="badge">{capitalize(e.status)}</span>
        <span>{capitalize(e.category)}</span>
        <span>{e.visibility === "members" ? "Members only" : "Public"}</span>
        <span>Up to {plural(e.max_seats_per_booking, "seat", "seats")} per booking</span>
      </p>
      <p>
        <time dateTime={e.starts_at}>{formatTime(e.starts_at)}</time> – <time dateTime={e.ends_at}>{formatTime(e.ends_at)}</time>
      </p>
      {e.description && <p className="description">{e.description}</p>}
      <div className="counts" aria-live="polite">
        <span>{plural(e.available_slots, "seat available", "seats available")} of {e.total_slots}</span>
        <span>{e.waitlist_length} waiting</span>
      </div>
      {e.status !== "draft" && <p><Link href={`/events/${e.id}`}>See the attendees’ page</Link></p>}
      <section aria-labelledby="manage-title">
        <h2 id="manage-title">Manage</h2>
        <Lifecycle event={e} base={base} onChanged={changed} />
        <Capacity event={e} base={base} onChanged={changed} />
      </section>
      <Stats stats={stats} base={base} event={e} />
      <BookingsTable list={bookings} />
      <WaitlistTable list={waitlist} />
      <EditEvent event={e} base={base} onChanged={changed} />
    </article>
  );
}
