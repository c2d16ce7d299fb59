"use client";
// Create a draft event. The browser's own checks run here first (noValidate, so every message looks
// the same); the server's 422 problems then show under the field they name.
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { api, ApiError } from "@/lib/api";
import { apiOrg, canManage, localInputToIso, localZone, orgPath } from "@/lib/orgs";
import { CATEGORIES, type HappeningEvent, type Organization } from "@/lib/types";
import { useApi } from "@/lib/useApi";
import { usePathSegment } from "@/lib/usePathId";
import Field from "@/components/Field";
import { ErrorMessage, Failure, Loading, NotFound, SignedIn } from "@/components/States";
import PageTitle from "@/components/PageTitle";

export default function NewEventView() {
  return (
    <section>
      <SignedIn><NewEvent org={usePathSegment(1)} /></SignedIn>
    </section>
  );
}

type Form = Record<"name" | "description" | "category" | "starts_at" | "ends_at" | "total_slots"
  | "max_seats_per_booking" | "visibility", string>;
type Errors = Partial<Record<keyof Form, string>>;
const EMPTY: Form = { name: "", description: "", category: "concert", starts_at: "", ends_at: "", total_slots: "",
  max_seats_per_booking: "10", visibility: "public" };

function wholeNumber(value: string, label: string): string | undefined {
  if (value.trim() === "") return `${label} is required.`;
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 ? undefined : `${label} must be a whole number of at least 1.`;
}

/** What the browser itself would refuse, said in words. */
function check(form: Form): Errors {
  const errors: Errors = {};
  if (!form.name.trim()) errors.name = "Name is required.";
  const starts = localInputToIso(form.starts_at), ends = localInputToIso(form.ends_at);
  if (!starts) errors.starts_at = "Starts at is required.";
  if (!ends) errors.ends_at = "Ends at is required.";
  else if (starts && ends <= starts) errors.ends_at = "Ends at must be after Starts at.";
  errors.total_slots = wholeNumber(form.total_slots, "Total slots");
  errors.max_seats_per_booking = wholeNumber(form.max_seats_per_booking, "Max seats per booking");
  return Object.fromEntries(Object.entries(errors).filter(([, v]) => v)) as Errors;
}

function NewEvent({ org }: { org: string }) {
  const router = useRouter();
  const organization = useApi<Organization>(apiOrg(org));
  const [form, setForm] = useState<Form>(EMPTY);
  const [errors, setErrors] = useState<Errors>({});
  const [problem, setProblem] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);

  if (organization.error) return <Failure error={organization.error} what="organization" />;
  if (!organization.data) return <Loading what="Loading organization" />;
  if (!canManage(organization.data.role)) return <NotFound what="page" />;

  const set = (key: keyof Form) => (e: React.ChangeEvent<HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement>) =>
    setForm((f) => ({ ...f, [key]: e.target.value }));

  async function submit(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    if (busy) return;
    const found = check(form);
    setErrors(found);
    setProblem(null);
    if (Object.keys(found).length > 0) {
      document.getElementById(Object.keys(found)[0].replaceAll("_", "-"))?.focus();
      return;
    }
    setBusy(true);
    try {
      const created = await api<HappeningEvent>(apiOrg(org, "/events"), { method: "POST", body: {
        name: form.name.trim(), description: form.description, category: form.category,
        starts_at: localInputToIso(form.starts_at), ends_at: localInputToIso(form.ends_at),
        total_slots: Number(form.total_slots), max_seats_per_booking: Number(form.max_seats_per_booking),
        visibility: form.visibility,
      } });
      router.push(orgPath(org, "events", created.id));
    } catch (err) {
      const apiError = err as ApiError;
      if (apiError.field && apiError.field in EMPTY) {
        setErrors({ [apiError.field]: apiError.detail || apiError.title });
        document.getElementById(apiError.field.replaceAll("_", "-"))?.focus();
      } else setProblem(apiError);
      setBusy(false);
    }
  }

  const zone = `In your time zone, ${localZone()}.`;
  return (
    <>
      <PageTitle>New event</PageTitle>
      <p className="muted">For <Link href={orgPath(org)}>{organization.data.name}</Link>. The event starts as a draft; publish it when it is ready.</p>
      <form onSubmit={submit} noValidate>
        <Field id="name" label="Name" error={errors.name}>
          {(p) => <input {...p} type="text" required maxLength={200} value={form.name} onChange={set("name")} />}
        </Field>
        <Field id="description" label="Description" error={errors.description}>
          {(p) => <textarea {...p} maxLength={10000} value={form.description} onChange={set("description")} />}
        </Field>
        <div className="form-grid">
          <Field id="category" label="Category" error={errors.category}>
            {(p) => <select {...p} value={form.category} onChange={set("category")}>
              {CATEGORIES.map((c) => <option key={c} value={c}>{c}</option>)}
            </select>}
          </Field>
          <Field id="visibility" label="Visibility" error={errors.visibility}>
            {(p) => <select {...p} value={form.visibility} onChange={set("visibility")}>
              <option value="public">public</option>
              <option value="members">members</option>
            </select>}
          </Field>
          <Field id="starts-at" label="Starts at" error={errors.starts_at} hint={zone}>
            {(p) => <input {...p} type="datetime-local" required value={form.starts_at} onChange={set("starts_at")} />}
          </Field>
          <Field id="ends-at" label="Ends at" error={errors.ends_at} hint={zone}>
            {(p) => <input {...p} type="datetime-local" required value={form.ends_at} onChange={set("ends_at")} />}
          </Field>
          <Field id="total-slots" label="Total slots" error={errors.total_slots}>
            {(p) => <input {...p} type="number" min={1} step={1} required inputMode="numeric" value={form.total_slots}
              onChange={set("total_slots")} />}
          </Field>
          <Field id="max-seats-per-booking" label="Max seats per booking" error={errors.max_seats_per_booking}>
            {(p) => <input {...p} type="number" min={1} step={1} inputMode="numeric" value={form.max_seats_per_booking}
              onChange={set("max_seats_per_booking")} />}
          </Field>
        </div>
        <ErrorMessage error={problem} />
        <div className="actions">
          <button type="submit" disabled={busy}>{busy ? "Creating…" : "Create event"}</button>
        </div>
      </form>
    </>
  );
}
