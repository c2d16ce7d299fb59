"use client";
// Members of an organization (orgAdmin): change roles, remove people, invite new ones.
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useRef, useState } from "react";
import { api, ApiError } from "@/lib/api";
import { apiOrg, orgPath } from "@/lib/orgs";
import { useSession } from "@/lib/session";
import type { Invite, Member, Organization, Role } from "@/lib/types";
import { useApi } from "@/lib/useApi";
import { usePaged, type Paged } from "@/lib/usePaged";
import { usePathSegment } from "@/lib/usePathId";
import ConfirmDialog from "@/components/ConfirmDialog";
import FieldError from "@/components/FieldError";
import { Empty, ErrorMessage, Failure, Loading, NotFound, SignedIn } from "@/components/States";
import { InviteForm, InvitesTable } from "./invites";
import PageTitle from "@/components/PageTitle";

const ROLES: Role[] = ["orgAdmin", "organizer", "user"];
// A closed select changes on every arrow key: a role is sent once the choice has rested this long (or
// the select loses focus), so passing over "user" on the way down sends nothing.
const SETTLE_MS = 800;

export default function MembersView() {
  return <SignedIn><Members org={usePathSegment(1)} /></SignedIn>;
}

function Members({ org }: { org: string }) {
  const organization = useApi<Organization>(apiOrg(org));
  const admin = organization.data?.role === "orgAdmin";
  const members = usePaged<Member>(admin ? apiOrg(org, "/members?limit=200") : null);
  const invites = usePaged<Invite>(admin ? apiOrg(org, "/invites?limit=100") : null);

  if (organization.error) return <Failure error={organization.error} what="page" />;
  if (!organization.data) return <Loading what="Loading members" />;
  if (!admin) return <NotFound what="page" />;
  return (
    <>
      <p className="muted"><Link href={orgPath(org)}>{organization.data.name}</Link></p>
      <PageTitle>Members</PageTitle>
      <MemberTable org={org} list={members} />
      <section aria-labelledby="invite-title">
        <h2 id="invite-title">Invite someone</h2>
        <InviteForm org={org} onSent={invites.reload} />
      </section>
      <InvitesTable org={org} list={invites} />
    </>
  );
}

function MemberTable({ org, list }: { org: string; list: Paged<Member> }) {
  const session = useSession();
  const router = useRouter();
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [removing, setRemoving] = useState<Member | null>(null);
  const [problem, setProblem] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [chosen, setChosen] = useState<Record<string, Role>>({}); // shown while the change is sent
  useEffect(() => setChosen({}), [list.items]);
  const me = session.me?.id;

  const pending = useRef(new Map<string, { timer: number; send: () => void }>());
  useEffect(() => () => pending.current.forEach((p) => window.clearTimeout(p.timer)), []);

  function choose(m: Member, role: Role) {
    setChosen((c) => ({ ...c, [m.user_id]: role }));
    window.clearTimeout(pending.current.get(m.user_id)?.timer);
    const send = () => {
      pending.current.delete(m.user_id);
      if (role !== m.role) void changeRole(m, role);
    };
    pending.current.set(m.user_id, { timer: window.setTimeout(send, SETTLE_MS), send });
  }

  function settle(m: Member) {
    const p = pending.current.get(m.user_id);
    if (p) {
      window.clearTimeout(p.timer);
      p.send();
    }
  }

  async function changeRole(m: Member, role: Role) {
    setBusy(true);
    try {
      await api<Member>(apiOrg(org, `/members/${m.user_id}`), { method: "PATCH", body: { role } });
      setErrors((e) => ({ ...e, [m.user_id]: "" }));
      if (m.user_id === me) await session.refresh();
    } catch (err) {
      setErrors((e) => ({ ...e, [m.user_id]: (err as ApiError).detail || (err as ApiError).message }));
      setChosen((c) => ({ ...c, [m.user_id]: m.role }));
    } finally {
      setBusy(false);
      list.reload();
    }
  }

  async function remove() {
    if (!removing) return;
    setBusy(true);
    try {
      await api(apiOrg(org, `/members/${removing.user_id}`), { method: "DELETE" });
      setProblem(null);
      if (removing.user_id === me) {
        await session.refresh();
        router.push("/");
      }
      list.reload();
    } catch (err) {
      setProblem(err as ApiError);
    } finally {
      setBusy(false);
      setRemoving(null);
    }
  }

  if (list.error && !list.items) return <ErrorMessage error={list.error} />;
  if (!list.items) return <Loading what="Loading members" />;
  if (list.items.length === 0) return <Empty>No members.</Empty>;
  return (
    <>
      <ErrorMessage error={problem} />
      <div className="table-wrap">
        <table>
          <caption className="sr-only">Members</caption>
          <thead>
            <tr><th scope="col">Name</th><th scope="col">Email</th><th scope="col">Role</th>
              <th scope="col"><span className="sr-only">Actions</span></th></tr>
          </thead>
          <tbody>
            {list.items.map((m) => {
              const errorId = `role-error-${m.user_id}`;
              return (
                <tr key={m.user_id}>
                  <td>{m.full_name || "—"}{m.user_id === me && <span className="muted"> (you)</span>}</td>
                  <td>{m.email}</td>
                  <td>
                    <select aria-label={`Role for ${m.email}`} value={chosen[m.user_id] ?? m.role}
                      aria-invalid={errors[m.user_id] ? true : undefined}
                      aria-describedby={errors[m.user_id] ? errorId : undefined}
                      onChange={(e) => choose(m, e.target.value as Role)} onBlur={() => settle(m)}>
                      {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
                    </select>
                    <FieldError id={errorId} message={errors[m.user_id] || undefined} />
                  </td>
                  <td>
                    <button className="secondary" aria-label={`Remove ${m.email}`} disabled={busy}
                      onClick={() => setRemoving(m)}>Remove</button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {list.hasMore && <button className="secondary" onClick={list.more} disabled={list.loading}>More</button>}
      <ConfirmDialog open={removing !== null} title={`Remove ${removing?.email ?? "this member"}?`} busy={busy}
        onConfirm={() => void remove()} onClose={() => setRemoving(null)}>
        <p>{removing?.user_id === me ? "You will lose access to this organization at once."
          : "They lose access to this organization at once; their bookings stay."}</p>
      </ConfirmDialog>
    </>
  );
}
