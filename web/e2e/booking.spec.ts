// Journeys 2 and 3: booking, My bookings, notifications; the waitlist turning into a seat live.
import { Api, email, expect, screenshot, signIn, test } from "./support";

test("a user books 2 seats: confirmed, listed in My bookings, and notified", async ({ page, baseURL }) => {
  const organizer = await Api.as(baseURL!, email("organizer"));
  const event = await organizer.event({ name: `Jazz night ${Date.now()}`, total_slots: 50 });
  const user = email("grace");
  await signIn(page, user, "Grace Hopper");

  await page.getByRole("searchbox", { name: "Search events" }).fill(event.name);
  await page.getByRole("link", { name: event.name }).click();
  await expect(page.getByRole("heading", { name: event.name })).toBeVisible();
  await expect(page).toHaveTitle(`${event.name} · Happening`);
  await expect(page.getByText("50 seats available")).toBeVisible();
  await screenshot(page, "event");
  // by keyboard: type the seats and submit with Enter
  await page.getByRole("spinbutton", { name: "Seats" }).fill("2");
  await page.getByRole("spinbutton", { name: "Seats" }).press("Enter");
  await expect(page.getByRole("status")).toContainText("Confirmed");
  await expect(page.getByText("48 seats available")).toBeVisible();

  await page.getByRole("link", { name: "My bookings" }).click();
  await expect(page.getByRole("heading", { name: "My bookings" })).toBeVisible();
  const row = page.getByRole("row").filter({ hasText: event.name });
  await expect(row).toContainText("Confirmed");
  await expect(row.getByRole("cell", { name: "2", exact: true })).toBeVisible();
  await screenshot(page, "my-bookings");

  await page.getByRole("link", { name: "Notifications" }).click();
  await expect(page.getByRole("heading", { name: "Notifications" })).toBeVisible();
  await expect(async () => {
    await page.reload();
    await expect(page.getByRole("listitem").filter({ hasText: "Booking confirmed" }).first())
      .toContainText("Sent", { timeout: 1000 });
  }).toPass({ timeout: 30_000 });
  await screenshot(page, "notifications");
});

test("a waitlisted user's page turns to Confirmed live when a seat is freed", async ({ page, browser, baseURL }) => {
  const organizer = await Api.as(baseURL!, email("organizer"));
  const event = await organizer.event({ name: `Sold out ${Date.now()}`, total_slots: 2 });
  const holderEmail = email("holder");
  const holder = await Api.as(baseURL!, holderEmail);
  await holder.call("POST", `/v1/events/${event.id}/bookings`, { seats: 2 });

  await signIn(page, email("waiter"));
  await page.goto(`/events/${event.id}`);
  await expect(page.getByText("0 seats available")).toBeVisible();
  await page.getByRole("button", { name: "Book" }).dblclick(); // a double click books once
  await expect(page.getByRole("status")).toContainText("Waitlisted");
  await expect(page.getByRole("status")).toContainText("position 1");
  await expect(page.getByText("1 waiting")).toBeVisible();
  await screenshot(page, "waitlisted");

  const other = await browser.newContext();
  const holderPage = await other.newPage();
  await signIn(holderPage, holderEmail);
  await holderPage.getByRole("link", { name: "My bookings" }).click();
  await holderPage.getByRole("row").filter({ hasText: event.name }).getByRole("button", { name: "Cancel booking" }).click();
  await holderPage.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
  await expect(holderPage.getByRole("row").filter({ hasText: event.name })).toContainText("Cancelled");
  await other.close();

  // no reload: the stream brings the promotion and the new counts
  await expect(page.getByRole("status")).toContainText("Confirmed");
  await expect(page.getByText("1 seat available")).toBeVisible();
  await expect(page.getByText("0 waiting")).toBeVisible();
});
