"use client";
// Who is signed in, and their memberships (GET /v1/me), for every page.
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { api } from "./api";
import { accessToken, signIn, signOut, userManager } from "./auth";
import type { Me } from "./types";

type Session = {
  status: "loading" | "signedOut" | "signedIn";
  me: Me | null;
  error: string | null;
  signIn: () => void;
  signOut: () => void;
  refresh: () => Promise<void>;
};

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [status, setStatus] = useState<Session["status"]>("loading");
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState<string | null>(null);

  const refresh = useCallback(async () => {
    try {
      if (!(await accessToken())) { // renews an expired token with the refresh token first
        setMe(null);
        setStatus("signedOut");
        return;
      }
      setMe(await api<Me>("/v1/me"));
      setStatus("signedIn");
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      setStatus((s) => (s === "loading" ? "signedOut" : s));
    }
  }, []);

  useEffect(() => {
    void refresh();
    let cleanup = () => {};
    void userManager().then((mgr) => {
      const changed = () => void refresh();
      mgr.events.addUserLoaded(changed);
      mgr.events.addUserUnloaded(changed);
      mgr.events.addUserSignedOut(changed);
      cleanup = () => {
        mgr.events.removeUserLoaded(changed);
        mgr.events.removeUserUnloaded(changed);
        mgr.events.removeUserSignedOut(changed);
      };
    }).catch(() => {});
    return () => cleanup();
  }, [refresh]);

  const value: Session = {
    status, me, error, refresh,
    signIn: () => void signIn().catch((e: unknown) => setError(e instanceof Error ? e.message : String(e))),
    signOut: () => void signOut().catch((e: unknown) => setError(e instanceof Error ? e.message : String(e))),
  };
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside SessionProvider");
  return session;
}
