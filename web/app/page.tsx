"use client";
// Published events the viewer may see: search by name, filter by category, a page at a time.
import Link from "next/link";
import { useEffect, useState } from "react";
import { api, qs, type ApiError } from "@/lib/api";
import { capitalize, formatTime, plural } from "@/lib/format";
import { CATEGORIES, type HappeningEvent, type Page } from "@/lib/types";
import { Empty, ErrorMessage, Loading, SignedIn } from "@/components/States";
import PageTitle from "@/components/PageTitle";

export default function EventsPage() {
  return (
    <section>
      <PageTitle>Events</PageTitle>
      <SignedIn><EventList /></SignedIn>
    </section>
  );
}

function EventList() {
  const [text, setText] = useState("");
  const [search, setSearch] = useState("");
  const [category, setCategory] = useState("");
  const [events, setEvents] = useState<HappeningEvent[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);

  useEffect(() => {
    const timer = setTimeout(() => setSearch(text.trim()), 250);
    return () => clearTimeout(timer);
  }, [text]);

  useEffect(() => {
    const controller = new AbortController();
    setEvents(null);
    api<Page<HappeningEvent>>(`/v1/events${qs({ q: search, category })}`, { signal: controller.signal })
      .then((page) => {
        setEvents(page.items);
        setCursor(page.next_cursor);
        setError(null);
      })
      .catch((e: ApiError) => !controller.signal.aborted && setError(e));
    return () => controller.abort();
  }, [search, category]);

  async function more() {
    if (!cursor) return;
    setLoadingMore(true);
    try {
      const page = await api<Page<HappeningEvent>>(`/v1/events${qs({ q: search, category, cursor })}`);
      setEvents((current) => [...(current ?? []), ...page.items]);
      setCursor(page.next_cursor);
    } catch (e) {
      setError(e as ApiError);
    } finally {
      setLoadingMore(false);
    }
  }

  return (
    <>
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <div>
          <label htmlFor="search">Search events</label>
          <input id="search" type="search" value={text} onChange={(e) => setText(e.target.value)} />
        </div>
        <div>
          <label htmlFor="category">Category</label>
          <select id="category" value={category} onChange={(e) => setCategory(e.target.value)}>
            <option value="">All categories</option>
            {CATEGORIES.map((c) => <option key={c} value={c}>{capitalize(c)}</option>)}
          </select>
        </div>
      </form>
      <ErrorMessage error={error} />
      {events === null && !error && <Loading what="Loading events" />}
      {events?.length === 0 && <Empty>No events match. Try another search or category.</Empty>}
      {events && events.length > 0 && (
        <ul className="card-list" aria-label="Events">
          {events.map((event) => (
            <li key={event.id} className="card">
              <Link href={`/events/${event.id}`}>{event.name}</Link>
              <div className="meta">
                <span>{formatTime(event.starts_at)}</span>
                <span>{event.org_name}</span>
                <span>{capitalize(event.category)}</span>
                <span>{plural(event.available_slots, "seat available", "seats available")}</span>
                <span>{event.waitlist_length} waiting</span>
                {event.status !== "upcoming" && <span className="badge">{capitalize(event.status)}</span>}
              </div>
            </li>
          ))}
        </ul>
      )}
      {cursor && (
        <p><button className="secondary" onClick={more} disabled={loadingMore}>More events</button></p>
      )}
    </>
  );
}
