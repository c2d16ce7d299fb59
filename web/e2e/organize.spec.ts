// Journeys 1 and 5: an orgAdmin invites an organizer, who joins, creates and publishes an event that
// a user then finds; bad input in the event form shows the server's message next to its field; a role
// chosen with the arrow keys is sent once.
import { Api, email, expect, screenshot, signIn, test } from "./support";

test("orgAdmin invites an organizer who creates and publishes an event a user sees", async ({ page, browser }) => {
  const admin = email("admin");
  await signIn(page, admin, "Ada Admin");
  await page.getByRole("link", { name: "Ada Admin's organization" }).click();
  await expect(page.getByRole("heading", { name: "Ada Admin's organization" })).toBeVisible();
  await page.getByRole("link", { name: "Members" }).click();
  const organizerEmail = email("organizer");
  await page.getByRole("textbox", { name: "Email" }).fill(organizerEmail);
  await page.getByRole("combobox", { name: "Role", exact: true }).selectOption("organizer");
  await page.getByRole("button", { name: "Send invite" }).click();
  const link = page.getByRole("textbox", { name: "Invite link" });
  await expect(link).toHaveValue(/\/invites\/accept\?token=/);
  const inviteUrl = await link.inputValue();
  await screenshot(page, "members");

  const organizerContext = await browser.newContext();
  const organizer = await organizerContext.newPage();
  await signIn(organizer, organizerEmail, "Olive Organizer");
  await organizer.goto(inviteUrl);
  await expect(organizer.getByText("Ada Admin's organization")).toBeVisible();
  await expect(organizer.getByText(/organizer/i).first()).toBeVisible();
  await organizer.getByRole("button", { name: "Accept invite" }).click();
  await expect(organizer.getByRole("heading", { name: "Ada Admin's organization" })).toBeVisible();

  await organizer.getByRole("link", { name: "New event" }).click();
  const name = `Launch party ${Date.now()}`;
  await organizer.getByRole("textbox", { name: "Name" }).fill(name);
  await organizer.getByRole("textbox", { name: "Description" }).fill("Music and talks.");
  await organizer.getByRole("combobox", { name: "Category" }).selectOption("concert");
  await organizer.getByLabel("Starts at").fill("2031-06-01T19:00");
  await organizer.getByLabel("Ends at").fill("2031-06-01T23:00");
  await organizer.getByRole("spinbutton", { name: "Total slots" }).fill("50");
  await organizer.getByRole("button", { name: "Create event" }).click();
  await expect(organizer.getByRole("heading", { name })).toBeVisible();
  await organizer.getByRole("button", { name: "Publish" }).click();
  await expect(organizer.getByText(/upcoming/i).first()).toBeVisible();
  await screenshot(organizer, "manage-event");
  await organizerContext.close();

  const userContext = await browser.newContext();
  const user = await userContext.newPage();
  await signIn(user, email("user"));
  await expect(user.getByRole("heading", { name: "Events" })).toBeVisible();
  await user.getByRole("searchbox", { name: "Search events" }).fill(name);
  const listed = user.getByRole("link", { name });
  await expect(listed).toBeVisible();
  await expect(user.getByRole("listitem").filter({ has: listed })).toContainText("50 seats available");
  await screenshot(user, "events");
  await userContext.close();
});

test("bad input in the event form shows the server's message next to the field", async ({ page }) => {
  await signIn(page, email("organizer"), "Bad Input");
  await page.getByRole("link", { name: "Bad Input's organization" }).click();
  await page.getByRole("link", { name: "New event" }).click();
  await page.getByRole("textbox", { name: "Name" }).fill("Yesterday's party");
  await page.getByRole("combobox", { name: "Category" }).selectOption("webinar");
  await page.getByLabel("Starts at").fill("2020-01-01T10:00");
  await page.getByLabel("Ends at").fill("2020-01-01T12:00");
  await page.getByRole("spinbutton", { name: "Total slots" }).fill("10");
  await page.getByRole("button", { name: "Create event" }).click();
  await expect(page.getByLabel("Starts at")).toHaveAccessibleDescription(/starts_at must be in the future|future/);
  await expect(page.getByLabel("Starts at")).toHaveAttribute("aria-invalid", "true");
  await screenshot(page, "event-form-error");
});

test("a member's role chosen with the arrow keys is sent once, as the last choice", async ({ page, baseURL }) => {
  const adminEmail = email("admin");
  const admin = await Api.as(baseURL!, adminEmail);
  const org = await admin.orgId();
  const memberEmail = email("member");
  const member = await Api.as(baseURL!, memberEmail);
  const { token } = await admin.call<{ token: string }>("POST", `/v1/organizations/${org}/invites`,
    { email: memberEmail, role: "organizer" });
  await member.call("POST", `/v1/invites/${token}/accept`);

  await signIn(page, adminEmail);
  const sent: string[] = [];
  page.on("request", (r) => {
    if (r.method() === "PATCH" && r.url().includes("/members/")) sent.push(r.postData() ?? "");
  });
  await page.goto(`/orgs/${org}/members`);
  const role = page.getByRole("combobox", { name: `Role for ${memberEmail}` });
  await expect(role).toHaveValue("organizer");
  await role.focus();
  await page.keyboard.press("ArrowUp"); // orgAdmin
  await page.keyboard.press("ArrowDown"); // organizer
  await page.keyboard.press("ArrowDown"); // user
  await expect(role).toHaveValue("user");
  await expect.poll(() => sent.length).toBe(1);
  expect(JSON.parse(sent[0])).toEqual({ role: "user" });
  await page.reload();
  await expect(page.getByRole("combobox", { name: `Role for ${memberEmail}` })).toHaveValue("user");
  expect(sent).toHaveLength(1);
});
