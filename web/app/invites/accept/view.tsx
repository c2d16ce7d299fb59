"use client";
// Accept an invite: the organization and role it offers, then join and go to the organization.
import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";
import { useState } from "react";
import { api, ApiError } from "@/lib/api";
import { formatTime } from "@/lib/format";
import { orgPath } from "@/lib/orgs";
import { useSession } from "@/lib/session";
import type { InvitePreview } from "@/lib/types";
import { useApi } from "@/lib/useApi";
import { ErrorMessage, Loading, SignedIn } from "@/components/States";

const ROLE_WORDS: Record<string, string> = {
  orgAdmin: "You will manage its members, invites and events.", organizer: "You will create and manage its events.",
  user: "You will be able to book its members-only events.",
};

export default function AcceptInvite() {
  const token = useSearchParams().get("token") ?? "";
  if (!token) return <ErrorMessage error="This link has no invite token. Open the whole link from your invitation." />;
  return <SignedIn><Preview token={token} /></SignedIn>;
}

function explain(error: ApiError, email: string | undefined): string {
  if (error.status === 404 || error.status === 403) {
    return `This invite was not found for ${email ?? "your account"}. It may have been sent to another email ` +
      "address (sign in with that one), or the link is incomplete.";
  }
  if (error.status === 422) return "This link is damaged: its invite token is not valid. Open the whole link again.";
  return error.detail || error.message;
}

function Preview({ token }: { token: string }) {
  const session = useSession();
  const router = useRouter();
  const invite = useApi<InvitePreview>(`/v1/invites/${encodeURIComponent(token)}`);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const email = session.me?.email;

  if (invite.error) return <ErrorMessage error={explain(invite.error, email)} />;
  if (!invite.data) return <Loading what="Loading invite" />;
  const i = invite.data;
  const member = session.me?.memberships.some((m) => m.org_id === i.org_id);

  async function accept() {
    setBusy(true);
    try {
      await api(`/v1/invites/${encodeURIComponent(token)}/accept`, { method: "POST" });
      await session.refresh();
      router.push(orgPath(i.org_id));
    } catch (e) {
      setError(explain(e as ApiError, email));
      setBusy(false);
    }
  }

  return (
    <>
      <p>You are invited to join <strong>{i.org_name}</strong> as <strong>{i.role}</strong>. {ROLE_WORDS[i.role]}</p>
      <p className="muted">Sent to {i.email}
        {i.status === "pending" && <>; valid until {formatTime(i.expires_at)}</>}
        {i.status === "expired" && <>; it expired on {formatTime(i.expires_at)}</>}.</p>
      {i.status === "pending" ? (
        <div className="actions"><button onClick={() => void accept()} disabled={busy}>Accept invite</button></div>
      ) : i.status === "accepted" && member ? (
        <p role="status">You have accepted this invite. <Link href={orgPath(i.org_id)}>Go to {i.org_name}</Link>.</p>
      ) : (
        <p role="alert" className="error">This invite has {i.status === "expired" ? "expired" : `been ${i.status}`}; ask
          the organization for a new one.</p>
      )}
      <ErrorMessage error={error} />
    </>
  );
}
