/**
 * The one outbound-URL guard (src/lib/upstream-url.ts): one table of URL → verdict in production mode
 * (ALLOW_PRIVATE_UPSTREAMS=false) and in local mode (true), then one refusal per caller (providers
 * route, Slack webhook setting, webhook endpoints) through the real routes with production settings.
 */
import { describe, expect, it } from "vitest";
import { checkUpstreamUrl, nonPublicHostReason, parseIpv6 } from "../src/lib/upstream-url";
import { createOrgWithCast, snapshotTable } from "./factories";
import { callWithEnv } from "./factories/identity";

const OK = "ok";
/** [url, verdict in production mode, verdict in local mode]; a verdict other than "ok" is a substring of the refusal. */
const TABLE: ReadonlyArray<readonly [string, string, string]> = [
  // Public https: fine everywhere.
  ["https://api.openai.com/v1", OK, OK],
  ["https://api.anthropic.com", OK, OK],
  ["https://hooks.slack.com/services/T000/B000/XXXX", OK, OK],
  ["https://openrouter.ai/api/v1", OK, OK],
  ["https://8.8.8.8/v1", OK, OK],
  ["https://172.32.0.1", OK, OK], // just outside 172.16/12
  ["https://172.15.255.255", OK, OK],
  ["https://100.128.0.1", OK, OK], // just outside 100.64/10
  ["https://100.63.255.255", OK, OK], // just below 100.64/10
  ["https://192.169.0.1", OK, OK],
  ["https://[2606:4700:4700::1111]/", OK, OK],
  ["https://[2001:4860:4860::8888]/", OK, OK], // 2001:4860 is Google DNS, not Teredo (2001:0000::/32)
  ["https://[64:ff9b::808:808]/", OK, OK], // well-known NAT64 of 8.8.8.8
  ["https://[64:ff9b:2::1]/", OK, OK], // just outside 64:ff9b:1::/48
  ["https://example.com:8443/base", OK, OK],
  ["https://api.example.com./v1", OK, OK], // one trailing dot on a public name is the same public name
  ["https://localhost.example.com", OK, OK],
  ["https://internal.example.com", OK, OK],
  // Scheme and credentials: refused everywhere except plain http in local mode.
  ["http://api.openai.com/v1", "https", OK],
  ["ftp://example.com", "https", "https"],
  ["file:///etc/passwd", "https", "https"],
  ["javascript:alert(1)", "https", "https"],
  ["not a url", "absolute URL", "absolute URL"],
  ["/relative/path", "absolute URL", "absolute URL"],
  ["https://user:pass@api.openai.com/v1", "credentials", "credentials"],
  ["https://user@api.openai.com/v1", "credentials", "credentials"],
  ["http://u:p@127.0.0.1/", "credentials", "credentials"],
  // Non-public IPv4 (and odd spellings the URL parser normalises).
  ["https://127.0.0.1", "loopback", OK],
  ["http://127.0.0.1:8787/v1", "https", OK],
  ["https://127.0.0.1./v1", "loopback", OK],
  ["https://127.255.255.254:8080/v1", "loopback", OK],
  ["https://10.0.0.1", "private", OK],
  ["https://172.16.0.1", "private", OK],
  ["https://172.31.255.255", "private", OK],
  ["https://192.168.1.1", "private", OK],
  ["https://169.254.169.254/latest/meta-data", "link-local", OK],
  ["https://100.64.0.1", "carrier-grade NAT", OK],
  ["https://100.127.255.255", "carrier-grade NAT", OK],
  ["https://0.0.0.0", "unspecified", OK],
  ["https://0.1.2.3", "unspecified", OK],
  ["https://224.0.0.1", "multicast", OK],
  ["https://255.255.255.255", "reserved", OK],
  ["https://198.18.0.1", "benchmarking", OK],
  ["https://192.0.0.8", "IETF", OK],
  ["https://2130706433", "loopback", OK], // 127.0.0.1 as one decimal number
  ["https://0x7f.0.0.1", "loopback", OK],
  ["https://0177.0.0.1", "loopback", OK], // octal
  ["https://127.1", "loopback", OK],
  ["https://0xa9fea9fe", "link-local", OK], // 169.254.169.254
  ["https://0", "unspecified", OK],
  // Non-public IPv6.
  ["https://[::1]", "loopback", OK],
  ["https://[::]", "unspecified", OK],
  ["https://[0:0:0:0:0:0:0:1]", "loopback", OK],
  ["https://[fc00::1]", "unique-local", OK],
  ["https://[fd12:3456:789a::1]", "unique-local", OK],
  ["https://[fe80::1]", "link-local", OK],
  ["https://[febf::1]", "link-local", OK],
  ["https://[fec0::1]", "site-local", OK],
  ["https://[ff02::1]", "multicast", OK],
  ["https://[::ffff:127.0.0.1]", "IPv4-mapped", OK],
  ["https://[::ffff:7f00:1]", "IPv4-mapped", OK],
  ["https://[::ffff:8.8.8.8]", "IPv4-mapped", OK],
  ["https://[::ffff:10.0.0.1]:443/v1", "IPv4-mapped", OK],
  ["https://[::127.0.0.1]", "IPv4-compatible", OK],
  ["https://[::ffff:0:a00:1]", "IPv4-translated", OK],
  ["https://[64:ff9b::a9fe:a9fe]", "NAT64", OK],
  ["https://[64:ff9b::a00:1]", "NAT64", OK],
  ["https://[64:ff9b:1::a00:1]", "local-use NAT64", OK],
  ["https://[64:ff9b:1:ffff::808:808]", "local-use NAT64", OK],
  ["https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]", "Teredo", OK],
  ["https://[2001::1]", "Teredo", OK],
  ["https://[2002:c0a8:0101::1]", "6to4", OK],
  // Local-only names, trailing dots and single labels.
  ["https://localhost", "localhost", OK],
  ["https://LOCALHOST:8787/v1", "localhost", OK],
  ["https://localhost./v1", "localhost", OK],
  ["https://localhost../v1", "localhost", OK],
  ["https://api.localhost", ".localhost", OK],
  ["https://a.b.localhost.", ".localhost", OK],
  ["https://metadata.google.internal", ".internal", OK],
  ["https://metadata.google.internal.", ".internal", OK],
  ["https://printer.local", ".local", OK],
  ["https://printer.local.", ".local", OK],
  ["https://printer.local..", ".local", OK],
  ["https://local", ".local", OK],
  ["https://router.home.arpa", ".home.arpa", OK],
  ["https://box.localdomain", ".localdomain", OK],
  ["https://metadata/computeMetadata/v1", "single-label", OK],
  ["https://intranet./", "single-label", OK],
  ["https://a..example.com", "empty DNS label", OK],
];

