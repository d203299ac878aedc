import { describe, expect, it } from "vitest";
import { newId } from "../src/lib/ids";
import { crc32, mintVirtualKey, parseVirtualKey, VIRTUAL_KEY_LENGTH } from "../src/lib/virtual-key";
import { createKey, gateVerdict } from "./factories/keys";
import { createOrg, createUser } from "./factories";

describe("virtual key format", () => {
  it("carries the org and key ids and a checksum", () => {
    const orgId = newId("org");
    const keyId = newId("key");
    const key = mintVirtualKey(orgId, keyId);
    expect(key).toMatch(/^sk-tg-[0-9A-Za-z]+$/);
    expect(key).toHaveLength(VIRTUAL_KEY_LENGTH);
    expect(parseVirtualKey(key)).toEqual({ orgId, keyId });
  });

  it("rejects a key with one character changed (checksum)", () => {
    const key = mintVirtualKey(newId("org"), newId("key"));
    const i = 40;
    const flipped = key.slice(0, i) + (key[i] === "a" ? "b" : "a") + key.slice(i + 1);
    expect(parseVirtualKey(flipped)).toBeNull();
    expect(parseVirtualKey(key.slice(0, -1))).toBeNull();
    expect(parseVirtualKey("sk-tg-" + "x".repeat(VIRTUAL_KEY_LENGTH - 6))).toBeNull();
  });

  it("uses the standard CRC-32", () => {
    expect(crc32("123456789")).toBe(0xcbf43926);
  });

  it("is verified by the org's gate, and a wrong secret is refused", async () => {
    const owner = await createUser();
    const org = await createOrg(owner);
    const key = await createKey(org, owner);
    expect((await gateVerdict(key)).ok).toBe(true);
    const forged = { ...key, key: mintVirtualKey(org.id, key.id) };
    expect(await gateVerdict(forged)).toEqual({ ok: false, reason: "unknown" });
  });
});
