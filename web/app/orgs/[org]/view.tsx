"use client";
// An organization's home: its events in every status, with links to manage them (organizers), and to
// its members and audit log (orgAdmins).
import Link from "next/link";
import { capitalize, formatTime } from "@/lib/format";
import { apiOrg, canManage, orgPath } from "@/lib/orgs";
import type { HappeningEvent, Organization } from "@/lib/types";
import { useApi } from "@/lib/useApi";
import { usePaged } from "@/lib/usePaged";
import { usePathSegment } from "@/lib/usePathId";
import { Empty, ErrorMessage, Failure, Loading, SignedIn } from "@/components/States";
import PageTitle from "@/components/PageTitle";

export default function OrgView() {
  return <SignedIn><Org id={usePathSegment(1)} /></SignedIn>;
}

function Org({ id }: { id: string }) {
  const org = useApi<Organization>(apiOrg(id));
  if (org.error) return <Failure error={org.error} what="organization" />;
  if (!org.data) return <Loading what="Loading organization" />;
  const manage = canManage(org.data.role);
  return (
    <section>
      <div className="page-head">
        <PageTitle>{org.data.name}</PageTitle>
        {manage && <Link className="button" href={orgPath(id, "events", "new")}>New event</Link>}
      </div>
      {org.data.role === "orgAdmin" && (
        <nav className="links" aria-label="Organization">
          <Link href={orgPath(id, "members")}>Members</Link>
          <Link href={orgPath(id, "audit")}>Audit log</Link>
        </nav>
      )}
      <EventTable org={id} manage={manage} />
    </section>
  );
}

function EventTable({ org, manage }: { org: string; manage: boolean }) {
  const list = usePaged<HappeningEvent>(apiOrg(org, "/events?limit=100"));
  if (list.error && !list.items) return <ErrorMessage error={list.error} />;
  if (!list.items) return <Loading what="Loading events" />;
  if (list.items.length === 0) {
    return <Empty>No events yet.{manage && <> <Link href={orgPath(org, "events", "new")}>Create the first one</Link>.</>}</Empty>;
  }
  return (
    <>
      <div className="table-wrap">
        <table>
          <caption>Events</caption>
          <thead>
            <tr><th scope="col">Event</th><th scope="col">Status</th><th scope="col">Starts</th>
              <th scope="col">Seats available</th><th scope="col">Waiting</th></tr>
          </thead>
          <tbody>
            {list.items.map((e) => (
              <tr key={e.id}>
                <td>{manage ? <Link href={orgPath(org, "events", e.id)}>{e.name}</Link>
                  : <Link href={`/events/${e.id}`}>{e.name}</Link>}</td>
                <td><span className="badge">{capitalize(e.status)}</span></td>
                <td><time dateTime={e.starts_at}>{formatTime(e.starts_at)}</time></td>
                <td>{e.available_slots} of {e.total_slots}</td>
                <td>{e.waitlist_length}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <ErrorMessage error={list.error} />
      {list.hasMore && <button className="secondary" onClick={list.more} disabled={list.loading}>More</button>}
    </>
  );
}