describe("outbound URL guard", () => {
  it.each(TABLE)("%s → production: %s, local: %s", (url, production, local) => {
    for (const [allowPrivate, expected] of [[false, production], [true, local]] as const) {
      const r = checkUpstreamUrl(url, allowPrivate);
      if (expected === OK) expect(r, `allowPrivate=${allowPrivate}`).toMatchObject({ ok: true });
      else {
        expect(r.ok, `allowPrivate=${allowPrivate}`).toBe(false);
        if (!r.ok) expect(r.message).toContain(expected);
      }
    }
  });

  it("parses IPv6 forms, including embedded IPv4 and zone ids", () => {
    expect(parseIpv6("::1")).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
    expect(parseIpv6("::ffff:1.2.3.4")).toEqual([0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304]);
    expect(parseIpv6("2001:db8::8:800:200c:417a")).toEqual([0x2001, 0xdb8, 0, 0, 8, 0x800, 0x200c, 0x417a]);
    expect(parseIpv6("fe80::1%eth0")).toEqual([0xfe80, 0, 0, 0, 0, 0, 0, 1]);
    expect(parseIpv6("1:2:3:4:5:6:7:8")).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(parseIpv6("1::2::3")).toBeNull();
    expect(parseIpv6("12345::")).toBeNull();
    expect(parseIpv6("1:2:3:4:5:6:7:8:9")).toBeNull();
    expect(nonPublicHostReason("[2001:db8::1]")).toBeNull();
  });
});

