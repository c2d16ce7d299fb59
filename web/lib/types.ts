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
};
export type Notification = {
  id: string; type: string; status: "pending" | "sent" | "failed"; message: string; event_id: string | null;
  created_at: string; channel?: string; delivered_via?: string | null;
};
export const CATEGORIES = ["concert", "webinar", "hackathon"] as const;
