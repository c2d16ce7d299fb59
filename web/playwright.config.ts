import { defineConfig } from "@playwright/test";

// The browser journeys run against a `happening serve` that tests/test_web_e2e.py starts (or any
// running instance: HAPPENING_WEB_URL). Debian's Chromium, launched by its path: nothing is downloaded.
export default defineConfig({
  testDir: "./e2e",
  timeout: 60_000,
  expect: { timeout: 10_000 },
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  outputDir: "test-results/output",
  use: {
    baseURL: process.env.HAPPENING_WEB_URL ?? "http://127.0.0.1:8080",
    browserName: "chromium",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"],
    },
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
  },
});
