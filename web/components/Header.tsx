"use client";
import Link from "next/link";
import { useSession } from "@/lib/session";

export default function Header() {
  const session = useSession();
  return (
    <header className="site-header">
      <nav aria-label="Main">
        <Link href="/" className="brand">Events</Link>
        {session.status === "signedIn" && session.me && (
          <>
            <Link href="/bookings">My bookings</Link>
            <Link href="/notifications">Notifications</Link>
            {session.me.memberships.map((m) => (
              <Link key={m.org_id} href={`/orgs/${m.org_id}`}>{m.org_name}</Link>
            ))}
          </>
        )}
      </nav>
      <div className="account">
        {session.status === "signedOut" && <button onClick={session.signIn}>Sign in</button>}
        {session.status === "signedIn" && session.me && (
          <>
            <span className="email">{session.me.email}</span>
            <button onClick={session.signOut}>Sign out</button>
          </>
        )}
      </div>
    </header>
  );
}
