import { describe, expect, it } from "vitest";
import { checkUpstreamUrl, nonPublicHostReason, parseIpv6 } from "../src/lib/upstream-url";

const refused = (url: string) => checkUpstreamUrl(url, false).ok === false;

describe("upstream URL guard (ALLOW_PRIVATE_UPSTREAMS=false)", () => {
  it.each([
    "https://api.openai.com/v1",
    "https://api.anthropic.com",
    "https://api.groq.com/openai/v1",
    "https://openrouter.ai/api/v1",
    "https://8.8.8.8/v1",
    "https://1.1.1.1",
    "https://172.32.0.1", // just outside 172.16/12
    "https://172.15.255.255",
    "https://100.128.0.1", // just outside 100.64/10
    "https://192.169.0.1",
    "https://[2606:4700:4700::1111]/",
    "https://example.com:8443/base",
    "https://localhost.example.com", // only the exact name and *.localhost are local
    "https://internal.example.com",
  ])("accepts public https %s", (url) => {
    const r = checkUpstreamUrl(url, false);
    expect(r.ok).toBe(true);
  });

  it.each([
    ["http://api.openai.com/v1", "https"],
    ["ftp://example.com", "https"],
    ["file:///etc/passwd", "https"],
    ["javascript:alert(1)", "https"],
    ["not a url", "absolute URL"],
    ["/relative/path", "absolute URL"],
    ["https://user:pass@api.openai.com/v1", "credentials"],
    ["https://user@api.openai.com/v1", "credentials"],
  ])("refuses %s (%s)", (url, why) => {
    const r = checkUpstreamUrl(url, false);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toContain(why);
  });

  it.each([
    "https://127.0.0.1", "https://127.255.255.254:8080/v1", "https://10.0.0.1", "https://10.255.255.255",
    "https://172.16.0.1", "https://172.31.255.255", "https://192.168.1.1", "https://169.254.169.254/latest/meta-data",
    "https://100.64.0.1", "https://100.127.255.255", "https://0.0.0.0", "https://0.1.2.3", "https://224.0.0.1",
    "https://255.255.255.255", "https://198.18.0.1",
  ])("refuses private/loopback IPv4 %s", (url) => expect(refused(url)).toBe(true));

  it.each([
    "https://2130706433", // 127.0.0.1 as one decimal number
    "https://0x7f.0.0.1",
    "https://0177.0.0.1", // octal
    "https://127.1",
    "https://0xa9fea9fe", // 169.254.169.254
    "https://0",
  ])("refuses loopback/private IPv4 in unusual spellings %s (URL parser normalises them)", (url) => expect(refused(url)).toBe(true));

  it.each([
    "https://[::1]", "https://[::]", "https://[0:0:0:0:0:0:0:1]", "https://[fc00::1]", "https://[fd12:3456:789a::1]",
    "https://[fe80::1]", "https://[febf::1]", "https://[::ffff:127.0.0.1]", "https://[::ffff:7f00:1]", "https://[::ffff:8.8.8.8]",
    "https://[::ffff:10.0.0.1]:443/v1", "https://[::127.0.0.1]", "https://[64:ff9b::a9fe:a9fe]", "https://[2002:c0a8:0101::1]", "https://[ff02::1]",
  ])("refuses loopback/unique-local/link-local/mapped IPv6 %s", (url) => expect(refused(url)).toBe(true));

  it.each([
    "https://localhost", "https://LOCALHOST:8787/v1", "https://localhost./v1", "https://api.localhost", "https://a.b.localhost",
    "https://metadata.google.internal", "https://printer.local", "https://router.home.arpa",
  ])("refuses local-only names %s", (url) => expect(refused(url)).toBe(true));

  it("allows http and private hosts only when ALLOW_PRIVATE_UPSTREAMS is true, never credentials or other schemes", () => {
    expect(checkUpstreamUrl("http://127.0.0.1:8787/v1", true).ok).toBe(true);
    expect(checkUpstreamUrl("http://localhost:11434/v1", true).ok).toBe(true);
    expect(checkUpstreamUrl("https://[::1]/", true).ok).toBe(true);
    expect(checkUpstreamUrl("http://u:p@127.0.0.1/", true).ok).toBe(false);
    expect(checkUpstreamUrl("ftp://127.0.0.1/", true).ok).toBe(false);
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
