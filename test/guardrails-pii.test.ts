import { describe, expect, it } from "vitest";
import { evaluateRequest } from "../src/guardrails/evaluate";
import { ibanValid, luhnValid, PII_KINDS, scanPii, type PiiKind } from "../src/guardrails/pii";

const ALL = new Set<PiiKind>(PII_KINDS);
const kindsIn = (text: string) => scanPii(text, ALL, false).findings.map((f) => f.kind);
const redacted = (text: string) => scanPii(text, ALL, true).text;

/** [text, the kinds it must be found as ([] = a tricky negative)]. */
const TABLE: Array<[string, PiiKind[]]> = [
  // emails
  ["write to alice.smith+tag@example.co.uk please", ["email"]],
  ["ops@mail.internal-corp.io", ["email"]],
  ["an @mention and user@localhost are not emails", []],
  // payment cards (Luhn)
  ["card 4111 1111 1111 1111 exp 12/29", ["card"]],
  ["5500-0000-0000-0004", ["card"]],
  ["amex 378282246310005", ["card"]],
  ["order number 1234567812345678 shipped", []], // fails Luhn
  ["tracking 4111 1111 1111 1112", []], // one digit off: fails Luhn
  ["0000 0000 0000 0000", []],
  ["invoice 20240115123045 total", []], // 14 digits, fails Luhn
  ["pi is 3.141592653589793238", []],
  // IBANs (mod 97)
  ["IBAN DE89 3704 0044 0532 0130 00", ["iban"]],
  ["GB82WEST12345698765432", ["iban"]],
  ["ref DE00 3704 0044 0532 0130 00", []], // bad check digits
  ["SKU AB12CDEF3456GHIJ", []],
  // US SSN
  ["ssn 123-45-6789", ["ssn"]],
  ["000-12-3456 and 666-12-3456 and 123-00-4567", []],
  // secrets
  ["key sk-proj-abcdefghijklmnopqrstuvwxyz0123", ["secret"]],
  ["sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv", ["secret"]],
  ["aws AKIAIOSFODNN7EXAMPLE", ["secret"]],
  ["token ghp_1234567890abcdefghijklmnopqrstuvwxyzAB", ["secret"]],
  ["github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", ["secret"]],
  ["task-sk-short and disk-usage", []],
  // phone numbers
  ["call +1 415 555 2671", ["phone"]],
  ["(415) 555-2671", ["phone"]],
  ["+44 20 7946 0958", ["phone"]],
  ["415.555.2671", ["phone"]],
  ["released 2024-01-15, build 1187-33", []],
  ["order #20240115 qty 12", []],
  // IP addresses
  ["from 192.168.1.10.", ["ip"]],
  ["server 2001:0db8:85a3:0000:0000:8a2e:0370:7334", ["ip"]],
  ["fe80::1 link-local", ["ip"]],
  ["version v1.2.3.4 and 999.1.1.1 and 10.0.0", []],
  ["at 12:30:45 call abc::def", []],
];

describe("guardrails: PII detectors", () => {
  it.each(TABLE)("%s → %j", (text, kinds) => {
    expect(kindsIn(text).sort()).toEqual([...kinds].sort());
  });

  it("redaction replaces each match by its typed placeholder and leaves the rest", () => {
    expect(redacted("mail bob@example.com, card 4111 1111 1111 1111, key sk-proj-abcdefghijklmnopqrstuvwxyz0123.")).toBe(
      "mail [REDACTED_EMAIL], card [REDACTED_CARD], key [REDACTED_SECRET].",
    );
    expect(redacted("order number 1234567812345678")).toBe("order number 1234567812345678");
  });

  it("Luhn and mod-97 checks", () => {
    expect(luhnValid("4111111111111111")).toBe(true);
    expect(luhnValid("4111111111111112")).toBe(false);
    expect(ibanValid("DE89370400440532013000")).toBe(true);
    expect(ibanValid("DE89370400440532013001")).toBe(false);
  });

  it("detectors stay linear on adversarial input (long runs without a match)", () => {
    const adversarial = ["a".repeat(200_000), "1".repeat(200_000), "1-".repeat(100_000), "a.".repeat(100_000) + "@", "ab:".repeat(70_000)].join(" ");
    const t = performance.now();
    scanPii(adversarial, ALL, true);
    expect(performance.now() - t).toBeLessThan(1_000);
  });

  it("evaluateRequest redacts only content strings and reports ids and actions, never text", () => {
    const body = { model: "gpt-4o", messages: [{ role: "user", content: [{ type: "text", text: "I am bob@example.com" }] }] };
    const v = evaluateRequest([{ id: "grd_1", name: "pii", action: "redact", kind: "pii", config: { detectors: ["email"] } }], body, null);
    expect(v).toEqual({ blocked: null, hits: [{ id: "grd_1", action: "redact" }] });
    expect(body.messages[0]!.content[0]!.text).toBe("I am [REDACTED_EMAIL]");
    expect(JSON.stringify(v)).not.toContain("bob@");
  });
});