describe("every outbound-URL caller uses the guard (production settings)", () => {
  const production = { ALLOW_PRIVATE_UPSTREAMS: "false" };

  it("providers route refuses a local-use NAT64 base URL with 400 on base_url and writes nothing", async () => {
    const { org, owner } = await createOrgWithCast();
    const before = await snapshotTable("providers");
    const res = await callWithEnv(production, "POST", `/api/orgs/${org.id}/providers`, { name: "nat", type: "openai_compatible", base_url: "https://[64:ff9b:1::a00:1]/v1", api_key: "k" }, { cookie: owner.cookie });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "invalid_request", param: "base_url" });
    expect(res.body.error.message).toContain("local-use NAT64");
    expect(await snapshotTable("providers")).toEqual(before);
  });

  it.each([
    "https://[64:ff9b:1::a00:1]/hook",
    "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",
    "https://100.64.0.1/hook",
    "https://localhost./hook",
    "https://printer.local/hook",
    "https://metadata/hook",
  ])("Slack webhook setting refuses %s with 400 on slack_webhook_url and changes nothing", async (url) => {
    const { org, owner } = await createOrgWithCast();
    const before = await snapshotTable("orgs");
    const res = await callWithEnv(production, "PATCH", `/api/orgs/${org.id}/settings`, { slack_webhook_url: url }, { cookie: owner.cookie });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "invalid_request", param: "slack_webhook_url" });
    expect(res.body.error.message).toContain("private or loopback");
    expect(await snapshotTable("orgs")).toEqual(before);
  });

  it("Slack webhook setting refuses plain http in production but takes it on loopback with ALLOW_PRIVATE_UPSTREAMS=true (local development)", async () => {
    const { org, owner } = await createOrgWithCast();
    const before = await snapshotTable("orgs");
    for (const url of ["http://hooks.slack.com/services/T0/B0/abcd1234", "http://127.0.0.1:9/services/T0/B0/abcd1234"]) {
      const res = await callWithEnv(production, "PATCH", `/api/orgs/${org.id}/settings`, { slack_webhook_url: url }, { cookie: owner.cookie });
      expect(res.status, url).toBe(400);
      expect(res.body.error).toMatchObject({ code: "invalid_request", param: "slack_webhook_url" });
      expect(res.body.error.message).toContain("must use https");
    }
    expect(await snapshotTable("orgs")).toEqual(before);
    const dev = await callWithEnv({ ALLOW_PRIVATE_UPSTREAMS: "true" }, "PATCH", `/api/orgs/${org.id}/settings`, { slack_webhook_url: "http://127.0.0.1:9/services/T0/B0/abcd1234" }, { cookie: owner.cookie });
    expect(dev.status).toBe(200);
    expect(dev.body).toMatchObject({ slack_webhook_configured: true, slack_webhook_url: "http://127.0.0.1:9/…1234" });
  });

  it("Slack webhook setting accepts a public https URL in production", async () => {
    const { org, owner } = await createOrgWithCast();
    const res = await callWithEnv(production, "PATCH", `/api/orgs/${org.id}/settings`, { slack_webhook_url: "https://hooks.slack.com/services/T0/B0/abcd1234" }, { cookie: owner.cookie });
    expect(res.status).toBe(200);
    expect(res.body.slack_webhook_configured).toBe(true);
  });

  it.each([
    ["http://hooks.example.com/h", "https"],
    ["https://127.0.0.1/h", "loopback"],
    ["https://[::1]/h", "loopback"],
    ["https://10.1.2.3/h", "private"],
    ["https://192.168.1.10/h", "private"],
    ["https://169.254.169.254/latest/meta-data", "link-local"],
    ["https://100.64.0.1/h", "carrier-grade NAT"],
    ["https://[64:ff9b::a00:1]/h", "NAT64"],
    ["https://localhost/h", "localhost"],
  ])("webhook endpoints refuse %s (create and PATCH) with 400 on url and write nothing", async (url, reason) => {
    const { org, owner } = await createOrgWithCast();
    const created = await callWithEnv(production, "POST", `/api/orgs/${org.id}/webhooks`, { url: "https://hooks.example.com/ok", events: ["budget.threshold"] }, { cookie: owner.cookie });
    expect(created.status).toBe(201);
    const before = await snapshotTable("webhooks", org.id);
    const create = await callWithEnv(production, "POST", `/api/orgs/${org.id}/webhooks`, { url, events: ["budget.threshold"] }, { cookie: owner.cookie });
    const patch = await callWithEnv(production, "PATCH", `/api/orgs/${org.id}/webhooks/${created.body.id}`, { url }, { cookie: owner.cookie });
    for (const res of [create, patch]) {
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: "invalid_request", param: "url" });
      expect(res.body.error.message).toContain(reason);
    }
    expect(await snapshotTable("webhooks", org.id)).toEqual(before);
  });
});
