-- One pending invite per email per organization: a second one answers 409 with the first.
create unique index org_invites_one_pending_idx on org_invites (org_id, lower(email)) where status = 'pending';
