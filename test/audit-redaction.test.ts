/**
 * Audit redaction drops secret fields by name, not by substring: `max_output_tokens`/`maxOutputTokens`
 * and other data whose names merely contain "token" or "key" are kept.
 */
import { describe, expect, it } from "vitest";
import { redact } from "../src/db/audit";
import { call, createOrgWithCast } from "./factories";
import { auditRows } from "./factories/orgs";

describe("audit redaction", () => {
  it("drops secret fields in any spelling, at any depth", () => {
    const input = {
      password: "p", new_password: "n", passwordHash: "h", salt: "s", secret: "x", token: "t", token_hash: "th", tokenHash: "th2",
      api_key: "k", apiKey: "k2", "API-KEY": "k3", api_key_sealed: "sealed", key_hash: "kh", authorization: "Bearer x", Cookie: "c",
      nested: [{ keyHash: "kh", name: "kept" }],
    };
    expect(redact(input)).toEqual({ nested: [{ name: "kept" }] });
  });

  it("keeps data whose names only contain a secret-looking word", () => {
    const input = {
      maxOutputTokens: 4096, max_output_tokens: 4096, max_tokens: 10, input_tokens: 1, token_count: 2, tokens: 3,
      key_id: "key_1", keyId: "key_2", api_key_hint: "…abcd", key_name: "ci", monkey: "banana", passwordless: true, secretary: "ann",
    };
    expect(redact(input)).toEqual(input);
  });

  it("a pricing change's audit row records max_output_tokens", async () => {
    const { org, owner } = await createOrgWithCast();
    const res = await call(owner, "PUT", `/api/orgs/${org.id}/pricing/my-model`, { input_usd: "1.00", output_usd: "2.00", max_output_tokens: 8192 });
    expect(res.status).toBe(200);
    const [row] = await auditRows(org.id, "pricing.create");
    const after = (typeof row!.after === "string" ? JSON.parse(row!.after) : row!.after) as Record<string, unknown>;
    expect(after.maxOutputTokens).toBe(8192);
  });
});
