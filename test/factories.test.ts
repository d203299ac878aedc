import { describe, expect, it } from "vitest";
import { call, createOrgWithCast } from "./factories";

describe("test factories", () => {
  it("build sessions the auth middleware accepts", async () => {
    const { owner } = await createOrgWithCast();
    // /api/health is public, but a valid cookie must not be rejected on the way.
    const res = await call(owner, "GET", "/api/health");
    expect(res.status).toBe(200);
  });
});
