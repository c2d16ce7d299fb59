"use client";
// The event's bookings (every status) and its ordered waitlist, for its organizers.
import { capitalize, formatTime } from "@/lib/format";
import type { Booking } from "@/lib/types";
import type { Paged } from "@/lib/usePaged";
import { Empty, ErrorMessage, Loading } from "@/components/States";

/** Bookings name their user by id only (the list has no email; the CSV has it). */
function User({ booking }: { booking: Booking }) {
  if (!booking.user_email) return <span title={booking.user_id}>{booking.user_id.slice(0, 8)}</span>;
  return <>{booking.user_name || booking.user_email}{booking.user_name && <div className="muted">{booking.user_email}</div>}</>;
}

function More<T>({ list }: { list: Paged<T> }) {
  return list.hasMore ? <button className="secondary" onClick={list.more} disabled={list.loading}>More</button> : null;
}

export function BookingsTable({ list }: { list: Paged<Booking> }) {
  return (
    <section aria-labelledby="bookings-title">
      <h2 id="bookings-title">Bookings</h2>
      {list.error && !list.items ? <ErrorMessage error={list.error} /> : !list.items ? <Loading what="Loading bookings" />
        : list.items.length === 0 ? <Empty>No bookings yet.</Empty> : (
          <div className="table-wrap">
            <table>
              <caption className="sr-only">Bookings</caption>
              <thead>
                <tr><th scope="col">User</th><th scope="col">Seats</th><th scope="col">Status</th>
                  <th scope="col">Waiting number</th><th scope="col">Booked</th><th scope="col">Updated</th></tr>
              </thead>
              <tbody>
                {list.items.map((b) => (
                  <tr key={b.id}>
                    <td><User booking={b} /></td>
                    <td>{b.seats}</td>
                    <td>{b.status === "waiting" ? "Waitlisted" : capitalize(b.status)}</td>
                    <td>{b.waiting_number ?? "—"}</td>
                    <td>{formatTime(b.created_at)}</td>
                    <td>{formatTime(b.updated_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      {list.items && <ErrorMessage error={list.error} />}
      <More list={list} />
    </section>
  );
}

export function WaitlistTable({ list }: { list: Paged<Booking> }) {
  return (
    <section aria-labelledby="waitlist-title">
      <h2 id="waitlist-title">Waitlist</h2>
      {list.error && !list.items ? <ErrorMessage error={list.error} /> : !list.items ? <Loading what="Loading waitlist" />
        : list.items.length === 0 ? <Empty>Nobody is waiting.</Empty> : (
          <div className="table-wrap">
            <table>
              <caption className="sr-only">Waitlist</caption>
              <thead>
                <tr><th scope="col">Position</th><th scope="col">Seats</th><th scope="col">User</th>
                  <th scope="col">Waiting since</th></tr>
              </thead>
              <tbody>
                {list.items.map((b) => (
                  <tr key={b.id}>
                    <td>{b.position}</td>
                    <td>{b.seats}</td>
                    <td><User booking={b} /></td>
                    <td>{formatTime(b.created_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      {list.items && <ErrorMessage error={list.error} />}
      <More list={list} />
    </section>
  );
}
