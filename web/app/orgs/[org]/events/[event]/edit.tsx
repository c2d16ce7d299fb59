"use client";
// Edit an event's name, description and times (PATCH only what changed: an unchanged start time that
// has passed would otherwise be refused).
import { useState } from "react";
import { api, ApiError } from "@/lib/api";
import { isoToLocalInput, localInputToIso, localZone } from "@/lib/orgs";
import type { HappeningEvent } from "@/lib/types";
import Field from "@/components/Field";
import { ErrorMessage } from "@/components/States";

type Props = { event: HappeningEvent; base: string; onChanged: (event: HappeningEvent) => void };
type Key = "name" | "description" | "starts_at" | "ends_at";

function initial(e: HappeningEvent): Record<Key, string> {
  return { name: e.name, description: e.description ?? "", starts_at: isoToLocalInput(e.starts_at),
    ends_at: isoToLocalInput(e.ends_at) };
}

export default function EditEvent({ event, base, onChanged }: Props) {
  const [form, setForm] = useState(() => initial(event));
  const [errors, setErrors] = useState<Partial<Record<Key, string>>>({});
  const [problem, setProblem] = useState<ApiError | string | null>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  if (event.status === "cancelled" || event.status === "completed") return null;

  const set = (key: Key) => (e: React.ChangeEvent<HTMLInputElement | HTMLTextAreaElement>) => {
    setForm((f) => ({ ...f, [key]: e.target.value }));
    setSaved(false);
  };

  async function save(e: React.FormEvent) {
    e.preventDefault();
    const before = initial(event);
    const changes: Record<string, string | null> = {};
    const found: Partial<Record<Key, string>> = {};
    if (form.name !== before.name) {
      if (!form.name.trim()) found.name = "Name is required.";
      changes.name = form.name.trim();
    }
    if (form.description !== before.description) changes.description = form.description;
    for (const [key, label] of [["starts_at", "Starts at"], ["ends_at", "Ends at"]] as const) {
      if (form[key] === before[key]) continue;
      changes[key] = localInputToIso(form[key]);
      if (!changes[key]) found[key] = `${label} is required.`;
    }
    setErrors(found);
    setProblem(null);
    if (Object.keys(found).length > 0) return;
    if (Object.keys(changes).length === 0) return setProblem("Nothing has changed.");
    setBusy(true);
    try {
      const updated = await api<HappeningEvent>(base, { method: "PATCH", body: changes });
      setForm(initial(updated));
      setSaved(true);
      onChanged(updated);
    } catch (err) {
      const apiError = err as ApiError;
      if (apiError.field && apiError.field in before) setErrors({ [apiError.field]: apiError.detail || apiError.title });
      else setProblem(apiError);
    } finally {
      setBusy(false);
    }
  }

  const zone = `In your time zone, ${localZone()}.`;
  return (
    <section aria-labelledby="edit-title">
      <h2 id="edit-title">Edit details</h2>
      <form onSubmit={save} noValidate>
        <Field id="edit-name" label="Name" error={errors.name}>
          {(p) => <input {...p} type="text" maxLength={200} value={form.name} onChange={set("name")} />}
        </Field>
        <Field id="edit-description" label="Description" error={errors.description}>
          {(p) => <textarea {...p} maxLength={10000} value={form.description} onChange={set("description")} />}
        </Field>
        <div className="form-grid">
          <Field id="edit-starts-at" label="Starts at" error={errors.starts_at} hint={zone}>
            {(p) => <input {...p} type="datetime-local" value={form.starts_at} onChange={set("starts_at")} />}
          </Field>
          <Field id="edit-ends-at" label="Ends at" error={errors.ends_at} hint={zone}>
            {(p) => <input {...p} type="datetime-local" value={form.ends_at} onChange={set("ends_at")} />}
          </Field>
        </div>
        <ErrorMessage error={problem} />
        {saved && <p role="status" className="muted">Changes saved.</p>}
        <div className="actions"><button type="submit" disabled={busy}>Save changes</button></div>
      </form>
    </section>
  );
}
