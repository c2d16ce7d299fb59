-- Indexes for the audit-log filters, the organizer's bookings list and CSV pages, and invite expiry.
create index audit_log_org_entity_idx on audit_log (org_id, entity, id desc);
create index audit_log_org_actor_idx on audit_log (org_id, actor_id, id desc);
create index audit_log_org_time_idx on audit_log (org_id, created_at);
create index bookings_event_created_idx on bookings (event_id, created_at, id);
create index org_invites_pending_expiry_idx on org_invites (expires_at) where status = 'pending';
