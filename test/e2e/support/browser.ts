/**
 * Chromium for the browser tests: Debian's `/usr/bin/chromium` driven by playwright-core (never `playwright install`).
 * Each page records console errors and uncaught exceptions so tests can assert a clean console.
 */
import { mkdir } from "node:fs/promises";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll } from "vitest";

export const SCREENSHOTS = new URL("../../../test-results/screenshots/", import.meta.url).pathname;

export async function launchBrowser(): Promise<Browser> {
  await mkdir(SCREENSHOTS, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
}

/**
 * `consoleErrors`: what the app logs (and uncaught exceptions). Chromium's own "Failed to load resource" lines for
 * expected 4xx answers (e.g. the 401 of `/api/me` when signed out) are not app errors; `serverErrors` collects
 * every 5xx API answer instead.
 */
export type TrackedPage = Page & { consoleErrors: string[]; serverErrors: string[] };

/** A fresh context (own cookie jar) and page on the dashboard origin. */
export async function openPage(browser: Browser, baseURL: string, viewport = { width: 1280, height: 860 }): Promise<{ context: BrowserContext; page: TrackedPage }> {
  const context = await browser.newContext({ baseURL, viewport, permissions: ["clipboard-read", "clipboard-write"] });
  const page = (await context.newPage()) as TrackedPage;
  page.consoleErrors = [];
  page.serverErrors = [];
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) page.consoleErrors.push(`${m.text()} @ ${m.location().url}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 500) page.serverErrors.push(`${r.status()} ${r.request().method()} ${r.url()}`);
  });
  page.on("pageerror", (e) => page.consoleErrors.push(`uncaught: ${e.message}`));
  return { context, page };
}

export async function screenshot(page: Page, name: string) {
  await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
}

/**
 * Every input/select/textarea/button on the page has an accessible name (label, aria-label, aria-labelledby,
 * title or text). Returns the offenders' outerHTML (empty when all is well).
 */
export async function unlabelledControls(page: Page): Promise<string[]> {
  // A string, so this Node-side file needs no DOM typings (the root tsconfig targets workerd).
  return page.evaluate(`(() => {
    const bad = [];
    for (const el of document.querySelectorAll("input, select, textarea, button")) {
      if (el.type === "hidden") continue;
      const ref = (el.getAttribute("aria-labelledby") || "").split(/\\s+/).filter(Boolean)
        .map((id) => (document.getElementById(id)?.textContent || "").trim()).join("");
      const labels = el.labels ? Array.from(el.labels).map((l) => (l.textContent || "").trim()).join("") : "";
      const name = (el.getAttribute("aria-label") || "").trim() || ref || labels
        || (el.tagName === "BUTTON" ? (el.textContent || "").trim() : "") || (el.getAttribute("title") || "").trim();
      if (!name) bad.push(el.outerHTML.slice(0, 160));
    }
    return bad;
  })()`) as Promise<string[]>;
}

/**
 * One Chromium for the calling test file, launched before its tests and closed after them with every
 * context it opened. The returned `open` gives a fresh context (its own cookies) and a tracked page.
 */
export function usePages(baseURL: string): (viewport?: { width: number; height: number }) => Promise<TrackedPage> {
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
  });
  return async (viewport) => {
    const o = await openPage(browser!, baseURL, viewport);
    contexts.push(o.context);
    return o.page;
  };
}
