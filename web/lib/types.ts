// The API's resource shapes (docs/contract.md §3; /v1/openapi.json).
export type Role = "orgAdmin" | "organizer" | "user";
export type Membership = { org_id: string; org_name: string; role: Role };
export type Me = { id: string; email: string; full_name: string; memberships: Membership[] };
export type Page<T> = { items: T[]; next_cursor: string | null };
export type EventStatus = "draft" | "upcoming" | "ongoing" | "completed" | "cancelled";
export type HappeningEvent = {
  id: string; org_id: string; org_name: string; name: string; description: string;
  category: "concert" | "webinar" | "hackathon"; status: EventStatus; starts_at: string; ends_at: string;
  total_slots: number; available_slots: number; waitlist_length: number; max_seats_per_booking: number;
  visibility: "public" | "members";
};
export type BookingStatus = "confirmed" | "waiting" | "cancelled";
export type Booking = {
  id: string; event_id: string; user_id: string; seats: number; status: BookingStatus;
  waiting_number: number | null; position: number | null; created_at: string; updated_at: string;
  event_name?: string;
  user_email?: string; // in an event's lists for its organizers
  user_name?: string;
};
export type Notification = {
  id: string; type: string; status: "pending" | "sent" | "failed"; message: string; event_id: string | null;
  created_at: string; channel?: string; delivered_via?: string | null;
};
export const CATEGORIES = ["concert", "webinar", "hackathon"] as const;
// Organizations, members, invites, audit and event stats (the org pages).
export type Organization = { id: string; name: string; created_at: string; role?: Role };
export type Member = { user_id: string; email: string; full_name: string; role: Role; joined_at?: string };
export type InviteStatus = "pending" | "accepted" | "revoked" | "expired";
export type Invite = {
  id: string; org_id: string; email: string; role: Role; status: InviteStatus; expires_at: string;
  created_at?: string; token?: string;
};
export type InvitePreview = {
  org_id: string; org_name: string; role: Role; email: string; status: InviteStatus; expires_at: string;
};
export type AuditEntry = {
  id: number; org_id: string; actor_id: string | null; entity: string; entity_id: string | null;
  action: string; before: unknown; after: unknown; created_at: string;
};
export const AUDIT_ENTITIES = ["organization", "membership", "invite", "event", "booking", "notification"] as const;
export type TimelinePoint = { at: string; confirmed_seats: number; waiting_bookings: number };
export type EventStats = {
  event_id: string; total_slots: number; confirmed_seats: number; confirmed_bookings: number;
  waiting_bookings: number; waiting_seats: number; cancelled_bookings: number; promotions: number;
  fill_rate: number; timeline: TimelinePoint[]; timeline_bucket_seconds: number;
};
