/**
 * PII and secret detectors (docs/guardrails.md). Every expression uses bounded quantifiers
 * only (no `+`/`*` over a class that a failed match would rescan), so a scan costs at most
 * O(length × a small constant) whatever the input; candidates are then confirmed in plain code
 * (Luhn for cards, mod-97 for IBANs, digit counts for phone numbers).
 */

/** The detector kinds a PII guardrail can enable. */
export const PII_KINDS = ["email", "phone", "card", "iban", "ssn", "secret", "ip"] as const;
export type PiiKind = (typeof PII_KINDS)[number];

/** Placeholder that replaces a redacted match of each kind. */
export const PII_PLACEHOLDER: Record<PiiKind, string> = {
  email: "[REDACTED_EMAIL]",
  phone: "[REDACTED_PHONE]",
  card: "[REDACTED_CARD]",
  iban: "[REDACTED_IBAN]",
  ssn: "[REDACTED_SSN]",
  secret: "[REDACTED_SECRET]",
  ip: "[REDACTED_IP]",
};

/** Human name of each kind, for block messages (never the matched text). */
export const PII_LABEL: Record<PiiKind, string> = {
  email: "an email address",
  phone: "a phone number",
  card: "a payment card number",
  iban: "an IBAN",
  ssn: "a US social security number",
  secret: "an API key or token",
  ip: "an IP address",
};

/** True when the digits pass the Luhn checksum. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** IBAN length per country (ISO 13616 registry, the common ones); others must be 15–34. */
const IBAN_LENGTH: Record<string, number> = {
  AD: 24, AT: 20, BE: 16, BG: 22, CH: 21, CY: 28, CZ: 24, DE: 22, DK: 18, EE: 20, ES: 24, FI: 18, FR: 27, GB: 22, GR: 27,
  HR: 21, HU: 28, IE: 22, IS: 26, IT: 27, LI: 21, LT: 20, LU: 20, LV: 21, MC: 27, MT: 31, NL: 18, NO: 15, PL: 28, PT: 25,
  RO: 24, SE: 24, SI: 19, SK: 24, SM: 27, TR: 26,
};

/** True when `iban` (no spaces, upper case) has a plausible length and passes the mod-97 check. */
export function ibanValid(iban: string): boolean {
  const expected = IBAN_LENGTH[iban.slice(0, 2)];
  if (expected !== undefined ? iban.length !== expected : iban.length < 15 || iban.length > 34) return false;
  const moved = iban.slice(4) + iban.slice(0, 4);
  let rem = 0;
  for (const ch of moved) {
    const c = ch.charCodeAt(0);
    const v = c >= 65 ? c - 55 : c - 48;
    rem = (v > 9 ? rem * 100 + v : rem * 10 + v) % 97;
  }
  return rem === 1;
}

const OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";

type Detector = { re: RegExp; accept?: (m: string) => boolean; hint?: string };

/** Detectors in the order they run (secrets first, so a token containing digits is not read as a card). */
const DETECTORS: Record<PiiKind, Detector> = {
  secret: {
    re: /(?<![A-Za-z0-9_-])(?:sk-[A-Za-z0-9_-]{20,256}|(?:AKIA|ASIA)[A-Z0-9]{16}|gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})(?![A-Za-z0-9_-])/g,
  },
  email: { re: /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}(?![A-Za-z0-9-])/g, hint: "@" },
  iban: {
    re: /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![A-Za-z0-9])/g,
    accept: (m) => ibanValid(m.replace(/ /g, "")),
  },
  card: {
    // 13–19 digits, optionally grouped by single spaces or dashes, confirmed by Luhn.
    re: /(?<![\d.-])\d(?:[ -]?\d){12,18}(?![\d-]|\.\d)/g,
    accept: (m) => {
      const digits = m.replace(/[ -]/g, "");
      // One separator style only (an order number like 1234-5678 9012-3456 mixes them rarely; a date-time never passes).
      return digits.length >= 13 && digits.length <= 19 && !/^(\d)\1+$/.test(digits) && luhnValid(digits);
    },
  },
  ssn: { re: /(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])/g },
  phone: {
    re: /(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}|\(\d{3}\) ?\d{3}[ .-]\d{4}|\d{3}[.-]\d{3}[.-]\d{4})(?![\w-]|\.\d)/g,
    accept: (m) => {
      const n = m.replace(/\D/g, "").length;
      return n >= 8 && n <= 15;
    },
  },
  ip: {
    re: new RegExp(
      `(?<![\\w.:])(?:${OCTET}(?:\\.${OCTET}){3}|(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,5})?|::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6}))(?![\\w:]|\\.\\d)`,
      "g",
    ),
    // An IPv6 candidate needs a digit ("abc::def" is code, not an address) and at most one "::".
    accept: (m) => !m.includes(":") || (/\d/.test(m) && (m.match(/::/g)?.length ?? 0) <= 1),
  },
};

/** Detector order (see {@link DETECTORS}). */
const ORDER: PiiKind[] = ["secret", "email", "iban", "card", "ssn", "phone", "ip"];

/** A detector kind that matched, and how many times. */
export type PiiFinding = { kind: PiiKind; count: number };

/**
 * Runs the enabled detectors over `text` in a fixed order. With `redact`, each match is replaced by
 * its kind's placeholder (later detectors see the placeholders, not the text); otherwise the text is
 * returned unchanged. Findings name kinds and counts only.
 */
export function scanPii(text: string, kinds: ReadonlySet<PiiKind>, redact: boolean): { text: string; findings: PiiFinding[] } {
  const findings: PiiFinding[] = [];
  let out = text;
  for (const kind of ORDER) {
    if (!kinds.has(kind)) continue;
    const d = DETECTORS[kind];
    if (d.hint && !out.includes(d.hint)) continue;
    let count = 0;
    d.re.lastIndex = 0;
    if (redact) {
      out = out.replace(d.re, (m) => {
        if (d.accept && !d.accept(m)) return m;
        count++;
        return PII_PLACEHOLDER[kind];
      });
    } else {
      for (const m of out.matchAll(d.re)) {
        if (!d.accept || d.accept(m[0])) {
          count++;
          break;
        }
      }
    }
    if (count) findings.push({ kind, count });
  }
  return { text: out, findings };
}
