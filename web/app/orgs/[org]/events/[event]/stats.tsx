"use client";
// The event's counts, a chart of them over time, and the bookings as a CSV download.
import { useState } from "react";
import { download } from "@/lib/orgs";
import type { EventStats, HappeningEvent } from "@/lib/types";
import type { Loaded } from "@/lib/useApi";
import Chart from "@/components/Chart";
import { ErrorMessage, Loading } from "@/components/States";

type Props = { stats: Loaded<EventStats>; base: string; event: HappeningEvent };

export default function Stats({ stats, base, event }: Props) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const s = stats.data;

  async function csv(e: React.MouseEvent<HTMLAnchorElement>) {
    e.preventDefault(); // the route needs the bearer token: fetch it, then save it from a Blob URL
    if (busy) return;
    setBusy(true);
    try {
      await download(`${base}/bookings.csv`, `${event.name.replace(/[^\w.-]+/g, "-")}-bookings.csv`);
      setError(null);
    } catch (err) {
      setError(`The download failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="stats-title">
      <h2 id="stats-title">Stats</h2>
      {stats.error && !s ? <ErrorMessage error={stats.error} /> : !s ? <Loading what="Loading stats" /> : (
        <>
          <dl className="stats">
            <div><dt>Confirmed seats</dt><dd>{s.confirmed_seats} of {s.total_slots}</dd></div>
            <div><dt>Filled</dt><dd>{Math.round(s.fill_rate * 100)}%</dd></div>
            <div><dt>Confirmed bookings</dt><dd>{s.confirmed_bookings}</dd></div>
            <div><dt>Waiting</dt><dd>{s.waiting_bookings} ({s.waiting_seats} seats)</dd></div>
            <div><dt>Cancelled</dt><dd>{s.cancelled_bookings}</dd></div>
            <div><dt>Promoted from the waitlist</dt><dd>{s.promotions}</dd></div>
          </dl>
          <Chart points={s.timeline} capacity={s.total_slots} />
        </>
      )}
      <p>
        <a href={`${base}/bookings.csv`} onClick={csv} aria-busy={busy || undefined}>Download CSV</a>
        {busy && <span className="muted" role="status"> Preparing the file…</span>}
      </p>
      <ErrorMessage error={error} />
    </section>
  );
}
