// Shared steps of the browser journeys: a test that fails on any browser console error, sign-in
// through the issuer's page, and API calls (password-grant tokens) to set up what a journey is not about.
import { expect, test as base, type Page } from "@playwright/test";

const RUN = Date.now().toString(36);
let counter = 0;

/** A fresh email address for this run. */
export function email(name: string): string {
  counter += 1;
  return `${name}-${RUN}-${counter}@example.test`;
}

// Chromium logs every failed HTTP response as a console error. An API's 4xx problem answer is one the
// page shows its user (a not-found event, a field error), so it is allowed; any other failed response
// (a page, an asset, a 5xx) and every other console error or uncaught exception fails the test.
export const test = base.extend<{ consoleErrors: string[] }>({
  consoleErrors: [async ({ page }, use) => {
    const errors: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) errors.push(message.text());
    });
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("response", (response) => {
      const path = new URL(response.url()).pathname;
      const answered = path.startsWith("/v1/") && response.status() < 500;
      if (response.status() >= 400 && !answered) errors.push(`${response.status()} ${response.request().method()} ${path}`);
    });
    await use(errors);
    expect(errors, "no errors in the browser console").toEqual([]);
  }, { auto: true }],
});
export { expect };

export async function signIn(page: Page, address: string, name?: string): Promise<void> {
  await page.goto("/");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("textbox", { name: "Email" }).fill(address);
  if (name) await page.getByRole("textbox", { name: "Name" }).fill(name);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("button", { name: "Sign out" })).toBeVisible();
  await expect(page.getByText(address)).toBeVisible();
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `test-results/screenshots/${name}.png`, fullPage: true });
}

type Json = Record<string, unknown>;

/** The API as a script uses it: tokens from the issuer's password grant. */
export class Api {
  private constructor(private readonly baseURL: string, private readonly token: string) {}

  static async as(baseURL: string, address: string): Promise<Api> {
    const config = (await (await fetch(`${baseURL}/v1/auth/config`)).json()) as { issuer: string };
    const response = await fetch(`${config.issuer}/protocol/openid-connect/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "password", client_id: "happening-api", username: address }),
    });
    expect(response.ok, "password grant").toBeTruthy();
    const api = new Api(baseURL, ((await response.json()) as { access_token: string }).access_token);
    await api.call("GET", "/v1/me"); // signs the user up
    return api;
  }

  async call<T = Json>(method: string, path: string, body?: Json): Promise<T> {
    const response = await fetch(this.baseURL + path, {
      method,
      headers: { Authorization: `Bearer ${this.token}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    expect(response.ok, `${method} ${path}: ${response.status} ${text}`).toBeTruthy();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  async orgId(): Promise<string> {
    const me = await this.call<{ memberships: { org_id: string; role: string }[] }>("GET", "/v1/me");
    return me.memberships.find((m) => m.role === "orgAdmin")!.org_id;
  }

  /** An event of this user's own organization; published unless `publish: false`. */
  async event(fields: Json & { publish?: boolean }): Promise<{ id: string; name: string }> {
    const { publish = true, ...rest } = fields;
    const starts = new Date(Date.now() + 7 * 24 * 3600 * 1000);
    const event = await this.call<{ id: string; name: string }>("POST", `/v1/organizations/${await this.orgId()}/events`, {
      name: `Event ${RUN}`, category: "concert", starts_at: starts.toISOString(),
      ends_at: new Date(starts.getTime() + 3 * 3600 * 1000).toISOString(), total_slots: 50, ...rest,
    });
    if (publish) await this.call("POST", `/v1/events/${event.id}/publish`);
    return event;
  }
}
