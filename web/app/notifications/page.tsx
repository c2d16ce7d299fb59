"use client";
// My notifications, newest first, with their delivery status.
import { capitalize, formatTime } from "@/lib/format";
import type { Notification, Page } from "@/lib/types";
import { useApi } from "@/lib/useApi";
import { Empty, ErrorMessage, Loading, SignedIn } from "@/components/States";
import PageTitle from "@/components/PageTitle";

const TYPES: Record<string, string> = {
  booking_confirmed: "Booking confirmed", booking_waitlisted: "Booking waitlisted",
  booking_cancelled: "Booking cancelled", waitlist_promoted: "Promoted from the waitlist",
  event_updated: "Event updated", org_invite: "Invitation",
};

export default function NotificationsPage() {
  return (
    <section>
      <PageTitle>Notifications</PageTitle>
      <SignedIn><NotificationList /></SignedIn>
    </section>
  );
}

function NotificationList() {
  const list = useApi<Page<Notification>>("/v1/notifications?limit=100");
  if (list.error) return <ErrorMessage error={list.error} />;
  if (!list.data) return <Loading what="Loading notifications" />;
  if (list.data.items.length === 0) return <Empty>No notifications yet.</Empty>;
  return (
    <>
      <p><button className="secondary" onClick={list.reload} disabled={list.loading}>Refresh</button></p>
      <ul className="card-list" aria-label="Notifications">
        {list.data.items.map((n) => (
          <li key={n.id} className="card">
            <strong>{TYPES[n.type] ?? n.type}</strong>
            <p>{n.message}</p>
            <div className="meta">
              <span>{formatTime(n.created_at)}</span>
              <span>Delivery: {capitalize(n.status)}</span>
            </div>
          </li>
        ))}
      </ul>
    </>
  );
}
