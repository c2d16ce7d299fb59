"use client";
// The event's bookings (every status) and its ordered waitlist, for its organizers.
import type { ReactNode } from "react";
import { capitalize, formatTime } from "@/lib/format";
import type { Booking } from "@/lib/types";
import type { Paged } from "@/lib/usePaged";
import { Empty, ErrorMessage, Loading } from "@/components/States";

/** The booker by name and email (an event's lists carry both); by id if a list lacks them. */
function User({ booking }: { booking: Booking }) {
  if (!booking.user_email) return <span title={booking.user_id}>{booking.user_id.slice(0, 8)}</span>;
  return <>{booking.user_name || booking.user_email}{booking.user_name && <div className="muted">{booking.user_email}</div>}</>;
}

type TableProps = { id: string; title: string; list: Paged<Booking>; empty: string; columns: string[];
  row: (b: Booking) => ReactNode };

/** A titled, paged table of bookings with its loading, empty and error states. */
function BookingList({ id, title, list, empty, columns, row }: TableProps) {
  return (
    <section aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {list.error && !list.items ? <ErrorMessage error={list.error} />
        : !list.items ? <Loading what={`Loading ${title.toLowerCase()}`} />
        : list.items.length === 0 ? <Empty>{empty}</Empty> : (
          <div className="table-wrap">
            <table>
              <caption className="sr-only">{title}</caption>
              <thead><tr>{columns.map((c) => <th key={c} scope="col">{c}</th>)}</tr></thead>
              <tbody>{list.items.map((b) => <tr key={b.id}>{row(b)}</tr>)}</tbody>
            </table>
          </div>
        )}
      {list.items && <ErrorMessage error={list.error} />}
      {list.hasMore && <button className="secondary" onClick={list.more} disabled={list.loading}>More</button>}
    </section>
  );
}

export function BookingsTable({ list }: { list: Paged<Booking> }) {
  return (
    <BookingList id="bookings-title" title="Bookings" list={list} empty="No bookings yet."
      columns={["User", "Seats", "Status", "Waiting number", "Booked", "Updated"]}
      row={(b) => (
        <>
          <td><User booking={b} /></td>
          <td>{b.seats}</td>
          <td>{b.status === "waiting" ? "Waitlisted" : capitalize(b.status)}</td>
          <td>{b.waiting_number ?? "—"}</td>
          <td>{formatTime(b.created_at)}</td>
          <td>{formatTime(b.updated_at)}</td>
        </>
      )} />
  );
}

export function WaitlistTable({ list }: { list: Paged<Booking> }) {
  return (
    <BookingList id="waitlist-title" title="Waitlist" list={list} empty="Nobody is waiting."
      columns={["Position", "Seats", "User", "Waiting since"]}
      row={(b) => (
        <>
          <td>{b.position}</td>
          <td>{b.seats}</td>
          <td><User booking={b} /></td>
          <td>{formatTime(b.created_at)}</td>
        </>
      )} />
  );
}
