// Sign-in: OIDC authorization code flow with PKCE through oidc-client-ts, against the issuer the API
// names at /v1/auth/config (Keycloak, or the dev issuer). Tokens renew silently with the refresh token.
import { UserManager, WebStorageStateStore } from "oidc-client-ts";

export type AuthConfig = { issuer: string; audience: string; client_id: string; web_client_id?: string };

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
        userStore: new WebStorageStateStore({ store: window.localStorage }),
        automaticSilentRenew: true,
        loadUserInfo: false,
      });
    })
    .catch((error: unknown) => {
      manager = null; // try again on the next call
      throw error;
    });
  return manager;
}

let renewing: Promise<string | null> | null = null;

/** A fresh access token, renewing it first if it has expired; null when signed out. */
export async function accessToken(): Promise<string | null> {
  const mgr = await userManager();
  const user = await mgr.getUser();
  if (!user) return null;
  if (!user.expired) return user.access_token;
  // One renewal for every caller: refresh tokens rotate, so a second use of the same one would fail.
  renewing ??= mgr.signinSilent()
    .then((renewed) => renewed?.access_token ?? null)
    .catch(async () => {
      await mgr.removeUser();
      return null;
    })
    .finally(() => {
      renewing = null;
    });
  return renewing;
}

export async function signIn(): Promise<void> {
  const returnTo = window.location.pathname + window.location.search;
  await (await userManager()).signinRedirect({ state: { returnTo } });
}

export async function signOut(): Promise<void> {
  await (await userManager()).signoutRedirect();
}
