/**
 * Prompt templates written straight to D1 the way `src/routes/prompts.ts` writes them: a prompt with
 * one version (a `{{name}}` placeholder, one required string variable) and `production` on it.
 */
import { env } from "cloudflare:test";
import { getDb } from "../../src/db/client";
import { promptLabels, prompts, promptVersions } from "../../src/db/schema";
import { newId } from "../../src/lib/ids";
import type { TestOrg, TestUser } from "../factories";

let seq = 0;

/** A prompt with version 1 labelled `production`. */
export async function createPrompt(org: TestOrg, creator: TestUser, opts: { name?: string } = {}) {
  const id = newId("prm");
  const now = Date.now();
  const name = opts.name ?? `prompt-${now.toString(36)}-${seq++}`;
  const db = getDb(env.DB);
  await db.batch([
    db.insert(prompts).values({ id, orgId: org.id, name, description: "", createdBy: creator.id, createdAt: now, updatedAt: now }),
    db.insert(promptVersions).values({
      orgId: org.id, promptId: id, version: 1, createdBy: creator.id, createdAt: now,
      messages: JSON.stringify([{ role: "system", content: "Greet {{name}}." }]), variables: JSON.stringify([{ name: "name", type: "string", required: true }]),
    }),
    db.insert(promptLabels).values({ orgId: org.id, promptId: id, label: "production", version: 1, updatedAt: now }),
  ]);
  return { id, name };
}
