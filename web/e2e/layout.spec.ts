// Every main page fits a 375 px wide phone (nothing wider than the screen but scrolling tables) and
// its controls are reachable by keyboard.
import { Api, email, expect, signIn, test } from "./support";

test.use({ viewport: { width: 375, height: 740 } });

test("the main pages fit 375 px and the booking form works by keyboard", async ({ page, baseURL }) => {
  const owner = email("phone");
  const api = await Api.as(baseURL!, owner);
  const event = await api.event({ name: `Small screen ${Date.now()}`, total_slots: 5 });
  await signIn(page, owner, "Pat Phone");
  const org = await api.orgId();
  for (const path of ["/", `/events/${event.id}`, "/bookings", "/notifications", `/orgs/${org}`,
    `/orgs/${org}/events/new`, `/orgs/${org}/events/${event.id}`, `/orgs/${org}/members`, `/orgs/${org}/audit`]) {
    await page.goto(path);
    await expect(page.getByRole("heading").first()).toBeVisible();
    await expect(page.getByText(/Loading/)).toHaveCount(0);
    const wide = await page.evaluate(() => [...document.querySelectorAll("body *")]
      .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5 && !e.parentElement?.closest(".table-wrap"))
      .map((e) => `${e.tagName.toLowerCase()}.${e.className}: ${(e.textContent ?? "").slice(0, 40)}`));
    expect(wide, `${path} has elements wider than the screen`).toEqual([]);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, `${path} scrolls sideways`).toBeLessThanOrEqual(0);
  }

  await page.goto(`/events/${event.id}`);
  await expect(page.getByRole("heading", { name: event.name })).toBeVisible();
  const seats = page.getByRole("spinbutton", { name: "Seats" });
  for (let i = 0; i < 20 && !(await seats.evaluate((el) => el === document.activeElement)); i++) {
    await page.keyboard.press("Tab");
  }
  await expect(seats).toBeFocused();
  await page.keyboard.press("Tab");
  await expect(page.getByRole("button", { name: "Book" })).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.getByRole("status")).toContainText("Confirmed");
});
