"use client";
// My bookings, newest first, with live status and waitlist position; cancel asks first.
import Link from "next/link";
import { useCallback, useState } from "react";
import { api, type ApiError } from "@/lib/api";
import { capitalize, formatTime } from "@/lib/format";
import { useLive, type LiveMessage } from "@/lib/live";
import type { Booking, Page } from "@/lib/types";
import { useApi } from "@/lib/useApi";
import ConfirmDialog from "@/components/ConfirmDialog";
import { Empty, ErrorMessage, Loading, SignedIn } from "@/components/States";
import PageTitle from "@/components/PageTitle";

export default function BookingsPage() {
  return (
    <section>
      <PageTitle>My bookings</PageTitle>
      <SignedIn><BookingTable /></SignedIn>
    </section>
  );
}

function BookingTable() {
  const list = useApi<Page<Booking>>("/v1/bookings?limit=200");
  const [cancelling, setCancelling] = useState<Booking | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const setList = list.setData;

  const replace = useCallback((changed: Partial<Booking> & { id: string }) => setList((current) => {
    if (!current) return current;
    const known = current.items.some((b) => b.id === changed.id);
    if (!known) return current;
    return { ...current, items: current.items.map((b) => (b.id === changed.id ? { ...b, ...changed } : b)) };
  }), [setList]);
  const onLive = useCallback((message: LiveMessage) => {
    // `snapshot` (on every connect) lists my active bookings; `booking` is one that changed
    const changed = message.event === "snapshot" ? (message.data as { items: Booking[] }).items : [message.data as Booking];
    for (const booking of changed) if (booking.id && booking.status) replace(booking);
  }, [replace]);
  useLive("/v1/me/live", onLive);

  async function confirmCancel() {
    if (!cancelling) return;
    setBusy(true);
    try {
      replace(await api<Booking>(`/v1/bookings/${cancelling.id}/cancel`, { method: "POST" }));
      setError(null);
      setCancelling(null);
    } catch (e) {
      setError(e as ApiError);
      setCancelling(null);
    } finally {
      setBusy(false);
    }
  }

  if (list.error) return <ErrorMessage error={list.error} />;
  if (!list.data) return <Loading what="Loading your bookings" />;
  if (list.data.items.length === 0) return <Empty>No bookings yet. <Link href="/">Find an event</Link>.</Empty>;
  return (
    <>
      <ErrorMessage error={error} />
      <div className="table-wrap">
        <table>
          <caption className="sr-only">My bookings</caption>
          <thead>
            <tr><th scope="col">Event</th><th scope="col">Seats</th><th scope="col">Status</th>
              <th scope="col">Position</th><th scope="col">Booked</th><th scope="col"><span className="sr-only">Actions</span></th></tr>
          </thead>
          <tbody>
            {list.data.items.map((b) => (
              <tr key={b.id}>
                <td><Link href={`/events/${b.event_id}`}>{b.event_name ?? "Event"}</Link></td>
                <td>{b.seats}</td>
                <td>{b.status === "waiting" ? "Waitlisted" : capitalize(b.status)}</td>
                <td>{b.status === "waiting" && b.position !== null ? `position ${b.position}` : "—"}</td>
                <td>{formatTime(b.created_at)}</td>
                <td>
                  {b.status !== "cancelled" && (
                    <button className="secondary" onClick={() => setCancelling(b)}
                      aria-label={`Cancel booking for ${b.event_name ?? "this event"}`}>Cancel booking</button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <ConfirmDialog open={cancelling !== null} title="Cancel this booking?" busy={busy}
        onConfirm={confirmCancel} onClose={() => setCancelling(null)}>
        <p>Your {cancelling?.seats === 1 ? "seat" : "seats"} for {cancelling?.event_name ?? "this event"} will be
          given to the next person waiting.</p>
      </ConfirmDialog>
    </>
  );
}
