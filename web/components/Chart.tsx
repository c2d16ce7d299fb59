// A small step chart of an event's confirmed seats and waiting bookings over time, hand-written SVG
// (two lines do not justify a charting library), with a text summary and its data as a table for
// screen readers and anyone who prefers numbers.
import { useId } from "react";
import { formatTime } from "@/lib/format";
import type { TimelinePoint } from "@/lib/types";

// The plot is drawn in a 100 x 100 box stretched to the figure (strokes keep their width); the labels
// are HTML beside it, so they stay readable at any width.
const TOP = 6, BOTTOM = 96;

type Props = { points: TimelinePoint[]; capacity: number };

export default function Chart({ points, capacity }: Props) {
  const id = useId();
  if (points.length === 0) return <p className="muted">No bookings yet, so nothing to chart.</p>;
  const times = points.map((p) => new Date(p.at).getTime());
  const start = times[0] - 60_000; // the counts were zero before the first change
  const end = Math.max(times[times.length - 1], Date.now());
  const top = Math.max(capacity, ...points.map((p) => Math.max(p.confirmed_seats, p.waiting_bookings)), 1);
  const ticks = [...new Set([0, Math.round(top / 2), top])];
  const x = (t: number) => ((t - start) / Math.max(end - start, 1)) * 100;
  const y = (v: number) => BOTTOM - (v / top) * (BOTTOM - TOP);
  const steps = (value: (p: TimelinePoint) => number) => {
    let d = `M${x(start)},${y(0)}`;
    points.forEach((p, i) => { d += ` H${x(times[i])} V${y(value(p))}`; });
    return `${d} H${x(end)}`;
  };
  const last = points[points.length - 1];
  const summary = `From ${formatTime(points[0].at)} to ${formatTime(last.at)}: confirmed seats went from 0 to ` +
    `${last.confirmed_seats} of ${capacity}; ${last.waiting_bookings} waiting now (peak ` +
    `${Math.max(...points.map((p) => p.waiting_bookings))}).`;

  return (
    <figure className="chart">
      <div className="chart-plot">
        {ticks.map((v) => <span key={v} className="chart-y" style={{ top: `${y(v)}%` }} aria-hidden="true">{v}</span>)}
        <svg viewBox="0 0 100 100" preserveAspectRatio="none" role="img" aria-labelledby={`${id}-t ${id}-d`}>
          <title id={`${id}-t`}>Confirmed seats and waiting bookings over time</title>
          <desc id={`${id}-d`}>{summary}</desc>
          {ticks.map((v) => <line key={v} x1={0} x2={100} y1={y(v)} y2={y(v)} stroke="#e4e4ec" vectorEffect="non-scaling-stroke" />)}
          <line x1={0} x2={100} y1={y(capacity)} y2={y(capacity)} stroke="#5a5a6e" strokeDasharray="4 3"
            vectorEffect="non-scaling-stroke" />
          <path d={steps((p) => p.waiting_bookings)} fill="none" stroke="#8a5300" strokeWidth="2" strokeDasharray="6 2"
            vectorEffect="non-scaling-stroke" />
          <path d={steps((p) => p.confirmed_seats)} fill="none" stroke="#17663a" strokeWidth="2.5"
            vectorEffect="non-scaling-stroke" />
        </svg>
      </div>
      <div className="chart-x" aria-hidden="true"><span>{formatTime(new Date(start).toISOString())}</span>
        <span>{formatTime(new Date(end).toISOString())}</span></div>
      <figcaption className="legend">
        <span><span className="swatch confirmed" aria-hidden="true" /> Confirmed seats</span>
        <span><span className="swatch waiting" aria-hidden="true" /> Waiting bookings</span>
        <span><span className="swatch capacity" aria-hidden="true" /> Capacity ({capacity})</span>
      </figcaption>
      <details>
        <summary>Chart data</summary>
        <div className="table-wrap">
          <table>
            <caption>Seats confirmed and people waiting over time</caption>
            <thead><tr><th scope="col">Time</th><th scope="col">Confirmed seats</th><th scope="col">Waiting</th></tr></thead>
            <tbody>
              {points.map((p) => (
                <tr key={p.at}><td>{formatTime(p.at)}</td><td>{p.confirmed_seats}</td><td>{p.waiting_bookings}</td></tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}
