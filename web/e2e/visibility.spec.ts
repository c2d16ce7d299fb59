// Journey 4: another organization's members-only and draft events are not found.
import { Api, email, expect, signIn, test } from "./support";

test("a user of another organization cannot open members-only or draft events", async ({ page, baseURL }) => {
  const owner = await Api.as(baseURL!, email("owner"));
  const membersOnly = await owner.event({ name: `Members ${Date.now()}`, visibility: "members" });
  const draft = await owner.event({ name: `Draft ${Date.now()}`, publish: false });
  const open = await owner.event({ name: `Open ${Date.now()}` });

  await signIn(page, email("outsider"));
  for (const hidden of [membersOnly, draft]) {
    await page.goto(`/events/${hidden.id}`);
    await expect(page.getByRole("heading", { name: "Not found" })).toBeVisible();
    await expect(page.getByText(hidden.name)).toHaveCount(0);
  }
  await page.goto("/");
  await page.getByRole("searchbox", { name: "Search events" }).fill(String(open.name));
  await expect(page.getByRole("link", { name: open.name })).toBeVisible();
  await page.getByRole("searchbox", { name: "Search events" }).fill(String(membersOnly.name));
  await expect(page.getByText("No events match")).toBeVisible();
  await page.goto(`/events/${open.id}`);
  await expect(page.getByRole("heading", { name: open.name })).toBeVisible();
});
