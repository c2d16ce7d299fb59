"use client";
// Publish a draft, cancel the event (asked first), and change its capacity.
import { useEffect, useState } from "react";
import { api, ApiError } from "@/lib/api";
import type { HappeningEvent } from "@/lib/types";
import ConfirmDialog from "@/components/ConfirmDialog";
import Field from "@/components/Field";
import { ErrorMessage } from "@/components/States";

type Props = { event: HappeningEvent; base: string; onChanged: (event: HappeningEvent) => void };
const ENDED = ["cancelled", "completed"];

export function Lifecycle({ event, base, onChanged }: Props) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  async function run(action: "publish" | "cancel") {
    setBusy(true);
    try {
      onChanged(await api<HappeningEvent>(`${base}/${action}`, { method: "POST" }));
      setError(null);
    } catch (e) {
      setError(e as ApiError);
    } finally {
      setBusy(false);
      setAsking(false);
    }
  }

  if (ENDED.includes(event.status)) return <p className="muted">This event is {event.status}; it cannot change any more.</p>;
  return (
    <>
      <div className="actions">
        {event.status === "draft" && <button onClick={() => void run("publish")} disabled={busy}>Publish</button>}
        <button className="danger" onClick={() => setAsking(true)} disabled={busy}>Cancel event</button>
      </div>
      <ErrorMessage error={error} />
      <ConfirmDialog open={asking} title="Cancel this event?" busy={busy} onConfirm={() => void run("cancel")}
        onClose={() => setAsking(false)}>
        <p>Every booking of {event.name} is cancelled and each booker is told. This cannot be undone.</p>
      </ConfirmDialog>
    </>
  );
}

export function Capacity({ event, base, onChanged }: Props) {
  const [slots, setSlots] = useState(String(event.total_slots));
  const [error, setError] = useState<string | undefined>();
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  useEffect(() => setSlots(String(event.total_slots)), [event.total_slots]);

  async function save(e: React.FormEvent) {
    e.preventDefault();
    const n = Number(slots);
    setSaved(false);
    if (!Number.isInteger(n) || n < 1) return setError("Total slots must be a whole number of at least 1.");
    setBusy(true);
    try {
      onChanged(await api<HappeningEvent>(base, { method: "PATCH", body: { total_slots: n } }));
      setError(undefined);
      setSaved(true);
    } catch (err) {
      const apiError = err as ApiError; // e.g. 409: fewer slots than confirmed seats
      setError(apiError.detail || apiError.message);
    } finally {
      setBusy(false);
    }
  }

  if (ENDED.includes(event.status)) return null;
  return (
    <form onSubmit={save} noValidate className="row">
      <Field id="total-slots" label="Total slots" error={error}>
        {(p) => <input {...p} type="number" min={1} step={1} inputMode="numeric" value={slots}
          onChange={(e) => { setSlots(e.target.value); setSaved(false); }} />}
      </Field>
      <div className="field"><button type="submit" disabled={busy}>Save capacity</button></div>
      {saved && <p role="status" className="muted">Capacity saved.</p>}
    </form>
  );
}
