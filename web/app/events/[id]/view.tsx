"use client";
// An event for attendees: details, live seat and waitlist counts, booking, and my booking's live status.
import Link from "next/link";
import { useCallback, useRef, useState } from "react";
import { api, qs, type ApiError } from "@/lib/api";
import { capitalize, formatTime, plural } from "@/lib/format";
import { useLive, type LiveMessage } from "@/lib/live";
import type { Booking, HappeningEvent, Page } from "@/lib/types";
import { useApi } from "@/lib/useApi";
import { usePathSegment } from "@/lib/usePathId";
import FieldError, { fieldError } from "@/components/FieldError";
import { ErrorMessage, Failure, Loading, SignedIn } from "@/components/States";
import PageTitle from "@/components/PageTitle";

export default function EventView() {
  return <SignedIn><EventDetails id={usePathSegment(1)} /></SignedIn>;
}

function EventDetails({ id }: { id: string }) {
  const event = useApi<HappeningEvent>(`/v1/events/${encodeURIComponent(id)}`);
  const mine = useApi<Page<Booking>>(`/v1/bookings${qs({ event: id, limit: 10 })}`);
  const setEvent = event.setData;
  const setMine = mine.setData;

  const onEvent = useCallback((message: LiveMessage) => {
    const data = message.data as Partial<HappeningEvent> & { event_id?: string };
    if ((data.event_id ?? data.id) !== id || data.available_slots === undefined) return;
    setEvent((current) => current && {
      ...current,
      available_slots: data.available_slots ?? current.available_slots,
      waitlist_length: data.waitlist_length ?? current.waitlist_length,
      status: data.status ?? current.status,
    });
  }, [id, setEvent]);
  const onMine = useCallback((message: LiveMessage) => {
    // `snapshot` (on every connect) lists my active bookings; `booking` is one that changed
    const changed = message.event === "snapshot"
      ? (message.data as { items: Booking[] }).items
      : [message.data as Booking];
    for (const data of changed.filter((b) => b.event_id === id && b.id && b.status)) {
      setMine((current) => {
        const items = current?.items ?? [];
        const known = items.some((b) => b.id === data.id);
        const merged = known ? items.map((b) => (b.id === data.id ? { ...b, ...data } : b)) : [data, ...items];
        return { items: merged, next_cursor: current?.next_cursor ?? null };
      });
    }
  }, [id, setMine]);
  useLive(event.data ? `/v1/events/${encodeURIComponent(id)}/live` : null, onEvent);
  useLive(event.data ? "/v1/me/live" : null, onMine);

  if (event.error) return <Failure error={event.error} what="event" />;
  if (!event.data) return <Loading what="Loading event" />;
  const e = event.data;
  const active = mine.data?.items.find((b) => b.status !== "cancelled") ?? null;
  const booked = (booking: Booking) => {
    setMine((current) => ({ items: [booking, ...(current?.items ?? [])], next_cursor: current?.next_cursor ?? null }));
    event.reload(); // the counts now include this booking, whether or not the stream is connected
  };

  return (
    <article>
      <PageTitle>{e.name}</PageTitle>
      <p className="meta">
        <span>{capitalize(e.category)}</span>
        <span>{e.org_name}</span>
        {e.visibility === "members" && <span>Members only</span>}
        <span className="badge">{capitalize(e.status)}</span>
      </p>
      <p>
        <time dateTime={e.starts_at}>{formatTime(e.starts_at)}</time> – <time dateTime={e.ends_at}>{formatTime(e.ends_at)}</time>
      </p>
      {e.description && <p className="description">{e.description}</p>}
      <div className="counts" aria-live="polite">
        <span>{plural(e.available_slots, "seat available", "seats available")}</span>
        <span>{e.waitlist_length} waiting</span>
      </div>
      {active ? (
        <MyBooking booking={active} />
      ) : e.status === "upcoming" ? (
        mine.data && <BookForm event={e} onBooked={booked} />
      ) : (
        <p className="muted">Bookings are closed: this event is {e.status}.</p>
      )}
      <ErrorMessage error={mine.error} />
    </article>
  );
}

function MyBooking({ booking }: { booking: Booking }) {
  const waiting = booking.status === "waiting";
  return (
    <div role="status" aria-live="polite" className={`status ${booking.status}`}>
      <strong>{waiting ? "Waitlisted" : "Confirmed"}</strong>
      {waiting && booking.position !== null && <>, position {booking.position}</>}
      {" — "}{plural(booking.seats, "seat", "seats")}.{" "}
      <Link href="/bookings">All your bookings</Link>
    </div>
  );
}

function BookForm({ event, onBooked }: { event: HappeningEvent; onBooked: (b: Booking) => void }) {
  const [seats, setSeats] = useState("1");
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const inFlight = useRef(false);
  const attemptKey = useRef<string | null>(null);
  const max = Math.min(event.max_seats_per_booking, event.total_slots);

  async function book(e: React.FormEvent) {
    e.preventDefault();
    if (inFlight.current) return; // a double click books once
    inFlight.current = true;
    setBusy(true);
    // one key per attempt: a retry after a lost answer replays the first answer instead of booking again
    attemptKey.current ??= crypto.randomUUID();
    try {
      const booking = await api<Booking>(`/v1/events/${event.id}/bookings`, {
        method: "POST", body: { seats: Number(seats) }, headers: { "Idempotency-Key": attemptKey.current },
      });
      attemptKey.current = null;
      setError(null);
      onBooked(booking);
    } catch (err) {
      const apiError = err as ApiError;
      if (apiError.status !== 0 && apiError.status < 500) attemptKey.current = null; // a final answer
      setError(apiError);
    } finally {
      inFlight.current = false;
      setBusy(false);
    }
  }

  const seatsError = fieldError(error, "seats");
  return (
    <form onSubmit={book} className="row" noValidate>
      <div>
        <label htmlFor="seats">Seats</label>
        <input id="seats" type="number" min={1} max={max} value={seats} onChange={(e) => setSeats(e.target.value)}
          aria-invalid={seatsError ? true : undefined} aria-describedby={seatsError ? "seats-error" : undefined} />
      </div>
      <button type="submit" disabled={busy}>{busy ? "Booking…" : "Book"}</button>
      <FieldError id="seats-error" message={seatsError} />
      {error && !seatsError && <ErrorMessage error={error} />}
    </form>
  );
}
