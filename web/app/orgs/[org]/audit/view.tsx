"use client";
// The organization's audit log (orgAdmin), newest first, filtered by entity and time, paged with "More".
import Link from "next/link";
import { useState } from "react";
import { qs } from "@/lib/api";
import { capitalize, formatTime } from "@/lib/format";
import { apiOrg, localZone, orgPath } from "@/lib/orgs";
import { AUDIT_ENTITIES, type AuditEntry, type Member, type Organization, type Page } from "@/lib/types";
import { useApi } from "@/lib/useApi";
import { usePaged } from "@/lib/usePaged";
import { usePathSegment } from "@/lib/usePathId";
import { Empty, ErrorMessage, Failure, Loading, NotFound, SignedIn } from "@/components/States";
import PageTitle from "@/components/PageTitle";

export default function AuditView() {
  return (
    <section>
      <PageTitle>Audit log</PageTitle>
      <SignedIn><Audit org={usePathSegment(1)} /></SignedIn>
    </section>
  );
}

/** A date input's day, from midnight in the viewer's zone, as UTC; `to` covers its whole day. */
function dayStart(value: string, next = false): string | undefined {
  if (!value) return undefined;
  const [y, m, d] = value.split("-").map(Number);
  return new Date(y, m - 1, d + (next ? 1 : 0)).toISOString();
}

function Audit({ org }: { org: string }) {
  const organization = useApi<Organization>(apiOrg(org));
  const [entity, setEntity] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const admin = organization.data?.role === "orgAdmin";
  const path = apiOrg(org, `/audit-log${qs({ entity, from: dayStart(from), to: dayStart(to, true), limit: 50 })}`);
  const list = usePaged<AuditEntry>(admin ? path : null);
  const members = useApi<Page<Member>>(admin ? apiOrg(org, "/members?limit=200") : null); // actors by email
  const emails = new Map((members.data?.items ?? []).map((m) => [m.user_id, m.email]));

  if (organization.error) return <Failure error={organization.error} what="page" />;
  if (!organization.data) return <Loading what="Loading the audit log" />;
  if (!admin) return <NotFound what="page" />;
  return (
    <>
      <p className="muted">Of <Link href={orgPath(org)}>{organization.data.name}</Link>. Times in {localZone()}.</p>
      <form className="filters" role="search" aria-label="Filter the audit log" onSubmit={(e) => e.preventDefault()}>
        <div>
          <label htmlFor="entity">Entity</label>
          <select id="entity" value={entity} onChange={(e) => setEntity(e.target.value)}>
            <option value="">All</option>
            {AUDIT_ENTITIES.map((name) => <option key={name} value={name}>{name}</option>)}
          </select>
        </div>
        <div>
          <label htmlFor="from">From</label>
          <input id="from" type="date" value={from} max={to || undefined} onChange={(e) => setFrom(e.target.value)} />
        </div>
        <div>
          <label htmlFor="to">To</label>
          <input id="to" type="date" value={to} min={from || undefined} onChange={(e) => setTo(e.target.value)} />
        </div>
      </form>
      {list.error && !list.items ? <ErrorMessage error={list.error} /> : !list.items ? <Loading what="Loading entries" />
        : list.items.length === 0 ? <Empty>No entries match.</Empty> : (
          <div className="table-wrap">
            <table>
              <caption className="sr-only">Audit log entries</caption>
              <thead>
                <tr><th scope="col">Time</th><th scope="col">Actor</th><th scope="col">Entity</th>
                  <th scope="col">Action</th><th scope="col">Before</th><th scope="col">After</th></tr>
              </thead>
              <tbody>
                {list.items.map((a) => (
                  <tr key={a.id}>
                    <td>{formatTime(a.created_at)}</td>
                    <td>{a.actor_id ? <span title={a.actor_id}>{emails.get(a.actor_id) ?? a.actor_id.slice(0, 8)}</span>
                      : <span className="muted">system</span>}</td>
                    <td>{capitalize(a.entity)}{a.entity_id && <span className="muted" title={a.entity_id}> {a.entity_id.slice(0, 8)}</span>}</td>
                    <td>{a.action}</td>
                    <td><Compact value={a.before} /></td>
                    <td><Compact value={a.after} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      {list.items && <ErrorMessage error={list.error} />}
      {list.hasMore && <button className="secondary" onClick={list.more} disabled={list.loading}>More</button>}
    </>
  );
}

/** A before/after value as short `key: value` lines. */
function Compact({ value }: { value: unknown }) {
  if (value === null || value === undefined) return <span className="muted">—</span>;
  if (typeof value !== "object") return <>{String(value)}</>;
  const lines = Object.entries(value as Record<string, unknown>)
    .map(([k, v]) => `${k}: ${typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)}`);
  return lines.length ? <pre className="json">{lines.join("\n")}</pre> : <span className="muted">—</span>;
}
