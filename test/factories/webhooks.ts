/** Webhook endpoints written straight to D1 the way the route writes them (secret sealed to the row). */
import { env } from "cloudflare:test";
import { inject } from "vitest";
import { getDb } from "../../src/db/client";
import { webhooks } from "../../src/db/schema";
import { getConfig } from "../../src/env";
import { encryptSecret } from "../../src/lib/crypto";
import { newId } from "../../src/lib/ids";
import { newWebhookSecret } from "../../src/lib/webhook-signature";
import type { TestOrg, TestUser } from "../factories";

/**
 * An enabled endpoint in `org`; returns its id and plaintext secret. Without `url` it points at an
 * unconfigured inbox of the local receiver, which answers 404: a delivery there is given up at once.
 */
export async function createWebhook(
  org: TestOrg,
  creator: TestUser,
  opts: { url?: string; events?: string[]; secret?: string; enabled?: boolean; kind?: "endpoint" | "slack" } = {},
): Promise<{ id: string; secret: string; url: string }> {
  const id = newId("whk");
  const secret = opts.secret ?? newWebhookSecret();
  const url = opts.url ?? `${inject("mockUrls").webhooks}/in/unconfigured`;
  await getDb(env.DB).insert(webhooks).values({
    id, orgId: org.id, kind: opts.kind ?? "endpoint", url, description: null, events: opts.events ?? ["budget.threshold", "budget.exceeded", "velocity.tripped"],
    secretSealed: await encryptSecret(getConfig(env).ENCRYPTION_KEY, secret, id), enabled: opts.enabled ?? true, createdBy: creator.id,
  });
  return { id, secret, url };
}
