import { describe, expect, it } from "vitest";
import { call } from "./factories";

/** The min roles the route × role test will read from the spec: they must be the true ones (design §5). */
const EXPECTED: Array<[string, string, string]> = [
  ["get", "/api/orgs/{orgId}", "viewer"],
  ["patch", "/api/orgs/{orgId}", "admin"],
  ["delete", "/api/orgs/{orgId}", "owner"],
  ["post", "/api/orgs/{orgId}/transfer-ownership", "owner"],
  ["post", "/api/orgs/{orgId}/leave", "viewer"],
  ["get", "/api/orgs/{orgId}/settings", "viewer"],
  ["patch", "/api/orgs/{orgId}/settings", "admin"],
  ["get", "/api/orgs/{orgId}/members", "viewer"],
  ["patch", "/api/orgs/{orgId}/members/{userId}", "admin"],
  ["delete", "/api/orgs/{orgId}/members/{userId}", "admin"],
  ["get", "/api/orgs/{orgId}/members/{userId}/removal-preview", "admin"],
  ["get", "/api/orgs/{orgId}/invitations", "admin"],
  ["post", "/api/orgs/{orgId}/invitations", "admin"],
  ["post", "/api/orgs/{orgId}/invitations/bulk", "admin"],
  ["post", "/api/orgs/{orgId}/invitations/{id}/resend", "admin"],
  ["delete", "/api/orgs/{orgId}/invitations/{id}", "admin"],
];

describe("OpenAPI document for orgs, members and invitations", () => {
  it("documents every route with its true minimum role and auth kind", async () => {
    const res = await call(null, "GET", "/api/openapi.json");
    expect(res.status).toBe(200);
    const paths = res.body.paths as Record<string, Record<string, Record<string, unknown>>>;
    for (const [method, path, role] of EXPECTED) {
      expect(paths[path]?.[method]?.["x-tollgate-min-role"], `${method} ${path}`).toBe(role);
    }
    expect(paths["/api/orgs"]!.get!["x-tollgate-auth"]).toBe("user");
    expect(paths["/api/orgs"]!.post!["x-tollgate-auth"]).toBe("user");
    expect(paths["/api/invitations/{token}"]!.get!["x-tollgate-auth"]).toBe("public");
    expect(paths["/api/invitations/{token}/accept"]!.post!["x-tollgate-auth"]).toBe("user");
    expect(paths["/invite/{token}"]!.get!["x-tollgate-auth"]).toBe("public");
  });
});
