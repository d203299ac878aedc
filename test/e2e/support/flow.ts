/** Steps shared by the browser tests: sign up through the UI, call the API as the page, read the dev outbox. */
import type { Page } from "playwright-core";

export const PASSWORD = "correct horse battery staple";
let seq = 0;
/** A unique email per call (tests share one database). */
export const uniqueEmail = (who: string) => `${who}-${Date.now().toString(36)}-${seq++}@e2e.example.com`;

/** Fills the sign-up form (on /signup or the invitation page) and waits until it leaves it. */
export async function fillSignup(page: Page, name: string, email: string) {
  await page.getByLabel("Full name").fill(name);
  await page.getByLabel("Work email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
}

export async function signUp(page: Page, name: string, email: string) {
  await page.goto("/signup");
  await fillSignup(page, name, email);
  await page.getByRole("heading", { name: "Overview" }).waitFor();
}

/** `fetch` from inside the page (credentials default to same-origin): the page's session cookie, a browser-set Origin header. */
export async function apiAsPage(page: Page, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  return page.evaluate(
    async ({ method, path, body }) => {
      const res = await fetch(`/api${path}`, {
        method,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: parsed };
    },
    { method, path, body },
  );
}

/** The invitation link from the newest dev-outbox email to `email`. */
export async function readInviteLink(dashboardUrl: string, email: string): Promise<string> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const res = await fetch(`${dashboardUrl}/api/dev/outbox?to=${encodeURIComponent(email)}`);
    const body = (await res.json()) as { data: Array<{ to: string; text: string }> };
    const mail = body.data.find((m) => m.to === email && /\/invite\//.test(m.text));
    const link = mail?.text.match(/https?:\/\/\S+\/invite\/[A-Za-z0-9]+/)?.[0];
    if (link) return link;
    if (Date.now() > deadline) throw new Error(`No invitation email to ${email} in the outbox: ${JSON.stringify(body).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** The org id from a `/orgs/<id>/…` URL. */
export const orgIdOf = (url: string) => /\/orgs\/([^/?#]+)/.exec(url)?.[1] ?? "";
