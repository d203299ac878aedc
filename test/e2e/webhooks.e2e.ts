/**
 * Webhooks in real Chromium against the real Worker: an admin adds an endpoint pointing at a local receiver,
 * sees the signing secret once, sends a test and sees the delivery (and the receiver got a signed request);
 * a member sees the page read-only and the API refuses them.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import type { Browser, BrowserContext } from "playwright-core";
import { launchBrowser, openPage, unlabelledControls, type TrackedPage } from "./support/browser";
import { apiAsPage, fillSignup, readInviteLink, signUp, uniqueEmail } from "./support/flow";

const { dashboardUrl } = inject("e2e");
let browser: Browser;
const contexts: BrowserContext[] = [];
let receiver: Server;
let receiverUrl = "";
const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];

const open = async () => {
  const o = await openPage(browser, dashboardUrl);
  contexts.push(o.context);
  return o.page;
};

beforeAll(async () => {
  browser = await launchBrowser();
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      received.push({ headers: req.headers, body });
      res.writeHead(200, { "content-type": "text/plain" }).end("thanks");
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
});
afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await new Promise((r) => receiver?.close(r));
});

describe.sequential("webhooks page", () => {
  let admin: TrackedPage;
  let member: TrackedPage;
  let orgId = "";
  let webhookId = "";

  test("an admin adds an endpoint and sees its whsec_ secret once", async () => {
    admin = await open();
    await signUp(admin, "Ada Admin", uniqueEmail("wh-owner"));
    const org = await apiAsPage(admin, "POST", "/orgs", { name: "Hook Labs", slug: `hooks-${Date.now().toString(36)}` });
    expect(org.status).toBe(201);
    orgId = org.body.id;
    await admin.goto(`/orgs/${orgId}/webhooks`);
    await admin.getByRole("heading", { level: 1, name: "Webhooks" }).waitFor();
    await admin.getByText("No webhook endpoints").waitFor();
    await admin.getByRole("button", { name: "Add endpoint" }).click();
    await admin.getByRole("dialog").waitFor();
    expect(await unlabelledControls(admin)).toEqual([]);
    await admin.getByLabel("Endpoint URL").fill(receiverUrl);
    await admin.getByLabel("Description").fill("local receiver");
    await admin.getByLabel(/Key created/).check();
    await admin.getByRole("dialog").getByRole("button", { name: "Add endpoint" }).click();
    const secret = await admin.getByTestId("webhook-secret").textContent();
    expect(secret).toMatch(/^whsec_/);
    await admin.getByRole("button", { name: "I've saved it" }).click();
    expect(await admin.getByTestId("webhook-secret").count()).toBe(0);
    await admin.getByText(receiverUrl).waitFor();
    const list = await apiAsPage(admin, "GET", `/orgs/${orgId}/webhooks`);
    expect(list.body.data).toHaveLength(1);
    expect(list.body.data[0].events).toEqual(expect.arrayContaining(["budget.threshold", "key.created"]));
    expect(JSON.stringify(list.body)).not.toContain(secret!);
    webhookId = list.body.data[0].id;
  });

  test("the admin sends a test and sees the delivery succeed in the log; the receiver got a signed test.ping", async () => {
    await admin.getByRole("button", { name: `Send test to ${receiverUrl}` }).click();
    const log = admin.getByRole("region", { name: `Delivery log of ${receiverUrl}` });
    // The dispatcher delivers in the background; the log refreshes every few seconds.
    await log.getByText("succeeded").waitFor({ timeout: 30_000 });
    await expect.poll(() => log.getByRole("row").filter({ hasText: "test.ping" }).textContent()).toContain("200");
    await log.locator("summary", { hasText: "Attempts" }).first().click();
    await log.getByText(/#1: 200 · \d+ ms · thanks/).waitFor();
    const ping = received.find((r) => r.body.includes("test.ping"));
    expect(ping?.headers["tollgate-signature"]).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(admin.consoleErrors).toEqual([]);
  });

  test("the admin disables and re-enables the endpoint", async () => {
    await admin.getByRole("button", { name: `Disable ${receiverUrl}` }).click();
    await admin.getByRole("button", { name: `Enable ${receiverUrl}` }).waitFor();
    expect((await apiAsPage(admin, "GET", `/orgs/${orgId}/webhooks/${webhookId}`)).body.enabled).toBe(false);
    expect(await admin.getByRole("button", { name: `Send test to ${receiverUrl}` }).isDisabled()).toBe(true);
    await admin.getByRole("button", { name: `Enable ${receiverUrl}` }).click();
    await admin.getByRole("button", { name: `Disable ${receiverUrl}` }).waitFor();
    expect((await apiAsPage(admin, "GET", `/orgs/${orgId}/webhooks/${webhookId}`)).body.enabled).toBe(true);
  });

  test("the delivery log pages with the API cursor: 20 newest, then older ones on request", async () => {
    for (let i = 0; i < 20; i++) expect((await apiAsPage(admin, "POST", `/orgs/${orgId}/webhooks/${webhookId}/test`)).status).toBe(202);
    await admin.reload();
    await admin.getByRole("button", { name: `Show deliveries of ${receiverUrl}` }).click();
    const log = admin.getByRole("region", { name: `Delivery log of ${receiverUrl}` });
    await expect.poll(() => log.locator("tbody tr").count()).toBe(20);
    await log.getByRole("button", { name: "Load older deliveries" }).click();
    await expect.poll(() => log.locator("tbody tr").count()).toBe(21);
    expect(await log.getByRole("button", { name: "Load older deliveries" }).count()).toBe(0);
  });

  test("a member sees the endpoint read-only: controls disabled with a reason, and the API refuses", async () => {
    const email = uniqueEmail("wh-member");
    expect((await apiAsPage(admin, "POST", `/orgs/${orgId}/invitations`, { email, role: "member" })).status).toBe(201);
    const link = await readInviteLink(dashboardUrl, email);
    member = await open();
    await member.goto(link);
    await member.waitForURL(/\/accept-invite\?token=/);
    await member.getByRole("button", { name: "I'm new here" }).click();
    await fillSignup(member, "Mo Member", email);
    await member.getByRole("heading", { name: "Overview" }).waitFor();
    await member.goto(`/orgs/${orgId}/webhooks`);
    await member.getByText(receiverUrl).waitFor();
    await member.getByText("Members can't do this: only admins and above can.").first().waitFor();
    for (const name of ["Add endpoint", `Send test to ${receiverUrl}`, `Rotate secret of ${receiverUrl}`, `Disable ${receiverUrl}`, `Delete ${receiverUrl}`]) {
      expect(await member.getByRole("button", { name, exact: true }).isDisabled(), name).toBe(true);
    }
    // Reading the delivery log is allowed.
    await member.getByRole("button", { name: `Show deliveries of ${receiverUrl}` }).click();
    await member.getByRole("region", { name: `Delivery log of ${receiverUrl}` }).getByText("test.ping").first().waitFor();
    expect((await apiAsPage(member, "POST", `/orgs/${orgId}/webhooks/${webhookId}/test`)).status).toBe(403);
    expect((await apiAsPage(member, "POST", `/orgs/${orgId}/webhooks`, { url: receiverUrl, events: ["key.created"] })).status).toBe(403);
    expect((await apiAsPage(member, "DELETE", `/orgs/${orgId}/webhooks/${webhookId}`)).status).toBe(403);
    expect(member.consoleErrors).toEqual([]);
  });

  test("the admin rotates the secret (shown once) and deletes the endpoint after confirming", async () => {
    await admin.getByRole("button", { name: `Rotate secret of ${receiverUrl}` }).click();
    expect(await admin.getByTestId("webhook-secret").textContent()).toMatch(/^whsec_/);
    await admin.getByRole("button", { name: "I've saved it" }).click();
    await admin.getByRole("button", { name: `Delete ${receiverUrl}` }).click();
    await admin.getByRole("dialog").getByRole("button", { name: "Delete endpoint" }).click();
    await admin.getByText("No webhook endpoints").waitFor();
    expect((await apiAsPage(admin, "GET", `/orgs/${orgId}/webhooks`)).body.data).toHaveLength(0);
    expect(admin.consoleErrors).toEqual([]);
  });

  test("settings: the Slack URL field shows the API's refusal of a bad URL, saves a good one (masked) and Send test message reports the queued test", async () => {
    await admin.goto(`/orgs/${orgId}/settings`);
    await admin.getByRole("heading", { level: 1, name: "Settings" }).waitFor();
    expect(await admin.getByRole("button", { name: "Send test message" }).isDisabled()).toBe(true);
    // The API judges the URL (its rules depend on the deployment's ALLOW_PRIVATE_UPSTREAMS) and the page shows its answer.
    await admin.getByLabel("Slack incoming-webhook URL").fill("ftp://hooks.slack.com/services/T000/B000/abcdefgh1234");
    await admin.getByRole("button", { name: "Save changes" }).click();
    await admin.getByText("slack_webhook_url: must use https").waitFor();
    expect((await apiAsPage(admin, "GET", `/orgs/${orgId}/settings`)).body.slack_webhook_configured).toBe(false);
    await admin.getByLabel("Slack incoming-webhook URL").fill("https://hooks.slack.com/services/T000/B000/abcdefgh1234");
    await admin.getByRole("button", { name: "Save changes" }).click();
    await admin.getByText(/Current: .*1234/).waitFor();
    const settings = await apiAsPage(admin, "GET", `/orgs/${orgId}/settings`);
    expect(settings.body.slack_webhook_configured).toBe(true);
    expect(settings.body.slack_webhook_url).not.toContain("abcdefgh");
    await admin.getByRole("button", { name: "Send test message" }).click();
    await admin.getByText(/Test message queued \(event evt_/).waitFor();
    expect(admin.consoleErrors).toEqual([]);
  });
});
