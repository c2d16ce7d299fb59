"use client";
// Loading, error, empty and not-found states, the same on every page.
import Link from "next/link";
import type { ReactNode } from "react";
import type { ApiError } from "@/lib/api";
import { useSession } from "@/lib/session";
import PageTitle from "@/components/PageTitle";

export function Loading({ what = "Loading" }: { what?: string }) {
  return <p role="status" aria-live="polite" className="muted">{what}…</p>;
}

export function ErrorMessage({ error }: { error: ApiError | Error | string | null }) {
  if (!error) return null;
  const text = typeof error === "string" ? error : error.message;
  return <p role="alert" className="error">{text}</p>;
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="muted">{children}</p>;
}

export function NotFound({ what = "page" }: { what?: string }) {
  return (
    <section>
      <PageTitle>Not found</PageTitle>
      <p>This {what} does not exist, or you may not see it.</p>
      <p><Link href="/">Back to events</Link></p>
    </section>
  );
}

/** What a page shows when its request failed: not found for 404 (and 403), else the problem's detail. */
export function Failure({ error, what }: { error: ApiError; what?: string }) {
  if (error.status === 404 || error.status === 403) return <NotFound what={what} />;
  return <ErrorMessage error={error} />;
}

/** The page's content once signed in; a prompt to sign in otherwise. */
export function SignedIn({ children }: { children: ReactNode }) {
  const session = useSession();
  if (session.status === "loading") return <Loading />;
  if (session.status === "signedOut") {
    return (
      <section>
        <p>Please use the Sign in button above to continue.</p>
        <ErrorMessage error={session.error} />
      </section>
    );
  }
  return <>{children}</>;
}
