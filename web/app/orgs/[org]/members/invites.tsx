"use client";
// Invite by email (the link is shown once, to copy), and the list of invites with revoke.
import { useState } from "react";
import { api, ApiError } from "@/lib/api";
import { capitalize, formatTime } from "@/lib/format";
import { apiOrg } from "@/lib/orgs";
import type { Invite } from "@/lib/types";
import type { Paged } from "@/lib/usePaged";
import Field from "@/components/Field";
import { Empty, ErrorMessage, Loading } from "@/components/States";

export function InviteForm({ org, onSent }: { org: string; onSent: () => void }) {
  const [email, setEmail] = useState("");
  const [role, setRole] = useState("organizer");
  const [errors, setErrors] = useState<{ email?: string; role?: string }>({});
  const [problem, setProblem] = useState<ApiError | null>(null);
  const [link, setLink] = useState<{ email: string; url: string } | null>(null);
  const [copied, setCopied] = useState(false);
  const [busy, setBusy] = useState(false);

  async function send(e: React.FormEvent) {
    e.preventDefault();
    setProblem(null);
    if (!/^[^\s@]+@[^\s@]+$/.test(email.trim())) return setErrors({ email: "Enter an email address, like ada@example.com." });
    setErrors({});
    setBusy(true);
    try {
      const invite = await api<Invite>(apiOrg(org, "/invites"), { method: "POST", body: { email: email.trim(), role } });
      const url = `${window.location.origin}/invites/accept?token=${encodeURIComponent(invite.token ?? "")}`;
      setLink({ email: invite.email, url });
      setCopied(false);
      setEmail("");
      onSent();
    } catch (err) {
      const apiError = err as ApiError;
      if (apiError.field === "email" || apiError.field === "role") setErrors({ [apiError.field]: apiError.detail });
      else setProblem(apiError);
    } finally {
      setBusy(false);
    }
  }

  async function copy() {
    if (!link) return;
    try {
      await navigator.clipboard.writeText(link.url);
    } catch {
      const field = document.getElementById("invite-link") as HTMLInputElement | null;
      field?.select();
      document.execCommand("copy");
    }
    setCopied(true);
  }

  return (
    <>
      <form onSubmit={send} noValidate className="form-grid">
        <Field id="invite-email" label="Email" error={errors.email}>
          {(p) => <input {...p} type="email" autoComplete="off" value={email} onChange={(e) => setEmail(e.target.value)} />}
        </Field>
        <Field id="invite-role" label="Role" error={errors.role}>
          {(p) => <select {...p} value={role} onChange={(e) => setRole(e.target.value)}>
            <option value="organizer">organizer</option>
            <option value="user">user</option>
          </select>}
        </Field>
        <div className="actions"><button type="submit" disabled={busy}>Send invite</button></div>
      </form>
      <ErrorMessage error={problem} />
      {link && (
        <div className="notice">
          <p role="status">Invite sent to {link.email}. This link is shown only once: copy it now if you want to
            send it yourself. It is valid for 7 days.</p>
          <label htmlFor="invite-link">Invite link</label>
          <div className="invite-link">
            <input id="invite-link" type="text" readOnly value={link.url} onFocus={(e) => e.target.select()} />
            <button type="button" className="secondary" onClick={() => void copy()}>Copy link</button>
          </div>
          {copied && <p role="status" className="muted">Link copied.</p>}
        </div>
      )}
    </>
  );
}

export function InvitesTable({ org, list }: { org: string; list: Paged<Invite> }) {
  const [problem, setProblem] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  async function revoke(invite: Invite) {
    setBusy(invite.id);
    try {
      await api(apiOrg(org, `/invites/${invite.id}`), { method: "DELETE" });
      setProblem(null);
    } catch (err) {
      setProblem(err as ApiError);
    } finally {
      setBusy(null);
      list.reload();
    }
  }

  return (
    <section aria-labelledby="invites-title">
      <h2 id="invites-title">Invites</h2>
      <ErrorMessage error={problem} />
      {list.error && !list.items ? <ErrorMessage error={list.error} /> : !list.items ? <Loading what="Loading invites" />
        : list.items.length === 0 ? <Empty>No invites yet.</Empty> : (
          <div className="table-wrap">
            <table>
              <caption className="sr-only">Invites</caption>
              <thead>
                <tr><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Status</th>
                  <th scope="col">Expires</th><th scope="col"><span className="sr-only">Actions</span></th></tr>
              </thead>
              <tbody>
                {list.items.map((i) => (
                  <tr key={i.id}>
                    <td>{i.email}</td>
                    <td>{i.role}</td>
                    <td>{capitalize(i.status)}</td>
                    <td>{formatTime(i.expires_at)}</td>
                    <td>{i.status === "pending" && (
                      <button className="secondary" aria-label={`Revoke invite for ${i.email}`} disabled={busy === i.id}
                        onClick={() => void revoke(i)}>Revoke</button>
                    )}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      {list.hasMore && <button className="secondary" onClick={list.more} disabled={list.loading}>More</button>}
    </section>
  );
}
