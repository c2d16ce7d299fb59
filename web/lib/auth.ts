// Sign-in: OIDC authorization code flow with PKCE through oidc-client-ts, against the issuer the API
// names at /v1/auth/config (Keycloak, the dev issuer, or any standard OpenID provider). Tokens renew
// silently with the refresh token, one renewal at a time across every tab of the app.
import { ErrorResponse, UserManager, type User } from "oidc-client-ts";
import { userStore } from "./userStore";

export type AuthConfig = { issuer: string; audience: string; client_id: string; web_client_id?: string };

/** A token this close to expiry is renewed before it is sent (it may expire on the way). */
const MARGIN_SECONDS = 5;
/** Renew ahead of time this long before expiry, or at half the token's remaining life if sooner. */
const AHEAD_SECONDS = 60;
const LOCK = "happening-token-renewal";

let manager: Promise<UserManager> | null = null;

export function userManager(): Promise<UserManager> {
  manager ??= fetch("/v1/auth/config")
    .then((r) => {
      if (!r.ok) throw new Error(`auth config: HTTP ${r.status}`);
      return r.json() as Promise<AuthConfig>;
    })
    .then((config) => {
      const origin = window.location.origin;
      return new UserManager({
        authority: config.issuer,
        client_id: config.web_client_id ?? "happening-web",
        redirect_uri: `${origin}/auth/callback`,
        post_logout_redirect_uri: `${origin}/`,
        response_type: "code",
        scope: "openid profile email",
        userStore: userStore(), // IndexedDB: every tab sees a renewal the moment it is stored
        // Not oidc-client-ts' own renewal timer: it fires one second after loading a token that lives
        // under a minute (renewing in a loop), and every open tab fires it at the same moment with the
        // same refresh token: a provider that rotates them strictly refuses the reuse (Keycloak with
        // "Revoke Refresh Token"), and oidc-provider then revokes the whole grant, so every tab is
        // signed out at its next renewal. `keepFresh` replaces it.
        automaticSilentRenew: false,
        loadUserInfo: false,
      });
    })
    .then((mgr) => {
      keepFresh(mgr);
      return mgr;
    })
    .catch((error: unknown) => {
      manager = null; // try again on the next call
      throw error;
    });
  return manager;
}

let renewing: Promise<string | null> | null = null;

/** A fresh access token, renewing it first if it has expired or is about to; null when signed out. */
export async function accessToken(): Promise<string | null> {
  const mgr = await userManager();
  const user = await mgr.getUser();
  if (!user) return null;
  if (!expiring(user, MARGIN_SECONDS)) return user.access_token;
  return renew(mgr, user.access_token);
}

function expiring(user: User, seconds: number): boolean {
  return user.expires_in !== undefined && user.expires_in <= seconds;
}

/**
 * Replace the access token `stale` using the refresh token: one renewal for every caller in this tab,
 * and one at a time across tabs (Web Locks), each re-reading the stored user (IndexedDB, see
 * userStore.ts) first, so a refresh token is never sent twice (they rotate; a reused one may revoke the
 * session). A tab that finds another tab already renewed simply uses the new token.
 */
function renew(mgr: UserManager, stale: string): Promise<string | null> {
  renewing ??= exclusive(async () => {
    const user = await mgr.getUser();
    if (!user) return null;
    if (user.access_token !== stale && !expiring(user, MARGIN_SECONDS)) return user.access_token;
    if (!user.refresh_token) {
      // No refresh token (the provider did not issue one): nothing can renew it silently (the app
      // cannot be framed for prompt=none), so the user signs in again once it expires.
      if (user.expired) await mgr.removeUser();
      return user.expired ? null : user.access_token;
    }
    try {
      return (await mgr.signinSilent())?.access_token ?? null;
    } catch (error) {
      if (error instanceof ErrorResponse) { // the provider refused: the session is over
        await mgr.removeUser();
        return null;
      }
      return user.expired ? null : user.access_token; // unreachable provider: keep the session, retry later
    }
  }).finally(() => {
    renewing = null;
  });
  return renewing;
}

async function exclusive<T>(work: () => Promise<T>): Promise<T> {
  const locks = typeof navigator !== "undefined" ? navigator.locks : undefined;
  return locks ? locks.request(LOCK, work) : work(); // Web Locks need a secure context (https, loopback)
}

let timer: ReturnType<typeof setTimeout> | undefined;

/** Renew ahead of expiry while a tab is open: at most once per half of a token's remaining life. */
function keepFresh(mgr: UserManager): void {
  const schedule = (user: User | null) => {
    clearTimeout(timer);
    // a token about to expire (or expired) is renewed by the next accessToken() instead
    if (!user?.refresh_token || user.expires_in === undefined || expiring(user, MARGIN_SECONDS)) return;
    const wait = Math.max(user.expires_in - AHEAD_SECONDS, user.expires_in / 2);
    timer = setTimeout(() => {
      void renew(mgr, user.access_token)
        .then(() => mgr.getUser())
        .then(schedule, () => {});
    }, wait * 1000);
  };
  mgr.events.addUserLoaded(schedule);
  mgr.events.addUserUnloaded(() => clearTimeout(timer));
  void mgr.getUser().then(schedule, () => {});
}

export async function signIn(): Promise<void> {
  const returnTo = window.location.pathname + window.location.search;
  await (await userManager()).signinRedirect({ state: { returnTo } });
}

export async function signOut(): Promise<void> {
  await (await userManager()).signoutRedirect();
}
