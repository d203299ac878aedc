import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { MockServer } from "./types";

/** One delivery as the receiver saw it, read back by tests from `GET /_received/<inbox>`. */
export type ReceivedWebhook = {
  verified: boolean;
  reason: string | null;
  eventId: string | null;
  signature: string | null;
  body: string;
  answered: number;
};

/**
 * Verifies `Tollgate-Signature` exactly as docs/webhooks.md tells receivers to: parse `t` and every `v1`,
 * recompute HMAC-SHA256 over `${t}.${rawBody}` with the secret, compare in constant time, and refuse
 * timestamps more than five minutes away.
 */
export function verifyTollgateSignature(secret: string, header: string | undefined, rawBody: string, nowSeconds = Date.now() / 1000): string | null {
  if (!header) return "no Tollgate-Signature header";
  const parts = header.split(",").map((p) => p.split("=", 2) as [string, string]);
  const t = Number(parts.find(([k]) => k === "t")?.[1]);
  const sigs = parts.filter(([k]) => k === "v1").map(([, v]) => v);
  if (!Number.isInteger(t) || !sigs.length) return "malformed header";
  if (Math.abs(nowSeconds - t) > 300) return "timestamp outside tolerance";
  const expected = createHmac("sha256", secret).update(`${t}.${rawBody}`).digest();
  const ok = sigs.some((s) => {
    const got = Buffer.from(s, "hex");
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
  return ok ? null : "signature mismatch";
}

/**
 * Stand-in for a customer's webhook endpoint. A test configures an inbox with
 * `POST /_configure/<inbox> {secret, statuses}` (the answers, in order; the last one repeats), points an
 * endpoint at `<url>/in/<inbox>`, and reads `GET /_received/<inbox>`: every delivery, whether its
 * signature verified, and what it was answered. `POST /_configure/<inbox>` again to change the secret.
 */
export async function startWebhookReceiver(): Promise<MockServer> {
  const inboxes = new Map<string, { secret: string; statuses: number[]; received: ReceivedWebhook[] }>();
  const server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://mock");
      const [, kind, inbox] = url.pathname.split("/");
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (req.method === "POST" && kind === "_configure" && inbox) {
        const cfg = JSON.parse(raw) as { secret: string; statuses?: number[] };
        const prev = inboxes.get(inbox);
        inboxes.set(inbox, { secret: cfg.secret, statuses: cfg.statuses ?? [200], received: prev?.received ?? [] });
        return json(200, { ok: true });
      }
      if (req.method === "GET" && kind === "_received" && inbox) return json(200, inboxes.get(inbox)?.received ?? []);
      if (req.method === "POST" && kind === "in" && inbox) {
        const box = inboxes.get(inbox);
        if (!box) return json(404, { error: "unknown inbox" });
        const header = req.headers["tollgate-signature"];
        const reason = verifyTollgateSignature(box.secret, Array.isArray(header) ? header[0] : header, raw);
        const answered = box.statuses[Math.min(box.received.length, box.statuses.length - 1)]!;
        const eventId = req.headers["tollgate-event-id"];
        box.received.push({ verified: reason === null, reason, eventId: typeof eventId === "string" ? eventId : null, signature: typeof header === "string" ? header : null, body: raw, answered });
        return json(answered, { received: answered < 300, attempt: box.received.length });
      }
      json(404, { error: "not found" });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return { name: "webhooks", url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}
