// Helpers for the organization pages: who may manage, local times for datetime inputs, the CSV download.
import { request } from "./api";
import type { Role } from "./types";

export function canManage(role: Role | null | undefined): boolean {
  return role === "orgAdmin" || role === "organizer";
}

export function orgPath(org: string, ...rest: string[]): string {
  return ["/orgs", encodeURIComponent(org), ...rest.map(encodeURIComponent)].join("/");
}

export function apiOrg(org: string, rest = ""): string {
  return `/v1/organizations/${encodeURIComponent(org)}${rest}`;
}

/** The viewer's time zone, named (e.g. "Europe/Berlin"). */
export function localZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
}

/** A datetime-local value (the viewer's wall clock) as an RFC 3339 UTC time; null if empty or invalid. */
export function localInputToIso(value: string): string | null {
  if (!value) return null;
  const date = new Date(value); // "YYYY-MM-DDTHH:mm" without a zone is local time
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** An RFC 3339 time as a datetime-local value in the viewer's zone. */
export function isoToLocalInput(iso: string): string {
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Fetch a file that needs the bearer token and hand it to the browser as a download. */
export async function download(path: string, filename: string): Promise<void> {
  const response = await request(path, { headers: { Accept: "text/csv" } });
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
