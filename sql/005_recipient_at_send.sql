-- A user's notification may leave `recipient` empty: the worker sends to the user's email as it is at
-- send time (and the booking path writes the outbox with COPY, without joining users). Rows for an
-- address that is not a user (invites) still carry it.
alter table notifications alter column recipient drop not null;
alter table notifications add constraint notifications_has_recipient
    check (recipient is not null or user_id is not null);
