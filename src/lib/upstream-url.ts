/**
 * The one guard for every URL Tollgate will call on a customer's behalf (provider base URLs, the
 * Slack alert webhook, webhook targets later): outside local development they must be https and must
 * not point at loopback, private or other non-public address space (SSRF). Callers must not keep
 * their own copies of these checks: call {@link checkUpstreamUrl}. Rules: docs/security.md. The WHATWG URL parser has already normalised odd IPv4 spellings
 * (`0x7f.1`, `2130706433`, `017700000001`) to dotted quads and IPv6 to its compressed form, so the
 * checks below see canonical literals.
 *
 * Limitation: a DNS name that resolves to a private address is not caught here (Workers cannot resolve
 * names before fetching); Cloudflare's egress does not reach private networks, which covers production.
 */

/** Why a URL was refused; `message` is safe to show to the caller. */
export type UpstreamUrlCheck = { ok: true; url: URL } | { ok: false; message: string };

/** IPv4 ranges that are never a public upstream: [network, prefix length, label]. */
const BLOCKED_V4: ReadonlyArray<readonly [string, number, string]> = [
  ["0.0.0.0", 8, "unspecified / this-network"],
  ["10.0.0.0", 8, "private"],
  ["100.64.0.0", 10, "carrier-grade NAT"],
  ["127.0.0.0", 8, "loopback"],
  ["169.254.0.0", 16, "link-local"],
  ["172.16.0.0", 12, "private"],
  ["192.0.0.0", 24, "IETF protocol assignments"],
  ["192.168.0.0", 16, "private"],
  ["198.18.0.0", 15, "benchmarking"],
  ["224.0.0.0", 4, "multicast"],
  ["240.0.0.0", 4, "reserved / broadcast"],
];

const BLOCKED_NAME_SUFFIXES = [".localhost", ".internal", ".local", ".localdomain", ".home.arpa"];

/** Parses a dotted-quad IPv4 literal into a 32-bit number, or null when `host` is not one. */
export function parseIpv4(host: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

/** Parses an IPv6 literal (no brackets; may end in a dotted quad) into eight 16-bit groups, or null. */
export function parseIpv6(host: string): number[] | null {
  let text = host.toLowerCase();
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  const lastColon = text.lastIndexOf(":");
  if (lastColon >= 0 && text.slice(lastColon + 1).includes(".")) {
    // A trailing dotted quad (::ffff:1.2.3.4) stands for the last two groups.
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (v4 === null) return null;
    text = `${text.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parse = (s: string) => (s === "" ? [] : s.split(":").map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN)));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  if ([...head, ...rest].some((g) => Number.isNaN(g))) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  const missing = 8 - head.length - rest.length;
  if (missing < 1) return null;
  return [...head, ...Array<number>(missing).fill(0), ...rest];
}

function v4Blocked(addr: number): string | null {
  for (const [net, bits, label] of BLOCKED_V4) {
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    if (((addr & mask) >>> 0) === (parseIpv4(net)! & mask) >>> 0) return label;
  }
  return null;
}

function v6Blocked(g: number[]): string | null {
  const zeroPrefix = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroPrefix(8)) return "unspecified";
  if (zeroPrefix(7) && g[7] === 1) return "loopback";
  if (zeroPrefix(5) && g[5] === 0xffff) return "IPv4-mapped";
  if (zeroPrefix(6)) return "IPv4-compatible";
  if (zeroPrefix(4) && g[4] === 0xffff && g[5] === 0) return "IPv4-translated";
  const first = g[0]!;
  if ((first & 0xfe00) === 0xfc00) return "unique-local";
  if ((first & 0xffc0) === 0xfe80) return "link-local";
  if ((first & 0xffc0) === 0xfec0) return "site-local";
  if ((first & 0xff00) === 0xff00) return "multicast";
  // Prefixes that embed an IPv4 address: judge the embedded one.
  const embedded = (hi: number, lo: number) => v4Blocked(((hi << 16) | lo) >>> 0);
  if (first === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return embedded(g[6]!, g[7]!) && "NAT64 of a non-public IPv4";
  // Local-use NAT64 (RFC 8215): translated by the operator's own network, so it may reach anything.
  if (first === 0x64 && g[1] === 0xff9b && g[2] === 1) return "local-use NAT64";
  // Teredo: the embedded (obfuscated) IPv4 server and client are not worth decoding; nothing public needs it.
  if (first === 0x2001 && g[1] === 0) return "Teredo";
  if (first === 0x2002) return embedded(g[1]!, g[2]!) && "6to4 of a non-public IPv4";
  return null;
}

/**
 * Why `hostname` (as `URL.hostname` gives it, IPv6 in brackets) is not a public upstream, or null when it is.
 * Only literals and reserved names are judged; ordinary DNS names pass.
 */
export function nonPublicHostReason(hostname: string): string | null {
  // Trailing dots name the same host ("localhost.." is localhost): judge the name without them.
  const host = hostname.toLowerCase().replace(/\.+$/, "");
  if (host === "") return "empty host";
  if (host.startsWith("[") && host.endsWith("]")) {
    const groups = parseIpv6(host.slice(1, -1));
    return groups ? v6Blocked(groups) : "malformed IPv6 address";
  }
  const v4 = parseIpv4(host);
  if (v4 !== null) return v4Blocked(v4);
  if (host === "localhost" || host === "localhost.localdomain") return "localhost";
  for (const suffix of BLOCKED_NAME_SUFFIXES) if (host.endsWith(suffix) || host === suffix.slice(1)) return `reserved name (*${suffix})`;
  if (host.split(".").some((label) => label === "")) return "empty DNS label";
  // A single-label name resolves only through a local search domain (e.g. `metadata` on cloud hosts).
  if (!host.includes(".")) return "single-label name";
  return null;
}

/**
 * Checks a URL Tollgate will call. Always: http(s) only, no embedded credentials. Unless
 * `allowPrivate` (ALLOW_PRIVATE_UPSTREAMS=true, local development): https only, and the host must
 * not be a loopback/private/link-local/unique-local/CGNAT/unspecified literal or a local-only name.
 */
export function checkUpstreamUrl(raw: string, allowPrivate: boolean): UpstreamUrlCheck {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, message: "must be an absolute URL" };
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return { ok: false, message: "must use https" };
  if (url.username || url.password) return { ok: false, message: "must not contain credentials (user:password@)" };
  if (allowPrivate) return { ok: true, url };
  if (url.protocol !== "https:") return { ok: false, message: "must use https" };
  const reason = nonPublicHostReason(url.hostname);
  if (reason) return { ok: false, message: `must not point at a private or loopback address (${reason})` };
  return { ok: true, url };
}
